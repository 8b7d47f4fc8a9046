"""POST /webhooks/hotmart through st.App's routes, with the sandbox's postback shapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text

from db.uow import UnidadeDeTrabalho
from services import config
from services import hotmart_espelho as espelho
from services import hotmart_normalizar as norm
from services.demo_data import gerar_dataset
from services.sandbox import hotmart_webhooks as pb

HOTTOK = "hottok-de-teste-1234"
AGORA = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def ds():
    return gerar_dataset(alunos=80, seed=11, agora=AGORA)


@pytest.fixture(scope="module")
def exemplos(ds):
    return pb.exemplos(ds)


@pytest.fixture
def hottok(banco):
    with UnidadeDeTrabalho() as uow:
        config.definir(uow.session, "hotmart_hottok", HOTTOK)
        uow.commit()
    return HOTTOK


def postar(cliente, evento, *, token=HOTTOK, **kwargs):
    cabecalhos = {"X-HOTMART-HOTTOK": token} if token else {}
    if "content" in kwargs:
        return cliente.post("/webhooks/hotmart", headers=cabecalhos, **kwargs)
    return cliente.post("/webhooks/hotmart", headers=cabecalhos, json=evento)


def um(banco, sql, **params):
    with banco.connect() as conn:
        return conn.execute(text(sql), params).first()


def contar(banco, tabela):
    return um(banco, f"SELECT count(*) AS n FROM {tabela}").n


def test_wrong_or_missing_hottok_is_401_and_nothing_is_stored(cliente_app, hottok, exemplos):
    evento = exemplos["PURCHASE_APPROVED"]
    assert postar(cliente_app, evento, token="errado").status_code == 401
    resposta = postar(cliente_app, evento, token=None)
    assert resposta.status_code == 401 and "hottok" in resposta.json()["erro"]
    from db.engine import obter_engine

    assert contar(obter_engine(), "eventos_webhook") == 0
    assert contar(obter_engine(), "transacoes") == 0


def test_hottok_in_the_body_is_accepted_as_fallback(cliente_app, hottok, exemplos, banco):
    corpo = {**exemplos["SWITCH_PLAN"], "hottok": HOTTOK}
    assert postar(cliente_app, corpo, token=None).status_code == 200
    assert contar(banco, "eventos_webhook") == 1
    armazenado = um(banco, "SELECT payload::text AS p FROM eventos_webhook").p
    assert HOTTOK not in armazenado  # the secret is never kept with the event


def test_body_over_one_megabyte_is_413(cliente_app, hottok, banco):
    grande = b'{"id": "x", "data": "' + b"a" * 1_100_000 + b'"}'
    assert postar(cliente_app, None, content=grande).status_code == 413
    assert contar(banco, "eventos_webhook") == 0


def test_malformed_json_is_400_and_the_raw_body_is_kept(cliente_app, hottok, banco):
    resposta = postar(cliente_app, None, content=b'{"id": "abc", "event": ')
    assert resposta.status_code == 400 and resposta.json()["erro"] == "JSON malformado"
    linha = um(banco, "SELECT corpo_bruto, erro, payload FROM eventos_webhook")
    assert linha.corpo_bruto == '{"id": "abc", "event": ' and linha.erro == "JSON malformado"


def test_event_without_id_is_400_and_kept(cliente_app, hottok, banco):
    resposta = postar(cliente_app, {"event": "PURCHASE_APPROVED", "data": {}})
    assert resposta.status_code == 400
    assert um(banco, "SELECT erro FROM eventos_webhook").erro == "evento sem id"


def test_a_repeated_event_id_answers_200_and_changes_nothing(cliente_app, hottok, exemplos, banco):
    evento = exemplos["PURCHASE_APPROVED"]
    assert postar(cliente_app, evento).json()["status"] == "processado"
    antes = um(banco, "SELECT atualizado_em FROM transacoes").atualizado_em
    resposta = postar(cliente_app, evento)
    assert resposta.status_code == 200 and resposta.json()["status"] == "duplicado"
    assert contar(banco, "eventos_webhook") == 1
    assert um(banco, "SELECT atualizado_em FROM transacoes").atualizado_em == antes


def test_approved_creates_student_enrolment_and_ltv(cliente_app, hottok, exemplos, banco):
    evento = exemplos["PURCHASE_APPROVED"]
    assert postar(cliente_app, evento).status_code == 200
    compra, comprador = evento["data"]["purchase"], evento["data"]["buyer"]
    t = um(banco, "SELECT * FROM transacoes WHERE id = :id", id=compra["transaction"])
    assert t.status == "APPROVED" and t.valor_pago == norm.dinheiro(compra["price"]["value"])
    a = um(banco, "SELECT * FROM alunos WHERE id = :id", id=t.aluno_id)
    assert a.email == comprador["email"].lower() and a.cpf == comprador["document"]
    assert a.celular.startswith("55") and a.ltv_total == t.valor_pago
    m = um(banco, "SELECT * FROM matriculas WHERE aluno_id = :a", a=t.aluno_id)
    assert m.status_acesso == "ATIVO" and m.transacao_origem_id == t.id
    processado = um(banco, "SELECT processado_em, erro FROM eventos_webhook")
    assert processado.processado_em is not None and processado.erro is None


@pytest.mark.parametrize(
    ("chave", "status"),
    [
        ("PURCHASE_COMPLETE", "COMPLETE"),
        ("PURCHASE_PROTEST", "PROTESTED"),
        ("PURCHASE_REFUNDED", "REFUNDED"),
        ("PURCHASE_CHARGEBACK", "CHARGEBACK"),
        ("PURCHASE_CANCELED", "CANCELLED"),
        ("PURCHASE_EXPIRED", "EXPIRED"),
        ("PURCHASE_DELAYED", "DELAYED"),
        ("PURCHASE_BILLET_PRINTED", "WAITING_PAYMENT"),
        ("PURCHASE_BILLET_PRINTED_PIX", "WAITING_PAYMENT"),
    ],
)
def test_every_purchase_event_maps_to_one_vocabulary(
    cliente_app, hottok, exemplos, banco, chave, status
):
    if chave not in exemplos:
        pytest.fail(f"the demo data set should produce a {chave} example")
    evento = exemplos[chave]
    assert postar(cliente_app, evento).status_code == 200
    t = um(
        banco,
        "SELECT * FROM transacoes WHERE id = :id",
        id=evento["data"]["purchase"]["transaction"],
    )
    assert t.status == status
    assert t.status_hotmart == evento["data"]["purchase"]["status"]


def test_pending_pix_keeps_the_pix_code_and_boleto_keeps_its_link(
    cliente_app, hottok, exemplos, banco
):
    pix, boleto = exemplos["PURCHASE_BILLET_PRINTED_PIX"], exemplos["PURCHASE_BILLET_PRINTED"]
    assert pix["data"]["purchase"]["payment"]["type"] == "PIX"
    postar(cliente_app, pix)
    postar(cliente_app, boleto)
    tp = um(
        banco, "SELECT * FROM transacoes WHERE id = :id", id=pix["data"]["purchase"]["transaction"]
    )
    tb = um(
        banco,
        "SELECT * FROM transacoes WHERE id = :id",
        id=boleto["data"]["purchase"]["transaction"],
    )
    assert (
        tp.tipo_pagamento == "PIX"
        and tp.codigo_pix == pix["data"]["purchase"]["payment"]["pix_code"]
    )
    assert tb.link_boleto == boleto["data"]["purchase"]["payment"]["billet_url"]
    # An unpaid sale gives no access and no LTV.
    assert contar(banco, "matriculas") == 0
    assert um(banco, "SELECT sum(ltv_total) AS s FROM alunos").s == 0


def test_refunded_arriving_before_approved_ends_refunded(cliente_app, hottok, ds, banco):
    venda = next(v for v in ds.vendas if v["purchase"]["status"] == "REFUNDED")
    transacao = venda["purchase"]["transaction"]
    reembolso = pb.evento_compra(ds, transacao, "PURCHASE_REFUNDED")
    aprovacao = pb.evento_compra(ds, transacao, "PURCHASE_APPROVED")
    assert postar(cliente_app, reembolso).status_code == 200
    assert postar(cliente_app, aprovacao).status_code == 200
    t = um(banco, "SELECT status, aluno_id FROM transacoes WHERE id = :id", id=transacao)
    assert t.status == "REFUNDED"
    assert um(banco, "SELECT ltv_total FROM alunos WHERE id = :id", id=t.aluno_id).ltv_total == 0
    m = um(banco, "SELECT status_acesso FROM matriculas WHERE aluno_id = :a", a=t.aluno_id)
    assert m.status_acesso == "BLOQUEADO"


def test_ltv_after_approve_then_refund(cliente_app, hottok, ds, banco):
    venda = next(v for v in ds.vendas if v["purchase"]["status"] == "REFUNDED")
    transacao = venda["purchase"]["transaction"]
    postar(cliente_app, pb.evento_compra(ds, transacao, "PURCHASE_APPROVED"))
    t = um(banco, "SELECT aluno_id, valor_pago FROM transacoes WHERE id = :id", id=transacao)
    assert (
        um(banco, "SELECT ltv_total FROM alunos WHERE id = :id", id=t.aluno_id).ltv_total
        == t.valor_pago
        > 0
    )
    postar(cliente_app, pb.evento_compra(ds, transacao, "PURCHASE_REFUNDED"))
    assert um(banco, "SELECT ltv_total FROM alunos WHERE id = :id", id=t.aluno_id).ltv_total == 0


def test_cart_abandonment_is_kept_for_recovery(cliente_app, hottok, exemplos, banco):
    evento = exemplos["PURCHASE_OUT_OF_SHOPPING_CART"]
    assert postar(cliente_app, evento).status_code == 200
    c = um(banco, "SELECT * FROM carrinhos_abandonados")
    assert c.email == evento["data"]["buyer"]["email"].lower()
    assert c.celular.startswith("55") and c.hotmart_offer_code == evento["data"]["offer"]["code"]


def test_subscription_cancellation_keeps_access_until_the_next_charge(
    cliente_app, hottok, ds, banco
):
    assinatura = next(a for a in ds.assinaturas if a["status"] == "ACTIVE")
    codigo = assinatura["subscriber_code"]
    venda = ds.venda(assinatura["transaction"])
    postar(cliente_app, pb.evento_compra(ds, venda["purchase"]["transaction"], "PURCHASE_APPROVED"))
    evento = pb.evento_cancelamento_assinatura(ds, codigo)
    futuro = int((datetime.now(UTC) + timedelta(days=10)).timestamp() * 1000)
    evento["data"]["date_next_charge"] = futuro
    assert postar(cliente_app, evento).status_code == 200
    m = um(banco, "SELECT * FROM matriculas WHERE hotmart_subscriber_code = :c", c=codigo)
    assert m.status_assinatura == "CANCELLED_BY_CUSTOMER" and m.status_acesso == "ATIVO"
    assert m.data_renovacao == norm.data_ms(futuro)
    # Once the paid period is over, the enrolment expires.
    from services.hotmart_matriculas import recalcular_status_acesso

    with banco.begin() as conn:
        conn.execute(text("UPDATE matriculas SET data_renovacao = now() - interval '1 day'"))
    with UnidadeDeTrabalho() as uow:
        recalcular_status_acesso(uow.session)
        uow.commit()
    assert um(banco, "SELECT status_acesso FROM matriculas").status_acesso == "EXPIRADO"


def test_charge_date_change_and_plan_switch_move_the_renewal(cliente_app, hottok, exemplos, banco):
    mudanca = exemplos["UPDATE_SUBSCRIPTION_CHARGE_DATE"]
    assert postar(cliente_app, mudanca).status_code == 200
    esperado = norm.data_ms(mudanca["data"]["subscription"]["date_next_charge"])
    assert um(banco, "SELECT data_renovacao FROM matriculas").data_renovacao == esperado
    troca = exemplos["SWITCH_PLAN"]
    assert postar(cliente_app, troca).status_code == 200
    assert um(banco, "SELECT data_renovacao FROM matriculas").data_renovacao == norm.data_ms(
        troca["data"]["subscription"]["date_next_charge"]
    )


def test_club_first_access_sets_the_kpi_origin(cliente_app, hottok, exemplos, banco):
    evento = exemplos["CLUB_FIRST_ACCESS"]
    assert "creationDate" in evento
    assert postar(cliente_app, evento).status_code == 200
    m = um(banco, "SELECT * FROM matriculas")
    assert m.data_primeiro_acesso == norm.data_ms(evento["creationDate"])
    assert m.origem_primeiro_acesso == "email_hotmart"


def test_first_access_after_our_delivered_message_counts_as_whatsapp(
    cliente_app, hottok, exemplos, banco
):
    evento = exemplos["CLUB_FIRST_ACCESS"]
    dados = evento["data"]
    with UnidadeDeTrabalho() as uow:
        s = uow.session
        espelho.upsert_produtos(
            s,
            [{"hotmart_product_id": int(dados["product"]["id"]), "nome": dados["product"]["name"]}],
        )
        (aluno_id,) = espelho.upsert_alunos(
            s, [{"email": dados["user"]["email"].lower(), "nome": dados["user"]["name"]}]
        )
        s.execute(
            text(
                "INSERT INTO templates (nome_meta, produto_id) SELECT 'boas_vindas', id "
                "FROM produtos"
            )
        )
        s.execute(
            text(
                "INSERT INTO logs_disparo (aluno_id, template_id, status_entrega, "
                "data_envio) SELECT :a, id, 'delivered', :quando FROM templates"
            ),
            {"a": aluno_id, "quando": norm.data_ms(evento["creationDate"]) - timedelta(hours=10)},
        )
        uow.commit()
    assert postar(cliente_app, evento).status_code == 200
    assert um(banco, "SELECT origem_primeiro_acesso AS o FROM matriculas").o == "zap_terceiriza"


def test_module_completed_marks_the_module_lessons(cliente_app, hottok, ds, exemplos, banco):
    evento = exemplos["CLUB_MODULE_COMPLETED"]
    assert isinstance(evento["data"]["product"]["id"], str)
    pid = int(evento["data"]["product"]["id"])
    subdominio = ds.subdominios[pid]
    with UnidadeDeTrabalho() as uow:
        s = uow.session
        espelho.upsert_produtos(s, [norm.produto_da_api(ds.produto(pid))])
        espelho.upsert_modulos(s, [norm.modulo_da_api(pid, m) for m in ds.modulos[subdominio]])
        espelho.upsert_aulas(
            s,
            [
                norm.aula_da_api(pid, m["module_id"], p)
                for m in ds.modulos[subdominio]
                for p in ds.paginas[m["module_id"]]
            ],
        )
        uow.commit()
    assert postar(cliente_app, evento).status_code == 200
    modulo = evento["data"]["module"]["id"]
    assert contar(banco, "progresso_aulas") == len(ds.paginas[modulo]) > 0


def test_unknown_event_is_stored_and_answered(cliente_app, hottok, banco):
    evento = {"id": "evt-1", "event": "ORDER_FULFILLMENT", "data": {"x": 1}, "version": "2.0.0"}
    assert postar(cliente_app, evento).status_code == 200
    assert um(banco, "SELECT tipo FROM eventos_webhook").tipo == "ORDER_FULFILLMENT"


def test_a_purchase_with_a_wrong_shape_is_400_and_kept(cliente_app, hottok, banco):
    evento = {"id": "evt-2", "event": "PURCHASE_APPROVED", "data": {"product": {"id": "abc"}}}
    resposta = postar(cliente_app, evento)
    assert resposta.status_code == 400 and resposta.json()["armazenado"] is True
    linha = um(banco, "SELECT erro, payload FROM eventos_webhook")
    assert "data.purchase" in linha.erro or "product" in linha.erro
    assert json.loads(json.dumps(linha.payload)) == evento
    assert contar(banco, "transacoes") == 0 and contar(banco, "produtos") == 0


def test_money_is_decimal_with_cents(exemplos):
    valor = exemplos["PURCHASE_APPROVED"]["data"]["purchase"]["price"]["value"]
    assert norm.dinheiro(valor) == Decimal(str(valor)).quantize(Decimal("0.01"))
