"""The Hotmart sandbox over real loopback HTTP, and the postback builders/delivery."""

from __future__ import annotations

import base64
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.demo_data import gerar_dataset, resumo
from services.sandbox.hotmart import CAMINHO_TOKEN, criar_app
from services.sandbox.hotmart_webhooks import (
    EVENTOS,
    enviar_postback,
    evento_compra,
    exemplos,
)
from services.sandbox.server import servir

CID, SEGREDO = "cid-teste", "segredo-teste"
HISTORICO = "/payments/api/v1/sales/history"


class Relogio:
    """A fake clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def ds():
    return gerar_dataset(300, 42, agora=datetime(2026, 11, 1, 12, tzinfo=UTC))


@contextmanager
def sandbox(ds, **opcoes):
    app = criar_app(ds, client_id=CID, client_secret=SEGREDO, **opcoes)
    with servir(app) as base, httpx.Client(base_url=base, timeout=10) as http:
        yield app, http


def _token(http: httpx.Client) -> dict[str, str]:
    corpo = http.post(
        CAMINHO_TOKEN,
        params={"grant_type": "client_credentials", "client_id": CID, "client_secret": SEGREDO},
    ).json()
    return {"Authorization": f"Bearer {corpo['access_token']}"}


def _todos(http, cabecalhos, caminho, **params):
    """Follow next_page_token to the end; return items and page count."""
    itens, paginas = [], 0
    while True:
        corpo = http.get(caminho, params=params, headers=cabecalhos).json()
        itens += corpo["items"]
        paginas += 1
        if "next_page_token" not in corpo["page_info"]:
            return itens, paginas
        params["page_token"] = corpo["page_info"]["next_page_token"]


def test_token_por_query_formulario_ou_basic(ds):
    basic = base64.b64encode(f"{CID}:{SEGREDO}".encode()).decode()
    with sandbox(ds, token_ttl_s=172799) as (_, http):
        por_query = http.post(
            CAMINHO_TOKEN,
            params={"grant_type": "client_credentials", "client_id": CID, "client_secret": SEGREDO},
            headers={"Authorization": f"Basic {basic}"},
        )
        por_form = http.post(
            CAMINHO_TOKEN,
            data={"grant_type": "client_credentials", "client_id": CID, "client_secret": SEGREDO},
        )
        so_basic = http.post(
            CAMINHO_TOKEN,
            params={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic}"},
        )
    for resposta in (por_query, por_form, so_basic):
        assert resposta.status_code == 200
        corpo = resposta.json()
        assert corpo["token_type"] == "bearer" and corpo["expires_in"] == 172799
        assert corpo["access_token"]


def test_credenciais_erradas_401(ds):
    errado = base64.b64encode(f"{CID}:outro".encode()).decode()
    with sandbox(ds) as (_, http):
        r1 = http.post(
            CAMINHO_TOKEN,
            params={"grant_type": "client_credentials", "client_id": CID, "client_secret": "x"},
        )
        r2 = http.post(
            CAMINHO_TOKEN,
            params={"grant_type": "client_credentials", "client_id": CID, "client_secret": SEGREDO},
            headers={"Authorization": f"Basic {errado}"},
        )
        r3 = http.post(CAMINHO_TOKEN, params={"grant_type": "password"})
    for r in (r1, r2):
        assert r.status_code == 401
        assert set(r.json()) == {"error", "error_description"}
    assert r3.status_code == 400


def test_token_ausente_desconhecido_ou_expirado_401(ds):
    with sandbox(ds) as (app, http):
        cabecalhos = _token(http)
        assert http.get("/products/api/v1/products", headers=cabecalhos).status_code == 200
        sem = http.get("/products/api/v1/products")
        desconhecido = http.get(
            "/products/api/v1/products", headers={"Authorization": "Bearer nada"}
        )
        app.state.expirar_tokens()
        expirado = http.get("/products/api/v1/products", headers=cabecalhos)
    for r in (sem, desconhecido, expirado):
        assert r.status_code == 401 and r.json()["error"] == "invalid_token"
        assert "RateLimit-Remaining" in r.headers


def test_armadilha_so_aprovadas_e_completas_sem_status(ds):
    r = resumo(ds)
    with sandbox(ds) as (_, http):
        cab = _token(http)
        padrao, _ = _todos(http, cab, HISTORICO, max_results=500)
        reembolsadas, _ = _todos(http, cab, HISTORICO, transaction_status="REFUNDED")
        expirada = next(v for v in ds.vendas if v["purchase"]["status"] == "EXPIRED")
        codigo = expirada["purchase"]["transaction"]
        por_codigo = http.get(HISTORICO, params={"transaction": codigo}, headers=cab).json()
        usuarios, _ = _todos(http, cab, "/payments/api/v1/sales/users", max_results=500)
    assert {v["purchase"]["status"] for v in padrao} == {"APPROVED", "COMPLETE"}
    assert len(padrao) == r["transacoes_aprovadas_ou_completas"] == len(usuarios)
    assert len(reembolsadas) == r["transacoes_por_status"]["REFUNDED"]
    assert por_codigo["items"] == [expirada]


def test_paginacao_cobre_tudo_exatamente_uma_vez(ds):
    esperado = [v for v in ds.vendas if v["purchase"]["status"] == "COMPLETE"]
    with sandbox(ds) as (_, http):
        cab = _token(http)
        itens, paginas = _todos(http, cab, HISTORICO, transaction_status="COMPLETE", max_results=37)
        enorme = http.get(HISTORICO, params={"max_results": 10_000}, headers=cab).json()
        primeira = http.get(HISTORICO, params={"max_results": 5}, headers=cab).json()
        outra_consulta = http.get(
            HISTORICO,
            params={"page_token": primeira["page_info"]["next_page_token"], "product_id": 1},
            headers=cab,
        )
    codigos = [v["purchase"]["transaction"] for v in itens]
    assert len(codigos) == len(set(codigos)) == len(esperado)
    assert set(codigos) == {v["purchase"]["transaction"] for v in esperado}
    assert paginas == -(-len(esperado) // 37)
    assert enorme["page_info"]["results_per_page"] == 500 and len(enorme["items"]) == 500
    assert outra_consulta.status_code == 400


def test_filtros_de_vendas_e_assinaturas(ds):
    produto = ds.produtos[0]["id"]
    inicio = ds.agora_ms - 90 * 86_400_000
    with sandbox(ds) as (_, http):
        cab = _token(http)
        filtradas, _ = _todos(
            http,
            cab,
            HISTORICO,
            transaction_status="COMPLETE",
            product_id=produto,
            start_date=inicio,
        )
        varios = http.get(
            HISTORICO,
            params=[("transaction_status", "REFUNDED"), ("transaction_status", "EXPIRED")],
            headers=cab,
        )
        assinaturas, _ = _todos(
            http,
            cab,
            "/payments/api/v1/subscriptions",
            status=["ACTIVE", "DELAYED"],
            max_results=50,
        )
    esperadas = [
        v
        for v in ds.vendas
        if v["purchase"]["status"] == "COMPLETE"
        and v["product"]["id"] == produto
        and v["purchase"]["order_date"] >= inicio
    ]
    assert filtradas == esperadas and esperadas
    assert varios.status_code == 400
    assert len(assinaturas) == sum(a["status"] in ("ACTIVE", "DELAYED") for a in ds.assinaturas)
    assert {a["status"] for a in assinaturas} == {"ACTIVE", "DELAYED"}


def test_club_exige_subdomain_e_serve_modulos_paginas_alunos_e_aulas(ds):
    produto = ds.produtos[1]["id"]
    subdominio = ds.subdominios[produto]
    with sandbox(ds) as (_, http):
        cab = _token(http)
        faltando = [
            http.get("/club/api/v1/modules", headers=cab),
            http.get("/club/api/v1/users", headers=cab),
            http.get("/club/api/v1/users/x/lessons", headers=cab),
        ]
        modulos = http.get("/club/api/v1/modules", params={"subdomain": subdominio}, headers=cab)
        modulo = modulos.json()[0]["module_id"]
        paginas = http.get(
            f"/club/api/v2/modules/{modulo}/pages", params={"product_id": produto}, headers=cab
        )
        sem_produto = http.get(f"/club/api/v2/modules/{modulo}/pages", headers=cab)
        alunos, _ = _todos(http, cab, "/club/api/v1/users", subdomain=subdominio, max_results=100)
        aulas = http.get(
            f"/club/api/v1/users/{alunos[-1]['user_id']}/lessons",
            params={"subdomain": subdominio},
            headers=cab,
        )
        inexistente = http.get("/nao/existe", headers=cab)
    assert all(r.status_code == 422 for r in faltando) and sem_produto.status_code == 422
    assert faltando[0].json()["error"] and faltando[0].json()["error_description"]
    assert modulos.json() == [m for m in ds.modulos[subdominio] if not m["is_extra"]]
    assert paginas.json() == ds.paginas[modulo]
    assert alunos == ds.usuarios_club[subdominio]
    assert aulas.json() == {"lessons": ds.aulas_usuario[subdominio][alunos[-1]["user_id"]]}
    assert inexistente.status_code == 404 and inexistente.json()["error"] == "not_found"


def test_limite_de_taxa_429_com_cabecalhos(ds):
    relogio = Relogio()
    opcoes = {"rate_limit_per_min": 2, "rate_limit_janela_s": 30, "relogio": relogio}
    with sandbox(ds, **opcoes) as (_, http):
        cab = _token(http)
        respostas = [http.get("/products/api/v1/products", headers=cab) for _ in range(3)]
        relogio.t += 30
        depois = http.get("/products/api/v1/products", headers=cab)
    assert [r.status_code for r in respostas] == [200, 200, 429]
    assert respostas[0].headers["RateLimit-Limit"] == "2"
    assert respostas[0].headers["RateLimit-Remaining"] == "1"
    assert respostas[2].headers["RateLimit-Remaining"] == "0"
    assert respostas[2].headers["RateLimit-Reset"] == "30"
    assert respostas[2].json()["error"] == "too_many_requests"
    assert depois.status_code == 200


def test_falhas_injetadas_e_lentidao(ds):
    falhas = [{"prefixo": "/payments", "status": 503, "vezes": 2}]
    with sandbox(ds, falhas=falhas) as (app, http):
        cab = _token(http)
        codigos = [http.get(HISTORICO, headers=cab).status_code for _ in range(3)]
        app.state.falhas.adicionar("/products", status=None, atraso_s=0.05)
        lento = http.get("/products/api/v1/products", headers=cab)
    assert codigos == [503, 503, 200]
    assert lento.status_code == 200


def test_eventos_de_postback_tem_todos_os_tipos_e_grafias(ds):
    eventos = exemplos(ds)
    assert set(EVENTOS) | {"PURCHASE_BILLET_PRINTED_PIX"} == set(eventos)
    status = {
        nome: e["data"]["purchase"]["status"]
        for nome, e in eventos.items()
        if nome.startswith("PURCHASE_") and nome != "PURCHASE_OUT_OF_SHOPPING_CART"
    }
    assert status["PURCHASE_COMPLETE"] == "COMPLETED"
    assert (
        status["PURCHASE_BILLET_PRINTED"]
        == status["PURCHASE_BILLET_PRINTED_PIX"]
        == "BILLET_PRINTED"
    )
    assert status["PURCHASE_PROTEST"] == "DISPUTE"
    assert status["PURCHASE_CANCELED"] == "CANCELED"
    pix = eventos["PURCHASE_BILLET_PRINTED_PIX"]["data"]["purchase"]["payment"]
    assert pix["type"] == "PIX" and pix["pix_code"].startswith("000201")
    boleto = eventos["PURCHASE_BILLET_PRINTED"]["data"]["purchase"]["payment"]
    assert boleto["type"] == "BILLET" and boleto["billet_url"].startswith("https://")
    assert eventos["PURCHASE_DELAYED"]["data"]["purchase"]["payment"]["refusal_reason"]
    assert eventos["PURCHASE_DELAYED"]["data"]["purchase"]["recurrence_number"] > 1
    comprador = eventos["PURCHASE_APPROVED"]["data"]["buyer"]
    assert comprador["document_type"] == "CPF" and len(comprador["checkout_phone"]) == 9
    assert eventos["PURCHASE_APPROVED"]["data"]["purchase"]["price"]["currency_value"] == "BRL"
    primeiro_acesso = eventos["CLUB_FIRST_ACCESS"]
    assert "creationDate" in primeiro_acesso and "creation_date" not in primeiro_acesso
    assert isinstance(eventos["CLUB_MODULE_COMPLETED"]["data"]["product"]["id"], str)
    assert eventos["SUBSCRIPTION_CANCELLATION"]["data"]["subscriber"]["phone"]["cell"]
    assert eventos["SWITCH_PLAN"]["data"]["plans"][0]["current"] is True
    assert eventos["UPDATE_SUBSCRIPTION_CHARGE_DATE"]["data"]["subscription"][
        "date_next_charge"
    ].endswith("Z")
    assert all(e["version"] == "2.0.0" and e["id"] for e in eventos.values())


def test_evento_estavel_e_ciclo_de_vida(ds):
    venda = next(v for v in ds.vendas if v["purchase"]["status"] == "COMPLETE")
    codigo = venda["purchase"]["transaction"]
    assert evento_compra(ds, codigo) == evento_compra(ds, codigo)  # same id: idempotency key
    aprovado = evento_compra(ds, codigo, "PURCHASE_APPROVED")
    assert aprovado["data"]["purchase"]["status"] == "APPROVED"
    assert aprovado["id"] != evento_compra(ds, codigo)["id"]


def test_enviar_postback_entrega_com_hottok():
    recebidos = []

    async def receber(request: Request) -> JSONResponse:
        recebidos.append((request.headers.get("x-hotmart-hottok"), await request.json()))
        return JSONResponse({"ok": True})

    receptor = Starlette(routes=[Route("/webhooks/hotmart", receber, methods=["POST"])])
    ds = gerar_dataset(40, 3, agora=datetime(2026, 11, 1, tzinfo=UTC))
    evento = exemplos(ds)["PURCHASE_APPROVED"]
    with servir(receptor) as base:
        resposta = enviar_postback(f"{base}/webhooks/hotmart", "hottok-secreto", evento)
        com_corpo = enviar_postback(
            f"{base}/webhooks/hotmart", "hottok-secreto", evento, hottok_no_corpo=True
        )
    assert resposta.status_code == com_corpo.status_code == 200
    assert recebidos[0] == ("hottok-secreto", evento)
    assert recebidos[1][1]["hottok"] == "hottok-secreto"
