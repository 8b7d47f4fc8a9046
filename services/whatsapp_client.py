"""HTTP client of the WhatsApp Cloud API: template sends, template listing, Meta error triage.

Every failure becomes a `WhatsAppErro` whose `acao` says what the dispatcher does next; the
table `ACOES` below maps Meta's error codes (reference §A2) to those actions.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

PRODUCAO_API = "https://graph.facebook.com"
VERSAO_PADRAO = "v25.0"
CAMPOS_TEMPLATE = (
    "id,name,language,status,category,parameter_format,components,quality_score,rejected_reason"
)
log = logging.getLogger(__name__)


class Acao(StrEnum):
    """What the dispatcher should do after a failed call (compares equal to its string)."""

    RETRY_LATER = "retry_later"  # throttled or Meta unavailable: same message, later
    FIX_TEMPLATE = "fix_template"  # the template/payload as built is refused: resync, fix
    BAD_NUMBER = "bad_number"  # this recipient cannot receive: mark the number, no retry
    STOP_EVERYTHING = "stop_everything"  # token/permission/account: pause the queue, alert
    BACK_OFF_STUDENT = "back_off_student"  # this student must not get more now (window/opt-out)


_R, _F, _N, _S, _B = (
    Acao.RETRY_LATER,
    Acao.FIX_TEMPLATE,
    Acao.BAD_NUMBER,
    Acao.STOP_EVERYTHING,
    Acao.BACK_OFF_STUDENT,
)
# Meta error code -> (action, title). Reference §A2 unless noted; where it is silent:
# 131057 (maintenance) waits like an outage; 131005/131042/131045/133010 (access, payment,
# certificate, business number not registered) and 2500 (bad path/version) are configuration,
# so the queue stops; 130472 (user in a marketing experiment) and 130497 (country restricted)
# concern one recipient; 100/131008/131009/131051-53/135000 are payload faults ("fix payload")
# and share fix_template — except code 100 about the `to` field (bad_number) and code 100 with
# subcode 33 (wrong phone_number_id/waba_id: stop_everything).
ACOES: dict[int, tuple[Acao, str]] = {
    0: (_S, "AuthException"),
    1: (_R, "API Unknown"),
    2: (_R, "API Service"),
    3: (_S, "API Method"),
    4: (_R, "API Too Many Calls"),
    10: (_S, "Permission Denied"),
    100: (_F, "Invalid parameter"),
    190: (_S, "Access token has expired"),
    368: (_S, "Temporarily blocked for policies violations"),
    2500: (_S, "Unknown path components"),
    80007: (_R, "Rate limit issues"),
    130429: (_R, "Rate limit hit"),
    130472: (_B, "User's number is part of an experiment"),
    130497: (_N, "Business account is restricted from messaging users in this country"),
    131000: (_R, "Something went wrong"),
    131005: (_S, "Access denied"),
    131008: (_F, "Required parameter is missing"),
    131009: (_F, "Parameter value is not valid"),
    131016: (_R, "Service unavailable"),
    131021: (_N, "Recipient cannot be sender"),
    131026: (_N, "Message undeliverable"),
    131030: (_N, "Recipient phone number not in allowed list"),
    131031: (_S, "Business Account locked"),
    131042: (_S, "Business eligibility payment issue"),
    131045: (_S, "Incorrect certificate"),
    131047: (_B, "Re-engagement message"),
    131048: (_R, "Spam rate limit hit"),
    131049: (_B, "Meta chose not to deliver"),
    131050: (_B, "User stopped marketing messages"),
    131051: (_F, "Unsupported message type"),
    131052: (_F, "Media download error"),
    131053: (_F, "Media upload error"),
    131056: (_R, "(Business Account, Consumer Account) pair rate limit hit"),
    131057: (_R, "Account in maintenance mode"),
    132000: (_F, "Number of parameters does not match the expected number of params"),
    132001: (_F, "Template does not exist"),
    132005: (_F, "Translated text too long"),
    132007: (_F, "Template Format Character Policy Violated"),
    132012: (_F, "Template Parameter Format Mismatch"),
    132015: (_F, "Template is Paused"),
    132016: (_F, "Template is Disabled"),
    132068: (_F, "Flow is blocked"),
    132069: (_F, "Flow is throttled"),
    133010: (_S, "Phone number not registered"),
    135000: (_F, "Generic user error"),
}
ACOES.update({c: (_S, "API Permission") for c in range(200, 300)})
# Retried inside the client with backoff; the other retry_later codes (4, 80007: app-wide Graph
# limit, "back off minutes"; 131048: spam-rate limit, "no same-day retry"; 131057: maintenance)
# would only burn the limit again within seconds, so they are raised at once with `espera_s`.
RETENTAVEIS = frozenset({1, 2, 130429, 131000, 131016, 131056})
ESPERA_SUGERIDA_S = {4: 300.0, 80007: 300.0, 131048: 6 * 3600.0, 131057: 600.0, 131056: 6.0}
_SOBRE_DESTINATARIO = re.compile(r"parameter\s*'?to'?\b|recipient|phone number|wa_?id", re.I)


def acao_para(
    code: int | None,
    *,
    status: int | None = None,
    error_subcode: int | None = None,
    details: str | None = None,
) -> Acao:
    """The action for a Meta error (sync answer or a failed status's errors[]).

    Unknown codes fall back on the HTTP status: 401/403 stop_everything, 429/5xx (or no answer)
    retry_later, any other 4xx fix_template (the request as built was refused: a human looks).
    """
    if code == 100 and error_subcode == 33:
        return _S
    if code == 100 and details and _SOBRE_DESTINATARIO.search(details):
        return _N
    if code is not None and code in ACOES:
        return ACOES[code][0]
    if status in (401, 403):
        return _S
    if status is None or status == 429 or status >= 500:
        return _R
    return _F


class WhatsAppErro(Exception):
    """A Cloud API call that failed for good; the message never contains the access token.

    `talvez_enviado` is True when a send's outcome is unknown — the connection broke or timed
    out after the request went out, or a 5xx came without Meta's JSON error envelope (a gateway
    that may have answered after Meta accepted it): a blind resend could message the student
    twice. A 429/5xx carrying Meta's envelope was processed and refused by Meta: safe to retry.
    """

    def __init__(
        self,
        mensagem: str,
        *,
        acao: Acao,
        status: int | None = None,
        code: int | None = None,
        error_subcode: int | None = None,
        title: str | None = None,
        message: str | None = None,
        details: str | None = None,
        fbtrace_id: str | None = None,
        caminho: str | None = None,
        espera_s: float | None = None,
        talvez_enviado: bool = False,
    ) -> None:
        super().__init__(mensagem)
        self.acao, self.status, self.code, self.error_subcode = acao, status, code, error_subcode
        self.title, self.message, self.details, self.fbtrace_id = (
            title,
            message,
            details,
            fbtrace_id,
        )
        self.caminho, self.espera_s, self.talvez_enviado = caminho, espera_s, talvez_enviado


@dataclass(frozen=True)
class EnvioTemplate:
    """An accepted send: the wamid (join key for statuses) and Meta's wa_id of the recipient."""

    wamid: str
    wa_id: str | None
    input: str
    message_status: str | None


class _Transitorio(Exception):
    """A retryable outcome: throttling/unavailable code, 429, 5xx or a transport error."""

    def __init__(
        self,
        resposta: httpx.Response | None,
        falha: Exception | None = None,
        code: int | None = None,
    ) -> None:
        super().__init__("resposta transitória")
        self.resposta, self.falha, self.code = resposta, falha, code


def _codigo(resposta: httpx.Response) -> int | None:
    try:
        erro = resposta.json().get("error") or {}
        return int(erro["code"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


class WhatsAppClient:
    """Cloud API client for one phone number and its WABA; `sleep` is injectable for tests."""

    def __init__(
        self,
        *,
        access_token: str,
        phone_number_id: str,
        waba_id: str,
        api_base: str = PRODUCAO_API,
        versao: str = VERSAO_PADRAO,
        timeout: float = 20.0,
        max_retries: int = 4,
        espera_base_s: float = 1.0,
        max_espera_s: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._token = access_token
        self.phone_number_id, self.waba_id = phone_number_id, waba_id
        self.api_base, self.versao = api_base.rstrip("/"), versao.strip("/")
        self.max_retries, self.espera_base_s, self.max_espera_s = (
            max_retries,
            espera_base_s,
            max_espera_s,
        )
        self._sleep = sleep
        self._http = httpx.Client(timeout=httpx.Timeout(timeout), transport=transport)

    def __repr__(self) -> str:
        return (
            f"WhatsAppClient(api_base={self.api_base!r}, phone_number_id={self.phone_number_id!r})"
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> WhatsAppClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- endpoints -------------------------------------------------------------------------

    def enviar_template(
        self, to: str, name: str, language: str, params: Sequence[str] | Mapping[str, str] = ()
    ) -> EnvioTemplate:
        """Send an approved template; `params` fill {{1}}… in order (a mapping: NAMED ones)."""
        template: dict[str, Any] = {"name": name, "language": {"code": language}}
        if isinstance(params, Mapping):
            parametros = [
                {"type": "text", "parameter_name": k, "text": v} for k, v in params.items()
            ]
        else:
            parametros = [{"type": "text", "text": v} for v in params]
        if parametros:  # no variables -> no components (reference §A1)
            template["components"] = [{"type": "body", "parameters": parametros}]
        corpo = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "template",
            "template": template,
        }
        caminho = f"/{self.versao}/{self.phone_number_id}/messages"
        resposta = self._pedir("POST", self.api_base + caminho, caminho, json=corpo)
        try:
            dados = resposta.json()
            mensagem = dados["messages"][0]
            contato = (dados.get("contacts") or [{}])[0]
            return EnvioTemplate(
                wamid=mensagem["id"],
                wa_id=contato.get("wa_id"),
                input=contato.get("input", to),
                message_status=mensagem.get("message_status"),
            )
        except (ValueError, KeyError, IndexError, TypeError):
            raise WhatsAppErro(
                f"Meta aceitou o envio em {caminho} mas não devolveu messages[0].id",
                acao=_R,
                status=resposta.status_code,
                caminho=caminho,
                talvez_enviado=True,
            ) from None

    def send_template(
        self, to: str, name: str, language: str, params: Sequence[str] | Mapping[str, str] = ()
    ) -> str:
        """Send an approved template and return its wamid."""
        return self.enviar_template(to, name, language, params).wamid

    def listar_templates(
        self,
        *,
        limite: int = 100,
        campos: str = CAMPOS_TEMPLATE,
        status: str | None = None,
        name: str | None = None,
        language: str | None = None,
        category: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every template of the WABA, following paging.next (or the after cursor) to the end."""
        caminho = f"/{self.versao}/{self.waba_id}/message_templates"
        filtros = {"status": status, "name": name, "language": language, "category": category}
        params = {"fields": campos, "limit": limite, **{k: v for k, v in filtros.items() if v}}
        url: str | None = self.api_base + caminho
        consulta: dict[str, Any] | None = params
        vistos: set[str] = set()
        while url:
            resposta = self._pedir("GET", url, caminho, params=consulta)
            try:
                corpo = resposta.json()
                dados = corpo.get("data") or []
            except (ValueError, AttributeError):
                raise WhatsAppErro(
                    f"Meta respondeu {resposta.status_code} em {caminho} sem JSON válido",
                    acao=_R,
                    status=resposta.status_code,
                    caminho=caminho,
                ) from None
            yield from dados
            paging = corpo.get("paging") or {}
            depois = (paging.get("cursors") or {}).get("after")
            seguinte = paging.get("next")
            if not seguinte:
                return
            if self._mesma_origem(seguinte):
                url, consulta = seguinte, None
                depois = (parse_qs(urlsplit(seguinte).query).get("after") or [depois])[0]
            else:
                # Never send the bearer token to a host other than api_base: page by cursor.
                url, consulta = self.api_base + caminho, {**params, "after": depois}
            if not depois or depois in vistos:
                raise WhatsAppErro(
                    f"Meta repetiu um cursor de paginação em {caminho}", acao=_F, caminho=caminho
                )
            vistos.add(depois)

    def _mesma_origem(self, url: str) -> bool:
        alvo, base = urlsplit(url), urlsplit(self.api_base)
        return (alvo.scheme, alvo.netloc) == (base.scheme, base.netloc)

    # --- requests, retries and errors ------------------------------------------------------

    def _pedir(self, metodo: str, url: str, caminho: str, **kwargs: Any) -> httpx.Response:
        """One call with the bearer token, retried with backoff on transient outcomes."""
        cabecalhos = {"Authorization": f"Bearer {self._token}"}
        envio = metodo == "POST"
        tentativas = Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._espera,
            retry=retry_if_exception_type(_Transitorio),
            sleep=self._sleep,
            before_sleep=lambda estado: log.warning(
                "WhatsApp %s %s: tentativa %d falhou (%s), nova tentativa",
                metodo,
                caminho,
                estado.attempt_number,
                self._descrever(estado),
            ),
            reraise=True,
        )
        try:
            for tentativa in tentativas:
                with tentativa:
                    try:
                        resposta = self._http.request(metodo, url, headers=cabecalhos, **kwargs)
                    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as falha:
                        raise _Transitorio(None, falha) from None  # never reached Meta
                    except httpx.TransportError as falha:
                        if envio:  # Meta may have accepted it: resending could double-send
                            raise self._erro_transporte(falha, caminho, talvez=True) from None
                        raise _Transitorio(None, falha) from None
                    if resposta.is_success:
                        return resposta
                    codigo = _codigo(resposta)
                    if envio and codigo is None and resposta.status_code >= 500:
                        # A 5xx without Meta's error envelope comes from something in between
                        # (a gateway, a proxy) and may have been answered after Meta accepted
                        # the send: resending could double-send.
                        raise self._erro_sem_confirmacao(resposta, caminho)
                    conhecido = codigo in ACOES
                    if codigo in RETENTAVEIS or (
                        not conhecido
                        and (resposta.status_code == 429 or resposta.status_code >= 500)
                    ):
                        raise _Transitorio(resposta, code=codigo)
                    raise self._erro(resposta, caminho)
        except _Transitorio as transitorio:
            if transitorio.resposta is not None:
                raise self._erro(transitorio.resposta, caminho) from None
            raise self._erro_transporte(transitorio.falha, caminho, talvez=False) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _espera(self, estado: RetryCallState) -> float:
        """Retry-After when given; 131056 backs off 1, 4, 16, 64 s; others double from base."""
        falha = estado.outcome.exception() if estado.outcome else None
        resposta = getattr(falha, "resposta", None)
        n = estado.attempt_number
        if resposta is not None:
            try:
                return min(max(float(resposta.headers["Retry-After"]), 0.0), self.max_espera_s)
            except (KeyError, ValueError):
                pass
        if getattr(falha, "code", None) == 131056:
            return min(self.espera_base_s * 4 ** (n - 1), self.max_espera_s)
        return min(self.espera_base_s * 2 ** (n - 1), self.max_espera_s)

    def _descrever(self, estado: RetryCallState) -> str:
        falha = estado.outcome.exception() if estado.outcome else None
        if isinstance(falha, _Transitorio) and falha.resposta is not None:
            return f"HTTP {falha.resposta.status_code}, code {falha.code}"
        return type(getattr(falha, "falha", falha)).__name__

    def _limpo(self, texto: str | None) -> str | None:
        """Text without the access token in it."""
        if texto is None:
            return None
        return texto.replace(self._token, "***") if self._token else texto

    def _erro_transporte(
        self, falha: Exception | None, caminho: str, *, talvez: bool
    ) -> WhatsAppErro:
        nome = type(falha).__name__
        return WhatsAppErro(
            f"Falha de conexão com a Meta em {caminho} ({nome}): {self._limpo(str(falha))}",
            acao=_R,
            caminho=caminho,
            talvez_enviado=talvez,
        )

    def _erro_sem_confirmacao(self, resposta: httpx.Response, caminho: str) -> WhatsAppErro:
        """A send answered by a 5xx that is not Meta's: it may have gone out (never retried)."""
        texto = self._limpo(resposta.text[:200]) or "sem corpo"
        return WhatsAppErro(
            f"Meta respondeu {resposta.status_code} em {caminho} sem o corpo de erro da Meta "
            f"(resposta de um intermediário): o envio pode ter sido aceito — {texto}",
            acao=_R,
            status=resposta.status_code,
            message=texto,
            caminho=caminho,
            talvez_enviado=True,
        )

    def _erro(self, resposta: httpx.Response, caminho: str) -> WhatsAppErro:
        """A WhatsAppErro from Graph's {"error": {...}} body (or a bare non-JSON answer)."""
        try:
            corpo = resposta.json()
        except ValueError:
            corpo = None
        erro = corpo.get("error") if isinstance(corpo, dict) else None
        if not isinstance(erro, dict):
            texto = self._limpo(resposta.text[:200]) or "sem corpo"
            acao = acao_para(None, status=resposta.status_code)
            return WhatsAppErro(
                f"Meta respondeu {resposta.status_code} em {caminho}: {texto}",
                acao=acao,
                status=resposta.status_code,
                message=texto,
                caminho=caminho,
            )
        try:
            codigo: int | None = int(erro.get("code"))
        except (TypeError, ValueError):
            codigo = None
        try:
            subcodigo: int | None = int(erro["error_subcode"])
        except (KeyError, TypeError, ValueError):
            subcodigo = None
        dados = erro.get("error_data")
        detalhes = dados.get("details") if isinstance(dados, dict) else None
        detalhes = self._limpo(str(detalhes)) if detalhes is not None else None
        mensagem = self._limpo(str(erro["message"])) if erro.get("message") else None
        titulo = (
            erro.get("error_user_title") or erro.get("title") or ACOES.get(codigo, (0, None))[1]
        )
        titulo = self._limpo(str(titulo)) if titulo else None
        acao = acao_para(
            codigo, status=resposta.status_code, error_subcode=subcodigo, details=detalhes
        )
        rastreio = self._limpo(str(erro["fbtrace_id"])) if erro.get("fbtrace_id") else None
        texto = " — ".join(p for p in (mensagem or titulo, detalhes) if p) or "sem detalhes"
        return WhatsAppErro(
            f"Meta respondeu {resposta.status_code} em {caminho} (code {codigo}, {acao}): {texto}",
            acao=acao,
            status=resposta.status_code,
            code=codigo,
            error_subcode=subcodigo,
            title=titulo,
            message=mensagem,
            details=detalhes,
            fbtrace_id=rastreio,
            caminho=caminho,
            espera_s=ESPERA_SUGERIDA_S.get(codigo) if acao == _R else None,
        )
