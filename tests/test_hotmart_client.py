"""HotmartClient against the sandbox over real loopback HTTP (sleep and clock injected)."""

from __future__ import annotations

import base64
import socket
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest

from services.demo_data import gerar_dataset, resumo
from services.hotmart_client import HotmartClient, HotmartErro
from services.sandbox.hotmart import CAMINHO_TOKEN, criar_app
from services.sandbox.server import servir

CID, SEGREDO = "cid-cliente", "segredo-do-cliente-1234"


class Relogio:
    """A fake clock shared by the sandbox and the client; the fake sleep moves it."""

    def __init__(self) -> None:
        self.t = 5000.0
        self.dormidas: list[float] = []

    def __call__(self) -> float:
        return self.t

    def dormir(self, segundos: float) -> None:
        self.dormidas.append(segundos)
        self.t += segundos


@pytest.fixture(scope="module")
def ds():
    return gerar_dataset(300, 42, agora=datetime(2026, 11, 1, 12, tzinfo=UTC))


@contextmanager
def cenario(ds, *, relogio=None, segredo=SEGREDO, cliente=None, **opcoes):
    """A served sandbox and a client pointed at it."""
    relogio = relogio or Relogio()
    app = criar_app(ds, client_id=CID, client_secret=SEGREDO, relogio=relogio, **opcoes)
    with servir(app) as base:
        parametros = {
            "client_id": CID,
            "client_secret": segredo,
            "api_base": base,
            "auth_url": base + CAMINHO_TOKEN,
            "sleep": relogio.dormir,
            "relogio": relogio,
            "timeout": 5.0,
            **(cliente or {}),
        }
        with HotmartClient(**parametros) as hc:
            yield app, hc, relogio


def test_paginacao_em_varias_paginas_com_progresso(ds):
    paginas = []
    esperado = [v for v in ds.vendas if v["purchase"]["status"] == "COMPLETE"]
    opcoes = {"tamanho_pagina": 25, "progresso": lambda caminho, n: paginas.append(n)}
    with cenario(ds, cliente=opcoes) as (app, hc, _):
        vendas = list(hc.vendas(transaction_status="COMPLETE"))
        consultas = [r for r in app.state.requisicoes if "sales/history" in r]
    assert vendas == esperado
    assert paginas == list(range(1, -(-len(esperado) // 25) + 1))
    assert all("transaction_status=COMPLETE" in r for r in consultas)  # filters resent


def test_espelho_completo_por_status(ds):
    r = resumo(ds)
    with cenario(ds) as (_, hc, _):
        vendas = [v for s in r["transacoes_por_status"] for v in hc.vendas(transaction_status=s)]
        usuarios = list(hc.usuarios_vendas(transaction_status="WAITING_PAYMENT"))
        assinaturas = list(hc.assinaturas(status=["DELAYED", "OVERDUE"]))
        produtos = list(hc.produtos())
        ofertas = list(hc.ofertas(produtos[0]["ucode"]))
    assert sorted(v["purchase"]["transaction"] for v in vendas) == sorted(
        v["purchase"]["transaction"] for v in ds.vendas
    )
    assert len(usuarios) == r["transacoes_por_status"]["WAITING_PAYMENT"]
    comprador = next(u["user"] for u in usuarios[0]["users"] if u["role"] == "BUYER")
    assert comprador["documents"][0]["type"] == "CPF" and comprador["cellphone"]
    assert len(assinaturas) == sum(a["status"] in ("DELAYED", "OVERDUE") for a in ds.assinaturas)
    assert produtos == ds.produtos and ofertas == ds.ofertas[produtos[0]["id"]]


def test_club_pelo_cliente(ds):
    produto = ds.produtos[0]["id"]
    subdominio = ds.subdominios[produto]
    with cenario(ds) as (_, hc, _):
        modulos = hc.modulos(subdominio)
        extras = hc.modulos(subdominio, is_extra=True)
        paginas = hc.paginas(modulos[0]["module_id"], produto)
        alunos = list(hc.usuarios_club(subdominio))
        aulas = hc.aulas_usuario(alunos[1]["user_id"], subdominio)
        with pytest.raises(HotmartErro) as erro:
            hc.modulos("")
    assert modulos + extras == ds.modulos[subdominio]
    assert paginas == ds.paginas[modulos[0]["module_id"]]
    assert alunos == ds.usuarios_club[subdominio]
    assert aulas == ds.aulas_usuario[subdominio][alunos[1]["user_id"]]
    assert erro.value.status == 422


def test_token_em_cache_e_renovado_antes_de_expirar(ds):
    with cenario(ds, token_ttl_s=1000) as (app, hc, relogio):
        list(hc.produtos())
        list(hc.produtos())
        assert app.state.tokens.emitidos == 1
        relogio.t += 950  # inside the 10 % safety margin before expires_in
        list(hc.produtos())
        assert app.state.tokens.emitidos == 2


def test_token_renovado_apos_401(ds):
    with cenario(ds) as (app, hc, _):
        list(hc.produtos())
        app.state.expirar_tokens()
        assert list(hc.produtos()) == ds.produtos
        assert app.state.tokens.emitidos == 2


def test_401_persistente_vira_erro_sem_laco(ds):
    with cenario(ds) as (app, hc, _):
        app.state.falhas.adicionar("/products", status=401, vezes=10)
        with pytest.raises(HotmartErro) as erro:
            list(hc.produtos())
        assert app.state.tokens.emitidos == 2  # renewed once, then gave up
    assert erro.value.status == 401 and erro.value.error == "invalid_token"


def test_429_espera_o_ratelimit_reset(ds):
    opcoes = {"rate_limit_per_min": 2, "rate_limit_janela_s": 30}
    with cenario(ds, **opcoes) as (app, hc, relogio):
        for _ in range(3):
            assert list(hc.produtos()) == ds.produtos
        ultimas = list(app.state.requisicoes)[-2:]
    assert relogio.dormidas == [30.0]  # RateLimit-Reset of the 429, then the retry succeeded
    assert ultimas[0] == ultimas[1]


def test_5xx_tentado_de_novo_ate_dar_certo(ds):
    with cenario(ds) as (app, hc, relogio):
        app.state.falhas.adicionar("/payments/api/v1/subscriptions", status=503, vezes=2)
        assinaturas = list(hc.assinaturas())
    assert len(assinaturas) == len(ds.assinaturas)
    assert relogio.dormidas == [1.0, 2.0]  # exponential backoff


def test_5xx_esgotado_vira_hotmart_erro(ds):
    with cenario(ds, cliente={"max_retries": 2}) as (app, hc, relogio):
        app.state.falhas.adicionar(
            "/payments",
            status=500,
            vezes=5,
            error="internal_server_error",
            descricao="Erro interno simulado",
        )
        with pytest.raises(HotmartErro) as erro:
            list(hc.vendas())
        token = hc.token()
    assert erro.value.status == 500
    assert erro.value.error == "internal_server_error"
    assert erro.value.error_description == "Erro interno simulado"
    assert "internal_server_error" in str(erro.value) and "Erro interno simulado" in str(erro.value)
    assert SEGREDO not in str(erro.value) and token not in str(erro.value)
    assert len(relogio.dormidas) == 2


def test_credenciais_erradas_viram_erro_claro(ds):
    with cenario(ds, segredo="segredo-errado-9876") as (_, hc, _):
        with pytest.raises(HotmartErro) as erro:
            list(hc.produtos())
    assert erro.value.status == 401 and erro.value.error == "unauthorized"
    assert "segredo-errado-9876" not in str(erro.value)


def test_basic_token_do_painel(ds):
    basic = base64.b64encode(f"{CID}:{SEGREDO}".encode()).decode()
    with cenario(ds, cliente={"basic_token": f"Basic {basic}"}) as (_, hc, _):
        assert list(hc.produtos()) == ds.produtos


def test_timeout_e_tentado_de_novo(ds):
    with cenario(ds, cliente={"timeout": 0.2, "max_retries": 1}) as (app, hc, relogio):
        app.state.falhas.adicionar("/products", status=None, atraso_s=1.0)
        assert list(hc.produtos()) == ds.produtos
    assert relogio.dormidas == [1.0]


def test_sem_conexao_vira_hotmart_erro():
    with socket.socket() as livre:
        livre.bind(("127.0.0.1", 0))
        porta = livre.getsockname()[1]
    relogio = Relogio()
    hc = HotmartClient(
        client_id=CID,
        client_secret=SEGREDO,
        api_base=f"http://127.0.0.1:{porta}",
        auth_url=f"http://127.0.0.1:{porta}{CAMINHO_TOKEN}",
        max_retries=3,
        sleep=relogio.dormir,
        relogio=relogio,
    )
    with hc, pytest.raises(HotmartErro) as erro:
        list(hc.produtos())
    assert "conexão" in str(erro.value) and SEGREDO not in str(erro.value)
    assert relogio.dormidas == [1.0, 2.0, 4.0]
