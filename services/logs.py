"""Logs of WhatsApp messages sent: filtered list, delivery funnel, failures and read rates.

A message's delivery is read from its per-status times (enviado_em, entregue_em, lido_em,
falhou_em) and, for rows written before those columns existed, from ``status_entrega``. A later
status implies the earlier ones (a message read without a delivered time was delivered), and a
delivered/read message is no longer counted as failed (Meta may send failed, then delivered).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.orm import Session

from services.alunos import escapar_like, sem_acentos
from services.dias import entre_dias_sql, hoje_sao_paulo

DIAS_PADRAO = 7
MAXIMO_DIAS = 366
LIMITE_TABELA = 500
LIMITE_CSV = 10_000
LIMITE_GRUPOS = 50
LIMITE_OPCOES = 1000
TAMANHO_MAXIMO_BUSCA = 200
# Current state of a message, most advanced first; the Status filter uses these keys.
STATUS = ("accepted", "sent", "delivered", "read", "failed")

_CONTROLE = re.compile(r"[\x00-\x1f\x7f]")

# Per-status flags of one logs_disparo row ``l`` (timestamps first, status_entrega as fallback).
_LIDA = "(l.lido_em IS NOT NULL OR l.status_entrega = 'read')"
_ENTREGUE = f"({_LIDA} OR l.entregue_em IS NOT NULL OR l.status_entrega = 'delivered')"
_ENVIADA = f"({_ENTREGUE} OR l.enviado_em IS NOT NULL OR l.status_entrega = 'sent')"
_FALHOU = f"(NOT {_ENTREGUE} AND (l.falhou_em IS NOT NULL OR l.status_entrega = 'failed'))"
_ESTADO = f"""CASE WHEN {_LIDA} THEN 'read'
                   WHEN {_ENTREGUE} THEN 'delivered'
                   WHEN {_FALHOU} THEN 'failed'
                   WHEN {_ENVIADA} THEN 'sent'
                   ELSE 'accepted' END"""
_ORIGEM = """
      FROM logs_disparo l
      LEFT JOIN alunos a ON a.id = l.aluno_id
      LEFT JOIN templates t ON t.id = l.template_id
"""


class FiltroInvalido(ValueError):
    """A filter the page cannot run (message in pt-BR, safe to show)."""


@dataclass(frozen=True)
class FiltroLogs:
    """What the Logs page filters by; dates are São Paulo calendar days, both inclusive."""

    inicio: date
    fim: date
    status: tuple[str, ...] = ()
    template_id: int | None = None
    produto_id: uuid.UUID | None = None
    aluno: str = ""


@dataclass(frozen=True)
class Opcao:
    """A choice of a filter select box."""

    id: int | uuid.UUID
    rotulo: str


@dataclass(frozen=True)
class OpcoesFiltro:
    """Templates and products that can be picked in the filters."""

    templates: list[Opcao]
    produtos: list[Opcao]


@dataclass(frozen=True)
class MensagemLog:
    """One message of the table."""

    id: int
    data_envio: datetime | None
    aluno_id: uuid.UUID | None
    aluno: str | None
    email: str | None
    telefone: str | None
    template: str | None
    produto: str | None
    estado: str
    enviado_em: datetime | None
    entregue_em: datetime | None
    lido_em: datetime | None
    falhou_em: datetime | None
    erro_codigo: int | None
    erro_titulo: str | None
    texto_renderizado: str | None
    mensagem_id_whatsapp: str | None


_CAMPOS_MENSAGEM = tuple(campo.name for campo in fields(MensagemLog))


@dataclass(frozen=True)
class PaginaMensagens:
    """The newest messages that match (at most ``limite``) and how many match in all."""

    mensagens: list[MensagemLog]
    total: int


@dataclass(frozen=True)
class Funil:
    """Delivery counts of the messages sent in the period (each stage includes the next)."""

    disparadas: int
    enviadas: int
    entregues: int
    lidas: int
    falhas: int
    aguardando: int


@dataclass(frozen=True)
class FalhaPorCodigo:
    """Failed messages sharing one Meta error code (None: failed without a code)."""

    erro_codigo: int | None
    erro_titulo: str | None
    quantidade: int


@dataclass(frozen=True)
class LeituraTemplate:
    """Read rate of one template: read ÷ delivered (None when nothing was delivered)."""

    template_id: int | None
    template: str
    disparadas: int
    entregues: int
    lidas: int
    taxa_leitura: Decimal | None


def periodo_padrao(agora: datetime | None = None) -> tuple[date, date]:
    """The last 7 days in São Paulo, today included."""
    hoje = hoje_sao_paulo(agora)
    return hoje - timedelta(days=DIAS_PADRAO - 1), hoje


def _condicoes(filtro: FiltroLogs, *, com_status: bool) -> tuple[str, dict[str, object]]:
    """The WHERE clause of a filter and its bound parameters, or FiltroInvalido (pt-BR)."""
    if filtro.inicio > filtro.fim:
        raise FiltroInvalido("Período: a data inicial precisa ser anterior ou igual à final.")
    if (filtro.fim - filtro.inicio).days >= MAXIMO_DIAS:
        raise FiltroInvalido(f"Período: escolha no máximo {MAXIMO_DIAS} dias.")
    desconhecidos = [s for s in filtro.status if s not in STATUS]
    if desconhecidos:
        raise FiltroInvalido("Status desconhecido: " + ", ".join(map(str, desconhecidos)) + ".")
    termo = _CONTROLE.sub("", filtro.aluno or "").strip()
    if len(termo) > TAMANHO_MAXIMO_BUSCA:
        raise FiltroInvalido(f"Aluno: use no máximo {TAMANHO_MAXIMO_BUSCA} caracteres.")
    # Calendar days in São Paulo: [inicio 00:00, fim + 1 day 00:00) local time.
    partes = [entre_dias_sql("l.data_envio")]
    parametros: dict[str, object] = {"inicio": filtro.inicio, "fim": filtro.fim}
    if com_status and filtro.status:
        partes.append(f"({_ESTADO}) = ANY(:status)")
        parametros["status"] = list(filtro.status)
    if filtro.template_id is not None:
        partes.append("l.template_id = :template_id")
        parametros["template_id"] = filtro.template_id
    if filtro.produto_id is not None:
        # Rows logged before produto_id existed take the product of their template.
        partes.append(
            "(l.produto_id = :produto_id OR (l.produto_id IS NULL AND t.produto_id = :produto_id))"
        )
        parametros["produto_id"] = filtro.produto_id
    if termo:
        partes.append(
            r"(texto_busca(a.nome) LIKE :nome_aluno ESCAPE '\'"
            r" OR lower(a.email) LIKE :email_aluno ESCAPE '\')"
        )
        parametros["nome_aluno"] = "%" + escapar_like(sem_acentos(termo)) + "%"
        parametros["email_aluno"] = "%" + escapar_like(termo.lower()) + "%"
    return " AND ".join(partes), parametros


def listar_mensagens(
    session: Session, filtro: FiltroLogs, *, limite: int = LIMITE_TABELA
) -> PaginaMensagens:
    """The newest messages matching every filter (at most ``limite``) and the total matching."""
    onde, parametros = _condicoes(filtro, com_status=True)
    parametros["limite"] = max(1, min(int(limite), LIMITE_CSV))
    # The newest rows first (only what the filter needs is joined; the period's index drives
    # it), then their student, template and product; the total counted apart when needed.
    resultado = session.execute(
        text(
            f"""
            WITH escolhidas AS (
                SELECT l.id, l.data_envio, l.aluno_id, l.telefone, l.template_id, l.produto_id,
                       {_ESTADO} AS estado, l.enviado_em, l.entregue_em, l.lido_em,
                       l.falhou_em, l.erro_codigo, l.erro_titulo, l.texto_renderizado,
                       l.mensagem_id_whatsapp
                  {_ORIGEM}
                 WHERE {onde}
                 ORDER BY l.data_envio DESC NULLS LAST, l.id DESC
                 LIMIT :limite)
            SELECT e.id, e.data_envio, e.aluno_id, a.nome AS aluno, a.email,
                   coalesce(e.telefone, a.celular) AS telefone,
                   CASE WHEN t.id IS NULL THEN NULL
                        WHEN t.idioma IS NULL THEN t.nome_meta
                        ELSE t.nome_meta || ' (' || t.idioma || ')' END AS template,
                   p.nome AS produto, e.estado,
                   e.enviado_em, e.entregue_em, e.lido_em, e.falhou_em,
                   e.erro_codigo, e.erro_titulo, e.texto_renderizado, e.mensagem_id_whatsapp
              FROM escolhidas e
              LEFT JOIN alunos a ON a.id = e.aluno_id
              LEFT JOIN templates t ON t.id = e.template_id
              LEFT JOIN produtos p ON p.id = coalesce(e.produto_id, t.produto_id)
             ORDER BY e.data_envio DESC NULLS LAST, e.id DESC
            """
        ),
        parametros,
    )
    if tuple(resultado.keys()) != _CAMPOS_MENSAGEM:  # MensagemLog is built positionally below
        raise RuntimeError(f"colunas fora da ordem de MensagemLog: {list(resultado.keys())}")
    linhas = resultado.all()
    if len(linhas) < parametros["limite"]:
        total = len(linhas)
    else:
        total = session.execute(
            text(f"SELECT count(*) {_ORIGEM} WHERE {onde}"), parametros
        ).scalar_one()
    # Positional (the SELECT lists the fields in MensagemLog's order): building 10,000 rows of the
    # CSV through a mapping per row took a quarter of the call (177 → 130 ms median at L).
    mensagens = [MensagemLog(*linha) for linha in linhas]
    return PaginaMensagens(mensagens=mensagens, total=total)


def funil(session: Session, filtro: FiltroLogs) -> Funil:
    """Delivery funnel of the period (the Status filter is ignored: it would cut the funnel)."""
    onde, parametros = _condicoes(filtro, com_status=False)
    linha = session.execute(
        text(
            f"""
            SELECT count(*) AS disparadas,
                   count(*) FILTER (WHERE {_ENVIADA}) AS enviadas,
                   count(*) FILTER (WHERE {_ENTREGUE}) AS entregues,
                   count(*) FILTER (WHERE {_LIDA}) AS lidas,
                   count(*) FILTER (WHERE {_FALHOU}) AS falhas,
                   count(*) FILTER (WHERE NOT {_ENVIADA} AND NOT {_FALHOU}) AS aguardando
              {_ORIGEM}
             WHERE {onde}
            """
        ),
        parametros,
    ).one()
    return Funil(**linha._mapping)


def falhas_por_codigo(session: Session, filtro: FiltroLogs) -> list[FalhaPorCodigo]:
    """Failed messages of the period grouped by Meta error code, most frequent first."""
    onde, parametros = _condicoes(filtro, com_status=False)
    parametros["limite"] = LIMITE_GRUPOS
    linhas = session.execute(
        text(
            f"""
            SELECT l.erro_codigo,
                   mode() WITHIN GROUP (ORDER BY l.erro_titulo) AS erro_titulo,
                   count(*) AS quantidade
              {_ORIGEM}
             WHERE {onde} AND {_FALHOU}
             GROUP BY l.erro_codigo
             ORDER BY quantidade DESC, l.erro_codigo NULLS LAST
             LIMIT :limite
            """
        ),
        parametros,
    ).all()
    return [FalhaPorCodigo(**linha._mapping) for linha in linhas]


def leitura_por_template(session: Session, filtro: FiltroLogs) -> list[LeituraTemplate]:
    """Per template: messages, delivered, read and the read rate (% of delivered that were read)."""
    onde, parametros = _condicoes(filtro, com_status=False)
    parametros["limite"] = LIMITE_GRUPOS
    linhas = session.execute(
        text(
            f"""
            SELECT l.template_id,
                   CASE WHEN l.template_id IS NULL THEN '(sem template)'
                        ELSE coalesce(max(t.nome_meta), 'template ' || l.template_id)
                             || coalesce(' (' || max(t.idioma) || ')', '') END AS template,
                   count(*) AS disparadas,
                   count(*) FILTER (WHERE {_ENTREGUE}) AS entregues,
                   count(*) FILTER (WHERE {_LIDA}) AS lidas
              {_ORIGEM}
             WHERE {onde}
             GROUP BY l.template_id
             ORDER BY disparadas DESC, template, l.template_id
             LIMIT :limite
            """
        ),
        parametros,
    ).all()
    return [
        LeituraTemplate(
            **linha._mapping,
            taxa_leitura=(
                round(Decimal(100) * linha.lidas / linha.entregues, 1) if linha.entregues else None
            ),
        )
        for linha in linhas
    ]


def opcoes_filtro(session: Session) -> OpcoesFiltro:
    """Templates (also those removed at Meta, kept for the logs) and products, by name."""
    templates = session.execute(
        text(
            """
            SELECT id, coalesce(nome_meta, 'template ' || id)
                       || coalesce(' (' || idioma || ')', '')
                       || CASE WHEN removido_na_meta_em IS NOT NULL THEN ' — removido na Meta'
                               ELSE '' END AS rotulo
              FROM templates
             ORDER BY lower(nome_meta), idioma, id
             LIMIT :limite
            """
        ),
        {"limite": LIMITE_OPCOES},
    ).all()
    produtos = session.execute(
        text("SELECT id, nome AS rotulo FROM produtos ORDER BY lower(nome), id LIMIT :limite"),
        {"limite": LIMITE_OPCOES},
    ).all()
    return OpcoesFiltro(
        templates=[Opcao(**linha._mapping) for linha in templates],
        produtos=[Opcao(**linha._mapping) for linha in produtos],
    )
