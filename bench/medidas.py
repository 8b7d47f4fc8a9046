"""Measuring helpers: percentiles, the SQL a call sends, and EXPLAIN (ANALYZE, BUFFERS) of it."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import Engine, event


def percentil(valores: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordenados = sorted(valores)
    posicao = max(1, math.ceil(p / 100 * len(ordenados)))
    return ordenados[posicao - 1]


@dataclass
class Instrucao:
    """One statement sent to PostgreSQL while a measured call ran."""

    sql: str
    parametros: object
    segundos: float


@dataclass
class Captura:
    """Statements captured on an engine (DBAPI level: psycopg placeholders and parameters)."""

    instrucoes: list[Instrucao] = field(default_factory=list)

    def mais_lenta(self) -> Instrucao | None:
        uteis = [i for i in self.instrucoes if not i.sql.lstrip().upper().startswith(("SELECT 1",))]
        return max(uteis, key=lambda i: i.segundos, default=None)


@contextlib.contextmanager
def capturar_sql(engine: Engine) -> Iterator[Captura]:
    """Record every statement (and its duration) the engine runs inside the block."""
    captura = Captura()

    def antes(conn, _cursor, _sql, _params, contexto, _many):
        conn.info.setdefault("_bench_inicio", []).append(time.perf_counter())

    def depois(conn, _cursor, sql, params, _contexto, _many):
        inicio = conn.info["_bench_inicio"].pop()
        captura.instrucoes.append(Instrucao(sql, params, time.perf_counter() - inicio))

    event.listen(engine, "before_cursor_execute", antes)
    event.listen(engine, "after_cursor_execute", depois)
    try:
        yield captura
    finally:
        event.remove(engine, "before_cursor_execute", antes)
        event.remove(engine, "after_cursor_execute", depois)


def explicar(engine: Engine, instrucao: Instrucao, *, limite_linhas: int = 400) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of a captured statement, inside a transaction rolled back
    (an INSERT or UPDATE is executed by ANALYZE; nothing of it stays)."""
    bruta = engine.raw_connection()
    try:
        pg = bruta.driver_connection
        with pg.cursor() as cur:
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + instrucao.sql, instrucao.parametros or None)
            linhas = [r[0] for r in cur.fetchall()]
        pg.rollback()
    except Exception as exc:  # noqa: BLE001 - evidence is best effort; the figure stands
        with contextlib.suppress(Exception):
            bruta.driver_connection.rollback()
        return f"(EXPLAIN falhou: {type(exc).__name__}: {exc})"
    finally:
        bruta.close()
    if len(linhas) > limite_linhas:
        linhas = linhas[:limite_linhas] + [f"... ({len(linhas) - limite_linhas} linhas omitidas)"]
    return "\n".join(linhas)


def cronometrar(funcao: Callable[[], object]) -> tuple[float, object]:
    """Seconds one call took, and its result."""
    inicio = time.perf_counter()
    resultado = funcao()
    return time.perf_counter() - inicio, resultado


@dataclass
class Figura:
    """One line of the results table."""

    secao: str
    nome: str
    valor: float | None
    unidade: str
    alvo: str  # e.g. "≥ 1000/s", "≤ 2 s", "—"
    ok: bool | None  # None: no target (informative)
    nota: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def veredito(self) -> str:
        if self.ok is None:
            return "info"
        return "OK" if self.ok else "FALHOU"
