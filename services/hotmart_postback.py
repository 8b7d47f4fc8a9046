"""Hotmart postbacks (webhook 2.0.0): each event applied through the mirror's upserts."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from services import hotmart_espelho as espelho
from services import hotmart_matriculas as matriculas
from services.hotmart_normalizar import (
    STATUS_POR_EVENTO,
    data_ms,
    dinheiro,
    normalizar_celular,
    normalizar_cpf,
    normalizar_email,
    normalizar_status_assinatura,
)

EVENTOS_ASSINATURA = ("SUBSCRIPTION_CANCELLATION", "SWITCH_PLAN", "UPDATE_SUBSCRIPTION_CHARGE_DATE")


class EventoInvalido(ValueError):
    """A postback whose shape we cannot apply (the raw event is kept with this reason)."""


def _exigir(valor: Any, tipo: type, onde: str) -> Any:
    if not isinstance(valor, tipo):
        raise EventoInvalido(f"campo {onde} ausente ou com tipo inválido")
    return valor


def _id_produto(produto: dict) -> int:
    """product.id arrives as a number, or as a string in CLUB_MODULE_COMPLETED."""
    bruto = produto.get("id")
    try:
        return int(str(bruto).strip())
    except (TypeError, ValueError):
        raise EventoInvalido("campo data.product.id ausente ou não numérico") from None


def instante_do_evento(evento: dict) -> Any:
    """creation_date (ms), or creationDate as CLUB_FIRST_ACCESS spells it."""
    return data_ms(evento.get("creation_date") or evento.get("creationDate"))


def aplicar(session: Session, evento: dict) -> list[UUID]:
    """Apply one postback in the caller's transaction; return the students it touched.

    A value the mirror cannot take (an array where an object or a text belongs, a text longer
    than its column, a number out of range, a required name missing) is an EventoInvalido: the
    caller answers 400 and keeps the raw event, and nothing of it is written.
    """
    try:
        return _aplicar(session, evento)
    except EventoInvalido:
        raise
    except (TypeError, AttributeError, KeyError, IndexError, ValueError, ArithmeticError) as exc:
        raise EventoInvalido(f"valor com tipo inválido no evento ({type(exc).__name__})") from exc
    except (DBAPIError, psycopg.Error) as exc:
        motivo = motivo_de_dados(exc)
        if motivo is None:
            raise
        raise EventoInvalido(motivo) from exc


def motivo_de_dados(exc: BaseException) -> str | None:
    """The reason to keep when a database error was caused by a value of the event (a
    permanent failure), else None."""
    if not isinstance(exc, DBAPIError | psycopg.Error):
        return None
    original = exc.orig if isinstance(exc, DBAPIError) else exc
    if not _falha_de_dados(original):
        return None
    primeira = str(original).splitlines()[0][:200] if original else type(exc).__name__
    return f"valor inválido no evento: {primeira}"


def _falha_de_dados(erro: BaseException | None) -> bool:
    """A database error caused by a value of the event (not by the database or by us)."""
    estado = getattr(erro, "sqlstate", None)
    if isinstance(erro, psycopg.DataError):  # too long, out of range, NUL, mixed array…
        return True
    if isinstance(erro, psycopg.ProgrammingError) and estado is None:
        return True  # psycopg could not send it (e.g. an object where a text belongs)
    return isinstance(erro, psycopg.IntegrityError) and estado in ("23502", "23514")


def _aplicar(session: Session, evento: dict) -> list[UUID]:
    tipo = _exigir(evento.get("event"), str, "event")
    dados = _exigir(evento.get("data"), dict, "data")
    quando = instante_do_evento(evento)
    if tipo in STATUS_POR_EVENTO:
        return _compra(session, tipo, dados, quando)
    if tipo == "PURCHASE_OUT_OF_SHOPPING_CART":
        _carrinho(session, str(evento.get("id")), dados, quando)
        return []
    if tipo in EVENTOS_ASSINATURA:
        return _assinatura(session, tipo, dados)
    if tipo == "CLUB_FIRST_ACCESS":
        return _primeiro_acesso(session, dados, quando)
    if tipo == "CLUB_MODULE_COMPLETED":
        return _modulo_concluido(session, dados, quando)
    return []  # e.g. ORDER_FULFILLMENT (physical goods): stored raw, nothing to mirror


def _produto(session: Session, produto: dict) -> int:
    pid = _id_produto(produto)
    espelho.upsert_produtos(session, [{"hotmart_product_id": pid, "nome": produto.get("name")}])
    return pid


def _compra(session: Session, tipo: str, dados: dict, quando) -> list[UUID]:
    return gravar_compras(session, [linhas_compra(tipo, dados, quando)])


def preparar_compra(evento: dict) -> dict[str, dict | None] | None:
    """The mirror rows of a purchase event (``gravar_compras`` writes many at once), or None
    for an event of another kind or one that does not validate (it goes through ``aplicar``,
    which says why)."""
    try:
        tipo, dados = evento.get("event"), evento.get("data")
        if tipo not in STATUS_POR_EVENTO or not isinstance(dados, dict):
            return None
        return linhas_compra(tipo, dados, instante_do_evento(evento))
    except Exception:  # noqa: BLE001 - aplicar classifies it
        return None


def linhas_compra(tipo: str, dados: dict, quando) -> dict[str, dict | None]:
    """Validate one purchase event: ``venda``, its row for ``hotmart_espelho.upsert_compras``
    (the sale with its product, offer and buyer), and ``assinatura``, its subscription row for
    ``hotmart_matriculas.upsert_assinaturas`` (None without a subscription)."""
    produto = _exigir(dados.get("product"), dict, "data.product")
    compra = _exigir(dados.get("purchase"), dict, "data.purchase")
    comprador = _exigir(dados.get("buyer"), dict, "data.buyer")
    transacao = _exigir(compra.get("transaction"), str, "data.purchase.transaction")
    email = normalizar_email(comprador.get("email"))
    if not email:
        raise EventoInvalido("campo data.buyer.email ausente ou inválido")
    pid = _id_produto(produto)
    cpf = (
        normalizar_cpf(comprador.get("document"))
        if str(comprador.get("document_type", "CPF")).upper() == "CPF"
        else None
    )
    pagamento = compra.get("payment") or {}
    assinatura = dados.get("subscription") or {}
    subscriber = (assinatura.get("subscriber") or {}).get("code")
    preco = compra.get("price") or {}
    venda = {
        "id": transacao[:50],
        "email": email,
        "cpf": cpf,
        "hotmart_product_id": pid,
        "status": STATUS_POR_EVENTO[tipo],
        "status_hotmart": compra.get("status"),
        "valor_pago": dinheiro(preco.get("value")),
        "data_compra": data_ms(compra.get("order_date")),
        "data_aprovacao": data_ms(compra.get("approved_date")),
        "data_garantia_fim": data_ms(produto.get("warranty_date")),
        "link_boleto": pagamento.get("billet_url"),
        "codigo_pix": pagamento.get("pix_code"),
        "origem_src": (compra.get("origin") or {}).get("src"),
        "tipo_pagamento": pagamento.get("type"),
        "recorrencia": compra.get("recurrence_number"),
        "subscriber_code": subscriber,
        "evento_em": quando,
        "nome": comprador.get("name"),
        "celular": normalizar_celular(
            comprador.get("checkout_phone_code"), comprador.get("checkout_phone")
        ),
        "produto_nome": produto.get("name"),
    }
    oferta = compra.get("offer") or {}
    if oferta.get("code"):
        preco_oferta = compra.get("original_offer_price") or compra.get("full_price") or preco
        venda.update(
            offer_code=str(oferta["code"])[:50],
            oferta_nome=oferta.get("name"),
            oferta_preco=dinheiro(preco_oferta.get("value")),
            moeda=preco_oferta.get("currency_value") or preco.get("currency_value"),
        )
    linha_assinatura = None
    if assinatura:
        linha_assinatura = {
            "email": email,
            "hotmart_product_id": pid,
            "subscriber_code": subscriber,
            "status": normalizar_status_assinatura(assinatura.get("status")),
            "data_renovacao": data_ms(compra.get("date_next_charge")),
            "data_cancelamento": None,
        }
    return {"venda": venda, "assinatura": linha_assinatura}


def gravar_compras(session: Session, compras: list[dict[str, dict | None]]) -> list[UUID]:
    """Write several purchase events (``linhas_compra``) in one pass of the mirror
    (``hotmart_espelho.upsert_compras``), then their subscriptions, enrolments, access and LTV.
    The caller puts at most one event per transaction and per subscription in one call (their
    lifecycle rules compare with what is stored, not within the call)."""
    vendas = [compra["venda"] for compra in compras]
    assinaturas = [compra["assinatura"] for compra in compras if compra["assinatura"]]
    if assinaturas:  # subscriptions are written between the sales and the enrolments
        ids = espelho.upsert_compras(session, vendas)
        matriculas.upsert_assinaturas(session, assinaturas)
        return _consolidar(session, ids)
    # The same as _consolidar, in the mirror's pipeline (no round trip of its own).
    alunos = espelho.IDS_DA_STAGING
    return espelho.upsert_compras(
        session,
        vendas,
        depois=[
            matriculas.sql_matriculas_das_transacoes(alunos),
            matriculas.sql_status_acesso(alunos),
            espelho.sql_recalcular_ltv(alunos),
        ],
    )


def _consolidar(session: Session, ids: list[UUID]) -> list[UUID]:
    """Enrolments, access status and LTV of the touched students."""
    matriculas.matriculas_das_transacoes(session, ids)
    matriculas.recalcular_status_acesso(session, ids)
    espelho.recalcular_ltv(session, ids)
    return ids


def _carrinho(session: Session, evento_id: str, dados: dict, quando) -> None:
    pid = _produto(session, _exigir(dados.get("product"), dict, "data.product"))
    comprador = dados.get("buyer") or {}
    email = normalizar_email(comprador.get("email"))
    # Someone anonymised on request (services.lgpd) leaves the cart without name, e-mail and
    # phone: the product still counts it, nobody can be contacted or recognised through it.
    session.execute(
        text(
            f"""
            INSERT INTO carrinhos_abandonados (evento_id, produto_id, aluno_id, nome, email,
                                               celular, hotmart_offer_code, criado_em)
            SELECT :evento_id, p.id, (SELECT a.id FROM alunos a WHERE lower(a.email) = :email),
                   CASE WHEN NOT x.anonimizado THEN left(:nome, 255) END,
                   CASE WHEN NOT x.anonimizado THEN :email END,
                   CASE WHEN NOT x.anonimizado THEN :celular END,
                   left(:oferta, 50), coalesce(:quando, now())
              FROM produtos p,
                   LATERAL (SELECT EXISTS (SELECT 1 FROM lgpd_anonimizados d
                                            WHERE d.hash_email = {espelho.sql_hash_email(":email")})
                           ) AS x(anonimizado)
             WHERE p.hotmart_product_id = :pid
            ON CONFLICT (evento_id) DO NOTHING
            """
        ),
        {
            "evento_id": evento_id,
            "pid": pid,
            "email": email,
            "nome": comprador.get("name"),
            "celular": normalizar_celular(None, comprador.get("phone")),
            "oferta": (dados.get("offer") or {}).get("code"),
            "quando": quando,
        },
    )


def _assinatura(session: Session, tipo: str, dados: dict) -> list[UUID]:
    if tipo == "SUBSCRIPTION_CANCELLATION":
        assinante = _exigir(dados.get("subscriber"), dict, "data.subscriber")
        linha = {
            "email": normalizar_email(assinante.get("email")),
            "nome": assinante.get("name"),
            "hotmart_product_id": _produto(
                session, _exigir(dados.get("product"), dict, "data.product")
            ),
            "subscriber_code": assinante.get("code"),
            "status": "CANCELLED_BY_CUSTOMER",
            "data_renovacao": data_ms(dados.get("date_next_charge")),
            "data_cancelamento": data_ms(dados.get("cancellation_date")),
        }
    else:
        assinatura = _exigir(dados.get("subscription"), dict, "data.subscription")
        produto = _exigir(assinatura.get("product"), dict, "data.subscription.product")
        pessoa = assinatura.get("user") or dados.get("subscriber") or {}
        linha = {
            "email": normalizar_email(pessoa.get("email")),
            "nome": pessoa.get("name"),
            "hotmart_product_id": _produto(session, produto),
            "subscriber_code": assinatura.get("subscriber_code")
            or (dados.get("subscriber") or {}).get("code"),
            "status": normalizar_status_assinatura(assinatura.get("status")),
            "data_renovacao": data_ms(assinatura.get("date_next_charge")),
            "data_cancelamento": None,
        }
    if not linha["email"]:
        raise EventoInvalido("e-mail do assinante ausente")
    ids = matriculas.upsert_assinaturas(session, [linha])
    matriculas.recalcular_status_acesso(session, ids)
    return ids


def _pessoa_club(dados: dict) -> tuple[int, str, str | None]:
    usuario = _exigir(dados.get("user"), dict, "data.user")
    email = normalizar_email(usuario.get("email"))
    if not email:
        raise EventoInvalido("campo data.user.email ausente ou inválido")
    return (
        _id_produto(_exigir(dados.get("product"), dict, "data.product")),
        email,
        usuario.get("name"),
    )


def _primeiro_acesso(session: Session, dados: dict, quando) -> list[UUID]:
    pid, email, nome = _pessoa_club(dados)
    _produto(session, dados["product"])
    return matriculas.upsert_usuarios_club(
        session,
        [
            {
                "hotmart_product_id": pid,
                "email": email,
                "nome": nome,
                "data_primeiro_acesso": quando,
                "data_ultimo_acesso": quando,
            }
        ],
    )


def _modulo_concluido(session: Session, dados: dict, quando) -> list[UUID]:
    pid, email, nome = _pessoa_club(dados)
    modulo = _exigir(dados.get("module"), dict, "data.module")
    _produto(session, dados["product"])
    ids = matriculas.upsert_usuarios_club(
        session,
        [
            {
                "hotmart_product_id": pid,
                "email": email,
                "nome": nome,
                "data_ultimo_acesso": quando,
            }
        ],
    )
    # Every lesson of the module counts as completed; known completion dates are kept.
    session.execute(
        text(
            """
            INSERT INTO progresso_aulas (matricula_id, aula_id, data_conclusao)
            SELECT m.id, a.id, coalesce(:quando, now())
              FROM produtos p
              JOIN matriculas m ON m.produto_id = p.id AND m.aluno_id = ANY(:ids)
              JOIN modulos mo ON mo.produto_id = p.id AND mo.hotmart_module_id = :modulo
              JOIN aulas a ON a.modulo_id = mo.id
             WHERE p.hotmart_product_id = :pid
            ON CONFLICT (matricula_id, aula_id) DO NOTHING
            """
        ),
        {"quando": quando, "ids": ids, "modulo": str(modulo.get("id")), "pid": pid},
    )
    return ids
