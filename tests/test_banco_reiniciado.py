"""The embedded PostgreSQL stopped and restarted under the running app (``streamlit run app.py``).

While the server is down: /healthz answers 503 with a JSON reason, the webhook routes answer a
clear 503 (with Retry-After, so Hotmart and Meta deliver again) and a page shows the pt-BR
"banco indisponível" message — each within a bounded time, never a hang or a 500. When the
server is back the app serves again without being restarted. If nobody starts the server, the
app starts it itself after ``db.embedded.CARENCIA_REINICIO_S`` (marker ``longo``).
"""

from __future__ import annotations

import json
import time

import httpx
import pytest

from db.embedded import CARENCIA_REINICIO_S
from tests.app_subprocesso import (
    diretorio_temporario,
    iniciar_servidor,
    parar_servidor,
    pg_ctl,
    postmaster,
    preparar_sem_demo,
    servidor_rodando,
)
from tests.navegador_apoio import ARGS_CHROMIUM, CHROMIUM, app_em_execucao

HOTTOK = "hottok-reinicio-7Hq2"
LIMITE_S = 10  # every answer while the database is down must come within this


@pytest.fixture(scope="module")
def app():
    with diretorio_temporario("terceiriza-reinicio-") as diretorio:
        preparar_sem_demo(diretorio)
        pgdata = diretorio / "dados" / "pg"
        try:
            with app_em_execucao(diretorio, "admin-reinicio-2026") as rodando:
                rodando.cli("config", "set", "hotmart_hottok", HOTTOK)
                rodando.pgdata = pgdata
                yield rodando
            # The app's shutdown stops the server it used, even one started by someone else
            # after it (the wheel alone would only try the postmaster it first attached to).
            fim = time.monotonic() + 20
            while servidor_rodando(pgdata) and time.monotonic() < fim:
                time.sleep(0.2)
            assert not servidor_rodando(pgdata), "o app parou e deixou o PostgreSQL rodando"
        finally:
            if servidor_rodando(pgdata):
                pg_ctl(pgdata, "-m", "immediate", "-w", "stop")


def _postback(evento_id: str) -> dict:
    return {
        "id": evento_id,
        "creation_date": 1764400000000,
        "event": "PURCHASE_APPROVED",
        "version": "2.0.0",
        "data": {
            "product": {"id": 9990077, "name": "Curso do reinício"},
            "buyer": {"email": f"{evento_id}@example.com", "name": "Ana Reinício"},
            "purchase": {
                "transaction": f"HP{abs(hash(evento_id)) % 10**14:014d}",
                "status": "APPROVED",
                "order_date": 1764400000000,
                "approved_date": 1764400000000,
                "price": {"value": 97.0, "currency_value": "BRL"},
                "offer": {"code": "rein0001", "name": "Oferta"},
                "payment": {"type": "PIX"},
            },
        },
    }


def _enviar(app, evento_id: str) -> httpx.Response:
    return httpx.post(
        app.url + "/webhooks/hotmart",
        json=_postback(evento_id),
        headers={"X-HOTMART-HOTTOK": HOTTOK},
        timeout=LIMITE_S,
    )


def _healthz(app) -> httpx.Response:
    return httpx.get(app.url + "/healthz", timeout=LIMITE_S)


def _evento_armazenado(app, evento_id: str) -> bool:
    linhas = app.consultar(
        "SELECT processado_em IS NOT NULL AS ok FROM eventos_webhook WHERE evento_id = :e",
        e=evento_id,
    )
    return linhas == [{"ok": True}]


def _verificar_fora_do_ar(app) -> None:
    """Every route answers at once with a clear error while the database is down."""
    inicio = time.monotonic()
    r = _healthz(app)
    assert r.status_code == 503
    corpo = r.json()
    assert corpo["status"] == "erro" and corpo["database"] == "indisponivel" and corpo["motivo"]
    r = _enviar(app, "evt-durante-a-queda")
    assert r.status_code == 503, r.text
    assert r.json()["database"] == "indisponivel"
    assert r.headers["Retry-After"] == "30"
    r = httpx.get(
        app.url + "/webhooks/meta",
        params={"hub.mode": "subscribe", "hub.verify_token": "x", "hub.challenge": "1"},
        timeout=LIMITE_S,
    )
    assert r.status_code == 503
    # The page shell is static: it still loads (the script's message is checked in a browser).
    assert httpx.get(app.url + "/", timeout=LIMITE_S).status_code == 200
    assert time.monotonic() - inicio < LIMITE_S


@pytest.fixture(scope="module")
def navegador():
    """Chromium, launched before the database goes down (None without Chromium)."""
    if not CHROMIUM.exists():
        yield None
        return
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS_CHROMIUM)
        try:
            yield chromium
        finally:
            chromium.close()


def _pagina_mostra(navegador, app, texto: str) -> None:
    """A real page run (websocket and script) shows ``texto`` within the limit."""
    if navegador is None:
        return
    from playwright.sync_api import expect

    pagina = navegador.new_page()
    try:
        pagina.goto(app.url)
        expect(pagina.get_by_text(texto).first).to_be_visible(timeout=LIMITE_S * 1000)
    finally:
        pagina.close()


def test_database_stopped_and_restarted_under_the_running_app(app, navegador):
    pgdata = app.pgdata
    assert _healthz(app).status_code == 200
    assert _enviar(app, "evt-antes").status_code == 200
    socket_dir = postmaster(pgdata)[4]

    momento_da_queda = time.monotonic()
    parar_servidor(pgdata)
    _verificar_fora_do_ar(app)
    _pagina_mostra(navegador, app, "Banco de dados indisponível no momento")
    # All of that happened before the app's own restart could kick in: it was our stop we saw.
    assert time.monotonic() - momento_da_queda < CARENCIA_REINICIO_S
    assert not servidor_rodando(pgdata)

    iniciar_servidor(pgdata, socket_dir)  # the operator brings it back
    r = _healthz(app)
    assert r.status_code == 200, r.text
    assert r.json()["database"] == "ok"
    r = _enviar(app, "evt-depois")
    assert r.status_code == 200 and r.json()["status"] == "processado", r.text
    assert _evento_armazenado(app, "evt-depois") and _evento_armazenado(app, "evt-antes")
    # The postback refused with 503 during the outage is taken when Hotmart delivers it again.
    r = _enviar(app, "evt-durante-a-queda")
    assert r.status_code == 200 and r.json()["status"] == "processado"
    _pagina_mostra(navegador, app, "Entrar no Terceiriza CS")
    log = app.log.read_text()
    assert "sem banco de dados" in log  # the refused webhooks are in the log, without a traceback
    assert "Traceback" not in log


@pytest.mark.longo
def test_a_server_that_died_is_started_again_by_the_app_itself(app):
    pgdata = app.pgdata
    assert _healthz(app).status_code == 200
    parar_servidor(pgdata)  # and nobody starts it again
    inicio = time.monotonic()
    respostas = []
    while time.monotonic() - inicio < CARENCIA_REINICIO_S + 30:
        r = _healthz(app)
        respostas.append(r.status_code)
        if r.status_code == 200:
            break
        assert json.loads(r.text)["database"] == "indisponivel"
        time.sleep(0.5)
    assert respostas[0] == 503 and respostas[-1] == 200, respostas
    assert time.monotonic() - inicio >= CARENCIA_REINICIO_S - 1  # not before the grace
    assert servidor_rodando(pgdata)
    assert "iniciando-o de novo" in app.log.read_text()
    r = _enviar(app, "evt-apos-reinicio-automatico")
    assert r.status_code == 200 and r.json()["status"] == "processado"
