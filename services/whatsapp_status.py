"""Delivery statuses from Meta's webhooks onto ``logs_disparo``.

Rules (reference §A4): no order guarantee, duplicates happen, ``delivered`` may be omitted and
may follow ``failed``. So each status only fills its own timestamp (first one wins, a duplicate
changes nothing) and the current status is derived from the timestamps: read > delivered >
failed > sent > accepted. A status whose wamid is not logged yet is parked in
``status_pendentes`` and applied when the send's row is written; a per-wamid advisory lock makes
that hand-over race-free.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

STATUS_CONHECIDOS = ("sent", "delivered", "read", "failed")
# A parked status waits for our own insert of the send, which comes seconds after Meta accepted
# it. One still unclaimed after this long belongs to a message this app did not send (an agent
# writing from Chatwoot on the same number) or to a batch whose worker died before logging it;
# Meta's own redelivery of a webhook gives up after 7 days as well.
RETENCAO_ESTACIONADOS = "7 days"

_ATUALIZAR = """
WITH s AS (
    SELECT DISTINCT ON (x.wamid, x.status) x.wamid, x.status, x.ocorrido_em, x.codigo, x.titulo
      FROM jsonb_to_recordset(CAST(:statuses AS jsonb))
           AS x(wamid text, status text, ocorrido_em timestamptz, codigo int, titulo text)
     ORDER BY x.wamid, x.status, x.ocorrido_em
), novo AS (
    SELECT l.id,
           coalesce(l.enviado_em, min(s.ocorrido_em) FILTER (WHERE s.status = 'sent')) AS enviado,
           coalesce(l.entregue_em, min(s.ocorrido_em) FILTER (WHERE s.status = 'delivered'))
               AS entregue,
           coalesce(l.lido_em, min(s.ocorrido_em) FILTER (WHERE s.status = 'read')) AS lido,
           coalesce(l.falhou_em, min(s.ocorrido_em) FILTER (WHERE s.status = 'failed')) AS falhou,
           coalesce((array_agg(s.codigo) FILTER (WHERE s.status = 'failed'))[1], l.erro_codigo)
               AS codigo,
           coalesce((array_agg(s.titulo) FILTER (WHERE s.status = 'failed'))[1], l.erro_titulo)
               AS titulo
      FROM logs_disparo l JOIN s ON s.wamid = l.mensagem_id_whatsapp
     GROUP BY l.id
)
UPDATE logs_disparo l
   SET enviado_em = n.enviado, entregue_em = n.entregue, lido_em = n.lido, falhou_em = n.falhou,
       erro_codigo = n.codigo, erro_titulo = n.titulo,
       status_entrega = CASE WHEN n.lido IS NOT NULL THEN 'read'
                             WHEN n.entregue IS NOT NULL THEN 'delivered'
                             WHEN n.falhou IS NOT NULL THEN 'failed'
                             WHEN n.enviado IS NOT NULL THEN 'sent'
                             ELSE l.status_entrega END
  FROM novo n
 WHERE l.id = n.id
   AND (l.enviado_em, l.entregue_em, l.lido_em, l.falhou_em, l.erro_codigo)
       IS DISTINCT FROM (n.enviado, n.entregue, n.lido, n.falhou, n.codigo)
RETURNING l.mensagem_id_whatsapp
"""


def _travar(session: Session, wamids: Iterable[str]) -> None:
    """Per-wamid transaction locks, in a stable order (no deadlock between two batches), in one
    round trip."""
    session.execute(
        text(
            "SELECT count(pg_advisory_xact_lock(hashtextextended(w, 7310))) "
            "FROM (SELECT w FROM unnest(CAST(:ws AS text[])) AS w ORDER BY w) AS ordenados"
        ),
        {"ws": sorted(set(wamids))},
    )


def normalizar(status: dict) -> dict | None:
    """One ``statuses[]`` item → our row, or None for an item we do not track."""
    nome = str(status.get("status") or "").lower()
    wamid = status.get("id")
    if nome not in STATUS_CONHECIDOS or not isinstance(wamid, str) or not wamid:
        return None
    try:
        instante = datetime.fromtimestamp(int(str(status.get("timestamp"))), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        instante = datetime.now(UTC)
    erros = status.get("errors")
    erro = erros[0] if nome == "failed" and isinstance(erros, list) and erros else {}
    codigo = erro.get("code") if isinstance(erro, dict) else None
    return {
        "wamid": wamid[:100],
        "status": nome,
        "ocorrido_em": instante.isoformat(),
        # An integer column: a code out of its range (never one of Meta's) is dropped.
        "codigo": codigo if isinstance(codigo, int) and -(2**31) <= codigo < 2**31 else None,
        "titulo": (str(erro.get("title") or erro.get("message") or "")[:500] or None)
        if isinstance(erro, dict)
        else None,
    }


def aplicar(session: Session, statuses: list[dict]) -> dict[str, int]:
    """Apply normalised statuses: update logged messages, park the others."""
    atualizados, estacionados = aplicar_detalhado(session, statuses)
    return {"aplicados": len(atualizados), "estacionados": len(estacionados)}


def aplicar_detalhado(session: Session, statuses: list[dict]) -> tuple[list[str], list[str]]:
    """``aplicar`` returning the wamids of the messages updated and of the statuses parked."""
    if not statuses:
        return [], []
    _travar(session, (s["wamid"] for s in statuses))
    # One statement: both parts see the same snapshot, taken after the locks above.
    linha = session.execute(
        text(
            f"""
            WITH atualizados AS ({_ATUALIZAR}),
            estacionados AS (
                INSERT INTO status_pendentes (mensagem_id_whatsapp, status, ocorrido_em,
                                              erro_codigo, erro_titulo)
                SELECT x.wamid, x.status, x.ocorrido_em, x.codigo, x.titulo
                  FROM jsonb_to_recordset(CAST(:statuses AS jsonb))
                       AS x(wamid text, status text, ocorrido_em timestamptz, codigo int,
                            titulo text)
                 WHERE NOT EXISTS (SELECT 1 FROM logs_disparo l
                                    WHERE l.mensagem_id_whatsapp = x.wamid)
                ON CONFLICT (mensagem_id_whatsapp, status) DO NOTHING
                RETURNING mensagem_id_whatsapp
            )
            SELECT ARRAY(SELECT mensagem_id_whatsapp FROM atualizados) AS atualizados,
                   ARRAY(SELECT mensagem_id_whatsapp FROM estacionados) AS estacionados
            """
        ),
        {"statuses": json.dumps(statuses)},
    ).one()
    return list(linha.atualizados), list(linha.estacionados)


def aplicar_estacionados(session: Session, wamid: str) -> int:
    """Apply (and clear) the statuses parked for a message that has just been logged."""
    return aplicar_estacionados_varios(session, [wamid])


def aplicar_estacionados_varios(session: Session, wamids: list[str]) -> int:
    """Apply (and clear) the statuses parked for a batch of just-logged messages, in three
    statements."""
    if not wamids:
        return 0
    _travar(session, wamids)
    linhas = (
        session.execute(
            text(
                "DELETE FROM status_pendentes WHERE mensagem_id_whatsapp = ANY(:w) "
                "RETURNING mensagem_id_whatsapp AS wamid, status, ocorrido_em, "
                "erro_codigo AS codigo, erro_titulo AS titulo"
            ),
            {"w": wamids},
        )
        .mappings()
        .all()
    )
    if not linhas:
        return 0
    statuses = [{**linha, "ocorrido_em": linha["ocorrido_em"].isoformat()} for linha in linhas]
    return session.execute(text(_ATUALIZAR), {"statuses": json.dumps(statuses)}).rowcount or 0


def expirar_estacionados(session: Session) -> int:
    """Delete the parked statuses nobody claimed within RETENCAO_ESTACIONADOS; return how many."""
    return (
        session.execute(
            text("DELETE FROM status_pendentes WHERE recebido_em < now() - CAST(:r AS interval)"),
            {"r": RETENCAO_ESTACIONADOS},
        ).rowcount
        or 0
    )
