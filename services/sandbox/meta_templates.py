"""Message templates of the Meta sandbox: the pt_BR demo set, placeholders and cursor paging."""

from __future__ import annotations

import base64
import copy
import re
import threading
from collections.abc import Iterable
from typing import Any

# Reference §A3: the pre-flight regex over BODY/HEADER/URL (positional or named).
PLACEHOLDER = re.compile(r"\{\{\s*([0-9]+|[a-z_][a-z0-9_]*)\s*\}\}")
STATUS_TEMPLATE = frozenset(
    "APPROVED PENDING REJECTED PAUSED DISABLED IN_APPEAL PENDING_DELETION DELETED "
    "LIMIT_EXCEEDED ARCHIVED".split()
)
CATEGORIAS = frozenset({"MARKETING", "UTILITY", "AUTHENTICATION"})
LIMITE_PADRAO, LIMITE_MAXIMO = 25, 1000
_RODAPE = {"type": "FOOTER", "text": "Terceiriza Cursos · responda SAIR para não receber mais"}
_SAIR = {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "SAIR"}]}


def _modelo(
    ident: str,
    nome: str,
    categoria: str,
    corpo: str,
    exemplo: list[str],
    *,
    status: str = "APPROVED",
    cabecalho: str | None = None,
    botoes: dict[str, Any] | None = None,
    motivo: str = "NONE",
) -> dict[str, Any]:
    """One positional pt_BR template in the shape GET message_templates returns."""
    componentes: list[dict[str, Any]] = []
    if cabecalho:
        componentes.append({"type": "HEADER", "format": "TEXT", "text": cabecalho})
    componentes.append({"type": "BODY", "text": corpo, "example": {"body_text": [exemplo]}})
    componentes.append(_RODAPE)
    if botoes:
        componentes.append(botoes)
    qualidade = "GREEN" if status == "APPROVED" else "UNKNOWN"
    return {
        "id": ident,
        "name": nome,
        "language": "pt_BR",
        "status": status,
        "category": categoria,
        "parameter_format": "POSITIONAL",
        "components": componentes,
        "quality_score": {"score": qualidade},
        "rejected_reason": motivo,
    }


TEMPLATES_DEMO: tuple[dict[str, Any], ...] = (
    _modelo(
        "1180000000000001",
        "boas_vindas_acesso",
        "UTILITY",
        "Olá, {{1}}! Seja bem-vindo(a) ao curso {{2}}. Seu acesso já está liberado: entre com "
        "o e-mail {{3}} na área de membros.",
        ["Maria", "Marketing Digital Pro", "maria@example.com"],
        cabecalho="Seu acesso chegou",
        botoes={
            "type": "BUTTONS",
            "buttons": [
                {"type": "URL", "text": "Acessar", "url": "https://hotmart.com/pt-br/club"}
            ],
        },
    ),
    _modelo(
        "1180000000000002",
        "boleto_pendente",
        "UTILITY",
        "Oi, {{1}}! Seu boleto do curso {{2}}, no valor de {{3}}, ainda está em aberto. "
        "Para pagar, use este link: {{4}}",
        ["Maria", "Marketing Digital Pro", "R$ 497,00", "https://pay.hotmart.com/b/123"],
    ),
    _modelo(
        "1180000000000003",
        "pix_pendente",
        "UTILITY",
        "Oi, {{1}}! Seu PIX do curso {{2}} ainda não foi pago. Copie o código: {{3}}",
        ["Maria", "Marketing Digital Pro", "00020126580014br.gov.bcb.pix0136abc"],
    ),
    _modelo(
        "1180000000000004",
        "progresso_estagnado",
        "MARKETING",
        "{{1}}, sentimos sua falta! Você parou na aula {{2}} do curso {{3}}. Que tal voltar "
        "hoje? Faltam só {{4}} aulas para concluir o módulo.",
        ["Maria", "Funil de vendas", "Marketing Digital Pro", "3"],
        botoes=_SAIR,
    ),
    _modelo(
        "1180000000000005",
        "aula_liberada",
        "UTILITY",
        "Boa notícia, {{1}}: a aula {{2}} do curso {{3}} já está liberada na área de membros.",
        ["Maria", "Tráfego pago", "Marketing Digital Pro"],
    ),
    _modelo(
        "1180000000000006",
        "renovacao_proxima",
        "MARKETING",
        "{{1}}, sua assinatura do {{2}} renova em {{3}}. Garanta 20% de desconto agora!",
        ["Maria", "Clube Pro", "15/11/2026"],
        status="REJECTED",
        motivo="PROMOTIONAL",
    ),
    _modelo(
        "1180000000000007",
        "risco_reembolso",
        "UTILITY",
        "Olá, {{1}}. Vimos que você ainda não aproveitou o curso {{2}}. Podemos ajudar? "
        "Responda esta mensagem e um especialista fala com você.",
        ["Maria", "Marketing Digital Pro"],
        status="PENDING",
    ),
)


def placeholders(template: dict[str, Any]) -> list[str]:
    """The BODY's placeholders in order of first appearance ('1', '2'… or names)."""
    vistos: list[str] = []
    for componente in template.get("components") or []:
        if str(componente.get("type", "")).upper() == "BODY":
            for nome in PLACEHOLDER.findall(componente.get("text") or ""):
                if nome not in vistos:
                    vistos.append(nome)
    return vistos


def texto_do_corpo(template: dict[str, Any]) -> str:
    """The BODY text of a template ('' when it has none)."""
    for componente in template.get("components") or []:
        if str(componente.get("type", "")).upper() == "BODY":
            return componente.get("text") or ""
    return ""


def _cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"tpl:{seq}".encode()).decode().rstrip("=")


def _ler_cursor(cursor: str) -> int | None:
    try:
        texto = base64.urlsafe_b64decode(cursor.encode() + b"==").decode()
        prefixo, _, numero = texto.partition(":")
        return int(numero) if prefixo == "tpl" else None
    except (ValueError, UnicodeDecodeError):
        return None


class Catalogo:
    """The WABA's templates, mutable by tests; every item carries a stable ordinal for cursors."""

    def __init__(self, templates: Iterable[dict[str, Any]]) -> None:
        self._lock = threading.Lock()
        self._itens: list[tuple[int, dict[str, Any]]] = []
        self._proximo_id = 1180000000000100
        for template in templates:
            self.adicionar(template)

    def adicionar(self, template: dict[str, Any]) -> dict[str, Any]:
        """Add a template (id and parameter_format filled in when missing); returns a copy."""
        novo = copy.deepcopy(template)
        for campo in ("name", "language", "status", "category", "components"):
            if campo not in novo:
                raise ValueError(f"template sem o campo {campo!r}")
        if novo["status"] not in STATUS_TEMPLATE:
            raise ValueError(f"status de template desconhecido: {novo['status']!r}")
        with self._lock:
            if "id" not in novo:
                self._proximo_id += 1
                novo["id"] = str(self._proximo_id)
            novo.setdefault("parameter_format", "POSITIONAL")
            if self._achar(novo["name"], novo["language"]) is not None:
                raise ValueError(f"template {novo['name']}/{novo['language']} já existe")
            seq = self._itens[-1][0] + 1 if self._itens else 1
            self._itens.append((seq, novo))
        return copy.deepcopy(novo)

    def _achar(self, nome: str, idioma: str) -> dict[str, Any] | None:
        for _, t in self._itens:
            if t["name"] == nome and t["language"] == idioma:
                return t
        return None

    def obter(self, nome: str, idioma: str) -> dict[str, Any] | None:
        """The template with this exact name and language code, as a copy."""
        with self._lock:
            achado = self._achar(nome, idioma)
            return copy.deepcopy(achado) if achado else None

    def existe_nome(self, nome: str) -> bool:
        """Whether any language of this template name exists."""
        with self._lock:
            return any(t["name"] == nome for _, t in self._itens)

    def todos(self) -> list[dict[str, Any]]:
        """Copies of every template, in creation order."""
        with self._lock:
            return [copy.deepcopy(t) for _, t in self._itens]

    def remover(self, nome: str, idioma: str | None = None) -> list[dict[str, Any]]:
        """Delete a template (every language unless one is given); returns what was removed."""
        with self._lock:
            fora = [
                t for _, t in self._itens if t["name"] == nome and idioma in (None, t["language"])
            ]
            self._itens = [(s, t) for s, t in self._itens if not any(t is f for f in fora)]
        return fora

    def mudar_status(
        self, nome: str, status: str, idioma: str = "pt_BR", motivo: str | None = None
    ) -> dict[str, Any]:
        """Change a template's status (and rejected_reason when given); returns a copy."""
        if status not in STATUS_TEMPLATE:
            raise ValueError(f"status de template desconhecido: {status!r}")
        with self._lock:
            template = self._achar(nome, idioma)
            if template is None:
                raise KeyError(f"{nome}/{idioma}")
            template["status"] = status
            if motivo is not None:
                template["rejected_reason"] = motivo
            return copy.deepcopy(template)

    def pagina(
        self,
        *,
        limite: int,
        depois: str | None,
        antes: str | None,
        filtros: dict[str, str],
        campos: list[str] | None,
    ) -> tuple[list[dict[str, Any]], str | None, str | None, bool, bool]:
        """One page: (items, before cursor, after cursor, has next, has previous).

        Raises ValueError on a cursor this catalogue never issued.
        """
        with self._lock:
            itens = [
                (s, t)
                for s, t in self._itens
                if all(_combina(t, campo, valor) for campo, valor in filtros.items())
            ]
        if depois:
            marco = _ler_cursor(depois)
            if marco is None:
                raise ValueError(depois)
            restantes = [(s, t) for s, t in itens if s > marco]
            pagina, anterior = restantes[:limite], len(restantes) < len(itens)
            seguinte = len(restantes) > limite
        elif antes:
            marco = _ler_cursor(antes)
            if marco is None:
                raise ValueError(antes)
            previos = [(s, t) for s, t in itens if s < marco]
            pagina, anterior = previos[-limite:], len(previos) > limite
            seguinte = len(previos) < len(itens)
        else:
            pagina, anterior, seguinte = itens[:limite], False, len(itens) > limite
        dados = [_projetar(t, campos) for _, t in pagina]
        if not pagina:
            return dados, None, None, False, anterior
        return dados, _cursor(pagina[0][0]), _cursor(pagina[-1][0]), seguinte, anterior


def _combina(template: dict[str, Any], campo: str, valor: str) -> bool:
    """Graph filters: name is a case-insensitive substring, the others exact (comma lists ok)."""
    if campo == "name":
        return valor.lower() in template["name"].lower()
    return str(template.get(campo)) in valor.split(",")


def _projetar(template: dict[str, Any], campos: list[str] | None) -> dict[str, Any]:
    """Only the requested fields (Graph always adds id)."""
    copia = copy.deepcopy(template)
    if not campos:
        return copia
    return {c: copia[c] for c in ("id", *campos) if c in copia}
