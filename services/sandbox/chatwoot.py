"""Chatwoot Application API sandbox: contacts, labels and contact labels (shared/reference B).

Start it alone with `python -m services.sandbox.chatwoot --port 8603`. Tests drive it through
`app.state`: `conta` (the data; `adiar_tarefas`/`executar_tarefas` hold back the re-tagging
after a label rename or delete), `adicionar_label_no_contato`, `abrir_conversa`, `requisicoes`,
`reiniciar_limite` and `falhas` (scripted faults, as in the Hotmart sandbox).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hmac
import itertools
import json
import re
import sys
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from services.sandbox.hotmart_controle import Falhas

DEMO_ACCOUNT_ID = 1
DEMO_API_TOKEN = "demo-chatwoot-token"  # not a secret: the sandbox's fixed demo credential
POR_PAGINA = 15  # ContactsController::RESULTS_PER_PAGE
COR_PADRAO = "#1f93ff"
PREFIXO = "/api/v1/accounts/{account_id:int}"
CONTATO = PREFIXO + "/contacts/{contact_id:int}"
CONVERSA = PREFIXO + "/conversations/{conversation_id:int}"
TELEFONE_E164 = re.compile(r"\A\+[1-9]\d{1,14}\Z")
EMAIL_DEVISE = re.compile(r"\A[^@\s]+@[^@\s]+\Z")  # Devise.email_regexp
# Contact filter keys and operators (upstream lib/filters/filter_keys.yml, standard attributes).
OPERADORES_FILTRO = {
    "name": ("equal_to", "not_equal_to", "contains", "does_not_contain"),
    "phone_number": ("equal_to", "not_equal_to", "contains", "does_not_contain", "starts_with"),
    "email": ("equal_to", "not_equal_to", "contains", "does_not_contain"),
    "identifier": ("equal_to", "not_equal_to"),
    "labels": ("equal_to", "not_equal_to", "is_present", "is_not_present"),
}
TIPOS_MENSAGEM = {"incoming": 0, "outgoing": 1, "activity": 2, "template": 3}


class ErroChatwoot(Exception):
    """An error answer: a JSON body (the 401/404/422 shapes of reference B6) or plain text."""

    def __init__(self, status: int, corpo: dict[str, Any] | str) -> None:
        super().__init__(f"{status} {corpo}")
        self.status, self.corpo = status, corpo

    def resposta(self) -> Response:
        if isinstance(self.corpo, str):
            return PlainTextResponse(self.corpo, status_code=self.status)
        return JSONResponse(self.corpo, status_code=self.status)


def _erro(status: int, mensagem: str) -> ErroChatwoot:
    """The `{"error": ...}` shape (401, 404, the non-validation 422)."""
    return ErroChatwoot(status, {"error": mensagem})


def _invalido(erros: list[tuple[str, str]]) -> ErroChatwoot:
    """A model validation 422: `{"message": full messages joined, "attributes": [...]}`."""
    atributos = list(dict.fromkeys(atributo for atributo, _ in erros))
    return ErroChatwoot(422, {"message": ", ".join(m for _, m in erros), "attributes": atributos})


@functools.cache
def _regex_titulo() -> re.Pattern[str]:
    """Label's `\\A[\\p{L}\\p{N}]+[\\p{L}\\p{N}_-]+\\z`, with the classes spelled out for `re`.

    Python's `re` has no \\p{...}; the class is built once from unicodedata (categories L* and
    N*), so the sandbox applies upstream's literal regex rather than a re-implementation.
    """
    faixas, inicio, anterior = [], None, None
    for ponto in range(sys.maxunicode + 1):
        if unicodedata.category(chr(ponto))[0] in "LN":
            if inicio is None:
                inicio = ponto
            anterior = ponto
        elif inicio is not None:
            faixas.append((inicio, anterior))
            inicio = None
    if inicio is not None:
        faixas.append((inicio, anterior))
    classe = "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in faixas
    )
    return re.compile(rf"\A[{classe}]+[{classe}_\-]+\Z")


def titulo_aceito(titulo: str) -> bool:
    """Whether Chatwoot accepts this (already lower-cased) label title."""
    return bool(_regex_titulo().match(titulo))


def _lista_de_labels(valores: Any) -> list[str]:
    """acts-as-taggable-on's parsing of a label list: split on ",", strip, drop blanks, dedupe."""
    if valores is None:
        return []
    if not isinstance(valores, list):
        valores = [valores]
    partes = (p.strip() for v in valores if v is not None for p in str(v).split(","))
    return list(dict.fromkeys(p for p in partes if p))


class _Janela:
    """Rack::Attack-style throttle: fixed windows aligned on the clock (`now // period`)."""

    def __init__(self, limite: int | None, janela_s: float, relogio: Callable[[], float]) -> None:
        self.limite, self.janela_s, self.relogio = limite, janela_s, relogio
        self._contagem: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def permitir(self, chave: str, limite: int | None = None) -> bool:
        """Count one request under `chave`; False once the window's limit is passed."""
        limite = self.limite if limite is None else limite
        if limite is None:
            return True
        with self._lock:
            janela = (chave, int(self.relogio() // self.janela_s))
            self._contagem = {k: v for k, v in self._contagem.items() if k[1] == janela[1]}
            self._contagem[janela] = self._contagem.get(janela, 0) + 1
            return self._contagem[janela] <= limite

    def reiniciar(self) -> None:
        """Forget every count (a test's fake sleep may call this)."""
        with self._lock:
            self._contagem.clear()


class Conta:
    """One Chatwoot account's contacts, labels and conversations, guarded by a lock."""

    def __init__(self, account_id: int, agora: Callable[[], float] = time.time) -> None:
        self.account_id, self._agora = account_id, agora
        self.contatos: dict[int, dict[str, Any]] = {}
        self.labels: dict[int, dict[str, Any]] = {}
        self.labels_contato: dict[int, list[str]] = {}
        self.conversas: dict[int, dict[str, Any]] = {}
        self.descartar_labels_desconhecidas = False
        # Label rename/delete re-tag contacts in a background job upstream; when set, that work
        # waits here until `executar_tarefas()` (tests of the lag), else it runs at once.
        self.adiar_tarefas = False
        self._tarefas: list[Callable[[], None]] = []
        self._ids = {"contato": itertools.count(1), "label": itertools.count(1)}
        self._ids |= {"conversa": itertools.count(1), "mensagem": itertools.count(1)}
        self._ids["atividade"] = itertools.count(1)
        self._atividade: dict[int, int] = {}  # conversation id -> order of its last activity
        self.lock = threading.RLock()

    # --- contacts ----------------------------------------------------------------------------

    def contato(self, contato_id: int) -> dict[str, Any]:
        """The stored contact, or 404."""
        if contato_id not in self.contatos:
            raise _erro(404, "Resource could not be found")
        return self.contatos[contato_id]

    def _validar(self, dados: dict[str, Any], proprio: int | None) -> None:
        """Contact model validations (format and per-account uniqueness), all at once."""
        outros = [c for i, c in self.contatos.items() if i != proprio]
        erros = []
        telefone, email, identifier = (
            dados.get(k) for k in ("phone_number", "email", "identifier")
        )
        if telefone:
            if any(c["phone_number"] == telefone for c in outros):
                erros.append(("phone_number", "Phone number has already been taken"))
            if not TELEFONE_E164.match(telefone):
                erros.append(("phone_number", "Phone number should be in e164 format"))
        if email:
            if any((c["email"] or "").lower() == email for c in outros):
                erros.append(("email", "Email has already been taken"))
            if not EMAIL_DEVISE.match(email):
                erros.append(("email", "Email Invalid email"))
        if identifier and any(c["identifier"] == identifier for c in outros):
            erros.append(("identifier", "Identifier has already been taken"))
        if erros:
            raise _invalido(erros)

    @staticmethod
    def _permitidos(corpo: dict[str, Any]) -> dict[str, Any]:
        """The permitted params, cast as Rails would (strings; hashes only for the attributes)."""
        dados: dict[str, Any] = {}
        for chave in ("name", "email", "phone_number", "identifier"):
            if chave in corpo:
                valor = corpo[chave]
                dados[chave] = None if valor is None else str(valor)
                if chave in ("phone_number", "identifier"):
                    dados[chave] = dados[chave] or None
        for chave in ("custom_attributes", "additional_attributes"):
            if isinstance(corpo.get(chave), dict):
                dados[chave] = corpo[chave]
        if "blocked" in corpo:
            dados["blocked"] = corpo["blocked"] in (True, "true", "1", 1)
        if "email" in dados:  # prepare_email_attribute: lower-case, blank -> nil
            dados["email"] = (dados["email"] or "").strip().lower() or None
        return dados

    def criar_contato(self, corpo: dict[str, Any]) -> dict[str, Any]:
        """POST /contacts."""
        dados = self._permitidos(corpo)
        with self.lock:
            self._validar(dados, None)
            contato_id = next(self._ids["contato"])
            contato = {
                "id": contato_id,
                "name": dados.get("name") or "",
                "email": dados.get("email"),
                "phone_number": dados.get("phone_number"),
                "identifier": dados.get("identifier"),
                "thumbnail": "",
                "availability_status": "offline",
                "blocked": dados.get("blocked", False),
                "custom_attributes": dados.get("custom_attributes", {}),
                "additional_attributes": dados.get("additional_attributes", {}),
                "last_activity_at": None,
                "created_at": int(self._agora()),
            }
            self.contatos[contato_id] = contato
            self.labels_contato[contato_id] = []
            return contato

    def atualizar_contato(self, contato_id: int, corpo: dict[str, Any]) -> dict[str, Any]:
        """PUT/PATCH /contacts/{id}: any subset; the attribute hashes are merged, not replaced."""
        dados = self._permitidos(corpo)
        with self.lock:
            atual = self.contato(contato_id)
            novo = {**atual, **dados}
            for chave in ("custom_attributes", "additional_attributes"):
                novo[chave] = {**atual[chave], **dados.get(chave, {})}
            self._validar(novo, contato_id)
            self.contatos[contato_id] = novo
            return novo

    def resolvidos(self) -> list[dict[str, Any]]:
        """Contacts with an email, phone or identifier (the only ones GET /contacts lists)."""
        return [
            c for c in self.contatos.values() if c["email"] or c["phone_number"] or c["identifier"]
        ]

    def buscar(self, q: str) -> list[dict[str, Any]]:
        """GET /contacts/search: ILIKE on name/email/phone, LIKE on identifier, or the id."""
        alvo = q.lower()
        return [
            c
            for c in self.contatos.values()
            if any(alvo in (c[k] or "").lower() for k in ("name", "email", "phone_number"))
            or q in (c["identifier"] or "")
            or (q.isdigit() and c["id"] == int(q))
        ]

    def filtrar(self, condicoes: Any) -> list[dict[str, Any]]:
        """POST /contacts/filter: conditions joined by their query_operator, AND before OR."""
        if not isinstance(condicoes, list):
            raise _erro(422, "Invalid value. The values provided for payload are invalid")
        grupos: list[list[Callable[[dict[str, Any]], bool]]] = [[]]
        for condicao in condicoes:
            grupos[-1].append(self._condicao(condicao))
            operador = str(condicao.get("query_operator") or "").upper()
            if operador not in ("", "AND", "OR"):
                raise _erro(422, 'Query operator must be either "AND" or "OR".')
            if operador == "OR":
                grupos.append([])
        with self.lock:
            return [
                c
                for c in self.contatos.values()
                if any(g and all(teste(c) for teste in g) for g in grupos) or not condicoes
            ]

    def _condicao(self, condicao: Any) -> Callable[[dict[str, Any]], bool]:
        """One filter condition as a predicate on a contact (Contacts::FilterService)."""
        if not isinstance(condicao, dict):
            raise _erro(422, "Invalid value. The values provided for payload are invalid")
        chave, operador = condicao.get("attribute_key"), condicao.get("filter_operator")
        if chave not in OPERADORES_FILTRO:
            raise _erro(
                422,
                f"Invalid attribute key - [{chave}]. The key should be one of "
                f"[{','.join(OPERADORES_FILTRO)}] or a custom attribute defined in the account.",
            )
        if operador not in OPERADORES_FILTRO[chave]:
            raise _erro(
                422,
                f"Invalid operator. The allowed operators for {chave} are "
                f"[{','.join(OPERADORES_FILTRO[chave])}].",
            )
        valores = condicao.get("values")
        valores = valores if isinstance(valores, list) else [] if valores is None else [valores]
        valores = [str(v) for v in valores if v is not None]
        if chave == "labels":
            alvo = set(valores)
            testes = {
                "equal_to": lambda c: bool(alvo & set(self.labels_contato[c["id"]])),
                "not_equal_to": lambda c: not alvo & set(self.labels_contato[c["id"]]),
                "is_present": lambda c: bool(self.labels_contato[c["id"]]),
                "is_not_present": lambda c: not self.labels_contato[c["id"]],
            }
            return testes[operador]
        if not valores:
            raise _erro(422, f"Invalid value. The values provided for {chave} are invalid")
        primeiro = valores[0].lower()
        if chave == "phone_number":
            # Upstream prepends "+" (issue #9147: older releases made "++55…"; PR #10386 fixed it).
            primeiro = "+" + primeiro.lstrip("+")
        subtextos = [v.strip().lower() for v in valores]

        def campo(c: dict[str, Any]) -> str | None:
            return None if c[chave] is None else c[chave].lower()

        testes = {
            "equal_to": lambda c: campo(c) == primeiro,
            "not_equal_to": lambda c: campo(c) is not None and campo(c) != primeiro,
            "contains": lambda c: campo(c) is not None and any(s in campo(c) for s in subtextos),
            "does_not_contain": lambda c: (
                campo(c) is not None and not any(s in campo(c) for s in subtextos)
            ),
            "starts_with": lambda c: campo(c) is not None and campo(c).startswith(subtextos[0]),
        }
        return testes[operador]

    # --- labels ------------------------------------------------------------------------------

    def _titulo_valido(self, dados: dict[str, Any], *, exceto: int | None = None) -> str:
        """The Label model's validation: title lower-cased, then presence, format, uniqueness."""
        titulo = dados.get("title")
        titulo = str(titulo).lower() if titulo not in (None, "") else None
        erros = []
        if not titulo or not titulo.strip():
            erros.append(("title", "Title must not be blank"))
        if not titulo_aceito(titulo or ""):
            erros.append(("title", "Title is invalid"))
        if titulo and any(r["title"] == titulo and r["id"] != exceto for r in self.labels.values()):
            erros.append(("title", "Title has already been taken"))
        if erros:
            raise _invalido(erros)
        return titulo

    def criar_label(self, corpo: dict[str, Any]) -> dict[str, Any]:
        """POST /labels: title lower-cased, then presence, format and uniqueness."""
        dados = corpo.get("label") if isinstance(corpo.get("label"), dict) else corpo
        with self.lock:
            titulo = self._titulo_valido(dados)
            label_id = next(self._ids["label"])
            sidebar = dados.get("show_on_sidebar")
            label = {
                "id": label_id,
                "title": titulo,
                "description": dados.get("description"),
                "color": dados.get("color") or COR_PADRAO,
                "show_on_sidebar": None if sidebar is None else sidebar in (True, "true", "1", 1),
            }
            self.labels[label_id] = label
            return label

    def label(self, label_id: int) -> dict[str, Any]:
        with self.lock:
            if label_id not in self.labels:
                raise _erro(404, "Resource could not be found")
            return self.labels[label_id]

    def atualizar_label(self, label_id: int, corpo: dict[str, Any]) -> dict[str, Any]:
        """PATCH /labels/{id}: a new title re-tags the contacts holding the old one
        (Labels::UpdateService, a background job upstream)."""
        dados = corpo.get("label") if isinstance(corpo.get("label"), dict) else corpo
        with self.lock:
            label = self.label(label_id)
            antigo = label["title"]
            if "title" in dados:
                label["title"] = self._titulo_valido(dados, exceto=label_id)
            if dados.get("color"):
                label["color"] = dados["color"]
            novo = label["title"]
            if novo != antigo:
                self._tarefa(lambda: self._retitular(antigo, novo))
            return dict(label)

    def apagar_label(self, label_id: int) -> None:
        """DELETE /labels/{id}: contacts lose the title (Labels::DestroyService, a job upstream)."""
        with self.lock:
            titulo = self.label(label_id)["title"]
            del self.labels[label_id]
            self._tarefa(lambda: self._retitular(titulo, None))

    def _retitular(self, antigo: str, novo: str | None) -> None:
        """`label_list - [antigo] + [novo]` on every contact holding `antigo`."""
        for contato_id, titulos in self.labels_contato.items():
            if antigo in titulos:
                restantes = [t for t in titulos if t != antigo]
                if novo is not None and novo not in restantes:
                    restantes.append(novo)
                self.labels_contato[contato_id] = restantes

    def _tarefa(self, tarefa: Callable[[], None]) -> None:
        if self.adiar_tarefas:
            self._tarefas.append(tarefa)
        else:
            tarefa()

    def executar_tarefas(self) -> int:
        """Run the background work left waiting by `adiar_tarefas` (test control)."""
        with self.lock:
            tarefas, self._tarefas = self._tarefas, []
            for tarefa in tarefas:
                tarefa()
            return len(tarefas)

    def definir_labels(self, contato_id: int, valores: Any) -> list[str]:
        """POST /contacts/{id}/labels: the posted list REPLACES the contact's labels.

        Per the reference unknown titles become bare tags; with `descartar_labels_desconhecidas`
        the sandbox acts like newer releases, which keep only titles that are account labels.
        """
        labels = _lista_de_labels(valores)
        with self.lock:
            self.contato(contato_id)
            if self.descartar_labels_desconhecidas:
                conhecidas = {rotulo["title"] for rotulo in self.labels.values()}
                labels = [t for t in labels if t in conhecidas]
            self.labels_contato[contato_id] = labels
            return list(labels)

    def adicionar_label_no_contato(self, contato_id: int, titulo: str) -> list[str]:
        """Tag a contact as an agent would in Chatwoot's UI (test control)."""
        with self.lock:
            self.contato(contato_id)
            return self.definir_labels(contato_id, [*self.labels_contato[contato_id], titulo])

    # --- conversations -----------------------------------------------------------------------

    def abrir_conversa(self, contato_id: int, *, status: str = "open", inbox_id: int = 1) -> int:
        """Start a conversation of this contact (test control); returns its display id."""
        with self.lock:
            contato = self.contato(contato_id)
            conversa_id = next(self._ids["conversa"])
            agora = int(self._agora())
            self.conversas[conversa_id] = {
                "id": conversa_id,
                "inbox_id": inbox_id,
                "status": status,
                "labels": [],
                "meta": {"sender": contato, "assignee": None, "team": None},
                "custom_attributes": {},
                "contact_id": contato_id,
                "last_activity_at": agora,
                "timestamp": agora,
                "messages": [],
            }
            self._atividade[conversa_id] = next(self._ids["atividade"])
            return conversa_id

    def conversas_do_contato(self, contato_id: int) -> list[dict[str, Any]]:
        """GET /contacts/{id}/conversations, newest first."""
        with self.lock:
            self.contato(contato_id)
            suas = [c for c in self.conversas.values() if c["contact_id"] == contato_id]
            suas.sort(key=lambda c: self._atividade[c["id"]], reverse=True)
            return [{k: v for k, v in c.items() if k != "contact_id"} for c in suas]

    def criar_mensagem(self, conversa_id: int, corpo: dict[str, Any]) -> dict[str, Any]:
        """POST /conversations/{id}/messages (a private note when private=true)."""
        with self.lock:
            conversa = self.conversas.get(conversa_id)
            if conversa is None:
                raise _erro(404, "Resource could not be found")
            tipo = TIPOS_MENSAGEM.get(str(corpo.get("message_type") or "outgoing"))
            if tipo is None or not str(corpo.get("content") or "").strip():
                raise _invalido([("content", "Content must not be blank")])
            agora = int(self._agora())
            mensagem = {
                "id": next(self._ids["mensagem"]),
                "content": str(corpo["content"]),
                "inbox_id": conversa["inbox_id"],
                "conversation_id": conversa_id,
                "message_type": tipo,
                "content_type": "text",
                "content_attributes": {},
                "created_at": agora,
                "private": corpo.get("private") in (True, "true"),
                "sender": {"id": 1, "name": "Sandbox", "type": "user"},
            }
            conversa["messages"].append(mensagem)
            conversa["last_activity_at"] = agora
            self._atividade[conversa_id] = next(self._ids["atividade"])
            return mensagem


# --- HTTP ------------------------------------------------------------------------------------


def _pagina(params: QueryParams) -> int:
    """Kaminari's page: `to_i`, at least 1."""
    try:
        return max(1, int(params.get("page") or 1))
    except ValueError:
        return 1


def _lista(params: QueryParams, contatos: list[dict[str, Any]]) -> dict[str, Any]:
    """`{"meta": {"count", "current_page"}, "payload": [...]}`, 15 a page, in id order."""
    pagina = _pagina(params)
    com_inboxes = params.get("include_contact_inboxes", "true") == "true"
    fatia = sorted(contatos, key=lambda c: c["id"])[(pagina - 1) * POR_PAGINA :][:POR_PAGINA]
    return {
        # set_current_page: `params[:page] || 1`, so a string when given.
        "meta": {"count": len(contatos), "current_page": params.get("page") or 1},
        "payload": [_contato_json(c, com_inboxes) for c in fatia],
    }


def _contato_json(contato: dict[str, Any], com_inboxes: bool = True) -> dict[str, Any]:
    """The contact partial (contact_inboxes empty: the sandbox has no inboxes)."""
    return {**contato, "contact_inboxes": []} if com_inboxes else dict(contato)


def _contatos(conta: Conta, metodo: str, params: QueryParams, _: dict, corpo: Any) -> Any:
    if metodo == "POST":
        contato = conta.criar_contato(corpo)
        return {
            "payload": {
                "contact": _contato_json(contato),
                "contact_inbox": {"inbox": None, "source_id": None},
            }
        }
    labels = set(params.getlist("labels[]") or params.getlist("labels"))
    with conta.lock:
        contatos = conta.resolvidos()
        if labels:
            contatos = [c for c in contatos if labels & set(conta.labels_contato[c["id"]])]
    return _lista(params, contatos)


def _busca(conta: Conta, _m: str, params: QueryParams, _c: dict, _b: Any) -> Any:
    q = (params.get("q") or "").strip()
    if not q:
        raise _erro(422, "Specify search string with parameter q")
    with conta.lock:
        return _lista(params, conta.buscar(q))


def _filtro(conta: Conta, _m: str, params: QueryParams, _c: dict, corpo: Any) -> Any:
    return _lista(params, conta.filtrar(corpo.get("payload")))


def _contato(conta: Conta, metodo: str, params: QueryParams, caminho: dict, corpo: Any) -> Any:
    if metodo == "GET":
        contato = conta.contato(caminho["contact_id"])
    else:
        contato = conta.atualizar_contato(caminho["contact_id"], corpo)
    return {"payload": _contato_json(contato, params.get("include_contact_inboxes") != "false")}


def _labels_contato(conta: Conta, metodo: str, _p: QueryParams, caminho: dict, corpo: Any) -> Any:
    contato_id = caminho["contact_id"]
    if metodo == "POST":
        return {"payload": conta.definir_labels(contato_id, corpo.get("labels"))}
    with conta.lock:
        return {"payload": list(conta.labels_contato[conta.contato(contato_id)["id"]])}


def _conversas(conta: Conta, _m: str, _p: QueryParams, caminho: dict, _b: Any) -> Any:
    return {"payload": conta.conversas_do_contato(caminho["contact_id"])}


def _labels(conta: Conta, metodo: str, _p: QueryParams, _c: dict, corpo: Any) -> Any:
    if metodo == "POST":
        return conta.criar_label(corpo)
    with conta.lock:
        return {"payload": [dict(rotulo) for rotulo in conta.labels.values()]}


def _label(conta: Conta, metodo: str, _p: QueryParams, caminho: dict, corpo: Any) -> Any:
    if metodo == "DELETE":
        conta.apagar_label(caminho["label_id"])
        return None  # `head :ok`
    return conta.atualizar_label(caminho["label_id"], corpo)


def _mensagens(conta: Conta, _m: str, _p: QueryParams, caminho: dict, corpo: Any) -> Any:
    return conta.criar_mensagem(caminho["conversation_id"], corpo)


def _api(funcao: Callable[..., Any]) -> Callable:
    """Wrap a handler with logging, Rack::Attack throttles, faults, token and account checks."""

    async def endpoint(request: Request) -> Response:
        estado = request.app.state
        estado.requisicoes.append(f"{request.method} {request.url.path}?{request.url.query}")
        try:
            await _antes(request)
            corpo: Any = {}
            if request.method in ("POST", "PUT", "PATCH"):
                bruto = await request.body()
                try:
                    corpo = json.loads(bruto) if bruto.strip() else {}
                except ValueError:
                    raise _erro(400, "Invalid JSON body") from None
                if not isinstance(corpo, dict):
                    raise _erro(400, "Invalid JSON body")
            resultado = funcao(
                estado.conta, request.method, request.query_params, request.path_params, corpo
            )
        except ErroChatwoot as erro:
            return erro.resposta()
        if resultado is None:
            return Response(status_code=200)
        return JSONResponse(resultado)

    return endpoint


async def _antes(request: Request) -> None:
    """What runs before the controller: throttles, scripted faults, token, account membership."""
    estado = request.app.state
    caminho = request.url.path
    busca = caminho.endswith("/contacts/search")
    if not estado.limite.permitir("req") or (
        busca and not estado.limite.permitir("busca", estado.limite_busca_por_minuto)
    ):
        raise ErroChatwoot(429, "Retry later\n")  # Rack::Attack's default throttled response
    falha = estado.falhas.consumir(caminho)
    if falha is not None:
        if falha.atraso_s:
            await asyncio.sleep(falha.atraso_s)
        if falha.status:
            raise _erro(falha.status, falha.descricao or "Internal Server Error")
    token = request.headers.get("api_access_token", "")
    if not hmac.compare_digest(token.encode(), estado.api_token.encode()):
        raise _erro(401, "Invalid Access Token")
    if request.path_params.get("account_id") != estado.conta.account_id:
        raise _erro(401, "You are not authorized to do this action")


async def _nao_encontrado(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods answer in Chatwoot's 404 shape."""
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    return _erro(status, "Resource could not be found").resposta()


def criar_app(
    *,
    api_token: str,
    account_id: int,
    contatos: Iterable[dict[str, Any]] | None = None,
    labels: Iterable[str | dict[str, Any]] | None = None,
    limite_por_minuto: int | None = None,
    janela_s: float = 60.0,
    relogio: Callable[[], float] = time.monotonic,
    limite_busca_por_minuto: int | None = None,
    descartar_labels_desconhecidas: bool = False,
) -> Starlette:
    """The sandbox app; `contatos` (with an optional "labels" list) and `labels` seed the account.

    `limite_por_minuto` throttles every request (upstream: 3000/min per IP), and
    `limite_busca_por_minuto` the contact search (upstream: 100/min per account).
    """
    rotas = [
        Route(f"{PREFIXO}/contacts", _api(_contatos), methods=["GET", "POST"]),
        Route(f"{PREFIXO}/contacts/search", _api(_busca), methods=["GET"]),
        Route(f"{PREFIXO}/contacts/filter", _api(_filtro), methods=["POST"]),
        Route(CONTATO, _api(_contato), methods=["GET", "PUT", "PATCH"]),
        Route(f"{CONTATO}/labels", _api(_labels_contato), methods=["GET", "POST"]),
        Route(f"{CONTATO}/conversations", _api(_conversas), methods=["GET"]),
        Route(f"{PREFIXO}/labels", _api(_labels), methods=["GET", "POST"]),
        Route(f"{PREFIXO}/labels/{{label_id:int}}", _api(_label), methods=["PATCH", "DELETE"]),
        Route(f"{CONVERSA}/messages", _api(_mensagens), methods=["POST"]),
    ]
    app = Starlette(routes=rotas, exception_handlers={404: _nao_encontrado, 405: _nao_encontrado})
    conta = Conta(int(account_id))
    conta.descartar_labels_desconhecidas = descartar_labels_desconhecidas
    for label in labels or ():
        conta.criar_label({"title": label} if isinstance(label, str) else label)
    for semente in contatos or ():
        contato = conta.criar_contato(semente)
        conta.definir_labels(contato["id"], semente.get("labels"))
    estado = app.state
    estado.conta, estado.api_token = conta, api_token
    estado.limite = _Janela(limite_por_minuto, janela_s, relogio)
    estado.limite_busca_por_minuto = limite_busca_por_minuto
    estado.reiniciar_limite = estado.limite.reiniciar
    estado.adicionar_label_no_contato = conta.adicionar_label_no_contato
    estado.abrir_conversa = conta.abrir_conversa
    estado.falhas = Falhas()
    estado.requisicoes = deque(maxlen=10_000)  # "METHOD /path?query", for tests to inspect
    return app


def main(argv: list[str] | None = None) -> None:
    """Serve the sandbox on a fixed port until interrupted."""
    import uvicorn

    parser = argparse.ArgumentParser(description="Sandbox da API do Chatwoot (demonstração)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8603)
    parser.add_argument("--rate-limit", type=int, default=None, help="requisições por minuto")
    args = parser.parse_args(argv)
    app = criar_app(
        api_token=DEMO_API_TOKEN,
        account_id=DEMO_ACCOUNT_ID,
        limite_por_minuto=args.rate_limit,
    )
    base = f"http://{args.host}:{args.port}"
    print(f"Sandbox Chatwoot em {base}", flush=True)
    print(f"  chatwoot_base_url   = {base}", flush=True)
    print(f"  chatwoot_account_id = {DEMO_ACCOUNT_ID}", flush=True)
    print(f"  chatwoot_api_token  = {DEMO_API_TOKEN}  (token de demonstração)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
