"""Shared helpers of the fuzz and fault tests: row counts of every table, cleaning inside a
hypothesis example, hostile text strategies and the settings of the quick and long runs."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

# The quick run (part of `make test`) and the long one (`make test-long`, marker `longo`).
# No example database: the runs must not leave a .hypothesis directory in the project.
# The function-scoped fixtures (`banco`) only start each test clean; every example cleans the
# tables it needs itself (`limpar`), so sharing the fixture between examples is safe.
_COMUM = dict(
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
RAPIDO = settings(max_examples=60, **_COMUM)
POUCOS = settings(max_examples=25, **_COMUM)
LONGO = settings(max_examples=1500, **_COMUM)

SQL_HOSTIL = [
    "'; DROP TABLE alunos; --",
    "' OR '1'='1",
    '" OR ""="',
    "%",
    "_",
    "%_%",
    "\\",
    "\\\\%",
    "a\\",
    "[a-z]*",
    "(?=x)",
    ".*",
    "$1",
    ":nome",
    "%(nome)s",
    "{0}",
    "1; SELECT pg_sleep(5)",
    "robert'); DELETE FROM configuracoes; --",
    "E'\\x00'",
    "\u0000",
    "\x1b[31mvermelho\x1b[0m",
]
HTML_MARKDOWN = [
    "<script>alert(1)</script>",
    "<b>negrito</b>",
    "<img src=x onerror=alert(1)>",
    "**forte** _ênfase_ `código`",
    "[clique](javascript:alert(1))",
    "# título",
    ":red[vermelho] :material/home:",
    "$x^2$",
    "=1+1",
    "&lt;b&gt;",
    "| a | b |\n|---|---|",
]
UNICODE = ["José Ñandú", "😀👍🏽", "\u202eevil", "ﬀ", "İstanbul", "ß", "\u0301a", "日本語", "ǅ"]


def hostil() -> st.SearchStrategy[str]:
    """Hostile text: the fixed lists above, combined with arbitrary unicode and long strings."""
    fixos = st.sampled_from(SQL_HOSTIL + HTML_MARKDOWN + UNICODE)
    controle = st.text(alphabet=st.characters(max_codepoint=0x9F), max_size=20)
    return st.one_of(
        fixos,
        st.text(max_size=60),
        controle,
        st.lists(st.one_of(fixos, st.text(max_size=10)), min_size=2, max_size=5).map("".join),
        st.builds(lambda s, n: s * n, fixos, st.integers(min_value=10, max_value=3000)),
    )


def tabelas(engine: Engine) -> list[str]:
    """Every table of the public schema but schema_versao."""
    with engine.connect() as conn:
        return sorted(
            conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'schema_versao'"
                )
            ).scalars()
        )


def contagens(engine: Engine, nomes: list[str] | None = None) -> dict[str, int]:
    """Rows of every table, in one statement."""
    nomes = nomes or tabelas(engine)
    sql = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in nomes)
    with engine.connect() as conn:
        return dict(conn.execute(text(sql)).all())


def fotografia(engine: Engine, nomes: list[str] | None = None) -> dict[str, tuple[int, int]]:
    """(rows, newest row version) of every table: an insert, update or delete changes it."""
    nomes = nomes or tabelas(engine)
    sql = " UNION ALL ".join(
        f"SELECT '{t}', count(*), coalesce(max(xmin::text::bigint), 0) FROM {t}" for t in nomes
    )
    with engine.connect() as conn:
        return {t: (n, x) for t, n, x in conn.execute(text(sql)).all()}


def limpar(engine: Engine, nomes: list[str]) -> None:
    """Empty these tables (a late webhook of another test may deadlock TRUNCATE: retry)."""
    for tentativa in range(5):
        try:
            with engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {', '.join(nomes)} RESTART IDENTITY CASCADE"))
            return
        except OperationalError as exc:
            if "deadlock" not in str(exc) or tentativa == 4:
                raise
            time.sleep(0.2)


def alteradas(antes: dict, depois: dict) -> set[str]:
    """Tables whose rows changed between two `fotografia` (or `contagens`) results."""
    return {t for t in depois if depois[t] != antes.get(t)}
