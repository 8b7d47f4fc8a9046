"""Background jobs (sync, rules, dispatch, demo, webhook reprocessing): one per kind at a time,
progress in ``jobs``.

A job holds a PostgreSQL advisory lock for its kind on a dedicated connection for as long as it
runs, so a second start (another user, another replica, cron) is refused, and a crashed worker
releases it with its connection.
"""

from __future__ import annotations

import json
import logging
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from db.engine import obter_engine

_log = logging.getLogger(__name__)

ROTULOS = {
    "sync_hotmart": "Sincronização Hotmart",
    "sync_templates": "Sincronização de templates",
    "sync_chatwoot": "Sincronização Chatwoot",
    "demo": "Carga de demonstração",
    "regras": "Avaliação das regras",
    "disparo": "Disparo de mensagens",
    "saude": "Cálculo da saúde dos alunos",
    "webhooks_reprocessar": "Reprocessamento de webhooks",
}


class JobEmAndamento(RuntimeError):
    """Another job of the same kind is running (message in pt-BR)."""


@dataclass(frozen=True)
class Job:
    """A job row as pages show it."""

    id: int
    tipo: str
    status: str
    progresso: int
    mensagem: str | None
    iniciado_por: str | None
    iniciado_em: datetime
    terminado_em: datetime | None
    parametros: dict[str, Any] | None
    resultado: dict[str, Any] | None
    cursor: dict[str, Any] | None
    erro: str | None


def _chave(tipo: str) -> int:
    return 7_320_000 + zlib.crc32(tipo.encode()) % 100_000


class ExecucaoJob:
    """Handle given to the job function: report progress, keep a resume cursor."""

    def __init__(
        self,
        conn: Connection,
        job_id: int,
        observador: Callable[[float, str], None] | None = None,
    ) -> None:
        self._conn = conn
        self.id = job_id
        self.cursor: dict[str, Any] = {}
        self._observador = observador

    def progresso(self, percentual: float, mensagem: str) -> None:
        """Record progress (0–100) and the current step, visible to every page at once."""
        self._conn.execute(
            text("UPDATE jobs SET progresso = :p, mensagem = :m WHERE id = :id"),
            {"p": max(0, min(100, int(percentual))), "m": mensagem[:500], "id": self.id},
        )
        self._conn.commit()
        if self._observador:
            self._observador(percentual, mensagem)

    def salvar_cursor(self, cursor: dict[str, Any]) -> None:
        """Persist where to resume if this job fails."""
        self.cursor = cursor
        self._conn.execute(
            text("UPDATE jobs SET cursor = CAST(:c AS jsonb) WHERE id = :id"),
            {"c": json.dumps(cursor), "id": self.id},
        )
        self._conn.commit()


def executar(
    tipo: str,
    funcao: Callable[[ExecucaoJob], dict[str, Any] | None],
    *,
    iniciado_por: str | None,
    parametros: dict[str, Any] | None = None,
    cursor_inicial: dict[str, Any] | None = None,
    observador: Callable[[float, str], None] | None = None,
) -> Job:
    """Run ``funcao`` as a job of kind ``tipo`` in this thread; raise JobEmAndamento if busy.

    ``observador`` also receives every progress report (the CLI draws a bar with it).
    """
    conn = obter_engine().connect()
    try:
        if not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _chave(tipo)}).scalar():
            conn.rollback()
            atual = ultimo(tipo)
            quem = f" — iniciada por {atual.iniciado_por}" if atual and atual.iniciado_por else ""
            raise JobEmAndamento(f"{ROTULOS.get(tipo, tipo)} já está em andamento{quem}.")
        # Rows left 'executando' by a worker that died without releasing: we hold the lock now.
        conn.execute(
            text(
                "UPDATE jobs SET status = 'interrompido', terminado_em = now() "
                "WHERE tipo = :t AND status = 'executando'"
            ),
            {"t": tipo},
        )
        job_id = conn.execute(
            text(
                "INSERT INTO jobs (tipo, iniciado_por, parametros, cursor) "
                "VALUES (:t, :u, CAST(:p AS jsonb), CAST(:c AS jsonb)) RETURNING id"
            ),
            {
                "t": tipo,
                "u": iniciado_por,
                "p": json.dumps(parametros or {}),
                "c": json.dumps(cursor_inicial or {}),
            },
        ).scalar_one()
        conn.commit()
        execucao = ExecucaoJob(conn, job_id, observador)
        execucao.cursor = dict(cursor_inicial or {})
        try:
            resultado = funcao(execucao)
        except Exception as exc:
            conn.rollback()
            conn.execute(
                text(
                    "UPDATE jobs SET status = 'erro', erro = :e, terminado_em = now() "
                    "WHERE id = :id"
                ),
                {"e": str(exc)[:2000] or type(exc).__name__, "id": job_id},
            )
            conn.commit()
            raise
        conn.execute(
            text(
                "UPDATE jobs SET status = 'concluido', progresso = 100, terminado_em = now(), "
                "resultado = CAST(:r AS jsonb), mensagem = 'Concluído' WHERE id = :id"
            ),
            {"r": json.dumps(resultado or {}, default=str), "id": job_id},
        )
        conn.commit()
        return obter(job_id)
    finally:
        try:
            conn.execute(text("SELECT pg_advisory_unlock_all()"))
            conn.commit()
        finally:
            conn.close()


def em_segundo_plano(rotulo: str, executar_job: Callable[[], Job]) -> threading.Thread:
    """Run a job starter in a worker thread of this process (never inside a page's script run:
    the user would be stuck on the page and a second click would start a twin)."""

    def alvo() -> None:
        try:
            executar_job()
        except JobEmAndamento:
            pass
        except Exception:  # noqa: BLE001 - recorded in the jobs row already
            _log.exception("Job %s falhou", rotulo)

    thread = threading.Thread(target=alvo, name=f"job-{rotulo}", daemon=True)
    thread.start()
    return thread


def _linha_para_job(linha) -> Job:
    return Job(**{campo: getattr(linha, campo) for campo in Job.__dataclass_fields__})


_COLUNAS = ", ".join(Job.__dataclass_fields__)


def obter(job_id: int) -> Job:
    """A job by id."""
    with obter_engine().connect() as conn:
        linha = conn.execute(
            text(f"SELECT {_COLUNAS} FROM jobs WHERE id = :id"), {"id": job_id}
        ).one()
    return _linha_para_job(linha)


def ultimo(tipo: str) -> Job | None:
    """The latest job of a kind."""
    with obter_engine().connect() as conn:
        linha = conn.execute(
            text(f"SELECT {_COLUNAS} FROM jobs WHERE tipo = :t ORDER BY id DESC LIMIT 1"),
            {"t": tipo},
        ).first()
    return _linha_para_job(linha) if linha else None


def em_andamento() -> list[Job]:
    """Jobs running now, oldest first: rows of a worker that died without finishing are left
    out, because its advisory lock went with its connection."""
    with obter_engine().connect() as conn:
        linhas = conn.execute(
            text(f"SELECT {_COLUNAS} FROM jobs WHERE status = 'executando' ORDER BY id")
        ).all()
        if not linhas:
            return []
        travados = set(
            conn.execute(
                text(
                    "SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND classid = 0 AND objsubid = 1 AND objid::bigint = ANY(:chaves)"
                ),
                {"chaves": list({_chave(linha.tipo) for linha in linhas})},
            ).scalars()
        )
    return [_linha_para_job(linha) for linha in linhas if _chave(linha.tipo) in travados]
