"""WhatsAppClient against the Meta sandbox over real loopback HTTP (sleep and clock injected)."""

from __future__ import annotations

import asyncio
import logging
import socket
from contextlib import contextmanager

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from services.sandbox.meta import criar_app
from services.sandbox.meta_templates import TEMPLATES_DEMO
from services.sandbox.meta_webhooks import ERROS
from services.sandbox.server import servir
from services.whatsapp_client import (
    ACOES,
    RETENTAVEIS,
    Acao,
    WhatsAppClient,
    WhatsAppErro,
    acao_para,
)

TOKEN = "EAAGsegredo-do-token-que-nunca-aparece-123"
TELEFONE_ID, WABA, ALUNA = "1111", "2222", "5511987654321"
BOAS_VINDAS = ["Maria", "Marketing Digital Pro", "maria@example.com"]


class Relogio:
    """A fake clock shared by the sandbox and the client; the fake sleep moves it."""

    def __init__(self, *, avancar: bool = True) -> None:
        self.t = 5000.0
        self.avancar = avancar
        self.dormidas: list[float] = []

    def __call__(self) -> float:
        return self.t

    def dormir(self, segundos: float) -> None:
        self.dormidas.append(segundos)
        if self.avancar:
            self.t += segundos


@contextmanager
def cenario(*, relogio: Relogio | None = None, cliente: dict | None = None, **opcoes):
    """A served sandbox and a client pointed at it."""
    relogio = relogio or Relogio()
    app = criar_app(
        access_token=TOKEN,
        app_secret="segredo-app",
        phone_number_id=TELEFONE_ID,
        waba_id=WABA,
        relogio=relogio,
        **opcoes,
    )
    with servir(app) as base:
        parametros = {
            "access_token": TOKEN,
            "phone_number_id": TELEFONE_ID,
            "waba_id": WABA,
            "api_base": base,
            "sleep": relogio.dormir,
            "timeout": 5.0,
            **(cliente or {}),
        }
        with WhatsAppClient(**parametros) as wc:
            yield app, wc, relogio


@pytest.fixture(scope="module")
def servido():
    """One shared sandbox for the cases that do not mutate it."""
    with cenario(erros_por_numero={"5521999990000": 131026}) as trio:
        yield trio


def _sem_token(erro: WhatsAppErro) -> None:
    textos = [str(erro), repr(erro), *map(str, vars(erro).values()), *map(str, erro.args)]
    assert not any(TOKEN in t for t in textos)


def test_send_template_devolve_wamid(servido):
    app, wc, _ = servido
    wamid = wc.send_template(ALUNA, "boas_vindas_acesso", "pt_BR", BOAS_VINDAS)
    envio = wc.enviar_template("+5531987654321", "aula_liberada", "pt_BR", ["Ana", "Funil", "X"])
    assert wamid.startswith("wamid.") and wamid != envio.wamid
    assert envio.wa_id == "5531987654321" and envio.input == "+5531987654321"
    assert envio.message_status == "accepted"
    feitos = {e["wamid"]: e for e in app.state.envios}
    assert feitos[wamid]["texto"].startswith("Olá, Maria! Seja bem-vindo(a) ao curso Marketing")
    assert feitos[envio.wamid]["texto"].startswith("Boa notícia, Ana: a aula Funil do curso X")


def test_template_sem_variaveis_e_nomeado():
    templates = [
        {
            "name": "aviso_simples",
            "language": "pt_BR",
            "status": "APPROVED",
            "category": "UTILITY",
            "components": [{"type": "BODY", "text": "Sua aula nova saiu!"}],
        },
        {
            "name": "lembrete_nomeado",
            "language": "pt_BR",
            "status": "APPROVED",
            "category": "UTILITY",
            "parameter_format": "NAMED",
            "components": [{"type": "BODY", "text": "Oi {{primeiro_nome}}, aula {{aula}}."}],
        },
    ]
    with cenario(templates=templates) as (app, wc, _):
        wc.send_template(ALUNA, "aviso_simples", "pt_BR", [])
        wc.send_template(
            ALUNA, "lembrete_nomeado", "pt_BR", {"aula": "Funil", "primeiro_nome": "Ana"}
        )
    assert [e["texto"] for e in app.state.envios] == ["Sua aula nova saiu!", "Oi Ana, aula Funil."]


@pytest.mark.parametrize(
    ("args", "codigo", "acao"),
    [
        ((ALUNA, "nao_existe", "pt_BR", ["a"]), 132001, "fix_template"),
        ((ALUNA, "boas_vindas_acesso", "pt_PT", BOAS_VINDAS), 132001, "fix_template"),
        ((ALUNA, "risco_reembolso", "pt_BR", ["a", "b"]), 132001, "fix_template"),
        ((ALUNA, "boas_vindas_acesso", "pt_BR", ["Maria"]), 132000, "fix_template"),
        ((ALUNA, "boas_vindas_acesso", "pt_BR", ["a\tb", "c", "d"]), 132007, "fix_template"),
        ((ALUNA, "boas_vindas_acesso", "pt_BR", ["x" * 1100, "c", "d"]), 132005, "fix_template"),
        (("55 11 abc", "boas_vindas_acesso", "pt_BR", BOAS_VINDAS), 100, "bad_number"),
        (("5521999990000", "boas_vindas_acesso", "pt_BR", BOAS_VINDAS), 131026, "bad_number"),
        (("551140028922", "boas_vindas_acesso", "pt_BR", BOAS_VINDAS), 131021, "bad_number"),
    ],
)
def test_erros_de_envio_viram_acao(servido, args, codigo, acao):
    _, wc, relogio = servido
    antes = len(relogio.dormidas)
    with pytest.raises(WhatsAppErro) as info:
        wc.send_template(*args)
    erro = info.value
    assert (erro.code, erro.acao, erro.status) == (codigo, acao, 400)
    assert erro.acao == Acao(acao) and erro.fbtrace_id and erro.message and erro.title
    assert f"code {codigo}" in str(erro) and erro.caminho == f"/v25.0/{TELEFONE_ID}/messages"
    assert len(relogio.dormidas) == antes  # not retried
    _sem_token(erro)


def test_token_errado_expirado_e_ids_errados():
    with cenario() as (app, wc, relogio):
        errado = WhatsAppClient(
            access_token="outro", phone_number_id=TELEFONE_ID, waba_id=WABA, api_base=wc.api_base
        )
        with errado, pytest.raises(WhatsAppErro) as recusado:
            errado.send_template(ALUNA, "boas_vindas_acesso", "pt_BR", BOAS_VINDAS)
        outro_id = WhatsAppClient(
            access_token=TOKEN, phone_number_id="999", waba_id="998", api_base=wc.api_base
        )
        with outro_id, pytest.raises(WhatsAppErro) as inexistente:
            list(outro_id.listar_templates())
        app.state.expirar_token()
        with pytest.raises(WhatsAppErro) as expirado:
            wc.send_template(ALUNA, "boas_vindas_acesso", "pt_BR", BOAS_VINDAS)
    assert (recusado.value.status, recusado.value.code) == (401, 190)
    assert recusado.value.acao == "stop_everything"
    assert expirado.value.error_subcode == 463 and expirado.value.acao == "stop_everything"
    assert inexistente.value.error_subcode == 33 and inexistente.value.acao == "stop_everything"
    assert relogio.dormidas == []
    _sem_token(expirado.value)


def test_limite_130429_e_depois_sucesso_com_backoff():
    relogio = Relogio()
    with cenario(relogio=relogio, msg_por_segundo=2) as (app, wc, _):
        wamids = [
            wc.send_template(ALUNA, "aula_liberada", "pt_BR", ["a", "b", "c"]) for _ in range(5)
        ]
    assert len(set(wamids)) == 5 and len(app.state.envios) == 5
    assert relogio.dormidas == [1.0, 1.0]  # one 130429 per second window, then success
    recusas = [r for r in app.state.requisicoes if r.startswith("POST")]
    assert len(recusas) == 7


def test_limite_130429_esgotado_vira_retry_later():
    relogio = Relogio(avancar=False)  # the window never passes
    opcoes = {"cliente": {"max_retries": 3}, "msg_por_segundo": 1, "relogio": relogio}
    with cenario(**opcoes) as (_, wc, _):
        wc.send_template(ALUNA, "aula_liberada", "pt_BR", ["a", "b", "c"])
        with pytest.raises(WhatsAppErro) as info:
            wc.send_template(ALUNA, "aula_liberada", "pt_BR", ["a", "b", "c"])
    assert relogio.dormidas == [1.0, 2.0, 4.0]
    assert (info.value.code, info.value.acao) == (130429, "retry_later")


def test_falhas_transitorias_sao_retentadas(servido, caplog):
    """A 429/5xx carrying Meta's error body was refused by Meta: the send is retried. A bare
    429 (a rate limiter in front of Meta) is retried too; a bare 5xx is not (next test)."""
    caplog.set_level(logging.DEBUG)
    app, wc, relogio = servido
    relogio.dormidas.clear()
    enviados_antes = len(app.state.envios)
    app.state.falhas.adicionar("/messages", codigo=131000, vezes=2)
    app.state.falhas.adicionar("/messages", codigo=2, status=503)
    app.state.falhas.adicionar("/messages", codigo=None, status=429)
    wamid = wc.send_template(ALUNA, "aula_liberada", "pt_BR", ["a", "b", "c"])
    assert wamid.startswith("wamid.") and relogio.dormidas == [1.0, 2.0, 4.0, 8.0]
    assert len(app.state.envios) == enviados_antes + 1
    relogio.dormidas.clear()
    app.state.falhas.adicionar("/messages", codigo=131056, vezes=3)
    wc.send_template(ALUNA, "aula_liberada", "pt_BR", ["a", "b", "c"])
    assert relogio.dormidas == [1.0, 4.0, 16.0]  # pair rate: 1, 4, 16, 64 s (reference §A5)
    relogio.dormidas.clear()
    app.state.falhas.adicionar("/message_templates", codigo=2, vezes=1)
    assert len(list(wc.listar_templates())) == 7 and relogio.dormidas == [1.0]
    assert "tentativa 1 falhou (HTTP 500, code 131000)" in caplog.text
    assert TOKEN not in caplog.text


@pytest.mark.parametrize("aceito", [True, False])
@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_sem_corpo_da_meta_num_envio_nao_e_retentado(servido, aceito, status):
    """A bare 5xx answer to a send may come from a gateway after Meta accepted it: "maybe
    sent", never retried (the dispatcher leaves the item to a person)."""
    app, wc, relogio = servido
    antes, enviados_antes = len(relogio.dormidas), len(app.state.envios)
    if aceito:
        app.state.falhas.adicionar_aceite_com_erro("/messages", status=status)
    else:
        app.state.falhas.adicionar("/messages", codigo=None, status=status)
    with pytest.raises(WhatsAppErro) as info:
        wc.send_template(ALUNA, "aula_liberada", "pt_BR", ["a", "b", "c"])
    erro = info.value
    assert erro.talvez_enviado and erro.acao == "retry_later" and erro.status == status
    assert "sem o corpo de erro da Meta" in str(erro)
    assert len(relogio.dormidas) == antes  # not retried
    assert len(app.state.envios) == enviados_antes + aceito
    _sem_token(erro)


def test_5xx_sem_corpo_numa_leitura_e_retentado(servido):
    """Listing templates changes nothing at Meta: a bare 5xx there is simply retried."""
    app, wc, relogio = servido
    relogio.dormidas.clear()
    app.state.falhas.adicionar("/message_templates", codigo=None, status=502, vezes=2)
    assert len(list(wc.listar_templates())) == 7 and relogio.dormidas == [1.0, 2.0]


@pytest.mark.parametrize(("codigo", "espera"), [(4, 300.0), (80007, 300.0), (131048, 21600.0)])
def test_limites_longos_nao_sao_retentados_no_cliente(servido, codigo, espera):
    app, wc, relogio = servido
    antes = len(relogio.dormidas)
    app.state.falhas.adicionar("/messages", codigo=codigo)
    with pytest.raises(WhatsAppErro) as info:
        wc.send_template(ALUNA, "aula_liberada", "pt_BR", ["a", "b", "c"])
    assert (info.value.code, info.value.acao, info.value.espera_s) == (
        codigo,
        "retry_later",
        espera,
    )
    assert len(relogio.dormidas) == antes


def test_listar_templates_em_varias_paginas_e_removido_some():
    with cenario() as (app, wc, _):
        todos = list(wc.listar_templates(limite=2))
        paginas = [r for r in app.state.requisicoes if "message_templates" in r]
        aprovados = list(wc.listar_templates(status="APPROVED"))
        app.state.remover_template("boleto_pendente")
        app.state.mudar_status_template("aula_liberada", "PAUSED")
        depois = list(wc.listar_templates(limite=3))
    assert [t["name"] for t in todos] == [t["name"] for t in TEMPLATES_DEMO]
    assert len(todos) == 7 and len(paginas) == 4
    assert {t["status"] for t in aprovados} == {"APPROVED"} and len(aprovados) == 5
    assert "boleto_pendente" not in {t["name"] for t in depois} and len(depois) == 6
    assert next(t for t in depois if t["name"] == "aula_liberada")["status"] == "PAUSED"
    assert set(todos[0]) >= {"id", "name", "language", "status", "category", "components"}


def _graph_falso(paginas_pedidas: list[str]) -> Starlette:
    """A Graph look-alike whose paging.next points at another host (or repeats a cursor)."""

    async def templates(request: Request) -> Response:
        paginas_pedidas.append(request.url.query)
        depois = request.query_params.get("after")
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return JSONResponse({"error": {"code": 190, "message": "x"}}, status_code=401)
        if depois is None:
            proxima = "https://evil.example/v25.0/2222/message_templates?after=c1"
            paging = {"cursors": {"before": "c0", "after": "c1"}, "next": proxima}
            return JSONResponse({"data": [{"name": "a"}], "paging": paging})
        if depois == "c1":
            paging = {"cursors": {"before": "c1", "after": "c1"}, "next": str(request.url)}
            return JSONResponse({"data": [{"name": "b"}], "paging": paging})
        return JSONResponse({"data": []})

    return Starlette(routes=[Route("/v25.0/2222/message_templates", templates)])


def test_paging_next_de_outro_host_nao_recebe_o_token():
    pedidas: list[str] = []
    with servir(_graph_falso(pedidas)) as base:
        wc = WhatsAppClient(
            access_token=TOKEN, phone_number_id=TELEFONE_ID, waba_id=WABA, api_base=base
        )
        with wc, pytest.raises(WhatsAppErro) as info:
            list(wc.listar_templates())
    # First page; then page 2 by cursor on our own host (never evil.example); its next repeats
    # the cursor, so the client stops before a third request.
    assert len(pedidas) == 2
    assert "after=c1" in pedidas[1] and "fields=" in pedidas[1]
    assert "cursor" in str(info.value)


def _eco() -> Starlette:
    """A hostile server echoing the Authorization header into every error field."""

    async def responder(request: Request) -> Response:
        eco = request.headers.get("authorization", "")
        if "/texto/" in request.url.path:
            return PlainTextResponse(f"proxy error {eco}", status_code=400)
        erro = {
            "message": f"bad token {eco}",
            "type": "OAuthException",
            "code": 131009,
            "error_data": {"details": f"details {eco}"},
            "error_user_title": f"title {eco}",
            "fbtrace_id": eco,
        }
        return JSONResponse({"error": erro}, status_code=400)

    async def lento(request: Request) -> Response:
        await asyncio.sleep(0.5)
        return JSONResponse({})

    rotas = [
        Route("/v25.0/lento/messages", lento, methods=["POST"]),
        Route("/{caminho:path}", responder, methods=["GET", "POST"]),
    ]
    return Starlette(routes=rotas)


def test_token_nunca_aparece_no_erro_nem_no_log(caplog):
    caplog.set_level(logging.DEBUG)
    with servir(_eco()) as base:
        comum = {"access_token": TOKEN, "waba_id": WABA, "api_base": base, "sleep": lambda s: None}
        with WhatsAppClient(phone_number_id=TELEFONE_ID, **comum) as wc:
            with pytest.raises(WhatsAppErro) as json_eco:
                wc.send_template(ALUNA, "x", "pt_BR", ["a"])
        with WhatsAppClient(phone_number_id="texto", **comum) as wc:
            with pytest.raises(WhatsAppErro):
                wc.send_template(ALUNA, "x", "pt_BR", [])
        with WhatsAppClient(phone_number_id="lento", timeout=0.1, **comum) as wc:
            with pytest.raises(WhatsAppErro) as lento:
                wc.send_template(ALUNA, "x", "pt_BR", [])
    assert json_eco.value.code == 131009 and json_eco.value.acao == "fix_template"
    assert "***" in json_eco.value.message and "***" in json_eco.value.title
    _sem_token(json_eco.value)
    assert lento.value.acao == "retry_later" and lento.value.talvez_enviado  # not resent
    _sem_token(lento.value)
    assert TOKEN not in caplog.text and TOKEN not in repr(wc)


def test_texto_plano_e_conexao_recusada():
    with servir(_eco()) as base:
        wc = WhatsAppClient(
            access_token=TOKEN, phone_number_id="texto", waba_id=WABA, api_base=base
        )
        with wc, pytest.raises(WhatsAppErro) as texto:
            wc.enviar_template(ALUNA, "x", "pt_BR")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    porta = sock.getsockname()[1]
    sock.close()  # nothing listens here now
    dormidas: list[float] = []
    wc = WhatsAppClient(
        access_token=TOKEN,
        phone_number_id=TELEFONE_ID,
        waba_id=WABA,
        api_base=f"http://127.0.0.1:{porta}",
        max_retries=2,
        sleep=dormidas.append,
    )
    with wc, pytest.raises(WhatsAppErro) as recusada:
        wc.send_template(ALUNA, "x", "pt_BR", [])
    assert texto.value.status == 400 and texto.value.code is None
    assert texto.value.acao == "fix_template" and "***" in str(texto.value)
    _sem_token(texto.value)
    assert recusada.value.acao == "retry_later" and not recusada.value.talvez_enviado
    assert dormidas == [1.0, 2.0]  # connect errors never reached Meta: safe to resend
    _sem_token(recusada.value)


# The expected action of every code in ACOES, written out by hand (not derived from ACOES).
ESPERADO = {
    "retry_later": {1, 2, 4, 80007, 130429, 131000, 131016, 131048, 131056, 131057},
    "fix_template": {100, 131008, 131009, 131051, 131052, 131053, 132000, 132001, 132005}
    | {132007, 132012, 132015, 132016, 132068, 132069, 135000},
    "bad_number": {130497, 131021, 131026, 131030},
    "stop_everything": {0, 3, 10, 190, 368, 2500, 131005, 131031, 131042, 131045, 133010}
    | set(range(200, 300)),
    "back_off_student": {130472, 131047, 131049, 131050},
}


def test_tabela_de_acoes_cobre_cada_codigo():
    por_codigo = {c: acao for acao, codigos in ESPERADO.items() for c in codigos}
    assert set(por_codigo) == set(ACOES)
    for codigo, acao in por_codigo.items():
        assert acao_para(codigo) == acao, codigo
    assert RETENTAVEIS <= ESPERADO["retry_later"]


@pytest.mark.parametrize(
    ("codigo", "kwargs", "acao"),
    [
        (100, {"details": "Invalid parameter 'to': not a phone number"}, "bad_number"),
        (100, {"details": "Recipient phone number is invalid"}, "bad_number"),
        (100, {"details": "messaging_product must be 'whatsapp'"}, "fix_template"),
        (100, {"error_subcode": 33}, "stop_everything"),
        (999999, {"status": 401}, "stop_everything"),
        (999999, {"status": 403}, "stop_everything"),
        (999999, {"status": 429}, "retry_later"),
        (999999, {"status": 503}, "retry_later"),
        (999999, {"status": 400}, "fix_template"),
        (None, {}, "retry_later"),
    ],
)
def test_acao_casos_especiais(codigo, kwargs, acao):
    assert acao_para(codigo, **kwargs) == acao


def test_cada_codigo_do_sandbox_pelo_cliente(servido):
    """Every code the sandbox can answer, through real HTTP, lands on the table's action."""
    app, wc, _ = servido
    wc.max_retries = 0
    try:
        for codigo in sorted(ERROS):
            app.state.falhas.adicionar("/messages", codigo=codigo)
            with pytest.raises(WhatsAppErro) as info:
                wc.send_template(ALUNA, "aula_liberada", "pt_BR", ["a", "b", "c"])
            erro = info.value
            assert erro.code == codigo and erro.status == ERROS[codigo][0]
            esperado = next(a for a, codigos in ESPERADO.items() if codigo in codigos)
            assert erro.acao == esperado, codigo
            assert erro.title == ACOES[codigo][1]
            _sem_token(erro)
    finally:
        wc.max_retries = 4
