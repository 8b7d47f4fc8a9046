"""Fuzzed bodies and headers against POST /webhooks/hotmart and POST /webhooks/meta (issue #8).

Everything goes through the real routes (the session's TestClient over st.App) into the real
database. Properties checked on every example:

- never a 5xx;
- a 4xx carries a JSON body with a reason (``erro``);
- a refused request (401, 413) writes nothing at all: every table is fingerprinted (row count
  and newest row version) before and after;
- a 400 keeps the raw event (one new ``eventos_webhook`` row) and writes nothing else;
- an accepted (2xx) event has exactly one raw row, whatever the number of deliveries, and a
  repeated delivery ("duplicado") changes no table;
- the shared secret a body may carry (Hotmart's ``hottok``) is never stored.

Each example starts from empty tables (``limpar``) with the credentials set again, so the
function-scoped ``banco`` fixture only starts the test; the long variants run under ``longo``.
"""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from db.uow import UnidadeDeTrabalho
from services import config
from services.demo_data import gerar_dataset
from services.sandbox import hotmart_webhooks as pb
from services.sandbox.meta_webhooks import (
    assinar,
    corpo_inbound,
    corpo_status,
    corpo_status_template,
    serializar,
)
from services.webhook_hotmart import LIMITE_CORPO
from tests.fuzz_apoio import (
    LONGO,
    POUCOS,
    RAPIDO,
    alteradas,
    fotografia,
    hostil,
    limpar,
    tabelas,
)

HOTTOK = "hottok-fuzz-9f3K"
SEGREDO = "app-secret-fuzz-Q7w"
AGORA = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
WABA, TELEFONE_ID = "102290129340398", "106540352242922"
DS = gerar_dataset(alunos=40, seed=5, agora=AGORA)
EXEMPLOS_HOTMART = pb.exemplos(DS)


def _exemplos_meta() -> list[dict]:
    base = {"waba_id": WABA, "phone_number_id": TELEFONE_ID, "telefone_exibicao": "551140028922"}
    corpos = [
        corpo_status(
            **base,
            wamid=f"wamid.fuzz{i}",
            status=status,
            timestamp=1_780_000_000 + i,
            recipient_id="5511987654321",
            codigo_erro=131026 if status == "failed" else None,
        )
        for i, status in enumerate(("sent", "delivered", "read", "failed"))
    ]
    corpos.append(
        corpo_inbound(
            **base,
            de="5511987654321",
            texto="SAIR",
            wamid="wamid.in1",
            timestamp=1_780_000_100,
        )
    )
    modelo = {"id": "777", "name": "boas_vindas", "language": "pt_BR", "category": "UTILITY"}
    corpos.append(
        corpo_status_template(waba_id=WABA, template=modelo, evento="APPROVED", timestamp=1)
    )
    return corpos


EXEMPLOS_META = _exemplos_meta()


# ---- strategies -----------------------------------------------------------------------------

_ESPECIAIS = ["\x00", "a\x00b", "\ud800", "x\udfffy", "\ufeff", "\u2028", "NaN", "-0", "1e999"]
textos = st.one_of(
    st.text(max_size=40),
    hostil(),
    st.sampled_from(_ESPECIAIS),
    st.integers(min_value=256, max_value=200_000).map(lambda n: "ç" * n),
)
numeros = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 10**12, 10**13, 99_999_999_999_999, 2**63, 1e300]),
)
escalares = st.one_of(st.none(), st.booleans(), numeros, textos)
valores_json = st.recursive(
    escalares,
    lambda filhos: st.one_of(
        st.lists(filhos, max_size=4), st.dictionaries(st.text(max_size=8), filhos, max_size=4)
    ),
    max_leaves=8,
)


def _caminhos(no: Any, prefixo: tuple = ()) -> list[tuple]:
    """Every path (keys/indices) under a JSON tree, the root excluded."""
    caminhos = []
    if isinstance(no, dict):
        itens = list(no.items())
    elif isinstance(no, list):
        itens = list(enumerate(no))
    else:
        return []
    for chave, filho in itens:
        caminhos.append((*prefixo, chave))
        caminhos.extend(_caminhos(filho, (*prefixo, chave)))
    return caminhos


def _pai(raiz: Any, caminho: tuple) -> Any:
    for passo in caminho[:-1]:
        raiz = raiz[passo]
    return raiz


@st.composite
def mutado(draw, exemplos: list[dict]) -> Any:
    """A real event with 1–4 mutations: a value replaced (wrong type, huge, NUL, unicode…),
    a key removed, or an unknown key added."""
    evento = copy.deepcopy(draw(st.sampled_from(exemplos)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        caminhos = _caminhos(evento)
        if not caminhos:
            break
        caminho = draw(st.sampled_from(caminhos))
        pai = _pai(evento, caminho)
        operacao = draw(st.sampled_from(["trocar", "trocar", "remover", "acrescentar"]))
        if operacao == "trocar":
            pai[caminho[-1]] = draw(valores_json)
        elif operacao == "remover":
            del pai[caminho[-1]]
        elif isinstance(pai, dict):
            pai[draw(textos)] = draw(valores_json)
    return evento


def _serializar(evento: Any, formato: str) -> bytes:
    if formato == "compacto":
        return json.dumps(evento, separators=(",", ":")).encode()
    if formato == "utf8":
        return json.dumps(evento, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return serializar(evento) if isinstance(evento, dict) else json.dumps(evento).encode()


corpos_brutos = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from(
        [
            b"",
            b"{",
            b"null",
            b"[]",
            b'"texto"',
            b"123",
            b'{"id": "x", "event": ',
            b"\xff\xfe{}",
            b'{"id": "\\u0000", "event": "PURCHASE_APPROVED", "data": {}}',
            b'{"id": "a", "id": "b", "event": "X", "data": {}}',
            b'{"id": "nan", "event": "X", "data": {"v": NaN}}',
            b"[" * 5_000,
            b'{"a":' * 2_000 + b"1" + b"}" * 2_000,
            b"[" * 900 + b"]" * 900,
        ]
    ),
    valores_json.map(lambda v: json.dumps(v).encode()),
)
cabecalho_bruto = st.one_of(
    st.binary(max_size=40).map(lambda b: bytes(c for c in b if c >= 0x20 and c != 0x7F)),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80).map(
        str.encode
    ),
)


# ---- helpers --------------------------------------------------------------------------------


class Rotas:
    """The TestClient, the database and a fresh start for each example."""

    def __init__(self, cliente, banco) -> None:
        self.cliente, self.banco = cliente, banco
        self.nomes = tabelas(banco)
        self._limpo: dict | None = None

    def preparar(self) -> None:
        """Back to empty tables with only the webhook credentials set (each example starts
        from the same state; only the tables the previous example changed are emptied)."""
        if self._limpo is not None:
            sujas = alteradas(self._limpo, self.fotografia())
            if not sujas:
                return
            if not sujas & {"configuracoes", "auditoria"}:
                limpar(self.banco, sorted(sujas))
                self._limpo = self.fotografia()
                return
        limpar(self.banco, self.nomes)
        with UnidadeDeTrabalho() as uow:
            config.definir_varios(
                uow.session, {"hotmart_hottok": HOTTOK, "meta_app_secret": SEGREDO}
            )
            uow.commit()
        self._limpo = self.fotografia()

    def fotografia(self) -> dict:
        return fotografia(self.banco, self.nomes)

    def verificar(self, resposta, antes, *, origem: str, evento_id: str | None) -> dict:
        return _verificar(
            self.banco, self.nomes, resposta, antes, origem=origem, evento_id=evento_id
        )


@pytest.fixture
def rotas(banco, cliente_app) -> Rotas:
    return Rotas(cliente_app, banco)


def _eventos(banco, origem: str, evento_id: str | None) -> int:
    with banco.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM eventos_webhook WHERE origem = :o AND evento_id = :e"),
            {"o": origem, "e": evento_id},
        ).scalar()


def _segredo_guardado(banco) -> bool:
    with banco.connect() as conn:
        return bool(
            conn.execute(
                text(
                    "SELECT count(*) FROM eventos_webhook WHERE position(:s IN "
                    "coalesce(payload::text, '') || coalesce(corpo_bruto, '')) > 0"
                ),
                {"s": HOTTOK},
            ).scalar()
        )


def _verificar(banco, nomes, resposta, antes, *, origem: str, evento_id: str | None) -> dict:
    """The properties every answer must have; returns the JSON body."""
    depois = fotografia(banco, nomes)
    mudou = alteradas(antes, depois)
    assert resposta.status_code < 500, (resposta.status_code, resposta.text[:300])
    assert resposta.headers["content-type"].startswith("application/json")
    corpo = resposta.json()
    assert isinstance(corpo, dict)
    if resposta.status_code >= 400:
        assert isinstance(corpo.get("erro"), str) and corpo["erro"].strip(), corpo
    if resposta.status_code in (401, 413):
        assert not mudou, (resposta.status_code, mudou)
    elif resposta.status_code == 400:
        assert mudou == {"eventos_webhook"}, (corpo, mudou)
        assert depois["eventos_webhook"][0] == antes["eventos_webhook"][0] + 1
    else:
        # No "internal failure" either (202, or Meta's 200 "armazenado" with an error): a bad
        # value is a 400 with its reason, a good one is applied.
        assert resposta.status_code == 200, (resposta.status_code, corpo)
        assert corpo.get("status") in ("processado", "duplicado"), corpo
        if corpo.get("status") == "duplicado":
            assert not mudou, mudou
        assert evento_id is not None and _eventos(banco, origem, evento_id) == 1
    assert not _segredo_guardado(banco)
    return corpo


def _id_hotmart(corpo: bytes) -> str | None:
    """The event id the route keys a stored Hotmart event by (None when it has none)."""
    try:
        evento = json.loads(corpo)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    valor = evento.get("id") if isinstance(evento, dict) else None
    return valor if isinstance(valor, str) else None


def _postar_hotmart(cliente, corpo: bytes, hottok: bytes | None):
    cabecalhos = {"Content-Type": "application/json"}
    if hottok is not None:
        cabecalhos["X-HOTMART-HOTTOK"] = hottok
    return cliente.post("/webhooks/hotmart", content=corpo, headers=cabecalhos)


def _postar_meta(cliente, corpo: bytes, assinatura: bytes | str | None):
    cabecalhos = {"Content-Type": "application/json"}
    if assinatura is not None:
        cabecalhos["X-Hub-Signature-256"] = assinatura
    return cliente.post("/webhooks/meta", content=corpo, headers=cabecalhos)


# ---- Hotmart --------------------------------------------------------------------------------

hottoks = st.one_of(
    st.just(("cabecalho", HOTTOK.encode())),
    st.just(("cabecalho", HOTTOK.encode())),
    st.just(("corpo", None)),
    st.just(("nenhum", None)),
    st.sampled_from(
        [b"", HOTTOK.upper().encode(), HOTTOK[:-1].encode(), (HOTTOK + " ").encode()]
    ).map(lambda h: ("errado", h)),
    cabecalho_bruto.map(lambda h: ("errado", h)),
)


def _caso_hotmart(rotas: Rotas, evento: Any, formato: str, hottok: tuple) -> dict:
    rotas.preparar()
    modo, cabecalho = hottok
    if modo == "corpo" and isinstance(evento, dict):
        evento = {**evento, "hottok": HOTTOK}
    corpo = evento if isinstance(evento, bytes) else _serializar(evento, formato)
    antes = rotas.fotografia()
    resposta = _postar_hotmart(rotas.cliente, corpo, cabecalho)
    autorizado = modo == "cabecalho" or (modo == "corpo" and isinstance(evento, dict))
    if len(corpo) > LIMITE_CORPO:
        assert resposta.status_code == 413
    elif not autorizado:
        assert resposta.status_code == 401, resposta.text[:200]
    return rotas.verificar(resposta, antes, origem="hotmart", evento_id=_id_hotmart(corpo))


formatos = st.sampled_from(["compacto", "utf8", "meta"])


@RAPIDO
@given(evento=mutado(list(EXEMPLOS_HOTMART.values())), formato=formatos, hottok=hottoks)
def test_hotmart_mutated_events_never_5xx_nor_a_partial_write(rotas, evento, formato, hottok):
    _caso_hotmart(rotas, evento, formato, hottok)


@RAPIDO
@given(corpo=corpos_brutos, hottok=hottoks)
def test_hotmart_arbitrary_bodies_never_5xx(rotas, corpo, hottok):
    _caso_hotmart(rotas, corpo, "compacto", hottok)


@pytest.mark.longo
@LONGO
@given(evento=mutado(list(EXEMPLOS_HOTMART.values())), formato=formatos, hottok=hottoks)
def test_hotmart_mutated_events_long(rotas, evento, formato, hottok):
    _caso_hotmart(rotas, evento, formato, hottok)


@pytest.mark.longo
@LONGO
@given(corpo=corpos_brutos, hottok=hottoks)
def test_hotmart_arbitrary_bodies_long(rotas, corpo, hottok):
    _caso_hotmart(rotas, corpo, "compacto", hottok)


# ---- Meta -----------------------------------------------------------------------------------

assinaturas = st.one_of(
    st.just("certa"),
    st.just("certa"),
    st.just("nenhuma"),
    st.just("outro_corpo"),
    st.just("outro_segredo"),
    st.just("maiusculas"),
    st.just("sha1"),
    cabecalho_bruto,
)


def _assinatura(modo: Any, corpo: bytes) -> bytes | str | None:
    if modo == "certa":
        return assinar(corpo, SEGREDO)
    if modo == "nenhuma":
        return None
    if modo == "outro_corpo":
        return assinar(corpo + b" ", SEGREDO)
    if modo == "outro_segredo":
        return assinar(corpo, SEGREDO + "x")
    if modo == "maiusculas":
        return "sha256=" + assinar(corpo, SEGREDO).removeprefix("sha256=").upper()
    if modo == "sha1":
        return "sha1=" + hashlib.sha1(corpo).hexdigest()
    return modo  # arbitrary header bytes


def _caso_meta(rotas: Rotas, evento: Any, formato: str, modo: Any) -> dict:
    rotas.preparar()
    corpo = evento if isinstance(evento, bytes) else _serializar(evento, formato)
    antes = rotas.fotografia()
    resposta = _postar_meta(rotas.cliente, corpo, _assinatura(modo, corpo))
    if len(corpo) > LIMITE_CORPO:
        assert resposta.status_code == 413
    elif modo != "certa":
        assert resposta.status_code == 401, resposta.text[:200]
    return rotas.verificar(
        resposta, antes, origem="meta", evento_id=hashlib.sha256(corpo).hexdigest()
    )


@RAPIDO
@given(evento=mutado(EXEMPLOS_META), formato=formatos, modo=assinaturas)
def test_meta_mutated_events_never_5xx_nor_a_partial_write(rotas, evento, formato, modo):
    _caso_meta(rotas, evento, formato, modo)


@RAPIDO
@given(corpo=corpos_brutos, modo=assinaturas)
def test_meta_arbitrary_bodies_never_5xx(rotas, corpo, modo):
    _caso_meta(rotas, corpo, "compacto", modo)


@pytest.mark.longo
@LONGO
@given(evento=mutado(EXEMPLOS_META), formato=formatos, modo=assinaturas)
def test_meta_mutated_events_long(rotas, evento, formato, modo):
    _caso_meta(rotas, evento, formato, modo)


@pytest.mark.longo
@LONGO
@given(corpo=corpos_brutos, modo=assinaturas)
def test_meta_arbitrary_bodies_long(rotas, corpo, modo):
    _caso_meta(rotas, corpo, "compacto", modo)


# ---- replays, size limit, altered signatures, values PostgreSQL refuses --------------------


@POUCOS
@given(
    nome=st.sampled_from(sorted(EXEMPLOS_HOTMART)),
    vezes=st.integers(min_value=2, max_value=4),
    no_corpo=st.booleans(),
)
def test_hotmart_a_replayed_event_is_stored_once_and_changes_nothing(rotas, nome, vezes, no_corpo):
    rotas.preparar()
    evento = EXEMPLOS_HOTMART[nome]
    corpo = json.dumps({**evento, "hottok": HOTTOK} if no_corpo else evento).encode()
    cabecalho = None if no_corpo else HOTTOK.encode()
    primeira = _postar_hotmart(rotas.cliente, corpo, cabecalho)
    assert primeira.status_code == 200 and primeira.json()["status"] == "processado"
    depois_da_primeira = rotas.fotografia()
    for _ in range(vezes - 1):
        antes = rotas.fotografia()
        r = _postar_hotmart(rotas.cliente, corpo, cabecalho)
        assert rotas.verificar(r, antes, origem="hotmart", evento_id=evento["id"]) == {
            "status": "duplicado"
        }
    assert rotas.fotografia() == depois_da_primeira
    assert _eventos(rotas.banco, "hotmart", evento["id"]) == 1


@POUCOS
@given(evento=st.sampled_from(EXEMPLOS_META), vezes=st.integers(min_value=2, max_value=4))
def test_meta_a_replayed_delivery_is_stored_once_and_changes_nothing(rotas, evento, vezes):
    rotas.preparar()
    corpo = serializar(evento)
    assinatura = assinar(corpo, SEGREDO)
    assert _postar_meta(rotas.cliente, corpo, assinatura).json()["status"] == "processado"
    depois_da_primeira = rotas.fotografia()
    for _ in range(vezes - 1):
        r = _postar_meta(rotas.cliente, corpo, assinatura)
        assert r.status_code == 200 and r.json() == {"status": "duplicado"}
    assert rotas.fotografia() == depois_da_primeira
    assert _eventos(rotas.banco, "meta", hashlib.sha256(corpo).hexdigest()) == 1


@POUCOS
@given(
    base=st.sampled_from(EXEMPLOS_META),
    posicao=st.integers(min_value=0),
    byte=st.integers(min_value=0, max_value=255),
    no_corpo=st.booleans(),
)
def test_meta_any_altered_byte_breaks_the_signature(rotas, base, posicao, byte, no_corpo):
    rotas.preparar()
    corpo = serializar(base)
    assinatura = assinar(corpo, SEGREDO)
    if no_corpo:
        i = posicao % len(corpo)
        alterado = corpo[:i] + bytes([byte]) + corpo[i + 1 :]
        if alterado == corpo:
            alterado = corpo + b" "
        corpo = alterado
    else:
        hexa = assinatura.removeprefix("sha256=")
        i = posicao % len(hexa)
        trocado = "0123456789abcdef"[(int(hexa[i], 16) + 1 + byte % 15) % 16]
        assinatura = "sha256=" + hexa[:i] + trocado + hexa[i + 1 :]
    antes = rotas.fotografia()
    r = _postar_meta(rotas.cliente, corpo, assinatura)
    assert r.status_code == 401 and r.json()["erro"]
    assert rotas.fotografia() == antes


@pytest.mark.parametrize("rota", ["/webhooks/hotmart", "/webhooks/meta"])
@pytest.mark.parametrize("em_partes", [False, True])
@pytest.mark.parametrize("tamanho", [LIMITE_CORPO + 1, 5 * LIMITE_CORPO])
def test_a_body_over_one_megabyte_is_413_with_a_reason_and_nothing_stored(
    rotas, rota, em_partes, tamanho
):
    rotas.preparar()
    corpo = b'{"id": "grande", "x": "' + b"a" * tamanho + b'"}'
    cabecalhos = {"X-HOTMART-HOTTOK": HOTTOK, "X-Hub-Signature-256": assinar(corpo, SEGREDO)}
    antes = rotas.fotografia()
    if em_partes:  # no Content-Length: the route counts while reading
        partes = (corpo[i : i + 65_536] for i in range(0, len(corpo), 65_536))
        r = rotas.cliente.post(rota, content=partes, headers=cabecalhos)
    else:
        r = rotas.cliente.post(rota, content=corpo, headers=cabecalhos)
    assert r.status_code == 413 and "1 MB" in r.json()["erro"]
    assert rotas.fotografia() == antes


def test_a_body_of_exactly_one_megabyte_is_read_and_stored(rotas):
    rotas.preparar()
    evento = copy.deepcopy(EXEMPLOS_HOTMART["PURCHASE_APPROVED"])
    evento["data"]["buyer"]["name"] = ""
    folga = LIMITE_CORPO - len(json.dumps(evento).encode())
    evento["data"]["buyer"]["name"] = "N" * folga  # a huge field: cut to the column
    corpo = json.dumps(evento).encode()
    assert len(corpo) == LIMITE_CORPO
    antes = rotas.fotografia()
    r = _postar_hotmart(rotas.cliente, corpo, HOTTOK.encode())
    corpo = rotas.verificar(r, antes, origem="hotmart", evento_id=evento["id"])
    assert corpo.get("status") == "processado", corpo
    with rotas.banco.connect() as conn:
        assert conn.execute(text("SELECT length(nome) FROM alunos")).scalar() == 255


@pytest.mark.parametrize(
    ("mudar", "resposta"),
    [
        (lambda e: e.update(id="\u0000"), "id"),
        (lambda e: e.update(id="x" * 201), "id"),
        (lambda e: e.update(id="a\ud800"), "id"),
        (lambda e: e["data"]["buyer"].update(name="Ana\u0000Souza"), "caractere nulo"),
        (lambda e: e["data"]["buyer"].update(name="Ana\udfffSouza"), "caractere nulo"),
        (lambda e: e.update(event="PURCHASE\u0000APPROVED"), "caractere nulo"),
        (lambda e: e["data"]["purchase"].update(payment=["PIX"]), "tipo inválido"),
        (lambda e: e["data"]["purchase"]["payment"].update(type="P" * 31), "too long"),
        (lambda e: e["data"]["product"].pop("name"), "nome"),
    ],
)
def test_values_postgresql_refuses_are_a_400_kept_raw(rotas, mudar, resposta):
    rotas.preparar()
    evento = copy.deepcopy(EXEMPLOS_HOTMART["PURCHASE_APPROVED"])
    mudar(evento)
    antes = rotas.fotografia()
    r = _postar_hotmart(rotas.cliente, json.dumps(evento).encode(), HOTTOK.encode())
    corpo = rotas.verificar(r, antes, origem="hotmart", evento_id=None)
    assert r.status_code == 400 and resposta in corpo["erro"], corpo
    with rotas.banco.connect() as conn:
        guardado = conn.execute(
            text("SELECT coalesce(payload::text, corpo_bruto) AS texto, erro FROM eventos_webhook")
        ).one()
    email = EXEMPLOS_HOTMART["PURCHASE_APPROVED"]["data"]["buyer"]["email"]
    assert guardado.erro and email in guardado.texto  # the raw event is kept, with its reason


def test_a_hottok_with_a_lone_surrogate_in_the_body_is_a_401(rotas):
    rotas.preparar()
    evento = {**EXEMPLOS_HOTMART["PURCHASE_APPROVED"], "hottok": "\ud800"}
    antes = rotas.fotografia()
    r = _postar_hotmart(rotas.cliente, json.dumps(evento).encode(), None)
    assert r.status_code == 401
    assert rotas.fotografia() == antes


def test_nan_is_not_json_and_a_nan_price_never_reaches_the_ltv(rotas):
    rotas.preparar()
    r = _postar_hotmart(rotas.cliente, b'{"id": "n1", "event": "X", "v": NaN}', HOTTOK.encode())
    assert r.status_code == 400 and r.json()["erro"] == "JSON malformado"
    evento = copy.deepcopy(EXEMPLOS_HOTMART["PURCHASE_APPROVED"])
    evento["data"]["purchase"]["price"]["value"] = "NaN"
    r = _postar_hotmart(rotas.cliente, json.dumps(evento).encode(), HOTTOK.encode())
    assert r.status_code == 200
    with rotas.banco.connect() as conn:
        valores = conn.execute(
            text("SELECT valor_pago::text, (SELECT ltv_total::text FROM alunos) FROM transacoes")
        ).one()
    assert valores == (None, "0.00")


def test_meta_a_malformed_item_does_not_stop_the_good_statuses_of_its_delivery(rotas):
    rotas.preparar()
    with rotas.banco.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO logs_disparo (mensagem_id_whatsapp, status_entrega) "
                "VALUES ('wamid.bom', 'accepted')"
            )
        )
    bom = EXEMPLOS_META[1]  # delivered
    corpo = copy.deepcopy(bom)
    valor = corpo["entry"][0]["changes"][0]["value"]
    valor["statuses"][0]["id"] = "wamid.bom"
    falho = {"id": "wamid.ruim", "status": "failed", "timestamp": "1", "errors": [{"code": 2**40}]}
    valor["statuses"] += [falho, "lixo", {"id": 5, "status": "read"}]
    valor["messages"] = [{"type": "text", "text": "não é objeto", "from": "5511"}]
    corpo["entry"].append(True)
    corpo["entry"][0]["changes"].append({"field": "messages", "value": {"statuses": 7}})
    bruto = serializar(corpo)
    antes = rotas.fotografia()
    r = _postar_meta(rotas.cliente, bruto, assinar(bruto, SEGREDO))
    rotas.verificar(r, antes, origem="meta", evento_id=hashlib.sha256(bruto).hexdigest())
    with rotas.banco.connect() as conn:
        status = conn.execute(text("SELECT status_entrega FROM logs_disparo")).scalar()
        parado = conn.execute(text("SELECT erro_codigo FROM status_pendentes")).scalar()
    assert status == "delivered" and parado is None
