"""Hotmart API sandbox: a Starlette app serving a demo Dataset in the reference's exact shapes.

Start it alone with `python -m services.sandbox.hotmart --port 8601 --alunos 300`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import time
import uuid
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.demo_data import Dataset
from services.sandbox.hotmart_controle import (
    ERROS_POR_STATUS,
    ErroApi,
    Falha,
    Falhas,
    LimiteTaxa,
    Tokens,
    ler_inteiro,
    paginar,
)

DEMO_CLIENT_ID = "demo-client-id"
DEMO_CLIENT_SECRET = "demo-client-secret"  # not a secret: the sandbox's fixed demo credential
DEMO_HOTTOK = "demo-hottok"
CAMINHO_TOKEN = "/security/oauth/token"
STATUS_VENDA = frozenset(
    "APPROVED BLOCKED CANCELLED CHARGEBACK COMPLETE EXPIRED NO_FUNDS OVERDUE PARTIALLY_REFUNDED "
    "PRE_ORDER PRINTED_BILLET PROCESSING_TRANSACTION PROTESTED REFUNDED STARTED UNDER_ANALISYS "
    "WAITING_PAYMENT".split()
)
STATUS_ASSINATURA = frozenset(
    "ACTIVE INACTIVE DELAYED CANCELLED_BY_CUSTOMER CANCELLED_BY_SELLER CANCELLED_BY_ADMIN "
    "STARTED OVERDUE".split()
)
# The trap of reference §3: without transaction/transaction_status only these come back.
STATUS_PADRAO = ("APPROVED", "COMPLETE")


class _Visao(Sequence):
    """A list-like view of `fonte` through `indices`, so paging never copies 600k items."""

    def __init__(self, fonte: list[Any], indices: Sequence[int]) -> None:
        self.fonte, self.indices = fonte, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, posicao: Any) -> Any:
        if isinstance(posicao, slice):
            return [self.fonte[i] for i in self.indices[posicao]]
        return self.fonte[self.indices[posicao]]


class _Indices:
    """Lookups built once per app, plus a small cache of filtered index lists."""

    def __init__(self, ds: Dataset) -> None:
        self.ds = ds
        self.por_status: dict[str, list[int]] = {}
        self.por_transacao: dict[str, int] = {}
        for i, venda in enumerate(ds.vendas):
            self.por_status.setdefault(venda["purchase"]["status"], []).append(i)
            self.por_transacao[venda["purchase"]["transaction"]] = i
        self.padrao = sorted(i for s in STATUS_PADRAO for i in self.por_status.get(s, []))
        self.produto_do_subdominio = {s: p for p, s in ds.subdominios.items()}
        self.subdominio_do_modulo = {
            m["module_id"]: s for s, modulos in ds.modulos.items() for m in modulos
        }
        self.produto_por_ucode = {p["ucode"]: p for p in ds.produtos}
        self._cache: OrderedDict[tuple[Any, ...], list[int]] = OrderedDict()

    def memo(self, chave: tuple[Any, ...], calcular: Callable[[], list[int]]) -> list[int]:
        """Filtered index lists are reused while a client pages through them."""
        if chave not in self._cache:
            self._cache[chave] = calcular()
            if len(self._cache) > 64:
                self._cache.popitem(last=False)
        return self._cache[chave]


def _erro(erro: ErroApi, cabecalhos: dict[str, str] | None = None) -> JSONResponse:
    """Hotmart's error body."""
    corpo = {"error": erro.error, "error_description": erro.descricao}
    return JSONResponse(corpo, status_code=erro.status, headers=cabecalhos)


async def _aplicar_falha(request: Request) -> Falha | None:
    """Apply the first scripted fault due for this path, if any; a broken-body or cut fault is
    returned for the endpoint to apply to its answer."""
    falha = request.app.state.falhas.consumir(request.url.path)
    if falha is None:
        return None
    if falha.atraso_s:
        await asyncio.sleep(falha.atraso_s)
    if falha.status:
        error = falha.error or ERROS_POR_STATUS.get(falha.status, "internal_server_error")
        raise ErroApi(falha.status, error, falha.descricao or "Sandbox: falha simulada")
    return falha if falha.malformado or falha.cortar else None


class _RespostaCortada(Response):
    """Headers with the full Content-Length, half of the body, then the connection dropped."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        metade = self.body[: len(self.body) // 2]
        await send({"type": "http.response.body", "body": metade, "more_body": True})
        raise ConexaoCortada("Sandbox: conexão derrubada no meio da resposta")


class ConexaoCortada(Exception):
    """Raised after a partial body: the server aborts the connection (a scripted fault)."""


def _resposta_com_falha(falha: Falha | None, corpo: Any, cabecalhos: dict) -> Response:
    """The endpoint's answer, broken as the scripted fault says."""
    if falha is None:
        return JSONResponse(corpo, headers=cabecalhos)
    if falha.cortar:
        return _RespostaCortada(
            json.dumps(corpo).encode(), headers=cabecalhos, media_type="application/json"
        )
    if falha.malformado == "sem_items" and isinstance(corpo, dict):
        corpo = {k: v for k, v in corpo.items() if k != "items"}
        return JSONResponse(corpo, headers=cabecalhos)
    truncado = json.dumps(corpo)[:-7] or "{"
    return Response(truncado, headers=cabecalhos, media_type="application/json")


def _api(funcao: Callable[[QueryParams, dict[str, Any], _Indices], Any]) -> Callable:
    """Wrap a handler with request logging, rate limit, faults and bearer-token auth."""

    async def endpoint(request: Request) -> Response:
        estado = request.app.state
        estado.requisicoes.append(f"{request.method} {request.url.path}?{request.url.query}")
        permitido, cabecalhos = estado.limite.registrar()
        try:
            falha = await _aplicar_falha(request)
            if not permitido:
                raise ErroApi(429, "too_many_requests", "API rate limit exceeded")
            estado.tokens.verificar(request.headers.get("authorization"))
            corpo = funcao(request.query_params, request.path_params, estado.indices)
        except ErroApi as erro:
            estado.respostas[erro.status] += 1
            return _erro(erro, cabecalhos)
        estado.respostas["cortada" if falha and falha.cortar else 200] += 1
        if falha and falha.malformado:
            estado.respostas[falha.malformado] += 1
        return _resposta_com_falha(falha, corpo, cabecalhos)

    return endpoint


async def _token(request: Request) -> Response:
    """POST /security/oauth/token: client_credentials via query, form and/or Basic header."""
    estado = request.app.state
    estado.requisicoes.append(f"POST {request.url.path}")
    try:
        await _aplicar_falha(request)
    except ErroApi as erro:
        return _erro(erro)
    dados = dict(request.query_params)
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        dados.update({k: str(v) for k, v in (await request.form()).items()})
    if dados.get("grant_type") != "client_credentials":
        erro = ErroApi(400, "unsupported_grant_type", "grant_type must be client_credentials")
        return _erro(erro)
    fornecidas = []
    if "client_id" in dados or "client_secret" in dados:
        fornecidas.append((dados.get("client_id"), dados.get("client_secret")))
    tipo, _, valor = request.headers.get("authorization", "").partition(" ")
    if tipo.lower() == "basic":
        try:
            usuario, _, senha = base64.b64decode(valor.strip()).decode().partition(":")
        except ValueError:
            usuario = senha = None
        fornecidas.append((usuario, senha))
    esperadas = (estado.client_id, estado.client_secret)
    if not fornecidas or any(par != esperadas for par in fornecidas):
        return _erro(ErroApi(401, "unauthorized", "Bad credentials"))
    corpo = {
        "access_token": estado.tokens.emitir(),
        "token_type": "bearer",
        "expires_in": estado.tokens.ttl_s,
        "scope": "read write",
        "jti": str(uuid.uuid4()),
    }
    return JSONResponse(corpo)


def _produtos(params: QueryParams, _: dict, ix: _Indices) -> dict:
    """GET /products/api/v1/products (filters id, status, format)."""
    produto_id, status, formato = (
        ler_inteiro(params, "id"),
        params.get("status"),
        params.get("format"),
    )
    itens = [
        p
        for p in ix.ds.produtos
        if (produto_id is None or p["id"] == produto_id)
        and (status is None or p["status"] == status)
        and (formato is None or p["format"] == formato)
    ]
    return paginar(params, itens, padrao=50)


def _ofertas(params: QueryParams, caminho: dict, ix: _Indices) -> dict:
    """GET /products/api/v1/products/{ucode}/offers (shape unverified, reference §6 'M')."""
    produto = ix.produto_por_ucode.get(caminho["ucode"])
    if produto is None:
        raise ErroApi(404, "not_found", "Product not found")
    return paginar(params, ix.ds.ofertas[produto["id"]], padrao=50)


def _indices_vendas(params: QueryParams, ix: _Indices) -> list[int]:
    """Sales matching the filters; only APPROVED/COMPLETE unless transaction(_status) is given."""
    situacoes = params.getlist("transaction_status")
    if len(situacoes) > 1:
        raise ErroApi(
            400,
            "invalid_parameter",
            "Multi-value transaction_status is unverified on Hotmart: query one status at a time",
        )
    situacao = situacoes[0] if situacoes else None
    if situacao is not None and situacao not in STATUS_VENDA:
        raise ErroApi(400, "invalid_value_parameter", f"Invalid transaction_status '{situacao}'")
    transacao = params.get("transaction")
    produto_id = ler_inteiro(params, "product_id")
    inicio, fim = ler_inteiro(params, "start_date"), ler_inteiro(params, "end_date")
    email, origem = params.get("buyer_email"), params.get("sales_source")
    chave = ("vendas", transacao, situacao, produto_id, inicio, fim, email, origem)

    def calcular() -> list[int]:
        if transacao:
            base = [ix.por_transacao[transacao]] if transacao in ix.por_transacao else []
        else:
            base = ix.por_status.get(situacao, []) if situacao else ix.padrao
        if all(v is None for v in (situacao, produto_id, inicio, fim, email, origem)):
            return base
        vendas = ix.ds.vendas
        return [
            i
            for i in base
            if (situacao is None or vendas[i]["purchase"]["status"] == situacao)
            and (produto_id is None or vendas[i]["product"]["id"] == produto_id)
            and (inicio is None or vendas[i]["purchase"]["order_date"] >= inicio)
            and (fim is None or vendas[i]["purchase"]["order_date"] <= fim)
            and (email is None or vendas[i]["buyer"]["email"] == email)
            and (origem is None or vendas[i]["purchase"]["tracking"].get("source") == origem)
        ]

    return ix.memo(chave, calcular)


def _vendas(params: QueryParams, _: dict, ix: _Indices) -> dict:
    """GET /payments/api/v1/sales/history."""
    return paginar(params, _Visao(ix.ds.vendas, _indices_vendas(params, ix)))


def _participantes(params: QueryParams, _: dict, ix: _Indices) -> dict:
    """GET /payments/api/v1/sales/users (participants are aligned with sales by position)."""
    return paginar(params, _Visao(ix.ds.participantes, _indices_vendas(params, ix)))


def _assinaturas(params: QueryParams, _: dict, ix: _Indices) -> dict:
    """GET /payments/api/v1/subscriptions (status repeatable)."""
    situacoes = tuple(sorted(set(params.getlist("status"))))
    invalidas = set(situacoes) - STATUS_ASSINATURA
    if invalidas:
        raise ErroApi(400, "invalid_value_parameter", f"Invalid status {sorted(invalidas)}")
    produto_id, plano = ler_inteiro(params, "product_id"), ler_inteiro(params, "plan_id")
    codigo, email = params.get("subscriber_code"), params.get("subscriber_email")
    transacao = params.get("transaction")
    chave = ("assinaturas", situacoes, produto_id, plano, codigo, email, transacao)
    lista = ix.ds.assinaturas

    def calcular() -> list[int]:
        return [
            i
            for i, a in enumerate(lista)
            if (not situacoes or a["status"] in situacoes)
            and (produto_id is None or a["product"]["id"] == produto_id)
            and (plano is None or a["plan"]["id"] == plano)
            and (codigo is None or a["subscriber_code"] == codigo)
            and (email is None or a["subscriber"]["email"] == email)
            and (transacao is None or a["transaction"] == transacao)
        ]

    return paginar(params, _Visao(lista, ix.memo(chave, calcular)))


def _subdominio(params: QueryParams, ix: _Indices) -> str:
    """The required Club subdomain: 422 when missing, 404 when unknown."""
    subdominio = params.get("subdomain")
    if not subdominio:
        raise ErroApi(422, "unprocessable_entity", "Parameter 'subdomain' is required")
    if subdominio not in ix.ds.modulos:
        raise ErroApi(404, "not_found", f"Club '{subdominio}' not found")
    return subdominio


def _modulos(params: QueryParams, _: dict, ix: _Indices) -> list:
    """GET /club/api/v1/modules: main modules, or the extra ones with is_extra=true."""
    extras = params.get("is_extra", "false").lower() == "true"
    return [m for m in ix.ds.modulos[_subdominio(params, ix)] if m["is_extra"] == extras]


def _paginas_v2(params: QueryParams, caminho: dict, ix: _Indices) -> list:
    """GET /club/api/v2/modules/{module_id}/pages?product_id= (bare array)."""
    produto_id = ler_inteiro(params, "product_id")
    if produto_id is None:
        raise ErroApi(422, "unprocessable_entity", "Parameter 'product_id' is required")
    subdominio = ix.subdominio_do_modulo.get(caminho["module_id"])
    if subdominio is None or ix.produto_do_subdominio[subdominio] != produto_id:
        raise ErroApi(404, "not_found", "Module not found for this product")
    return ix.ds.paginas[caminho["module_id"]]


def _paginas_v1(params: QueryParams, caminho: dict, ix: _Indices) -> list:
    """GET /club/api/v1/modules/{module_id}/pages?subdomain= (legacy, same shape)."""
    subdominio = _subdominio(params, ix)
    if ix.subdominio_do_modulo.get(caminho["module_id"]) != subdominio:
        raise ErroApi(404, "not_found", "Module not found in this club")
    return ix.ds.paginas[caminho["module_id"]]


def _usuarios(params: QueryParams, _: dict, ix: _Indices) -> dict:
    """GET /club/api/v1/users?subdomain=[&email=] (paged)."""
    usuarios = ix.ds.usuarios_club[_subdominio(params, ix)]
    email = params.get("email")
    if email:
        usuarios = [u for u in usuarios if u["email"] == email]
    return paginar(params, usuarios)


def _aulas(params: QueryParams, caminho: dict, ix: _Indices) -> dict:
    """GET /club/api/v1/users/{user_id}/lessons?subdomain= -> {"lessons": [...]}."""
    aulas = ix.ds.aulas_usuario[_subdominio(params, ix)].get(caminho["user_id"])
    if aulas is None:
        raise ErroApi(404, "not_found", "User not found in this club")
    return {"lessons": aulas}


async def _nao_encontrado(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods answer in Hotmart's error shape."""
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    return _erro(ErroApi(status, ERROS_POR_STATUS.get(status, "not_found"), "Resource not found"))


def criar_app(
    dataset: Dataset,
    *,
    client_id: str,
    client_secret: str,
    rate_limit_per_min: int | None = None,
    token_ttl_s: int = 172799,
    falhas: Falhas | Iterable[dict[str, Any]] | None = None,
    rate_limit_janela_s: float = 60.0,
    relogio: Callable[[], float] = time.monotonic,
) -> Starlette:
    """The sandbox app; tests drive it through app.state (falhas, expirar_tokens, limite) and
    read it back through `requisicoes` (every request) and `respostas` (API answers by status)."""
    rotas = [
        Route(CAMINHO_TOKEN, _token, methods=["POST"]),
        Route("/products/api/v1/products", _api(_produtos)),
        Route("/products/api/v1/products/{ucode}/offers", _api(_ofertas)),
        Route("/payments/api/v1/sales/history", _api(_vendas)),
        Route("/payments/api/v1/sales/users", _api(_participantes)),
        Route("/payments/api/v1/subscriptions", _api(_assinaturas)),
        Route("/club/api/v1/modules", _api(_modulos)),
        Route("/club/api/v2/modules/{module_id}/pages", _api(_paginas_v2)),
        Route("/club/api/v1/modules/{module_id}/pages", _api(_paginas_v1)),
        Route("/club/api/v1/users", _api(_usuarios)),
        Route("/club/api/v1/users/{user_id}/lessons", _api(_aulas)),
    ]
    app = Starlette(routes=rotas, exception_handlers={404: _nao_encontrado, 405: _nao_encontrado})
    estado = app.state
    estado.dataset, estado.indices = dataset, _Indices(dataset)
    estado.client_id, estado.client_secret = client_id, client_secret
    estado.tokens = Tokens(token_ttl_s, relogio)
    estado.expirar_tokens = estado.tokens.expirar_todos
    estado.limite = LimiteTaxa(rate_limit_per_min, rate_limit_janela_s, relogio)
    if isinstance(falhas, Falhas):
        estado.falhas = falhas
    else:
        estado.falhas = Falhas()
        for regra in falhas or ():
            estado.falhas.adicionar(**regra)
    estado.requisicoes = deque(maxlen=10_000)  # "METHOD /path?query", for tests to inspect
    estado.respostas = Counter()  # API answers by status (and "cortada", "json", "sem_items")
    return app


def main(argv: list[str] | None = None) -> None:
    """Serve the sandbox on a fixed port until interrupted."""
    import uvicorn

    from services.demo_data import gerar_dataset

    parser = argparse.ArgumentParser(description="Sandbox da API Hotmart (dados de demonstração)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8601)
    parser.add_argument("--alunos", type=int, default=300)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rate-limit", type=int, default=None, help="requisições por minuto")
    args = parser.parse_args(argv)
    dataset = gerar_dataset(args.alunos, args.seed)
    app = criar_app(
        dataset,
        client_id=DEMO_CLIENT_ID,
        client_secret=DEMO_CLIENT_SECRET,
        rate_limit_per_min=args.rate_limit,
    )
    base = f"http://{args.host}:{args.port}"
    print(f"Sandbox Hotmart em {base} ({args.alunos} alunos, seed {args.seed})", flush=True)
    print(f"  hotmart_api_base  = {base}", flush=True)
    print(f"  hotmart_auth_url  = {base}{CAMINHO_TOKEN}", flush=True)
    print(f"  hotmart_client_id = {DEMO_CLIENT_ID}", flush=True)
    print("  client_secret e hottok de demonstração: services.sandbox.hotmart", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
