"""The progress dashboards: completion bands, the module funnel, stalled students by module.

Progress is a snapshot of today: the period of the filter does not apply, its products do.
Completion is lessons completed ÷ lessons of the product; enrolments of products without any
lesson mirrored are left out.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from services.dashboard_filtro import FiltroPainel, dos_produtos, parametros

FAIXAS_CONCLUSAO = ("0%", "1–25%", "26–50%", "51–75%", "76–99%", "100%")
DIAS_ESTAGNADO = 14
SEM_MODULO = "Nenhuma aula concluída"
LIMITE_GRUPOS = 50
LIMITE_MODULOS = 500

# Lessons per product: the denominator of every completion figure.
_AULAS_POR_PRODUTO = """aulas_produto AS (
    SELECT mo.produto_id, count(*) AS aulas
      FROM aulas a JOIN modulos mo ON mo.id = a.modulo_id
     GROUP BY mo.produto_id)"""


@dataclass(frozen=True)
class FaixaConclusao:
    """Enrolments whose share of completed lessons falls in one band."""

    faixa: str
    matriculas: int


@dataclass(frozen=True)
class EtapaModulo:
    """A module in course order: enrolments that started it and that finished it."""

    posicao: int
    modulo_id: uuid.UUID
    modulo: str | None
    aulas: int
    matriculas: int
    iniciaram: int
    concluiram: int


@dataclass(frozen=True)
class Estagnados:
    """Stalled active enrolments whose last completed lesson is in this module (None: none)."""

    modulo_id: uuid.UUID | None
    modulo: str
    produto: str | None
    matriculas: int


def distribuicao_conclusao(session: Session, filtro: FiltroPainel) -> list[FaixaConclusao]:
    """Enrolments (any status) of products with lessons, by share of lessons completed (the
    count is kept on matriculas by triggers: no pass over progresso_aulas)."""
    produtos = dos_produtos(filtro, "m.produto_id")
    linhas = session.execute(
        text(
            f"""
            WITH {_AULAS_POR_PRODUTO}
            SELECT CASE WHEN m.aulas_concluidas = 0 THEN 0
                        WHEN m.aulas_concluidas * 4 <= ap.aulas THEN 1
                        WHEN m.aulas_concluidas * 2 <= ap.aulas THEN 2
                        WHEN m.aulas_concluidas * 4 <= ap.aulas * 3 THEN 3
                        WHEN m.aulas_concluidas < ap.aulas THEN 4
                        ELSE 5 END AS faixa,
                   count(*) AS matriculas
              FROM matriculas m
              JOIN aulas_produto ap ON ap.produto_id = m.produto_id
             WHERE true {produtos}
             GROUP BY 1
            """
        ),
        parametros(filtro),
    ).all()
    contagem = {linha.faixa: linha.matriculas for linha in linhas}
    return [FaixaConclusao(faixa, contagem.get(i, 0)) for i, faixa in enumerate(FAIXAS_CONCLUSAO)]


def funil_modulos(
    session: Session, filtro: FiltroPainel, produto_id: uuid.UUID
) -> list[EtapaModulo]:
    """Per module in course order: the product's enrolments that completed at least one of its
    lessons, and all of them (the period does not apply)."""
    linhas = session.execute(
        text(
            """
            WITH tamanho AS (
                SELECT a.modulo_id, count(*) AS aulas FROM aulas a
                  JOIN modulos mo ON mo.id = a.modulo_id
                 WHERE mo.produto_id = :p GROUP BY a.modulo_id)
            SELECT row_number() OVER (ORDER BY mo.ordem NULLS LAST, mo.nome, mo.id) AS posicao,
                   mo.id AS modulo_id, mo.nome AS modulo, tm.aulas,
                   (SELECT count(*) FROM matriculas WHERE produto_id = :p) AS matriculas,
                   count(pm.matricula_id) AS iniciaram,
                   count(*) FILTER (WHERE pm.aulas_concluidas >= tm.aulas) AS concluiram
              FROM modulos mo
              JOIN tamanho tm ON tm.modulo_id = mo.id
              -- per enrolment and module, kept from progresso_aulas by triggers (schema v9,
              -- which also refuses a lesson of another product than the enrolment's)
              LEFT JOIN progresso_modulos pm ON pm.modulo_id = mo.id
             WHERE mo.produto_id = :p
             GROUP BY mo.id, mo.nome, mo.ordem, tm.aulas
             ORDER BY posicao
             LIMIT :limite
            """
        ),
        {"p": produto_id, "limite": LIMITE_MODULOS},
    ).all()
    return [EtapaModulo(**linha._mapping) for linha in linhas]


def estagnados_por_modulo(session: Session, filtro: FiltroPainel) -> list[Estagnados]:
    """Active, unfinished enrolments with no lesson completed in the last 14 days (counted
    from the start when none was), by module of their last completed lesson and product."""
    produtos = dos_produtos(filtro, "m.produto_id")
    linhas = session.execute(
        text(
            f"""
            WITH {_AULAS_POR_PRODUTO},
            parados AS (
                SELECT m.produto_id, m.ultima_aula_id
                  FROM matriculas m
                  JOIN aulas_produto ap ON ap.produto_id = m.produto_id
                 WHERE m.status_acesso = 'ATIVO' AND m.aulas_concluidas < ap.aulas
                   AND coalesce(m.ultima_conclusao, m.data_inicio, '-infinity')
                       < now() - make_interval(days => :dias) {produtos})
            SELECT mo.id AS modulo_id,
                   CASE WHEN mo.id IS NULL THEN :sem_modulo
                        ELSE coalesce(mo.nome, '(módulo sem nome)') END AS modulo,
                   pr.nome AS produto, count(*) AS matriculas
              FROM parados x
              LEFT JOIN aulas au ON au.id = x.ultima_aula_id
              LEFT JOIN modulos mo ON mo.id = au.modulo_id
              LEFT JOIN produtos pr ON pr.id = x.produto_id
             GROUP BY x.produto_id, mo.id, mo.nome, pr.nome
             ORDER BY matriculas DESC, produto, modulo
             LIMIT :limite
            """
        ),
        {
            **parametros(filtro),
            "dias": DIAS_ESTAGNADO,
            "sem_modulo": SEM_MODULO,
            "limite": LIMITE_GRUPOS,
        },
    ).all()
    return [Estagnados(**linha._mapping) for linha in linhas]
