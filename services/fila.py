"""The approval queue: pending items with their context, approve, reject with a reason."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.orm import Session

from services.alunos import escapar_like, sem_acentos
from services.auditoria import registrar
from services.dias import entre_dias_sql

STATUS = (
    "pendente",
    "aprovado",
    "rejeitado",
    "erro",
    "enviando",
    "enviado",
    "cancelado",
    "verificar",
)


_CONTROLE = re.compile(r"[\x00-\x1f\x7f]")


class DecisaoInvalida(ValueError):
    """Bad input for a queue decision (message in pt-BR)."""


@dataclass(frozen=True)
class ItemFila:
    """A queue item with what the CS agent needs to decide."""

    id: int
    status: str
    data_criacao: datetime
    regra: str | None
    template: str | None
    produto: str | None
    aluno_id: UUID | None
    aluno: str | None
    celular: str | None
    ltv: Decimal | None
    progresso: int | None
    ultima_mensagem: datetime | None
    texto: str | None
    motivo: str | None
    decidido_por: str | None
    decidido_em: datetime | None


def listar(
    session: Session,
    *,
    status: str | None = "pendente",
    regra_id: int | None = None,
    produto_id: UUID | None = None,
    busca: str | None = None,
    limite: int = 200,
) -> tuple[list[ItemFila], int]:
    """Items with the student's context (LTV, progress, last message); (page, total)."""
    filtro_busca = filtro_nome = None
    busca = _CONTROLE.sub("", busca or "").strip()  # NUL is refused by PostgreSQL text
    if busca:
        filtro_busca = "%" + escapar_like(busca.lower()) + "%"
        filtro_nome = "%" + escapar_like(sem_acentos(busca)) + "%"  # accents and case folded
    params: dict[str, Any] = {
        "s": status,
        "r": regra_id,
        "p": produto_id,
        "b": filtro_busca,
        "bn": filtro_nome,
        "lim": limite,
    }
    onde = """
        (CAST(:s AS text) IS NULL OR f.status = :s)
        AND (CAST(:r AS int) IS NULL OR f.regra_id = :r)
        AND (CAST(:p AS uuid) IS NULL OR f.produto_id = :p)
        AND (CAST(:b AS text) IS NULL OR texto_busca(a.nome) LIKE :bn
             OR lower(a.email) LIKE :b)
    """
    total = session.execute(
        text(
            f"SELECT count(*) FROM filas_disparo f LEFT JOIN alunos a ON a.id = f.aluno_id "
            f"WHERE {onde}"
        ),
        params,
    ).scalar_one()
    linhas = session.execute(
        text(
            f"""
            SELECT f.id, f.status, f.data_criacao, r.nome AS regra, t.nome_meta AS template,
                   p.nome AS produto, f.aluno_id, a.nome AS aluno, a.celular, a.ltv_total,
                   (SELECT round(100.0 * sum(m.aulas_concluidas) / NULLIF(
                            (SELECT count(*) FROM aulas au JOIN modulos mo
                                ON mo.id = au.modulo_id WHERE mo.produto_id = f.produto_id), 0))
                      FROM matriculas m
                     WHERE m.aluno_id = f.aluno_id AND m.produto_id = f.produto_id)::int
                       AS progresso,
                   (SELECT max(l.data_envio) FROM logs_disparo l WHERE l.aluno_id = f.aluno_id)
                       AS ultima_mensagem,
                   f.texto_renderizado,
                   coalesce(f.motivo_rejeicao, f.motivo_cancelamento, f.erro_mensagem) AS motivo,
                   f.decidido_por, f.decidido_em
              FROM filas_disparo f
              LEFT JOIN regras_automacao r ON r.id = f.regra_id
              LEFT JOIN templates t ON t.id = f.template_id
              LEFT JOIN produtos p ON p.id = f.produto_id
              LEFT JOIN alunos a ON a.id = f.aluno_id
             WHERE {onde}
             ORDER BY f.data_criacao, f.id
             LIMIT :lim
            """
        ),
        params,
    ).all()
    return [ItemFila(*linha) for linha in linhas], total


def aprovar(session: Session, ids: list[int], *, usuario: str) -> int:
    """Approve pending items (others are left as they are); audited."""
    if not ids:
        raise DecisaoInvalida("Selecione ao menos um item.")
    aprovados = (
        session.execute(
            text(
                "UPDATE filas_disparo SET status = 'aprovado', decidido_por = :u, "
                "decidido_em = now() WHERE id = ANY(:ids) AND status = 'pendente' RETURNING id"
            ),
            {"u": usuario, "ids": ids},
        )
        .scalars()
        .all()
    )
    if aprovados:
        registrar(
            session,
            usuario=usuario,
            acao="fila_aprovada",
            entidade="filas_disparo",
            entidade_id=",".join(map(str, aprovados))[:100],
            detalhes={"ids": aprovados},
        )
    return len(aprovados)


def rejeitar(session: Session, ids: list[int], *, motivo: str, usuario: str) -> int:
    """Reject pending items with a required reason; audited."""
    motivo = (motivo or "").replace("\x00", "").strip()
    if not ids:
        raise DecisaoInvalida("Selecione ao menos um item.")
    if len(motivo) < 3:
        raise DecisaoInvalida("Informe o motivo da rejeição (pelo menos 3 caracteres).")
    rejeitados = (
        session.execute(
            text(
                "UPDATE filas_disparo SET status = 'rejeitado', motivo_rejeicao = :m, "
                "decidido_por = :u, decidido_em = now() "
                "WHERE id = ANY(:ids) AND status = 'pendente' RETURNING id"
            ),
            {"u": usuario, "ids": ids, "m": motivo[:1000]},
        )
        .scalars()
        .all()
    )
    if rejeitados:
        registrar(
            session,
            usuario=usuario,
            acao="fila_rejeitada",
            entidade="filas_disparo",
            entidade_id=",".join(map(str, rejeitados))[:100],
            detalhes={"ids": rejeitados, "motivo": motivo[:200]},
        )
    return len(rejeitados)


def resolver_verificacao(session: Session, ids: list[int], *, enviado: bool, usuario: str) -> int:
    """A person settles 'verificar' items: mark as sent, or back to approved to send again."""
    novo = "enviado" if enviado else "aprovado"
    resolvidos = (
        session.execute(
            text(
                "UPDATE filas_disparo SET status = :n, decidido_por = :u, decidido_em = now(), "
                "reservado_em = NULL WHERE id = ANY(:ids) AND status = 'verificar' RETURNING id"
            ),
            {"n": novo, "u": usuario, "ids": ids},
        )
        .scalars()
        .all()
    )
    if resolvidos:
        registrar(
            session,
            usuario=usuario,
            acao=f"fila_verificada_{novo}",
            entidade="filas_disparo",
            entidade_id=",".join(map(str, resolvidos))[:100],
        )
    return len(resolvidos)


def contagem_por_status(session: Session) -> dict[str, int]:
    """How many items per status."""
    return dict(
        session.execute(text("SELECT status, count(*) FROM filas_disparo GROUP BY status")).all()
    )


def a_verificar(session: Session) -> int:
    """How many sends were never confirmed and wait for a person ('verificar')."""
    return session.execute(
        text("SELECT count(*) FROM filas_disparo WHERE status = 'verificar'")
    ).scalar_one()


@dataclass(frozen=True)
class DecisoesDoDia:
    """What one person decided on one São Paulo calendar day."""

    aprovados: int
    rejeitados: int


def decisoes_do_dia(session: Session, *, usuario: str, dia: date) -> DecisoesDoDia:
    """Items approved and rejected by ``usuario`` on ``dia`` (São Paulo time), whatever they
    became afterwards (an approved item may be sent, failed or cancelled since)."""
    linha = session.execute(
        text(
            f"""
            SELECT count(*) FILTER (WHERE motivo_rejeicao IS NULL) AS aprovados,
                   count(*) FILTER (WHERE motivo_rejeicao IS NOT NULL) AS rejeitados
              FROM filas_disparo
             WHERE decidido_por = :u
               AND {entre_dias_sql("decidido_em", "d", "d")}
            """
        ),
        {"u": usuario, "d": dia},
    ).one()
    return DecisoesDoDia(aprovados=linha.aprovados, rejeitados=linha.rejeitados)
