"""Logs page with AppTest over the real database: table, funnel, read rate, filters, empty state."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from services import dias
from tests import fabrica_cs as f
from tests import fabrica_logs as fl

RAIZ = Path(__file__).resolve().parent.parent
PAGINA = str(RAIZ / "pages" / "Logs.py")
TEXTO = "Oi <b>Maria</b>, veja [a aula](javascript:alert(1)) =1+1"


def _abrir(username: str) -> AppTest:
    at = AppTest.from_file(PAGINA, default_timeout=30)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = username
    return at.run()


def _textos(at: AppTest) -> str:
    return "\n".join(
        str(e.value).replace("\\", "")
        for e in (*at.error, *at.warning, *at.info, *at.success, *at.caption)
    )


def _tabela(at: AppTest):
    """The messages table (the failures table, when shown, comes first)."""
    return next(d.value for d in at.dataframe if "Aluno" in d.value.columns)


def _graficos(at: AppTest) -> list[dict]:
    return [json.loads(g.proto.spec) for g in at.get("plotly_chart")]


@pytest.fixture
def recentes(banco):
    """Three messages in the last hours and one 20 days ago (outside the default 7 days)."""
    agora = datetime.now(UTC)
    excel = f.produto(banco, "Curso de Excel")
    boas = fl.template(banco, "boas_vindas", excel)
    lembrete = fl.template(banco, "lembrete_aula", excel)
    maria = f.aluno(banco, "Maria José", "maria@exemplo.com", celular="5511987654321")
    joao = f.aluno(banco, "João Silva", "joao@exemplo.com")
    fl.mensagem(
        banco,
        maria,
        boas,
        envio=agora - timedelta(hours=3),
        status="read",
        enviado=True,
        lido=True,  # read without a delivered time
        produto_id=excel,
        texto=TEXTO,
        telefone="5511987654321",
    )
    fl.mensagem(
        banco, joao, boas, envio=agora - timedelta(hours=2), status="delivered", entregue=True
    )
    fl.mensagem(
        banco,
        joao,
        lembrete,
        envio=agora - timedelta(hours=1),
        status="failed",
        falhou=True,
        erro=(131026, "Message undeliverable"),
    )
    fl.mensagem(banco, maria, lembrete, envio=agora - timedelta(days=20), status="sent")
    return {"boas": boas, "lembrete": lembrete}


def test_cs_sees_the_messages_funnel_and_read_rate(criar_usuario, recentes):
    username, _ = criar_usuario("cs")
    at = _abrir(username)
    assert not at.exception
    tabela = _tabela(at)
    assert list(tabela["Aluno"]) == ["João Silva", "João Silva", "Maria José"]
    assert list(tabela["Status"]) == ["Falhou", "Entregue", "Lida"]
    assert tabela["Código do erro"].iloc[0] == "131026"
    assert tabela["Erro"].iloc[0] == "Message undeliverable"
    maria = tabela.iloc[2]
    assert maria["Texto enviado"] == TEXTO  # plain text, exactly as sent
    assert maria["Telefone"] == "5511987654321"
    assert maria["Template"] == "boas_vindas (pt_BR)" and maria["Produto"] == "Curso de Excel"
    assert maria["Lida"] and not maria["Entregue"]
    assert "Mostrando 3 de 3 mensagens" in _textos(at)

    funil, leitura = _graficos(at)
    assert funil["data"][0]["type"] == "funnel"
    assert funil["data"][0]["y"] == ["Disparadas", "Enviadas", "Entregues", "Lidas"]
    assert funil["data"][0]["x"] == [3, 2, 2, 1]  # the read message counts as delivered
    assert leitura["data"][0]["type"] == "bar"
    assert leitura["data"][0]["x"] == ["boas_vindas (pt_BR)", "lembrete_aula (pt_BR)"]
    assert leitura["data"][0]["y"] == [50.0, 0.0]
    assert [m.value for m in at.metric] == ["3", "2 (66,7%)", "1 (33,3%)", "1 (33,3%)"]
    falhas = next(d.value for d in at.dataframe if "Código" in d.value.columns)
    assert falhas.values.tolist() == [["131026", "Message undeliverable", 1]]
    assert at.get("download_button")[0].proto.label == "Baixar CSV"


def test_filters_narrow_the_table_and_widen_the_period(criar_usuario, recentes):
    username, _ = criar_usuario("gestor")
    at = _abrir(username)
    at.multiselect(key="logs_status").set_value(["failed"]).run()
    assert list(_tabela(at)["Status"]) == ["Falhou"]
    assert "Mostrando 1 de 1 mensagens" in _textos(at)
    assert _graficos(at)[0]["data"][0]["x"] == [3, 2, 2, 1]  # status does not cut the funnel

    at.multiselect(key="logs_status").set_value([]).run()
    at.text_input(key="logs_aluno").input("maria").run()
    assert list(_tabela(at)["Aluno"]) == ["Maria José"]

    at.text_input(key="logs_aluno").input("").run()
    at.selectbox(key="logs_template").set_value(recentes["lembrete"]).run()
    assert len(_tabela(at)) == 1
    hoje = dias.hoje_sao_paulo()
    at.date_input(key="logs_periodo").set_value((hoje - timedelta(days=30), hoje)).run()
    assert not at.exception
    assert list(_tabela(at)["Status"]) == ["Falhou", "Enviada"]


def test_empty_period_says_so(criar_usuario, banco):
    username, _ = criar_usuario("admin")
    at = _abrir(username)
    assert not at.exception
    assert "Nenhuma mensagem enviada no período" in _textos(at)
    assert len(at.get("plotly_chart")) == 0 and len(at.dataframe) == 0


def test_no_match_for_the_student_filter_keeps_the_filters_visible(criar_usuario, recentes):
    username, _ = criar_usuario("cs")
    at = _abrir(username)
    at.text_input(key="logs_aluno").input("ninguém com este nome").run()
    assert "Nenhuma mensagem enviada no período" in _textos(at)
    assert "com esses filtros" in _textos(at)
    assert at.text_input(key="logs_aluno").value == "ninguém com este nome"


def test_csv_export_has_the_filtered_rows_built_on_click(criar_usuario, recentes, monkeypatch):
    geradores = []
    original = MediaFileManager.add_deferred

    def espiar(self, gerador, *args, **kwargs):
        geradores.append(gerador)
        return original(self, gerador, *args, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", espiar)
    username, _ = criar_usuario("cs")
    at = _abrir(username)
    at.multiselect(key="logs_status").set_value(["read", "failed"]).run()
    botao = next(b for b in at.get("download_button") if b.proto.deferred_file_id)
    assert botao.proto.label == "Baixar CSV"  # the messages' CSV is built only when clicked
    conteudo = geradores[-1]()
    tabela = pd.read_csv(io.BytesIO(conteudo), sep=";", encoding="utf-8-sig", dtype=str)
    assert list(tabela["Aluno"]) == ["João Silva", "Maria José"]
    assert list(tabela["Status"]) == ["Falhou", "Lida"]
    assert tabela["Texto enviado"].iloc[1] == TEXTO


def test_unconfirmed_sends_are_pointed_to_the_queue(criar_usuario, recentes, banco):
    """A send Meta never confirmed has no log row; the page says where it is and why."""
    username, _ = criar_usuario("cs")
    assert "sem confirmação da Meta" not in _textos(_abrir(username))
    f._um(
        banco,
        "INSERT INTO filas_disparo (aluno_id, template_id, status, chave_dedupe, erro_mensagem) "
        "SELECT aluno_id, template_id, 'verificar', 'k-verificar', 'envio não confirmado' "
        "FROM logs_disparo LIMIT 1 RETURNING id",
    )
    textos = _textos(_abrir(username))
    assert "1 envio(s) sem confirmação da Meta não aparecem aqui" in textos
    assert "não são reenviados sozinhos" in textos and "“A verificar”" in textos
