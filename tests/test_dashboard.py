"""services.dashboard against the real PostgreSQL: every KPI and chart query on crafted data.

The expected values are worked out by hand from tests/fabrica_painel.py (see its docstring).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from db.uow import UnidadeDeTrabalho
from services import config, dashboard, logs
from tests import fabrica_painel as fp
from tests.fabrica_painel import FIM, INICIO

D = Decimal


@pytest.fixture
def dados(banco):
    return fp.conjunto(banco)


def _filtro(*produtos) -> dashboard.FiltroPainel:
    return dashboard.FiltroPainel(inicio=INICIO, fim=FIM, produto_ids=tuple(produtos))


def _rodar(funcao, *args):
    with UnidadeDeTrabalho() as uow:
        return funcao(uow.session, *args)


def test_kpis_of_the_period(dados):
    k = _rodar(dashboard.kpis, _filtro())
    # LTV: 1894 + 1597 + 47 + 197 + 197 = 3932 over 5 paying students (Fábio has 0).
    assert (k.ltv_total, k.ltv_medio, k.alunos_pagantes) == (D("3932.00"), D("786.40"), 5)
    # Paid in 01/01–31/03 (São Paulo): T1 197, T2 1500, T3 97, T7 197, T8 1500, T10 47.
    assert (k.receita_periodo, k.vendas_periodo) == (D("3538.00"), 6)
    # ATIVO enrolments: Ana ×2, Bruno ×2, Carla (ebook), Davi, Eva, Fábio → 6 students.
    assert k.alunos_ativos == 6
    # 9 enrolments in products with lessons, 2 finished every lesson (Ana Excel, Davi Mentoria).
    assert (k.matriculas, k.matriculas_concluidas, k.taxa_conclusao) == (9, 2, D("22.2"))
    assert k.fila_pendente == 2
    # Last 7 days: 3 sent (read, delivered, sent), 1 read; the failed one was never sent.
    assert (k.enviadas_7d, k.lidas_7d, k.taxa_leitura_7d) == (3, 1, D("33.3"))


def test_kpis_follow_the_product_filter(dados):
    k = _rodar(dashboard.kpis, _filtro(dados["produtos"]["mentoria"]))
    # Students with a Mentoria transaction: Ana 1894, Davi 197, Bruno 1597 (their whole LTV).
    assert (k.ltv_total, k.ltv_medio, k.alunos_pagantes) == (D("3688.00"), D("1229.33"), 3)
    assert (k.receita_periodo, k.vendas_periodo) == (D("3000.00"), 2)  # T2 + T8
    assert k.alunos_ativos == 2  # Ana and Bruno (Davi is blocked)
    # Ana 1/2, Bruno 0/2, Davi 2/2.
    assert (k.matriculas, k.matriculas_concluidas, k.taxa_conclusao) == (3, 1, D("33.3"))
    assert k.fila_pendente == 1
    assert (k.enviadas_7d, k.lidas_7d, k.taxa_leitura_7d) == (1, 0, D("0.0"))


def _fatias(lista) -> list[tuple]:
    return [(x.rotulo, x.ltv, x.alunos, x.transacoes, x.ltv_medio) for x in lista]


def test_ltv_per_product_is_lifetime_paid_revenue(dados):
    fatias = _rodar(dashboard.ltv_por_produto, _filtro())
    assert _fatias(fatias) == [
        ("Mentoria", D("3000.00"), 2, 2, D("1500.00")),  # T2, T8
        ("Curso de Excel", D("885.00"), 4, 5, D("221.25")),  # T1, T3, T7, T9, T11
        ("Ebook", D("47.00"), 1, 1, D("47.00")),  # T10
    ]
    assert sum(f.ltv for f in fatias) == D("3932.00")  # adds up to the students' LTV
    assert fatias[0].chave == str(dados["produtos"]["mentoria"])


def test_ltv_per_offer(dados):
    assert _fatias(_rodar(dashboard.ltv_por_oferta, _filtro())) == [
        ("Mentoria anual — Mentoria", D("3000.00"), 2, 2, D("1500.00")),
        ("Excel à vista — Curso de Excel", D("788.00"), 3, 4, D("262.67")),  # Ana twice
        ("Excel parcelado — Curso de Excel", D("97.00"), 1, 1, D("97.00")),
        ("(sem oferta)", D("47.00"), 1, 1, D("47.00")),
    ]


def test_ltv_per_ticket_class_uses_the_rules_threshold(dados):
    # Default threshold R$ 500: only Mentoria anual (1500) is "Alto"; the offer without a
    # price and the sale without an offer are classed by the amount paid.
    assert _fatias(_rodar(dashboard.ltv_por_faixa_ticket, _filtro())) == [
        ("Ticket alto", D("3000.00"), 2, 2, D("1500.00")),
        ("Ticket baixo", D("932.00"), 5, 6, D("186.40")),
    ]
    with UnidadeDeTrabalho() as uow:
        config.definir(uow.session, "ticket_alto_minimo", "100", usuario="teste")
        uow.commit()
    # Now only T3 (97, offer without price) and T10 (47, no offer) are "Baixo".
    assert _fatias(_rodar(dashboard.ltv_por_faixa_ticket, _filtro())) == [
        ("Ticket alto", D("3788.00"), 4, 6, D("947.00")),
        ("Ticket baixo", D("144.00"), 2, 2, D("72.00")),
    ]


def test_revenue_per_sao_paulo_month(dados):
    meses = _rodar(dashboard.receita_por_mes, _filtro())
    assert [(m.mes, m.receita, m.vendas) for m in meses] == [
        (date(2026, 1, 1), D("294.00"), 2),  # T1 + T3 (31/01 23:30 in São Paulo)
        (date(2026, 2, 1), D("1500.00"), 1),
        (date(2026, 3, 1), D("1744.00"), 3),  # T7 + T8 + T10 (31/03 23:00)
    ]
    excel = _rodar(dashboard.receita_por_mes, _filtro(dados["produtos"]["excel"]))
    assert [m.receita for m in excel] == [D("294.00"), D("0"), D("197.00")]


def test_revenue_per_cohort_is_a_running_total_per_student(dados):
    celulas = _rodar(dashboard.receita_por_coorte, _filtro())
    # Ana first paid in 12/2025 and Davi in 04/2026: no cohort. Bruno starts January (T3 97,
    # then T8 1500 in March); Carla (T10 47) and Eva (T7 197) start March.
    assert [
        (c.coorte, c.mes, c.meses_desde, c.alunos, c.receita, c.acumulada_por_aluno)
        for c in celulas
    ] == [
        (date(2026, 1, 1), date(2026, 1, 1), 0, 1, D("97.00"), D("97.00")),
        (date(2026, 1, 1), date(2026, 2, 1), 1, 1, D("0"), D("97.00")),
        (date(2026, 1, 1), date(2026, 3, 1), 2, 1, D("1500.00"), D("1597.00")),
        (date(2026, 3, 1), date(2026, 3, 1), 0, 2, D("244.00"), D("122.00")),
    ]
    excel = _rodar(dashboard.receita_por_coorte, _filtro(dados["produtos"]["excel"]))
    # Only Excel purchases: Bruno (T3, nothing more in Excel) and Eva (T7).
    assert [(c.coorte, c.meses_desde, c.acumulada_por_aluno) for c in excel] == [
        (date(2026, 1, 1), 0, D("97.00")),
        (date(2026, 1, 1), 1, D("97.00")),
        (date(2026, 1, 1), 2, D("97.00")),
        (date(2026, 3, 1), 0, D("197.00")),
    ]


def test_refund_and_chargeback_rates(dados):
    taxas = _rodar(dashboard.taxas_reembolso_chargeback, _filtro())
    # Sales of the period: T1 T2 T3 T4 T5 T7 T8 T10 = 8, R$ 5.235; T4 refunded (197),
    # T5 charged back (1500); T6 was never paid.
    t = taxas.total
    assert (t.produto_id, t.produto, t.vendas, t.valor_vendas) == (None, "Todos", 8, D("5235.00"))
    assert (t.reembolsos, t.valor_reembolsos, t.chargebacks, t.valor_chargebacks) == (
        1,
        D("197.00"),
        1,
        D("1500.00"),
    )
    assert (t.taxa_reembolso, t.taxa_chargeback) == (D("12.5"), D("12.5"))
    assert (t.taxa_reembolso_valor, t.taxa_chargeback_valor) == (D("3.8"), D("28.7"))
    assert [
        (p.produto, p.vendas, p.taxa_reembolso, p.taxa_reembolso_valor, p.taxa_chargeback)
        for p in taxas.por_produto
    ] == [
        ("Curso de Excel", 4, D("25.0"), D("28.6"), D("0.0")),  # 197 of 688
        ("Mentoria", 3, D("0.0"), D("0.0"), D("33.3")),  # 1500 of 4500
        ("Ebook", 1, D("0.0"), D("0.0"), D("0.0")),
    ]


def test_completion_bands(dados):
    faixas = _rodar(dashboard.distribuicao_conclusao, _filtro())
    # Excel has 5 lessons, Mentoria 2; the Ebook has none and is left out.
    assert [(f.faixa, f.matriculas) for f in faixas] == [
        ("0%", 2),  # Bruno Mentoria, Fábio Excel
        ("1–25%", 1),  # Bruno Excel 1/5
        ("26–50%", 2),  # Davi Excel 2/5, Ana Mentoria 1/2 (exactly 50 %)
        ("51–75%", 1),  # Carla Excel 3/5
        ("76–99%", 1),  # Eva Excel 4/5
        ("100%", 2),  # Ana Excel, Davi Mentoria
    ]
    mentoria = _rodar(dashboard.distribuicao_conclusao, _filtro(dados["produtos"]["mentoria"]))
    assert [f.matriculas for f in mentoria] == [1, 0, 1, 0, 0, 1]


def test_module_funnel_in_course_order(dados):
    etapas = _rodar(dashboard.funil_modulos, _filtro(), dados["produtos"]["excel"])
    assert [
        (e.posicao, e.modulo, e.aulas, e.matriculas, e.iniciaram, e.concluiram) for e in etapas
    ] == [
        # Fundamentos (A1, A2): all but Fábio started; Ana, Carla and Eva finished both.
        (1, "Fundamentos", 2, 6, 5, 3),
        # Fórmulas (A3–A5): Ana, Carla, Davi and Eva started; only Ana finished.
        (2, "Fórmulas", 3, 6, 4, 1),
    ]
    assert etapas[0].modulo_id == dados["modulos"]["fundamentos"]


def test_stalled_by_module_of_the_last_completed_lesson(dados):
    estagnados = _rodar(dashboard.estagnados_por_modulo, _filtro())
    # Bruno Excel (A1, 30 days) and Davi Excel (A1 20 days ago, after A3): Fundamentos;
    # Eva Excel (A4, 16 days): Fórmulas; Bruno Mentoria (nothing, started 40 days ago).
    # Not stalled: Ana (finished / 2 days ago), Carla and Davi Mentoria (blocked), Fábio (new).
    assert [(e.modulo, e.produto, e.matriculas) for e in estagnados] == [
        ("Fundamentos", "Curso de Excel", 2),
        ("Fórmulas", "Curso de Excel", 1),
        ("Nenhuma aula concluída", "Mentoria", 1),
    ]
    assert estagnados[0].modulo_id == dados["modulos"]["fundamentos"]
    assert estagnados[2].modulo_id is None
    so_excel = _rodar(dashboard.estagnados_por_modulo, _filtro(dados["produtos"]["excel"]))
    assert [(e.modulo, e.matriculas) for e in so_excel] == [("Fundamentos", 2), ("Fórmulas", 1)]


def test_first_access_by_origin_and_sao_paulo_month(dados):
    meses = _rodar(dashboard.primeiro_acesso_por_mes, _filtro())
    assert [(m.mes, m.zap_terceiriza, m.email_hotmart, m.sem_origem) for m in meses] == [
        (date(2026, 1, 1), 2, 0, 0),  # Ana Excel, Bruno Excel (31/01 23:00)
        (date(2026, 2, 1), 0, 2, 0),  # Ana Mentoria, Carla Excel
        (date(2026, 3, 1), 2, 0, 1),  # Bruno Mentoria, Eva; Davi without origin
    ]


def test_recovered_revenue_per_rule_counts_each_payment_once(dados):
    regras = _rodar(dashboard.receita_recuperada_por_regra, _filtro())
    # T8: boleto message, then a PIX message before the approval (the welcome message came
    # after it). T7: two boleto messages, then a PIX message that failed. T11 was approved
    # after the period, T6 never, T3's queue item was never sent.
    assert [(r.regra, r.transacoes, r.receita) for r in regras] == [
        ("PIX pendente", 1, D("1500.00")),
        ("Boleto pendente", 1, D("197.00")),
    ]
    assert regras[1].regra_id == dados["regras"]["boleto"]
    excel = _rodar(dashboard.receita_recuperada_por_regra, _filtro(dados["produtos"]["excel"]))
    assert [(r.regra, r.receita) for r in excel] == [("Boleto pendente", D("197.00"))]


def test_delivery_funnel_of_the_period_is_the_logs_funnel(dados):
    funil = _rodar(dashboard.funil_entrega, _filtro())
    assert funil == logs.Funil(
        disparadas=8, enviadas=7, entregues=5, lidas=2, falhas=1, aguardando=0
    )
    p = dados["produtos"]
    assert _rodar(dashboard.funil_entrega, _filtro(p["excel"])).disparadas == 5
    assert _rodar(dashboard.funil_entrega, _filtro(p["mentoria"])).disparadas == 3
    assert _rodar(dashboard.funil_entrega, _filtro(p["excel"], p["mentoria"])) == funil


def test_a_three_year_period_is_summed_across_the_logs_windows(dados):
    filtro = dashboard.FiltroPainel(inicio=date(2024, 4, 1), fim=date(2027, 3, 31))
    # Every message of the data set: 8 in the period, 2 just outside it, 5 recent.
    assert _rodar(dashboard.funil_entrega, filtro).disparadas == 15


def test_empty_database_gives_zeros_and_empty_lists(banco):
    filtro = _filtro()
    k = _rodar(dashboard.kpis, filtro)
    assert (k.ltv_total, k.ltv_medio, k.receita_periodo, k.alunos_ativos) == (0, None, 0, 0)
    assert (k.taxa_conclusao, k.taxa_leitura_7d, k.fila_pendente) == (None, None, 0)
    assert _rodar(dashboard.ltv_por_produto, filtro) == []
    assert _rodar(dashboard.ltv_por_oferta, filtro) == []
    assert _rodar(dashboard.ltv_por_faixa_ticket, filtro) == []
    assert [m.receita for m in _rodar(dashboard.receita_por_mes, filtro)] == [0, 0, 0]
    assert _rodar(dashboard.receita_por_coorte, filtro) == []
    taxas = _rodar(dashboard.taxas_reembolso_chargeback, filtro)
    assert (taxas.total.vendas, taxas.total.taxa_reembolso, taxas.por_produto) == (0, None, [])
    assert [f.matriculas for f in _rodar(dashboard.distribuicao_conclusao, filtro)] == [0] * 6
    assert _rodar(dashboard.estagnados_por_modulo, filtro) == []
    assert len(_rodar(dashboard.primeiro_acesso_por_mes, filtro)) == 3
    assert _rodar(dashboard.receita_recuperada_por_regra, filtro) == []
    assert _rodar(dashboard.funil_entrega, filtro) == logs.Funil(0, 0, 0, 0, 0, 0)


@pytest.mark.parametrize(
    ("inicio", "fim", "erro"),
    [
        (date(2026, 3, 1), date(2026, 2, 28), "data inicial"),
        (date(2024, 1, 1), date(2027, 1, 1), "no máximo 3 anos"),
        (date(2024, 2, 29), date(2027, 2, 28), "no máximo 3 anos"),
    ],
)
def test_bad_periods_are_refused_in_portuguese(inicio, fim, erro):
    with pytest.raises(dashboard.FiltroInvalido, match=erro):
        dashboard.FiltroPainel(inicio=inicio, fim=fim)


def test_three_years_is_the_longest_period():
    assert dashboard.FiltroPainel(inicio=date(2024, 1, 1), fim=date(2026, 12, 31))
    assert dashboard.FiltroPainel(inicio=date(2024, 2, 29), fim=date(2027, 2, 27))
    assert issubclass(dashboard.FiltroInvalido, ValueError)


def test_default_period_is_the_last_ninety_sao_paulo_days():
    # 01:00 UTC on 07/11 is still 06/11 in São Paulo.
    agora = datetime(2026, 11, 7, 1, 0, tzinfo=UTC)
    assert dashboard.periodo_padrao(agora) == (date(2026, 8, 9), date(2026, 11, 6))
