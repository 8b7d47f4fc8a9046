"""/healthz through st.App's routes (Starlette TestClient, one per session)."""

from __future__ import annotations

from db import engine as modulo_engine


def test_healthz_reports_database_and_schema_version(cliente_app):
    r = cliente_app.get("/healthz")
    assert r.status_code == 200
    corpo = r.json()
    assert corpo["status"] == "ok" and corpo["database"] == "ok"
    assert isinstance(corpo["schema"], int) and corpo["schema"] >= 1


def test_healthz_is_503_with_a_reason_when_the_database_is_down(cliente_app, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://postgres:pw-nao-vaza@127.0.0.1:9/x")
    modulo_engine.descartar_engine()
    try:
        r = cliente_app.get("/healthz")
        assert r.status_code == 503
        corpo = r.json()
        assert corpo["database"] == "indisponivel" and corpo["motivo"]
        assert "pw-nao-vaza" not in r.text
    finally:
        monkeypatch.undo()
        modulo_engine.descartar_engine()
    assert cliente_app.get("/healthz").status_code == 200
