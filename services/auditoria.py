"""The audit log: who did what and when (never the secret values themselves)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session


def registrar(
    session: Session,
    *,
    usuario: str | None,
    acao: str,
    entidade: str | None = None,
    entidade_id: str | None = None,
    detalhes: dict[str, Any] | None = None,
) -> None:
    """Append one audit row in the caller's transaction."""
    session.execute(
        text(
            "INSERT INTO auditoria (usuario, acao, entidade, entidade_id, detalhes) "
            "VALUES (:u, :a, :e, :eid, CAST(:d AS jsonb))"
        ),
        {
            "u": usuario,
            "a": acao,
            "e": entidade,
            "eid": entidade_id,
            "d": json.dumps(detalhes) if detalhes is not None else None,
        },
    )


def recentes(session: Session, limite: int = 50) -> list[dict[str, Any]]:
    """The latest audit rows, newest first."""
    linhas = session.execute(
        text(
            "SELECT criado_em, usuario, acao, entidade, entidade_id FROM auditoria "
            "ORDER BY id DESC LIMIT :n"
        ),
        {"n": limite},
    ).mappings()
    return [dict(linha) for linha in linhas]
