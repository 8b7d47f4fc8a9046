"""The manager dashboards of the Home page: KPIs, revenue, LTV, refunds, recovery, messages.

Every figure is aggregated in PostgreSQL and comes back as a few small rows. Periods are São
Paulo calendar days, both inclusive; a sale counts on the day it was paid (``data_aprovacao``,
else ``data_compra``). LTV is lifetime: the period does not apply to it. The product filter,
when set, applies to everything. The progress queries live in services.dashboard_progresso and
the filter in services.dashboard_filtro; this module is the one the UI imports.
"""

from __future__ import annotations

import uuid
from dataclasses import astuple, dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.orm import Session

from services import logs
from services.config import obter_inteiro

# The filter and the progress queries are part of this module's interface (``X as X``).
from services.dashboard_filtro import (
    FIM,
    INICIO,
    FiltroPainel,
    dos_produtos,
    parametros,
)
from services.dashboard_filtro import FiltroInvalido as FiltroInvalido
from services.dashboard_filtro import periodo_padrao as periodo_padrao
from services.dashboard_progresso import Estagnados as Estagnados
from services.dashboard_progresso import EtapaModulo as EtapaModulo
from services.dashboard_progresso import FaixaConclusao as FaixaConclusao
from services.dashboard_progresso import distribuicao_conclusao
from services.dashboard_progresso import estagnados_por_modulo as estagnados_por_modulo
from services.dashboard_progresso import funil_modulos as funil_modulos
from services.hotmart_normalizar import STATUS_PAGOS

STATUS_REEMBOLSO = ("REFUNDED", "PARTIALLY_REFUNDED")
STATUS_CHARGEBACK = ("CHARGEBACK",)
# A sale that was paid at some point: the denominator of the refund and chargeback rates.
STATUS_VENDIDOS = (*STATUS_PAGOS, *STATUS_REEMBOLSO, *STATUS_CHARGEBACK, "PROTESTED")
LIMITE_GRUPOS = 50
LIMITE_OFERTAS = 20

_PAGO_EM = "coalesce(t.data_aprovacao, t.data_compra)"
_NO_PERIODO = f"{_PAGO_EM} >= {INICIO} AND {_PAGO_EM} < {FIM}"
# Every month of the period, so that a month without data shows as zero.
_MESES = """meses AS (
    SELECT generate_series(date_trunc('month', CAST(:inicio AS date)),
                           date_trunc('month', CAST(:fim AS date)),
                           interval '1 month')::date AS mes)"""


def _mes(coluna: str) -> str:
    return f"date_trunc('month', {coluna} AT TIME ZONE 'America/Sao_Paulo')::date"


def _taxa(parte: int | Decimal, todo: int | Decimal) -> Decimal | None:
    return round(Decimal(100) * Decimal(parte) / Decimal(todo), 1) if todo else None


@dataclass(frozen=True)
class Kpis:
    """The KPI row. LTV is lifetime; taxa_* are percentages (None when undefined)."""

    ltv_total: Decimal
    ltv_medio: Decimal | None  # per paying student (ltv_total > 0)
    alunos_pagantes: int
    receita_periodo: Decimal
    vendas_periodo: int
    alunos_ativos: int
    matriculas: int  # enrolments in products with lessons
    matriculas_concluidas: int
    taxa_conclusao: Decimal | None
    fila_pendente: int
    enviadas_7d: int
    lidas_7d: int
    taxa_leitura_7d: Decimal | None


@dataclass(frozen=True)
class FatiaLtv:
    """Lifetime paid revenue of a product, offer or ticket class, and of its students."""

    chave: str | None
    rotulo: str
    ltv: Decimal
    alunos: int
    transacoes: int
    ltv_medio: Decimal | None


@dataclass(frozen=True)
class ReceitaMes:
    """Paid revenue of one São Paulo month (the first day of the month)."""

    mes: date
    receita: Decimal
    vendas: int


@dataclass(frozen=True)
class CelulaCoorte:
    """Revenue of a first-purchase cohort in one month, and its running total per student."""

    coorte: date
    mes: date
    meses_desde: int
    alunos: int
    receita: Decimal
    acumulada_por_aluno: Decimal


@dataclass(frozen=True)
class TaxaReembolso:
    """Refunds and chargebacks among the sales of the period (produto_id None: all)."""

    produto_id: uuid.UUID | None
    produto: str
    vendas: int
    valor_vendas: Decimal
    reembolsos: int
    valor_reembolsos: Decimal
    chargebacks: int
    valor_chargebacks: Decimal
    taxa_reembolso: Decimal | None
    taxa_chargeback: Decimal | None
    taxa_reembolso_valor: Decimal | None
    taxa_chargeback_valor: Decimal | None


@dataclass(frozen=True)
class TaxasReembolso:
    """The whole period and each product."""

    total: TaxaReembolso
    por_produto: list[TaxaReembolso]


@dataclass(frozen=True)
class PrimeiroAcessoMes:
    """First Club accesses of one month by origin."""

    mes: date
    zap_terceiriza: int
    email_hotmart: int
    sem_origem: int


@dataclass(frozen=True)
class RecuperacaoRegra:
    """Pending payments approved after a message of this rule (each transaction once)."""

    regra_id: int | None
    regra: str
    transacoes: int
    receita: Decimal


def _funil_logs(
    session: Session, inicio: date, fim: date, produto_ids: tuple[uuid.UUID, ...]
) -> logs.Funil:
    """services.logs.funil summed over each product and each window the Logs filter allows."""
    janelas = []
    while inicio <= fim:
        ate = min(fim, inicio + timedelta(days=logs.MAXIMO_DIAS - 1))
        janelas.append((inicio, ate))
        inicio = ate + timedelta(days=1)
    funis = [
        astuple(logs.funil(session, logs.FiltroLogs(inicio=de, fim=ate, produto_id=produto)))
        for de, ate in janelas
        for produto in produto_ids or (None,)  # a message has one product: the sums add up
    ]
    return logs.Funil(*(sum(valores) for valores in zip(*funis, strict=True)))


def kpis(session: Session, filtro: FiltroPainel) -> Kpis:
    """LTV, revenue of the period, active students, completion, pending queue, 7-day reads."""
    alunos = (
        "WHERE a.id IN (SELECT t.aluno_id FROM transacoes t WHERE t.produto_id = ANY(:produtos))"
        if filtro.produto_ids
        else ""
    )
    linha = session.execute(
        text(
            f"""
            SELECT l.*, r.*, a.*, f.*
              FROM (SELECT coalesce(sum(a.ltv_total), 0) AS ltv_total,
                           round(avg(a.ltv_total) FILTER (WHERE a.ltv_total > 0), 2) AS ltv_medio,
                           count(*) FILTER (WHERE a.ltv_total > 0) AS alunos_pagantes
                      FROM alunos a {alunos}) l,
                   (SELECT coalesce(sum(t.valor_pago), 0) AS receita_periodo,
                           count(*) AS vendas_periodo
                      FROM transacoes t
                     WHERE t.status = ANY(:pagos) AND {_NO_PERIODO}
                           {dos_produtos(filtro, "t.produto_id")}) r,
                   (SELECT count(DISTINCT m.aluno_id) AS alunos_ativos
                      FROM matriculas m
                     WHERE m.status_acesso = 'ATIVO' {dos_produtos(filtro, "m.produto_id")}) a,
                   (SELECT count(*) AS fila_pendente
                      FROM filas_disparo f
                     WHERE f.status = 'pendente' {dos_produtos(filtro, "f.produto_id")}) f
            """
        ),
        parametros(filtro),
    ).one()
    faixas = distribuicao_conclusao(session, filtro)
    matriculas = sum(f.matriculas for f in faixas)
    leitura = _funil_logs(session, *logs.periodo_padrao(), filtro.produto_ids)
    return Kpis(
        **linha._mapping,
        matriculas=matriculas,
        matriculas_concluidas=faixas[-1].matriculas,
        taxa_conclusao=_taxa(faixas[-1].matriculas, matriculas),
        enviadas_7d=leitura.enviadas,
        lidas_7d=leitura.lidas,
        taxa_leitura_7d=_taxa(leitura.lidas, leitura.enviadas),
    )


def _ltv_agrupado(
    session: Session,
    filtro: FiltroPainel,
    *,
    chave: str,
    rotulo: str,
    juncao_interna: str = "",
    juncao_externa: str = "",
    limite: int = LIMITE_GRUPOS,
    extra: dict[str, object] | None = None,
) -> list[FatiaLtv]:
    """Paid revenue of all time grouped by ``chave`` (summed per student first)."""
    linhas = session.execute(
        text(
            f"""
            WITH por_aluno AS (
                SELECT {chave} AS chave, t.aluno_id, sum(t.valor_pago) AS valor, count(*) AS n
                  FROM transacoes t {juncao_interna}
                 WHERE t.status = ANY(:pagos) {dos_produtos(filtro, "t.produto_id")}
                 GROUP BY 1, t.aluno_id),
            grupos AS (
                SELECT chave, coalesce(sum(valor), 0) AS ltv, count(aluno_id) AS alunos,
                       sum(n) AS transacoes
                  FROM por_aluno GROUP BY chave)
            SELECT g.chave::text AS chave, {rotulo} AS rotulo, g.ltv, g.alunos, g.transacoes,
                   round(g.ltv / NULLIF(g.alunos, 0), 2) AS ltv_medio
              FROM grupos g {juncao_externa}
             ORDER BY g.ltv DESC, rotulo
             LIMIT :limite
            """
        ),
        {**parametros(filtro), "limite": limite, **(extra or {})},
    ).all()
    return [FatiaLtv(**linha._mapping) for linha in linhas]


def ltv_por_produto(session: Session, filtro: FiltroPainel) -> list[FatiaLtv]:
    """Lifetime paid revenue per product, its paying students and revenue per student."""
    return _ltv_agrupado(
        session,
        filtro,
        chave="t.produto_id",
        rotulo="coalesce(p.nome, '(sem produto)')",
        juncao_externa="LEFT JOIN produtos p ON p.id = g.chave",
    )


def ltv_por_oferta(session: Session, filtro: FiltroPainel) -> list[FatiaLtv]:
    """The 20 offers with the most lifetime paid revenue ("oferta — produto")."""
    return _ltv_agrupado(
        session,
        filtro,
        chave="t.oferta_id",
        rotulo="""CASE WHEN g.chave IS NULL THEN '(sem oferta)'
                       ELSE coalesce(o.nome, o.hotmart_offer_code, 'oferta')
                            || coalesce(' — ' || p.nome, '') END""",
        juncao_externa="LEFT JOIN ofertas o ON o.id = g.chave "
        "LEFT JOIN produtos p ON p.id = o.produto_id",
        limite=LIMITE_OFERTAS,
    )


def ltv_por_faixa_ticket(session: Session, filtro: FiltroPainel) -> list[FatiaLtv]:
    """Lifetime paid revenue per ticket class, as the rules filter it ("Alto" from the
    ``ticket_alto_minimo`` setting: offer price, else the amount paid)."""
    return _ltv_agrupado(
        session,
        filtro,
        chave="""CASE WHEN coalesce(o.preco, t.valor_pago, 0) >= :ticket_minimo
                      THEN 'Alto' ELSE 'Baixo' END""",
        rotulo="'Ticket ' || lower(g.chave)",
        juncao_interna="LEFT JOIN ofertas o ON o.id = t.oferta_id",
        extra={"ticket_minimo": obter_inteiro(session, "ticket_alto_minimo")},
    )


def receita_por_mes(session: Session, filtro: FiltroPainel) -> list[ReceitaMes]:
    """Paid revenue per São Paulo month of the period (months without sales give zero)."""
    linhas = session.execute(
        text(
            f"""
            WITH {_MESES},
            vendas AS (
                SELECT {_mes(_PAGO_EM)} AS mes, sum(t.valor_pago) AS receita, count(*) AS n
                  FROM transacoes t
                 WHERE t.status = ANY(:pagos) AND {_NO_PERIODO}
                       {dos_produtos(filtro, "t.produto_id")}
                 GROUP BY 1)
            SELECT m.mes, coalesce(v.receita, 0) AS receita, coalesce(v.n, 0) AS vendas
              FROM meses m LEFT JOIN vendas v ON v.mes = m.mes
             ORDER BY m.mes
            """
        ),
        parametros(filtro),
    ).all()
    return [ReceitaMes(**linha._mapping) for linha in linhas]


def receita_por_coorte(session: Session, filtro: FiltroPainel) -> list[CelulaCoorte]:
    """Cohorts by month of the first paid purchase (within the period): per month since then,
    the cohort's revenue and its running total per student (an LTV curve per cohort)."""
    produtos = dos_produtos(filtro, "t.produto_id")
    linhas = session.execute(
        text(
            f"""
            WITH {_MESES},
            primeira AS (
                SELECT t.aluno_id, {_mes(f"min({_PAGO_EM})")} AS coorte
                  FROM transacoes t
                 WHERE t.status = ANY(:pagos) AND t.aluno_id IS NOT NULL {produtos}
                 GROUP BY t.aluno_id
                HAVING min({_PAGO_EM}) >= {INICIO} AND min({_PAGO_EM}) < {FIM}),
            tamanho AS (SELECT coorte, count(*) AS alunos FROM primeira GROUP BY coorte),
            receita AS (
                SELECT p.coorte, {_mes(_PAGO_EM)} AS mes, sum(t.valor_pago) AS receita
                  FROM transacoes t JOIN primeira p ON p.aluno_id = t.aluno_id
                 WHERE t.status = ANY(:pagos) AND {_PAGO_EM} < {FIM} {produtos}
                 GROUP BY 1, 2)
            SELECT tm.coorte, m.mes,
                   ((extract(year FROM m.mes) - extract(year FROM tm.coorte)) * 12
                    + extract(month FROM m.mes) - extract(month FROM tm.coorte))::int
                       AS meses_desde,
                   tm.alunos, coalesce(r.receita, 0) AS receita,
                   round(sum(coalesce(r.receita, 0)) OVER (PARTITION BY tm.coorte ORDER BY m.mes)
                         / tm.alunos, 2) AS acumulada_por_aluno
              FROM tamanho tm
              JOIN meses m ON m.mes >= tm.coorte
              LEFT JOIN receita r ON r.coorte = tm.coorte AND r.mes = m.mes
             ORDER BY tm.coorte, m.mes
            """
        ),
        parametros(filtro),
    ).all()
    return [CelulaCoorte(**linha._mapping) for linha in linhas]


def taxas_reembolso_chargeback(session: Session, filtro: FiltroPainel) -> TaxasReembolso:
    """Refunds (full or partial) and chargebacks among the period's paid sales, by product;
    values are the sale amounts (a partial refund counts its whole sale)."""
    linhas = session.execute(
        text(
            f"""
            WITH grupos AS (
                SELECT t.produto_id, GROUPING(t.produto_id) = 1 AS total,
                       CASE WHEN GROUPING(t.produto_id) = 1 THEN 'Todos'
                            ELSE coalesce(max(p.nome), '(sem produto)') END AS produto,
                       count(*) AS vendas, coalesce(sum(t.valor_pago), 0) AS valor_vendas,
                       count(*) FILTER (WHERE t.status = ANY(:reembolso)) AS reembolsos,
                       coalesce(sum(t.valor_pago) FILTER (WHERE t.status = ANY(:reembolso)), 0)
                           AS valor_reembolsos,
                       count(*) FILTER (WHERE t.status = ANY(:chargeback)) AS chargebacks,
                       coalesce(sum(t.valor_pago) FILTER (WHERE t.status = ANY(:chargeback)), 0)
                           AS valor_chargebacks
                  FROM transacoes t LEFT JOIN produtos p ON p.id = t.produto_id
                 WHERE t.status = ANY(:vendidos) AND {_NO_PERIODO}
                       {dos_produtos(filtro, "t.produto_id")}
                 GROUP BY GROUPING SETS ((t.produto_id), ()))
            SELECT *, round(100.0 * reembolsos / NULLIF(vendas, 0), 1) AS taxa_reembolso,
                   round(100.0 * chargebacks / NULLIF(vendas, 0), 1) AS taxa_chargeback,
                   round(100.0 * valor_reembolsos / NULLIF(valor_vendas, 0), 1)
                       AS taxa_reembolso_valor,
                   round(100.0 * valor_chargebacks / NULLIF(valor_vendas, 0), 1)
                       AS taxa_chargeback_valor
              FROM grupos
             ORDER BY total DESC, vendas DESC, produto
             LIMIT :limite
            """
        ),
        {
            **parametros(filtro),
            "reembolso": list(STATUS_REEMBOLSO),
            "chargeback": list(STATUS_CHARGEBACK),
            "vendidos": list(STATUS_VENDIDOS),
            "limite": LIMITE_GRUPOS + 1,
        },
    ).all()
    taxas = [
        TaxaReembolso(**{k: v for k, v in linha._mapping.items() if k != "total"})
        for linha in linhas
    ]
    return TaxasReembolso(total=taxas[0], por_produto=taxas[1:])


def primeiro_acesso_por_mes(session: Session, filtro: FiltroPainel) -> list[PrimeiroAcessoMes]:
    """First Club accesses of the period per São Paulo month: after our WhatsApp message
    ('zap_terceiriza'), from Hotmart's e-mail ('email_hotmart') or not yet classified."""
    linhas = session.execute(
        text(
            f"""
            WITH {_MESES},
            acessos AS (
                SELECT {_mes("m.data_primeiro_acesso")} AS mes,
                       count(*) FILTER (WHERE m.origem_primeiro_acesso = 'zap_terceiriza') AS zap,
                       count(*) FILTER (WHERE m.origem_primeiro_acesso = 'email_hotmart')
                           AS email,
                       count(*) AS todos
                  FROM matriculas m
                 WHERE m.data_primeiro_acesso >= {INICIO} AND m.data_primeiro_acesso < {FIM}
                       {dos_produtos(filtro, "m.produto_id")}
                 GROUP BY 1)
            SELECT ms.mes, coalesce(a.zap, 0) AS zap_terceiriza,
                   coalesce(a.email, 0) AS email_hotmart,
                   coalesce(a.todos - a.zap - a.email, 0) AS sem_origem
              FROM meses ms LEFT JOIN acessos a ON a.mes = ms.mes
             ORDER BY ms.mes
            """
        ),
        parametros(filtro),
    ).all()
    return [PrimeiroAcessoMes(**linha._mapping) for linha in linhas]


def receita_recuperada_por_regra(session: Session, filtro: FiltroPainel) -> list[RecuperacaoRegra]:
    """Payments approved in the period after one of our messages about that very transaction
    (queued with contexto.transacao_id, sent before the approval, not failed as the Logs page
    defines it), credited once, to the rule of the last such message."""
    linhas = session.execute(
        text(
            f"""
            WITH recuperadas AS (
                SELECT DISTINCT ON (t.id) t.id, t.valor_pago, f.regra_id
                  FROM transacoes t
                  JOIN filas_disparo f ON f.contexto->>'transacao_id' = t.id
                  JOIN logs_disparo l ON l.fila_id = f.id AND l.data_envio < t.data_aprovacao
                       AND NOT {logs._FALHOU}
                 WHERE t.status = ANY(:pagos)
                   AND t.data_aprovacao >= {INICIO} AND t.data_aprovacao < {FIM}
                       {dos_produtos(filtro, "t.produto_id")}
                 ORDER BY t.id, l.data_envio DESC, l.id DESC)
            SELECT x.regra_id, coalesce(max(r.nome), '(regra removida)') AS regra,
                   count(*) AS transacoes, coalesce(sum(x.valor_pago), 0) AS receita
              FROM recuperadas x LEFT JOIN regras_automacao r ON r.id = x.regra_id
             GROUP BY x.regra_id
             ORDER BY receita DESC, regra
             LIMIT :limite
            """
        ),
        {**parametros(filtro), "limite": LIMITE_GRUPOS},
    ).all()
    return [RecuperacaoRegra(**linha._mapping) for linha in linhas]


def funil_entrega(session: Session, filtro: FiltroPainel) -> logs.Funil:
    """Delivery funnel of the messages sent in the period (the Logs page's funnel)."""
    return _funil_logs(session, filtro.inicio, filtro.fim, filtro.produto_ids)
