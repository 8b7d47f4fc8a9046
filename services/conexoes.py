"""'Testar conexão' of Configurações: one read-only call per provider, a pt-BR verdict.

Each test builds the provider's client from the stored settings with a short timeout and a
single quick retry, so an unreachable host answers within seconds. The verdict never carries a
secret: the clients already scrub their own tokens, and `_sem_segredos` scrubs again here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from urllib.parse import urlparse

import httpx
from sqlalchemy.orm import Session

from services import config
from services.chatwoot_client import ChatwootClient, ChatwootErro
from services.cripto import ChaveSecretaErro
from services.hotmart_client import HotmartClient, HotmartErro
from services.whatsapp_client import Acao, WhatsAppClient, WhatsAppErro

TIMEOUT_S = 5.0
RETENTATIVAS = 1
ESPERA_BASE_S = 0.5
ESPERA_MAXIMA_S = 2.0
MAXIMO_TEMPLATES = 1000  # enough to count; a test must not page through a huge WABA
_MINIMO_SEGREDO = 4  # shorter values would mangle ordinary words when scrubbed


@dataclass(frozen=True)
class Resultado:
    """The verdict of a connection test: ok and a pt-BR message safe to show."""

    ok: bool
    mensagem: str


def _configuracoes(session: Session, nomes: Iterable[str]) -> dict[str, str | None]:
    return {nome: config.obter(session, nome) for nome in nomes}


def _incompletas(valores: dict[str, str | None], obrigatorias: list[str], provedor: str) -> str:
    faltam = [config.CHAVES[n].rotulo for n in obrigatorias if not valores.get(n)]
    if not faltam:
        return ""
    lista = faltam[0] if len(faltam) == 1 else ", ".join(faltam[:-1]) + " e " + faltam[-1]
    return f"Credenciais incompletas: configure {lista} {provedor} em Configurações."


def _sem_segredos(texto: str, segredos: Iterable[str | None]) -> str:
    for segredo in segredos:
        if segredo and len(segredo) >= _MINIMO_SEGREDO:
            texto = texto.replace(segredo, "***")
    return texto


def _host(url: str | None) -> str:
    return urlparse(url or "").netloc or (url or "?")


def _plural(n: int, singular: str, plural: str) -> str:
    return f"{n} {singular if n == 1 else plural}"


# --- Hotmart -------------------------------------------------------------------------------


def testar_hotmart(session: Session) -> Resultado:
    """Mint a token and read the first page of products; never writes anything."""
    try:
        valores = _configuracoes(
            session,
            (
                "hotmart_client_id",
                "hotmart_client_secret",
                "hotmart_basic_token",
                "hotmart_api_base",
                "hotmart_auth_url",
            ),
        )
    except ChaveSecretaErro as exc:
        return Resultado(False, str(exc))
    faltam = _incompletas(valores, ["hotmart_client_id", "hotmart_client_secret"], "da Hotmart")
    if faltam:
        return Resultado(False, faltam)
    segredos = (valores["hotmart_client_secret"], valores["hotmart_basic_token"])
    try:
        with HotmartClient(
            client_id=valores["hotmart_client_id"],
            client_secret=valores["hotmart_client_secret"],
            basic_token=valores["hotmart_basic_token"],
            api_base=valores["hotmart_api_base"],
            auth_url=valores["hotmart_auth_url"],
            timeout=TIMEOUT_S,
            max_retries=RETENTATIVAS,
            espera_base_s=ESPERA_BASE_S,
            max_espera_s=ESPERA_MAXIMA_S,
        ) as cliente:
            corpo = cliente.get("/products/api/v1/products", {"max_results": 50})
    except HotmartErro as erro:
        return Resultado(False, _sem_segredos(_mensagem_hotmart(erro, valores), segredos))
    except (httpx.HTTPError, ValueError) as erro:
        mensagem = f"Não foi possível testar a Hotmart ({type(erro).__name__})."
        return Resultado(False, mensagem)
    info = corpo.get("page_info") if isinstance(corpo, dict) else None
    itens = corpo.get("items") if isinstance(corpo, dict) else None
    total = (info or {}).get("total_results")
    if not isinstance(total, int):
        total = len(itens or [])
    produtos = _plural(total, "produto visível", "produtos visíveis")
    return Resultado(True, f"Conexão com a Hotmart OK: {produtos}.")


def _mensagem_hotmart(erro: HotmartErro, valores: dict[str, str | None]) -> str:
    no_token = erro.caminho == "token"
    if erro.status is None and not str(erro).startswith("Falha de conexão"):
        return "A URL do token da Hotmart não devolveu um access_token: confira a URL do token."
    if erro.status is not None and 200 <= erro.status < 300:
        return "O endereço não respondeu como a API da Hotmart: confira a URL da API."
    if erro.status is None:
        host = _host(valores["hotmart_auth_url"] if no_token else valores["hotmart_api_base"])
        return f"Não foi possível conectar à Hotmart em {host}: confira a URL e a rede."
    if erro.status in (400, 401, 403) and no_token:
        return (
            f"Credenciais da Hotmart recusadas (HTTP {erro.status}): confira o Client ID, "
            "o Client Secret e o Basic."
        )
    if erro.status in (401, 403):
        return (
            f"A Hotmart recusou o acesso à API (HTTP {erro.status}): confira as permissões "
            "da credencial."
        )
    if erro.status == 429:
        return "A Hotmart limitou as chamadas (HTTP 429): tente de novo em alguns minutos."
    if erro.status >= 500:
        return f"A Hotmart está indisponível (HTTP {erro.status}): tente de novo mais tarde."
    detalhe = " — ".join(p for p in (erro.error, erro.error_description) if p)
    return f"A Hotmart respondeu HTTP {erro.status}" + (f": {detalhe}." if detalhe else ".")


# --- Meta WhatsApp -------------------------------------------------------------------------


def testar_meta(session: Session) -> Resultado:
    """List the WABA's message templates (read-only) with the stored token."""
    try:
        valores = _configuracoes(
            session,
            (
                "meta_access_token",
                "meta_phone_number_id",
                "meta_waba_id",
                "meta_api_base",
                "meta_api_versao",
            ),
        )
    except ChaveSecretaErro as exc:
        return Resultado(False, str(exc))
    obrigatorias = ["meta_access_token", "meta_phone_number_id", "meta_waba_id"]
    faltam = _incompletas(valores, obrigatorias, "da Meta")
    if faltam:
        return Resultado(False, faltam)
    segredos = (valores["meta_access_token"],)
    try:
        with WhatsAppClient(
            access_token=valores["meta_access_token"],
            phone_number_id=valores["meta_phone_number_id"],
            waba_id=valores["meta_waba_id"],
            api_base=valores["meta_api_base"],
            versao=valores["meta_api_versao"],
            timeout=TIMEOUT_S,
            max_retries=RETENTATIVAS,
            espera_base_s=ESPERA_BASE_S,
            max_espera_s=ESPERA_MAXIMA_S,
        ) as cliente:
            templates = list(
                islice(cliente.listar_templates(campos="id,name,status"), MAXIMO_TEMPLATES)
            )
    except WhatsAppErro as erro:
        return Resultado(False, _sem_segredos(_mensagem_meta(erro, valores), segredos))
    except (httpx.HTTPError, ValueError) as erro:
        return Resultado(False, f"Não foi possível testar a Meta ({type(erro).__name__}).")
    aprovados = sum(1 for t in templates if t.get("status") == "APPROVED")
    quantidade = _plural(len(templates), "template", "templates")
    if len(templates) >= MAXIMO_TEMPLATES:
        quantidade = "mais de " + quantidade
    return Resultado(
        True,
        f"Conexão com a Meta OK: {quantidade} na conta do WhatsApp Business "
        f"({_plural(aprovados, 'aprovado', 'aprovados')}).",
    )


def _mensagem_meta(erro: WhatsAppErro, valores: dict[str, str | None]) -> str:
    codigo = erro.code
    if codigo == 190:
        return "Token da Meta inválido ou expirado (código 190)."
    if codigo == 100 and erro.error_subcode == 33:
        return (
            "WABA ID não encontrado ou sem permissão para este token (código 100): "
            "confira o WABA ID."
        )
    if codigo == 10 or (codigo is not None and 200 <= codigo < 300):
        return f"O token da Meta não tem permissão na conta do WhatsApp Business (código {codigo})."
    if codigo == 2500:
        return (
            f"A Graph API não reconheceu o caminho (código 2500): confira a versão "
            f"({valores['meta_api_versao']})."
        )
    if codigo is None and erro.status is not None and 200 <= erro.status < 300:
        return "O endereço não respondeu como a Graph API da Meta: confira a URL da API."
    if codigo is None and erro.status is None and str(erro).startswith("Falha de conexão"):
        return (
            f"Não foi possível conectar à Meta em {_host(valores['meta_api_base'])}: "
            "confira a URL e a rede."
        )
    if codigo is not None:
        referencia = f" (código {codigo})"
    elif erro.status is not None:
        referencia = f" (HTTP {erro.status})"
    else:
        referencia = ""
    if erro.acao == Acao.RETRY_LATER:
        return (
            f"A Meta limitou as chamadas ou está indisponível{referencia}: "
            "tente de novo em alguns minutos."
        )
    detalhe = erro.message or erro.title
    return f"A Meta recusou o teste{referencia}" + (f": {detalhe}" if detalhe else ".")


# --- Chatwoot ------------------------------------------------------------------------------


def testar_chatwoot(session: Session) -> Resultado:
    """List the account's labels (read-only) with the stored token."""
    try:
        valores = _configuracoes(
            session, ("chatwoot_base_url", "chatwoot_api_token", "chatwoot_account_id")
        )
    except ChaveSecretaErro as exc:
        return Resultado(False, str(exc))
    faltam = _incompletas(valores, list(valores), "do Chatwoot")
    if faltam:
        return Resultado(False, faltam)
    segredos = (valores["chatwoot_api_token"],)
    try:
        with ChatwootClient(
            base_url=valores["chatwoot_base_url"],
            api_token=valores["chatwoot_api_token"],
            account_id=valores["chatwoot_account_id"],
            timeout=TIMEOUT_S,
            max_retries=RETENTATIVAS,
            espera_base_s=ESPERA_BASE_S,
            max_espera_s=ESPERA_MAXIMA_S,
        ) as cliente:
            labels = cliente.listar_labels()
    except ChatwootErro as erro:
        return Resultado(False, _sem_segredos(_mensagem_chatwoot(erro, valores), segredos))
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as erro:
        mensagem = f"O Chatwoot não respondeu como esperado ({type(erro).__name__}): confira a URL."
        return Resultado(False, mensagem)
    return Resultado(
        True,
        f"Conexão com o Chatwoot OK: conta {valores['chatwoot_account_id']}, "
        f"{_plural(len(labels), 'label', 'labels')}.",
    )


def _mensagem_chatwoot(erro: ChatwootErro, valores: dict[str, str | None]) -> str:
    conta = valores["chatwoot_account_id"]
    if "sem JSON" in str(erro):
        return "O endereço não respondeu como a API do Chatwoot: confira a URL."
    if erro.status is None:
        return (
            f"Não foi possível conectar ao Chatwoot em {_host(valores['chatwoot_base_url'])}: "
            "confira a URL e a rede."
        )
    if erro.status == 401 and "Invalid Access Token" in (erro.detalhe or ""):
        return "Token do Chatwoot inválido (HTTP 401)."
    if erro.status in (401, 403):
        return (
            f"O token do Chatwoot não tem acesso à conta {conta} (HTTP {erro.status}): "
            "confira o Account ID."
        )
    if erro.status == 404:
        return (
            "Conta ou endereço não encontrado no Chatwoot (HTTP 404): confira a URL e o Account ID."
        )
    if erro.status == 429:
        return "O Chatwoot limitou as chamadas (HTTP 429): tente de novo em alguns minutos."
    if erro.status >= 500:
        return f"O Chatwoot está indisponível (HTTP {erro.status}): tente de novo mais tarde."
    return f"O Chatwoot respondeu HTTP {erro.status}" + (
        f": {erro.detalhe}." if erro.detalhe else "."
    )
