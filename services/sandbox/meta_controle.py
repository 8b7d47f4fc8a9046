"""Request checks and per-instance state of the Meta sandbox: errors, faults, throughput."""

from __future__ import annotations

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
from starlette.responses import JSONResponse

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
    """One scripted failure: the next `vezes` requests whose path contains `trecho`."""

    trecho: str
    codigo: int | None
    status: int | None
    vezes: int


class Falhas:
    """Scripted failures as app.state.falhas: `adicionar("/messages", codigo=131000, vezes=2)`.

    `codigo=None, status=502` answers a bare non-JSON 502 (a proxy in the way).
    """

    def __init__(self) -> None:
        self._regras: list[FalhaRoteirizada] = []
        self._lock = threading.Lock()

    def adicionar(
        self, trecho: str, *, codigo: int | None = 131000, status: int | None = None, vezes: int = 1
    ) -> None:
        """Script the next `vezes` matching requests to fail."""
        with self._lock:
            self._regras.append(FalhaRoteirizada(trecho, codigo, status, vezes))

    def consumir(self, caminho: str) -> FalhaRoteirizada | None:
        """Take one use of the first matching failure."""
        with self._lock:
            for regra in self._regras:
                if regra.trecho in caminho and regra.vezes > 0:
                    regra.vezes -= 1
                    if not regra.vezes:
                        self._regras.remove(regra)
                    return regra
        return None


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
        if falha.codigo is None:
            raise HTTPException(falha.status or 502)
        raise ErroMeta(falha.codigo, "Sandbox: falha roteirizada", status=falha.status)


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
