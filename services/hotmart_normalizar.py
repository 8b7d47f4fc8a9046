"""Hotmart payloads (API items and postbacks) → rows in our vocabulary, ready for the mirror."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

# One vocabulary whatever the source spelling (reference §3.4 and §7.3).
_STATUS = {
    "APPROVED": "APPROVED",
    "COMPLETE": "COMPLETE",
    "COMPLETED": "COMPLETE",
    "WAITING_PAYMENT": "WAITING_PAYMENT",
    "BILLET_PRINTED": "WAITING_PAYMENT",
    "PRINTED_BILLET": "WAITING_PAYMENT",
    "EXPIRED": "EXPIRED",
    "CANCELLED": "CANCELLED",
    "CANCELED": "CANCELLED",
    "REFUNDED": "REFUNDED",
    "PARTIALLY_REFUNDED": "PARTIALLY_REFUNDED",
    "CHARGEBACK": "CHARGEBACK",
    "PROTESTED": "PROTESTED",
    "DISPUTE": "PROTESTED",
    "DELAYED": "DELAYED",
}

# The event name is the truth for postbacks (reference §7.3).
STATUS_POR_EVENTO = {
    "PURCHASE_APPROVED": "APPROVED",
    "PURCHASE_COMPLETE": "COMPLETE",
    "PURCHASE_BILLET_PRINTED": "WAITING_PAYMENT",
    "PURCHASE_PROTEST": "PROTESTED",
    "PURCHASE_REFUNDED": "REFUNDED",
    "PURCHASE_CHARGEBACK": "CHARGEBACK",
    "PURCHASE_CANCELED": "CANCELLED",
    "PURCHASE_EXPIRED": "EXPIRED",
    "PURCHASE_DELAYED": "DELAYED",
}

# Statuses in which the buyer has (or had) access: they create an enrolment.
STATUS_COM_MATRICULA = (
    "APPROVED",
    "COMPLETE",
    "REFUNDED",
    "PARTIALLY_REFUNDED",
    "CHARGEBACK",
    "PROTESTED",
    "DELAYED",
)
STATUS_PAGOS = ("APPROVED", "COMPLETE")


def normalizar_status(status: str | None) -> str | None:
    """Map any Hotmart spelling to our vocabulary; unknown values pass through upper-cased."""
    if not status:
        return None
    chave = str(status).strip().upper()
    return _STATUS.get(chave, chave[:50])


def data_ms(valor: Any) -> datetime | None:
    """Epoch ms (or s, guarded), or an ISO string, to an aware UTC datetime."""
    if valor in (None, ""):
        return None
    if isinstance(valor, int | float) or (isinstance(valor, str) and valor.isdigit()):
        numero = int(valor)
        if numero < 1_000_000_000_000:  # 10-digit seconds seen in doc examples
            numero *= 1000
        return datetime.fromtimestamp(numero / 1000, tz=UTC)
    if isinstance(valor, str):
        try:
            return datetime.fromisoformat(valor.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            return None
    return None


def dinheiro(valor: Any) -> Decimal | None:
    """A price as Decimal with two places; None when absent or unreadable."""
    if valor in (None, ""):
        return None
    try:
        numero = Decimal(str(valor))
        # NaN would be stored (numeric accepts it) and poison every LTV sum it enters.
        return numero.quantize(Decimal("0.01")) if numero.is_finite() else None
    except (InvalidOperation, ValueError):
        return None


def so_digitos(valor: Any) -> str:
    """Digits of a value ('' for None)."""
    return re.sub(r"\D", "", str(valor or ""))


def normalizar_cpf(valor: Any) -> str | None:
    """11-digit CPF or None (CNPJ and foreign documents are not a CPF)."""
    digitos = so_digitos(valor)
    return digitos if len(digitos) == 11 else None


def normalizar_status_assinatura(status: Any) -> str | None:
    """Subscription status in the API's spelling (postbacks write CANCELED_BY_VENDOR etc.)."""
    if not status:
        return None
    texto = str(status).strip().upper()
    texto = texto.replace("CANCELED_BY_VENDOR", "CANCELLED_BY_SELLER")
    return texto.replace("CANCELED_", "CANCELLED_")[:30]


def normalizar_email(valor: Any) -> str | None:
    """Lower-cased, trimmed e-mail or None."""
    texto = str(valor or "").strip().lower()
    return texto[:255] if "@" in texto else None


def normalizar_celular(ddd: Any, numero: Any = None) -> str | None:
    """A Brazilian mobile as WhatsApp wants it: 55 + DDD + 9 + 8 digits.

    Hand-written: phonenumbers validates but does not add the mobile ninth digit that old
    records lack, which is the fix we need. Landlines (first digit 2-5) are kept without it.
    """
    numero_digitos = so_digitos(numero)
    # A number that already carries its area code (or the country code) ignores the DDD field.
    digitos = numero_digitos if len(numero_digitos) >= 10 else so_digitos(ddd) + numero_digitos
    if digitos.startswith("55") and len(digitos) in (12, 13):
        digitos = digitos[2:]
    digitos = digitos.lstrip("0")
    if len(digitos) == 10 and digitos[2] in "6789":
        digitos = digitos[:2] + "9" + digitos[2:]
    if len(digitos) not in (10, 11) or digitos[0] == "0":
        return None
    return "55" + digitos


def _texto(valor: Any, limite: int) -> str | None:
    if valor in (None, ""):
        return None
    return str(valor)[:limite]


def produto_da_api(item: dict) -> dict:
    """/products item → produtos row."""
    return {"hotmart_product_id": int(item["id"]), "nome": _texto(item.get("name"), 255) or "?"}


def oferta_da_api(hotmart_product_id: int, item: dict) -> dict:
    """Offer item → ofertas row."""
    preco = item.get("price") or {}
    return {
        "hotmart_product_id": hotmart_product_id,
        "offer_code": _texto(item.get("code"), 50),
        "nome": _texto(item.get("name"), 255),
        "preco": dinheiro(preco.get("value")),
        "moeda": _texto(preco.get("currency_code"), 3),
    }


def venda_da_api(item: dict) -> dict:
    """/sales/history item → transacoes row (+ buyer keys and product)."""
    compra = item.get("purchase") or {}
    comprador = item.get("buyer") or {}
    produto = item.get("product") or {}
    preco = compra.get("price") or {}
    pagamento = compra.get("payment") or {}
    return {
        "id": str(compra["transaction"])[:50],
        "email": normalizar_email(comprador.get("email")),
        "nome": _texto(comprador.get("name"), 255),
        "cpf": None,
        "celular": None,
        "hotmart_product_id": int(produto["id"]),
        "produto_nome": _texto(produto.get("name"), 255),
        "offer_code": _texto((compra.get("offer") or {}).get("code"), 50),
        "oferta_nome": None,
        "status": normalizar_status(compra.get("status")),
        "status_hotmart": _texto(compra.get("status"), 50),
        "valor_pago": dinheiro(preco.get("value")),
        "moeda": _texto(preco.get("currency_code"), 3) or "BRL",
        "data_compra": data_ms(compra.get("order_date")),
        "data_aprovacao": data_ms(compra.get("approved_date")),
        "data_garantia_fim": data_ms(compra.get("warranty_expire_date")),
        "link_boleto": None,
        "codigo_pix": None,
        "origem_src": _texto((compra.get("tracking") or {}).get("source"), 100),
        "tipo_pagamento": _texto(pagamento.get("type"), 30),
        "recorrencia": compra.get("recurrency_number"),
        "subscriber_code": None,
        "evento_em": None,
    }


def participante_da_api(item: dict) -> dict | None:
    """/sales/users item → the buyer's contact (e-mail, name, CPF, mobile) or None."""
    for participante in item.get("users") or []:
        if participante.get("role") != "BUYER":
            continue
        usuario = participante.get("user") or {}
        cpf = next(
            (
                d.get("value")
                for d in usuario.get("documents") or []
                if str(d.get("type", "")).upper() == "CPF"
            ),
            None,
        )
        return {
            "transacao": str(item.get("transaction")),
            "email": normalizar_email(usuario.get("email")),
            "nome": _texto(usuario.get("name"), 255),
            "cpf": normalizar_cpf(cpf),
            "celular": normalizar_celular(usuario.get("cellphone") or usuario.get("phone")),
        }
    return None


def assinatura_da_api(item: dict) -> dict:
    """/subscriptions item → subscription facts of an enrolment."""
    assinante = item.get("subscriber") or {}
    return {
        "email": normalizar_email(assinante.get("email")),
        "nome": _texto(assinante.get("name"), 255),
        "hotmart_product_id": int((item.get("product") or {})["id"]),
        "subscriber_code": _texto(item.get("subscriber_code"), 50),
        "status": _texto(item.get("status"), 30),
        "data_renovacao": data_ms(item.get("date_next_charge")),
        "data_cancelamento": data_ms(item.get("end_accession_date")),
        "transacao": _texto(item.get("transaction"), 50),
    }


def modulo_da_api(hotmart_product_id: int, item: dict) -> dict:
    """Club module → modulos row."""
    return {
        "hotmart_product_id": hotmart_product_id,
        "module_id": str(item["module_id"])[:50],
        "nome": _texto(item.get("name"), 255),
        "ordem": item.get("sequence"),
    }


def dias_liberacao(pagina: dict) -> int | None:
    """Drip days of a Club page: BY_DAYS liberation of its dripping configs, if any."""
    for config in pagina.get("dripping_configs") or []:
        liberacao = config.get("liberation") or {}
        if liberacao.get("type") == "BY_DAYS" and liberacao.get("liberation_days") is not None:
            return int(liberacao["liberation_days"])
    return None


def aula_da_api(hotmart_product_id: int, module_id: str, item: dict) -> dict:
    """Club page → aulas row."""
    return {
        "hotmart_product_id": hotmart_product_id,
        "module_id": str(module_id)[:50],
        "page_id": str(item["page_id"])[:50],
        "nome": _texto(item.get("name"), 255),
        "ordem": item.get("page_order"),
        "dias_liberacao": dias_liberacao(item),
    }


def usuario_club_da_api(hotmart_product_id: int, item: dict) -> dict | None:
    """Club user → enrolment access facts (students only)."""
    email = normalizar_email(item.get("email"))
    if not email or item.get("role") not in (None, "STUDENT", "FREE_STUDENT"):
        return None
    return {
        "hotmart_product_id": hotmart_product_id,
        "email": email,
        "nome": _texto(item.get("name"), 255),
        "user_id": _texto(item.get("user_id"), 50),
        "status": _texto(item.get("status"), 30),
        "data_primeiro_acesso": data_ms(item.get("first_access_date")),
        "data_ultimo_acesso": data_ms(item.get("last_access_date")),
        "data_compra": data_ms(item.get("purchase_date")),
    }


def progresso_da_api(hotmart_product_id: int, user_id: str, licao: dict) -> dict | None:
    """Club user lesson → progresso row when completed."""
    if not licao.get("is_completed"):
        return None
    return {
        "hotmart_product_id": hotmart_product_id,
        "user_id": user_id,
        "email": None,
        "page_id": str(licao["page_id"])[:50],
        "data_conclusao": data_ms(licao.get("completed_date")),
    }
