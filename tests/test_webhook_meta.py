"""GET|POST /webhooks/meta, statuses, opt-out, template mirror and a send through the sandbox."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from sqlalchemy import text
from starlette.applications import Starlette

from db.uow import UnidadeDeTrabalho
from services import config, consentimento, whatsapp
from services.rotas import ROTAS
from services.sandbox import meta as sandbox_meta
from services.sandbox.meta_webhooks import assinar, corpo_inbound, corpo_status, serializar
from services.sandbox.server import servir

SEGREDO = "app-secret-de-teste"
VERIFICACAO = "verifica-123"
WABA, TELEFONE_ID = "102290129340398", "106540352242922"
CELULAR = "5511987654321"


@pytest.fixture
def meta_config(banco):
    with UnidadeDeTrabalho() as uow:
        config.definir_varios(
            uow.session, {"meta_app_secret": SEGREDO, "meta_verify_token": VERIFICACAO}
        )
        uow.commit()
    return banco


def _status(wamid: str, status: str, ts: int, codigo: int | None = None) -> dict:
    return corpo_status(
        waba_id=WABA,
        phone_number_id=TELEFONE_ID,
        telefone_exibicao="5511400",
        wamid=wamid,
        status=status,
        timestamp=ts,
        recipient_id=CELULAR,
        codigo_erro=codigo,
    )


def postar(cliente, corpo: dict | bytes, *, assinatura: str | None = "certa"):
    bruto = corpo if isinstance(corpo, bytes) else serializar(corpo)
    cabecalhos = {"Content-Type": "application/json"}
    if assinatura == "certa":
        cabecalhos["X-Hub-Signature-256"] = assinar(bruto, SEGREDO)
    elif assinatura:
        cabecalhos["X-Hub-Signature-256"] = assinatura
    return cliente.post("/webhooks/meta", content=bruto, headers=cabecalhos)


def _um(banco, sql: str, **p):
    with banco.connect() as conn:
        return conn.execute(text(sql), p).first()


@pytest.fixture
def mensagem(meta_config):
    """A student, an approved template and one logged message (as a send would leave it)."""
    wamid = f"wamid.{uuid.uuid4().hex}"
    with meta_config.begin() as conn:
        aluno = conn.execute(
            text(
                "INSERT INTO alunos (nome, email, celular) VALUES "
                "('Ana', 'ana@x.com', :c) RETURNING id"
            ),
            {"c": CELULAR},
        ).scalar()
        tpl = conn.execute(
            text(
                "INSERT INTO templates (nome_meta, idioma, status_meta) VALUES "
                "('boas_vindas', 'pt_BR', 'APPROVED') RETURNING id"
            )
        ).scalar()
        conn.execute(
            text(
                "INSERT INTO logs_disparo (aluno_id, template_id, mensagem_id_whatsapp, "
                "status_entrega) VALUES (:a, :t, :w, 'accepted')"
            ),
            {"a": aluno, "t": tpl, "w": wamid},
        )
    return wamid, aluno


def _log(banco, wamid):
    return _um(banco, "SELECT * FROM logs_disparo WHERE mensagem_id_whatsapp = :w", w=wamid)


# ---- handshake -------------------------------------------------------------------------


def test_handshake_answers_the_challenge_as_plain_text(cliente_app, meta_config):
    r = cliente_app.get(
        "/webhooks/meta",
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": VERIFICACAO,
            "hub.challenge": "1158201444",
        },
    )
    assert r.status_code == 200 and r.text == "1158201444"
    assert r.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "errado", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFICACAO, "hub.challenge": "1"},
        {"hub.challenge": "1"},
    ],
)
def test_handshake_refuses_a_wrong_token_or_mode(cliente_app, meta_config, params):
    assert cliente_app.get("/webhooks/meta", params=params).status_code == 403


# ---- signature -------------------------------------------------------------------------


def test_good_signature_is_stored_raw_and_applied(cliente_app, mensagem, meta_config):
    wamid, _ = mensagem
    r = postar(cliente_app, _status(wamid, "delivered", 1_780_000_000))
    assert r.status_code == 200 and r.json()["status"] == "processado"
    evento = _um(meta_config, "SELECT origem, tipo, processado_em FROM eventos_webhook")
    assert evento.origem == "meta" and evento.tipo == "messages" and evento.processado_em
    assert _log(meta_config, wamid).status_entrega == "delivered"


@pytest.mark.parametrize("assinatura", [None, "sha256=" + "0" * 64, "md5=abc"])
def test_bad_or_missing_signature_is_401_and_nothing_is_stored(
    cliente_app, mensagem, meta_config, assinatura
):
    wamid, _ = mensagem
    r = postar(cliente_app, _status(wamid, "read", 1_780_000_000), assinatura=assinatura)
    assert r.status_code == 401
    assert _um(meta_config, "SELECT count(*) AS n FROM eventos_webhook").n == 0
    assert _log(meta_config, wamid).status_entrega == "accepted"


def test_a_body_altered_by_one_byte_is_refused(cliente_app, mensagem, meta_config):
    wamid, _ = mensagem
    bruto = serializar(_status(wamid, "read", 1_780_000_000))
    assinatura = assinar(bruto, SEGREDO)
    alterado = bruto.replace(b'"read"', b'"reae"')
    assert alterado != bruto
    assert postar(cliente_app, alterado, assinatura=assinatura).status_code == 401


def test_malformed_json_with_a_good_signature_is_400_and_kept(cliente_app, meta_config):
    r = postar(cliente_app, b'{"entry": [')
    assert r.status_code == 400
    assert _um(meta_config, "SELECT erro FROM eventos_webhook").erro == "JSON malformado"


def test_the_same_delivery_twice_is_a_no_op(cliente_app, mensagem, meta_config):
    wamid, _ = mensagem
    corpo = _status(wamid, "read", 1_780_000_000)
    postar(cliente_app, corpo)
    assert postar(cliente_app, corpo).json()["status"] == "duplicado"
    assert _um(meta_config, "SELECT count(*) AS n FROM eventos_webhook").n == 1


# ---- status rules ----------------------------------------------------------------------


def test_out_of_order_and_duplicated_statuses_end_at_read(cliente_app, mensagem, meta_config):
    wamid, _ = mensagem
    for status, ts in [
        ("read", 30),
        ("sent", 10),
        ("delivered", 20),
        ("delivered", 21),
        ("sent", 11),
    ]:
        postar(cliente_app, _status(wamid, status, 1_780_000_000 + ts))
    log = _log(meta_config, wamid)
    assert log.status_entrega == "read"
    assert (log.enviado_em.timestamp(), log.entregue_em.timestamp(), log.lido_em.timestamp()) == (
        1_780_000_010,
        1_780_000_020,
        1_780_000_030,
    )


def test_read_without_delivered_is_read(cliente_app, mensagem, meta_config):
    wamid, _ = mensagem
    postar(cliente_app, _status(wamid, "sent", 1_780_000_000))
    postar(cliente_app, _status(wamid, "read", 1_780_000_050))
    log = _log(meta_config, wamid)
    assert log.status_entrega == "read" and log.entregue_em is None


def test_failed_is_kept_with_its_code_until_a_later_delivered(cliente_app, mensagem, meta_config):
    wamid, _ = mensagem
    postar(cliente_app, _status(wamid, "failed", 1_780_000_000, codigo=131026))
    log = _log(meta_config, wamid)
    assert log.status_entrega == "failed" and log.erro_codigo == 131026 and log.erro_titulo
    postar(cliente_app, _status(wamid, "delivered", 1_780_000_100))
    log = _log(meta_config, wamid)
    assert log.status_entrega == "delivered" and log.erro_codigo == 131026


def test_a_status_before_its_log_row_is_parked_then_applied(cliente_app, meta_config):
    wamid = f"wamid.{uuid.uuid4().hex}"
    postar(cliente_app, _status(wamid, "delivered", 1_780_000_000))
    assert (
        _um(
            meta_config,
            "SELECT status FROM status_pendentes WHERE mensagem_id_whatsapp = :w",
            w=wamid,
        ).status
        == "delivered"
    )
    from services import whatsapp_status

    with meta_config.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO logs_disparo (mensagem_id_whatsapp, status_entrega) "
                "VALUES (:w, 'accepted')"
            ),
            {"w": wamid},
        )
    with UnidadeDeTrabalho() as uow:
        whatsapp_status.aplicar_estacionados(uow.session, wamid)
        uow.commit()
    assert _log(meta_config, wamid).status_entrega == "delivered"
    assert _um(meta_config, "SELECT count(*) AS n FROM status_pendentes").n == 0


def test_statuses_parked_for_a_week_are_deleted_by_the_reprocessing_run(cliente_app, meta_config):
    """Statuses of messages this app never sent (an agent writing from Chatwoot on the same
    number) would otherwise pile up in status_pendentes forever."""
    from tests.test_cli import cli

    antigo, recente = f"wamid.{uuid.uuid4().hex}", f"wamid.{uuid.uuid4().hex}"
    for wamid in (antigo, recente):
        postar(cliente_app, _status(wamid, "delivered", 1_780_000_000))
        postar(cliente_app, _status(wamid, "read", 1_780_000_060))
    with meta_config.begin() as conn:
        conn.execute(
            text(
                "UPDATE status_pendentes SET recebido_em = now() - interval '8 days' "
                "WHERE mensagem_id_whatsapp = :w"
            ),
            {"w": antigo},
        )
    r = cli("webhooks", "reprocessar")
    assert r.returncode == 0, r.stderr
    assert "estacionados_expirados=2" in r.stdout
    restantes = "SELECT DISTINCT mensagem_id_whatsapp AS w FROM status_pendentes"
    with meta_config.connect() as conn:
        assert list(conn.execute(text(restantes)).scalars()) == [recente]
    # A run with nothing old enough deletes nothing.
    r = cli("webhooks", "reprocessar")
    assert "estacionados_expirados=0" in r.stdout


# ---- inbound and templates -------------------------------------------------------------


@pytest.mark.parametrize(
    ("texto", "revoga"),
    [
        ("SAIR", True),
        ("sair!", True),
        ("Parar", True),
        ("Quero sair do curso amanhã", False),
        ("Obrigado", False),
    ],
)
def test_opt_out_words_revoke_consent(cliente_app, mensagem, meta_config, texto, revoga):
    _, aluno = mensagem
    corpo = corpo_inbound(
        waba_id=WABA,
        phone_number_id=TELEFONE_ID,
        telefone_exibicao="5511400",
        de=CELULAR[:4] + CELULAR[5:],
        texto=texto,  # wa_id without the 9
        wamid="wamid.in1",
        timestamp=1_780_000_000,
    )
    assert postar(cliente_app, corpo).status_code == 200
    with UnidadeDeTrabalho() as uow:
        assert consentimento.tem_consentimento(uow.session, aluno) is (not revoga)
    if revoga:
        linha = _um(meta_config, "SELECT origem, concedido FROM consentimentos")
        assert (linha.origem, linha.concedido) == ("optout_whatsapp", False)


def test_template_status_update_changes_the_mirror(cliente_app, meta_config):
    from services.sandbox.meta_webhooks import corpo_status_template

    with meta_config.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO templates (nome_meta, idioma, status_meta, "
                "meta_template_id) VALUES ('aula_liberada', 'pt_BR', 'APPROVED', "
                "'1180000000000005')"
            )
        )
    corpo = corpo_status_template(
        waba_id=WABA,
        evento="PAUSED",
        timestamp=1_780_000_000,
        template={
            "id": "1180000000000005",
            "name": "aula_liberada",
            "language": "pt_BR",
            "category": "UTILITY",
        },
    )
    assert postar(cliente_app, corpo).status_code == 200
    assert _um(meta_config, "SELECT status_meta FROM templates").status_meta == "PAUSED"


# ---- through the sandbox over HTTP -------------------------------------------------------


@pytest.fixture
def loop_meta(meta_config):
    """Our webhook routes served on loopback, the Meta sandbox posting to them."""
    with servir(Starlette(routes=ROTAS)) as nosso:
        app = sandbox_meta.criar_app(
            access_token="tok-teste",
            app_secret=SEGREDO,
            phone_number_id=TELEFONE_ID,
            waba_id=WABA,
            callback_url=nosso + "/webhooks/meta",
            atraso_status_s=0.01,
            cenarios_por_numero={CELULAR: "lido", "5511912345678": "falha_131026"},
        )
        with servir(app) as url:
            with UnidadeDeTrabalho() as uow:
                config.definir_varios(
                    uow.session,
                    {
                        "meta_access_token": "tok-teste",
                        "meta_phone_number_id": TELEFONE_ID,
                        "meta_waba_id": WABA,
                        "meta_api_base": url,
                    },
                )
                uow.commit()
            yield app


def _esperar(condicao, limite=10.0):
    fim = time.monotonic() + limite
    while time.monotonic() < fim:
        if condicao():
            return True
        time.sleep(0.05)
    return False


def test_template_mirror_pages_and_marks_removed(loop_meta, meta_config):
    from services.sandbox.meta_templates import TEMPLATES_DEMO

    with UnidadeDeTrabalho() as uow:
        # A page size of 2 makes the mirror follow several cursors.
        with whatsapp.cliente_configurado(uow.session) as cliente:
            itens = list(cliente.listar_templates(limite=2))
            resultado = whatsapp.sincronizar_templates(uow.session, cliente)
        uow.commit()
    assert len(itens) == resultado["templates_lidos"] == len(TEMPLATES_DEMO)
    tpl = _um(meta_config, "SELECT * FROM templates WHERE nome_meta = 'boleto_pendente'")
    assert tpl.qtd_parametros >= 1 and "{{1}}" in tpl.conteudo_texto and tpl.categoria
    loop_meta.state.remover_template("boleto_pendente")
    with UnidadeDeTrabalho() as uow:
        with whatsapp.cliente_configurado(uow.session) as cliente:
            whatsapp.sincronizar_templates(uow.session, cliente)
        uow.commit()
    tpl = _um(meta_config, "SELECT * FROM templates WHERE nome_meta = 'boleto_pendente'")
    assert tpl.removido_na_meta_em is not None  # marked, not deleted


def test_a_sent_template_reaches_read_through_signed_webhooks(loop_meta, meta_config):
    with meta_config.begin() as conn:
        aluno = conn.execute(
            text(
                "INSERT INTO alunos (nome, email, celular) VALUES "
                "('Ana', 'ana@x.com', :c) RETURNING id"
            ),
            {"c": CELULAR},
        ).scalar()
    with UnidadeDeTrabalho() as uow:
        with whatsapp.cliente_configurado(uow.session) as cliente:
            whatsapp.sincronizar_templates(uow.session, cliente)
            tpl = uow.session.execute(
                text(
                    "SELECT id, qtd_parametros FROM templates WHERE status_meta = 'APPROVED' "
                    "ORDER BY nome_meta LIMIT 1"
                )
            ).one()
            enviado = whatsapp.enviar(
                uow.session,
                cliente,
                aluno_id=aluno,
                template_id=tpl.id,
                parametros=[f"valor{i}" for i in range(tpl.qtd_parametros)],
            )
        uow.commit()
    assert "valor0" in enviado.texto
    assert loop_meta.state.aguardar_entregas(10)
    assert _esperar(lambda: _log(meta_config, enviado.wamid).status_entrega == "read")
    log = _log(meta_config, enviado.wamid)
    assert log.enviado_em and log.entregue_em and log.lido_em
    assert json.loads(json.dumps(log.variaveis)) == [f"valor{i}" for i in range(tpl.qtd_parametros)]


def test_sending_checks_consent_phone_and_parameter_count(loop_meta, meta_config):
    with meta_config.begin() as conn:
        aluno = conn.execute(
            text(
                "INSERT INTO alunos (nome, email, celular) VALUES "
                "('Ana', 'ana@x.com', :c) RETURNING id"
            ),
            {"c": CELULAR},
        ).scalar()
        sem_fone = conn.execute(
            text("INSERT INTO alunos (nome, email) VALUES ('Bia', 'b@x.com') RETURNING id")
        ).scalar()
    with UnidadeDeTrabalho() as uow:
        s = uow.session
        with whatsapp.cliente_configurado(s) as cliente:
            whatsapp.sincronizar_templates(s, cliente)
            tpl = s.execute(
                text(
                    "SELECT id, qtd_parametros FROM templates "
                    "WHERE status_meta = 'APPROVED' AND qtd_parametros > 0 "
                    "LIMIT 1"
                )
            ).one()
            with pytest.raises(whatsapp.EnvioRecusado, match="espera"):
                whatsapp.enviar(s, cliente, aluno_id=aluno, template_id=tpl.id, parametros=[])
            with pytest.raises(whatsapp.EnvioRecusado, match="celular"):
                whatsapp.enviar(
                    s,
                    cliente,
                    aluno_id=sem_fone,
                    template_id=tpl.id,
                    parametros=["x"] * tpl.qtd_parametros,
                )
            consentimento.registrar(s, aluno_ids=[aluno], concedido=False, origem="teste")
            with pytest.raises(whatsapp.EnvioRecusado, match="consentimento"):
                whatsapp.enviar(
                    s,
                    cliente,
                    aluno_id=aluno,
                    template_id=tpl.id,
                    parametros=["x"] * tpl.qtd_parametros,
                )
    assert len(loop_meta.state.envios) == 0  # refused before calling Meta
