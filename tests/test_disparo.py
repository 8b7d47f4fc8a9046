"""Dispatch through the Meta sandbox over HTTP: brakes, guards, errors, workers, crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from db.uow import UnidadeDeTrabalho
from services import config, consentimento, disparo
from services.sandbox import meta as sandbox_meta
from services.sandbox.server import servir
from services.whatsapp_client import WhatsAppClient
from tests.fabrica_motor import Fabrica

RAIZ = Path(__file__).resolve().parent.parent
MEIO_DIA = datetime(2026, 11, 20, 12, 0, tzinfo=ZoneInfo("America/Sao_Paulo"))
TOKEN = "tok-disparo"


@pytest.fixture
def meta(banco):
    from services.sandbox.meta_templates import _modelo

    # The sandbox knows the same templates as the crafted rows below (name, language, {{1}}).
    modelos = [
        _modelo(f"9{i}", nome, "UTILITY", "Oi {{1}}", ["Ana"])
        for i, nome in enumerate(("boas_vindas_acesso", "outro_template", "so_do_outro"))
    ]
    app = sandbox_meta.criar_app(
        access_token=TOKEN,
        app_secret="s",
        phone_number_id="111",
        waba_id="222",
        templates=modelos,
        erros_por_numero={"5511999990001": 131026},
    )
    with servir(app) as url:
        with UnidadeDeTrabalho() as uow:
            config.definir_varios(
                uow.session,
                {
                    "meta_access_token": TOKEN,
                    "meta_phone_number_id": "111",
                    "meta_waba_id": "222",
                    "meta_api_base": url,
                    "disparo_max_por_segundo": "80",
                    "disparo_max_por_aluno_dia": "1",
                },
            )
            uow.commit()
        app.state.url = url
        yield app


@pytest.fixture
def fab(banco, meta):
    f = Fabrica(banco)
    f.produto("Curso")
    f.template("boas_vindas_acesso", corpo="Oi {{1}}")
    return f


def _item(
    fab, aluno: str, *, status="aprovado", template="boas_vindas_acesso", contexto=None, regra=None
) -> int:
    return fab.sql(
        "INSERT INTO filas_disparo (regra_id, aluno_id, template_id, status, produto_id, "
        "variaveis, chave_dedupe, contexto) VALUES (:r, :a, :t, :s, :p, CAST(:v AS jsonb), :k, "
        "CAST(:c AS jsonb)) RETURNING id",
        r=regra,
        a=fab.ids[aluno],
        t=fab.ids[template],
        s=status,
        p=fab.ids["Curso"],
        v='["Ana"]',
        k=f"t:{aluno}:{template}",
        c=contexto or "{}",
    )


def _despachar(meta, **kw):
    fabrica = kw.pop("cliente_fabrica", None) or (
        lambda: WhatsAppClient(
            access_token=TOKEN,
            phone_number_id="111",
            waba_id="222",
            api_base=meta.state.url,
            sleep=lambda _s: None,
            max_retries=1,
        )
    )
    return disparo.despachar(cliente_fabrica=fabrica, agora=lambda: MEIO_DIA, **kw)


def _status(banco):
    with banco.connect() as conn:
        return dict(
            conn.execute(
                text(
                    "SELECT a.nome, f.status FROM filas_disparo f "
                    "JOIN alunos a ON a.id = f.aluno_id"
                )
            ).all()
        )


def test_approved_items_are_sent_and_logged(fab, meta, banco):
    fab.aluno("Ana")
    item = _item(fab, "Ana")
    _item(fab, fab.aluno("Bia") and "Bia", status="pendente")
    resultado = _despachar(meta)
    assert resultado["enviados"] == 1
    assert _status(banco) == {"Ana": "enviado", "Bia": "pendente"}
    with banco.connect() as conn:
        log = conn.execute(text("SELECT * FROM logs_disparo")).one()
    assert log.fila_id == item and log.mensagem_id_whatsapp.startswith("wamid.")
    assert log.texto_renderizado == "Oi Ana"
    assert (
        log.produto_id == fab.ids["Curso"]
    )  # the occasion's product, though the template is generic
    assert len(meta.state.envios) == 1


def test_kill_switch_and_quiet_window_send_nothing(fab, meta, banco):
    fab.aluno("Ana")
    _item(fab, "Ana")
    with UnidadeDeTrabalho() as uow:
        config.definir(uow.session, "disparo_pausado", "true")
        uow.commit()
    assert "pausados" in _despachar(meta)["parada"]
    with UnidadeDeTrabalho() as uow:
        config.definir(uow.session, "disparo_pausado", "false")
        uow.commit()
    noite = MEIO_DIA.replace(hour=22, minute=30)
    resultado = disparo.despachar(agora=lambda: noite)
    assert resultado["parada"] == "fora da janela de envio"
    assert _status(banco) == {"Ana": "aprovado"} and len(meta.state.envios) == 0


def test_guards_cancel_with_the_reason(fab, meta, banco):
    fab.produto("Outro")
    fab.template("so_do_outro", corpo="Oi {{1}}", produto="Outro")
    fab.template("pausado", corpo="Oi {{1}}", status="PAUSED")
    for nome in ("Ana", "Bia", "Caio"):
        fab.aluno(nome)
    fab.aluno("Duda", celular=None)
    _item(fab, "Ana", template="so_do_outro")
    _item(fab, "Bia", template="pausado")
    _item(fab, "Caio")
    _item(fab, "Duda")
    with UnidadeDeTrabalho() as uow:
        consentimento.registrar(
            uow.session, aluno_ids=[fab.ids["Caio"]], concedido=False, origem="optout_whatsapp"
        )
        uow.commit()
    assert _despachar(meta)["cancelados"] == 4
    with banco.connect() as conn:
        motivos = dict(
            conn.execute(
                text(
                    "SELECT a.nome, f.motivo_cancelamento FROM filas_disparo f "
                    "JOIN alunos a ON a.id = f.aluno_id"
                )
            ).all()
        )
    assert motivos == {
        "Ana": "o aluno não está matriculado no produto do template",
        "Bia": "template não aprovado na Meta",
        "Caio": "sem consentimento",
        "Duda": "sem celular",
    }
    assert len(meta.state.envios) == 0


def test_daily_cap_postpones_the_second_message(fab, meta, banco):
    fab.aluno("Ana")
    fab.template("outro_template", corpo="Oi {{1}}")
    _item(fab, "Ana")
    _item(fab, "Ana", template="outro_template")
    resultado = _despachar(meta)
    assert (resultado["enviados"], resultado["adiados"]) == (1, 1)
    with banco.connect() as conn:
        adiado = conn.execute(
            text("SELECT status, proxima_tentativa_em FROM filas_disparo WHERE status <> 'enviado'")
        ).one()
    assert adiado.status == "aprovado" and adiado.proxima_tentativa_em is not None


def test_goal_based_exit_cancels_a_paid_boleto(fab, meta, banco):
    fab.aluno("Ana")
    transacao = fab.transacao("Ana", "Curso", "WAITING_PAYMENT", horas=20, link_boleto="L")
    regra = fab.sql(
        "INSERT INTO regras_automacao (nome, gatilho) VALUES ('b', 'boleto_pendente') RETURNING id"
    )
    _item(fab, "Ana", regra=regra, contexto=f'{{"transacao_id": "{transacao}"}}')
    fab.sql("UPDATE transacoes SET status = 'APPROVED'")
    assert _despachar(meta)["cancelados"] == 1
    with banco.connect() as conn:
        motivo = conn.execute(text("SELECT motivo_cancelamento FROM filas_disparo")).scalar()
    assert motivo == "o boleto foi pago ou expirou" and len(meta.state.envios) == 0


def test_meta_errors_mark_the_item_with_code_and_message(fab, meta, banco):
    fab.aluno("Ana", celular="5511999990001")  # the sandbox answers 131026 for this number
    _item(fab, "Ana")
    assert _despachar(meta)["erros"] == 1
    with banco.connect() as conn:
        item = conn.execute(
            text("SELECT status, erro_codigo, erro_mensagem FROM filas_disparo")
        ).one()
    assert (item.status, item.erro_codigo) == ("erro", 131026) and item.erro_mensagem


def test_retryable_errors_back_off_then_give_up(fab, meta, banco):
    fab.aluno("Ana")
    _item(fab, "Ana")
    meta.state.falhas.adicionar("/messages", codigo=131000, vezes=100)
    assert _despachar(meta)["adiados"] == 1
    with banco.connect() as conn:
        item = conn.execute(
            text(
                "SELECT status, tentativas, proxima_tentativa_em > now() AS futuro"
                " FROM filas_disparo"
            )
        ).one()
    assert (item.status, item.tentativas, item.futuro) == ("aprovado", 1, True)
    for _ in range(2):
        fab.sql("UPDATE filas_disparo SET proxima_tentativa_em = now() - interval '1 second'")
        _despachar(meta)
    assert _status(banco) == {"Ana": "erro"}


def test_an_unexpected_failure_mid_send_leaves_that_item_to_verify_and_logs_the_rest(
    fab, meta, banco
):
    """A failure that is not Meta's answer (a bug, a broken library) while sending: that item
    may have gone out, so it waits for a person; the batch's accepted sends are still logged."""
    for nome, celular in (("Ana", "5511988880001"), ("Bia", "5511988880002"), ("Caio", "auto")):
        fab.aluno(nome, celular=celular)
        _item(fab, nome)

    class Quebrado(WhatsAppClient):
        def enviar_template(self, to, *args, **kwargs):
            if to == "5511988880002":
                raise RuntimeError("biblioteca quebrada")
            return super().enviar_template(to, *args, **kwargs)

    resultado = _despachar(
        meta,
        cliente_fabrica=lambda: Quebrado(
            access_token=TOKEN, phone_number_id="111", waba_id="222", api_base=meta.state.url
        ),
    )
    assert (resultado["enviados"], resultado["verificar"]) == (2, 1)
    estados = _status(banco)
    assert estados["Bia"] == "verificar" and estados["Ana"] == estados["Caio"] == "enviado"
    with banco.connect() as conn:
        motivo = conn.execute(
            text("SELECT erro_mensagem FROM filas_disparo WHERE status = 'verificar'")
        ).scalar()
        logados = conn.execute(text("SELECT count(*) FROM logs_disparo")).scalar()
    assert motivo == "envio não confirmado: falha inesperada (RuntimeError)"
    assert logados == 2 == len(meta.state.envios)


def test_an_expired_token_stops_everything_and_keeps_the_item(fab, meta, banco):
    fab.aluno("Ana")
    fab.aluno("Bia")
    _item(fab, "Ana")
    _item(fab, "Bia")
    meta.state.expirar_token()
    resultado = _despachar(meta)
    assert "190" in resultado["parada"]
    assert _status(banco) == {"Ana": "aprovado", "Bia": "aprovado"}


def test_two_workers_send_each_of_200_items_exactly_once(fab, meta, banco):
    for i in range(200):
        fab.aluno(f"Aluno {i:03d}")
        _item(fab, f"Aluno {i:03d}")
    resultados = []
    workers = [
        threading.Thread(target=lambda: resultados.append(_despachar(meta, lote=10)))
        for _ in range(2)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert sum(r["enviados"] for r in resultados) == 200
    assert all(r["enviados"] > 0 for r in resultados)  # both really worked
    with banco.connect() as conn:
        assert conn.execute(
            text("SELECT count(DISTINCT fila_id), count(*) FROM logs_disparo")
        ).one() == (200, 200)
    assert len(meta.state.envios) == 200
    assert set(_status(banco).values()) == {"enviado"}


TRAVADO = """
import time, sys
from services import disparo

class Travado:
    def __enter__(self): return self
    def __exit__(self, *a): pass
    def enviar_template(self, *a, **k):
        print("enviando", flush=True)
        time.sleep(120)

disparo.despachar(cliente_fabrica=Travado, lote=5, agora=lambda: __import__("datetime").datetime(
    2026, 11, 20, 15, 0, tzinfo=__import__("datetime").timezone.utc))
"""


def test_a_worker_killed_mid_batch_leaves_verificar_not_a_resend(fab, meta, banco):
    for i in range(5):
        fab.aluno(f"Kill {i}")
        _item(fab, f"Kill {i}")
    # The stuck client is a fault the sandbox cannot produce: a send that never returns.
    filho = subprocess.Popen(
        [sys.executable, "-c", TRAVADO],
        cwd=RAIZ,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert filho.stdout.readline().strip() == "enviando"
        with banco.connect() as conn:
            assert (
                conn.execute(
                    text("SELECT count(*) FROM filas_disparo WHERE status = 'enviando'")
                ).scalar()
                == 5
            )
        assert disparo.recuperar_orfaos() == 0  # the worker is alive: its items are its own
        os.kill(filho.pid, signal.SIGKILL)
        filho.wait(10)
    finally:
        if filho.poll() is None:
            filho.kill()
    for _ in range(50):
        if disparo.recuperar_orfaos() or set(_status(banco).values()) == {"verificar"}:
            break
        time.sleep(0.1)
    assert set(_status(banco).values()) == {"verificar"}
    assert _despachar(meta)["enviados"] == 0
    assert len(meta.state.envios) == 0


def test_the_token_bucket_never_bursts_past_its_rate():
    """At 80/s no one-second window holds more than 80 sends, the first second included."""
    relogio = {"t": 0.0}

    def dormir(segundos: float) -> None:
        relogio["t"] += segundos

    balde = disparo.Balde(80, relogio=lambda: relogio["t"], sleep=dormir)
    instantes = []
    for _ in range(400):
        balde.aguardar()
        instantes.append(relogio["t"])
    pior = max(sum(1 for t in instantes if inicio <= t < inicio + 1.0) for inicio in instantes)
    assert pior <= 81  # 80 per second, plus the send at the very edge of the window
    assert instantes[-1] == pytest.approx(399 / 80, rel=0.01)  # and no slower than 80/s
