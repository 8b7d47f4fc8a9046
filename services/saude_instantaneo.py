"""The health-score snapshot Home reads (schema v9, ``saude_instantaneo``).

Scoring all 200,000+ ATIVO enrolments takes about a second, too slow for every Home view; the
'saude' job stores each enrolment's score, and services/saude.py's distribution and at-risk list
read it (with its time) once it exists. It runs after each Hotmart sync, with the rules job when
the snapshot is older than an hour (cron runs the rules job), and from
``python -m services.cli saude``. A student's profile and the rules' score filter stay live.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from services.saude import instantaneo_em
from services.saude_sql import sql_saude

IDADE_MAXIMA_MIN = 60  # the rules job refreshes a snapshot older than this


def atualizar_instantaneo(session: Session) -> dict[str, int]:
    """Score every ATIVO enrolment into ``saude_instantaneo``: rows whose score changed are
    rewritten, new ones added, those no longer ATIVO removed (one statement, set-based)."""
    linha = session.execute(
        text(
            f"""
            WITH atual AS MATERIALIZED (
                SELECT matricula_id, aluno_id, produto_id, score FROM ({sql_saude()}) s),
            gravadas AS (
                INSERT INTO saude_instantaneo AS si (matricula_id, aluno_id, produto_id, score)
                SELECT matricula_id, aluno_id, produto_id, score FROM atual
                ON CONFLICT (matricula_id) DO UPDATE
                   SET aluno_id = EXCLUDED.aluno_id, produto_id = EXCLUDED.produto_id,
                       score = EXCLUDED.score, calculado_em = now()
                 WHERE (si.aluno_id, si.produto_id, si.score)
                       IS DISTINCT FROM (EXCLUDED.aluno_id, EXCLUDED.produto_id, EXCLUDED.score)
                RETURNING 1),
            removidas AS (
                DELETE FROM saude_instantaneo si
                 WHERE NOT EXISTS (SELECT 1 FROM atual WHERE atual.matricula_id = si.matricula_id)
                RETURNING 1)
            SELECT (SELECT count(*) FROM atual) AS pontuadas,
                   (SELECT count(*) FROM gravadas) AS alteradas,
                   (SELECT count(*) FROM removidas) AS removidas
            """
        )
    ).one()
    return dict(linha._mapping)


def executar_atualizacao(*, iniciado_por: str | None, observador=None):
    """Refresh the snapshot as the 'saude' job (one at a time, from any replica or cron)."""
    from db.uow import UnidadeDeTrabalho
    from services import jobs

    def _executar(_execucao) -> dict[str, int]:
        with UnidadeDeTrabalho() as uow:
            resultado = atualizar_instantaneo(uow.session)
            uow.commit()
        return resultado

    return jobs.executar("saude", _executar, iniciado_por=iniciado_por, observador=observador)


def atualizar_se_antigo(
    *, iniciado_por: str | None, idade_maxima_min: int | None = IDADE_MAXIMA_MIN
) -> bool:
    """Refresh the snapshot when it is older than ``idade_maxima_min`` minutes (None: always);
    False when it was fresh or another refresh is running. Never raises for a busy job."""
    from db.uow import UnidadeDeTrabalho
    from services import jobs

    if idade_maxima_min is not None:
        with UnidadeDeTrabalho() as uow:
            em = instantaneo_em(uow.session)
        if em is not None and datetime.now(UTC) - em < timedelta(minutes=idade_maxima_min):
            return False
    try:
        executar_atualizacao(iniciado_por=iniciado_por)
    except jobs.JobEmAndamento:
        return False
    return True
