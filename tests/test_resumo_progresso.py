"""The per-enrolment progress summary on matriculas (schema v8), kept by statement triggers on
progresso_aulas for every kind of write: single rows, bulk INSERT … SELECT, COPY, upserts and
deletes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from tests import fabrica_cs as f


@pytest.fixture
def curso(banco):
    produto = f.produto(banco, "Curso de Excel")
    modulo = f.modulo(banco, produto, "Módulo 1", 1)
    aulas = [f.aula(banco, modulo, f"Aula {i}", i) for i in range(1, 5)]
    ana = f.matricula(banco, f.aluno(banco, "Ana", "ana@exemplo.com"), produto)
    bia = f.matricula(banco, f.aluno(banco, "Bia", "bia@exemplo.com"), produto)
    return {"aulas": aulas, "ana": ana, "bia": bia}


def _resumo(banco, matricula_id):
    with banco.connect() as conn:
        return conn.execute(
            text(
                "SELECT aulas_concluidas, ultima_conclusao, ultima_aula_id FROM matriculas "
                "WHERE id = :m"
            ),
            {"m": matricula_id},
        ).one()


def _sql(banco, sql: str, **params) -> None:
    with banco.begin() as conn:
        conn.execute(text(sql), params)


def test_a_new_enrolment_has_an_empty_summary(curso, banco):
    assert tuple(_resumo(banco, curso["ana"])) == (0, None, None)


def test_single_inserts_count_and_track_the_latest_lesson(curso, banco):
    aula1, aula2, *_ = curso["aulas"]
    f.concluir(banco, curso["ana"], aula1, ha_dias=5)
    f.concluir(banco, curso["ana"], aula2, ha_dias=2)
    r = _resumo(banco, curso["ana"])
    assert r.aulas_concluidas == 2 and r.ultima_aula_id == aula2
    assert abs(r.ultima_conclusao - (datetime.now(UTC) - timedelta(days=2))) < timedelta(minutes=1)
    assert tuple(_resumo(banco, curso["bia"])) == (0, None, None)  # untouched


def test_a_bulk_insert_updates_every_enrolment_of_the_statement(curso, banco):
    _sql(
        banco,
        "INSERT INTO progresso_aulas (matricula_id, aula_id, data_conclusao) "
        "SELECT m, a, now() - make_interval(days => o) "
        "FROM unnest(CAST(:ms AS uuid[]), CAST(:as_ AS uuid[]), CAST(:os AS int[])) AS x(m, a, o)",
        ms=[curso["ana"], curso["ana"], curso["ana"], curso["bia"]],
        as_=[curso["aulas"][0], curso["aulas"][1], curso["aulas"][2], curso["aulas"][3]],
        os=[9, 3, 6, 1],
    )
    ana, bia = _resumo(banco, curso["ana"]), _resumo(banco, curso["bia"])
    assert (ana.aulas_concluidas, ana.ultima_aula_id) == (3, curso["aulas"][1])
    assert (bia.aulas_concluidas, bia.ultima_aula_id) == (1, curso["aulas"][3])


def test_copy_fires_the_summary_too(curso, banco):
    conexao = banco.raw_connection()
    try:
        with conexao.cursor() as cur:
            with cur.copy(
                "COPY progresso_aulas (matricula_id, aula_id, data_conclusao) FROM STDIN"
            ) as copia:
                for i, aula in enumerate(curso["aulas"]):
                    copia.write_row((curso["bia"], aula, datetime(2026, 1, 1 + i, tzinfo=UTC)))
        conexao.commit()
    finally:
        conexao.close()
    bia = _resumo(banco, curso["bia"])
    assert (bia.aulas_concluidas, bia.ultima_aula_id) == (4, curso["aulas"][3])
    assert bia.ultima_conclusao == datetime(2026, 1, 4, tzinfo=UTC)


def test_an_upsert_that_moves_a_date_and_a_delete_are_followed(curso, banco):
    aula1, aula2, *_ = curso["aulas"]
    f.concluir(banco, curso["ana"], aula1, ha_dias=5)
    f.concluir(banco, curso["ana"], aula2, ha_dias=2)
    # The sync's upsert moves lesson 1 to the most recent date.
    _sql(
        banco,
        "INSERT INTO progresso_aulas AS pa (matricula_id, aula_id, data_conclusao) "
        "VALUES (:m, :a, now()) ON CONFLICT (matricula_id, aula_id) "
        "DO UPDATE SET data_conclusao = EXCLUDED.data_conclusao",
        m=curso["ana"],
        a=aula1,
    )
    assert _resumo(banco, curso["ana"]).ultima_aula_id == aula1
    # A duplicate ignored by ON CONFLICT DO NOTHING changes nothing.
    _sql(
        banco,
        "INSERT INTO progresso_aulas (matricula_id, aula_id) VALUES (:m, :a) "
        "ON CONFLICT (matricula_id, aula_id) DO NOTHING",
        m=curso["ana"],
        a=aula2,
    )
    assert _resumo(banco, curso["ana"]).aulas_concluidas == 2
    _sql(banco, "DELETE FROM progresso_aulas WHERE aula_id = :a", a=aula1)
    r = _resumo(banco, curso["ana"])
    assert (r.aulas_concluidas, r.ultima_aula_id) == (1, aula2)
    _sql(banco, "DELETE FROM progresso_aulas")
    assert tuple(_resumo(banco, curso["ana"])) == (0, None, None)


def test_a_rolled_back_insert_leaves_the_summary_as_it_was(curso, banco):
    with pytest.raises(RuntimeError), banco.begin() as conn:
        conn.execute(
            text("INSERT INTO progresso_aulas (matricula_id, aula_id) VALUES (:m, :a)"),
            {"m": curso["ana"], "a": curso["aulas"][0]},
        )
        raise RuntimeError("desfaz")
    assert tuple(_resumo(banco, curso["ana"])) == (0, None, None)


def test_upgrading_to_v8_fills_the_summary_of_existing_progress(curso, banco):
    from db.schema import aplicar_schema

    f.concluir(banco, curso["ana"], curso["aulas"][0], ha_dias=3)
    # A database from before v8: progress rows, no summary.
    _sql(
        banco,
        "UPDATE matriculas SET aulas_concluidas = 0, ultima_conclusao = NULL, "
        "ultima_aula_id = NULL",
    )
    _sql(banco, "DELETE FROM schema_versao WHERE versao = 8")
    aplicar_schema(banco)
    r = _resumo(banco, curso["ana"])
    assert (r.aulas_concluidas, r.ultima_aula_id) == (1, curso["aulas"][0])


def _por_modulo(banco) -> dict[tuple, int]:
    with banco.connect() as conn:
        linhas = conn.execute(
            text("SELECT modulo_id, matricula_id, aulas_concluidas FROM progresso_modulos")
        ).all()
    return {(r.modulo_id, r.matricula_id): r.aulas_concluidas for r in linhas}


def test_per_module_counts_follow_inserts_deletes_and_a_lesson_moving_module(curso, banco):
    aula1, aula2, aula3, _aula4 = curso["aulas"]
    with banco.connect() as conn:
        produto, modulo1 = conn.execute(
            text(
                "SELECT mo.produto_id, mo.id FROM aulas a JOIN modulos mo ON mo.id = a.modulo_id "
                "WHERE a.id = :a"
            ),
            {"a": aula1},
        ).one()
    modulo2 = f.modulo(banco, produto, "Módulo 2", 2)
    for aula in (aula1, aula2, aula3):
        f.concluir(banco, curso["ana"], aula, ha_dias=2)
    f.concluir(banco, curso["bia"], aula1, ha_dias=1)
    assert _por_modulo(banco) == {(modulo1, curso["ana"]): 3, (modulo1, curso["bia"]): 1}

    # The sync moves lesson 3 to module 2: Ana's counts are split.
    _sql(banco, "UPDATE aulas SET modulo_id = :m WHERE id = :a", m=modulo2, a=aula3)
    assert _por_modulo(banco) == {
        (modulo1, curso["ana"]): 2,
        (modulo2, curso["ana"]): 1,
        (modulo1, curso["bia"]): 1,
    }
    # A lesson deleted, then all of Bia's: rows that reach zero disappear.
    _sql(banco, "DELETE FROM progresso_aulas WHERE aula_id = :a", a=aula3)
    _sql(banco, "DELETE FROM progresso_aulas WHERE matricula_id = :m", m=curso["bia"])
    assert _por_modulo(banco) == {(modulo1, curso["ana"]): 2}


def test_upgrading_to_v9_fills_the_per_module_counts(curso, banco):
    from db.schema import aplicar_schema

    f.concluir(banco, curso["ana"], curso["aulas"][0], ha_dias=3)
    f.concluir(banco, curso["ana"], curso["aulas"][1], ha_dias=2)
    _sql(banco, "DELETE FROM progresso_modulos")  # a database from before v9
    _sql(banco, "DELETE FROM schema_versao WHERE versao = 9")
    aplicar_schema(banco)
    assert list(_por_modulo(banco).values()) == [2]


def test_a_lesson_of_another_product_is_refused_and_nothing_is_written(curso, banco):
    from sqlalchemy.exc import IntegrityError

    outro = f.produto(banco, "Outro curso")
    aula_outra = f.aula(banco, f.modulo(banco, outro, "Outro módulo", 1), "Outra aula", 1)
    with pytest.raises(IntegrityError, match="não é do produto da matrícula"):
        _sql(
            banco,
            "INSERT INTO progresso_aulas (matricula_id, aula_id) VALUES (:m, :a), (:m, :b)",
            m=curso["ana"],
            a=curso["aulas"][0],
            b=aula_outra,
        )
    with banco.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM progresso_aulas")).scalar() == 0
    assert tuple(_resumo(banco, curso["ana"])) == (0, None, None)
