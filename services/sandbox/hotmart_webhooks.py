"""Hotmart postback 2.0.0 events (reference §7) built from a demo Dataset, and their delivery."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from services.demo_data import DIA_MS, Dataset

# purchase.status as real deliveries spell it (reference §7.3), by event.
STATUS_WEBHOOK = {
    "PURCHASE_APPROVED": "APPROVED",
    "PURCHASE_COMPLETE": "COMPLETED",
    "PURCHASE_BILLET_PRINTED": "BILLET_PRINTED",
    "PURCHASE_PROTEST": "DISPUTE",
    "PURCHASE_REFUNDED": "REFUNDED",
    "PURCHASE_CHARGEBACK": "CHARGEBACK",
    "PURCHASE_CANCELED": "CANCELED",
    "PURCHASE_EXPIRED": "EXPIRED",
    "PURCHASE_DELAYED": "DELAYED",
}
# The event a sale in a given API status produces.
EVENTO_POR_STATUS = {
    "APPROVED": "PURCHASE_APPROVED",
    "COMPLETE": "PURCHASE_COMPLETE",
    "PRINTED_BILLET": "PURCHASE_BILLET_PRINTED",
    "WAITING_PAYMENT": "PURCHASE_BILLET_PRINTED",  # pending PIX: same event, payment.type PIX
    "PROTESTED": "PURCHASE_PROTEST",
    "REFUNDED": "PURCHASE_REFUNDED",
    "PARTIALLY_REFUNDED": "PURCHASE_REFUNDED",  # (L) no documented event of its own
    "CHARGEBACK": "PURCHASE_CHARGEBACK",
    "CANCELLED": "PURCHASE_CANCELED",
    "EXPIRED": "PURCHASE_EXPIRED",
    "OVERDUE": "PURCHASE_DELAYED",
}
EVENTOS = (
    *STATUS_WEBHOOK,
    "PURCHASE_OUT_OF_SHOPPING_CART",
    "SUBSCRIPTION_CANCELLATION",
    "SWITCH_PLAN",
    "UPDATE_SUBSCRIPTION_CHARGE_DATE",
    "CLUB_FIRST_ACCESS",
    "CLUB_MODULE_COMPLETED",
)
# Subscription status as webhooks spell it (one L, VENDOR) — reference §7.4.
STATUS_ASSINATURA_WEBHOOK = {
    "CANCELLED_BY_CUSTOMER": "CANCELED_BY_CUSTOMER",
    "CANCELLED_BY_SELLER": "CANCELED_BY_VENDOR",
    "CANCELLED_BY_ADMIN": "CANCELED_BY_ADMIN",
    "DELAYED": "OVERDUE",  # (L) webhooks list no DELAYED
}
EMAIL_SUPORTE = "suporte@terceirizacursos.example"
BRASIL = {"name": "Brasil", "iso": "BR"}


def _envelope(evento: str, data: dict[str, Any], quando: int, chave: str) -> dict[str, Any]:
    """The 2.0.0 envelope; the id is stable for the same event and key (idempotency tests)."""
    ident = str(uuid.uuid5(uuid.NAMESPACE_URL, f"hotmart-sandbox:{evento}:{chave}:{quando}"))
    if evento == "CLUB_FIRST_ACCESS":  # real deliveries say creationDate here
        return {
            "id": ident,
            "creationDate": quando,
            "event": evento,
            "version": "2.0.0",
            "data": data,
        }
    return {"id": ident, "creation_date": quando, "event": evento, "version": "2.0.0", "data": data}


def _iso(ms: int, *, meia_noite: bool = False) -> str:
    """ISO-8601 UTC text as webhooks carry it."""
    data = datetime.fromtimestamp(ms / 1000, tz=UTC)
    if meia_noite:
        return data.strftime("%Y-%m-%dT00:00:00Z")
    return data.strftime("%Y-%m-%dT%H:%M:%S.") + f"{data.microsecond // 1000:03d}Z"


def _status_assinatura(status: str) -> str:
    """API subscription status -> webhook spelling."""
    return STATUS_ASSINATURA_WEBHOOK.get(status, status)


def evento_compra(
    ds: Dataset, transaction: str, evento: str | None = None, *, creation_date: int | None = None
) -> dict[str, Any]:
    """A purchase-family event of a sale; by default the event its current status produces."""
    venda = ds.venda(transaction)
    compra = venda["purchase"]
    evento = evento or EVENTO_POR_STATUS[compra["status"]]
    if evento not in STATUS_WEBHOOK:
        raise ValueError(f"evento de compra desconhecido: {evento}")
    produto = ds.produto(venda["product"]["id"])
    comprador = ds.comprador(venda["buyer"]["email"])
    oferta = ds.oferta(compra["offer"]["code"])
    extras = ds.pagamentos.get(transaction, {})
    pagamento: dict[str, Any] = {
        "type": compra["payment"]["type"],
        "installments_number": compra["payment"]["installments_number"],
    }
    chaves = ("billet_url", "billet_barcode", "pix_code", "pix_qrcode", "pix_expiration_date")
    pagamento.update({k: extras[k] for k in chaves if k in extras})
    if evento in ("PURCHASE_CANCELED", "PURCHASE_DELAYED") and "refusal_reason" in extras:
        pagamento["refusal_reason"] = extras["refusal_reason"]
    valor = compra["price"]["value"]
    taxa = compra["hotmart_fee"]["total"]
    dados_compra: dict[str, Any] = {
        "transaction": transaction,
        "status": STATUS_WEBHOOK[evento],
        "order_date": compra["order_date"],
    }
    if "approved_date" in compra:
        dados_compra["approved_date"] = compra["approved_date"]
    rastreio = compra["tracking"]
    origem = {
        chave: rastreio[campo]
        for chave, campo in (("src", "source"), ("sck", "source_sck"), ("xcod", "external_code"))
        if rastreio.get(campo)
    }
    dados_compra.update(
        {
            "price": {"value": valor, "currency_value": "BRL"},
            "full_price": {"value": valor, "currency_value": "BRL"},
            "original_offer_price": {"value": oferta["price"]["value"], "currency_value": "BRL"},
            "offer": {"code": oferta["code"], "name": oferta["name"]},
            "payment": pagamento,
            "checkout_country": BRASIL,
            "order_bump": {"is_order_bump": False},
            "subscription_anticipation_purchase": False,
            "invoice_by": "HOTMART",
            "is_funnel": False,
            "business_model": "I",
        }
    )
    if origem:
        dados_compra["origin"] = origem
    endereco = comprador["address"]
    data: dict[str, Any] = {
        "product": {
            "id": produto["id"],
            "ucode": produto["ucode"],
            "name": produto["name"],
            "has_co_production": False,
            "warranty_date": _iso(compra["warranty_expire_date"], meia_noite=True),
            "support_email": EMAIL_SUPORTE,
            "is_physical_product": False,
        },
        "buyer": {
            "email": comprador["email"],
            "name": comprador["name"],
            "first_name": comprador["first_name"],
            "last_name": comprador["last_name"],
            "checkout_phone": comprador["celular"],
            "checkout_phone_code": comprador["ddd"],
            "document": comprador["cpf"],
            "document_type": "CPF",
            "address": {
                "zipcode": endereco["zip_code"],
                "country": endereco["country"],
                "country_iso": "BR",
                "state": endereco["state"],
                "city": endereco["city"],
                "neighborhood": endereco["neighborhood"],
                "address": endereco["address"],
                "number": endereco["number"],
                "complement": endereco["complement"],
            },
        },
        "producer": {"name": ds.produtor["name"], "legal_nature": "Pessoa Jurídica"},
        "commissions": [
            {"value": taxa, "currency_value": "BRL", "source": "MARKETPLACE"},
            {"value": round(valor - taxa, 2), "currency_value": "BRL", "source": "PRODUCER"},
        ],
        "purchase": dados_compra,
    }
    assinatura = ds.assinatura_de(comprador["email"], produto["id"])
    if assinatura is not None:
        dados_compra["recurrence_number"] = compra.get("recurrency_number", 1)
        dados_compra["date_next_charge"] = assinatura["date_next_charge"]
        data["subscription"] = {
            "status": _status_assinatura(assinatura["status"]),
            "plan": {"id": assinatura["plan"]["id"], "name": assinatura["plan"]["name"]},
            "subscriber": {"code": assinatura["subscriber_code"]},
        }
    quando = creation_date if creation_date is not None else _momento(ds, compra, evento)
    return _envelope(evento, data, quando, transaction)


def _momento(ds: Dataset, compra: dict[str, Any], evento: str) -> int:
    """When Hotmart would have sent this event (never after the data set's `agora`)."""
    if evento == "PURCHASE_COMPLETE":
        quando = compra["warranty_expire_date"]
    elif evento == "PURCHASE_EXPIRED":
        quando = compra["order_date"] + 3 * DIA_MS
    elif evento in ("PURCHASE_REFUNDED", "PURCHASE_CHARGEBACK", "PURCHASE_PROTEST"):
        quando = compra.get("approved_date", compra["order_date"]) + 2 * DIA_MS
    else:
        quando = compra.get("approved_date", compra["order_date"])
    return min(quando, ds.agora_ms)


def evento_carrinho_abandonado(
    ds: Dataset, email: str, product_id: int, *, creation_date: int | None = None
) -> dict[str, Any]:
    """PURCHASE_OUT_OF_SHOPPING_CART: a lead who typed name and e-mail and left."""
    comprador, produto = ds.comprador(email), ds.produto(product_id)
    oferta = next(o for o in ds.ofertas[produto["id"]] if o["is_main_offer"])
    data = {
        "affiliate": False,
        "product": {"id": produto["id"], "name": produto["name"]},
        "buyer": {
            "name": comprador["name"],
            "email": comprador["email"],
            "phone": comprador["ddd"] + comprador["celular"],
        },
        "offer": {"code": oferta["code"]},
        "checkout_country": BRASIL,
    }
    quando = creation_date if creation_date is not None else ds.agora_ms
    return _envelope("PURCHASE_OUT_OF_SHOPPING_CART", data, quando, f"{email}:{product_id}")


def evento_cancelamento_assinatura(
    ds: Dataset, subscriber_code: str, *, creation_date: int | None = None
) -> dict[str, Any]:
    """SUBSCRIPTION_CANCELLATION: access lasts until date_next_charge."""
    a = ds.assinatura(subscriber_code)
    comprador = ds.comprador(a["subscriber"]["email"])
    cancelamento = a.get("end_accession_date", ds.agora_ms)
    data = {
        "date_next_charge": a["date_next_charge"],
        "cancellation_date": cancelamento,
        "actual_recurrence_value": a["price"]["value"],
        "product": {"id": a["product"]["id"], "name": a["product"]["name"]},
        "subscriber": {
            "code": subscriber_code,
            "name": comprador["name"],
            "email": comprador["email"],
            "phone": {
                "dddPhone": "",
                "phone": "",
                "dddCell": comprador["ddd"],
                "cell": comprador["celular"],
            },
        },
        "subscription": {
            "id": a["subscription_id"],
            "plan": {"id": a["plan"]["id"], "name": a["plan"]["name"]},
        },
    }
    quando = creation_date if creation_date is not None else cancelamento
    return _envelope("SUBSCRIPTION_CANCELLATION", data, quando, subscriber_code)


def evento_troca_plano(
    ds: Dataset, subscriber_code: str, *, creation_date: int | None = None
) -> dict[str, Any]:
    """SWITCH_PLAN: the subscriber moves to another plan of the same product (shape M)."""
    a = ds.assinatura(subscriber_code)
    atual = next(o for o in ds.ofertas[a["product"]["id"]] if o["plan"]["id"] == a["plan"]["id"])
    novo = next(o for o in ds.ofertas[a["product"]["id"]] if o is not atual)
    quando = creation_date if creation_date is not None else ds.agora_ms
    data = {
        "switch_plan_date": quando,
        "subscription": {
            "subscriber_code": subscriber_code,
            "status": _status_assinatura(a["status"]),
            "date_next_charge": a["date_next_charge"],
            "product": {"id": a["product"]["id"], "name": a["product"]["name"]},
            "user": {"email": a["subscriber"]["email"]},
        },
        "plans": [
            {
                "id": p["plan"]["id"],
                "name": p["plan"]["name"],
                "offer": {"key": p["code"]},
                "current": c,
            }
            for p, c in ((novo, True), (atual, False))
        ],
    }
    return _envelope("SWITCH_PLAN", data, quando, subscriber_code)


def evento_alteracao_data_cobranca(
    ds: Dataset,
    subscriber_code: str,
    novo_dia: int | None = None,
    *,
    creation_date: int | None = None,
) -> dict[str, Any]:
    """UPDATE_SUBSCRIPTION_CHARGE_DATE: the charge day changes (date_next_charge as ISO text)."""
    a = ds.assinatura(subscriber_code)
    proxima = datetime.fromtimestamp(a["date_next_charge"] / 1000, tz=UTC)
    dia_antigo = proxima.day
    novo_dia = novo_dia or (dia_antigo % 28) + 1
    nova = proxima.replace(day=min(novo_dia, 28), hour=12, minute=0, second=0, microsecond=0)
    oferta = next(o for o in ds.ofertas[a["product"]["id"]] if o["plan"]["id"] == a["plan"]["id"])
    data = {
        "subscriber": {
            "code": subscriber_code,
            "name": a["subscriber"]["name"],
            "email": a["subscriber"]["email"],
        },
        "subscription": {
            "product": {"id": a["product"]["id"], "name": a["product"]["name"]},
            "old_charge_day": dia_antigo,
            "new_charge_day": novo_dia,
            "date_next_charge": _iso(int(nova.timestamp() * 1000)),
            "status": _status_assinatura(a["status"]),
        },
        "plan": {
            "id": a["plan"]["id"],
            "name": a["plan"]["name"],
            "offer": {"code": oferta["code"]},
        },
    }
    quando = creation_date if creation_date is not None else ds.agora_ms
    return _envelope(
        "UPDATE_SUBSCRIPTION_CHARGE_DATE", data, quando, f"{subscriber_code}:{novo_dia}"
    )


def _aluno(ds: Dataset, subdomain: str, user_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A Club user and their product."""
    usuario = next(u for u in ds.usuarios_club[subdomain] if u["user_id"] == user_id)
    produto_id = next(p for p, s in ds.subdominios.items() if s == subdomain)
    return usuario, ds.produto(produto_id)


def evento_primeiro_acesso(
    ds: Dataset, subdomain: str, user_id: str, *, creation_date: int | None = None
) -> dict[str, Any]:
    """CLUB_FIRST_ACCESS (envelope with `creationDate`; no user_id or subdomain inside)."""
    usuario, produto = _aluno(ds, subdomain, user_id)
    data = {
        "product": {"id": produto["id"], "name": produto["name"]},
        "user": {"name": usuario["name"], "email": usuario["email"]},
    }
    quando = (
        creation_date
        if creation_date is not None
        else usuario.get("first_access_date", ds.agora_ms)
    )
    return _envelope("CLUB_FIRST_ACCESS", data, quando, f"{subdomain}:{user_id}")


def evento_modulo_concluido(
    ds: Dataset, subdomain: str, user_id: str, module_id: str, *, creation_date: int | None = None
) -> dict[str, Any]:
    """CLUB_MODULE_COMPLETED; product.id arrives as a string in real deliveries."""
    usuario, produto = _aluno(ds, subdomain, user_id)
    modulo = next(m for m in ds.modulos[subdomain] if m["module_id"] == module_id)
    data = {
        "product": {"id": str(produto["id"]), "name": produto["name"]},
        "user": {"name": usuario["name"], "email": usuario["email"]},
        "module": {"id": module_id, "name": modulo["name"]},
    }
    quando = creation_date if creation_date is not None else ds.agora_ms
    return _envelope("CLUB_MODULE_COMPLETED", data, quando, f"{subdomain}:{user_id}:{module_id}")


def exemplos(ds: Dataset) -> dict[str, dict[str, Any]]:
    """One event of every kind from the data set (the pending PIX under "..._PIX")."""
    primeira: dict[str, str] = {}
    for venda in ds.vendas:
        primeira.setdefault(venda["purchase"]["status"], venda["purchase"]["transaction"])
    eventos = {
        EVENTO_POR_STATUS[s]: evento_compra(ds, primeira[s])
        for s in ("APPROVED", "COMPLETE", "PRINTED_BILLET", "PROTESTED", "REFUNDED")
        + ("CHARGEBACK", "CANCELLED", "EXPIRED", "OVERDUE")
        if s in primeira
    }
    if "WAITING_PAYMENT" in primeira:
        eventos["PURCHASE_BILLET_PRINTED_PIX"] = evento_compra(ds, primeira["WAITING_PAYMENT"])
    if "EXPIRED" in primeira:
        venda = ds.venda(primeira["EXPIRED"])
        eventos["PURCHASE_OUT_OF_SHOPPING_CART"] = evento_carrinho_abandonado(
            ds, venda["buyer"]["email"], venda["product"]["id"]
        )
    cancelada = next((a for a in ds.assinaturas if a["status"].startswith("CANCELLED")), None)
    if cancelada:
        codigo = cancelada["subscriber_code"]
        eventos["SUBSCRIPTION_CANCELLATION"] = evento_cancelamento_assinatura(ds, codigo)
    ativa = next((a for a in ds.assinaturas if a["status"] == "ACTIVE"), None)
    if ativa:
        eventos["SWITCH_PLAN"] = evento_troca_plano(ds, ativa["subscriber_code"])
        eventos["UPDATE_SUBSCRIPTION_CHARGE_DATE"] = evento_alteracao_data_cobranca(
            ds, ativa["subscriber_code"]
        )
    for subdominio, usuarios in ds.usuarios_club.items():
        for u in usuarios:
            aulas = ds.aulas_usuario[subdominio][u["user_id"]]
            if "first_access_date" in u and "CLUB_FIRST_ACCESS" not in eventos:
                eventos["CLUB_FIRST_ACCESS"] = evento_primeiro_acesso(ds, subdominio, u["user_id"])
            primeiro_modulo = ds.modulos[subdominio][0]
            paginas = ds.paginas[primeiro_modulo["module_id"]]
            if "CLUB_MODULE_COMPLETED" not in eventos and len(aulas) >= len(paginas):
                if all(a["is_completed"] for a in aulas[: len(paginas)]):
                    eventos["CLUB_MODULE_COMPLETED"] = evento_modulo_concluido(
                        ds, subdominio, u["user_id"], primeiro_modulo["module_id"]
                    )
        if "CLUB_FIRST_ACCESS" in eventos and "CLUB_MODULE_COMPLETED" in eventos:
            break
    return eventos


def enviar_postback(
    url: str,
    hottok: str,
    evento: dict[str, Any],
    *,
    hottok_no_corpo: bool = False,
    timeout: float = 10.0,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Response:
    """POST an event as Hotmart does: JSON body, secret in the X-HOTMART-HOTTOK header."""
    corpo = {**evento, "hottok": hottok} if hottok_no_corpo else evento
    cabecalhos = {"X-HOTMART-HOTTOK": hottok, "User-Agent": "Hotmart-Sandbox/2.0.0"}
    with httpx.Client(timeout=timeout, transport=transport) as cliente:
        return cliente.post(url, json=corpo, headers=cabecalhos)
