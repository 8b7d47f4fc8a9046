"""Request checks and per-instance state of the Meta sandbox: errors, faults, throughput."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import random
import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from services.sandbox.meta_templates import placeholders, texto_do_corpo
from services.sandbox.meta_webhooks import ERROS

VERSAO = re.compile(r"^v\d+\.\d+$")
TAMANHO_MAXIMO_CORPO = 1024
# Reference §A6: DDDs where old 8-digit WhatsApp ids do not occur.
DDDS_NOVE_ANTIGO = frozenset({11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 24, 27, 28})


class ErroMeta(Exception):
    """An error answer in Graph's shape; HTTP status and title come from ERROS unless given."""

    def __init__(
        self,
        codigo: int,
        detalhes: str | None = None,
        *,
        mensagem: str | None = None,
        subcodigo: int | None = None,
        tipo: str = "OAuthException",
        status: int | None = None,
    ) -> None:
        padrao_status, titulo = ERROS.get(codigo, (400, "Error"))
        super().__init__(f"({codigo}) {titulo}")
        self.codigo, self.detalhes, self.subcodigo, self.tipo = codigo, detalhes, subcodigo, tipo
        self.mensagem = mensagem or f"(#{codigo}) {titulo}"
        self.status = status or padrao_status

    def resposta(self) -> JSONResponse:
        erro: dict[str, Any] = {"message": self.mensagem, "type": self.tipo, "code": self.codigo}
        if self.detalhes:
            erro["error_data"] = {"messaging_product": "whatsapp", "details": self.detalhes}
        if self.subcodigo is not None:
            erro["error_subcode"] = self.subcodigo
        erro["fbtrace_id"] = "A" + hashlib.sha1(self.mensagem.encode()).hexdigest()[:22]
        return JSONResponse({"error": erro}, status_code=self.status)


@dataclass
class FalhaRoteirizada:
    """One scripted failure: the next `vezes` requests whose path contains `trecho`.

    With `atraso_s` or `cortar` (and no code/status) the request is served normally — a send
    is accepted and logged — and only its answer is late, or cut off halfway.
    """

    trecho: str
    codigo: int | None
    status: int | None
    vezes: int
    atraso_s: float = 0.0
    cortar: bool = False
    depois: int = 0
    erro_apos_aceite: int | None = None

    @property
    def so_na_resposta(self) -> bool:
        return self.codigo is None and self.status is None


class Falhas:
    """Scripted failures as app.state.falhas: `adicionar("/messages", codigo=131000, vezes=2)`.

    `codigo=None, status=502` answers a bare non-JSON 502 (a proxy in the way); `depois=5` lets
    the first 5 matching requests through first (several rules make separate bursts).
    `adicionar_lentidao("/messages", atraso_s=2)` accepts the send and answers 2 s later (a client
    with a shorter timeout cannot know it went out); `adicionar_corte` accepts it and drops the
    connection halfway through the answer; `adicionar_aceite_com_erro` accepts it and answers a
    bare 502.
    """

    def __init__(self) -> None:
        self._regras: list[FalhaRoteirizada] = []
        self._lock = threading.Lock()

    def adicionar(
        self,
        trecho: str,
        *,
        codigo: int | None = 131000,
        status: int | None = None,
        vezes: int = 1,
        depois: int = 0,
    ) -> None:
        """Script `vezes` consecutive matching requests (after `depois` of them) to fail."""
        with self._lock:
            self._regras.append(FalhaRoteirizada(trecho, codigo, status, vezes, depois=depois))

    def adicionar_lentidao(
        self, trecho: str, *, atraso_s: float, vezes: int = 1, depois: int = 0
    ) -> None:
        """Serve `vezes` matching requests (after `depois`), answering `atraso_s` seconds late."""
        with self._lock:
            self._regras.append(
                FalhaRoteirizada(trecho, None, None, vezes, atraso_s=atraso_s, depois=depois)
            )

    def adicionar_corte(self, trecho: str, *, vezes: int = 1, depois: int = 0) -> None:
        """Serve `vezes` matching requests (after `depois`), then drop the connection mid-answer."""
        with self._lock:
            self._regras.append(
                FalhaRoteirizada(trecho, None, None, vezes, cortar=True, depois=depois)
            )

    def adicionar_aceite_com_erro(
        self, trecho: str, *, status: int = 502, vezes: int = 1, depois: int = 0
    ) -> None:
        """Serve `vezes` matching requests (after `depois`) — a send is accepted and logged —
        but answer a bare `status` (a gateway that gave up after Meta took the request)."""
        with self._lock:
            self._regras.append(
                FalhaRoteirizada(trecho, None, None, vezes, depois=depois, erro_apos_aceite=status)
            )

    def pendentes(self) -> int:
        """How many scripted uses are still to come."""
        with self._lock:
            return sum(regra.vezes for regra in self._regras)

    def consumir(self, caminho: str) -> FalhaRoteirizada | None:
        """Take one use of the first due matching failure (each rule counts down `depois`)."""
        with self._lock:
            escolhida = None
            for regra in self._regras:
                if regra.trecho not in caminho or regra.vezes <= 0:
                    continue
                if regra.depois > 0:
                    regra.depois -= 1
                elif escolhida is None:
                    escolhida = regra
            if escolhida is not None:
                escolhida.vezes -= 1
                if not escolhida.vezes:
                    self._regras.remove(escolhida)
            return escolhida


class Vazao:
    """Accepted sends in the last second, against `msg_por_segundo` (None = unlimited)."""

    def __init__(self, por_segundo: float | None, relogio: Callable[[], float]) -> None:
        self.por_segundo, self.relogio = por_segundo, relogio
        self._envios: deque[float] = deque()
        self._lock = threading.Lock()

    def reservar(self) -> bool:
        """Count one send now, unless the number's throughput is already used up."""
        with self._lock:
            agora = self.relogio()
            while self._envios and agora - self._envios[0] >= 1.0:
                self._envios.popleft()
            if self.por_segundo is not None and len(self._envios) >= self.por_segundo:
                return False
            self._envios.append(agora)
            return True


class Estado:
    """Everything a sandbox instance holds (options from criar_app plus the send log)."""

    def __init__(self, **opcoes: Any) -> None:
        self.__dict__.update(opcoes)
        self.lock = threading.Lock()
        self.envios: list[dict[str, Any]] = []
        self.inbound = 0
        self.token_expirado = False

    def wamid(self, wa_id: str, ordinal: int) -> str:
        """A unique, seed-stable wamid shaped like Meta's (base64 carrying the recipient)."""
        marca = hashlib.sha1(f"{self.seed}:{ordinal}:{wa_id}".encode()).hexdigest()[:18].upper()
        numero = wa_id.encode()[:255]
        bruto = b"\x1c\x18" + bytes([len(numero)]) + numero + b"\x15\x02\x00\x11\x18\x12"
        return "wamid." + base64.b64encode(bruto + marca.encode() + b"\x00").decode()

    def wa_id(self, para: str) -> str:
        """Meta's wa_id for a `to`: digits; some old Brazilian accounts lack the ninth digit."""
        digitos = para.lstrip("+")
        if len(digitos) == 13 and digitos.startswith("55") and digitos[4] == "9":
            if int(digitos[2:4]) not in DDDS_NOVE_ANTIGO:
                sorteio = random.Random(f"wa_id:{self.seed}:{digitos}").random()
                if sorteio < self.fracao_wa_id_sem_nove:
                    return digitos[:4] + digitos[5:]
        return digitos


def _token_valido(request: Request, esperado: str) -> bool:
    tipo, _, token = request.headers.get("authorization", "").partition(" ")
    if tipo.lower() != "bearer":
        token = request.query_params.get("access_token", "")
    return hmac.compare_digest(token.strip().encode(), esperado.encode())


def autorizar(request: Request, estado: Estado, objeto_esperado: str) -> None:
    """Token (190), path version (2500) and object id (100/33), in Graph's order."""
    if not _token_valido(request, estado.access_token):
        raise ErroMeta(190, mensagem="Invalid OAuth access token - Cannot parse access token")
    if estado.token_expirado:
        mensagem = "Error validating access token: Session has expired."
        raise ErroMeta(190, mensagem=mensagem, subcodigo=463)
    if not VERSAO.match(request.path_params["versao"]):
        raise ErroMeta(2500, mensagem=f"Unknown path components: {request.url.path}")
    objeto = request.path_params["objeto"]
    if objeto != objeto_esperado:
        mensagem = (
            f"Unsupported post request. Object with ID '{objeto}' does not exist, cannot be "
            "loaded due to missing permissions, or does not support this operation."
        )
        raise ErroMeta(100, mensagem=mensagem, subcodigo=33, tipo="GraphMethodException")
    falha = estado.falhas.consumir(request.url.path)
    if falha is not None:
        if falha.so_na_resposta:
            request.state.falha_na_resposta = falha  # applied by responder()
            return
        if falha.codigo is None:
            raise HTTPException(falha.status or 502)
        raise ErroMeta(falha.codigo, "Sandbox: falha roteirizada", status=falha.status)


class ConexaoCortada(Exception):
    """Raised after a partial body: the server aborts the connection (a scripted fault)."""


class _RespostaCortada(JSONResponse):
    """Headers with the full Content-Length, half of the body, then the connection dropped."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        metade = self.body[: len(self.body) // 2]
        await send({"type": "http.response.body", "body": metade, "more_body": True})
        raise ConexaoCortada("Sandbox: conexão derrubada no meio da resposta")


async def responder(request: Request, corpo: dict[str, Any]) -> Response:
    """The JSON answer, late or cut off when a scripted fault says so."""
    falha: FalhaRoteirizada | None = getattr(request.state, "falha_na_resposta", None)
    if falha is None:
        return JSONResponse(corpo)
    if falha.atraso_s:
        await asyncio.sleep(falha.atraso_s)
    if falha.erro_apos_aceite:
        status = falha.erro_apos_aceite
        return PlainTextResponse(f"{status} Sandbox upstream error", status_code=status)
    return _RespostaCortada(corpo) if falha.cortar else JSONResponse(corpo)


def _parametros(template: dict[str, Any]) -> list[dict[str, Any]]:
    componentes = template.get("components")
    if componentes is None:
        return []
    if not isinstance(componentes, list):
        raise ErroMeta(131009, "components must be an array")
    corpo: list[dict[str, Any]] = []
    for componente in componentes:
        if not isinstance(componente, dict) or not isinstance(componente.get("type"), str):
            raise ErroMeta(131009, "each component needs a type")
        if componente["type"].lower() == "body":
            parametros = componente.get("parameters") or []
            if not isinstance(parametros, list):
                raise ErroMeta(131009, "body parameters must be an array")
            corpo.extend(parametros)
    return corpo


def validar_template(estado: Estado, pedido: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The template of a send, checked as Meta does; returns it and the rendered body text."""
    template = pedido.get("template")
    if not isinstance(template, dict) or not template.get("name"):
        raise ErroMeta(131008, "template.name is required")
    idioma = (template.get("language") or {}).get("code")
    if not idioma:
        raise ErroMeta(131008, "template.language.code is required")
    nome = template["name"]
    modelo = estado.catalogo.obter(nome, idioma)
    if modelo is None or modelo["status"] not in ("APPROVED", "PAUSED", "DISABLED"):
        raise ErroMeta(
            132001,
            f"template name ({nome}) does not exist in {idioma}",
            mensagem="(#132001) Template name does not exist in the translation",
        )
    if modelo["status"] == "PAUSED":
        raise ErroMeta(132015, f"template ({nome}) is paused")
    if modelo["status"] == "DISABLED":
        raise ErroMeta(132016, f"template ({nome}) is disabled")
    parametros = _parametros(template)
    esperados = placeholders(modelo)
    for parametro in parametros:
        if not isinstance(parametro, dict) or parametro.get("type") != "text":
            raise ErroMeta(132012, "body parameters of this template must be of type text")
        if not isinstance(parametro.get("text"), str) or not parametro["text"]:
            raise ErroMeta(131008, "body parameter text is required")
    if len(parametros) != len(esperados):
        raise ErroMeta(
            132000,
            f"body: number of localizable_params ({len(parametros)}) does not match the "
            f"expected number of params ({len(esperados)})",
        )
    if modelo.get("parameter_format") == "NAMED":
        nomes = [p.get("parameter_name") for p in parametros]
        if sorted(map(str, nomes)) != sorted(esperados):
            raise ErroMeta(132012, f"named parameters must be {esperados}, got {nomes}")
        valores = {p["parameter_name"]: p["text"] for p in parametros}
    else:
        valores = {str(i): p["text"] for i, p in enumerate(parametros, start=1)}
    for valor in valores.values():
        if re.search(r"[\n\t]| {5,}", valor):
            raise ErroMeta(
                132007, "Param text cannot have new-line/tab characters or more than 4 spaces"
            )
    texto = re.sub(
        r"\{\{\s*([0-9]+|[a-z_][a-z0-9_]*)\s*\}\}",
        lambda m: valores.get(m.group(1), ""),
        texto_do_corpo(modelo),
    )
    if len(texto) > TAMANHO_MAXIMO_CORPO:
        raise ErroMeta(132005, f"body text has {len(texto)} characters (max 1024)")
    return modelo, texto
