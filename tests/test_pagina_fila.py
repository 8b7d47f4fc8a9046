"""Fila de Aprovação page with AppTest over the real database: context, decisions, verification."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from tests import fabrica_cs as f

RAIZ = Path(__file__).resolve().parent.parent
PAGINA = str(RAIZ / "pages" / "Fila.py")


def _abrir(username: str) -> AppTest:
    at = AppTest.from_file(PAGINA, default_timeout=30)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = username
    return at.run()


def _textos(at: AppTest) -> str:
    return "\n".join(
        str(e.value) for e in (*at.error, *at.warning, *at.info, *at.success, *at.caption)
    )


def _erros(at: AppTest) -> str:
    return "\n".join(e.value for e in at.error).replace("\\", "")


def _marcar(at: AppTest, *linhas: int) -> None:
    at.session_state["fila_selecao"] = {
        "edited_rows": {linha: {"Selecionar": True} for linha in linhas},
        "added_rows": [],
        "deleted_rows": [],
    }


def _item(banco, regra_id, aluno_id, produto_id, template_id, texto, *, status, ha_horas, **extra):
    return f._um(
        banco,
        "INSERT INTO filas_disparo (regra_id, aluno_id, template_id, status, chave_dedupe, "
        "produto_id, ocasiao, texto_renderizado, data_criacao, decidido_por, decidido_em, "
        "motivo_rejeicao, reservado_em) "
        "VALUES (:r, :a, :t, :s, :k, :p, :o, :x, :dc, :dp, :de, :mr, :re) RETURNING id",
        r=regra_id,
        a=aluno_id,
        t=template_id,
        s=status,
        k=f"{regra_id}:{aluno_id}:{uuid.uuid4().hex}",
        p=produto_id,
        o="boleto:teste",
        x=texto,
        dc=datetime.now(UTC) - timedelta(hours=ha_horas),
        dp=extra.get("decidido_por"),
        de=extra.get("decidido_em"),
        mr=extra.get("motivo"),
        re=extra.get("reservado_em"),
    )


def _linha(banco, item_id: int):
    with banco.connect() as conn:
        return conn.execute(
            text(
                "SELECT status, decidido_por, decidido_em, motivo_rejeicao, reservado_em "
                "FROM filas_disparo WHERE id = :i"
            ),
            {"i": item_id},
        ).one()


@pytest.fixture
def dados(banco):
    excel = f.produto(banco, "Curso de Excel", monitorado=True)
    word = f.produto(banco, "Curso de Word", monitorado=True)
    modulo = f.modulo(banco, excel, "Módulo 1", 1)
    aula1 = f.aula(banco, modulo, "Boas-vindas", 1)
    f.aula(banco, modulo, "Fórmulas", 2)
    ana = f.aluno(banco, "Ana Souza", "ana@exemplo.com", celular="5511987654321", ltv=997)
    bruno = f.aluno(banco, "Bruno Lima", "bruno@exemplo.com", celular="5521987654321", ltv=97)
    carla = f.aluno(banco, "Carla Dias", "carla@exemplo.com", celular="5531987654321")
    davi = f.aluno(banco, "Davi Reis", "davi@exemplo.com", celular="5541987654321")
    f.concluir(banco, f.matricula(banco, ana, excel), aula1)
    template = f.template(banco, "lembrete_boleto")
    f.mensagem(banco, ana, template, ha_dias=2)
    regra = f._um(
        banco,
        "INSERT INTO regras_automacao (nome, gatilho, template_id) "
        "VALUES ('Boleto pendente', 'boleto_pendente', :t) RETURNING id",
        t=template,
    )
    outra = f._um(
        banco,
        "INSERT INTO regras_automacao (nome, gatilho, template_id) "
        "VALUES ('Boas-vindas', 'compra_aprovada', :t) RETURNING id",
        t=template,
    )

    def item(aluno, produto, texto, status="pendente", ha_horas=1, regra_id=regra, **extra):
        return _item(
            banco,
            regra_id,
            aluno,
            produto,
            template,
            texto,
            status=status,
            ha_horas=ha_horas,
            **extra,
        )

    return {
        "excel": excel,
        "word": word,
        "regra": regra,
        "outra": outra,
        "ana": item(ana, excel, "Oi, Ana! Seu boleto: https://pay.hotmart.com/b/ana", ha_horas=3),
        "bruno": item(
            bruno, excel, "Oi, Bruno! Seu boleto: https://pay.hotmart.com/b/b", ha_horas=2
        ),
        "carla": item(carla, word, "Oi, Carla! Bem-vinda ao Word.", regra_id=outra),
        "verificar": [
            item(
                davi,
                excel,
                "Oi, Davi! Seu boleto (1)",
                "verificar",
                5,
                decidido_por="gestor1",
                reservado_em=datetime.now(UTC) - timedelta(hours=4),
            ),
            item(
                davi,
                word,
                "Oi, Davi! Seu boleto (2)",
                "verificar",
                4,
                decidido_por="gestor1",
                reservado_em=datetime.now(UTC) - timedelta(hours=3),
            ),
        ],
        "rejeitado": item(
            bruno,
            word,
            "Oi, Bruno! Antigo",
            "rejeitado",
            30,
            decidido_por="cs9",
            decidido_em=datetime.now(UTC) - timedelta(hours=29),
            motivo="aluno já pagou",
        ),
    }


def test_empty_queue_says_so(criar_usuario):
    username, _ = criar_usuario("cs")
    at = _abrir(username)
    assert not at.exception
    assert "Nenhum item pendente na fila." in _textos(at)
    assert len(at.data_editor) == 0


def test_cs_sees_pending_items_with_text_and_context(criar_usuario, dados):
    username, _ = criar_usuario("cs")
    at = _abrir(username)
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Pendentes"] == "3"
    tabela = at.data_editor[0].value
    assert list(tabela["Aluno"]) == ["Ana Souza", "Bruno Lima", "Carla Dias"]
    assert not tabela["Selecionar"].any()
    ana = tabela.iloc[0]
    assert ana["Mensagem"] == "Oi, Ana! Seu boleto: https://pay.hotmart.com/b/ana"
    assert (ana["Regra"], ana["Produto"], ana["Celular"]) == (
        "Boleto pendente",
        "Curso de Excel",
        "5511987654321",
    )
    assert (ana["LTV"], ana["Progresso"]) == ("R$ 997,00", "50%")
    assert ana["Última mensagem"] != "nunca"
    assert tabela.iloc[2]["Última mensagem"] == "nunca"
    assert tabela.iloc[2]["Progresso"] == "—"
    # the unconfirmed sends are called out
    assert "2 envio(s) começaram mas não foram confirmados" in _textos(at)
    # the first item in full
    assert at.code[0].value == "Oi, Ana! Seu boleto: https://pay.hotmart.com/b/ana"


def test_filters_by_rule_product_and_student(criar_usuario, dados):
    username, _ = criar_usuario("cs")
    at = _abrir(username)
    at.selectbox(key="fila_regra").set_value(dados["outra"]).run()
    assert list(at.data_editor[0].value["Aluno"]) == ["Carla Dias"]
    at.selectbox(key="fila_regra").set_value(None)
    at.selectbox(key="fila_produto").set_value(dados["excel"]).run()
    assert list(at.data_editor[0].value["Aluno"]) == ["Ana Souza", "Bruno Lima"]
    at.text_input(key="fila_busca").input("BRUNO@").run()
    assert list(at.data_editor[0].value["Aluno"]) == ["Bruno Lima"]
    at.text_input(key="fila_busca").input("brúno LI").run()  # accents and case do not matter
    assert list(at.data_editor[0].value["Aluno"]) == ["Bruno Lima"]
    at.text_input(key="fila_busca").input("ninguém").run()
    assert "Nenhum item encontrado com esses filtros." in _textos(at)


def test_cs_approves_two_selected_items(criar_usuario, dados, banco):
    username, _ = criar_usuario("cs")
    at = _abrir(username)
    _marcar(at, 0, 1)
    at.run()
    assert at.button(key="fila_aprovar").label == "Aprovar 2"
    at.button(key="fila_aprovar").click().run()
    assert not at.exception
    assert "2 item(ns) aprovado(s)." in _textos(at)
    for chave in ("ana", "bruno"):
        linha = _linha(banco, dados[chave])
        assert (linha.status, linha.decidido_por) == ("aprovado", username)
        assert linha.decidido_em is not None
    assert _linha(banco, dados["carla"]).status == "pendente"
    assert f.contar(banco, "SELECT usuario FROM auditoria WHERE acao = 'fila_aprovada'") == username
    # the list is redrawn without them and nothing is left marked
    tabela = at.data_editor[0].value
    assert list(tabela["Aluno"]) == ["Carla Dias"] and not tabela["Selecionar"].any()


def test_mark_all_listed_items_then_approve(criar_usuario, dados, banco):
    username, _ = criar_usuario("cs")
    at = _abrir(username)
    at.selectbox(key="fila_produto").set_value(dados["excel"]).run()
    at.checkbox(key="fila_todos").check().run()
    assert at.data_editor[0].value["Selecionar"].all()
    _marcar(at)  # edits of the marked-all table: none
    at.button(key="fila_aprovar").click().run()
    assert "2 item(ns) aprovado(s)." in _textos(at)
    assert [_linha(banco, dados[c]).status for c in ("ana", "bruno", "carla")] == [
        "aprovado",
        "aprovado",
        "pendente",
    ]
    assert "Nenhum item encontrado com esses filtros." in _textos(at)
    at.selectbox(key="fila_produto").set_value(None).run()
    assert not at.checkbox(key="fila_todos").value
    assert not at.data_editor[0].value["Selecionar"].any()


def test_reject_needs_a_reason(criar_usuario, dados, banco):
    username, _ = criar_usuario("gestor")
    at = _abrir(username)
    _marcar(at, 2)
    at.run()
    at.button(key="fila_rejeitar").click().run()
    assert not at.exception
    assert "Informe o motivo da rejeição" in _erros(at)
    assert _linha(banco, dados["carla"]).status == "pendente"
    at.text_input(key="fila_motivo").input("Aluna já comprou o Word por outro canal")
    at.button(key="fila_rejeitar").click().run()
    assert "1 item(ns) rejeitado(s)." in _textos(at)
    linha = _linha(banco, dados["carla"])
    assert (linha.status, linha.decidido_por, linha.motivo_rejeicao) == (
        "rejeitado",
        username,
        "Aluna já comprou o Word por outro canal",
    )
    assert _linha(banco, dados["ana"]).status == "pendente"
    assert at.text_input(key="fila_motivo").value == ""  # cleared for the next decision


def test_nothing_selected_leaves_the_decisions_disabled(criar_usuario, dados):
    username, _ = criar_usuario("cs")
    at = _abrir(username)
    assert at.button(key="fila_aprovar").disabled and at.button(key="fila_rejeitar").disabled
    at.selectbox(key="fila_status").set_value("verificar").run()
    assert at.button(key="fila_marcar_enviado").disabled and at.button(key="fila_reenviar").disabled


def test_a_queue_that_changed_under_the_selection_decides_nothing(criar_usuario, dados, banco):
    username, _ = criar_usuario("cs")
    at = _abrir(username)
    _marcar(at, 1)  # Bruno
    at.run()
    with banco.begin() as conn:  # another agent approves Ana meanwhile: Carla moves to row 1
        conn.execute(
            text("UPDATE filas_disparo SET status = 'aprovado' WHERE id = :i"), {"i": dados["ana"]}
        )
    at.button(key="fila_aprovar").click().run()
    assert not at.exception
    assert "A fila mudou desde a sua seleção" in _textos(at)
    assert _linha(banco, dados["carla"]).status == "pendente"
    assert _linha(banco, dados["bruno"]).status == "pendente"


def test_unconfirmed_sends_are_marked_sent_or_sent_again(criar_usuario, dados, banco):
    username, _ = criar_usuario("cs")
    at = _abrir(username)
    at.selectbox(key="fila_status").set_value("verificar").run()
    assert not at.exception
    tabela = at.data_editor[0].value
    assert list(tabela["Mensagem"]) == ["Oi, Davi! Seu boleto (1)", "Oi, Davi! Seu boleto (2)"]
    assert "a confirmação nunca chegou" in _textos(at)
    assert "um intermediário respondeu com erro (ex.: 502)" in _textos(at)
    assert "não a reenvia sozinho" in _textos(at)
    _marcar(at, 0)
    at.run().button(key="fila_marcar_enviado").click().run()
    assert not at.exception
    primeiro = _linha(banco, dados["verificar"][0])
    assert (primeiro.status, primeiro.decidido_por, primeiro.reservado_em) == (
        "enviado",
        username,
        None,
    )
    assert "1 item(ns) marcado(s) como enviado(s)." in _textos(at)
    # sending again may duplicate the message: it needs a confirmation
    _marcar(at, 0)
    at.run().button(key="fila_reenviar").click().run()
    assert "Marque a confirmação de que o aluno não recebeu" in _erros(at)
    assert _linha(banco, dados["verificar"][1]).status == "verificar"
    at.checkbox(key="fila_confirma_reenvio").check()
    at.button(key="fila_reenviar").click().run()
    segundo = _linha(banco, dados["verificar"][1])
    assert (segundo.status, segundo.decidido_por) == ("aprovado", username)
    assert "Nenhum item com o status “A verificar”." in _textos(at)


def test_decided_items_are_browsed_by_status(criar_usuario, dados):
    username, _ = criar_usuario("admin")
    at = _abrir(username)
    at.selectbox(key="fila_status").set_value("rejeitado").run()
    assert not at.exception
    assert len(at.data_editor) == 0
    tabela = at.dataframe[0].value
    assert tabela[["Aluno", "Decidido por", "Motivo / erro"]].values.tolist() == [
        ["Bruno Lima", "cs9", "aluno já pagou"]
    ]
    assert "fila_aprovar" not in [b.key for b in at.button]
    at.selectbox(key="fila_status").set_value("enviado").run()
    assert "Nenhum item com o status “Enviado”." in _textos(at)


def test_hostile_text_is_shown_literally(criar_usuario, dados, banco):
    with banco.begin() as conn:
        conn.execute(
            text(
                "UPDATE filas_disparo SET texto_renderizado = :t, decidido_por = :d WHERE id = :i"
            ),
            {"t": "**Oi** [clique](javascript:alert(1)) <b>x</b>", "d": "_eu_", "i": dados["ana"]},
        )
    username, _ = criar_usuario("cs")
    at = _abrir(username)
    assert not at.exception
    assert at.code[0].value == "**Oi** [clique](javascript:alert(1)) <b>x</b>"
    assert "](javascript" not in _textos(at)
