"""Secrets never leak: planted credentials and a password are searched for everywhere the app
writes or shows text — CLI output, every page (element tree and session state), /healthz,
provider errors (text, repr, traceback), logs, the database (only ciphertext allowed) and the
real app's console log. Also: XSRF stays on, tracebacks stay hidden, webhook secrets are
compared in constant time.
"""

from __future__ import annotations

import base64
import logging
import re
import subprocess
import sys
import time
import tomllib
import traceback
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from streamlit.testing.v1 import AppTest

from db.uow import UnidadeDeTrabalho
from services import config, disparo, usuarios
from services.chatwoot_client import ChatwootClient, ChatwootErro
from services.hotmart_client import HotmartClient, HotmartErro
from services.sandbox.server import servir
from services.whatsapp_client import WhatsAppClient, WhatsAppErro
from tests.app_subprocesso import diretorio_temporario, preparar_sem_demo
from tests.arvore import texto_completo
from tests.fabrica_motor import Fabrica
from tests.navegador_apoio import ARGS_CHROMIUM, CHROMIUM, app_em_execucao, porta_livre

RAIZ = Path(__file__).resolve().parent.parent
HOME = str(RAIZ / "Home.py")
PAGINAS = sorted((RAIZ / "pages").glob("*.py"))

CLIENT_ID = "cid-terceiriza-9001"
SEGREDOS = {
    "hotmart_client_secret": "hotmart-client-secret-Q8w2e4r6Ty",
    "hotmart_hottok": "hottok-segredo-Lm3n5p7rUi",
    "meta_access_token": "EAAGsegredoMetaToken7731XyZq",
    "meta_app_secret": "appsecret5f2c9d1e8b7a6c4dQw",
    "meta_verify_token": "verifytoken-segredo-88RtAb",
    "chatwoot_api_token": "chatwoot-token-Vb9n1m3kOpLk",
}
SEGREDOS["hotmart_basic_token"] = base64.b64encode(
    f"{CLIENT_ID}:{SEGREDOS['hotmart_client_secret']}".encode()
).decode()
SENHA = "senha-do-usuario-Pp4455Zx"
SENHA_NOVA = "senha-redefinida-Hh7788Qw"
NOVO_TOKEN_META = "EAAGtokenRotacionado4242Mn"


def _formas(segredo: str) -> set[str]:
    """The secret and the part of it never shown (all but the last 4), raw and URL-quoted."""
    return {segredo, segredo[:-4], quote(segredo, safe=""), quote(segredo[:-4], safe="")}


PROIBIDOS = {
    forma: nome
    for nome, valor in {
        **SEGREDOS,
        "senha": SENHA,
        "senha_nova": SENHA_NOVA,
        "token_rotacionado": NOVO_TOKEN_META,
    }.items()
    for forma in _formas(valor)
}


def vazamentos(texto: str) -> set[str]:
    """Names of the planted secrets found in ``texto``."""
    return {nome for forma, nome in PROIBIDOS.items() if forma in texto}


# ---- a provider that answers every call with an error echoing everything it received ---------


def _app_eco() -> Starlette:
    """``/<status>/<provedor>/...``: answers ``status`` in the provider's error shape, echoing the
    request's URL (query included), headers and body into every text field — the worst a
    provider (or a proxy's error page) can do."""

    async def eco(request: Request) -> JSONResponse:
        corpo = (await request.body()).decode("utf-8", "replace")
        ecoado = f"url={request.url} headers={dict(request.headers)} body={corpo}"
        partes = request.url.path.strip("/").split("/")
        status, provedor = int(partes[0]), partes[1]
        if provedor == "hotmart":
            dados: dict = {"error": ecoado, "error_description": ecoado}
        elif provedor == "meta":
            dados = {
                "error": {
                    "message": ecoado,
                    "type": "OAuthException",
                    "code": 190 if status == 401 else 2,
                    "error_data": {"details": ecoado},
                    "error_user_title": ecoado,
                    "fbtrace_id": ecoado,
                }
            }
        else:
            dados = {"message": ecoado, "error": ecoado}
        return JSONResponse(dados, status)

    metodos = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return Starlette(routes=[Route("/{caminho:path}", eco, methods=metodos)])


@pytest.fixture(scope="module")
def eco():
    with servir(_app_eco()) as url:
        yield url


def _plantar(eco_url: str, status: int = 401, status_meta: int = 500) -> None:
    with UnidadeDeTrabalho() as uow:
        config.definir_varios(
            uow.session,
            {
                **SEGREDOS,
                "hotmart_client_id": CLIENT_ID,
                "hotmart_api_base": f"{eco_url}/{status}/hotmart",
                "hotmart_auth_url": f"{eco_url}/{status}/hotmart/token",
                "meta_phone_number_id": "1234567890",
                "meta_waba_id": "9876543210",
                "meta_api_base": f"{eco_url}/{status_meta}/meta",
                "chatwoot_base_url": f"{eco_url}/{status}/chatwoot",
                "chatwoot_account_id": "7",
                "disparo_janela_inicio": "00:00",
                "disparo_janela_fim": "23:59",
            },
            usuario="teste",
        )
        usuarios.criar(
            uow.session,
            username="chefe",
            nome="Chefe",
            email=None,
            papel="admin",
            senha=SENHA,
            por="teste",
        )
        uow.commit()


def _sem_espera(monkeypatch) -> None:
    """The clients built from Configurações retry without sleeping (tests never wait)."""
    from functools import partial

    from services import chatwoot_sync, conexoes, hotmart_conexao, whatsapp

    sem = {"sleep": lambda _s: None}
    monkeypatch.setattr(hotmart_conexao, "HotmartClient", partial(HotmartClient, **sem))
    monkeypatch.setattr(whatsapp, "WhatsAppClient", partial(WhatsAppClient, **sem))
    monkeypatch.setattr(chatwoot_sync, "ChatwootClient", partial(ChatwootClient, **sem))
    for nome, classe in (
        ("HotmartClient", HotmartClient),
        ("WhatsAppClient", WhatsAppClient),
        ("ChatwootClient", ChatwootClient),
    ):
        if hasattr(conexoes, nome):
            monkeypatch.setattr(conexoes, nome, partial(classe, **sem))


def _falhar_tudo(banco) -> list[str]:
    """Every provider job fails against the echo: sync Hotmart, templates, Chatwoot, dispatch —
    from the CLI's code path and from the sidebar's (a worker thread that logs the traceback)."""
    from services import chatwoot_sync, hotmart_conexao, jobs, whatsapp

    for rotulo, executar in (
        ("sync_hotmart", hotmart_conexao.executar_sync),
        ("sync_chatwoot", chatwoot_sync.executar_sync_chatwoot),
    ):
        jobs.em_segundo_plano(
            rotulo, lambda executar=executar: executar(iniciado_por="chefe")
        ).join(timeout=60)
    erros = []
    for executar in (
        hotmart_conexao.executar_sync,
        whatsapp.executar_sync_templates,
        chatwoot_sync.executar_sync_chatwoot,
    ):
        try:
            executar(iniciado_por="teste")
        except Exception as exc:  # noqa: BLE001 - each one must fail; its text is checked
            erros += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
        else:
            raise AssertionError(f"{executar.__name__} deveria falhar contra o eco")
    fab = Fabrica(banco)
    fab.produto("Curso")
    fab.template("boas_vindas_acesso", corpo="Oi {{1}}")
    fab.aluno("Ana")
    fab.sql(
        "INSERT INTO filas_disparo (aluno_id, template_id, status, produto_id, variaveis, "
        "chave_dedupe, contexto) VALUES (:a, :t, 'aprovado', :p, CAST('[\"Ana\"]' AS jsonb), "
        "'segredos:1', CAST('{}' AS jsonb))",
        a=fab.ids["Ana"],
        t=fab.ids["boas_vindas_acesso"],
        p=fab.ids["Curso"],
    )
    resultado = disparo.executar_disparo(iniciado_por="teste").resultado
    assert resultado["enviados"] == 0, resultado
    erros.append(str(resultado))
    return erros


def _texto_do_banco(banco) -> str:
    """Every row of every table as text, except the encrypted values of ``configuracoes``."""
    with banco.connect() as conn:
        tabelas = list(
            conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
            ).scalars()
        )
        partes = []
        for tabela in tabelas:
            linha = "to_jsonb(t)" if tabela != "configuracoes" else "to_jsonb(t) - 'valor'"
            partes += conn.execute(text(f"SELECT CAST({linha} AS text) FROM {tabela} t")).scalars()
        return "\n".join(partes)


@pytest.fixture
def falhas(banco, eco, monkeypatch, caplog):
    """Secrets planted, every provider job failed, webhooks refused; the log captured."""
    caplog.set_level(logging.DEBUG)
    _plantar(eco)
    _sem_espera(monkeypatch)
    erros = _falhar_tudo(banco)
    return {"erros": erros, "registros": list(caplog.records)}


_FORMATO = logging.Formatter("%(levelname)s %(name)s: %(message)s")


def linhas_vazadas(registros, nivel: int = logging.WARNING) -> list[str]:
    """Log records at ``nivel`` or above (formatted with their traceback) holding a secret.

    WARNING is what the app emits as shipped (the root logger's default level; Streamlit only
    configures its own loggers); DEBUG is an operator turning every logger on.
    """
    textos = [_FORMATO.format(r) for r in registros if r.levelno >= nivel]
    return [t for t in textos if vazamentos(t)]


# ---- CLI ------------------------------------------------------------------------------------


def test_cli_config_set_get_and_list_never_print_a_secret(banco, capsys):
    from services import cli

    saidas = []
    for chave, valor in SEGREDOS.items():
        assert cli.main(["config", "set", chave, valor]) == 0
        assert cli.main(["config", "get", chave]) == 0
        saida = capsys.readouterr()
        saidas.append(saida.out + saida.err)
        assert saida.out.strip().splitlines()[-1] == "••••" + valor[-4:]
    assert cli.main(["config", "list"]) == 0
    saida = capsys.readouterr()
    saidas.append(saida.out + saida.err)
    assert "••••" + SEGREDOS["meta_access_token"][-4:] in saida.out
    # And as operators run it: a separate process.
    r = subprocess.run(
        [sys.executable, "-m", "services.cli", "config", "list"],
        cwd=RAIZ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0
    saidas.append(r.stdout + r.stderr)
    assert vazamentos("\n".join(saidas)) == set()


# ---- provider errors ------------------------------------------------------------------------


def _textos_do_erro(exc: BaseException) -> str:
    partes = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    partes += [repr(v) for v in vars(exc).values()]
    return "\n".join(partes)


def _provocar(funcao) -> BaseException:
    try:
        funcao()
    except (HotmartErro, WhatsAppErro, ChatwootErro) as exc:
        return exc
    raise AssertionError("a chamada deveria falhar")


@pytest.mark.parametrize("status", [401, 500])
def test_provider_errors_never_carry_a_secret(eco, status):
    sem_espera = {"sleep": lambda _s: None, "max_retries": 2}
    base = f"{eco}/{status}"
    hotmart = HotmartClient(
        client_id=CLIENT_ID,
        client_secret=SEGREDOS["hotmart_client_secret"],
        api_base=f"{base}/hotmart",
        auth_url=f"{base}/hotmart/token",
        **sem_espera,
    )
    meta = WhatsAppClient(
        access_token=SEGREDOS["meta_access_token"],
        phone_number_id="1234567890",
        waba_id="9876543210",
        api_base=f"{base}/meta",
        **sem_espera,
    )
    chatwoot = ChatwootClient(
        base_url=f"{base}/chatwoot",
        api_token=SEGREDOS["chatwoot_api_token"],
        account_id=7,
        **sem_espera,
    )
    erros = [
        _provocar(lambda: list(hotmart.produtos())),
        _provocar(lambda: list(meta.listar_templates())),
        _provocar(lambda: meta.enviar_template("5511987654321", "boas_vindas", "pt_BR", ["Ana"])),
        _provocar(lambda: chatwoot.listar_labels()),
        _provocar(lambda: chatwoot.criar_label("vip", "#0F766E")),
    ]
    for erro in erros:
        assert str(status) in str(erro)  # the error is about the provider's answer
        assert vazamentos(_textos_do_erro(erro)) == set(), type(erro).__name__
    for cliente in (hotmart, meta, chatwoot):
        assert vazamentos(repr(cliente)) == set()
        cliente.close()


def test_connection_errors_never_carry_a_secret():
    morta = f"http://127.0.0.1:{porta_livre()}"
    sem_espera = {"sleep": lambda _s: None, "max_retries": 1}
    erros = [
        _provocar(
            lambda: HotmartClient(
                client_id=CLIENT_ID,
                client_secret=SEGREDOS["hotmart_client_secret"],
                api_base=morta,
                auth_url=morta + "/token",
                **sem_espera,
            ).token()
        ),
        _provocar(
            lambda: (
                WhatsAppClient(
                    access_token=SEGREDOS["meta_access_token"],
                    phone_number_id="1",
                    waba_id="2",
                    api_base=morta,
                    **sem_espera,
                )
                .listar_templates()
                .__next__()
            )
        ),
        _provocar(
            lambda: ChatwootClient(
                base_url=morta, api_token=SEGREDOS["chatwoot_api_token"], account_id=7, **sem_espera
            ).listar_labels()
        ),
    ]
    for erro in erros:
        assert vazamentos(_textos_do_erro(erro)) == set()


# ---- jobs, logs and the database --------------------------------------------------------------


def test_failing_jobs_leave_no_secret_in_errors_or_logs(falhas):
    assert vazamentos("\n".join(falhas["erros"])) == set()
    avisos = [r for r in falhas["registros"] if r.levelno >= logging.WARNING]
    assert avisos, "as falhas deveriam aparecer no log"
    assert linhas_vazadas(falhas["registros"]) == []


def test_failing_jobs_leave_no_secret_in_logs_even_at_debug_level(falhas):
    assert linhas_vazadas(falhas["registros"], logging.DEBUG) == []


def test_the_database_holds_secrets_only_encrypted(falhas, banco, cliente_app):
    # Webhooks too: a Hotmart body carrying the hottok (kept raw when malformed), wrong tokens.
    hottok = SEGREDOS["hotmart_hottok"]
    malformado = '{"hottok": "' + hottok + '", "id": "evt-quebrado", '
    respostas = [
        cliente_app.post(
            "/webhooks/hotmart",
            content=malformado,
            headers={"Content-Type": "application/json", "X-HOTMART-HOTTOK": hottok},
        ),
        cliente_app.post(
            "/webhooks/hotmart",
            json={"id": "evt-sem-dados", "event": "PURCHASE_APPROVED", "hottok": hottok},
        ),
        cliente_app.post("/webhooks/hotmart", json={"id": "x"}, headers={"X-HOTMART-HOTTOK": "x"}),
        cliente_app.post("/webhooks/meta", content=b"{}", headers={"X-Hub-Signature-256": "x"}),
        cliente_app.get(
            "/webhooks/meta",
            params={"hub.mode": "subscribe", "hub.verify_token": "errado", "hub.challenge": "1"},
        ),
    ]
    assert [r.status_code for r in respostas] == [400, 400, 401, 401, 403]
    assert vazamentos("\n".join(r.text for r in respostas)) == set()
    with banco.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM eventos_webhook")).scalar() == 2
        valores = dict(conn.execute(text("SELECT chave, valor FROM configuracoes")).all())
    for chave in SEGREDOS:
        assert valores[chave].startswith("fernet:")
        assert vazamentos(valores[chave]) == set()
    assert vazamentos(_texto_do_banco(banco)) == set()


def test_healthz_body_carries_no_secret(falhas, cliente_app):
    r = cliente_app.get("/healthz")
    assert r.status_code == 200
    assert vazamentos(r.text + str(r.headers)) == set()


# ---- pages ----------------------------------------------------------------------------------


def _textos_da_pagina(at: AppTest) -> str:
    """The whole element tree plus every session-state value (what a page can render)."""
    estado = at.session_state.to_dict()
    return texto_completo(at) + "\n" + "\n".join(f"{k}={v!r}" for k, v in estado.items())


def _como_admin(arquivo: str) -> AppTest:
    at = AppTest.from_file(arquivo, default_timeout=60)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = "chefe"
    return at.run()


def test_every_page_as_admin_shows_no_secret(falhas):
    # Home through the real login form (the typed password must not stay in the page).
    at = AppTest.from_file(HOME, default_timeout=60).run()
    at.text_input[0].input("chefe")
    at.text_input[1].input(SENHA)
    at.button[0].click().run()
    assert not at.exception and at.session_state["authentication_status"] is True
    assert vazamentos(_textos_da_pagina(at)) == set()
    for arquivo in PAGINAS:
        at = _como_admin(str(arquivo))
        assert not at.exception, arquivo.name
        assert vazamentos(_textos_da_pagina(at)) == set(), arquivo.name


def test_a_failed_login_shows_no_password(falhas, caplog):
    at = AppTest.from_file(HOME, default_timeout=60).run()
    at.text_input[0].input("chefe")
    at.text_input[1].input(SENHA + "-errada")
    at.button[0].click().run()
    assert "incorretos" in texto_completo(at)
    assert linhas_vazadas(caplog.records, logging.DEBUG) == []
    with UnidadeDeTrabalho() as uow:
        assert usuarios.bloqueio_login(uow.session, "chefe") is None


def test_configuracoes_after_rotation_and_connection_tests_shows_no_secret(falhas, caplog):
    at = _como_admin(str(RAIZ / "pages" / "Configuracoes.py"))
    at.text_input(key="in_meta_access_token").input(NOVO_TOKEN_META)
    at.checkbox(key="ok_meta").check()
    at.tabs[1].button[0].click().run()
    assert not at.exception
    assert "Alterações salvas" in texto_completo(at)
    with UnidadeDeTrabalho() as uow:
        assert config.obter(uow.session, "meta_access_token") == NOVO_TOKEN_META
    for grupo in ("hotmart", "meta", "chatwoot"):
        at.button(key=f"testar_{grupo}").click().run()
        assert not at.exception
    veredictos = " ".join(e.value for e in at.error)
    assert veredictos  # the three tests failed against the echo, each with a pt-BR verdict
    assert vazamentos(_textos_da_pagina(at)) == set()
    assert linhas_vazadas(caplog.records) == []


def test_a_password_reset_does_not_stay_in_the_page(falhas):
    at = _como_admin(str(RAIZ / "pages" / "Configuracoes.py"))
    aba = at.tabs[4]
    at.selectbox(key="alvo_usuario").set_value("chefe")
    aba.radio[0].set_value("Redefinir senha")
    aba.text_input[4].input(SENHA_NOVA)
    aba.button[1].click().run()
    assert not at.exception
    with UnidadeDeTrabalho() as uow:
        credenciais = usuarios.credenciais_authenticator(uow.session)
    import bcrypt

    assert bcrypt.checkpw(
        SENHA_NOVA.encode(), credenciais["usernames"]["chefe"]["password"].encode()
    )
    assert vazamentos(_textos_da_pagina(at)) == set()


# ---- configuration and constant-time comparisons ----------------------------------------------


def test_streamlit_config_keeps_xsrf_on_and_error_details_hidden():
    conteudo = tomllib.loads((RAIZ / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert conteudo["server"]["enableXsrfProtection"] is True
    assert conteudo["client"]["showErrorDetails"] == "none"
    assert not (RAIZ / ".streamlit" / "secrets.toml").exists()


def test_webhook_secrets_are_compared_in_constant_time():
    for arquivo in sorted((RAIZ / "services").glob("webhook_*.py")):
        codigo = arquivo.read_text(encoding="utf-8")
        assert "hmac.compare_digest" in codigo, arquivo.name
        # No secret compared with == / != (hottok, verify token, signature).
        suspeitos = re.findall(
            r"^.*\b(hottok|token|esperado|assinatura|segredo|signature)\b\s*[!=]=\s*\w.*$",
            codigo,
            flags=re.M | re.I,
        )
        suspeitos = [s for s in suspeitos if "None" not in s]
        assert suspeitos == [], (arquivo.name, suspeitos)


def test_a_wrong_secret_of_the_same_length_is_refused(banco, cliente_app):
    import hashlib
    import hmac

    with UnidadeDeTrabalho() as uow:
        config.definir_varios(
            uow.session,
            {
                "hotmart_hottok": SEGREDOS["hotmart_hottok"],
                "meta_verify_token": SEGREDOS["meta_verify_token"],
                "meta_app_secret": SEGREDOS["meta_app_secret"],
            },
        )
        uow.commit()

    def quase(segredo: str) -> str:  # same length, last character changed
        return segredo[:-1] + ("A" if segredo[-1] != "A" else "B")

    evento = {"id": "evt-quase", "event": "PURCHASE_APPROVED", "data": {}}
    r = cliente_app.post(
        "/webhooks/hotmart",
        json=evento,
        headers={"X-HOTMART-HOTTOK": quase(SEGREDOS["hotmart_hottok"])},
    )
    assert r.status_code == 401
    r = cliente_app.get(
        "/webhooks/meta",
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": quase(SEGREDOS["meta_verify_token"]),
            "hub.challenge": "42",
        },
    )
    assert r.status_code == 403 and "42" not in r.text
    corpo = b'{"object":"whatsapp_business_account","entry":[]}'
    certa = hmac.new(SEGREDOS["meta_app_secret"].encode(), corpo, hashlib.sha256).hexdigest()
    r = cliente_app.post(
        "/webhooks/meta", content=corpo, headers={"X-Hub-Signature-256": "sha256=" + quase(certa)}
    )
    assert r.status_code == 401
    with banco.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM eventos_webhook")).scalar() == 0
    # The right ones are accepted (so the refusals above were about the value only).
    r = cliente_app.get(
        "/webhooks/meta",
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": SEGREDOS["meta_verify_token"],
            "hub.challenge": "42",
        },
    )
    assert r.status_code == 200 and r.text == "42"
    r = cliente_app.post(
        "/webhooks/meta", content=corpo, headers={"X-Hub-Signature-256": "sha256=" + certa}
    )
    assert r.status_code == 200


# ---- the real app's console log ---------------------------------------------------------------


def _configurar_pela_cli(app, base: str, status: int = 401) -> list[str]:
    """Secrets and provider URLs set through the app's CLI (as an operator does)."""
    valores = {
        **SEGREDOS,
        "hotmart_client_id": CLIENT_ID,
        "hotmart_api_base": f"{base}/{status}/hotmart",
        "hotmart_auth_url": f"{base}/{status}/hotmart/token",
        "meta_phone_number_id": "1234567890",
        "meta_waba_id": "9876543210",
        "meta_api_base": f"{base}/{status}/meta",
        "chatwoot_base_url": f"{base}/{status}/chatwoot",
        "chatwoot_account_id": "7",
    }
    return [app.cli("config", "set", chave, valor) for chave, valor in valores.items()]


def _sincronizar_no_navegador(app) -> str:
    """In Chromium: a wrong password, then the admin logs in and clicks Sincronizar (the syncs
    run inside the app process); returns the page's HTML once the failures are shown."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        navegador = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS_CHROMIUM)
        try:
            pagina = navegador.new_page(viewport={"width": 1400, "height": 2400})
            pagina.goto(app.url)
            for senha in (SENHA + "-errada", SENHA):
                expect(pagina.get_by_label("Usuário")).to_be_visible(timeout=30_000)
                pagina.get_by_label("Usuário").fill("admin")
                pagina.get_by_label("Senha", exact=True).fill(senha)
                pagina.get_by_role("button", name="Entrar").click()
                if senha != SENHA:
                    expect(pagina.get_by_text("Usuário ou senha incorretos.")).to_be_visible(
                        timeout=30_000
                    )
            pagina.get_by_role("button", name="Sincronizar").click(timeout=30_000)
            app.aguardar(
                "SELECT tipo FROM jobs WHERE status = 'erro' AND iniciado_por = 'admin'",
                lambda linhas: len(linhas) >= 3,
                limite_s=120,
            )
            expect(pagina.get_by_text("falhou").first).to_be_visible(timeout=30_000)
            return pagina.content()
        finally:
            navegador.close()


@pytest.mark.longo
def test_the_running_app_and_the_cli_log_no_secret():
    """``streamlit run app.py`` with the secrets set through its CLI: the admin logs in (once
    with a wrong password) and clicks Sincronizar against a provider echoing everything back,
    then the CLI syncs (as cron runs them) against a dead port, and webhooks arrive with the
    secrets in the wrong places. Neither the app's stdout/stderr, nor the CLI's output, nor the
    page's HTML contains a secret."""
    saidas = []
    with diretorio_temporario("terceiriza-segredos-") as diretorio, servir(_app_eco()) as eco:
        preparar_sem_demo(diretorio)
        with app_em_execucao(diretorio, SENHA) as app:
            saidas += _configurar_pela_cli(app, eco)
            saidas.append(app.cli("config", "list"))
            saidas.append(
                app.cli(
                    "user",
                    "add",
                    "ana.cs",
                    "--nome",
                    "Ana",
                    "--papel",
                    "cs",
                    env_extra={"TERCEIRIZA_NOVA_SENHA": SENHA_NOVA},
                )
            )
            if CHROMIUM.exists():
                saidas.append(_sincronizar_no_navegador(app))
            # The CLI against a dead port, in parallel (each retries with backoff first).
            morta = f"http://127.0.0.1:{porta_livre()}"
            saidas += _configurar_pela_cli(app, morta)
            processos = [
                subprocess.Popen(
                    [sys.executable, "-m", "services.cli", "sync", alvo],
                    cwd=RAIZ,
                    env=app.env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
                for alvo in ("hotmart", "templates", "chatwoot")
            ]
            for processo in processos:
                saida, _ = processo.communicate(timeout=180)
                assert processo.returncode == 4, saida
                assert "Erro:" in saida
                saidas.append(saida)
            # Webhooks with the secrets in the wrong places and wrong secrets.
            hottok = SEGREDOS["hotmart_hottok"]
            respostas = [
                httpx.post(
                    app.url + "/webhooks/hotmart",
                    content='{"hottok": "' + hottok + '", "id": ',
                    headers={"X-HOTMART-HOTTOK": hottok},
                    timeout=30,
                ),
                httpx.post(
                    app.url + "/webhooks/hotmart",
                    json={"id": "e1"},
                    headers={"X-HOTMART-HOTTOK": hottok[:-1] + "A"},
                    timeout=30,
                ),
                httpx.get(
                    app.url + "/webhooks/meta",
                    params={"hub.mode": "subscribe", "hub.verify_token": "x", "hub.challenge": "1"},
                    timeout=30,
                ),
                httpx.get(app.url + "/healthz", timeout=30),
            ]
            assert [r.status_code for r in respostas] == [400, 401, 403, 200]
            saidas += [r.text for r in respostas]
            erros_jobs = app.consultar("SELECT tipo, erro FROM jobs WHERE status = 'erro'")
            assert {j["tipo"] for j in erros_jobs} >= {"sync_hotmart", "sync_templates"}
            saidas.append(str(erros_jobs))
            time.sleep(1)  # let the app flush its log
            log = app.log.read_text(encoding="utf-8", errors="replace")
    assert vazamentos("\n".join(saidas)) == set()
    assert [linha for linha in log.splitlines() if vazamentos(linha)] == []
    if CHROMIUM.exists():  # the in-app sync's failures did reach the app's log
        assert "Sincronização de hotmart falhou" in log
