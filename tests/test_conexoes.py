"""'Testar conexão': services.conexoes against the sandboxes over real HTTP, and the buttons.

Also the Geral form's opt-out words (Configurações), which shares the page fixtures.
"""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from streamlit.testing.v1 import AppTest

from db.uow import UnidadeDeTrabalho
from services import conexoes, config
from services.demo_data import gerar_dataset
from services.sandbox import chatwoot as sandbox_chatwoot
from services.sandbox import hotmart as sandbox_hotmart
from services.sandbox import meta as sandbox_meta
from services.sandbox.server import servir
from tests.arvore import texto_completo

RAIZ = Path(__file__).resolve().parent.parent
PAGINA = str(RAIZ / "pages" / "Configuracoes.py")
CID, SEGREDO_HOTMART = "cid-teste", "segredo-hotmart-XYZ1"
TOKEN_META, PHONE_ID, WABA_ID = "EAAG-token-meta-QWE9", "123456789012345", "987654321098765"
TOKEN_CHATWOOT, CONTA = "token-chatwoot-ASD7", 3
SEGREDOS = (SEGREDO_HOTMART, TOKEN_META, TOKEN_CHATWOOT)


def _definir(valores: dict[str, str]) -> None:
    with UnidadeDeTrabalho() as uow:
        config.definir_varios(uow.session, valores, usuario="teste")
        uow.commit()


def _testar(funcao) -> conexoes.Resultado:
    with UnidadeDeTrabalho() as uow:
        resultado = funcao(uow.session)
    assert not any(s in resultado.mensagem for s in SEGREDOS)
    return resultado


def _porta_fechada() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture(scope="module")
def url_hotmart():
    ds = gerar_dataset(5, 3, agora=datetime(2026, 11, 1, 12, tzinfo=UTC))
    app = sandbox_hotmart.criar_app(ds, client_id=CID, client_secret=SEGREDO_HOTMART)
    with servir(app) as url:
        yield url


@pytest.fixture(scope="module")
def url_meta():
    app = sandbox_meta.criar_app(
        access_token=TOKEN_META, app_secret="app-secret", phone_number_id=PHONE_ID, waba_id=WABA_ID
    )
    with servir(app) as url:
        yield url


@pytest.fixture(scope="module")
def url_chatwoot():
    app = sandbox_chatwoot.criar_app(
        api_token=TOKEN_CHATWOOT, account_id=CONTA, labels=["vip", "churn_risk"]
    )
    with servir(app) as url:
        yield url


def _hotmart(url: str, segredo: str = SEGREDO_HOTMART) -> None:
    _definir(
        {
            "hotmart_client_id": CID,
            "hotmart_client_secret": segredo,
            "hotmart_api_base": url,
            "hotmart_auth_url": url + sandbox_hotmart.CAMINHO_TOKEN,
        }
    )


def _meta(url: str, token: str = TOKEN_META, waba: str = WABA_ID) -> None:
    _definir(
        {
            "meta_access_token": token,
            "meta_phone_number_id": PHONE_ID,
            "meta_waba_id": waba,
            "meta_api_base": url,
        }
    )


def _chatwoot(url: str, token: str = TOKEN_CHATWOOT, conta: int = CONTA) -> None:
    _definir(
        {
            "chatwoot_base_url": url,
            "chatwoot_api_token": token,
            "chatwoot_account_id": str(conta),
        }
    )


# --- ok -------------------------------------------------------------------------------------


def test_hotmart_ok_counts_the_visible_products(banco, url_hotmart):
    _hotmart(url_hotmart)
    resultado = _testar(conexoes.testar_hotmart)
    assert resultado == conexoes.Resultado(True, "Conexão com a Hotmart OK: 4 produtos visíveis.")


def test_meta_ok_counts_the_templates(banco, url_meta):
    _meta(url_meta)
    resultado = _testar(conexoes.testar_meta)
    assert resultado == conexoes.Resultado(
        True, "Conexão com a Meta OK: 7 templates na conta do WhatsApp Business (5 aprovados)."
    )


def test_chatwoot_ok_counts_the_labels(banco, url_chatwoot):
    _chatwoot(url_chatwoot)
    resultado = _testar(conexoes.testar_chatwoot)
    assert resultado == conexoes.Resultado(True, "Conexão com o Chatwoot OK: conta 3, 2 labels.")


# --- refused credentials --------------------------------------------------------------------


def test_hotmart_wrong_secret(banco, url_hotmart):
    _hotmart(url_hotmart, segredo="segredo-errado-0000")
    resultado = _testar(conexoes.testar_hotmart)
    assert not resultado.ok
    assert resultado.mensagem.startswith("Credenciais da Hotmart recusadas (HTTP 401)")
    assert "segredo-errado-0000" not in resultado.mensagem


def test_meta_wrong_token(banco, url_meta):
    _meta(url_meta, token="EAAG-token-errado-0000")
    resultado = _testar(conexoes.testar_meta)
    assert resultado == conexoes.Resultado(
        False, "Token da Meta inválido ou expirado (código 190)."
    )


def test_meta_wrong_waba(banco, url_meta):
    _meta(url_meta, waba="111111111111111")
    resultado = _testar(conexoes.testar_meta)
    assert not resultado.ok
    assert resultado.mensagem.startswith("WABA ID não encontrado ou sem permissão")


def test_chatwoot_wrong_token_and_wrong_account(banco, url_chatwoot):
    _chatwoot(url_chatwoot, token="token-errado-0000")
    resultado = _testar(conexoes.testar_chatwoot)
    assert resultado == conexoes.Resultado(False, "Token do Chatwoot inválido (HTTP 401).")
    _chatwoot(url_chatwoot, conta=4)
    resultado = _testar(conexoes.testar_chatwoot)
    assert not resultado.ok
    assert "não tem acesso à conta 4" in resultado.mensagem


# --- missing settings -----------------------------------------------------------------------


def test_missing_settings_name_what_to_configure(banco):
    assert _testar(conexoes.testar_hotmart) == conexoes.Resultado(
        False,
        "Credenciais incompletas: configure Client ID e Client Secret da Hotmart em Configurações.",
    )
    _definir({"meta_access_token": TOKEN_META})
    assert _testar(conexoes.testar_meta) == conexoes.Resultado(
        False,
        "Credenciais incompletas: configure Phone number ID e WABA ID da Meta em Configurações.",
    )
    assert _testar(conexoes.testar_chatwoot) == conexoes.Resultado(
        False,
        "Credenciais incompletas: configure URL do Chatwoot, API token e Account ID do Chatwoot "
        "em Configurações.",
    )


# --- unreachable, slow and chatty servers ---------------------------------------------------


def test_unreachable_hosts_answer_quickly_and_clearly(banco):
    fechada = _porta_fechada()
    _hotmart(fechada)
    _meta(fechada)
    _chatwoot(fechada)
    inicio = time.monotonic()
    host = fechada.removeprefix("http://")
    assert _testar(conexoes.testar_hotmart).mensagem == (
        f"Não foi possível conectar à Hotmart em {host}: confira a URL e a rede."
    )
    assert _testar(conexoes.testar_meta).mensagem == (
        f"Não foi possível conectar à Meta em {host}: confira a URL e a rede."
    )
    assert _testar(conexoes.testar_chatwoot).mensagem == (
        f"Não foi possível conectar ao Chatwoot em {host}: confira a URL e a rede."
    )
    assert time.monotonic() - inicio < 10


def test_a_server_that_hangs_is_cut_by_the_timeout(banco, monkeypatch):
    async def parado(request):
        await asyncio.sleep(2)
        return JSONResponse({})

    monkeypatch.setattr(conexoes, "TIMEOUT_S", 0.3)
    app = Starlette(routes=[Route("/{caminho:path}", parado, methods=["GET", "POST"])])
    with servir(app) as url:
        _chatwoot(url)
        inicio = time.monotonic()
        resultado = _testar(conexoes.testar_chatwoot)
        duracao = time.monotonic() - inicio
    assert not resultado.ok and "Não foi possível conectar ao Chatwoot" in resultado.mensagem
    assert duracao < 1.8  # two tries of 0.3 s and a 0.5 s pause, well before the 2 s answer


def test_a_secret_echoed_by_the_provider_never_reaches_the_message(banco):
    async def eco(request):
        token = request.headers.get("api_access_token") or request.headers.get("authorization")
        if "message_templates" in request.url.path:
            erro = {"message": f"bad token {token}", "code": 131009, "type": "OAuthException"}
            return JSONResponse({"error": erro}, status_code=400)
        return JSONResponse({"message": f"token {token} recusado"}, status_code=422)

    app = Starlette(routes=[Route("/{caminho:path}", eco, methods=["GET", "POST"])])
    with servir(app) as url:
        _chatwoot(url)
        _meta(url)
        chatwoot = _testar(conexoes.testar_chatwoot)  # _testar asserts no secret in it
        meta = _testar(conexoes.testar_meta)
    assert chatwoot.mensagem == "O Chatwoot respondeu HTTP 422: token *** recusado."
    assert meta.mensagem == "A Meta recusou o teste (código 131009): bad token Bearer ***"


# --- Configurações page ---------------------------------------------------------------------


def _abrir(username: str) -> AppTest:
    at = AppTest.from_file(PAGINA, default_timeout=30)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = username
    return at.run()


def _textos(at: AppTest) -> str:
    return "\n".join(
        str(e.value).replace("\\", "") for e in (*at.error, *at.warning, *at.info, *at.success)
    )


def test_testar_conexao_buttons_show_the_verdict(
    criar_usuario, url_hotmart, url_meta, url_chatwoot
):
    username, _ = criar_usuario("admin")
    _hotmart(url_hotmart)
    _meta(url_meta)
    at = _abrir(username)
    at.button(key="testar_hotmart").click().run()
    assert not at.exception
    assert [s.value.replace("\\", "") for s in at.tabs[0].success] == [
        "Conexão com a Hotmart OK: 4 produtos visíveis."
    ]
    at.button(key="testar_meta").click().run()
    assert "Conexão com a Meta OK: 7 templates" in _textos(at)
    at.button(key="testar_chatwoot").click().run()
    assert "Credenciais incompletas: configure URL do Chatwoot" in _textos(at)
    assert not any(s in texto_completo(at) for s in SEGREDOS)
    with UnidadeDeTrabalho() as uow:  # a test only reads: nothing was written
        assert config.obter(uow.session, "chatwoot_base_url") is None


def test_geral_form_saves_the_opt_out_words(criar_usuario):
    username, _ = criar_usuario("admin")
    at = _abrir(username)
    geral = at.tabs[6]
    assert geral.text_input(key="in_optout_palavras").value == "SAIR,PARAR,STOP,CANCELAR"
    geral.text_input(key="in_optout_palavras").input("SAIR,PARE,DESCADASTRAR")
    geral.button[0].click().run()
    assert "Alterações salvas: Palavras de descadastro." in _textos(at)
    with UnidadeDeTrabalho() as uow:
        assert config.obter(uow.session, "optout_palavras") == "SAIR,PARE,DESCADASTRAR"

    at.tabs[6].text_input(key="in_optout_palavras").input(" SAIR")
    at.tabs[6].button[0].click().run()
    assert "Palavras de descadastro: remova os espaços" in _textos(at)
    with UnidadeDeTrabalho() as uow:
        assert config.obter(uow.session, "optout_palavras") == "SAIR,PARE,DESCADASTRAR"
