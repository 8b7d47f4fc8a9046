"""Consent ledger (LGPD): every grant and revocation; the newest row per purpose wins.

A student with no row has the consent given by the purchase itself (transactional messages
about what they bought); a revocation (an opt-out word, an admin) stops every send.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.orm import Session

FINALIDADE_WHATSAPP = "whatsapp"


def registrar(
    session: Session,
    *,
    aluno_ids: Sequence[UUID],
    concedido: bool,
    origem: str,
    detalhes: str | None = None,
    finalidade: str = FINALIDADE_WHATSAPP,
) -> int:
    """Append one ledger row per student (set-based)."""
    if not aluno_ids:
        return 0
    return (
        session.execute(
            text(
                "INSERT INTO consentimentos (aluno_id, finalidade, concedido, origem, detalhes) "
                "SELECT unnest(CAST(:ids AS uuid[])), :f, :c, :o, :d"
            ),
            {"ids": list(aluno_ids), "f": finalidade, "c": concedido, "o": origem, "d": detalhes},
        ).rowcount
        or 0
    )


def tem_consentimento(session: Session, aluno_id: UUID, finalidade: str = FINALIDADE_WHATSAPP):
    """Current consent of a student (True when the ledger has no row)."""
    atual = session.execute(
        text(
            "SELECT concedido FROM consentimentos WHERE aluno_id = :a AND finalidade = :f "
            "ORDER BY registrado_em DESC, id DESC LIMIT 1"
        ),
        {"a": aluno_id, "f": finalidade},
    ).scalar()
    return True if atual is None else bool(atual)


SQL_CONSENTIMENTO_ATUAL = """
    SELECT DISTINCT ON (cons.aluno_id) cons.aluno_id, cons.concedido
      FROM consentimentos cons
     WHERE cons.finalidade = 'whatsapp'
     ORDER BY cons.aluno_id, cons.registrado_em DESC, cons.id DESC
"""
"""SQL (a FROM-able SELECT): each student's current WhatsApp consent, set-based.

Students with no ledger row are absent: they keep the consent given by the purchase.
"""

SQL_SEM_CONSENTIMENTO = """
    EXISTS (SELECT 1 FROM (SELECT cons.concedido FROM consentimentos cons
                            WHERE cons.aluno_id = {aluno} AND cons.finalidade = 'whatsapp'
                            ORDER BY cons.registrado_em DESC, cons.id DESC LIMIT 1) ultimo
             WHERE NOT ultimo.concedido)
"""
"""SQL predicate (format with the aluno id expression): the student revoked WhatsApp consent."""
