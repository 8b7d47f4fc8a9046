"""Meta webhooks of the sandbox: signature, body builders, seeded status plans and delivery.

Bodies are serialised the way Meta sends them (compact, non-ASCII and "/" escaped), so a
receiver that re-serialises the JSON before checking `X-Hub-Signature-256` fails, as it would
in production (reference §A4: "verify before parsing, never re-serialise").
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

CABECALHO_ASSINATURA = "X-Hub-Signature-256"
OBJETO = "whatsapp_business_account"
HREF_ERROS = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"

# Meta error codes the sandbox can answer: code -> (HTTP status, title). Reference §A2.
ERROS: dict[int, tuple[int, str]] = {
    0: (401, "AuthException"),
    1: (500, "API Unknown"),
    2: (503, "API Service"),
    3: (403, "API Method"),
    4: (400, "API Too Many Calls"),
    10: (403, "Permission Denied"),
    100: (400, "Invalid parameter"),
    190: (401, "Access token has expired"),
    200: (403, "API Permission"),
    368: (403, "Temporarily blocked for policies violations"),
    2500: (400, "Unknown path components"),
    80007: (400, "Rate limit issues"),
    130429: (400, "Rate limit hit"),
    130472: (400, "User's number is part of an experiment"),
    130497: (403, "Business account is restricted from messaging users in this country"),
    131000: (500, "Something went wrong"),
    131005: (403, "Access denied"),
    131008: (400, "Required parameter is missing"),
    131009: (400, "Parameter value is not valid"),
    131016: (503, "Service unavailable"),
    131021: (400, "Recipient cannot be sender"),
    131026: (400, "Message undeliverable"),
    131030: (400, "Recipient phone number not in allowed list"),
    131031: (403, "Business Account locked"),
    131042: (400, "Business eligibility payment issue"),
    131047: (400, "Re-engagement message"),
    131048: (400, "Spam rate limit hit"),
    131049: (400, "Meta chose not to deliver"),
    131050: (400, "User stopped marketing messages"),
    131051: (400, "Unsupported message type"),
    131056: (400, "(Business Account, Consumer Account) pair rate limit hit"),
    131057: (503, "Account in maintenance mode"),
    132000: (400, "Number of parameters does not match the expected number of params"),
    132001: (400, "Template does not exist"),
    132005: (400, "Translated text too long"),
    132007: (400, "Template Format Character Policy Violated"),
    132012: (400, "Template Parameter Format Mismatch"),
    132015: (400, "Template is Paused"),
    132016: (400, "Template is Disabled"),
    133010: (400, "Phone number not registered"),
}
DETALHES_ASSINCRONOS = {
    131026: "Message Undeliverable: the recipient is not on WhatsApp or cannot receive it.",
    131047: "Message failed to send because more than 24 hours have passed since the customer "
    "last replied to this number.",
    131049: "This message was not delivered to maintain healthy ecosystem engagement.",
}
# Seeded delivery scenarios (reference §A4 "Ordering & duplicates") and their default weights.
CENARIOS: dict[str, float] = {
    "lido": 0.45,
    "entregue": 0.15,
    "fora_de_ordem": 0.10,
    "duplicado": 0.10,
    "sem_delivered": 0.08,
    "falha_131026": 0.06,
    "falha_131047": 0.06,
}


def assinar(corpo: bytes, app_secret: str) -> str:
    """The X-Hub-Signature-256 header value: sha256=HMAC-SHA256(app secret, raw body)."""
    return "sha256=" + hmac.new(app_secret.encode(), corpo, hashlib.sha256).hexdigest()


def serializar(corpo: dict[str, Any]) -> bytes:
    """Compact JSON with \\uXXXX and \\/ escapes, like Meta's deliveries."""
    return json.dumps(corpo, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/").encode()


def _envelope(waba_id: str, campo: str, valor: dict[str, Any], tempo: int | None = None) -> dict:
    entrada: dict[str, Any] = {"id": waba_id, "changes": [{"field": campo, "value": valor}]}
    if tempo is not None:
        entrada["time"] = tempo
    return {"object": OBJETO, "entry": [entrada]}


def _metadados(telefone_exibicao: str, phone_number_id: str) -> dict[str, str]:
    return {"display_phone_number": telefone_exibicao, "phone_number_id": phone_number_id}


def erro_status(codigo: int, detalhes: str | None = None) -> dict[str, Any]:
    """One statuses[].errors[] item."""
    titulo = ERROS.get(codigo, (400, "Error"))[1]
    return {
        "code": codigo,
        "title": titulo,
        "message": titulo,
        "error_data": {"details": detalhes or DETALHES_ASSINCRONOS.get(codigo, titulo)},
        "href": HREF_ERROS,
    }


def corpo_status(
    *,
    waba_id: str,
    phone_number_id: str,
    telefone_exibicao: str,
    wamid: str,
    status: str,
    timestamp: int,
    recipient_id: str,
    categoria: str = "utility",
    conversa_id: str | None = None,
    expira_em: int | None = None,
    codigo_erro: int | None = None,
) -> dict[str, Any]:
    """A `messages` webhook with one statuses[] item (sent|delivered|read|failed)."""
    item: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": str(timestamp),
        "recipient_id": recipient_id,
    }
    if status in ("sent", "delivered"):
        conversa: dict[str, Any] = {"id": conversa_id or wamid[-32:], "origin": {"type": categoria}}
        if expira_em is not None:
            conversa["expiration_timestamp"] = str(expira_em)
        item["conversation"] = conversa
        item["pricing"] = {
            "billable": True,
            "pricing_model": "PMP",
            "category": categoria,
            "type": "regular",
        }
    if status == "failed":
        item["errors"] = [erro_status(codigo_erro or 131026)]
    valor = {
        "messaging_product": "whatsapp",
        "metadata": _metadados(telefone_exibicao, phone_number_id),
        "statuses": [item],
    }
    return _envelope(waba_id, "messages", valor)


def corpo_inbound(
    *,
    waba_id: str,
    phone_number_id: str,
    telefone_exibicao: str,
    de: str,
    texto: str,
    wamid: str,
    timestamp: int,
    nome: str = "Aluno",
    contexto: dict[str, str] | None = None,
    botao_payload: str | None = None,
) -> dict[str, Any]:
    """A `messages` webhook with one inbound text (or quick-reply button) from a student."""
    mensagem: dict[str, Any] = {"from": de, "id": wamid, "timestamp": str(timestamp)}
    if contexto:
        mensagem["context"] = contexto
    if botao_payload is None:
        mensagem.update(type="text", text={"body": texto})
    else:
        mensagem.update(type="button", button={"payload": botao_payload, "text": texto})
    valor = {
        "messaging_product": "whatsapp",
        "metadata": _metadados(telefone_exibicao, phone_number_id),
        "contacts": [{"profile": {"name": nome}, "wa_id": de}],
        "messages": [mensagem],
    }
    return _envelope(waba_id, "messages", valor)


def corpo_status_template(
    *,
    waba_id: str,
    template: dict[str, Any],
    evento: str,
    timestamp: int,
    motivo: str | None = None,
) -> dict[str, Any]:
    """A `message_template_status_update` webhook (message_template_id is a number there)."""
    valor: dict[str, Any] = {
        "event": evento,
        "message_template_id": int(template["id"]),
        "message_template_name": template["name"],
        "message_template_language": template["language"],
        "reason": motivo or ("NONE" if evento != "REJECTED" else template.get("rejected_reason")),
        "message_template_category": template.get("category"),
    }
    if evento == "DISABLED":
        valor["disable_info"] = {"disable_date": timestamp}
    if evento == "PAUSED":
        valor["other_info"] = {"title": "FIRST_PAUSE", "description": "Paused for 3 hours."}
    return _envelope(waba_id, "message_template_status_update", valor, tempo=timestamp)


@dataclass(frozen=True)
class Passo:
    """One planned status post: its status, the failure code and seconds after the send."""

    status: str
    apos_s: int
    codigo_erro: int | None = None


def planejar_statuses(
    seed: int, ordinal: int, pesos: dict[str, float] | None = None, cenario: str | None = None
) -> tuple[str, list[Passo]]:
    """The scenario and status sequence of the `ordinal`-th accepted send; pure and seeded."""
    rng = random.Random(f"meta-sandbox:{seed}:{ordinal}")
    pesos = pesos or CENARIOS
    if cenario is None:
        cenario = rng.choices(list(pesos), weights=list(pesos.values()))[0]
    entrega = rng.randint(1, 5)
    leitura = entrega + rng.randint(5, 300)
    enviado, entregue, lido = Passo("sent", 0), Passo("delivered", entrega), Passo("read", leitura)
    planos = {
        "lido": [enviado, entregue, lido],
        "entregue": [enviado, entregue],
        "fora_de_ordem": [enviado, lido, entregue],
        "sem_delivered": [enviado, lido],
        "falha_131026": [Passo("failed", 1, 131026)],
        "falha_131047": [Passo("failed", 1, 131047)],
    }
    if cenario == "duplicado":
        passos = [enviado, entregue, lido]
        repetido = rng.randrange(len(passos))
        passos.insert(repetido + 1, passos[repetido])
        return cenario, passos
    if cenario not in planos:
        raise ValueError(f"cenário de entrega desconhecido: {cenario!r}")
    return cenario, planos[cenario]


@dataclass
class Entrega:
    """One webhook POST attempt and its outcome."""

    url: str
    corpo: bytes
    assinatura: str
    tentativa: int
    status_http: int | None = None
    erro: str | None = None
    json: dict[str, Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.json = json.loads(self.corpo)


class Entregador:
    """Posts signed webhooks from a background thread, in due order, retrying non-2xx answers.

    `agendar` returns at once; `aguardar(timeout)` blocks until nothing is queued or in flight.
    `postadas` records every attempt (successful or not) in posting order.
    """

    def __init__(
        self,
        app_secret: str,
        *,
        max_tentativas: int = 3,
        espera_reentrega_s: float = 0.05,
        timeout: float = 5.0,
        relogio: Callable[[], float] = time.monotonic,
    ) -> None:
        self._segredo = app_secret
        self.max_tentativas, self.espera_reentrega_s = max_tentativas, espera_reentrega_s
        self._timeout, self._relogio = timeout, relogio
        self._fila: list[tuple[float, int, str, bytes, int]] = []
        self._ordem = itertools.count()
        self._cond = threading.Condition()
        self._em_voo = 0
        self._fechado = False
        self._linha: threading.Thread | None = None
        self.postadas: list[Entrega] = []

    def agendar(self, url: str, corpo: dict[str, Any], atraso_s: float = 0.0) -> bytes:
        """Queue one body for `url` after `atraso_s` seconds; returns the exact bytes to be sent."""
        bruto = serializar(corpo)
        self._colocar(url, bruto, atraso_s, 1)
        return bruto

    def _colocar(self, url: str, bruto: bytes, atraso_s: float, tentativa: int) -> None:
        with self._cond:
            momento = self._relogio() + atraso_s
            heapq.heappush(self._fila, (momento, next(self._ordem), url, bruto, tentativa))
            if self._linha is None or not self._linha.is_alive():
                self._fechado = False
                self._linha = threading.Thread(
                    target=self._laco, name="meta-sandbox-webhooks", daemon=True
                )
                self._linha.start()
            self._cond.notify_all()

    def _laco(self) -> None:
        with httpx.Client(timeout=self._timeout) as http:
            while True:
                with self._cond:
                    while not self._fechado:
                        if self._fila:
                            espera = self._fila[0][0] - self._relogio()
                            if espera <= 0:
                                break
                            self._cond.wait(espera)
                        else:
                            self._cond.wait()
                    if self._fechado:
                        return
                    _, _, url, bruto, tentativa = heapq.heappop(self._fila)
                    self._em_voo += 1
                try:
                    self._postar(http, url, bruto, tentativa)
                finally:
                    with self._cond:
                        self._em_voo -= 1
                        self._cond.notify_all()

    def _postar(self, http: httpx.Client, url: str, bruto: bytes, tentativa: int) -> None:
        assinatura = assinar(bruto, self._segredo)
        entrega = Entrega(url, bruto, assinatura, tentativa)
        cabecalhos = {
            "Content-Type": "application/json",
            CABECALHO_ASSINATURA: assinatura,
            "User-Agent": "facebookexternalua",
        }
        try:
            resposta = http.post(url, content=bruto, headers=cabecalhos)
            entrega.status_http = resposta.status_code
            ok = resposta.is_success
        except httpx.HTTPError as falha:
            entrega.erro, ok = f"{type(falha).__name__}: {falha}", False
        with self._cond:
            self.postadas.append(entrega)
        if not ok and tentativa < self.max_tentativas:
            # Meta retries non-200 answers (for days); here a few quick tries are enough.
            espera = self.espera_reentrega_s * 2 ** (tentativa - 1)
            self._colocar(url, bruto, espera, tentativa + 1)

    def aguardar(self, timeout: float = 5.0) -> bool:
        """Block until every queued webhook was posted (retries included); False on timeout."""
        limite = time.monotonic() + timeout
        with self._cond:
            while self._fila or self._em_voo:
                restante = limite - time.monotonic()
                if restante <= 0:
                    return False
                self._cond.wait(restante)
        return True

    def fechar(self) -> None:
        """Stop the delivery thread, dropping what is still queued."""
        with self._cond:
            self._fechado = True
            self._fila.clear()
            self._cond.notify_all()
            linha = self._linha
        if linha is not None and linha is not threading.current_thread():
            linha.join(timeout=self._timeout + 1)


def desafiar_callback(
    url: str, verify_token: str, *, challenge: str = "1158201444", timeout: float = 5.0
) -> httpx.Response:
    """Meta's handshake: GET url?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…

    A verifying receiver answers 200 with the challenge as text/plain, else 403.
    """
    params = {"hub.mode": "subscribe", "hub.verify_token": verify_token, "hub.challenge": challenge}
    with httpx.Client(timeout=timeout) as http:
        return http.get(url, params=params)
