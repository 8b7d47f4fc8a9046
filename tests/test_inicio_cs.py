"""Home as a CS agent (AppTest through the real login): the queue, its oldest item, today's
sends and failures, the agent's own decisions."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from tests import fabrica_cs as f
from tests import fabrica_logs as fl

RAIZ = Path(__file__).resolve().parent.parent
HOME = str(RAIZ / "Home.py")


def _entrar(username: str, senha: str) -> AppTest:
    at = AppTest.from_file(HOME, default_timeout=30).run()
    at.text_input[0].input(username)
    at.text_input[1].input(senha)
    return at.button[0].click().run()


def _metricas(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _textos(at: AppTest) -> str:
    return "\n".join(
        str(e.value).replace("\\", "")
        for e in (*at.markdown, *at.caption, *at.info, *at.success, *at.warning, *at.text)
    )


def _item(banco, regra, aluno, produto, texto, *, status="pendente", ha_horas=1.0, **extra):
    return f._um(
        banco,
        "INSERT INTO filas_disparo (regra_id, aluno_id, status, chave_dedupe, produto_id, "
        "texto_renderizado, data_criacao, decidido_por, decidido_em, motivo_rejeicao) "
        "VALUES (:r, :a, :s, :k, :p, :x, :dc, :dp, :de, :mr) RETURNING id",
        r=regra,
        a=aluno,
        s=status,
        k=uuid.uuid4().hex,
        p=produto,
        x=texto,
        dc=datetime.now(UTC) - timedelta(hours=ha_horas),
        dp=extra.get("decidido_por"),
        de=extra.get("decidido_em"),
        mr=extra.get("motivo"),
    )


@pytest.fixture
def dia_de_trabalho(banco, criar_usuario):
    """Three pending items (the oldest 5 h old), two decisions by the agent today, one by a
    colleague, one from yesterday; today two messages sent, one of them failed; one failure
    yesterday."""
    username, senha = criar_usuario("cs")
    excel = f.produto(banco, "Curso de Excel")
    ana = f.aluno(banco, "Ana <b>Souza</b>", "ana@exemplo.com", celular="5511987654321")
    bruno = f.aluno(banco, "Bruno Lima", "bruno@exemplo.com", celular="5521987654321")
    template = fl.template(banco, "lembrete_boleto")
    regra = f._um(
        banco,
        "INSERT INTO regras_automacao (nome, gatilho, template_id) "
        "VALUES ('Boleto pendente', 'boleto_pendente', :t) RETURNING id",
        t=template,
    )
    _item(banco, regra, ana, excel, "Oi Ana, seu boleto vence amanhã", ha_horas=5)
    _item(banco, regra, bruno, excel, "Oi Bruno, seu boleto vence amanhã", ha_horas=2)
    _item(banco, regra, bruno, excel, "Oi Bruno, segunda via", ha_horas=1)
    agora = datetime.now(UTC)
    _item(
        banco, regra, ana, excel, "a", status="aprovado", decidido_por=username, decidido_em=agora
    )
    _item(
        banco,
        regra,
        ana,
        excel,
        "b",
        status="rejeitado",
        decidido_por=username,
        decidido_em=agora,
        motivo="já pagou",
    )
    _item(banco, regra, ana, excel, "c", status="aprovado", decidido_por="outra", decidido_em=agora)
    _item(
        banco,
        regra,
        ana,
        excel,
        "d",
        status="enviado",
        decidido_por=username,
        decidido_em=agora - timedelta(days=2),
    )
    fl.mensagem(banco, ana, template, envio=agora - timedelta(minutes=30), status="read", lido=True)
    fl.mensagem(
        banco,
        bruno,
        template,
        envio=agora - timedelta(minutes=20),
        status="failed",
        falhou=True,
        erro=(131026, "Mensagem não entregue"),
    )
    fl.mensagem(
        banco,
        ana,
        template,
        envio=agora - timedelta(days=2),
        status="failed",
        falhou=True,
        erro=(131047, "Janela de 24 horas"),
    )
    return username, senha


def test_cs_home_shows_the_queue_today_and_the_agents_decisions(dia_de_trabalho):
    at = _entrar(*dia_de_trabalho)
    assert not at.exception
    assert [t.value for t in at.title] == ["Minha fila de hoje"]
    metricas = _metricas(at)
    assert metricas["Pendentes na fila"] == "3"
    assert metricas["Mais antigo aguardando"] == "há 5 h"
    assert metricas["Enviadas hoje"] == "2"
    assert metricas["Falhas hoje"] == "1"
    textos = _textos(at)
    assert "Suas decisões hoje: 1 aprovada(s), 1 rejeitada(s)." in textos
    # The oldest pending item comes first, with its exact text; data is shown literally.
    assert "Oi Ana, seu boleto vence amanhã" in [t.value for t in at.text]
    assert "Ana <b>Souza</b>" in textos
    # Today's failures only, with Meta's code.
    falhas = at.dataframe[0].value
    assert list(falhas["Aluno"]) == ["Bruno Lima"]
    assert list(falhas["Código"]) == [131026]


def test_cs_home_failures_download_as_csv(dia_de_trabalho, monkeypatch):
    arquivos: list[bytes] = []
    original = MediaFileManager.add

    def espiar(self, dados, *args, **kwargs):
        if isinstance(dados, bytes):
            arquivos.append(dados)
        return original(self, dados, *args, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add", espiar)
    at = _entrar(*dia_de_trabalho)
    assert at.get("download_button")[0].proto.label == "Baixar CSV"
    tabela = pd.read_csv(io.BytesIO(arquivos[-1]), sep=";", encoding="utf-8-sig")
    assert list(tabela["Aluno"]) == ["Bruno Lima"]
    assert list(tabela["Erro"]) == ["Mensagem não entregue"]


def test_cs_home_with_an_empty_queue_says_so(banco, criar_usuario):
    at = _entrar(*criar_usuario("cs"))
    assert not at.exception
    metricas = _metricas(at)
    assert metricas["Pendentes na fila"] == "0"
    assert metricas["Mais antigo aguardando"] == "—"
    assert "Nenhuma mensagem aguardando aprovação" in _textos(at)
    assert "Nenhuma falha de entrega hoje." in _textos(at)
    assert not at.dataframe


def test_unconfirmed_sends_are_flagged_on_the_cs_home(dia_de_trabalho, banco):
    with banco.begin() as conn:
        from sqlalchemy import text

        conn.execute(
            text("UPDATE filas_disparo SET status = 'verificar' WHERE texto_renderizado = 'c'")
        )
    at = _entrar(*dia_de_trabalho)
    assert "1 mensagem(ns) sem confirmação de envio" in _textos(at)
