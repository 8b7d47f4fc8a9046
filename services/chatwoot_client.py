"""HTTP client of the Chatwoot Application API: contacts, labels, contact labels, private notes.

Built against shared/reference/chatwoot.md (section B): header `api_access_token`, contact
`identifier` as our stable key (the aluno id), contact labels replaced as a whole set.
"""

from __future__ import annotations

import hashlib
import re
import time
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any

import httpx
import phonenumbers
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

TAMANHO_MAX_TITULO = 50  # ours, for a readable sidebar: Chatwoot sets no maximum
_COR = re.compile(r"\A#[0-9A-Fa-f]{6}\Z")
_E164 = re.compile(r"\A\+[1-9]\d{1,14}\Z")  # the Contact model's phone_number format


class ChatwootErro(Exception):
    """A Chatwoot call that failed for good: HTTP status and Chatwoot's message, never the token.

    `atributos` lists the invalid fields of a validation 422 (`{"message","attributes"}`).
    """

    def __init__(
        self,
        mensagem: str,
        *,
        status: int | None = None,
        detalhe: str | None = None,
        atributos: tuple[str, ...] = (),
        caminho: str | None = None,
    ) -> None:
        super().__init__(mensagem)
        self.status, self.detalhe, self.atributos, self.caminho = (
            status,
            detalhe,
            atributos,
            caminho,
        )

    @property
    def duplicado(self) -> bool:
        """A 422 saying an email, phone, identifier or title is already taken."""
        return self.status == 422 and "already been taken" in (self.detalhe or "")


class ChatwootConflito(ChatwootErro):
    """The contact found by email or phone already belongs to another identifier (aluno)."""


class _Transitorio(Exception):
    """A retryable outcome: 429, 5xx or a transport error."""

    def __init__(self, resposta: httpx.Response | None, falha: Exception | None = None) -> None:
        super().__init__("resposta transitória")
        self.resposta, self.falha = resposta, falha


def _letra_ou_digito(caractere: str) -> bool:
    """Unicode \\p{L} or \\p{N} (Python's `re` has no \\p{...} classes)."""
    return unicodedata.category(caractere)[0] in "LN"


def titulo_valido(titulo: str) -> bool:
    """Chatwoot's label title rule, `\\A[\\p{L}\\p{N}]+[\\p{L}\\p{N}_-]+\\z` (lower-cased)."""
    return (
        len(titulo) >= 2
        and _letra_ou_digito(titulo[0])
        and all(_letra_ou_digito(c) or c in "_-" for c in titulo[1:])
    )


def titulo_label_valido(nome: str) -> str:
    """A Chatwoot label title for a tag name, deterministic: "Super Fã!" -> "super_fa".

    Lower-case; accents and other marks dropped (NFKD, so "ﬁ" -> "fi", "²" -> "2"); every run of
    other characters (spaces, punctuation, emoji) becomes "_", or "-" when the run is only
    hyphens; no separator at either end. Shorter than 2 -> "tag_" prefix ("A" -> "tag_a"; a name
    with no letter or digit -> "tag_" + 8 hex of its SHA-1). Longer than 50 -> cut at 41 plus "_"
    and 8 hex of the SHA-1 of the full title, so long names stay distinct. Names differing only
    in case, accents or punctuation map to the same title.
    """
    if not nome or not nome.strip():
        raise ValueError("nome de tag vazio")
    decomposto = unicodedata.normalize("NFKD", nome.lower())
    sem_marcas = "".join(c for c in decomposto if unicodedata.category(c) != "Mn")
    texto = unicodedata.normalize("NFC", sem_marcas).lower()
    partes: list[str] = []
    separador = ""
    for caractere in texto:
        if _letra_ou_digito(caractere):
            if separador and partes:
                partes.append("-" if set(separador) == {"-"} else "_")
            separador = ""
            partes.append(caractere)
        else:
            separador += caractere
    titulo = "".join(partes)
    if len(titulo) > TAMANHO_MAX_TITULO:
        resumo = hashlib.sha1(titulo.encode()).hexdigest()[:8]
        titulo = f"{titulo[: TAMANHO_MAX_TITULO - 9].rstrip('_-')}_{resumo}"
    elif len(titulo) == 1:
        titulo = f"tag_{titulo}"
    elif not titulo:
        titulo = "tag_" + hashlib.sha1(unicodedata.normalize("NFC", nome).encode()).hexdigest()[:8]
    if not titulo_valido(titulo) or titulo.lower() != titulo:  # pragma: no cover - safety net
        titulo = "tag_" + hashlib.sha1(nome.encode()).hexdigest()[:8]
    return titulo


def telefone_e164(celular: str | None) -> str | None:
    """A Brazilian (or "+"-prefixed foreign) number in E.164, or None when it is not valid.

    "5511987654321", "(11) 98765-4321" and "+55 11 98765-4321" -> "+5511987654321".
    """
    if not celular or not celular.strip():
        return None
    bruto = celular.strip()
    if not bruto.startswith("+"):
        digitos = re.sub(r"\D", "", bruto)
        # Digits that already start with 55 and are too long for a national number are E.164.
        bruto = f"+{digitos}" if digitos.startswith("55") and len(digitos) > 11 else digitos
    try:
        numero = phonenumbers.parse(bruto, "BR")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(numero):
        return None
    e164 = phonenumbers.format_number(numero, phonenumbers.PhoneNumberFormat.E164)
    return e164 if _E164.match(e164) else None


class ChatwootClient:
    """Chatwoot Application API client for one account; `sleep` is injectable so tests never wait.

    Retries 429 (after Retry-After when sent; Chatwoot's Rack::Attack sends none by default, so
    exponential backoff), and for idempotent calls also 5xx and transport errors.
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_token: str,
        account_id: int | str,
        timeout: float = 15.0,
        max_retries: int = 5,
        espera_base_s: float = 1.0,
        max_espera_s: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._token = api_token
        self.base = f"{base_url.rstrip('/')}/api/v1/accounts/{int(account_id)}"
        self.max_retries, self.espera_base_s = max_retries, espera_base_s
        self.max_espera_s, self._sleep = max_espera_s, sleep
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout),
            transport=transport,
            headers={"api_access_token": api_token, "Accept": "application/json"},
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> ChatwootClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- requests ----------------------------------------------------------------------------

    def _chamar(
        self,
        metodo: str,
        caminho: str,
        *,
        params: dict[str, Any] | None = None,
        corpo: dict[str, Any] | None = None,
        idempotente: bool = True,
    ) -> Any:
        """Send one API call with retries; the JSON answer, or ChatwootErro."""
        rotulo = f"{metodo} {caminho}"

        def enviar() -> httpx.Response:
            return self._http.request(metodo, self.base + caminho, params=params, json=corpo)

        resposta = self._com_retentativas(enviar, rotulo, idempotente)
        if not resposta.is_success:
            raise self._erro(resposta, rotulo)
        if metodo == "DELETE":
            return None  # `head :ok`: no body
        try:
            return resposta.json()
        except ValueError:
            raise ChatwootErro(
                f"Chatwoot respondeu {resposta.status_code} em {rotulo} sem JSON válido",
                status=resposta.status_code,
                caminho=rotulo,
            ) from None

    def _com_retentativas(
        self, enviar: Callable[[], httpx.Response], rotulo: str, idempotente: bool
    ) -> httpx.Response:
        """Retry 429 always (throttled before any work); 5xx and timeouts only when idempotent."""
        seguras: tuple[type[Exception], ...] = (
            (httpx.TransportError,) if idempotente else (httpx.ConnectError, httpx.ConnectTimeout)
        )
        tentativas = Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._espera,
            retry=retry_if_exception_type(_Transitorio),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            for tentativa in tentativas:
                with tentativa:
                    try:
                        resposta = enviar()
                    except seguras as falha:
                        raise _Transitorio(None, falha) from None
                    except httpx.TransportError as falha:
                        raise self._falha_conexao(falha, rotulo) from None
                    if resposta.status_code == 429 or (idempotente and resposta.status_code >= 500):
                        raise _Transitorio(resposta)
                    return resposta
        except _Transitorio as transitorio:
            if transitorio.resposta is not None:
                raise self._erro(transitorio.resposta, rotulo) from None
            raise self._falha_conexao(transitorio.falha, rotulo) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _espera(self, estado: RetryCallState) -> float:
        """Seconds before the next try: Retry-After when given, else exponential; capped."""
        exponencial = self.espera_base_s * 2 ** (estado.attempt_number - 1)
        falha = estado.outcome.exception() if estado.outcome else None
        resposta = getattr(falha, "resposta", None)
        if resposta is not None and resposta.status_code == 429:
            try:
                exponencial = max(float(resposta.headers["Retry-After"]), exponencial)
            except (KeyError, ValueError):
                pass
        return min(exponencial, self.max_espera_s)

    def _limpo(self, texto: str) -> str:
        """Text without the API token in it."""
        return texto.replace(self._token, "***") if self._token else texto

    def _falha_conexao(self, falha: Exception | None, rotulo: str) -> ChatwootErro:
        nome = type(falha).__name__
        return ChatwootErro(
            f"Falha de conexão com o Chatwoot em {rotulo} ({nome}): {self._limpo(str(falha))}",
            caminho=rotulo,
        )

    def _erro(self, resposta: httpx.Response, rotulo: str) -> ChatwootErro:
        """A ChatwootErro from an error answer (`message`+`attributes`, `error`, or plain text)."""
        try:
            corpo = resposta.json()
        except ValueError:
            corpo = None
        atributos: tuple[str, ...] = ()
        if isinstance(corpo, dict):
            detalhe = corpo.get("message") or corpo.get("error") or str(corpo)
            atributos = tuple(str(a) for a in corpo.get("attributes") or ())
        else:
            detalhe = resposta.text.strip()[:200]
        detalhe = self._limpo(str(detalhe)) if detalhe else None
        return ChatwootErro(
            f"Chatwoot respondeu {resposta.status_code} em {rotulo}: {detalhe or 'sem detalhes'}",
            status=resposta.status_code,
            detalhe=detalhe,
            atributos=atributos,
            caminho=rotulo,
        )

    # --- contacts ----------------------------------------------------------------------------

    def _filtrar(self, atributo: str, valor: str) -> list[dict[str, Any]]:
        """First page of POST /contacts/filter with one equal_to condition."""
        condicao = {
            "attribute_key": atributo,
            "filter_operator": "equal_to",
            "values": [valor],
            "query_operator": None,
        }
        resposta = self._chamar("POST", "/contacts/filter", corpo={"payload": [condicao]})
        return resposta.get("payload") or []

    def buscar_contato(
        self,
        *,
        identifier: str | None = None,
        email: str | None = None,
        telefone: str | None = None,
    ) -> dict[str, Any] | None:
        """The contact with this identifier, else this email, else this phone; None if none.

        Exact matches only: the filter compares lower-cased values, so the identifier is
        checked again case-sensitively here. `telefone` may be E.164 or a Brazilian number.
        """
        criterios = []
        if identifier:
            criterios.append(
                ("identifier", identifier, lambda c: c.get("identifier") == identifier)
            )
        if email:
            alvo = email.strip().lower()
            criterios.append(("email", alvo, lambda c: (c.get("email") or "").lower() == alvo))
        if telefone:
            numero = telefone if _E164.match(telefone) else telefone_e164(telefone)
            if numero is None:
                raise ValueError("telefone inválido para o Chatwoot (E.164)")
            criterios.append(("phone_number", numero, lambda c: c.get("phone_number") == numero))
        if not criterios:
            raise ValueError("informe identifier, email ou telefone")
        for atributo, valor, exato in criterios:
            for contato in self._filtrar(atributo, valor):
                if exato(contato):
                    return contato
        return None

    def _buscar_por_texto(self, identifier: str, email: str | None, telefone: str | None) -> Any:
        """Fallback through GET /contacts/search (older releases mangle "+" in phone filters)."""
        for termo in (identifier, email, telefone):
            if not termo:
                continue
            resposta = self._chamar("GET", "/contacts/search", params={"q": termo})
            for contato in resposta.get("payload") or []:
                if (
                    contato.get("identifier") == identifier
                    or (email and (contato.get("email") or "").lower() == email.lower())
                    or (telefone and contato.get("phone_number") == telefone)
                ):
                    return contato
        return None

    @staticmethod
    def _campos(
        nome: str | None,
        email: str | None,
        telefone_e164: str | None,
        identifier: str | None,
        custom_attributes: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """The contact body with only the given fields."""
        campos = {
            "name": nome,
            "email": email,
            "phone_number": telefone_e164,
            "identifier": identifier,
            "custom_attributes": custom_attributes,
        }
        return {k: v for k, v in campos.items() if v is not None}

    def criar_contato(
        self,
        *,
        nome: str,
        email: str | None = None,
        telefone_e164: str | None = None,
        identifier: str | None = None,
        custom_attributes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """POST /contacts; the new contact (unwrapped from payload.contact)."""
        corpo = self._campos(nome, email, telefone_e164, identifier, custom_attributes)
        resposta = self._chamar("POST", "/contacts", corpo=corpo, idempotente=False)
        return resposta["payload"]["contact"]

    def atualizar_contato(
        self,
        contato_id: int,
        *,
        nome: str | None = None,
        email: str | None = None,
        telefone_e164: str | None = None,
        identifier: str | None = None,
        custom_attributes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """PUT /contacts/{id} with the given fields (custom_attributes are merged by Chatwoot)."""
        corpo = self._campos(nome, email, telefone_e164, identifier, custom_attributes)
        return self._chamar("PUT", f"/contacts/{int(contato_id)}", corpo=corpo)["payload"]

    def contato(self, contato_id: int) -> dict[str, Any]:
        """GET /contacts/{id}."""
        return self._chamar("GET", f"/contacts/{int(contato_id)}")["payload"]

    def upsert_contato(
        self,
        *,
        identifier: str,
        nome: str,
        email: str | None,
        telefone_e164: str | None,
        custom_attributes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The one contact of this aluno (`identifier`), created or brought up to date.

        Found by identifier, then email, then phone. A contact found by email/phone that
        already carries another identifier belongs to someone else: ChatwootConflito, never a
        takeover. Nothing is sent when the contact already matches.
        """
        if not identifier:
            raise ValueError("identifier obrigatório")
        email = email.strip().lower() if email and email.strip() else None
        if telefone_e164 is not None and not _E164.match(telefone_e164):
            raise ValueError("telefone_e164 deve estar no formato +5511987654321")
        contato = self.buscar_contato(identifier=identifier, email=email, telefone=telefone_e164)
        if contato is None:
            try:
                return self.criar_contato(
                    nome=nome,
                    email=email,
                    telefone_e164=telefone_e164,
                    identifier=identifier,
                    custom_attributes=custom_attributes,
                )
            except ChatwootErro as erro:
                # Created meanwhile by another worker, or the phone filter missed it.
                if not erro.duplicado:
                    raise
                contato = self._buscar_por_texto(identifier, email, telefone_e164)
                if contato is None:
                    raise
        outro = contato.get("identifier")
        if outro and outro != identifier:
            raise ChatwootConflito(
                f"Contato {contato['id']} do Chatwoot já pertence ao identifier {outro}",
                detalhe="identifier diferente",
                caminho="upsert_contato",
            )
        mudancas = self._mudancas(contato, identifier, nome, email, telefone_e164)
        if custom_attributes and any(
            (contato.get("custom_attributes") or {}).get(k) != v
            for k, v in custom_attributes.items()
        ):
            mudancas["custom_attributes"] = custom_attributes
        if not mudancas:
            return contato
        resposta = self._chamar("PUT", f"/contacts/{int(contato['id'])}", corpo=mudancas)
        return resposta["payload"]

    @staticmethod
    def _mudancas(
        contato: dict[str, Any],
        identifier: str,
        nome: str,
        email: str | None,
        telefone: str | None,
    ) -> dict[str, Any]:
        """Fields that differ; a missing email/phone on our side never clears Chatwoot's."""
        mudancas: dict[str, Any] = {}
        if contato.get("identifier") != identifier:
            mudancas["identifier"] = identifier
        if nome and contato.get("name") != nome:
            mudancas["name"] = nome
        if email and (contato.get("email") or "").lower() != email:
            mudancas["email"] = email
        if telefone and contato.get("phone_number") != telefone:
            mudancas["phone_number"] = telefone
        return mudancas

    # --- labels ------------------------------------------------------------------------------

    def labels_do_contato(self, contato_id: int) -> list[str]:
        """GET /contacts/{id}/labels."""
        return list(self._chamar("GET", f"/contacts/{int(contato_id)}/labels")["payload"])

    def definir_labels_do_contato(self, contato_id: int, labels: Iterable[str]) -> list[str]:
        """POST /contacts/{id}/labels: REPLACES the contact's whole set ([] clears it).

        Returns Chatwoot's answer; a title missing from it was dropped (newer releases keep
        only titles that exist as account labels: create them first). To add one label, read,
        union and post, serialised per contact.
        """
        titulos = list(dict.fromkeys(labels))
        invalidos = [t for t in titulos if not titulo_valido(t) or t.lower() != t]
        if invalidos:
            raise ValueError(f"títulos de label inválidos para o Chatwoot: {invalidos}")
        corpo = {"labels": titulos}
        return list(
            self._chamar("POST", f"/contacts/{int(contato_id)}/labels", corpo=corpo)["payload"]
        )

    def listar_labels(self) -> list[dict[str, Any]]:
        """GET /labels: the account's labels."""
        return list(self._chamar("GET", "/labels")["payload"])

    def criar_label(
        self,
        title: str,
        color: str,
        description: str | None = None,
        *,
        show_on_sidebar: bool = True,
    ) -> dict[str, Any]:
        """POST /labels; the new label. `color` is `#RRGGBB`."""
        if not _COR.match(color):
            raise ValueError("cor deve ser #RRGGBB")
        corpo = {
            "title": title,
            "description": description,
            "color": color,
            "show_on_sidebar": show_on_sidebar,
        }
        return self._chamar("POST", "/labels", corpo=corpo, idempotente=False)

    def renomear_label(self, label_id: int, title: str) -> dict[str, Any]:
        """PATCH /labels/{id} with a new title; Chatwoot then re-tags the contacts and
        conversations holding the old one in a background job."""
        return self._chamar("PATCH", f"/labels/{int(label_id)}", corpo={"title": title})

    def apagar_label(self, label_id: int) -> None:
        """DELETE /labels/{id}; Chatwoot then removes the title from contacts and conversations
        in a background job. An id already gone is not an error."""
        try:
            self._chamar("DELETE", f"/labels/{int(label_id)}")
        except ChatwootErro as erro:
            if erro.status != 404:
                raise

    def garantir_label(
        self, title: str, color: str, description: str | None = None
    ) -> dict[str, Any]:
        """The account label with this title, created when missing (safe under races)."""
        for label in self.listar_labels():
            if label.get("title") == title.lower():
                return label
        try:
            return self.criar_label(title, color, description)
        except ChatwootErro as erro:
            if not erro.duplicado:
                raise
        for label in self.listar_labels():
            if label.get("title") == title.lower():
                return label
        raise ChatwootErro(f"Label {title} não encontrada após 422", status=422)

    # --- conversations -----------------------------------------------------------------------

    def ultima_conversa(self, contato_id: int) -> dict[str, Any] | None:
        """The contact's newest conversation (GET /contacts/{id}/conversations), or None."""
        conversas = self._chamar("GET", f"/contacts/{int(contato_id)}/conversations")
        return next(iter(conversas.get("payload") or []), None)

    def nota_privada(self, conversation_id: int, texto: str) -> dict[str, Any]:
        """A private note on a conversation (display id); agents see it, the customer doesn't."""
        corpo = {"content": texto, "message_type": "outgoing", "private": True}
        caminho = f"/conversations/{int(conversation_id)}/messages"
        return self._chamar("POST", caminho, corpo=corpo, idempotente=False)
