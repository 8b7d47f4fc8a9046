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
    """Enrolments (any status) of products with lessons, by share of lessons completed."""
    produtos = dos_produtos(filtro, "m.produto_id")
    linhas = session.execute(
        text(
            f"""
            WITH {_AULAS_POR_PRODUTO},
            feitas AS (
                SELECT pa.matricula_id, count(*) AS n
                  FROM progresso_aulas pa
                  {"JOIN matriculas m ON m.id = pa.matricula_id" if produtos else ""}
                 WHERE true {produtos}
                 GROUP BY pa.matricula_id)
            SELECT CASE WHEN coalesce(f.n, 0) = 0 THEN 0
                        WHEN f.n * 4 <= ap.aulas THEN 1
                        WHEN f.n * 2 <= ap.aulas THEN 2
                        WHEN f.n * 4 <= ap.aulas * 3 THEN 3
                        WHEN f.n < ap.aulas THEN 4
                        ELSE 5 END AS faixa,
                   count(*) AS matriculas
              FROM matriculas m
              JOIN aulas_produto ap ON ap.produto_id = m.produto_id
              LEFT JOIN feitas f ON f.matricula_id = m.id
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
            WITH mats AS (SELECT id FROM matriculas WHERE produto_id = :p),
            aulas_modulo AS (
                SELECT a.id, a.modulo_id FROM aulas a JOIN modulos mo ON mo.id = a.modulo_id
                 WHERE mo.produto_id = :p),
            tamanho AS (SELECT modulo_id, count(*) AS aulas FROM aulas_modulo GROUP BY modulo_id),
            por_matricula AS (
                SELECT am.modulo_id, pa.matricula_id, count(*) AS n
                  FROM progresso_aulas pa
                  JOIN mats ON mats.id = pa.matricula_id
                  JOIN aulas_modulo am ON am.id = pa.aula_id
                 GROUP BY am.modulo_id, pa.matricula_id)
            SELECT row_number() OVER (ORDER BY mo.ordem NULLS LAST, mo.nome, mo.id) AS posicao,
                   mo.id AS modulo_id, mo.nome AS modulo, tm.aulas,
                   (SELECT count(*) FROM mats) AS matriculas,
                   count(pm.matricula_id) AS iniciaram,
                   count(*) FILTER (WHERE pm.n >= tm.aulas) AS concluiram
              FROM modulos mo
              JOIN tamanho tm ON tm.modulo_id = mo.id
              LEFT JOIN por_matricula pm ON pm.modulo_id = mo.id
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
            modulo_n AS (
                SELECT id, nome, produto_id, row_number() OVER (ORDER BY id) AS n FROM modulos),
            aula_n AS (SELECT a.id, mn.n FROM aulas a JOIN modulo_n mn ON mn.id = a.modulo_id),
            progresso AS (
                -- One pass, no per-enrolment lookup: the latest completion's module rides in
                -- the low 20 bits of max(epoch seconds << 20 | module number).
                SELECT pa.matricula_id, count(*) AS feitas, max(pa.data_conclusao) AS ultima,
                       max((date_part('epoch', pa.data_conclusao)::bigint << 20) | an.n)
                           & 1048575 AS n
                  FROM progresso_aulas pa JOIN aula_n an ON an.id = pa.aula_id
                  {"JOIN matriculas m ON m.id = pa.matricula_id" if produtos else ""}
                 WHERE true {produtos}
                 GROUP BY pa.matricula_id),
            parados AS (
                SELECT m.produto_id, p.n
                  FROM matriculas m
                  JOIN aulas_produto ap ON ap.produto_id = m.produto_id
                  LEFT JOIN progresso p ON p.matricula_id = m.id
                 WHERE m.status_acesso = 'ATIVO' AND coalesce(p.feitas, 0) < ap.aulas
                   AND coalesce(p.ultima, m.data_inicio, '-infinity')
                       < now() - make_interval(days => :dias) {produtos})
            SELECT mn.id AS modulo_id,
                   CASE WHEN mn.id IS NULL THEN :sem_modulo
                        ELSE coalesce(mn.nome, '(módulo sem nome)') END AS modulo,
                   pr.nome AS produto, count(*) AS matriculas
              FROM parados x
              LEFT JOIN modulo_n mn ON mn.n = x.n
              LEFT JOIN produtos pr ON pr.id = x.produto_id
             GROUP BY x.produto_id, mn.id, mn.nome, pr.nome
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
