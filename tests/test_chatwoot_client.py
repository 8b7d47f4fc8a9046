"""ChatwootClient against the sandbox over real loopback HTTP (sleep and clock injected)."""

from __future__ import annotations

import random
import socket
from contextlib import contextmanager

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from services.chatwoot_client import (
    ChatwootClient,
    ChatwootConflito,
    ChatwootErro,
    telefone_e164,
    titulo_label_valido,
    titulo_valido,
)
from services.sandbox.chatwoot import criar_app, titulo_aceito
from services.sandbox.server import servir
from tests.test_chatwoot_sandbox import AppTrocavel

TOKEN, CONTA = "cw-token-secreto-9f8e7d", 3


class Relogio:
    """A fake clock shared by the sandbox and the client; the fake sleep moves it."""

    def __init__(self, t: float = 6000.0) -> None:
        self.t = t
        self.dormidas: list[float] = []

    def __call__(self) -> float:
        return self.t

    def dormir(self, segundos: float) -> None:
        self.dormidas.append(segundos)
        self.t += segundos


@pytest.fixture(scope="module")
def servidor():
    trocavel = AppTrocavel()
    with servir(trocavel) as base:
        yield trocavel, base


@pytest.fixture
def cenario(servidor):
    """`with cenario(**opcoes) as (app, cw, relogio)`: a fresh sandbox app and a client of it."""
    trocavel, base = servidor

    @contextmanager
    def abrir(*, token=TOKEN, cliente=None, **opcoes):
        relogio = opcoes.setdefault("relogio", Relogio())
        trocavel.app = criar_app(api_token=TOKEN, account_id=CONTA, **opcoes)
        parametros = {
            "base_url": base + "/",
            "api_token": token,
            "account_id": str(CONTA),
            "sleep": relogio.dormir,
            "timeout": 5.0,
            **(cliente or {}),
        }
        with ChatwootClient(**parametros) as cw:
            yield trocavel.app, cw, relogio

    return abrir


def _chamadas(app, prefixo):
    return [r for r in app.state.requisicoes if r.startswith(prefixo)]


# --- pure functions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nome", "titulo"),
    [
        ("Super Fã!", "super_fa"),
        ("VIP", "vip"),
        ("Pós-venda", "pos-venda"),
        ("  Espaços   nas pontas ", "espacos_nas_pontas"),
        ("Aluno: Turma 2024/1", "aluno_turma_2024_1"),
        ("v1.2", "v1_2"),
        ("a - b", "a_b"),
        ("a__b", "a_b"),
        ("e-mail", "e-mail"),
        ("ÇAÇÃO", "cacao"),
        ("ﬁnal²", "final2"),
        ("Straße", "straße"),
        ("日本語", "日本語"),
        ("한글 태그", "한글_태그"),
        ("🔥 Engajado 🔥", "engajado"),
        ("A", "tag_a"),
        ("--x--", "tag_x"),
        ("_interno", "interno"),
    ],
)
def test_titulo_label_valido_casos(nome, titulo):
    assert titulo_label_valido(nome) == titulo
    assert titulo_valido(titulo) and titulo_aceito(titulo)


def test_titulo_label_valido_emoji_longos_e_vazio():
    fogo, foguete = titulo_label_valido("🔥🔥"), titulo_label_valido("🚀")
    assert fogo.startswith("tag_") and foguete.startswith("tag_") and fogo != foguete
    assert titulo_label_valido("🔥🔥") == fogo  # deterministic
    longo_a = titulo_label_valido(
        "Alunos que compraram o curso avançado de marketing digital 2024 A"
    )
    longo_b = titulo_label_valido(
        "Alunos que compraram o curso avançado de marketing digital 2024 B"
    )
    assert len(longo_a) <= 50 and len(longo_b) <= 50 and longo_a != longo_b
    assert longo_a.startswith("alunos_que_compraram_o_curso_avancado_de")
    with pytest.raises(ValueError):
        titulo_label_valido("   ")


def _nomes_dificeis(quantidade: int) -> list[str]:
    """Random tag names from letters, accents, marks, emoji, punctuation and odd spaces."""
    pedacos = list("aAzZçÇãÃéÉüÜñ0189 _-:./,!?#@'\"\t\n") + [
        "\u0301",  # combining acute
        "\u200d",  # zero-width joiner
        "\u00a0",  # no-break space
        "🔥",
        "👩‍💻",
        "ﬁ",
        "²",
        "Ⅻ",
        "ǅ",
        "İ",
        "ß",
        "日",
        "한",
        "١",
        "ـ",
        "\u0651",
    ]
    sorteio = random.Random(20260)
    return ["".join(sorteio.choices(pedacos, k=sorteio.randint(1, 70))) for _ in range(quantidade)]


def test_titulo_label_valido_sempre_aceito_pelo_sandbox(cenario):
    nomes = [n for n in _nomes_dificeis(400) if n.strip()]
    titulos = {titulo_label_valido(n) for n in nomes}
    assert all(titulo_valido(t) and titulo_aceito(t) and t == t.lower() for t in titulos)
    assert all(len(t) <= 50 for t in titulos)
    with cenario() as (app, cw, _):
        for titulo in sorted(titulos):
            assert cw.criar_label(titulo, "#1f93ff")["title"] == titulo
        assert len(app.state.conta.labels) == len(titulos)


@pytest.mark.parametrize(
    ("celular", "e164"),
    [
        ("5511987654321", "+5511987654321"),
        ("+55 (11) 98765-4321", "+5511987654321"),
        ("(11) 98765-4321", "+5511987654321"),
        ("11987654321", "+5511987654321"),
        ("55991234567", "+5555991234567"),  # DDD 55 without the country code
        ("+14155552671", "+14155552671"),
        ("123", None),
        ("", None),
        (None, None),
        ("55119876", None),
    ],
)
def test_telefone_e164(celular, e164):
    assert telefone_e164(celular) == e164


# --- contacts ------------------------------------------------------------------------------


def test_criar_buscar_e_atualizar_contato(cenario):
    with cenario() as (_, cw, _):
        criado = cw.criar_contato(
            nome="Maria Souza",
            email="Maria@x.com",
            telefone_e164="+5511987654321",
            identifier="Aluno-1",
            custom_attributes={"cpf": "52998224725"},
        )
        por_id = cw.buscar_contato(identifier="Aluno-1")
        caixa_errada = cw.buscar_contato(identifier="aluno-1")
        por_email = cw.buscar_contato(email="MARIA@x.com")
        por_telefone = cw.buscar_contato(telefone="(11) 98765-4321")
        nenhum = cw.buscar_contato(email="ninguem@x.com")
        atualizado = cw.atualizar_contato(
            criado["id"], nome="Maria S.", custom_attributes={"plano": "ouro"}
        )
        lido = cw.contato(criado["id"])
        with pytest.raises(ValueError):
            cw.buscar_contato()
    assert por_id["id"] == por_email["id"] == por_telefone["id"] == criado["id"]
    assert caixa_errada is None  # the identifier is compared case-sensitively
    assert nenhum is None
    assert atualizado["name"] == "Maria S."
    assert lido["custom_attributes"] == {"cpf": "52998224725", "plano": "ouro"}


def test_422_duplicado_e_telefone_ruim(cenario):
    with cenario() as (_, cw, _):
        cw.criar_contato(nome="Maria", email="maria@x.com", identifier="1")
        with pytest.raises(ChatwootErro) as duplicado:
            cw.criar_contato(nome="Outra", email="MARIA@x.com", identifier="2")
        with pytest.raises(ChatwootErro) as telefone:
            cw.criar_contato(nome="Outra", telefone_e164="11987654321", identifier="3")
    assert duplicado.value.status == 422 and duplicado.value.duplicado
    assert duplicado.value.atributos == ("email",)
    assert "Email has already been taken" in str(duplicado.value)
    assert telefone.value.status == 422 and not telefone.value.duplicado
    assert telefone.value.detalhe == "Phone number should be in e164 format"


def test_upsert_contato_idempotente(cenario):
    dados = {
        "identifier": "aluno-42",
        "nome": "Ana Lima",
        "email": "ana@x.com",
        "telefone_e164": "+5521912345678",
    }
    with cenario() as (app, cw, _):
        primeiro = cw.upsert_contato(**dados)
        segundo = cw.upsert_contato(**dados)
        escritas = _chamadas(app, "POST /api/v1/accounts/3/contacts?") + _chamadas(app, "PUT ")
        terceiro = cw.upsert_contato(**{**dados, "nome": "Ana Lima Souza", "email": "ANA.L@x.com"})
        puts = _chamadas(app, "PUT ")
        quarto = cw.upsert_contato(**{**dados, "email": None, "telefone_e164": None})
        contatos = list(app.state.conta.contatos.values())
    assert primeiro["id"] == segundo["id"] == terceiro["id"] == quarto["id"]
    assert len(escritas) == 1  # one create; the identical second call wrote nothing
    assert len(puts) == 1 and terceiro["name"] == "Ana Lima Souza"
    assert terceiro["email"] == "ana.l@x.com"
    assert quarto["email"] == "ana.l@x.com"  # our missing email never clears Chatwoot's
    assert len(contatos) == 1 and contatos[0]["identifier"] == "aluno-42"


def test_upsert_adota_contato_do_whatsapp_e_recusa_o_de_outro_aluno(cenario):
    sementes = [
        {"name": "+55 11 98765-4321", "phone_number": "+5511987654321"},  # created by an inbox
        {"name": "Irmão", "email": "familia@x.com", "identifier": "aluno-9"},
    ]
    with cenario(contatos=sementes) as (app, cw, _):
        adotado = cw.upsert_contato(
            identifier="aluno-1", nome="Maria", email=None, telefone_e164="+5511987654321"
        )
        with pytest.raises(ChatwootConflito) as conflito:
            cw.upsert_contato(
                identifier="aluno-2", nome="Irmã", email="familia@x.com", telefone_e164=None
            )
        with pytest.raises(ValueError):
            cw.upsert_contato(identifier="aluno-3", nome="X", email=None, telefone_e164="1198765")
        total = len(app.state.conta.contatos)
    assert adotado["id"] == 1 and adotado["identifier"] == "aluno-1" and adotado["name"] == "Maria"
    assert "aluno-9" in str(conflito.value)
    assert total == 2


def test_upsert_recupera_de_corrida_na_criacao(cenario, monkeypatch):
    with cenario() as (app, cw, _):

        def filtro_que_nao_acha(atributo, valor):
            # Another worker creates the contact right after our lookup missed it.
            if not app.state.conta.contatos:
                app.state.conta.criar_contato({"name": "Ana", "identifier": "aluno-7"})
            return []

        monkeypatch.setattr(cw, "_filtrar", filtro_que_nao_acha)
        contato = cw.upsert_contato(
            identifier="aluno-7", nome="Ana Lima", email=None, telefone_e164=None
        )
    assert contato["id"] == 1 and contato["name"] == "Ana Lima"
    assert len(app.state.conta.contatos) == 1


# --- labels --------------------------------------------------------------------------------


def test_labels_do_contato_substituicao(cenario):
    with cenario(labels=["vip", "lead", "novo"]) as (app, cw, _):
        c = cw.criar_contato(nome="Maria", identifier="aluno-1")
        tres = cw.definir_labels_do_contato(c["id"], ["vip", "lead", "novo"])
        um = cw.definir_labels_do_contato(c["id"], ["lead"])
        lido = cw.labels_do_contato(c["id"])
        app.state.adicionar_label_no_contato(c["id"], "agente")
        com_agente = cw.labels_do_contato(c["id"])
        vazio = cw.definir_labels_do_contato(c["id"], [])
        antes = len(app.state.requisicoes)
        with pytest.raises(ValueError):
            cw.definir_labels_do_contato(c["id"], ["Super Fã"])
        depois = len(app.state.requisicoes)
    assert tres == ["vip", "lead", "novo"]
    assert um == lido == ["lead"]  # posting a subset removed the others
    assert com_agente == ["lead", "agente"]
    assert vazio == [] and antes == depois


def test_labels_da_conta(cenario):
    with cenario() as (_, cw, _):
        criada = cw.criar_label("vip", "#ff0000", "Alunos VIP")
        garantida = cw.garantir_label("vip", "#00ff00")
        nova = cw.garantir_label("lead", "#00ff00")
        lista = cw.listar_labels()
        with pytest.raises(ChatwootErro) as duplicada:
            cw.criar_label("VIP", "#ff0000")
        with pytest.raises(ChatwootErro) as invalida:
            cw.criar_label("super fa", "#ff0000")
        with pytest.raises(ValueError):
            cw.criar_label("ok", "vermelho")
    assert criada["title"] == "vip" and criada["description"] == "Alunos VIP"
    assert garantida == criada and nova["title"] == "lead"
    assert [rotulo["title"] for rotulo in lista] == ["vip", "lead"]
    assert duplicada.value.duplicado and duplicada.value.atributos == ("title",)
    assert invalida.value.detalhe == "Title is invalid"


def test_renomear_e_apagar_label_retitulam_os_contatos(cenario):
    with cenario() as (app, cw, _):
        vip = cw.criar_label("vip", "#ff0000")
        lead = cw.criar_label("lead", "#00ff00")
        contato = cw.upsert_contato(
            identifier="a1", nome="Ana", email="ana@example.com", telefone_e164=None
        )
        cw.definir_labels_do_contato(contato["id"], ["vip", "lead", "outra"])
        renomeada = cw.renomear_label(vip["id"], "cliente_vip")
        depois_do_patch = cw.labels_do_contato(contato["id"])
        with pytest.raises(ChatwootErro) as duplicada:
            cw.renomear_label(lead["id"], "Cliente_VIP")
        cw.apagar_label(lead["id"])
        cw.apagar_label(lead["id"])  # already gone: not an error
        with pytest.raises(ChatwootErro) as inexistente:
            cw.renomear_label(lead["id"], "novo")
        titulos = [rotulo["title"] for rotulo in cw.listar_labels()]
        finais = cw.labels_do_contato(contato["id"])
    assert renomeada["id"] == vip["id"] and renomeada["title"] == "cliente_vip"
    assert depois_do_patch == ["lead", "outra", "cliente_vip"]
    assert duplicada.value.duplicado and inexistente.value.status == 404
    assert titulos == ["cliente_vip"]
    assert finais == ["outra", "cliente_vip"]


# --- retries and errors --------------------------------------------------------------------


def test_429_depois_sucesso_com_sleep_injetado(cenario):
    dormidas, apps = [], []

    def dormir(segundos):
        dormidas.append(segundos)
        apps[0].state.reiniciar_limite()  # as if the window had passed

    with cenario(limite_por_minuto=1, cliente={"sleep": dormir}) as (app, cw, _):
        apps.append(app)
        cw.listar_labels()
        assert cw.listar_labels() == []
        assert _chamadas(app, "GET ") == [f"GET /api/v1/accounts/{CONTA}/labels?"] * 3
    assert dormidas == [1.0]


def test_429_espera_a_janela_com_backoff(cenario):
    relogio = Relogio(6000.0)  # 6000 // 60 = window 100, which ends at 6060
    with cenario(limite_por_minuto=1, relogio=relogio, cliente={"max_retries": 6}) as (_, cw, _):
        cw.listar_labels()
        assert cw.listar_labels() == []
    assert relogio.dormidas == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]  # 6063 s: the next window


def test_429_esgotado_vira_erro(cenario):
    with cenario(limite_por_minuto=1, cliente={"max_retries": 2}) as (_, cw, relogio):
        cw.listar_labels()
        with pytest.raises(ChatwootErro) as erro:
            cw.listar_labels()
    assert erro.value.status == 429 and erro.value.detalhe == "Retry later"
    assert relogio.dormidas == [1.0, 2.0]


def test_retry_after_e_respeitado_quando_enviado():
    respostas = iter([PlainTextResponse("Retry later\n", 429, {"Retry-After": "7"})])

    async def labels(request):
        return next(respostas, JSONResponse({"payload": []}))

    app = Starlette(routes=[Route(f"/api/v1/accounts/{CONTA}/labels", labels)])
    relogio = Relogio()
    with servir(app) as base:
        cw = ChatwootClient(base_url=base, api_token=TOKEN, account_id=CONTA, sleep=relogio.dormir)
        with cw:
            assert cw.listar_labels() == []
    assert relogio.dormidas == [7.0]


def test_5xx_repetido_so_quando_idempotente(cenario):
    with cenario() as (app, cw, relogio):
        app.state.falhas.adicionar(f"/api/v1/accounts/{CONTA}/labels", status=503, vezes=2)
        assert cw.listar_labels() == []
        c = cw.criar_contato(nome="Maria", identifier="1")
        conversa = app.state.abrir_conversa(c["id"])
        app.state.falhas.adicionar(f"/api/v1/accounts/{CONTA}/conversations", status=502)
        with pytest.raises(ChatwootErro) as erro:
            cw.nota_privada(conversa, "não repetir")
    assert relogio.dormidas == [1.0, 2.0]
    assert erro.value.status == 502 and len(app.state.conta.conversas[conversa]["messages"]) == 0


def test_token_errado_401_sem_vazar_o_token(cenario):
    with cenario(token="token-errado-abcdef") as (_, cw, relogio):
        with pytest.raises(ChatwootErro) as erro:
            cw.upsert_contato(identifier="1", nome="Maria", email=None, telefone_e164=None)
    assert erro.value.status == 401 and erro.value.detalhe == "Invalid Access Token"
    assert "Invalid Access Token" in str(erro.value)
    assert "token-errado-abcdef" not in str(erro.value) + repr(erro.value.args)
    assert TOKEN not in str(erro.value)
    assert relogio.dormidas == []  # 401 is not retried


def test_sem_conexao_vira_erro_sem_token():
    with socket.socket() as livre:
        livre.bind(("127.0.0.1", 0))
        porta = livre.getsockname()[1]
    relogio = Relogio()
    cw = ChatwootClient(
        base_url=f"http://127.0.0.1:{porta}",
        api_token=TOKEN,
        account_id=CONTA,
        max_retries=2,
        sleep=relogio.dormir,
    )
    with cw, pytest.raises(ChatwootErro) as erro:
        cw.listar_labels()
    assert "conexão" in str(erro.value) and TOKEN not in str(erro.value)
    assert erro.value.status is None and relogio.dormidas == [1.0, 2.0]


# --- conversations -------------------------------------------------------------------------


def test_ultima_conversa_e_nota_privada(cenario):
    with cenario() as (app, cw, _):
        c = cw.criar_contato(nome="Maria", identifier="aluno-1")
        sem_conversa = cw.ultima_conversa(c["id"])
        app.state.abrir_conversa(c["id"], status="resolved")
        recente = app.state.abrir_conversa(c["id"])
        ultima = cw.ultima_conversa(c["id"])
        nota = cw.nota_privada(ultima["id"], "Mensagem enviada pela Meta: lembrete do módulo 3")
    assert sem_conversa is None
    assert ultima["id"] == recente and ultima["status"] == "open"
    assert nota["private"] is True and nota["conversation_id"] == recente
    assert nota["content"].startswith("Mensagem enviada")
