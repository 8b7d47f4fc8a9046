"""Synthetic sales, participants, subscriptions and pending-payment details for the demo set."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from typing import Any

from services.demo_data_catalogo import DIA_MS, MAIUSCULAS, Catalogo, id_opaco, uuid_de

JANELA_DIAS = 540  # ~18 months of history before `agora`
HORA_MS = 3_600_000
ESPACO_HP = 9 * 10**13
PAGOS = ("APPROVED", "COMPLETE")
# First buyers get these fates so that every status exists even in a small data set.
VENDAS_FORCADAS = tuple(
    "APPROVED COMPLETE PRINTED_BILLET WAITING_PAYMENT EXPIRED CANCELLED REFUNDED "
    "PARTIALLY_REFUNDED CHARGEBACK PROTESTED".split()
)
ASSINATURAS_FORCADAS = tuple(
    "ACTIVE DELAYED OVERDUE CANCELLED_BY_CUSTOMER CANCELLED_BY_SELLER CANCELLED_BY_ADMIN "
    "ACTIVE".split()
)
DESTINOS_ASSINATURA = ("ACTIVE", "CANCELLED_BY_CUSTOMER", "DELAYED", "OVERDUE")
DESTINOS_ASSINATURA += ("CANCELLED_BY_SELLER", "CANCELLED_BY_ADMIN", "REEMBOLSO")
PESOS_DESTINOS = tuple(itertools.accumulate((0.58, 0.22, 0.07, 0.04, 0.03, 0.02, 0.04)))
BANDEIRAS = ("CREDIT_CARD_VISA",) * 5 + ("CREDIT_CARD_MASTERCARD",) * 4
BANDEIRAS += ("CREDIT_CARD_ELO", "CREDIT_CARD_AMEX", "CREDIT_CARD_HIPERCARD")
ORIGENS = (None,) * 6 + (
    "ig_bio",
    "ig_stories_lancamento",
    "ig_stories_lancamento",
    "yt_aula_gratis",
)
ORIGENS += ("email_lancamento", "email_carrinho", "wpp_grupo_vip", "fb_ads_lal", "google_marca")
SCKS = ("HOTMART_PRODUCT_PAGE", "HOTMART_CHECKOUT", "HOTMART_SITE", "HOTMART_PAYMENT_LINK")
RECUSAS = (
    "Transação recusada pelo banco emissor",
    "Saldo insuficiente",
    "Cartão vencido",
    "Dados do cartão inválidos",
)
SANDBOX_HOST = "https://sandbox.hotmart.invalid"


@dataclass
class Vendas:
    """Everything the sales side of the data set holds, plus who got Club access."""

    vendas: list[dict[str, Any]] = field(default_factory=list)
    participantes: list[dict[str, Any]] = field(default_factory=list)
    assinaturas: list[dict[str, Any]] = field(default_factory=list)
    pagamentos: dict[str, dict[str, Any]] = field(default_factory=dict)
    # (buyer index, product id, purchase ms, Club status ACTIVE|BLOCKED|OVERDUE)
    acessos: list[tuple[int, int, int, str]] = field(default_factory=list)


def gerar_vendas(
    rng: random.Random, catalogo: Catalogo, compradores: list[dict[str, Any]], agora_ms: int
) -> Vendas:
    """Sales in every status, renewals, subscriptions and LTV across products.

    Sales are grouped by buyer in generation order (the real API's order is not documented).
    """
    return _Gerador(rng, catalogo, compradores, agora_ms).gerar()


def _usuario(c: dict[str, Any]) -> dict[str, Any]:
    """A buyer as /sales/users shows them: the only place with phone and CPF."""
    return {
        "ucode": c["ucode"],
        "locale": "pt_BR",
        "name": c["name"],
        "cellphone": c["ddd"] + c["celular"],
        "phone": "",
        "email": c["email"],
        "documents": [{"type": "CPF", "value": c["cpf"]}],
        "address": c["address"],
    }


def _construir(chave: tuple[Any, ...], ofertas: dict[str, dict[str, Any]]) -> Any:
    """Build one shareable piece of a sale from its cache key."""
    tipo = chave[0]
    if tipo == "tracking":
        _, sck, origem = chave
        return {"source_sck": sck, "source": origem} if origem else {"source_sck": sck}
    if tipo == "payment":
        _, metodo, parcelas, forma = chave
        return {"method": metodo, "installments_number": parcelas, "type": forma}
    if tipo == "offer":
        return {"code": chave[1], "payment_mode": chave[2]}
    _, codigo, parcelas = chave  # "preco": price paid (with card interest) and Hotmart's fee
    oferta = ofertas[codigo]
    valor = oferta["price"]["value"]
    if oferta["payment_mode"] == "UNIQUE_PAYMENT" and parcelas > 1:
        valor = round(valor * (1 + 0.0249 * (parcelas - 1)), 2)  # the buyer pays the interest
    taxa = round(valor * 0.099, 2)
    preco = {"value": valor, "currency_code": "BRL"}
    return preco, {
        "total": round(taxa + 1, 2),
        "fixed": 1.0,
        "base": taxa,
        "percentage": 9.9,
        "currency_code": "BRL",
    }


class _Gerador:
    """Holds the shared state (rng, unique-code sets, outputs) of one generation run."""

    def __init__(
        self, rng: random.Random, catalogo: Catalogo, compradores: list[dict[str, Any]], agora: int
    ) -> None:
        self.rng, self.cat, self.compradores, self.agora = rng, catalogo, compradores, agora
        self.saida = Vendas()
        self.codigos: set[str] = set()
        self.produtor = {"name": catalogo.produtor["name"], "ucode": catalogo.produtor["ucode"]}
        self.produtos = {p["id"]: p for p in catalogo.produtos}
        self.refs = {p["id"]: {"id": p["id"], "name": p["name"]} for p in catalogo.produtos}
        ids = [p["id"] for p in catalogo.produtos]
        self.ids = ids
        self.unicos = [i for i in ids if catalogo.tipos[i] != "sub"]
        self.assinados = [i for i in ids if catalogo.tipos[i] == "sub"]
        self.buyer_refs: list[dict[str, Any]] = []
        # /sales/users lists every participant; one shared list per buyer (read-only).
        self.usuarios: list[list[dict[str, Any]]] = []
        self.produtor_usuario = {
            "role": "PRODUCER",
            "user": {
                "ucode": self.produtor["ucode"],
                "name": self.produtor["name"],
                "locale": "pt_BR",
            },
        }
        self.acumulados = list(itertools.accumulate(catalogo.pesos))
        self.cache: dict[tuple[Any, ...], Any] = {}
        # Step coprime with 9e13 (= 2^13 3^2 5^13), so the counter maps to distinct codes.
        self.passo = rng.randrange(10**12, 10**13) * 30 + 7
        self.deslocamento, self.contador = rng.randrange(ESPACO_HP), 0
        self.ofertas_por_codigo = {o["code"]: o for v in catalogo.ofertas.values() for o in v}
        self.pesos_ofertas = {
            pid: list(itertools.accumulate(3 if o["is_main_offer"] else 1 for o in ofertas))
            for pid, ofertas in catalogo.ofertas.items()
        }

    def gerar(self) -> Vendas:
        """Run the generation for every buyer (sales stay grouped by buyer)."""
        rng = self.rng
        for idx, c in enumerate(self.compradores):
            self.buyer_refs.append({"name": c["name"], "ucode": c["ucode"], "email": c["email"]})
            self.usuarios.append([self.produtor_usuario, {"role": "BUYER", "user": _usuario(c)}])
            sorteio = rng.random()
            quantos = 1 if sorteio < 0.7 else 2 if sorteio < 0.9 else 3 if sorteio < 0.97 else 4
            escolhidos = self._escolher(min(quantos, len(self.ids)), idx)
            inicio = self.agora - int(JANELA_DIAS * DIA_MS * rng.random() ** 1.4) - HORA_MS
            for j, produto_id in enumerate(escolhidos):
                quando = inicio + int(rng.uniform(0.05, 1) * (self.agora - inicio)) * (j > 0)
                quando = min(quando, self.agora - 2 * HORA_MS)
                forcado = None
                if j == 0 and idx < len(VENDAS_FORCADAS):
                    forcado = VENDAS_FORCADAS[idx]
                base = len(VENDAS_FORCADAS)
                if j == 0 and base <= idx < base + len(ASSINATURAS_FORCADAS):
                    forcado = ASSINATURAS_FORCADAS[idx - base]
                if self.cat.tipos[produto_id] == "sub":
                    self._assinatura(idx, produto_id, quando, forcado)
                else:
                    self._compra(idx, produto_id, quando, forcado)
        return self.saida

    def _escolher(self, quantos: int, idx: int) -> list[int]:
        """Distinct products for one buyer, popular ones more often; forced fates pin the first."""
        rng, escolhidos = self.rng, []
        base = len(VENDAS_FORCADAS)
        if idx < base:
            escolhidos.append(self.unicos[idx % len(self.unicos)])
        elif idx < base + len(ASSINATURAS_FORCADAS) and self.assinados:
            escolhidos.append(self.assinados[idx % len(self.assinados)])
        while len(escolhidos) < quantos:
            produto_id = rng.ponderado(self.ids, self.acumulados)
            if produto_id not in escolhidos:
                escolhidos.append(produto_id)
        return escolhidos

    def _codigo_hp(self) -> str:
        """A unique transaction code, HP + 14 digits: an affine permutation of a counter."""
        self.contador += 1
        return f"HP{10**13 + (self.passo * self.contador + self.deslocamento) % ESPACO_HP}"

    def _oferta(self, produto_id: int) -> dict[str, Any]:
        """The offer a buyer took: the main one most of the time."""
        ofertas = self.cat.ofertas[produto_id]
        return self.rng.ponderado(ofertas, self.pesos_ofertas[produto_id])

    def _compra(self, idx: int, produto_id: int, quando: int, forcado: str | None) -> None:
        """One single-payment sale and its fate."""
        rng, produto = self.rng, self.produtos[produto_id]
        garantia = produto["warranty_period"] * DIA_MS
        oferta = self._oferta(produto_id)
        tipo = {"PRINTED_BILLET": "BILLET", "WAITING_PAYMENT": "PIX", "EXPIRED": "BILLET"}.get(
            forcado or "", None
        )
        if tipo is None and forcado in ("CHARGEBACK", "CANCELLED"):
            tipo = "CREDIT_CARD"
        if tipo is None:
            sorteio = rng.random()
            tipo = "CREDIT_CARD" if sorteio < 0.62 else "PIX" if sorteio < 0.85 else "BILLET"
            if oferta["payment_mode"] == "SMART_INSTALLMENT":
                tipo = "CREDIT_CARD"
        status = forcado or self._destino_compra(tipo)
        if status in ("PRINTED_BILLET", "WAITING_PAYMENT"):
            quando = self.agora - int(rng.uniform(0.05, 2.5) * DIA_MS)
        elif status == "EXPIRED":
            quando = min(quando, self.agora - 5 * DIA_MS)
        if forcado == "APPROVED":
            quando = self.agora - int(rng.uniform(0.1, produto["warranty_period"] - 0.5) * DIA_MS)
        elif forcado == "COMPLETE":
            quando = self.agora - garantia - int(rng.uniform(1, 200) * DIA_MS)
        if status in PAGOS:
            status = "APPROVED" if quando + garantia > self.agora else "COMPLETE"
        self._venda(idx, produto_id, oferta, quando, status, tipo)
        if status in PAGOS + ("PROTESTED", "PARTIALLY_REFUNDED"):
            self.saida.acessos.append((idx, produto_id, quando, "ACTIVE"))
        elif status in ("REFUNDED", "CHARGEBACK"):
            self.saida.acessos.append((idx, produto_id, quando, "BLOCKED"))

    def _destino_compra(self, tipo: str) -> str:
        """Fate of a single payment: unpaid, refused, refunded, disputed or paid."""
        rng = self.rng
        sorteio = rng.random()
        if tipo != "CREDIT_CARD" and sorteio < 0.04:
            return "PRINTED_BILLET" if tipo == "BILLET" else "WAITING_PAYMENT"
        if tipo != "CREDIT_CARD" and sorteio < 0.2:
            return "EXPIRED"
        if tipo == "CREDIT_CARD" and sorteio < 0.07:
            return "CANCELLED"
        sorteio = rng.random()
        if sorteio < 0.045:
            return "REFUNDED"
        if sorteio < 0.055:
            return "PARTIALLY_REFUNDED"
        if sorteio < 0.07 and tipo == "CREDIT_CARD":
            return "CHARGEBACK"
        if sorteio < 0.075:
            return "PROTESTED"
        return "APPROVED"  # becomes COMPLETE once the warranty has passed

    def _venda(
        self,
        idx: int,
        produto_id: int,
        oferta: dict[str, Any],
        quando: int,
        status: str,
        tipo: str,
        recorrencia: int | None = None,
    ) -> dict[str, Any]:
        """Append one /sales/history item (and its postback-only payment details)."""
        rng, produto = self.rng, self.produtos[produto_id]
        codigo = self._codigo_hp()
        parcelas = 1
        if tipo == "CREDIT_CARD" and oferta["payment_mode"] == "SMART_INSTALLMENT":
            parcelas = 12
        elif tipo == "CREDIT_CARD" and oferta["price"]["value"] >= 97 and recorrencia is None:
            parcelas = rng.choice((1, 1, 1, 2, 3, 6, 10, 12))
        metodo = rng.choice(BANDEIRAS) if tipo == "CREDIT_CARD" else tipo
        compra: dict[str, Any] = {"transaction": codigo, "order_date": quando}
        if status not in ("PRINTED_BILLET", "WAITING_PAYMENT", "EXPIRED", "CANCELLED", "OVERDUE"):
            atraso = {"CREDIT_CARD": 20_000, "PIX": 600_000, "BILLET": 2 * DIA_MS}[tipo]
            compra["approved_date"] = min(quando + rng.randint(1000, atraso), self.agora - 60_000)
        compra["status"] = status
        if recorrencia is not None:
            compra["recurrency_number"] = recorrencia
        rastreio = self._compartilhado(("tracking", rng.choice(SCKS), rng.choice(ORIGENS)))
        if rng.random() < 0.05:
            rastreio = {**rastreio, "external_code": id_opaco(rng, 12, MAIUSCULAS)}
        preco, taxa = self._compartilhado(("preco", oferta["code"], parcelas))
        compra["is_subscription"] = recorrencia is not None
        compra["commission_as"] = "PRODUCER"
        compra["price"] = preco
        compra["payment"] = self._compartilhado(("payment", metodo, parcelas, tipo))
        compra["tracking"] = rastreio
        compra["warranty_expire_date"] = quando + produto["warranty_period"] * DIA_MS
        compra["offer"] = self._compartilhado(("offer", oferta["code"], oferta["payment_mode"]))
        compra["hotmart_fee"] = taxa
        self.saida.vendas.append(
            {
                "product": self.refs[produto_id],
                "buyer": self.buyer_refs[idx],
                "producer": self.produtor,
                "purchase": compra,
            }
        )
        self.saida.participantes.append(
            {"transaction": codigo, "product": self.refs[produto_id], "users": self.usuarios[idx]}
        )
        self._detalhes_pagamento(codigo, status, tipo, quando, preco["value"])
        return compra

    def _renovacao(
        self, modelo: dict[str, Any], idx: int, quando: int, status: str, n: int
    ) -> None:
        """A renewal charge: the first charge's purchase with new code, dates and status."""
        compra = modelo.copy()
        codigo = compra["transaction"] = self._codigo_hp()
        compra["order_date"] = quando
        compra["status"] = status
        compra["recurrency_number"] = n
        compra["warranty_expire_date"] = (
            quando + modelo["warranty_expire_date"] - modelo["order_date"]
        )
        if status == "OVERDUE":
            del compra["approved_date"]
            self.saida.pagamentos[codigo] = {"refusal_reason": self.rng.choice(RECUSAS)}
        else:
            compra["approved_date"] = quando + 3000 + int(self.rng.random() * 17000)
        self.saida.vendas.append({**self.saida.vendas[-1], "purchase": compra})
        self.saida.participantes.append({**self.saida.participantes[-1], "transaction": codigo})

    def _compartilhado(self, chave: tuple[Any, ...]) -> Any:
        """Read-only sub-dicts repeated across sales are built once and shared (memory, speed)."""
        valor = self.cache.get(chave)
        if valor is None:
            valor = self.cache[chave] = _construir(chave, self.ofertas_por_codigo)
        return valor

    def _detalhes_pagamento(
        self, codigo: str, status: str, tipo: str, quando: int, preco: float
    ) -> None:
        """What only a postback carries: billet link, PIX copy-and-paste code, refusal reason."""
        rng, extra = self.rng, {}
        if tipo == "BILLET":
            extra["billet_url"] = f"{SANDBOX_HOST}/billet/{codigo}"
            extra["billet_barcode"] = "".join(rng.choices("0123456789", k=47))
        elif tipo == "PIX":
            chave = uuid_de(rng)
            extra["pix_code"] = (
                f"00020101021226850014br.gov.bcb.pix2563pix.sandbox.hotmart.invalid/qr/{chave}"
                f"52040000530398654{len(f'{preco:.2f}'):02d}{preco:.2f}5802BR5907HOTMART"
                f"6009SAO PAULO62070503***6304{id_opaco(rng, 4, '0123456789ABCDEF')}"
            )
            extra["pix_qrcode"] = f"{SANDBOX_HOST}/pix/{codigo}.png"
            extra["pix_expiration_date"] = quando + DIA_MS
        if status in ("CANCELLED", "OVERDUE"):
            extra["refusal_reason"] = rng.choice(RECUSAS)
        if extra:
            self.saida.pagamentos[codigo] = extra

    def _assinatura(self, idx: int, produto_id: int, quando: int, forcado: str | None) -> None:
        """A subscription with its charges: renewals, a failed renewal, or a cancellation."""
        rng, produto = self.rng, self.produtos[produto_id]
        oferta = self._oferta(produto_id)
        plano = oferta["plan"]
        periodo = plano["recurrency_period"] * DIA_MS
        ciclos = plano.get("max_charge_cycles")
        destino = forcado or rng.ponderado(DESTINOS_ASSINATURA, PESOS_DESTINOS)
        fim: int | None = None
        if destino in ("DELAYED", "OVERDUE"):
            atraso = rng.uniform(1, 6) if destino == "DELAYED" else rng.uniform(8, 25)
            falha = self.agora - int(atraso * DIA_MS)
            limite = max(1, int((JANELA_DIAS * DIA_MS - (self.agora - falha)) // periodo))
            pagas = rng.randint(1, min(limite, (ciclos or 99) - 1, 12))
            quando = falha - pagas * periodo
            status_cobrancas = ["PAID"] * pagas + ["OVERDUE"]
            proxima = falha
        else:
            devidas = int((self.agora - quando) // periodo) + 1
            if destino == "ACTIVE" and ciclos and devidas >= ciclos:
                destino, devidas = "INACTIVE", ciclos
                fim = quando + ciclos * periodo
            pagas = devidas
            if destino.startswith("CANCELLED") or destino == "REEMBOLSO":
                pagas = 1 if destino == "REEMBOLSO" else rng.randint(1, devidas)
                fim = min(
                    quando + (pagas - 1) * periodo + int(rng.uniform(0.1, 0.95) * periodo),
                    self.agora - HORA_MS,
                )
            status_cobrancas = ["PAID"] * pagas
            if destino == "REEMBOLSO":
                destino, status_cobrancas = "CANCELLED_BY_CUSTOMER", ["REFUNDED"]
                fim = min(quando + int(rng.uniform(0.2, 6.5) * DIA_MS), self.agora - HORA_MS)
            proxima = quando + pagas * periodo
        garantia = produto["warranty_period"] * DIA_MS
        modelo: dict[str, Any] = {}
        for k, estado in enumerate(status_cobrancas):
            cobranca = quando + k * periodo + rng.randint(0, 2 * HORA_MS) * (k > 0)
            if estado == "PAID":
                estado = "APPROVED" if cobranca + garantia > self.agora else "COMPLETE"
                if k > 0 and rng.random() < 0.01:
                    estado = "REFUNDED"
            if k == 0:
                modelo = self._venda(idx, produto_id, oferta, cobranca, estado, "CREDIT_CARD", 1)
            else:
                self._renovacao(modelo, idx, cobranca, estado, k + 1)
        comprador = self.compradores[idx]
        assinatura: dict[str, Any] = {
            "subscriber_code": self._codigo_assinante(),
            "subscription_id": rng.randint(1_000_000, 9_999_999),
            "status": destino,
            "accession_date": quando,
            "request_date": quando,
            "date_next_charge": proxima,
            "trial": False,
            "transaction": modelo["transaction"],
            "plan": dict(plano),
            "product": {"id": produto_id, "name": produto["name"], "ucode": produto["ucode"]},
            "price": dict(oferta["price"]),
            "subscriber": {k: comprador[k] for k in ("name", "email", "ucode")},
        }
        if fim is not None:
            assinatura["end_accession_date"] = fim
        self.saida.assinaturas.append(assinatura)
        acesso = {"ACTIVE": "ACTIVE", "DELAYED": "OVERDUE", "OVERDUE": "OVERDUE"}.get(destino)
        if acesso is None:
            acesso = (
                "ACTIVE"
                if proxima > self.agora and status_cobrancas[0] != "REFUNDED"
                else "BLOCKED"
            )
        self.saida.acessos.append((idx, produto_id, quando, acesso))

    def _codigo_assinante(self) -> str:
        """A unique 8-character subscriber_code."""
        codigo = id_opaco(self.rng, 8, MAIUSCULAS)
        while codigo in self.codigos:
            codigo = id_opaco(self.rng, 8, MAIUSCULAS)
        self.codigos.add(codigo)
        return codigo
