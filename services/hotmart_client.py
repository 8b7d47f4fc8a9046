"""HTTP client of the Hotmart API: client-credentials token, cursor paging, retries with backoff."""

from __future__ import annotations

import base64
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

PRODUCAO_API = "https://developers.hotmart.com"
PRODUCAO_AUTH = "https://api-sec-vlc.hotmart.com/security/oauth/token"
Datas = int | datetime | None

# Hotmart's token request carries client_secret in its query string (as documented), and httpx
# logs every request URL at INFO: mask secret-looking query values in that logger's records.
_SEGREDO_NA_URL = re.compile(r"((?:client_secret|access_token|token)=)[^&\s\"']+", re.I)


class _SemSegredosNaUrl(logging.Filter):
    """Rewrites an httpx log record with secret query values masked (never drops it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        mensagem = record.getMessage()
        mascarada = _SEGREDO_NA_URL.sub(r"\1••••", mensagem)
        if mascarada != mensagem:
            record.msg, record.args = mascarada, ()
        return True


for _nome in ("httpx", "httpcore"):
    if not any(isinstance(f, _SemSegredosNaUrl) for f in logging.getLogger(_nome).filters):
        logging.getLogger(_nome).addFilter(_SemSegredosNaUrl())


class HotmartErro(Exception):
    """A Hotmart call that failed for good; carries Hotmart's error and error_description."""

    def __init__(
        self,
        mensagem: str,
        *,
        status: int | None = None,
        error: str | None = None,
        error_description: str | None = None,
        caminho: str | None = None,
    ) -> None:
        super().__init__(mensagem)
        self.status, self.error, self.error_description = status, error, error_description
        self.caminho = caminho


class _CorpoInvalido(Exception):
    """A 2xx whose body is not what the endpoint answers (cut JSON, a page without items)."""


class _Transitorio(Exception):
    """A retryable outcome: 429, 5xx, a transport error or an unreadable 2xx body."""

    def __init__(self, resposta: httpx.Response | None, falha: Exception | None = None) -> None:
        super().__init__("resposta transitória")
        self.resposta, self.falha = resposta, falha


def _ms(valor: Datas) -> int | None:
    """Epoch milliseconds for a query parameter."""
    if isinstance(valor, datetime):
        return int(valor.timestamp() * 1000)
    return valor


class HotmartClient:
    """Read-only Hotmart API client; `auth_url` is the full token URL, `api_base` the REST base.

    `sleep` and `relogio` are injectable so tests never wait; `progresso(caminho, paginas)` is
    called after each page fetched by `paginar`.
    """

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        basic_token: str | None = None,
        api_base: str = PRODUCAO_API,
        auth_url: str = PRODUCAO_AUTH,
        timeout: float = 30.0,
        max_retries: int = 5,
        espera_base_s: float = 1.0,
        max_espera_s: float = 60.0,
        tamanho_pagina: int = 500,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        relogio: Callable[[], float] = time.monotonic,
        progresso: Callable[[str, int], None] | None = None,
    ) -> None:
        self._client_id, self._client_secret = client_id, client_secret
        basico = (basic_token or "").removeprefix("Basic ").strip()
        self._basic = basico or base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        self.api_base, self.auth_url = api_base.rstrip("/"), auth_url
        self.max_retries, self.espera_base_s, self.max_espera_s = (
            max_retries,
            espera_base_s,
            max_espera_s,
        )
        self.tamanho_pagina = tamanho_pagina
        self._sleep, self._relogio, self.progresso = sleep, relogio, progresso
        self._http = httpx.Client(timeout=httpx.Timeout(timeout), transport=transport)
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expira = 0.0
        self.paginas_buscadas = 0

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> HotmartClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- token -----------------------------------------------------------------------------

    def token(self) -> str:
        """A valid access token, cached until shortly before `expires_in`."""
        with self._lock:
            if self._token is None or self._relogio() >= self._expira:
                self._token, self._expira = self._novo_token()
            return self._token

    def _novo_token(self) -> tuple[str, float]:
        """Mint a token with the client credentials (query as documented, plus Basic header)."""
        params = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
        }
        cabecalhos = {"Authorization": f"Basic {self._basic}"}
        resposta = self._com_retentativas(
            lambda: self._http.post(self.auth_url, params=params, headers=cabecalhos), "token"
        )
        if not resposta.is_success:
            raise self._erro(resposta, "token")
        try:
            corpo = resposta.json()
            token, validade = corpo["access_token"], float(corpo.get("expires_in") or 3600)
        except (ValueError, KeyError, TypeError):
            raise HotmartErro("Hotmart não devolveu um access_token", caminho="token") from None
        margem = min(300.0, validade * 0.1)  # renew early rather than race the expiry
        return token, self._relogio() + validade - margem

    def _descartar(self, token: str) -> None:
        """Forget a token the API refused (unless another thread already replaced it)."""
        with self._lock:
            if self._token == token:
                self._token = None

    # --- requests --------------------------------------------------------------------------

    def get(
        self, caminho: str, params: dict[str, Any] | None = None, *, pagina: bool = False
    ) -> Any:
        """GET a REST path; on 401 mint a new token once and retry.

        A 2xx whose body is not JSON (or, with ``pagina``, a page without its ``items`` list) is
        retried like a 5xx: a page cut by a proxy must never pass for an empty one.
        """
        consulta = {k: v for k, v in (params or {}).items() if v is not None}
        url = self.api_base + caminho
        lido: list[Any] = []

        def ler(resposta: httpx.Response) -> None:
            try:
                corpo = resposta.json()
            except ValueError:
                raise _CorpoInvalido("sem JSON válido") from None
            if pagina and not (isinstance(corpo, dict) and isinstance(corpo.get("items"), list)):
                raise _CorpoInvalido("com uma página sem a lista items")
            lido[:] = [corpo]

        for renovar in (True, False):
            token = self.token()
            resposta = self._com_retentativas(
                lambda token=token: self._http.get(
                    url, params=consulta, headers={"Authorization": f"Bearer {token}"}
                ),
                caminho,
                ler=ler,
            )
            if resposta.status_code == 401 and renovar:
                self._descartar(token)
                continue
            if not resposta.is_success:
                raise self._erro(resposta, caminho)
            return lido[0]
        raise AssertionError("unreachable")  # pragma: no cover

    def _com_retentativas(
        self,
        enviar: Callable[[], httpx.Response],
        caminho: str,
        ler: Callable[[httpx.Response], None] | None = None,
    ) -> httpx.Response:
        """Send, retrying 429 (after RateLimit-Reset), 5xx, transport errors and (with ``ler``)
        a 2xx body ``ler`` refuses, with backoff."""
        tentativas = Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._espera,
            retry=retry_if_exception_type(_Transitorio),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            for tentativa in tentativas:
                with tentativa:
                    try:
                        resposta = enviar()
                    except httpx.TransportError as falha:
                        raise _Transitorio(None, falha) from None
                    if resposta.status_code == 429 or resposta.status_code >= 500:
                        raise _Transitorio(resposta)
                    if ler is not None and resposta.is_success:
                        try:
                            ler(resposta)
                        except _CorpoInvalido as invalido:
                            raise _Transitorio(resposta, invalido) from None
                    return resposta
        except _Transitorio as transitorio:
            if isinstance(transitorio.falha, _CorpoInvalido):
                status = transitorio.resposta.status_code
                raise HotmartErro(
                    f"Hotmart respondeu {status} em {caminho} {transitorio.falha}",
                    status=status,
                    caminho=caminho,
                ) from None
            if transitorio.resposta is not None:
                raise self._erro(transitorio.resposta, caminho) from None
            nome = type(transitorio.falha).__name__
            raise HotmartErro(
                f"Falha de conexão com a Hotmart em {caminho} ({nome}): "
                f"{self._limpo(str(transitorio.falha))}",
                caminho=caminho,
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _espera(self, estado: RetryCallState) -> float:
        """Seconds before the next try: RateLimit-Reset on 429, else exponential, both capped."""
        falha = estado.outcome.exception() if estado.outcome else None
        resposta = getattr(falha, "resposta", None)
        if resposta is not None and resposta.status_code == 429:
            try:
                return min(max(float(resposta.headers["RateLimit-Reset"]), 1.0), self.max_espera_s)
            except (KeyError, ValueError):
                pass
        return min(self.espera_base_s * 2 ** (estado.attempt_number - 1), self.max_espera_s)

    def _limpo(self, texto: str) -> str:
        """Text without any credential or token in it."""
        for segredo in (self._client_secret, self._basic, self._token):
            if segredo:
                texto = texto.replace(segredo, "***")
        return texto

    def _erro(self, resposta: httpx.Response, caminho: str) -> HotmartErro:
        """A HotmartErro from an error response (Hotmart's error/error_description, no secrets)."""
        try:
            corpo = resposta.json()
        except ValueError:
            corpo = None
        if isinstance(corpo, dict):
            error, descricao = corpo.get("error"), corpo.get("error_description")
        else:
            error, descricao = None, resposta.text[:200] or None
        error = self._limpo(str(error)) if error else None
        descricao = self._limpo(str(descricao)) if descricao else None
        detalhe = " — ".join(p for p in (error, descricao) if p) or "sem detalhes"
        return HotmartErro(
            f"Hotmart respondeu {resposta.status_code} em {caminho}: {detalhe}",
            status=resposta.status_code,
            error=error,
            error_description=descricao,
            caminho=caminho,
        )

    # --- paging and endpoints --------------------------------------------------------------

    def paginar(self, caminho: str, params: dict[str, Any] | None = None) -> Iterator[dict]:
        """Yield every item of a cursor-paged endpoint, resending the filters on each page."""
        base = {"max_results": self.tamanho_pagina, **(params or {})}
        pagina, paginas, vistos = None, 0, set()
        while True:
            corpo = self.get(caminho, {**base, "page_token": pagina}, pagina=True)
            paginas += 1
            self.paginas_buscadas += 1
            if self.progresso:
                self.progresso(caminho, paginas)
            yield from corpo["items"]
            pagina = (corpo.get("page_info") or {}).get("next_page_token")
            if not pagina:
                return
            if pagina in vistos:
                raise HotmartErro(f"Hotmart repetiu um page_token em {caminho}", caminho=caminho)
            vistos.add(pagina)

    def produtos(self) -> Iterator[dict]:
        """Every product of the account."""
        return self.paginar("/products/api/v1/products")

    def ofertas(self, ucode: str) -> Iterator[dict]:
        """Offers of a product, keyed by its ucode (endpoint shape unverified)."""
        return self.paginar(f"/products/api/v1/products/{ucode}/offers")

    def vendas(
        self,
        transaction_status: str | None = None,
        start_date: Datas = None,
        end_date: Datas = None,
        product_id: int | None = None,
        transaction: str | None = None,
    ) -> Iterator[dict]:
        """Sales history; without a status Hotmart returns only APPROVED and COMPLETE."""
        return self.paginar(
            "/payments/api/v1/sales/history",
            _filtros_vendas(transaction_status, start_date, end_date, product_id, transaction),
        )

    def usuarios_vendas(
        self,
        transaction_status: str | None = None,
        start_date: Datas = None,
        end_date: Datas = None,
        product_id: int | None = None,
        transaction: str | None = None,
    ) -> Iterator[dict]:
        """Sale participants (the buyer's phone and CPF live here); same filters and trap."""
        return self.paginar(
            "/payments/api/v1/sales/users",
            _filtros_vendas(transaction_status, start_date, end_date, product_id, transaction),
        )

    def assinaturas(
        self,
        status: str | Sequence[str] | None = None,
        product_id: int | None = None,
        subscriber_code: str | None = None,
        transaction: str | None = None,
    ) -> Iterator[dict]:
        """Subscriptions; `status` may be several values (sent as a repeated parameter)."""
        situacoes = [status] if isinstance(status, str) else list(status or []) or None
        params = {
            "status": situacoes,
            "product_id": product_id,
            "subscriber_code": subscriber_code,
            "transaction": transaction,
        }
        return self.paginar("/payments/api/v1/subscriptions", params)

    def modulos(self, subdomain: str, *, is_extra: bool = False) -> list[dict]:
        """Club modules of a subdomain (main ones, or the extra ones)."""
        params = {"subdomain": subdomain, "is_extra": "true" if is_extra else None}
        return self.get("/club/api/v1/modules", params)

    def paginas(self, module_id: str, product_id: int) -> list[dict]:
        """Pages (lessons) of a Club module."""
        return self.get(f"/club/api/v2/modules/{module_id}/pages", {"product_id": product_id})

    def usuarios_club(self, subdomain: str, *, email: str | None = None) -> Iterator[dict]:
        """Club users (students and staff) of a subdomain."""
        return self.paginar("/club/api/v1/users", {"subdomain": subdomain, "email": email})

    def aulas_usuario(self, user_id: str, subdomain: str) -> list[dict]:
        """Lessons of one Club user with completion; no module_id (join on page_id)."""
        corpo = self.get(f"/club/api/v1/users/{user_id}/lessons", {"subdomain": subdomain})
        return corpo.get("lessons") or []


def _filtros_vendas(
    transaction_status: str | None,
    start_date: Datas,
    end_date: Datas,
    product_id: int | None,
    transaction: str | None,
) -> dict[str, Any]:
    """Query parameters shared by the sales endpoints."""
    return {
        "transaction_status": transaction_status,
        "start_date": _ms(start_date),
        "end_date": _ms(end_date),
        "product_id": product_id,
        "transaction": transaction,
    }
