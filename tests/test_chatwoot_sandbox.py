"""The Chatwoot sandbox over real loopback HTTP: shapes, validations, replace semantics, 429."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager

import httpx
import pytest

from services.sandbox.chatwoot import (
    DEMO_ACCOUNT_ID,
    DEMO_API_TOKEN,
    criar_app,
    titulo_aceito,
)
from services.sandbox.server import servir

TOKEN, CONTA = "token-de-teste-cw-123", 7
BASE = f"/api/v1/accounts/{CONTA}"


class Relogio:
    """A fake clock the test moves by hand."""

    def __init__(self, t: float = 600.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class AppTrocavel:
    """One served ASGI entry whose app each test swaps: one uvicorn per module, fresh state."""

    def __init__(self) -> None:
        self.app = None

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while (await receive())["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def servidor():
    trocavel = AppTrocavel()
    with servir(trocavel) as base:
        yield trocavel, base


@pytest.fixture
def sandbox(servidor):
    """`with sandbox(**opcoes) as (app, http)`: a fresh sandbox app and a client of it."""
    trocavel, base = servidor

    @contextmanager
    def abrir(**opcoes):
        trocavel.app = criar_app(api_token=TOKEN, account_id=CONTA, **opcoes)
        cabecalhos = {"api_access_token": TOKEN}
        with httpx.Client(base_url=base + BASE, headers=cabecalhos, timeout=10) as http:
            yield trocavel.app, http

    return abrir


def _contato(http, **campos):
    resposta = http.post("/contacts", json=campos)
    assert resposta.status_code == 200, resposta.text
    return resposta.json()["payload"]["contact"]


def test_token_errado_ou_ausente_e_outra_conta(sandbox):
    with sandbox() as (_, http):
        errado = http.get("/labels", headers={"api_access_token": "outro"})
        sem = httpx.get(str(http.base_url) + "labels")
        outra = http.get(str(http.base_url).replace(f"/{CONTA}/", "/8/") + "labels")
    assert errado.status_code == 401 and errado.json() == {"error": "Invalid Access Token"}
    assert sem.status_code == 401 and sem.json() == {"error": "Invalid Access Token"}
    assert outra.status_code == 401
    assert outra.json() == {"error": "You are not authorized to do this action"}


def test_criar_ler_atualizar_contato(sandbox):
    with sandbox() as (_, http):
        resposta = http.post(
            "/contacts",
            json={
                "name": "Maria Souza",
                "email": "Maria@Exemplo.com.br",
                "phone_number": "+5511987654321",
                "identifier": "aluno-1",
                "custom_attributes": {"cpf": "123", "plano": "ouro"},
            },
        )
        corpo = resposta.json()["payload"]
        contato = corpo["contact"]
        lido = http.get(f"/contacts/{contato['id']}").json()["payload"]
        atualizado = http.put(
            f"/contacts/{contato['id']}",
            json={"name": "Maria S.", "custom_attributes": {"plano": "prata"}},
        ).json()["payload"]
        ausente = http.get("/contacts/999")
    assert resposta.status_code == 200
    assert corpo["contact_inbox"] == {"inbox": None, "source_id": None}
    assert contato["email"] == "maria@exemplo.com.br"  # lower-cased by the model
    assert contato["phone_number"] == "+5511987654321" and contato["identifier"] == "aluno-1"
    assert isinstance(contato["created_at"], int) and contato["contact_inboxes"] == []
    assert lido == contato
    assert atualizado["name"] == "Maria S." and atualizado["email"] == "maria@exemplo.com.br"
    assert atualizado["custom_attributes"] == {"cpf": "123", "plano": "prata"}  # merged
    assert ausente.status_code == 404 and ausente.json() == {"error": "Resource could not be found"}


@pytest.mark.parametrize(
    ("campos", "mensagem", "atributos"),
    [
        ({"email": "MARIA@exemplo.com.br"}, "Email has already been taken", ["email"]),
        (
            {"phone_number": "+5511987654321"},
            "Phone number has already been taken",
            ["phone_number"],
        ),
        ({"identifier": "aluno-1"}, "Identifier has already been taken", ["identifier"]),
        (
            {"phone_number": "5511987654321"},
            "Phone number should be in e164 format",
            ["phone_number"],
        ),
        (
            {"phone_number": "+0511987654321"},
            "Phone number should be in e164 format",
            ["phone_number"],
        ),
        (
            {"phone_number": "+55119876543210000"},
            "Phone number should be in e164 format",
            ["phone_number"],
        ),
        ({"email": "sem-arroba"}, "Email Invalid email", ["email"]),
        (
            {"email": "maria@exemplo.com.br", "phone_number": "11 9876"},
            "Phone number should be in e164 format, Email has already been taken",
            ["phone_number", "email"],
        ),
    ],
)
def test_422_duplicados_e_formatos(sandbox, campos, mensagem, atributos):
    with sandbox() as (app, http):
        _contato(
            http,
            name="Maria",
            email="maria@exemplo.com.br",
            phone_number="+5511987654321",
            identifier="aluno-1",
        )
        resposta = http.post("/contacts", json={"name": "Outra", **campos})
        assert len(app.state.conta.contatos) == 1
    assert resposta.status_code == 422
    assert resposta.json() == {"message": mensagem, "attributes": atributos}


def test_atualizar_para_valor_de_outro_contato_e_422(sandbox):
    with sandbox() as (_, http):
        _contato(http, name="A", email="a@x.com")
        b = _contato(http, name="B", email="b@x.com")
        mesmo = http.put(f"/contacts/{b['id']}", json={"email": "B@X.com"})
        conflito = http.put(f"/contacts/{b['id']}", json={"email": "a@x.com"})
        depois = http.get(f"/contacts/{b['id']}").json()["payload"]
    assert mesmo.status_code == 200
    assert conflito.status_code == 422 and conflito.json()["attributes"] == ["email"]
    assert depois["email"] == "b@x.com"


def test_busca_e_filtro(sandbox):
    with sandbox() as (_, http):
        maria = _contato(
            http,
            name="Maria Souza",
            email="maria@x.com",
            phone_number="+5511987654321",
            identifier="AL-1",
        )
        _contato(
            http,
            name="João Lima",
            email="joao@x.com",
            phone_number="+5521912345678",
            identifier="al-2",
        )
        sem_q = http.get("/contacts/search")
        por_mais = http.get("/contacts/search", params={"q": "+5511987"}).json()
        por_nome = http.get("/contacts/search", params={"q": "souza"}).json()
        identificador = http.get("/contacts/search", params={"q": "al-"}).json()

        def filtro(*condicoes):
            return http.post("/contacts/filter", json={"payload": list(condicoes)})

        def cond(chave, valor, operador="equal_to", juncao=None):
            return {
                "attribute_key": chave,
                "filter_operator": operador,
                "values": [valor],
                "query_operator": juncao,
            }

        por_tel = filtro(cond("phone_number", "+5511987654321")).json()
        por_email = filtro(cond("email", "MARIA@x.com")).json()
        por_id = filtro(cond("identifier", "al-1")).json()
        contem = filtro(cond("phone_number", "2191", "contains")).json()
        ou = filtro(cond("email", "maria@x.com", juncao="OR"), cond("email", "joao@x.com")).json()
        e = filtro(cond("email", "maria@x.com", juncao="AND"), cond("identifier", "al-2")).json()
        chave_ruim = filtro(cond("cpf", "1"))
        operador_ruim = filtro(cond("identifier", "al", "contains"))
    assert sem_q.status_code == 422
    assert sem_q.json() == {"error": "Specify search string with parameter q"}
    assert [c["id"] for c in por_mais["payload"]] == [maria["id"]]
    assert por_nome["meta"] == {"count": 1, "current_page": 1}
    assert [c["identifier"] for c in identificador["payload"]] == ["al-2"]  # LIKE: case-sensitive
    assert [c["id"] for c in por_tel["payload"]] == [maria["id"]]
    assert [c["id"] for c in por_email["payload"]] == [maria["id"]]
    assert [c["id"] for c in por_id["payload"]] == [maria["id"]]  # LOWER() on both sides
    assert [c["name"] for c in contem["payload"]] == ["João Lima"]
    assert ou["meta"]["count"] == 2 and e["meta"]["count"] == 0
    assert (
        chave_ruim.status_code == 422
        and "Invalid attribute key - [cpf]" in chave_ruim.json()["error"]
    )
    assert operador_ruim.status_code == 422 and operador_ruim.json()["error"].startswith(
        "Invalid operator"
    )


def test_listagem_paginada_so_contatos_resolvidos(sandbox):
    contatos = [{"name": f"Aluno {i}", "email": f"a{i}@x.com"} for i in range(20)]
    contatos += [{"name": "Visitante sem dados"}, {"name": "Outro visitante"}]
    with sandbox(contatos=contatos) as (_, http):
        p1 = http.get("/contacts").json()
        p2 = http.get("/contacts", params={"page": 2}).json()
        p3 = http.get("/contacts", params={"page": 3}).json()
    assert len(p1["payload"]) == 15 and p1["meta"] == {"count": 20, "current_page": 1}
    assert len(p2["payload"]) == 5 and p2["meta"] == {"count": 20, "current_page": "2"}
    assert p3["payload"] == []
    nomes = [c["name"] for c in p1["payload"] + p2["payload"]]
    assert nomes == [f"Aluno {i}" for i in range(20)]


@pytest.mark.parametrize("titulo", ["vip", "Super_Fã", "pós-venda", "2024", "日本", "a1", "x-"])
def test_titulo_de_label_valido(sandbox, titulo):
    with sandbox() as (_, http):
        resposta = http.post("/labels", json={"title": titulo, "color": "#00ff00"})
        lista = http.get("/labels").json()
    assert resposta.status_code == 200, resposta.text
    label = resposta.json()
    assert label["title"] == titulo.lower() and label["color"] == "#00ff00"
    assert lista == {"payload": [label]}


@pytest.mark.parametrize(
    "titulo",
    ["a", "_vip", "-vip", "super fa", "aluno:ouro", "v1.2", "a/b", "fã!", "🔥fogo", "ab\n"],
)
def test_titulo_de_label_invalido(sandbox, titulo):
    with sandbox() as (app, http):
        resposta = http.post("/labels", json={"title": titulo})
        assert app.state.conta.labels == {}
    assert resposta.status_code == 422
    assert resposta.json() == {"message": "Title is invalid", "attributes": ["title"]}
    assert not titulo_aceito(titulo.lower())


def test_label_duplicada_vazia_e_formato_embrulhado(sandbox):
    with sandbox() as (_, http):
        primeira = http.post(
            "/labels", json={"label": {"title": "VIP", "show_on_sidebar": True}}
        ).json()
        duplicada = http.post("/labels", json={"title": "vip"})
        vazia = http.post("/labels", json={"title": ""})
    assert primeira["title"] == "vip" and primeira["color"] == "#1f93ff"
    assert primeira["show_on_sidebar"] is True and primeira["description"] is None
    assert duplicada.status_code == 422
    assert duplicada.json() == {"message": "Title has already been taken", "attributes": ["title"]}
    assert vazia.status_code == 422
    assert vazia.json() == {
        "message": "Title must not be blank, Title is invalid",
        "attributes": ["title"],
    }


def test_labels_do_contato_substituem_o_conjunto(sandbox):
    with sandbox(labels=["vip", "lead"]) as (app, http):
        c = _contato(http, name="Maria", identifier="aluno-1")
        caminho = f"/contacts/{c['id']}/labels"
        inicial = http.get(caminho).json()
        tres = http.post(caminho, json={"labels": ["vip", "lead", "novo"]}).json()
        um = http.post(caminho, json={"labels": ["lead"]}).json()
        lido = http.get(caminho).json()
        app.state.adicionar_label_no_contato(c["id"], "agente")
        com_agente = http.get(caminho).json()
        virgulas = http.post(caminho, json={"labels": [" a , b", "a", ""]}).json()
        vazio = http.post(caminho, json={"labels": []}).json()
        sem_chave = http.post(caminho, json={}).json()
        titulos = [rotulo["title"] for rotulo in http.get("/labels").json()["payload"]]
        ausente = http.get("/contacts/999/labels")
    assert inicial == {"payload": []}
    assert tres == {"payload": ["vip", "lead", "novo"]}
    assert um == lido == {"payload": ["lead"]}  # the subset removed the others
    assert com_agente == {"payload": ["lead", "agente"]}
    assert virgulas == {"payload": ["a", "b"]}  # acts-as-taggable-on parsing
    assert vazio == sem_chave == {"payload": []}
    assert titulos == ["vip", "lead"]  # contact labels create no account label
    assert ausente.status_code == 404


def test_labels_desconhecidas_descartadas_como_nas_versoes_novas(sandbox):
    with sandbox(labels=["vip"], descartar_labels_desconhecidas=True) as (_, http):
        c = _contato(http, name="Maria", identifier="aluno-1")
        resposta = http.post(f"/contacts/{c['id']}/labels", json={"labels": ["vip", "inexistente"]})
    assert resposta.json() == {"payload": ["vip"]}


def test_filtro_por_labels_e_sementes_com_labels(sandbox):
    sementes = [
        {"name": "A", "identifier": "1", "labels": ["vip"]},
        {"name": "B", "identifier": "2", "labels": ["lead"]},
        {"name": "C", "identifier": "3"},
    ]
    with sandbox(contatos=sementes, labels=["vip", "lead"]) as (_, http):
        filtro = {"attribute_key": "labels", "filter_operator": "equal_to", "values": ["vip"]}
        vip = http.post("/contacts/filter", json={"payload": [filtro]}).json()
        sem = {"attribute_key": "labels", "filter_operator": "is_not_present", "values": []}
        sem_label = http.post("/contacts/filter", json={"payload": [sem]}).json()
        listados = http.get("/contacts", params={"labels[]": "lead"}).json()
    assert [c["name"] for c in vip["payload"]] == ["A"]
    assert [c["name"] for c in sem_label["payload"]] == ["C"]
    assert [c["name"] for c in listados["payload"]] == ["B"]


def test_429_na_janela_alinhada_ao_relogio(sandbox):
    relogio = Relogio(600.0)  # the start of a 60 s window, as Rack::Attack aligns them
    with sandbox(limite_por_minuto=2, relogio=relogio) as (app, http):
        codigos = [http.get("/labels").status_code for _ in range(3)]
        limitada = http.get("/labels")
        relogio.t = 659.9
        ainda = http.get("/labels").status_code
        relogio.t = 660.0
        nova_janela = [http.get("/labels").status_code for _ in range(3)]
        app.state.reiniciar_limite()
        reiniciada = http.get("/labels").status_code
    assert codigos == [200, 200, 429]
    assert limitada.text == "Retry later\n" and limitada.headers["content-type"].startswith(
        "text/plain"
    )
    assert ainda == 429 and nova_janela == [200, 200, 429] and reiniciada == 200


def test_429_da_busca_por_conta(sandbox):
    with sandbox(limite_busca_por_minuto=1, relogio=Relogio()) as (_, http):
        buscas = [http.get("/contacts/search", params={"q": "x"}).status_code for _ in range(2)]
        outras = http.get("/labels").status_code
    assert buscas == [200, 429] and outras == 200


def test_conversas_e_nota_privada(sandbox):
    with sandbox() as (app, http):
        c = _contato(http, name="Maria", identifier="aluno-1")
        antiga = app.state.abrir_conversa(c["id"], status="resolved")
        nova = app.state.abrir_conversa(c["id"])
        nota = http.post(
            f"/conversations/{antiga}/messages",
            json={
                "content": "Aluno parou no módulo 2",
                "message_type": "outgoing",
                "private": True,
            },
        )
        conversas = http.get(f"/contacts/{c['id']}/conversations").json()["payload"]
        vazia = http.post(f"/conversations/{nova}/messages", json={"content": " "})
        ausente = http.post("/conversations/999/messages", json={"content": "x"})
    mensagem = nota.json()
    assert nota.status_code == 200 and mensagem["private"] is True
    assert mensagem["message_type"] == 1 and mensagem["conversation_id"] == antiga
    assert [cv["id"] for cv in conversas] == [antiga, nova]  # the note made it the newest
    assert conversas[0]["messages"][0]["content"] == "Aluno parou no módulo 2"
    assert vazia.status_code == 422 and ausente.status_code == 404


def test_rotas_registradas_e_desconhecidas(sandbox):
    with sandbox() as (app, http):
        http.get("/labels", params={"x": "1"})
        desconhecida = http.get("/inboxes")
        metodo = http.delete("/contacts")
    assert f"GET {BASE}/labels?x=1" in app.state.requisicoes
    assert desconhecida.status_code == 404
    assert desconhecida.json() == {"error": "Resource could not be found"}
    assert metodo.status_code == 405


def test_falha_programada_5xx(sandbox):
    with sandbox() as (app, http):
        app.state.falhas.adicionar(f"{BASE}/labels", status=503, vezes=1)
        primeira, segunda = http.get("/labels"), http.get("/labels")
    assert primeira.status_code == 503 and segunda.status_code == 200


def test_modulo_inicia_sozinho_e_imprime_credenciais_de_demo():
    with socket.socket() as livre:
        livre.bind(("127.0.0.1", 0))
        porta = livre.getsockname()[1]
    raiz = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    processo = subprocess.Popen(
        [sys.executable, "-m", "services.sandbox.chatwoot", "--port", str(porta)],
        cwd=raiz,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        linhas = [processo.stdout.readline() for _ in range(4)]
        url = f"http://127.0.0.1:{porta}/api/v1/accounts/{DEMO_ACCOUNT_ID}/labels"
        for _ in range(200):
            try:
                resposta = httpx.get(url, headers={"api_access_token": DEMO_API_TOKEN})
                break
            except httpx.TransportError:
                time.sleep(0.05)
    finally:
        processo.terminate()
        processo.wait(timeout=10)
    saida = "".join(linhas)
    assert f"http://127.0.0.1:{porta}" in saida
    assert f"chatwoot_account_id = {DEMO_ACCOUNT_ID}" in saida and DEMO_API_TOKEN in saida
    assert resposta.status_code == 200 and resposta.json() == {"payload": []}
