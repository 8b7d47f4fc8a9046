"""Enrolments of the Hotmart mirror: from transactions, subscriptions and Club users; progress."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from uuid import UUID

from sqlalchemy.orm import Session

from services import config
from services.hotmart_espelho import _copiar, _executar, _sql_aluno, sql_textos, upsert_alunos
from services.hotmart_normalizar import STATUS_COM_MATRICULA


def _ids(aluno_ids: Sequence[UUID] | None) -> tuple[str, dict]:
    if aluno_ids is None:
        return "", {}
    return "AND m.aluno_id = ANY(:ids)", {"ids": list(aluno_ids)}


def matriculas_das_transacoes(session: Session, aluno_ids: Sequence[UUID]) -> int:
    """One enrolment per student × product that was ever paid; origin = the first such sale."""
    return _executar(session, sql_matriculas_das_transacoes(":ids"), {"ids": list(aluno_ids)})


def sql_matriculas_das_transacoes(ids: str) -> str:
    """SQL of ``matriculas_das_transacoes`` for the students of the uuid[] expression ``ids``
    (a parameter, or a subquery when the statement joins a script)."""
    return f"""
        INSERT INTO matriculas AS m (aluno_id, produto_id, transacao_origem_id, data_inicio,
                                     status_acesso)
        SELECT aluno_id, produto_id,
               (array_agg(id ORDER BY coalesce(data_aprovacao, data_compra), id))[1],
               min(coalesce(data_aprovacao, data_compra)), 'ATIVO'
          FROM transacoes
         WHERE aluno_id = ANY({ids}) AND status = ANY({sql_textos(STATUS_COM_MATRICULA)})
         GROUP BY aluno_id, produto_id
        ON CONFLICT (aluno_id, produto_id) DO UPDATE
           SET transacao_origem_id = EXCLUDED.transacao_origem_id,
               data_inicio = least(m.data_inicio, EXCLUDED.data_inicio),
               atualizado_em = now()
         WHERE (m.transacao_origem_id, m.data_inicio) IS DISTINCT FROM
               (EXCLUDED.transacao_origem_id, least(m.data_inicio, EXCLUDED.data_inicio))
        """


def recalcular_status_acesso(session: Session, aluno_ids: Sequence[UUID] | None = None) -> int:
    """ATIVO / BLOQUEADO / EXPIRADO from the latest transaction and the subscription.

    Chargeback, refund or dispute of the latest sale, or a delayed subscription, block access;
    a cancelled subscription keeps access until its next charge date, then expires.
    """
    if aluno_ids is None:
        return _executar(session, sql_status_acesso(None))
    return _executar(session, sql_status_acesso(":ids"), {"ids": list(aluno_ids)})


def sql_status_acesso(ids: str | None) -> str:
    """SQL of ``recalcular_status_acesso`` for the students of the uuid[] expression ``ids``
    (None: all)."""

    def filtro(alias: str) -> str:
        return f"AND {alias}.aluno_id = ANY({ids})" if ids is not None else ""

    return f"""
        WITH ultimo AS (
            SELECT DISTINCT ON (aluno_id, produto_id) aluno_id, produto_id, status
              FROM transacoes t
             WHERE status = ANY({sql_textos(STATUS_COM_MATRICULA)})
                   {filtro("t")}
             ORDER BY aluno_id, produto_id, coalesce(recorrencia, 1) DESC,
                      data_compra DESC NULLS LAST, status_transacao_ordem(status) DESC
        ), novo AS (
            SELECT m.id, CASE
                WHEN u.status IN ('REFUNDED', 'CHARGEBACK', 'PROTESTED') THEN 'BLOQUEADO'
                WHEN m.status_assinatura IN ('DELAYED', 'OVERDUE') OR u.status = 'DELAYED'
                    THEN 'BLOQUEADO'
                WHEN m.status_assinatura IN ('INACTIVE', 'EXPIRED') THEN 'EXPIRADO'
                WHEN m.status_assinatura LIKE 'CANCEL%'
                     AND coalesce(m.data_renovacao, m.data_cancelamento, now()) <= now()
                    THEN 'EXPIRADO'
                WHEN u.status IS NULL THEN coalesce(m.status_acesso, 'ATIVO')
                ELSE 'ATIVO' END AS status
              FROM matriculas m LEFT JOIN ultimo u USING (aluno_id, produto_id)
             WHERE true {filtro("m")}
        )
        UPDATE matriculas m SET status_acesso = novo.status, atualizado_em = now()
          FROM novo WHERE m.id = novo.id AND m.status_acesso IS DISTINCT FROM novo.status
        """


def upsert_assinaturas(session: Session, linhas: Iterable[dict]) -> list[UUID]:
    """Subscription facts onto enrolments (created when missing); partial rows keep known facts."""
    linhas = list(linhas)
    ids = upsert_alunos(session, [{"email": x["email"], "nome": x.get("nome")} for x in linhas])
    colunas = [
        ("ord", "bigint"),
        ("email", "text"),
        ("cpf", "text"),
        ("hotmart_product_id", "int"),
        ("subscriber_code", "text"),
        ("status", "text"),
        ("data_renovacao", "timestamptz"),
        ("data_cancelamento", "timestamptz"),
    ]
    numeradas = ({"cpf": None, **x, "ord": i} for i, x in enumerate(linhas))
    if not _copiar(session, "stg_assinaturas", colunas, numeradas):
        return ids
    _executar(
        session,
        f"""
        INSERT INTO matriculas AS m (aluno_id, produto_id, hotmart_subscriber_code,
                                     status_assinatura, data_renovacao, data_cancelamento,
                                     status_acesso)
        SELECT DISTINCT ON (aluno_id, produto_id) aluno_id, produto_id, sc, st, dr, dc, 'ATIVO'
          FROM (SELECT {_sql_aluno("s")} AS aluno_id, p.id AS produto_id, s.subscriber_code AS sc,
                       s.status AS st, s.data_renovacao AS dr, s.data_cancelamento AS dc, s.ord
                  FROM stg_assinaturas s
                  JOIN produtos p ON p.hotmart_product_id = s.hotmart_product_id) x
         WHERE aluno_id IS NOT NULL
         ORDER BY aluno_id, produto_id, ord DESC
        ON CONFLICT (aluno_id, produto_id) DO UPDATE SET
            hotmart_subscriber_code = coalesce(EXCLUDED.hotmart_subscriber_code,
                                               m.hotmart_subscriber_code),
            status_assinatura = coalesce(EXCLUDED.status_assinatura, m.status_assinatura),
            data_renovacao = coalesce(EXCLUDED.data_renovacao, m.data_renovacao),
            data_cancelamento = coalesce(EXCLUDED.data_cancelamento, m.data_cancelamento),
            atualizado_em = now()
         WHERE (m.hotmart_subscriber_code, m.status_assinatura, m.data_renovacao,
                m.data_cancelamento) IS DISTINCT FROM
               (coalesce(EXCLUDED.hotmart_subscriber_code, m.hotmart_subscriber_code),
                coalesce(EXCLUDED.status_assinatura, m.status_assinatura),
                coalesce(EXCLUDED.data_renovacao, m.data_renovacao),
                coalesce(EXCLUDED.data_cancelamento, m.data_cancelamento))
        """,
    )
    return ids


def upsert_usuarios_club(session: Session, linhas: Iterable[dict]) -> list[UUID]:
    """Club students → their enrolment's Club id and access dates (students created if new)."""
    linhas = list(linhas)
    ids = upsert_alunos(session, [{"email": x["email"], "nome": x.get("nome")} for x in linhas])
    colunas = [
        ("ord", "bigint"),
        ("email", "text"),
        ("cpf", "text"),
        ("hotmart_product_id", "int"),
        ("user_id", "text"),
        ("status", "text"),
        ("data_primeiro_acesso", "timestamptz"),
        ("data_ultimo_acesso", "timestamptz"),
        ("data_compra", "timestamptz"),
    ]
    numeradas = ({"cpf": None, **x, "ord": i} for i, x in enumerate(linhas))
    if not _copiar(session, "stg_club", colunas, numeradas):
        return ids
    _executar(
        session,
        f"""
        INSERT INTO matriculas AS m (aluno_id, produto_id, hotmart_club_user_id,
                                     data_primeiro_acesso, data_ultimo_acesso, data_inicio,
                                     status_acesso)
        SELECT DISTINCT ON (aluno_id, produto_id) aluno_id, produto_id, user_id, primeiro, ultimo,
               inicio, acesso
          FROM (SELECT {_sql_aluno("s")} AS aluno_id, p.id AS produto_id, s.user_id,
                       s.data_primeiro_acesso AS primeiro, s.data_ultimo_acesso AS ultimo,
                       coalesce(s.data_compra, s.data_primeiro_acesso) AS inicio,
                       CASE WHEN coalesce(s.status, 'ACTIVE') = 'ACTIVE' THEN 'ATIVO'
                            ELSE 'BLOQUEADO' END AS acesso, s.ord
                  FROM stg_club s
                  JOIN produtos p ON p.hotmart_product_id = s.hotmart_product_id) x
         WHERE aluno_id IS NOT NULL
         ORDER BY aluno_id, produto_id, ord DESC
        ON CONFLICT (aluno_id, produto_id) DO UPDATE SET
            hotmart_club_user_id = coalesce(EXCLUDED.hotmart_club_user_id, m.hotmart_club_user_id),
            data_primeiro_acesso = least(m.data_primeiro_acesso, EXCLUDED.data_primeiro_acesso),
            data_ultimo_acesso = greatest(m.data_ultimo_acesso, EXCLUDED.data_ultimo_acesso),
            data_inicio = coalesce(m.data_inicio, EXCLUDED.data_inicio),
            atualizado_em = now()
         WHERE (m.hotmart_club_user_id, m.data_primeiro_acesso, m.data_ultimo_acesso,
                m.data_inicio) IS DISTINCT FROM
               (coalesce(EXCLUDED.hotmart_club_user_id, m.hotmart_club_user_id),
                least(m.data_primeiro_acesso, EXCLUDED.data_primeiro_acesso),
                greatest(m.data_ultimo_acesso, EXCLUDED.data_ultimo_acesso),
                coalesce(m.data_inicio, EXCLUDED.data_inicio))
        """,
    )
    definir_origem_primeiro_acesso(session, ids)
    return ids


def upsert_progresso(session: Session, linhas: Iterable[dict]) -> int:
    """Completed Club lessons → progresso_aulas (by Club user id, or by e-mail when absent)."""
    colunas = [
        ("hotmart_product_id", "int"),
        ("user_id", "text"),
        ("email", "text"),
        ("cpf", "text"),
        ("page_id", "text"),
        ("data_conclusao", "timestamptz"),
    ]
    if not _copiar(session, "stg_progresso", colunas, ({"cpf": None, **x} for x in linhas)):
        return 0
    return _executar(
        session,
        f"""
        INSERT INTO progresso_aulas AS pa (matricula_id, aula_id, data_conclusao)
        SELECT DISTINCT ON (m.id, a.id) m.id, a.id, coalesce(s.data_conclusao, now())
          FROM stg_progresso s
          JOIN produtos p ON p.hotmart_product_id = s.hotmart_product_id
          JOIN matriculas m ON m.produto_id = p.id AND (
                   m.hotmart_club_user_id = s.user_id
                OR (s.user_id IS NULL AND m.aluno_id = {_sql_aluno("s")}))
          JOIN modulos mo ON mo.produto_id = p.id
          JOIN aulas a ON a.modulo_id = mo.id AND a.hotmart_page_hash = s.page_id
         ORDER BY m.id, a.id, s.data_conclusao
        ON CONFLICT (matricula_id, aula_id) DO UPDATE SET data_conclusao = EXCLUDED.data_conclusao
         WHERE pa.data_conclusao IS DISTINCT FROM EXCLUDED.data_conclusao
        """,
    )


def definir_origem_primeiro_acesso(session: Session, aluno_ids: Sequence[UUID] | None) -> int:
    """First-access KPI: 'zap_terceiriza' when one of our messages for that product was delivered
    in the preceding N hours (setting ``primeiro_acesso_janela_horas``), else 'email_hotmart'.

    Uses the send time of a delivered/read message until per-status timestamps exist.
    """
    filtro, params = _ids(aluno_ids)
    horas = config.obter_inteiro(session, "primeiro_acesso_janela_horas")
    return _executar(
        session,
        f"""
        UPDATE matriculas m SET origem_primeiro_acesso = CASE WHEN EXISTS (
                   SELECT 1 FROM logs_disparo l JOIN templates t ON t.id = l.template_id
                    WHERE l.aluno_id = m.aluno_id AND t.produto_id = m.produto_id
                      AND l.status_entrega IN ('delivered', 'read')
                      AND l.data_envio BETWEEN m.data_primeiro_acesso
                                               - make_interval(hours => :horas)
                                           AND m.data_primeiro_acesso)
               THEN 'zap_terceiriza' ELSE 'email_hotmart' END,
               atualizado_em = now()
         WHERE m.data_primeiro_acesso IS NOT NULL AND m.origem_primeiro_acesso IS NULL {filtro}
        """,
        {**params, "horas": horas},
    )
