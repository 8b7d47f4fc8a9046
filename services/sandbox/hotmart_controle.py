"""Control knobs of the Hotmart sandbox: tokens, rate limit, scripted faults, page tokens."""

from __future__ import annotations

import base64
import hashlib
import math
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from starlette.datastructures import QueryParams

# Hotmart's error code for each status the sandbox can answer (reference §2, "Errors").
ERROS_POR_STATUS = {
    400: "invalid_parameter",
    401: "invalid_token",
    403: "unauthorized_client",
    404: "not_found",
    422: "unprocessable_entity",
    429: "too_many_requests",
}


class ErroApi(Exception):
    """An error answer in Hotmart's shape {"error", "error_description"}."""

    def __init__(self, status: int, error: str, descricao: str) -> None:
        super().__init__(f"{status} {error}: {descricao}")
        self.status, self.error, self.descricao = status, error, descricao


class Tokens:
    """Issued access tokens and their expiry, on the sandbox clock."""

    def __init__(self, ttl_s: int, relogio: Callable[[], float]) -> None:
        self.ttl_s, self.relogio = ttl_s, relogio
        self._validade: dict[str, float] = {}
        self._lock = threading.Lock()
        self.emitidos = 0

    def emitir(self) -> str:
        """Mint a new bearer token."""
        token = uuid.uuid4().hex + uuid.uuid4().hex
        with self._lock:
            self._validade[token] = self.relogio() + self.ttl_s
            self.emitidos += 1
        return token

    def expirar_todos(self) -> None:
        """Expire every token issued so far (tests call this as app.state.expirar_tokens())."""
        with self._lock:
            for token in self._validade:
                self._validade[token] = -math.inf

    def verificar(self, autorizacao: str | None) -> None:
        """Raise 401 invalid_token unless the header carries a live bearer token."""
        tipo, _, token = (autorizacao or "").partition(" ")
        if tipo.lower() != "bearer" or not token:
            raise ErroApi(401, "invalid_token", "Full authentication is required (Bearer token)")
        validade = self._validade.get(token.strip())
        if validade is None:
            raise ErroApi(401, "invalid_token", "Invalid access token")
        if validade <= self.relogio():
            raise ErroApi(401, "invalid_token", "Access token expired")


class LimiteTaxa:
    """Fixed-window request counter with Hotmart's RateLimit-* headers.

    With `limite=None` nothing is refused but the headers still show Hotmart's 500/min.
    """

    def __init__(self, limite: int | None, janela_s: float, relogio: Callable[[], float]) -> None:
        self.limite, self.janela_s, self.relogio = limite, janela_s, relogio
        self._inicio: float | None = None
        self._usadas = 0
        self._lock = threading.Lock()

    def reiniciar(self) -> None:
        """Start a fresh window now (a test's fake sleep may call this)."""
        with self._lock:
            self._inicio, self._usadas = None, 0

    def registrar(self) -> tuple[bool, dict[str, str]]:
        """Count one request; return whether it is allowed and the headers to send."""
        with self._lock:
            agora = self.relogio()
            if self._inicio is None or agora - self._inicio >= self.janela_s:
                self._inicio, self._usadas = agora, 0
            self._usadas += 1
            limite = self.limite or 500
            restantes = max(0, limite - self._usadas)
            reset = max(0, math.ceil(self.janela_s - (agora - self._inicio)))
            permitido = self.limite is None or self._usadas <= self.limite
        return permitido, {
            "RateLimit-Limit": str(limite),
            "RateLimit-Remaining": str(restantes),
            "RateLimit-Reset": str(reset),
            "X-RateLimit-Limit-Minute": str(limite),
            "X-RateLimit-Remaining-Minute": str(restantes),
        }


MALFORMADOS = ("json", "sem_items")


@dataclass
class Falha:
    """One scripted fault: answer `status` (or only delay, when status is None); or, with
    `malformado`/`cortar`, answer 200 with a broken body or drop the connection mid-body."""

    prefixo: str
    status: int | None
    vezes: int
    atraso_s: float
    error: str | None
    descricao: str | None
    depois: int = 0
    malformado: str | None = None
    cortar: bool = False


class Falhas:
    """Scripted faults for tests, as app.state.falhas.

    `adicionar("/payments", status=503, vezes=2)` makes the next two requests whose path starts
    with "/payments" answer 503 internal_server_error; `atraso_s=2, status=None` only slows them;
    `depois=10` lets the first 10 matching requests through before the burst starts (so several
    rules make separate bursts). `adicionar_malformada` answers 200 with invalid JSON ("json") or
    a page without its `items` ("sem_items"); `adicionar_corte` sends half of the real answer and
    drops the connection. Each matching rule counts down its own `depois`; the first rule due
    fires. Status faults and delays apply to every path, the token endpoint included; broken
    bodies and cuts to the API endpoints.
    """

    def __init__(self) -> None:
        self._regras: list[Falha] = []
        self._lock = threading.Lock()

    def adicionar(
        self,
        prefixo: str,
        *,
        status: int | None = 503,
        vezes: int = 1,
        atraso_s: float = 0.0,
        error: str | None = None,
        descricao: str | None = None,
        depois: int = 0,
    ) -> None:
        """Script `vezes` consecutive requests under `prefixo` (after `depois`) to fail or slow."""
        with self._lock:
            self._regras.append(Falha(prefixo, status, vezes, atraso_s, error, descricao, depois))

    def adicionar_malformada(
        self, prefixo: str, *, modo: str = "json", vezes: int = 1, depois: int = 0
    ) -> None:
        """Answer 200 with a broken body: invalid JSON, or a page without `items`."""
        if modo not in MALFORMADOS:
            raise ValueError(f"modo deve ser um de {MALFORMADOS}")
        with self._lock:
            self._regras.append(
                Falha(prefixo, None, vezes, 0.0, None, None, depois, malformado=modo)
            )

    def adicionar_corte(self, prefixo: str, *, vezes: int = 1, depois: int = 0) -> None:
        """Send the headers and half of the real body, then drop the connection."""
        with self._lock:
            self._regras.append(Falha(prefixo, None, vezes, 0.0, None, None, depois, cortar=True))

    def limpar(self) -> None:
        """Forget every pending fault."""
        with self._lock:
            self._regras.clear()

    def pendentes(self) -> int:
        """How many scripted uses are still to come."""
        with self._lock:
            return sum(regra.vezes for regra in self._regras)

    def consumir(self, caminho: str) -> Falha | None:
        """Take one use of the first due fault matching this path, if any."""
        with self._lock:
            escolhida = None
            for regra in self._regras:
                if not caminho.startswith(regra.prefixo) or regra.vezes <= 0:
                    continue
                if regra.depois > 0:
                    regra.depois -= 1
                elif escolhida is None:
                    escolhida = regra
            if escolhida is not None:
                escolhida.vezes -= 1
                if escolhida.vezes == 0:
                    self._regras.remove(escolhida)
            return escolhida


def _assinatura(params: QueryParams) -> str:
    """A short digest of the filters, so a page token only continues the same query."""
    filtros = sorted(
        (k, v) for k, v in params.multi_items() if k not in ("page_token", "max_results")
    )
    return hashlib.sha1(repr(filtros).encode()).hexdigest()[:10]


def ler_inteiro(params: QueryParams, nome: str) -> int | None:
    """An optional integer query parameter, or 400 invalid_value_parameter."""
    valor = params.get(nome)
    if valor is None or valor == "":
        return None
    try:
        return int(valor)
    except ValueError:
        raise ErroApi(400, "invalid_value_parameter", f"Invalid value for '{nome}'") from None


def paginar(params: QueryParams, itens: list, *, padrao: int = 10, maximo: int = 500) -> dict:
    """Cursor pagination: {"items", "page_info"}; next_page_token absent on the last page."""
    por_pagina = ler_inteiro(params, "max_results") or padrao
    if por_pagina < 1:
        raise ErroApi(400, "invalid_value_parameter", "max_results must be positive")
    por_pagina = min(por_pagina, maximo)
    assinatura, inicio = _assinatura(params), 0
    token = params.get("page_token")
    if token:
        try:
            texto = base64.urlsafe_b64decode(token.encode() + b"==").decode()
            posicao, assinado = texto.split(":", 1)
            inicio = int(posicao)
        except (ValueError, UnicodeDecodeError):
            raise ErroApi(400, "invalid_token", "Invalid page_token") from None
        if assinado != assinatura or not 0 <= inicio <= len(itens):
            raise ErroApi(400, "invalid_token", "page_token does not match this query")
    fim = inicio + por_pagina
    info: dict = {"total_results": len(itens), "results_per_page": por_pagina}
    if fim < len(itens):
        info["next_page_token"] = _token(fim, assinatura)
    if inicio > 0:
        info["prev_page_token"] = _token(max(0, inicio - por_pagina), assinatura)
    return {"items": itens[inicio:fim], "page_info": info}


def _token(posicao: int, assinatura: str) -> str:
    """An opaque page token."""
    return base64.urlsafe_b64encode(f"{posicao}:{assinatura}".encode()).decode().rstrip("=")
