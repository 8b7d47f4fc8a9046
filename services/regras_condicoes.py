"""Rule conditions, filters and variable mapping: definitions and validation (pt-BR errors).

Hand-written rather than pydantic: every message names the field as the Regras form shows it,
in Portuguese, and the schema is small and flat.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass, field
from typing import Any


class CondicaoInvalida(ValueError):
    """A rule's condition, filter or mapping is invalid (message in pt-BR)."""


@dataclass(frozen=True)
class Parametro:
    """One numeric knob of a trigger."""

    nome: str
    rotulo: str
    padrao: int
    minimo: int
    maximo: int


@dataclass(frozen=True)
class Gatilho:
    """A trigger: its label, what it means, its knobs."""

    nome: str
    rotulo: str
    descricao: str
    parametros: tuple[Parametro, ...] = ()
    campos: tuple[str, ...] = field(default_factory=tuple)  # personalisation fields it offers


_BASE = ("primeiro_nome", "nome", "produto", "link_acesso", "progresso")

GATILHOS: dict[str, Gatilho] = {
    g.nome: g
    for g in [
        Gatilho(
            "compra_aprovada",
            "Compra aprovada",
            "Boas-vindas e link de acesso após a compra.",
            (Parametro("janela_horas", "Compras aprovadas nas últimas (horas)", 24, 1, 720),),
            ("valor",),
        ),
        Gatilho(
            "sem_primeiro_acesso",
            "Sem primeiro acesso",
            "Matrícula ativa sem primeiro acesso depois de N dias (recuperação de acesso).",
            (Parametro("dias", "Dias desde a matrícula", 3, 1, 365),),
        ),
        Gatilho(
            "progresso_estagnado",
            "Progresso estagnado",
            "Aluno sem concluir aulas há N dias (opcional: parado em um módulo, progresso até X%).",
            (
                Parametro("dias_sem_acesso", "Dias sem concluir aulas", 7, 1, 365),
                Parametro("progresso_max", "Progresso máximo (%)", 100, 0, 100),
            ),
            ("aula", "modulo"),
        ),
        Gatilho(
            "aula_liberada",
            "Aula liberada",
            "O gotejamento libera uma aula hoje.",
            (),
            ("aula", "modulo"),
        ),
        Gatilho(
            "boleto_pendente",
            "Boleto pendente",
            "Boleto emitido há mais de N horas, ainda não pago e não vencido.",
            (
                Parametro("horas", "Emitido há mais de (horas)", 12, 1, 240),
                Parametro("max_horas", "Ignorar boletos com mais de (horas)", 96, 2, 720),
            ),
            ("link_boleto", "valor"),
        ),
        Gatilho(
            "pix_pendente",
            "PIX pendente",
            "PIX gerado há mais de N horas, ainda não pago e não expirado.",
            (
                Parametro("horas", "Gerado há mais de (horas)", 1, 1, 240),
                Parametro("max_horas", "Ignorar PIX com mais de (horas)", 72, 2, 720),
            ),
            ("codigo_pix", "valor"),
        ),
        Gatilho(
            "carrinho_abandonado",
            "Carrinho abandonado",
            "Pessoa que iniciou a compra e saiu do checkout.",
            (
                Parametro("horas", "Abandonado há mais de (horas)", 1, 0, 240),
                Parametro("max_horas", "Ignorar carrinhos com mais de (horas)", 72, 1, 720),
            ),
        ),
        Gatilho(
            "risco_reembolso",
            "Risco de reembolso",
            "Garantia termina em até N dias e o progresso está abaixo de X%.",
            (
                Parametro("dias", "Garantia termina em até (dias)", 3, 0, 60),
                Parametro("progresso_max", "Progresso abaixo de (%)", 20, 1, 100),
            ),
            ("valor",),
        ),
        Gatilho(
            "renovacao_proxima",
            "Renovação próxima",
            "A próxima cobrança da assinatura é em até N dias.",
            (Parametro("dias", "Renova em até (dias)", 3, 0, 60),),
            ("data_renovacao",),
        ),
        Gatilho(
            "aniversario_compra",
            "Aniversário de compra",
            "A cada N meses depois da compra.",
            (Parametro("meses", "A cada (meses)", 12, 1, 60),),
        ),
    ]
}

CAMPOS: dict[str, str] = {
    "primeiro_nome": "Primeiro nome",
    "nome": "Nome completo",
    "produto": "Produto",
    "link_acesso": "Link de acesso ao produto",
    "progresso": "Progresso (%)",
    "valor": "Valor (R$)",
    "link_boleto": "Link do boleto",
    "codigo_pix": "Código PIX",
    "data_renovacao": "Data da renovação",
    "aula": "Aula",
    "modulo": "Módulo",
}

STATUS_ACESSO = ("ATIVO", "BLOQUEADO", "EXPIRADO")
_CONTROLE = re.compile(r"[\x00-\x1f\x7f]")
MODOS = ("SUGERIR", "AUTOMATICO")


def texto_com_controle(texto: str) -> bool:
    """Control characters (NUL among them, which PostgreSQL refuses) or a lone surrogate."""
    try:
        texto.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return bool(_CONTROLE.search(texto))


def campos_do_gatilho(gatilho: str) -> tuple[str, ...]:
    """Personalisation fields available for a trigger."""
    return _BASE + GATILHOS[gatilho].campos


def carregar_json(texto: str | dict | None) -> dict:
    """JSON text (or a dict) → dict, with a pt-BR error for bad JSON."""
    if texto is None or texto == "":
        return {}
    if isinstance(texto, dict):
        return texto
    try:
        valor = json.loads(texto, parse_constant=_constante_invalida)
    except CondicaoInvalida:
        raise
    except json.JSONDecodeError as exc:
        raise CondicaoInvalida(f"JSON inválido: {exc.msg} (linha {exc.lineno}).") from None
    except RecursionError:
        raise CondicaoInvalida("JSON inválido: aninhamento profundo demais.") from None
    if not isinstance(valor, dict):
        raise CondicaoInvalida('A condição deve ser um objeto JSON, como {"dias": 3}.')
    return valor


def _constante_invalida(nome: str) -> None:
    """NaN and Infinity: Python's json reads them, but they are no JSON numbers."""
    raise CondicaoInvalida(f"JSON inválido: {nome} não é um número.")


def _inteiro(valor: Any, rotulo: str, minimo: int, maximo: int) -> int:
    if isinstance(valor, float) and not math.isfinite(valor):
        raise CondicaoInvalida(f"{rotulo}: informe um número inteiro.")
    if isinstance(valor, bool) or not isinstance(valor, int | float) or int(valor) != valor:
        raise CondicaoInvalida(f"{rotulo}: informe um número inteiro.")
    if not minimo <= int(valor) <= maximo:
        raise CondicaoInvalida(f"{rotulo}: use um valor entre {minimo} e {maximo}.")
    return int(valor)


def _uuids(valor: Any, rotulo: str) -> list[str]:
    if not isinstance(valor, list):
        raise CondicaoInvalida(f"{rotulo}: informe uma lista.")
    try:
        return [str(uuid.UUID(str(v))) for v in valor]
    except ValueError:
        raise CondicaoInvalida(f"{rotulo}: identificador inválido.") from None


def _inteiros(valor: Any, rotulo: str) -> list[int]:
    if not isinstance(valor, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in valor
    ):
        raise CondicaoInvalida(f"{rotulo}: informe uma lista de números.")
    return list(valor)


def validar_condicao(gatilho: str, condicao: dict | str | None) -> dict:
    """The condition of a trigger, normalised (defaults filled) or CondicaoInvalida."""
    if gatilho not in GATILHOS:
        raise CondicaoInvalida(f"Gatilho desconhecido: {gatilho!r}.")
    dados = carregar_json(condicao)
    g = GATILHOS[gatilho]
    conhecidos = {p.nome for p in g.parametros} | {"modulo_id", "filtros"}
    desconhecidos = sorted(set(dados) - conhecidos)
    if desconhecidos:
        raise CondicaoInvalida(f"Campos desconhecidos para {g.rotulo}: {', '.join(desconhecidos)}.")
    normal: dict[str, Any] = {}
    for p in g.parametros:
        normal[p.nome] = _inteiro(dados.get(p.nome, p.padrao), p.rotulo, p.minimo, p.maximo)
    if "max_horas" in normal and normal["max_horas"] <= normal.get("horas", 0):
        raise CondicaoInvalida("O limite máximo de horas deve ser maior que o mínimo.")
    if dados.get("modulo_id") not in (None, ""):
        if gatilho != "progresso_estagnado":
            raise CondicaoInvalida("modulo_id só vale para Progresso estagnado.")
        normal["modulo_id"] = _uuids([dados["modulo_id"]], "Módulo")[0]
    normal["filtros"] = validar_filtros(dados.get("filtros") or {})
    return normal


def validar_filtros(filtros: Any) -> dict:
    """Audience filters of any trigger."""
    if not isinstance(filtros, dict):
        raise CondicaoInvalida("Filtros: informe um objeto JSON.")
    conhecidos = {
        "produtos",
        "tags_incluir",
        "tags_excluir",
        "ltv_min",
        "ltv_max",
        "ticket",
        "status_acesso",
        "saude_min",
        "saude_max",
    }
    desconhecidos = sorted(set(filtros) - conhecidos)
    if desconhecidos:
        raise CondicaoInvalida(f"Filtros desconhecidos: {', '.join(desconhecidos)}.")
    normal: dict[str, Any] = {}
    if filtros.get("produtos"):
        normal["produtos"] = _uuids(filtros["produtos"], "Produtos")
    for chave, rotulo in (("tags_incluir", "Tags incluídas"), ("tags_excluir", "Tags excluídas")):
        if filtros.get(chave):
            normal[chave] = _inteiros(filtros[chave], rotulo)
    for chave, rotulo in (("ltv_min", "LTV mínimo"), ("ltv_max", "LTV máximo")):
        if filtros.get(chave) not in (None, ""):
            normal[chave] = _inteiro(filtros[chave], rotulo, 0, 10_000_000)
    if "ltv_min" in normal and "ltv_max" in normal and normal["ltv_min"] > normal["ltv_max"]:
        raise CondicaoInvalida("O LTV mínimo não pode passar do máximo.")
    if filtros.get("ticket") not in (None, ""):
        if filtros["ticket"] not in ("Alto", "Baixo"):
            raise CondicaoInvalida("Ticket: use Alto ou Baixo.")
        normal["ticket"] = filtros["ticket"]
    if filtros.get("status_acesso"):
        status = filtros["status_acesso"]
        if not isinstance(status, list) or not all(
            isinstance(s, str) and s in STATUS_ACESSO for s in status
        ):
            raise CondicaoInvalida("Status de acesso: use ATIVO, BLOQUEADO ou EXPIRADO.")
        normal["status_acesso"] = list(status)
    for chave, rotulo in (("saude_min", "Saúde mínima"), ("saude_max", "Saúde máxima")):
        if filtros.get(chave) not in (None, ""):
            normal[chave] = _inteiro(filtros[chave], rotulo, 0, 100)
    if normal.get("saude_min", 0) > normal.get("saude_max", 100):
        raise CondicaoInvalida("A saúde mínima não pode passar da máxima.")
    return normal


def validar_mapeamento(gatilho: str, mapeamento: dict | str | None, qtd_parametros: int) -> dict:
    """Placeholder → {campo, padrao}; every placeholder 1..n mapped to a field of the trigger."""
    dados = carregar_json(mapeamento)
    permitidos = campos_do_gatilho(gatilho)
    esperadas = [str(i) for i in range(1, (qtd_parametros or 0) + 1)]
    if sorted(dados, key=lambda k: (len(k), k)) != esperadas:
        raise CondicaoInvalida(
            f"O template tem {qtd_parametros} variáveis; mapeie exatamente "
            + (", ".join("{{" + e + "}}" for e in esperadas) or "nenhuma")
            + "."
        )
    normal = {}
    for chave in esperadas:
        item = dados[chave]
        if isinstance(item, str):
            item = {"campo": item}
        if not isinstance(item, dict) or item.get("campo") not in permitidos:
            raise CondicaoInvalida(
                f"Variável {{{{{chave}}}}}: escolha um campo entre "
                + ", ".join(CAMPOS[c] for c in permitidos)
                + "."
            )
        padrao = item.get("padrao", "")
        if not isinstance(padrao, str) or len(padrao) > 200:
            raise CondicaoInvalida(f"Variável {{{{{chave}}}}}: valor padrão até 200 caracteres.")
        if texto_com_controle(padrao):
            raise CondicaoInvalida(
                f"Variável {{{{{chave}}}}}: o valor padrão contém caracteres de controle."
            )
        normal[chave] = {"campo": item["campo"], "padrao": padrao}
    return normal
