"""schema.sql against the spec's DDL, compared through information_schema."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from db.schema import ARQUIVO_SCHEMA, aplicar_schema

RAIZ = Path(__file__).resolve().parent.parent
ESPEC_COMPARTILHADA = RAIZ.parent / "shared" / "spec" / "especificacao-banco-de-dados.md"
# A copy travels with the repository so a clone without shared/ beside it still checks the schema;
# test_the_repository_copy_of_the_spec_is_current keeps it equal to the original.
ESPEC = (
    ESPEC_COMPARTILHADA
    if ESPEC_COMPARTILHADA.exists()
    else RAIZ / "docs" / ESPEC_COMPARTILHADA.name
)
TABELAS_ESPEC = {
    "configuracoes",
    "produtos",
    "ofertas",
    "modulos",
    "aulas",
    "alunos",
    "transacoes",
    "matriculas",
    "progresso_aulas",
    "tags",
    "alunos_tags",
    "templates",
    "regras_automacao",
    "filas_disparo",
    "logs_disparo",
}


def _ddl_da_especificacao() -> str:
    blocos = re.findall(r"```sql\n(.*?)```", ESPEC.read_text(encoding="utf-8"), flags=re.S)
    return "\n".join(blocos)


def _colunas(conn, schema: str) -> dict[tuple[str, str], tuple]:
    linhas = conn.execute(
        text(
            """
            SELECT table_name, column_name, data_type, character_maximum_length,
                   numeric_precision, numeric_scale, is_nullable,
                   regexp_replace(coalesce(column_default, ''), '[a-z_]+\\.', '') AS padrao
              FROM information_schema.columns WHERE table_schema = :s
            """
        ),
        {"s": schema},
    ).all()
    return {(r.table_name, r.column_name): tuple(r[2:]) for r in linhas}


def _restricoes(conn, schema: str) -> set[tuple]:
    linhas = conn.execute(
        text(
            """
            SELECT c.conrelid::regclass::text AS tabela, c.contype,
                   (SELECT string_agg(a.attname, ',' ORDER BY k.ord)
                      FROM unnest(c.conkey) WITH ORDINALITY k(n, ord)
                      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n) AS cols,
                   CASE WHEN c.contype = 'f' THEN c.confrelid::regclass::text END AS ref,
                   (SELECT string_agg(a.attname, ',' ORDER BY k.ord)
                      FROM unnest(c.confkey) WITH ORDINALITY k(n, ord)
                      JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n) AS refcols
              FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
             WHERE n.nspname = :s AND c.contype IN ('p', 'u', 'f')
            """
        ),
        {"s": schema},
    ).all()
    # Strip the schema prefix regclass adds outside the search_path.
    return {
        (r.tabela.split(".")[-1], r.contype, r.cols, (r.ref or "").split(".")[-1], r.refcols)
        for r in linhas
    }


@pytest.fixture(scope="module")
def referencia(engine: Engine):
    """The spec's own DDL executed verbatim in a scratch schema, to compare against."""
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS espec_ref CASCADE; CREATE SCHEMA espec_ref"))
        conn.execute(text("SET LOCAL search_path TO espec_ref"))
        conn.exec_driver_sql(_ddl_da_especificacao())
    with engine.connect() as conn:
        yield _colunas(conn, "espec_ref"), _restricoes(conn, "espec_ref")
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA espec_ref CASCADE"))


def test_the_repository_copy_of_the_spec_is_current():
    if not ESPEC_COMPARTILHADA.exists():
        pytest.skip("shared/ is not beside this clone; the repository copy is used as is")
    copia = RAIZ / "docs" / ESPEC_COMPARTILHADA.name
    assert copia.read_text(encoding="utf-8") == ESPEC_COMPARTILHADA.read_text(encoding="utf-8")


def test_every_spec_table_is_read_from_the_spec(referencia):
    colunas, _ = referencia
    assert {tabela for tabela, _ in colunas} == TABELAS_ESPEC


def test_every_spec_column_has_the_spec_type_default_and_nullability(engine, referencia):
    colunas_espec, _ = referencia
    with engine.connect() as conn:
        nossas = _colunas(conn, "public")
    divergencias = {
        chave: (esperado, nossas.get(chave))
        for chave, esperado in colunas_espec.items()
        if nossas.get(chave) != esperado
    }
    assert divergencias == {}
    # Spot checks written from the spec, so a broken comparison cannot pass silently.
    assert nossas[("transacoes", "valor_pago")][:4] == ("numeric", None, 10, 2)
    assert nossas[("alunos", "email")][:2] == ("character varying", 255)
    assert nossas[("configuracoes", "valor")][4] == "NO"
    assert nossas[("filas_disparo", "status")][5] == "'pendente'::character varying"
    assert nossas[("tags", "id")][5] == "nextval('tags_id_seq'::regclass)"


def test_spec_tables_have_exactly_the_spec_keys_and_references(engine, referencia):
    colunas_espec, restricoes_espec = referencia
    with engine.connect() as conn:
        # Additions may reference from new (nullable) columns; on the spec's own columns the
        # keys and references must be exactly the spec's.
        nossas = {
            r
            for r in _restricoes(conn, "public")
            if r[0] in TABELAS_ESPEC
            and all((r[0], coluna) in colunas_espec for coluna in r[2].split(","))
        }
    assert nossas == restricoes_espec
    assert ("matriculas", "f", "transacao_origem_id", "transacoes", "id") in nossas
    assert ("modulos", "u", "produto_id,hotmart_module_id", "", None) in nossas
    assert ("alunos_tags", "p", "aluno_id,tag_id", "", None) in nossas


def test_applying_the_schema_twice_changes_nothing(engine):
    def fotografia():
        with engine.connect() as conn:
            return (
                _colunas(conn, "public"),
                _restricoes(conn, "public"),
                set(
                    conn.execute(
                        text(
                            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
                        )
                    ).all()
                ),
                conn.execute(text("SELECT count(*) FROM schema_versao")).scalar(),
            )

    antes = fotografia()
    assert aplicar_schema(engine) >= 1
    assert aplicar_schema(engine) >= 1
    assert fotografia() == antes


def test_every_foreign_key_has_an_index(engine):
    with engine.connect() as conn:
        sem_indice = conn.execute(
            text(
                """
                SELECT c.conrelid::regclass::text, c.conname
                  FROM pg_constraint c
                 WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
                   AND NOT EXISTS (
                       SELECT 1 FROM pg_index i
                        WHERE i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1])
                """
            )
        ).all()
    assert sem_indice == []


def test_every_addition_in_schema_sql_says_why():
    """Each CREATE after the spec tables carries a comment on its line or the line above."""
    linhas = ARQUIVO_SCHEMA.read_text(encoding="utf-8").splitlines()
    inicio = next(i for i, linha in enumerate(linhas) if linha.startswith("-- Additions"))
    sem_motivo = [
        linha
        for i, linha in enumerate(linhas[inicio:], start=inicio)
        if linha.startswith(("CREATE", "ALTER"))
        and "--" not in linha
        and not linhas[i - 1].startswith("--")
        and not (i + 1 < len(linhas) and "--" in linhas[i + 1] and linhas[i + 1].startswith(" "))
    ]
    assert sem_motivo == []


def test_an_edited_schema_file_is_applied_at_start_and_only_then(engine, tmp_path, monkeypatch):
    import db.schema as schema

    editado = tmp_path / "schema.sql"
    editado.write_text(
        ARQUIVO_SCHEMA.read_text(encoding="utf-8")
        + "\n-- test only\nCREATE TABLE IF NOT EXISTS teste_schema_editado (id INTEGER);\n",
        encoding="utf-8",
    )

    def existe() -> bool:
        with engine.connect() as conn:
            return (
                conn.execute(text("SELECT to_regclass('teste_schema_editado')")).scalar()
                is not None
            )

    monkeypatch.setattr(schema, "ARQUIVO_SCHEMA", editado)
    try:
        assert schema.garantir_schema(engine) >= 1
        assert existe()
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE teste_schema_editado"))
        # The same text again: nothing re-run, so the dropped table stays dropped.
        schema.garantir_schema(engine)
        assert not existe()
    finally:
        monkeypatch.undo()
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS teste_schema_editado"))
        aplicar_schema(engine)
