"""Reprocessing of stored webhook events whose processing failed (issue #8).

The fault is one the sandbox cannot produce: the database failing in the middle of an apply. It
is planted by making one function of the apply raise a real ``OperationalError`` (the exception
a dropped connection raises); everything else is the real route, the real PostgreSQL and the
real CLI in a subprocess.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from db.uow import UnidadeDeTrabalho
from services import config, consentimento, eventos_webhook, webhooks, whatsapp_status
from services import hotmart_espelho as espelho
from services.demo_data import gerar_dataset
from services.sandbox import hotmart_webhooks as pb
from services.sandbox.meta_webhooks import assinar, corpo_inbound, corpo_status, serializar
from tests.test_cli import cli

HOTTOK = "hottok-de-teste-reprocesso"
SEGREDO = "app-secret-de-teste-reprocesso"
CELULAR = "5511987654321"


@pytest.fixture(scope="module")
def exemplos():
    return pb.exemplos(gerar_dataset(alunos=40, seed=5, agora=datetime(2026, 11, 20, tzinfo=UTC)))


@pytest.fixture
def segredos(banco):
    with UnidadeDeTrabalho() as uow:
        config.definir_varios(uow.session, {"hotmart_hottok": HOTTOK, "meta_app_secret": SEGREDO})
        uow.commit()
    return banco


def _um(banco, sql: str, **p):
    with banco.connect() as conn:
        return conn.execute(text(sql), p).first()


def _postar_hotmart(cliente, evento):
    return cliente.post("/webhooks/hotmart", headers={"X-HOTMART-HOTTOK": HOTTOK}, json=evento)


def _postar_meta(cliente, corpo: dict):
    bruto = serializar(corpo)
    return cliente.post(
        "/webhooks/meta",
        content=bruto,
        headers={
            "Content-Type": "application/json",
            "X-Hub-Signature-256": assinar(bruto, SEGREDO),
        },
    )


def _falha_de_banco() -> OperationalError:
    return OperationalError(
        "SELECT 1", {}, psycopg.OperationalError("server closed the connection unexpectedly")
    )


def _falhar(monkeypatch, modulo, nome: str, vezes: int | None = 1, depois: bool = False) -> dict:
    """Make ``modulo.nome`` raise a database OperationalError ``vezes`` times (None: always);
    ``depois``: only once it has done its work (the fault comes after the writes)."""
    original, contagem = getattr(modulo, nome), {"falhas": 0}

    def com_falha(*args, **kwargs):
        if vezes is None or contagem["falhas"] < vezes:
            contagem["falhas"] += 1
            if depois:
                original(*args, **kwargs)
            raise _falha_de_banco()
        return original(*args, **kwargs)

    monkeypatch.setattr(modulo, nome, com_falha)
    return contagem


def _evento(banco, evento_id: str):
    return _um(
        banco,
        "SELECT erro, tentativas, reprocessar_em, processado_em FROM eventos_webhook "
        "WHERE evento_id = :e",
        e=evento_id,
    )


def _vencer_esperas(banco) -> None:
    """Time passes: every queued event is due now."""
    with banco.begin() as conn:
        conn.execute(
            text("UPDATE eventos_webhook SET reprocessar_em = now() WHERE reprocessar_em > now()")
        )


def test_a_postback_that_failed_once_is_applied_exactly_once_by_reprocessing(
    cliente_app, segredos, exemplos, monkeypatch
):
    evento = exemplos["PURCHASE_APPROVED"]
    transacao = evento["data"]["purchase"]["transaction"]
    # Twice: the group write of purchase events, then its one-by-one fallback; each time after
    # the mirror's script wrote the sale, the buyer and the enrolment.
    falhas = _falhar(monkeypatch, espelho, "_roteiro", vezes=2, depois=True)

    resposta = _postar_hotmart(cliente_app, evento)
    assert resposta.status_code == 202 and resposta.json()["status"] == "armazenado"
    assert falhas["falhas"] == 2
    linha = _evento(segredos, evento["id"])
    assert linha.erro.startswith("OperationalError") and linha.tentativas == 1
    assert linha.reprocessar_em is not None
    # Nothing of the failed apply was kept (the savepoint rolled it back) …
    assert _um(segredos, "SELECT count(*) AS n FROM transacoes").n == 0
    # … and Hotmart's redelivery is still a duplicate: the stored event is the one to retry.
    assert _postar_hotmart(cliente_app, evento).json() == {"status": "duplicado"}

    assert eventos_webhook.reprocessar() == {
        "aplicados": 1,
        "falharam": 0,
        "desistidos": 0,
        "invalidos": 0,
    }
    t = _um(segredos, "SELECT status, aluno_id FROM transacoes WHERE id = :id", id=transacao)
    assert t.status == "APPROVED"
    aluno = _um(segredos, "SELECT ltv_total FROM alunos WHERE id = :id", id=t.aluno_id)
    assert aluno.ltv_total > 0
    linha = _evento(segredos, evento["id"])
    assert linha.erro is None and linha.tentativas == 2 and linha.reprocessar_em is None

    # A second run and a further redelivery change nothing.
    assert eventos_webhook.reprocessar()["aplicados"] == 0
    assert _postar_hotmart(cliente_app, evento).json() == {"status": "duplicado"}
    assert _um(segredos, "SELECT count(*) AS n FROM transacoes").n == 1
    assert _um(segredos, "SELECT count(*) AS n FROM eventos_webhook").n == 1


@pytest.fixture
def aluno_com_celular(segredos):
    with segredos.begin() as conn:
        return conn.execute(
            text(
                "INSERT INTO alunos (nome, email, celular) VALUES ('Ana', 'ana@x.com', :c) "
                "RETURNING id"
            ),
            {"c": CELULAR},
        ).scalar()


def test_an_opt_out_that_failed_once_revokes_consent_exactly_once(
    cliente_app, segredos, aluno_com_celular, monkeypatch
):
    corpo = corpo_inbound(
        waba_id="1",
        phone_number_id="2",
        telefone_exibicao="5511400",
        de=CELULAR,
        texto="SAIR",
        wamid="wamid.in-reprocesso",
        timestamp=1_780_000_000,
    )
    _falhar(monkeypatch, consentimento, "registrar")
    resposta = _postar_meta(cliente_app, corpo)
    assert resposta.status_code == 200 and resposta.json()["status"] == "armazenado"
    with UnidadeDeTrabalho() as uow:
        assert consentimento.tem_consentimento(uow.session, aluno_com_celular)
    assert _postar_meta(cliente_app, corpo).json() == {"status": "duplicado"}

    assert eventos_webhook.reprocessar()["aplicados"] == 1
    assert eventos_webhook.reprocessar()["aplicados"] == 0
    with UnidadeDeTrabalho() as uow:
        assert not consentimento.tem_consentimento(uow.session, aluno_com_celular)
    revogacoes = _um(segredos, "SELECT count(*) AS n FROM consentimentos WHERE NOT concedido")
    assert revogacoes.n == 1


def test_a_meta_status_that_failed_once_is_applied_by_the_cli(
    cliente_app, segredos, aluno_com_celular, monkeypatch
):
    wamid = f"wamid.{uuid.uuid4().hex}"
    with segredos.begin() as conn:
        tpl = conn.execute(
            text(
                "INSERT INTO templates (nome_meta, idioma, status_meta) "
                "VALUES ('boas_vindas', 'pt_BR', 'APPROVED') RETURNING id"
            )
        ).scalar()
        conn.execute(
            text(
                "INSERT INTO logs_disparo (aluno_id, template_id, mensagem_id_whatsapp, "
                "status_entrega) VALUES (:a, :t, :w, 'accepted')"
            ),
            {"a": aluno_com_celular, "t": tpl, "w": wamid},
        )
    corpo = corpo_status(
        waba_id="1",
        phone_number_id="2",
        telefone_exibicao="5511400",
        wamid=wamid,
        status="read",
        timestamp=1_780_000_000,
        recipient_id=CELULAR,
    )
    # Twice: the group write of status deliveries, then its one-by-one fallback.
    _falhar(monkeypatch, whatsapp_status, "aplicar_detalhado", vezes=2)
    assert _postar_meta(cliente_app, corpo).json()["status"] == "armazenado"
    entrega = "SELECT status_entrega FROM logs_disparo WHERE mensagem_id_whatsapp = :w"
    assert _um(segredos, entrega, w=wamid).status_entrega == "accepted"

    r = cli("webhooks", "reprocessar", "--limite", "10")
    assert r.returncode == 0, r.stderr
    assert "aplicados=1" in r.stdout and "ainda prontos=0" in r.stdout
    assert _um(segredos, entrega, w=wamid).status_entrega == "read"
    job = _um(segredos, "SELECT tipo, status, iniciado_por FROM jobs ORDER BY id DESC LIMIT 1")
    assert tuple(job) == ("webhooks_reprocessar", "concluido", "cli")


def test_an_invalid_payload_keeps_its_reason_and_is_never_retried(cliente_app, segredos):
    evento = {"id": "evt-invalido", "event": "PURCHASE_APPROVED", "data": {"product": {}}}
    resposta = _postar_hotmart(cliente_app, evento)
    assert resposta.status_code == 400 and resposta.json()["armazenado"] is True
    antes = _evento(segredos, "evt-invalido")
    assert antes.erro and antes.reprocessar_em is None

    assert eventos_webhook.reprocessar() == {
        "aplicados": 0,
        "falharam": 0,
        "desistidos": 0,
        "invalidos": 0,
    }
    assert tuple(_evento(segredos, "evt-invalido")) == tuple(antes)


def test_an_event_stored_but_never_processed_is_picked_up_once_it_is_old_enough(segredos, exemplos):
    """A process that died between storing and applying (before version 10 these were two
    transactions) left rows with no processado_em; a fresh one may still be in flight."""
    valido, invalido = exemplos["PURCHASE_APPROVED"], {"id": "evt-x", "event": "PURCHASE_APPROVED"}
    with segredos.begin() as conn:
        for evento, idade in [(valido, "5 minutes"), (invalido, "5 minutes")]:
            conn.execute(
                text(
                    "INSERT INTO eventos_webhook (origem, evento_id, tipo, payload, recebido_em) "
                    "VALUES ('hotmart', :e, 'PURCHASE_APPROVED', CAST(:p AS jsonb), "
                    f"now() - interval '{idade}')"
                ),
                {"e": evento["id"], "p": json.dumps(evento)},
            )
        conn.execute(
            text(
                "INSERT INTO eventos_webhook (origem, evento_id, tipo, payload) "
                "VALUES ('hotmart', 'evt-em-voo', 'PURCHASE_APPROVED', CAST(:p AS jsonb))"
            ),
            {"p": json.dumps({**valido, "id": "evt-em-voo"})},
        )

    resultado = eventos_webhook.reprocessar()
    assert resultado["aplicados"] == 1 and resultado["invalidos"] == 1
    assert _um(segredos, "SELECT count(*) AS n FROM transacoes").n == 1
    assert "data" in _evento(segredos, "evt-x").erro
    assert _evento(segredos, "evt-em-voo").processado_em is None  # left to its own request
    assert eventos_webhook.reprocessar() == {
        "aplicados": 0,
        "falharam": 0,
        "desistidos": 0,
        "invalidos": 0,
    }


def test_a_fault_that_never_goes_away_is_given_up_after_the_last_attempt(
    cliente_app, segredos, exemplos, monkeypatch
):
    evento = exemplos["PURCHASE_APPROVED"]
    _falhar(monkeypatch, espelho, "_roteiro", vezes=None)
    assert _postar_hotmart(cliente_app, evento).status_code == 202
    desistidos = 0
    for _ in range(webhooks.MAXIMO_TENTATIVAS + 3):
        _vencer_esperas(segredos)
        desistidos += eventos_webhook.reprocessar()["desistidos"]
    linha = _evento(segredos, evento["id"])
    assert desistidos == 1 and linha.tentativas == webhooks.MAXIMO_TENTATIVAS
    assert linha.reprocessar_em is None and linha.erro.startswith("OperationalError")
    assert _um(segredos, "SELECT count(*) AS n FROM transacoes").n == 0


def test_the_waits_between_attempts_grow(cliente_app, segredos, exemplos, monkeypatch):
    evento = exemplos["PURCHASE_APPROVED"]
    _falhar(monkeypatch, espelho, "_roteiro", vezes=3)  # group, alone, then attempt 2
    _postar_hotmart(cliente_app, evento)
    assert eventos_webhook.reprocessar()["falharam"] == 1  # attempt 2: due at once
    assert eventos_webhook.reprocessar()["falharam"] == 0  # attempt 3 waits 2 minutes
    espera = _um(
        segredos,
        "SELECT round(extract(epoch FROM reprocessar_em - now()) / 60) AS m FROM eventos_webhook",
    )
    assert espera.m == webhooks.ESPERA_MINUTOS[1]


def test_cli_refuses_a_bad_limit_in_portuguese(banco):
    for valor in ("0", "-3", "muitos"):
        r = cli("webhooks", "reprocessar", "--limite", valor)
        assert r.returncode == 2
        assert "número inteiro maior que zero" in r.stderr and "Traceback" not in r.stderr


def test_upgrading_to_version_10_queues_the_old_transient_failures_only(banco):
    from db.schema import aplicar_schema

    with banco.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO eventos_webhook (origem, evento_id, payload, processado_em, erro) "
                "VALUES ('hotmart', 'antigo-1', '{}', now(), 'OperationalError: conexão caiu'), "
                "('hotmart', 'antigo-2', '{}', now(), 'campo data ausente ou com tipo inválido'), "
                "('meta', 'antigo-3', NULL, now(), 'JSON malformado')"
            )
        )
        conn.execute(text("DELETE FROM schema_versao WHERE versao = 10"))
    assert aplicar_schema(banco) >= 10
    with banco.connect() as conn:
        linhas = conn.execute(text("SELECT evento_id, reprocessar_em FROM eventos_webhook")).all()
    filas = {linha.evento_id: linha.reprocessar_em is not None for linha in linhas}
    assert filas == {"antigo-1": True, "antigo-2": False, "antigo-3": False}


def _logs(banco, quantos: int) -> list[str]:
    wamids = [f"wamid.grupo.{i}.{uuid.uuid4().hex}" for i in range(quantos)]
    with banco.begin() as conn:
        aluno = conn.execute(
            text("INSERT INTO alunos (nome, email) VALUES ('Bia', 'bia@x.com') RETURNING id")
        ).scalar()
        tpl = conn.execute(
            text(
                "INSERT INTO templates (nome_meta, idioma, status_meta) "
                "VALUES ('grupo', 'pt_BR', 'APPROVED') RETURNING id"
            )
        ).scalar()
        conn.execute(
            text(
                "INSERT INTO logs_disparo (aluno_id, template_id, mensagem_id_whatsapp, "
                "status_entrega) SELECT :a, :t, w, 'accepted' FROM unnest(CAST(:ws AS text[])) w"
            ),
            {"a": aluno, "t": tpl, "ws": wamids},
        )
    return wamids


def _corpo_status(wamid: str, status: str, ts: int) -> bytes:
    return serializar(
        corpo_status(
            waba_id="1",
            phone_number_id="2",
            telefone_exibicao="5511400",
            wamid=wamid,
            status=status,
            timestamp=ts,
            recipient_id=CELULAR,
        )
    )


def _em_paralelo(corpos: list[bytes]) -> list[tuple[int, dict]]:
    from concurrent.futures import ThreadPoolExecutor

    from services import webhook_meta

    with ThreadPoolExecutor(32) as grupo:
        return list(grupo.map(lambda c: webhook_meta.processar(c, assinar(c, SEGREDO)), corpos))


def test_concurrent_status_deliveries_grouped_are_all_stored_and_applied_in_order(segredos):
    wamids = _logs(segredos, 60)
    # Every message gets sent, delivered and read out of order, and one delivery twice.
    corpos = [
        _corpo_status(w, status, ts)
        for w in wamids
        for status, ts in [("read", 1_780_000_300), ("sent", 1_780_000_100)]
    ] + [_corpo_status(w, "delivered", 1_780_000_200) for w in wamids]
    corpos.append(corpos[0])
    respostas = _em_paralelo(corpos)
    estados = [r[1]["status"] for r in respostas]
    assert estados.count("processado") == len(corpos) - 1 and estados.count("duplicado") == 1
    linhas = _um(
        segredos,
        "SELECT count(*) FILTER (WHERE status_entrega = 'read' AND enviado_em IS NOT NULL "
        "AND entregue_em IS NOT NULL AND lido_em IS NOT NULL) AS lidos FROM logs_disparo",
    )
    assert linhas.lidos == len(wamids)
    eventos = _um(
        segredos,
        "SELECT count(*) AS n, count(*) FILTER (WHERE erro IS NULL AND tentativas = 1) AS ok "
        "FROM eventos_webhook",
    )
    assert eventos.n == eventos.ok == len(corpos) - 1


def test_concurrent_statuses_over_the_route_are_grouped_on_the_event_loop(
    cliente_app, segredos, monkeypatch
):
    """Once the app secret is known, a status-only delivery never takes a worker thread."""
    from concurrent.futures import ThreadPoolExecutor

    from services import webhook_meta

    wamids = _logs(segredos, 41)

    def postar(corpo: bytes, assinatura: str | None = None):
        return cliente_app.post(
            "/webhooks/meta",
            content=corpo,
            headers={
                "Content-Type": "application/json",
                "X-Hub-Signature-256": assinatura or assinar(corpo, SEGREDO),
            },
        )

    assert postar(_corpo_status(wamids[0], "delivered", 1_780_000_200)).status_code == 200
    em_thread = []
    original = webhook_meta.processar
    monkeypatch.setattr(webhook_meta, "processar", lambda *a: em_thread.append(1) or original(*a))
    corpos = [_corpo_status(w, "read", 1_780_000_300) for w in wamids[1:]]
    with ThreadPoolExecutor(32) as grupo:  # 32 requests in flight on the app's one event loop
        respostas = list(grupo.map(postar, corpos))
    assert [r.json()["status"] for r in respostas] == ["processado"] * 40
    assert em_thread == []
    lidos = _um(segredos, "SELECT count(*) AS n FROM logs_disparo WHERE status_entrega = 'read'")
    assert lidos.n == 40
    # A wrong signature still goes the long way, and is refused.
    assert postar(corpos[0], "sha256=" + "0" * 64).status_code == 401
    assert em_thread == [1]


def test_one_poisoned_delivery_in_a_group_does_not_take_the_others_down(segredos, monkeypatch):
    wamids = _logs(segredos, 40)
    original = whatsapp_status.aplicar_detalhado

    def envenenado(session, statuses):
        if any(s["wamid"] == wamids[0] for s in statuses):
            raise _falha_de_banco()
        return original(session, statuses)

    monkeypatch.setattr(whatsapp_status, "aplicar_detalhado", envenenado)
    respostas = _em_paralelo([_corpo_status(w, "delivered", 1_780_000_200) for w in wamids])
    assert all(codigo == 200 for codigo, _ in respostas)
    assert [r["status"] for _, r in respostas].count("armazenado") == 1
    entregues = _um(
        segredos, "SELECT count(*) AS n FROM logs_disparo WHERE status_entrega = 'delivered'"
    )
    assert entregues.n == len(wamids) - 1
    assert _um(segredos, "SELECT count(*) AS n FROM eventos_webhook").n == len(wamids)
    monkeypatch.setattr(whatsapp_status, "aplicar_detalhado", original)
    assert eventos_webhook.reprocessar()["aplicados"] == 1
    entregues = _um(
        segredos, "SELECT count(*) AS n FROM logs_disparo WHERE status_entrega = 'delivered'"
    )
    assert entregues.n == len(wamids)


def _compra(base: dict, i: int, **mudancas) -> dict:
    evento = json.loads(json.dumps(base))
    evento["id"] = f"evt-grupo-{i}"
    evento["data"]["buyer"]["email"] = f"comprador{i}@example.com"
    evento["data"]["buyer"]["document"] = None
    evento["data"]["purchase"]["transaction"] = f"HP{i:014d}"
    for caminho, valor in mudancas.items():
        alvo = evento
        *pais, ultimo = caminho.split("__")
        for pai in pais:
            alvo = alvo[pai]
        alvo[ultimo] = valor
    return evento


def test_concurrent_postbacks_grouped_keep_every_sale_and_the_lifecycle(segredos, exemplos):
    from concurrent.futures import ThreadPoolExecutor

    from services import webhook_hotmart

    base = exemplos["PURCHASE_APPROVED"]
    eventos = [_compra(base, i) for i in range(60)]
    # The same sale refunded and approved in the same burst: it must end refunded.
    reembolso = _compra(base, 7, event="PURCHASE_REFUNDED", data__purchase__status="REFUNDED")
    reembolso["id"] = "evt-grupo-7-reembolso"
    # A value no column takes: only this event fails, for good.
    veneno = _compra(base, 99, data__purchase__price={"value": 1e15, "currency_value": "BRL"})
    corpos = [json.dumps(e).encode() for e in [*eventos, reembolso, veneno, eventos[3]]]
    with ThreadPoolExecutor(32) as grupo:
        respostas = list(grupo.map(lambda c: webhook_hotmart.processar(c, HOTTOK), corpos))
    codigos = sorted(codigo for codigo, _ in respostas)
    assert codigos.count(200) == len(corpos) - 1 and codigos.count(400) == 1
    assert [r.get("status") for _, r in respostas].count("duplicado") == 1
    vendas = _um(
        segredos,
        "SELECT count(*) AS n, count(DISTINCT aluno_id) AS alunos, "
        "count(*) FILTER (WHERE status = 'REFUNDED') AS reembolsadas FROM transacoes",
    )
    assert (vendas.n, vendas.alunos, vendas.reembolsadas) == (60, 60, 1)
    assert _um(segredos, "SELECT status FROM transacoes WHERE id = :t", t=f"HP{7:014d}").status == (
        "REFUNDED"
    )
    assert _um(segredos, "SELECT count(*) AS n FROM alunos WHERE ltv_total > 0").n == 59
    eventos_gravados = _um(
        segredos,
        "SELECT count(*) AS n, count(*) FILTER (WHERE erro IS NOT NULL "
        "AND reprocessar_em IS NULL) AS invalidos FROM eventos_webhook",
    )
    assert (eventos_gravados.n, eventos_gravados.invalidos) == (len(corpos) - 1, 1)


def test_concurrent_postbacks_over_the_route_are_grouped_on_the_event_loop(
    cliente_app, segredos, exemplos, monkeypatch
):
    """Once the hottok is known, a purchase event never takes a worker thread: the route hands
    it to the group writer from the event loop and awaits the commit."""
    from concurrent.futures import ThreadPoolExecutor

    from services import webhook_hotmart

    base = exemplos["PURCHASE_APPROVED"]
    assert _postar_hotmart(cliente_app, _compra(base, 0)).json()["status"] == "processado"
    em_thread = []
    original = webhook_hotmart.processar
    monkeypatch.setattr(
        webhook_hotmart, "processar", lambda *a: em_thread.append(1) or original(*a)
    )
    eventos = [_compra(base, i) for i in range(1, 41)]
    with ThreadPoolExecutor(32) as grupo:  # 32 requests in flight on the app's one event loop
        respostas = list(grupo.map(lambda e: _postar_hotmart(cliente_app, e), eventos))
    assert [r.json()["status"] for r in respostas] == ["processado"] * 40
    assert em_thread == []
    vendas = _um(
        segredos,
        "SELECT count(*) AS n, count(*) FILTER (WHERE m.id IS NOT NULL) AS matriculadas "
        "FROM transacoes t LEFT JOIN matriculas m ON m.transacao_origem_id = t.id",
    )
    assert (vendas.n, vendas.matriculadas) == (41, 41)
    # A wrong hottok still goes the long way, and is refused.
    assert (
        cliente_app.post(
            "/webhooks/hotmart", headers={"X-HOTMART-HOTTOK": "errado"}, json=_compra(base, 50)
        ).status_code
        == 401
    )
    assert em_thread == [1]


def test_two_groups_naming_the_same_product_do_not_wait_for_each_other(segredos, exemplos):
    """An unchanged product or offer is not locked by a group's upsert, so a second group of
    postbacks for the same product runs while the first is still open."""
    from services import hotmart_postback

    base = exemplos["PURCHASE_APPROVED"]
    compras = [hotmart_postback.preparar_compra(_compra(base, i)) for i in range(3)]
    with UnidadeDeTrabalho() as uow:
        hotmart_postback.gravar_compras(uow.session, [compras[0]])
        uow.commit()
    with UnidadeDeTrabalho() as primeiro, UnidadeDeTrabalho() as segundo:
        hotmart_postback.gravar_compras(primeiro.session, [compras[1]])  # still open
        segundo.session.execute(text("SET LOCAL lock_timeout = '2s'"))
        hotmart_postback.gravar_compras(segundo.session, [compras[2]])
        segundo.commit()
        primeiro.commit()
    assert _um(segredos, "SELECT count(*) AS n FROM transacoes").n == 3


def test_a_rotated_hottok_takes_effect_at_once_in_the_process_that_saved_it(
    cliente_app, segredos, exemplos
):
    evento = exemplos["PURCHASE_APPROVED"]
    assert _postar_hotmart(cliente_app, {**evento, "id": "evt-antes"}).status_code == 200
    with UnidadeDeTrabalho() as uow:  # as the Configurações form saves it
        config.definir(uow.session, "hotmart_hottok", "hottok-novo-depois-da-troca")
        uow.commit()
    assert _postar_hotmart(cliente_app, {**evento, "id": "evt-depois"}).status_code == 401
    resposta = cliente_app.post(
        "/webhooks/hotmart",
        headers={"X-HOTMART-HOTTOK": "hottok-novo-depois-da-troca"},
        json={**evento, "id": "evt-depois"},
    )
    assert resposta.status_code == 200 and resposta.json()["status"] == "processado"
