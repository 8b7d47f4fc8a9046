"""Regras page with AppTest over the real database: the form, the previews, save, activation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from streamlit.testing.v1 import AppTest

from tests import fabrica_cs as f

RAIZ = Path(__file__).resolve().parent.parent
PAGINA = str(RAIZ / "pages" / "Regras.py")
TEXTO_BOLETO = "Oi, {{1}}! Seu boleto do {{2}} está aqui: {{3}}"


def _abrir(username: str) -> AppTest:
    at = AppTest.from_file(PAGINA, default_timeout=30)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = username
    return at.run()


def _textos(at: AppTest) -> str:
    return "\n".join(
        str(e.value)
        for e in (*at.error, *at.warning, *at.info, *at.success, *at.caption, *at.markdown)
    )


def _tabela(at: AppTest, coluna: str):
    return next(d.value for d in at.dataframe if coluna in d.value.columns)


def _metricas(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _template(banco, nome: str, texto: str, qtd: int, *, produto_id=None, status="APPROVED"):
    return f._um(
        banco,
        "INSERT INTO templates (nome_meta, idioma, produto_id, status_meta, conteudo_texto, "
        "qtd_parametros, categoria) VALUES (:n, 'pt_BR', :p, :s, :t, :q, 'UTILITY') RETURNING id",
        n=nome,
        p=produto_id,
        s=status,
        t=texto,
        q=qtd,
    )


def _boleto(banco, codigo, aluno_id, produto_id, *, horas: float, link: str):
    f.transacao(
        banco,
        codigo,
        aluno_id,
        produto_id,
        status="WAITING_PAYMENT",
        valor="497.00",
        link_boleto=link,
        data_compra=datetime.now(UTC) - timedelta(hours=horas),
    )


def _regra_sql(banco, nome: str, template_id: int, *, modo="SUGERIR", ativo=True) -> int:
    return f._um(
        banco,
        "INSERT INTO regras_automacao (nome, gatilho, condicao_json, template_id, "
        "mapeamento_json, modo_execucao, ativo) VALUES (:n, 'boleto_pendente', "
        "CAST(:c AS jsonb), :t, CAST(:m AS jsonb), :modo, :a) RETURNING id",
        n=nome,
        c=json.dumps({"horas": 12, "max_horas": 96, "filtros": {}}),
        t=template_id,
        m=json.dumps(
            {
                "1": {"campo": "primeiro_nome", "padrao": "aluno(a)"},
                "2": {"campo": "produto", "padrao": ""},
                "3": {"campo": "link_boleto", "padrao": ""},
            }
        ),
        modo=modo,
        a=ativo,
    )


@pytest.fixture
def dados(banco):
    excel = f.produto(banco, "Curso de Excel", monitorado=True)
    outro = f.produto(banco, "Curso de Word", monitorado=True)
    ana = f.aluno(banco, "ana souza", "ana@exemplo.com", celular="5511987654321", ltv=997)
    bruno = f.aluno(banco, "Bruno Lima", "bruno@exemplo.com", celular="5521987654321")
    carla = f.aluno(banco, "Carla Dias", "carla@exemplo.com")  # no phone
    davi = f.aluno(banco, "Davi Reis", "davi@exemplo.com", celular="5531987654321")
    _boleto(banco, "HP-ANA", ana, excel, horas=20, link="https://pay.hotmart.com/b/ana")
    _boleto(banco, "HP-CARLA", carla, excel, horas=30, link="https://pay.hotmart.com/b/carla")
    _boleto(banco, "HP-BRUNO", bruno, excel, horas=5, link="https://pay.hotmart.com/b/bruno")
    _boleto(banco, "HP-DAVI", davi, outro, horas=20, link="https://pay.hotmart.com/b/davi")
    return {
        "excel": excel,
        "outro": outro,
        "generico": _template(banco, "lembrete_boleto", TEXTO_BOLETO, 3),
        "do_word": _template(banco, "boleto_word", "Word: {{1}}", 1, produto_id=outro),
        "pendente_meta": _template(banco, "boleto_novo", "Novo {{1}}", 1, status="PENDING"),
    }


def _preencher(at: AppTest, dados: dict, *, nome="Boleto 12h", mapear=True) -> AppTest:
    """The form of a boleto_pendente rule for the generic template, 12 h minimum."""
    at.text_input(key="rf_nome").input(nome)
    at.selectbox(key="rf_gatilho").set_value("boleto_pendente").run()
    at.number_input(key="rf_param_boleto_pendente_horas").set_value(12)
    at.selectbox(key="rf_template").set_value(dados["generico"]).run()
    if mapear:
        at.selectbox(key="rf_campo_boleto_pendente_1").set_value("primeiro_nome")
        at.text_input(key="rf_padrao_1").input("aluno(a)")
        at.selectbox(key="rf_campo_boleto_pendente_2").set_value("produto")
        at.selectbox(key="rf_campo_boleto_pendente_3").set_value("link_boleto")
    return at.run()


def _salvar(at: AppTest) -> AppTest:
    return at.button(key="regra_salvar").click().run()


def _regras(banco) -> list:
    with banco.connect() as conn:
        from sqlalchemy import text

        return conn.execute(
            text(
                "SELECT id, nome, gatilho, condicao_json, template_id, mapeamento_json, "
                "modo_execucao, ativo, atualizado_por FROM regras_automacao ORDER BY id"
            )
        ).all()


def test_empty_page_invites_the_first_rule(criar_usuario):
    username, _ = criar_usuario("admin")
    at = _abrir(username)
    assert not at.exception
    textos = _textos(at)
    assert "Nenhuma regra ainda — crie a primeira abaixo." in textos
    assert "Nenhum template aprovado disponível" in textos
    assert "Escolha um template" in textos  # the preview waits for a complete rule


def test_gestor_creates_a_boleto_rule_with_previews_and_it_is_stored(criar_usuario, dados, banco):
    username, _ = criar_usuario("gestor")
    at = _preencher(_abrir(username), dados)
    assert not at.exception
    # live mapping preview: the template text with the chosen fields
    assert at.code[0].value == (
        "Oi, [Primeiro nome]! Seu boleto do [Produto] está aqui: [Link do boleto]"
    )
    # audience: Ana (20 h) and Carla (30 h, no phone) are pending boletos; Bruno is too recent,
    # Davi's product is not the point here (generic template, no product filter: he is in too)
    metricas = _metricas(at)
    assert metricas["Alunos no gatilho"] == "3"
    assert metricas["Receberiam agora"] == "2"
    assert metricas["Excluídos"] == "1"
    exemplos = _tabela(at, "Mensagem")
    assert set(exemplos["Aluno"]) == {"ana souza", "Davi Reis"}
    assert exemplos.set_index("Aluno").loc["ana souza", "Mensagem"] == (
        "Oi, Ana! Seu boleto do Curso de Excel está aqui: https://pay.hotmart.com/b/ana"
    )
    excluidos = _tabela(at, "Motivo")
    assert excluidos.iloc[0].to_dict() == {"Motivo": "sem celular", "Alunos": 1}

    at = _salvar(at)
    assert not at.exception
    assert "Regra Boleto 12h criada." in _textos(at)
    [regra] = _regras(banco)
    assert (regra.nome, regra.gatilho, regra.template_id, regra.modo_execucao, regra.ativo) == (
        "Boleto 12h",
        "boleto_pendente",
        dados["generico"],
        "SUGERIR",
        True,
    )
    assert regra.condicao_json == {"horas": 12, "max_horas": 96, "filtros": {}}
    assert regra.mapeamento_json == {
        "1": {"campo": "primeiro_nome", "padrao": "aluno(a)"},
        "2": {"campo": "produto", "padrao": ""},
        "3": {"campo": "link_boleto", "padrao": ""},
    }
    assert regra.atualizado_por == username
    assert f.contar(banco, "SELECT usuario FROM auditoria WHERE acao = 'regra_criada'") == username
    # the saved rule is listed and open for editing
    assert list(_tabela(at, "Situação")["Regra"]) == ["Boleto 12h"]
    assert at.selectbox(key="regra_escolhida").value == regra.id
    assert at.text_input(key="rf_nome").value == "Boleto 12h"


def test_product_filter_narrows_audience_and_opens_that_products_templates(
    criar_usuario, dados, banco
):
    username, _ = criar_usuario("gestor")
    at = _preencher(_abrir(username), dados)
    rotulos = at.selectbox(key="rf_template").options
    assert any("lembrete_boleto" in r for r in rotulos)
    assert not any("boleto_word" in r for r in rotulos)  # another product's template
    assert not any("boleto_novo" in r for r in rotulos)  # not approved at Meta
    at.multiselect(key="rf_produtos").set_value([dados["outro"]]).run()
    assert not at.exception
    rotulos = at.selectbox(key="rf_template").options
    assert any("boleto_word" in r for r in rotulos)
    assert _metricas(at)["Alunos no gatilho"] == "1"  # only Davi buys Word
    assert list(_tabela(at, "Mensagem")["Aluno"]) == ["Davi Reis"]
    at.selectbox(key="rf_template").set_value(dados["do_word"]).run()
    at.selectbox(key="rf_campo_boleto_pendente_1").set_value("link_boleto").run()
    assert _tabela(at, "Mensagem").iloc[0]["Mensagem"] == "Word: https://pay.hotmart.com/b/davi"
    # dropping the product filter takes that template away again (it would reach nobody else)
    at.multiselect(key="rf_produtos").set_value([]).run()
    aviso = "\n".join(w.value for w in at.warning).replace("\\", "")
    assert "O template boleto_word (pt_BR) — Curso de Word não serve para esta regra" in aviso
    assert at.selectbox(key="rf_template").value is None


def test_health_score_filter_narrows_the_audience_and_is_stored(criar_usuario, dados, banco):
    # Ana has an active enrolment of 30 days, never accessed, in a product with no lessons yet:
    # 0 + 0 + 5 (30 days) + 20 (nothing expected) + 10 (a 20-hour boleto is not overdue) + 10
    # + 10 = 55; the other boleto holders have no enrolment, hence no score
    ana = f.contar(banco, "SELECT id FROM alunos WHERE nome = 'ana souza'")
    f.matricula(banco, ana, dados["excel"])
    username, _ = criar_usuario("gestor")
    at = _preencher(_abrir(username), dados)
    assert _metricas(at)["Alunos no gatilho"] == "3"
    at.number_input(key="rf_saude_min").set_value(40).run()
    assert not at.exception
    assert _metricas(at)["Alunos no gatilho"] == "1"
    assert list(_tabela(at, "Mensagem")["Aluno"]) == ["ana souza"]
    at.number_input(key="rf_saude_max").set_value(45).run()
    assert _metricas(at)["Alunos no gatilho"] == "0"
    at.number_input(key="rf_saude_max").set_value(60).run()
    at = _salvar(at)
    assert not at.exception
    [regra] = _regras(banco)
    assert regra.condicao_json["filtros"] == {"saude_min": 40, "saude_max": 60}
    assert at.number_input(key="rf_saude_min").value == 40  # reopened from the database
    assert at.number_input(key="rf_saude_max").value == 60


def test_a_health_range_upside_down_is_refused_in_portuguese(criar_usuario, dados, banco):
    username, _ = criar_usuario("gestor")
    at = _preencher(_abrir(username), dados)
    at.number_input(key="rf_saude_min").set_value(70)
    at.number_input(key="rf_saude_max").set_value(30).run()
    assert "A saúde mínima não pode passar da máxima." in _textos(at).replace("\\", "")
    at = _salvar(at)
    assert "A saúde mínima não pode passar da máxima." in "\n".join(
        e.value.replace("\\", "") for e in at.error
    )
    assert _regras(banco) == []


@pytest.mark.parametrize(
    ("nome", "mapear", "esperado"),
    [
        ("", True, "Nome da regra: de 1 a 100 caracteres."),
        ("Boleto sem variáveis", False, "escolha um campo entre"),
    ],
)
def test_invalid_rule_shows_the_reason_and_writes_nothing(
    criar_usuario, dados, banco, nome, mapear, esperado
):
    username, _ = criar_usuario("gestor")
    at = _preencher(_abrir(username), dados, nome=nome, mapear=mapear)
    at = _salvar(at)
    assert not at.exception
    erros = "\n".join(e.value for e in at.error)
    assert esperado in erros.replace("\\", "") and "Nada foi salvo" in erros
    assert _regras(banco) == []
    assert (
        f.contar(banco, "SELECT count(*) FROM auditoria WHERE entidade = 'regras_automacao'") == 0
    )


def test_incomplete_mapping_explains_itself_in_the_preview(criar_usuario, dados):
    username, _ = criar_usuario("gestor")
    at = _preencher(_abrir(username), dados, mapear=False)
    assert not at.exception
    assert "Complete a regra para ver quem ela alcança" in _textos(at)
    assert "Alunos no gatilho" not in _metricas(at)
    assert at.code[0].value.startswith("Oi, [{{1}} sem campo]!")


def test_automatic_mode_needs_a_confirmation(criar_usuario, dados, banco):
    username, _ = criar_usuario("admin")
    at = _preencher(_abrir(username), dados, nome="Boleto direto")
    at.radio(key="rf_modo").set_value("AUTOMATICO").run()
    assert "sem que uma pessoa as aprove" in _textos(at)
    at = _salvar(at)
    assert "Marque a confirmação do modo automático" in "\n".join(e.value for e in at.error)
    assert _regras(banco) == []
    at.checkbox(key="rf_confirma_auto").check().run()
    at = _salvar(at)
    assert not at.exception
    [regra] = _regras(banco)
    assert regra.modo_execucao == "AUTOMATICO"
    # an already automatic rule is edited without confirming again
    at.text_input(key="rf_nome").input("Boleto direto 2").run()
    assert "rf_confirma_auto" not in [c.key for c in at.checkbox]
    at = _salvar(at)
    assert _regras(banco)[0].nome == "Boleto direto 2"


def test_edit_loads_the_stored_rule_and_saves_changes(criar_usuario, dados, banco):
    regra_id = _regra_sql(banco, "Lembrete", dados["generico"])
    username, _ = criar_usuario("gestor")
    at = _abrir(username)
    assert list(_tabela(at, "Situação")["Situação"]) == ["Ativa"]
    at.selectbox(key="regra_escolhida").set_value(regra_id).run()
    assert not at.exception
    assert at.text_input(key="rf_nome").value == "Lembrete"
    assert at.selectbox(key="rf_gatilho").value == "boleto_pendente"
    assert at.number_input(key="rf_param_boleto_pendente_horas").value == 12
    assert at.selectbox(key="rf_template").value == dados["generico"]
    assert at.selectbox(key="rf_campo_boleto_pendente_3").value == "link_boleto"
    assert at.text_input(key="rf_padrao_1").value == "aluno(a)"
    assert _metricas(at)["Receberiam agora"] == "2"
    at.text_input(key="rf_nome").input("Lembrete de boleto")
    at.number_input(key="rf_param_boleto_pendente_max_horas").set_value(25).run()
    assert _metricas(at)["Alunos no gatilho"] == "2"  # Carla's 30 h boleto is now too old
    at = _salvar(at)
    assert not at.exception
    [regra] = _regras(banco)
    assert (regra.id, regra.nome, regra.condicao_json["max_horas"], regra.ativo) == (
        regra_id,
        "Lembrete de boleto",
        25,
        True,
    )
    assert regra.atualizado_por == username
    # "Nova regra" empties the form again
    at.selectbox(key="regra_escolhida").set_value(0).run()
    assert at.text_input(key="rf_nome").value == ""
    assert at.selectbox(key="rf_template").value is None


def test_deactivate_and_activate_a_rule(criar_usuario, dados, banco):
    regra_id = _regra_sql(banco, "Lembrete", dados["generico"])
    automatica = _regra_sql(banco, "Direto", dados["generico"], modo="AUTOMATICO", ativo=False)
    username, _ = criar_usuario("gestor")
    at = _abrir(username)
    at.selectbox(key="regra_escolhida").set_value(regra_id).run()
    at.button(key="regra_alternar").click().run()
    assert not at.exception
    assert "Regra Lembrete desativada." in _textos(at)
    assert not f.contar(banco, "SELECT ativo::int FROM regras_automacao WHERE id = :i", i=regra_id)
    assert f.contar(banco, "SELECT usuario FROM auditoria WHERE acao = 'regra_desativada'") == (
        username
    )
    assert at.button(key="regra_alternar").label == "Ativar regra"
    at.button(key="regra_alternar").click().run()
    assert f.contar(banco, "SELECT ativo::int FROM regras_automacao WHERE id = :i", i=regra_id)
    # activating an automatic rule asks for a confirmation first
    at.selectbox(key="regra_escolhida").set_value(automatica).run()
    at.button(key="regra_alternar").click().run()
    assert "Marque a confirmação para ativar" in "\n".join(e.value for e in at.error)
    assert not f.contar(
        banco, "SELECT ativo::int FROM regras_automacao WHERE id = :i", i=automatica
    )
    at.checkbox(key="rf_confirma_ativar").check()
    at.button(key="regra_alternar").click().run()
    assert f.contar(banco, "SELECT ativo::int FROM regras_automacao WHERE id = :i", i=automatica)


def test_advanced_json_fills_the_form_and_bad_json_is_explained(criar_usuario, dados):
    username, _ = criar_usuario("gestor")
    at = _preencher(_abrir(username), dados)
    at.text_area(key="rf_json").input('{"horas": 12, "max_horas": 25, "filtros": {"ticket": "Alto"')
    at.button(key="regra_aplicar_json").click().run()
    assert "JSON inválido" in "\n".join(e.value for e in at.error)
    at.text_area(key="rf_json").input(
        json.dumps({"horas": 24, "max_horas": 72, "filtros": {"produtos": [str(dados["excel"])]}})
    )
    at.button(key="regra_aplicar_json").click().run()
    assert not at.exception
    assert "Condição aplicada ao formulário." in _textos(at)
    assert at.number_input(key="rf_param_boleto_pendente_horas").value == 24
    assert at.number_input(key="rf_param_boleto_pendente_max_horas").value == 72
    assert at.multiselect(key="rf_produtos").value == [dados["excel"]]
    assert _metricas(at)["Alunos no gatilho"] == "1"  # Carla (30 h); Ana's 20 h is under 24 h
    at.text_area(key="rf_json").input('{"dias": 3}')
    at.button(key="regra_aplicar_json").click().run()
    assert "Campos desconhecidos para Boleto pendente: dias." in "\n".join(
        e.value.replace("\\", "") for e in at.error
    )


def test_outside_the_send_window_the_preview_says_so(criar_usuario, dados):
    from db.uow import UnidadeDeTrabalho
    from services import config

    hora = datetime.now(ZoneInfo("America/Sao_Paulo")).hour
    inicio, fim = ("13:00", "14:00") if hora < 12 else ("01:00", "02:00")
    with UnidadeDeTrabalho() as uow:
        config.definir_varios(
            uow.session, {"disparo_janela_inicio": inicio, "disparo_janela_fim": fim}
        )
        uow.commit()
    username, _ = criar_usuario("gestor")
    at = _preencher(_abrir(username), dados)
    assert f"fora da janela de envio ({inicio}–{fim}" in _textos(at)
