"""ui.painel_gestor with AppTest over the real database: KPIs, charts, filters, empty states."""

from __future__ import annotations

import json
from datetime import date

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests import fabrica_painel as fp
from tests.fabrica_painel import FIM, INICIO


def _script() -> None:
    from ui.painel_gestor import desenhar

    desenhar()


@pytest.fixture(autouse=True)
def cache_limpo():
    st.cache_data.clear()
    yield
    st.cache_data.clear()


def _abrir() -> AppTest:
    return AppTest.from_function(_script, default_timeout=60).run()


def _no_periodo(at: AppTest) -> AppTest:
    return at.date_input(key="painel_periodo").set_value((INICIO, FIM)).run()


def _metricas(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _graficos(at: AppTest) -> dict[str, dict]:
    """Each plotly chart's spec by its title."""
    specs = [json.loads(g.proto.spec) for g in at.get("plotly_chart")]
    return {s["layout"]["title"]["text"]: s for s in specs}


def _textos(at: AppTest) -> str:
    return "\n".join(str(e.value).replace("\\", "") for e in (*at.error, *at.info, *at.caption))


def test_kpis_and_charts_in_portuguese(banco):
    fp.conjunto(banco)
    at = _no_periodo(_abrir())
    assert not at.exception
    assert _metricas(at) == {
        "LTV total": "R$ 3.932,00",
        "LTV médio": "R$ 786,40",
        "Receita no período": "R$ 3.538,00",
        "Alunos ativos": "6",
        "Concluíram o curso": "22,2%",
        "Fila pendente": "2",
        "Leitura (7 dias)": "33,3%",
    }
    graficos = _graficos(at)
    assert len(graficos) == 13  # 12 manager charts and the health-score distribution
    assert "Distribuição do score de saúde" in graficos
    receita = graficos["Receita por mês"]
    assert receita["layout"]["separators"] == ",."
    assert receita["layout"]["xaxis"]["title"]["text"] == "Mês"
    assert receita["data"][0]["x"] == ["jan/2026", "fev/2026", "mar/2026"]
    assert receita["data"][0]["y"] == [294.0, 1500.0, 1744.0]
    assert "R$ %{y:,.2f}" in receita["data"][0]["hovertemplate"]

    produto = graficos["LTV por produto"]["data"][0]
    assert (produto["y"], produto["x"]) == (
        ["Mentoria", "Curso de Excel", "Ebook"],
        [3000, 885, 47],
    )
    oferta = graficos["LTV por oferta (20 maiores)"]["data"][0]
    assert oferta["y"][1] == "Excel à vista — Curso de Excel"

    coortes = graficos["Receita acumulada por aluno, por mês da primeira compra"]["data"][0]
    assert coortes["y"] == ["jan/2026", "mar/2026"]
    assert coortes["z"] == [[97.0, 97.0, 1597.0], [122.0, None, None]]

    reembolsos = graficos["Reembolsos e chargebacks por produto"]["data"]
    assert reembolsos[0]["x"] == ["Curso de Excel", "Mentoria", "Ebook"]
    assert reembolsos[0]["y"] == [25.0, 0.0, 0.0] and reembolsos[1]["y"] == [0.0, 33.3, 0.0]
    recuperada = graficos["Receita recuperada por regra"]["data"][0]
    assert (recuperada["x"], recuperada["y"]) == (["PIX pendente", "Boleto pendente"], [1500, 197])

    conclusao = graficos["Matrículas por % de aulas concluídas"]
    assert conclusao["data"][0]["y"] == [2, 1, 2, 1, 1, 2]
    assert conclusao["layout"]["xaxis"]["type"] == "category"  # "100%" is a label, not 100
    parados = graficos["Alunos parados há mais de 14 dias, pelo módulo da última aula concluída"]
    assert parados["data"][0]["y"][0] == "Fundamentos — Curso de Excel"
    assert parados["data"][0]["x"] == [2, 1, 1]

    funil = graficos["Funil de entrega das mensagens"]["data"][0]
    assert (funil["type"], funil["x"]) == ("funnel", [8, 7, 5, 2])
    acessos = graficos["Primeiro acesso ao curso, por origem"]["data"]
    assert [a["y"] for a in acessos] == [[2, 0, 2], [0, 2, 0], [0, 0, 1]]

    # Every table has its CSV button.
    assert len(at.get("download_button")) == 12


def test_module_funnel_follows_the_chosen_product(banco):
    dados = fp.conjunto(banco)
    at = _no_periodo(_abrir())
    excel = str(dados["produtos"]["excel"])
    at.selectbox(key="painel_funil_produto").set_value(excel).run()
    funil = next(
        s for t, s in _graficos(at).items() if t.startswith("Funil por módulo — Curso de Excel")
    )
    assert funil["data"][0]["x"] == ["1. Fundamentos", "2. Fórmulas"]
    assert funil["data"][0]["y"] == [5, 4] and funil["data"][1]["y"] == [3, 1]


def test_product_filter_narrows_every_figure(banco):
    dados = fp.conjunto(banco)
    at = _no_periodo(_abrir())
    at.multiselect(key="painel_produtos").set_value([str(dados["produtos"]["mentoria"])]).run()
    assert not at.exception
    metricas = _metricas(at)
    assert metricas["Receita no período"] == "R$ 3.000,00"
    assert metricas["LTV total"] == "R$ 3.688,00"
    assert metricas["Alunos ativos"] == "2"
    assert _graficos(at)["Receita por mês"]["data"][0]["y"] == [0.0, 1500.0, 1500.0]


def test_empty_database_explains_what_to_do(banco):
    at = _abrir()
    assert not at.exception
    textos = _textos(at)
    assert "Nenhuma venda no período — ajuste o período ou sincronize a Hotmart" in textos
    assert "Nenhuma matrícula em produtos com aulas" in textos
    assert "Nenhuma mensagem enviada no período" in textos
    assert len(at.get("plotly_chart")) == 0
    metricas = _metricas(at)
    assert metricas["LTV total"] == "R$ 0,00" and metricas["Concluíram o curso"] == "—"


def test_a_period_longer_than_three_years_is_refused(banco):
    at = _abrir()
    at.date_input(key="painel_periodo").set_value((date(2020, 1, 1), date(2026, 11, 1))).run()
    assert not at.exception
    assert "no máximo 3 anos" in at.error[0].value.replace("\\", "")
    assert len(at.metric) == 0 and len(at.get("plotly_chart")) == 0
