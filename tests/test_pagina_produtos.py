"""Produtos page with AppTest over the real database: table, funnel, monitoring by role."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests import fabrica_cs as f

RAIZ = Path(__file__).resolve().parent.parent
PAGINA = str(RAIZ / "pages" / "Produtos.py")


def _abrir(username: str) -> AppTest:
    at = AppTest.from_file(PAGINA, default_timeout=30)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = username
    return at.run()


def _textos(at: AppTest) -> str:
    return "\n".join(
        str(e.value) for e in (*at.error, *at.warning, *at.info, *at.success, *at.caption)
    )


def _funil(at: AppTest) -> dict:
    return json.loads(at.get("plotly_chart")[0].proto.spec)


def _editar(at: AppTest, linha: int, mudancas: dict) -> None:
    at.session_state["editor_produtos_0"] = {
        "edited_rows": {linha: mudancas},
        "added_rows": [],
        "deleted_rows": [],
    }


def _selecionar_excel(at: AppTest, dados: dict) -> AppTest:
    return at.selectbox(key="produto_selecionado").set_value(dados["produto"]).run()


@pytest.fixture
def dados(banco):
    dados = f.curso_com_funil(banco)
    f.oferta(banco, dados["produto"], "Anual", 997)
    f.oferta(banco, dados["produto"], "Mensal", "97.90")
    return dados


def test_empty_catalogue_says_how_to_get_products(criar_usuario):
    username, _ = criar_usuario("cs")
    at = _abrir(username)
    assert not at.exception
    assert "Nenhum produto ainda — sincronize a Hotmart pela barra lateral" in _textos(at)


@pytest.mark.parametrize("papel", ["cs", "gestor"])
def test_table_and_funnel_are_shown(criar_usuario, dados, papel):
    username, _ = criar_usuario(papel)
    at = _abrir(username)
    assert not at.exception
    tabela = (at.data_editor if papel == "gestor" else at.dataframe)[0].value
    assert list(tabela["Produto"]) == ["Curso de Excel", "Outro curso"]
    excel = tabela.iloc[0]
    assert (excel["ID Hotmart"], excel["Subdomínio do Club"], excel["Monitorar"]) == (
        "3526906",
        "excel-pro",
        False,
    )
    assert (excel["Ofertas"], excel["Módulos"], excel["Aulas"], excel["Matrículas ativas"]) == (
        2,
        2,
        4,
        3,
    )
    at = _selecionar_excel(at, dados)
    serie = _funil(at)["data"][0]
    assert serie["type"] == "funnel"
    assert serie["x"] == [4, 4, 3, 1, 0]
    assert serie["y"][0] == "Matrículas"
    assert serie["y"][1:] == [
        "01. Boas-vindas",
        "02. Fórmulas simples",
        "03. PROCV",
        "04. Tabelas dinâmicas",
    ]
    assert serie["text"][2] == "3 (75,0%)"
    assert "Maior queda: 2 alunos param entre “Fórmulas simples” e “PROCV”" in _textos(at)


def test_offers_show_price_and_ticket_class(criar_usuario, dados):
    username, _ = criar_usuario("cs")
    at = _selecionar_excel(_abrir(username), dados)
    ofertas = at.tabs[1].dataframe[0].value
    assert ofertas[["Oferta", "Preço", "Ticket"]].values.tolist() == [
        ["Anual", "R$ 997,00", "Alto"],
        ["Mensal", "R$ 97,90", "Baixo"],
    ]
    assert "R$ 500,00" in "\n".join(c.value for c in at.tabs[1].caption)
    curso = at.tabs[2].dataframe[0].value
    assert curso.values.tolist() == [
        ["1. Módulo 1 — Básico", "1. Boas-vindas", "0"],
        ["1. Módulo 1 — Básico", "2. Fórmulas simples", "0"],
        ["2. Módulo 2 — Fórmulas", "1. PROCV", "7"],
        ["2. Módulo 2 — Fórmulas", "2. Tabelas dinâmicas", "14"],
    ]


def test_gestor_turns_monitoring_on_and_it_is_stored_and_audited(criar_usuario, dados, banco):
    username, _ = criar_usuario("gestor")
    at = _abrir(username)
    _editar(at, 0, {"Monitorar": True})
    at.button(key="salvar_produtos").click().run()
    assert not at.exception
    assert "Alterações salvas" in _textos(at)
    assert f.contar(
        banco, "SELECT ativo_monitoramento::int FROM produtos WHERE id = :p", p=dados["produto"]
    )
    assert f.contar(
        banco, "SELECT usuario FROM auditoria WHERE acao = 'monitoramento_alterado'"
    ) == (username)
    assert at.data_editor[0].value.iloc[0]["Monitorar"]  # redrawn from the database


def test_gestor_edits_the_subdomain_and_a_bad_one_writes_nothing(criar_usuario, dados, banco):
    username, _ = criar_usuario("admin")
    at = _abrir(username)
    _editar(at, 0, {"Subdomínio do Club": "meu curso!", "Monitorar": True})
    at.button(key="salvar_produtos").click().run()
    assert "Subdomínio inválido" in _textos(at) and "Nada foi salvo" in _textos(at)
    assert f.contar(banco, "SELECT count(*) FROM produtos WHERE ativo_monitoramento") == 0
    assert f.contar(banco, "SELECT count(*) FROM auditoria WHERE entidade = 'produtos'") == 0
    _editar(at, 0, {"Subdomínio do Club": "excel-2026"})
    at.button(key="salvar_produtos").click().run()
    assert "Alterações salvas" in _textos(at)
    assert (
        f.contar(banco, "SELECT hotmart_subdomain FROM produtos WHERE id = :p", p=dados["produto"])
        == "excel-2026"
    )


def test_cs_sees_monitoring_read_only(criar_usuario, dados, banco):
    username, _ = criar_usuario("cs")
    at = _abrir(username)
    assert len(at.data_editor) == 0
    assert len(at.button) == 0 or all(b.key != "salvar_produtos" for b in at.button)
    assert "Somente gestores e administradores" in _textos(at)
    # even a forged editor state does nothing: cs has no editor and no save button
    _editar(at, 0, {"Monitorar": True})
    at.run()
    assert not at.exception
    assert f.contar(banco, "SELECT count(*) FROM produtos WHERE ativo_monitoramento") == 0


def test_product_without_lessons_or_enrolments_has_helpful_empty_states(criar_usuario, banco):
    f.produto(banco, "Lançamento")
    username, _ = criar_usuario("cs")
    at = _abrir(username)
    assert not at.exception
    textos = _textos(at)
    assert "ainda não tem aulas espelhadas" in textos
    assert "Nenhuma oferta espelhada" in textos
    assert "Nenhum módulo espelhado ainda" in textos
    assert len(at.get("plotly_chart")) == 0


def test_hostile_lesson_names_are_not_rendered_as_markup(criar_usuario, banco):
    p = f.produto(banco, "<b>Curso</b>")
    m = f.modulo(banco, p, "M", 1)
    a = f.aula(banco, m, "<script>alert(1)</script>", 1)
    f.aula(banco, m, "[clique](javascript:alert(1))", 2)
    mat = f.matricula(banco, f.aluno(banco, "X", "x@x.com"), p)
    f.concluir(banco, mat, a)
    username, _ = criar_usuario("cs")
    at = _abrir(username)
    assert not at.exception
    serie = _funil(at)["data"][0]
    assert serie["y"][1] == "01. &lt;script&gt;alert(1)&lt;/script&gt;"
    aviso = at.warning[0].value
    assert "<script>" not in aviso and "\\<script\\>" in aviso
    assert "](javascript" not in aviso
