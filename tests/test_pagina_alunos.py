"""Alunos page with AppTest over the real database: search, profile, tags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests import fabrica_cs as f

RAIZ = Path(__file__).resolve().parent.parent
PAGINA = str(RAIZ / "pages" / "Alunos.py")
BOLETO = "https://pay.hotmart.com/boleto/HP0002?codigo=123"
PIX = "00020126580014BR.GOV.BCB.PIX0136chave-pix-exemplo"


def _abrir(username: str) -> AppTest:
    at = AppTest.from_file(PAGINA, default_timeout=30)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = username
    return at.run()


def _buscar(at: AppTest, termo: str) -> AppTest:
    return at.text_input(key="busca_aluno").input(termo).run()


def _textos(at: AppTest) -> str:
    return "\n".join(
        str(e.value)
        for e in (*at.error, *at.warning, *at.info, *at.success, *at.caption, *at.subheader)
    )


@pytest.fixture
def maria(banco):
    aluno = f.aluno(
        banco,
        "Maria José",
        "maria@exemplo.com",
        cpf="123.456.789-09",
        celular="5511987654321",
        ltv="1234.56",
    )
    f.aluno(banco, "Joana Prado", "joana@exemplo.com")
    p = f.produto(banco, "Curso de Excel")
    m = f.modulo(banco, p, "M1", 1)
    a1 = f.aula(banco, m, "Boas-vindas", 1)
    f.aula(banco, m, "Fórmulas", 2)
    agora = datetime.now(UTC)
    f.transacao(banco, "HP0001", aluno, p, valor="997.00", data_compra=agora - timedelta(days=9))
    f.transacao(
        banco,
        "HP0002",
        aluno,
        p,
        status="PRINTED_BILLET",
        valor="237.56",
        link_boleto=BOLETO,
        codigo_pix=PIX,
    )
    mat = f.matricula(banco, aluno, p, origem="zap_terceiriza")
    f.concluir(banco, mat, a1, ha_dias=4)
    f.mensagem(banco, aluno, f.template(banco, "boas_vindas"), ha_dias=1, status="read")
    return aluno


def test_no_students_yet_says_how_to_get_them(criar_usuario):
    username, _ = criar_usuario("cs")
    at = _abrir(username)
    assert not at.exception
    assert "Nenhum aluno ainda — sincronize a Hotmart pela barra lateral" in _textos(at)


@pytest.mark.parametrize("papel", ["cs", "gestor"])
def test_search_finds_the_student_and_shows_the_profile(criar_usuario, maria, papel):
    username, _ = criar_usuario(papel)
    at = _abrir(username)
    assert "pelo menos 2 caracteres" in _textos(at)
    at = _buscar(at, "maria jose")
    assert not at.exception
    assert list(at.dataframe[0].value["Nome"]) == ["Maria José"]
    assert "Maria José" in [s.value for s in at.subheader]
    assert at.metric[0].label == "LTV" and at.metric[0].value == "R$ 1.234,56"
    compras = at.tabs[0].dataframe[0].value
    assert list(compras["Transação"]) == ["HP0002", "HP0001"]
    assert list(compras["Valor pago"]) == ["R$ 237,56", "R$ 997,00"]
    assert compras["Status"].iloc[0] == "Boleto impresso"
    assert [c.value for c in at.tabs[0].code] == [BOLETO, PIX]
    progresso = at.tabs[1].dataframe[1].value
    assert progresso.iloc[0]["Aulas concluídas"] == "1 de 2"
    assert progresso.iloc[0]["Concluído"] == 50.0
    assert progresso.iloc[0]["Última aula concluída"] == "Boas-vindas"
    assert progresso.iloc[0]["Dias desde então"] == "4"
    assert at.tabs[1].dataframe[0].value.iloc[0]["Primeiro acesso via"] == "WhatsApp (Terceiriza)"
    mensagens = at.tabs[3].dataframe[0].value
    assert mensagens[["Template", "Status"]].values.tolist() == [["boas_vindas", "Lida"]]


@pytest.mark.parametrize("termo", ["123.456.789-09", "(11) 98765-4321", "MARIA@EXEMPLO.COM"])
def test_search_by_cpf_phone_and_email(criar_usuario, maria, termo):
    username, _ = criar_usuario("cs")
    at = _buscar(_abrir(username), termo)
    assert list(at.dataframe[0].value["E-mail"]) == ["maria@exemplo.com"]


def test_hostile_search_finds_nothing_and_shows_no_markup(criar_usuario, maria):
    username, _ = criar_usuario("cs")
    at = _abrir(username)
    for termo in ("%%", "' OR '1'='1", "<script>alert(1)</script>", "_%_"):
        at = _buscar(at, termo)
        assert not at.exception
        assert "Nenhum aluno encontrado" in _textos(at)
        assert len(at.dataframe) == 0


def test_profile_name_is_shown_literally(criar_usuario, banco):
    f.aluno(banco, "Zé [link](javascript:alert(1)) <b>", "ze@x.com")
    username, _ = criar_usuario("cs")
    at = _buscar(_abrir(username), "ze@x.com")
    titulo = at.subheader[0].value
    assert "](javascript" not in titulo and "<b>" not in titulo
    assert titulo.replace("\\", "") == "Zé [link](javascript:alert(1)) <b>"


def test_tags_are_added_and_removed(criar_usuario, maria, banco):
    vip = f.tag(banco, "vip")
    f.tag(banco, "churn_risk", "#B91C1C")
    username, _ = criar_usuario("cs")
    at = _buscar(_abrir(username), "maria")
    assert "ainda não tem tags" in _textos(at)
    at.selectbox(key="tag_adicionar").set_value(vip)
    at.button(key="botao_adicionar_tag").click().run()
    assert not at.exception
    assert "Tag vip adicionada." in _textos(at)
    assert list(at.tabs[2].dataframe[0].value["Tag"]) == ["vip"]
    assert at.selectbox(key="tag_adicionar").options == ["churn_risk"]
    assert f.contar(banco, "SELECT count(*) FROM alunos_tags WHERE aluno_id = :a", a=maria) == 1

    at.selectbox(key="tag_remover").set_value(vip)
    at.button(key="botao_remover_tag").click().run()
    assert "Tag vip removida." in _textos(at)
    assert f.contar(banco, "SELECT count(*) FROM alunos_tags") == 0
    assert f.contar(banco, "SELECT count(*) FROM auditoria WHERE entidade = 'alunos'") == 2
    assert "Nova tag no catálogo" not in [e.label for e in at.expander]  # cs cannot create tags


def test_admin_creates_a_catalogue_tag_and_a_bad_color_or_name_is_refused(
    criar_usuario, maria, banco
):
    username, _ = criar_usuario("admin")
    at = _buscar(_abrir(username), "maria")
    assert "O catálogo de tags está vazio." in _textos(at)
    at.text_input(key="nova_tag_nome").input("   ")
    at.color_picker(key="nova_tag_cor").pick("#123456")
    at.button(key="FormSubmitter:form_nova_tag-Criar tag").click().run()
    assert "não pode ficar vazio" in _textos(at)
    assert f.contar(banco, "SELECT count(*) FROM tags") == 0
    at.text_input(key="nova_tag_nome").input("Super Fã")
    at.color_picker(key="nova_tag_cor").pick("#123456")  # the form clears on submit
    at.button(key="FormSubmitter:form_nova_tag-Criar tag").click().run()
    assert not at.exception
    assert "Tag Super Fã criada no catálogo." in _textos(at)
    assert f.contar(banco, "SELECT nome || ' ' || cor_hex FROM tags") == "Super Fã #123456"


def test_profile_shows_the_health_score_and_its_breakdown(criar_usuario, maria):
    username, _ = criar_usuario("cs")
    at = _buscar(_abrir(username), "maria")
    assert not at.exception
    aba = at.tabs[4]
    assert aba.label == "Saúde"
    # a lesson 4 days ago (1 of 2), 30 days in, nothing due or open: 15+10+15+20+10+10+10
    assert aba.metric[0].value == "90/100"
    assert aba.metric[0].label.replace("\\", "") == "Saúde — Curso de Excel"
    detalhe = aba.dataframe[0].value
    assert list(detalhe.columns) == ["Componente", "Pontos", "Máximo", "Detalhe"]
    assert list(detalhe["Pontos"]) == [15, 10, 15, 20, 10, 10, 10]
    assert list(detalhe["Máximo"]) == [15, 20, 15, 20, 10, 10, 10]
    assert detalhe.iloc[0]["Componente"] == "Primeiro acesso feito"
    assert detalhe.iloc[2]["Detalhe"] == "última aula há 4 dias"
    assert "1 aula nos últimos 14 dias" in " ".join(c.value for c in aba.caption)
    assert len(aba.get("download_button")) == 1


def test_profile_without_an_active_enrolment_has_no_score(criar_usuario, maria):
    username, _ = criar_usuario("cs")
    at = _buscar(_abrir(username), "joana")
    assert not at.exception
    assert "só é calculado para matrículas ativas" in at.tabs[4].info[0].value
    assert len(at.tabs[4].metric) == 0
