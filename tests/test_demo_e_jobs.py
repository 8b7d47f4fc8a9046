"""Demo mode, background jobs and the sidebar's Sincronizar (real database, sandbox over HTTP)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from db.uow import UnidadeDeTrabalho
from services import config, demo, jobs
from services.hotmart_conexao import HotmartNaoConfigurada, executar_sync

RAIZ = Path(__file__).resolve().parent.parent


def _contar(banco, tabela: str) -> int:
    with banco.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {tabela}")).scalar()


@pytest.fixture(scope="module")
def app_com_sandbox():
    """The app's routes and mounted sandboxes as in app.py, served over real HTTP on loopback."""
    from starlette.applications import Starlette

    from services import demo_whatsapp
    from services.rotas import rotas_do_app
    from services.sandbox.server import servir

    with servir(Starlette(routes=rotas_do_app())) as url:
        demo_whatsapp.definir_url_app(url)  # the Meta sandbox posts its statuses back here
        yield url


@pytest.fixture
def com_demo(banco, app_com_sandbox):
    job = demo.executar(iniciado_por="teste", alunos=60, seed=3, url_app=app_com_sandbox)
    assert job.status == "concluido"
    return banco


def test_demo_mirrors_the_sandbox_through_the_real_client(com_demo):
    banco = com_demo
    assert _contar(banco, "produtos") >= 4
    assert _contar(banco, "alunos") >= 60
    assert _contar(banco, "aulas") > 0 and _contar(banco, "progresso_aulas") > 0
    with banco.connect() as conn:
        pendentes = conn.execute(
            text(
                "SELECT count(*) FILTER (WHERE link_boleto IS NOT NULL) AS boletos, "
                "count(*) FILTER (WHERE codigo_pix IS NOT NULL) AS pix FROM transacoes "
                "WHERE status = 'WAITING_PAYMENT'"
            )
        ).one()
        monitorados = conn.execute(
            text("SELECT bool_and(ativo_monitoramento) FROM produtos")
        ).scalar()
    assert pendentes.boletos + pendentes.pix > 0  # recovery data came by postback
    assert monitorados is True
    with UnidadeDeTrabalho() as uow:
        assert demo.ativo(uow.session)
        assert config.obter(uow.session, "hotmart_client_id") == "demo-client-id"
        # Later syncs go to the sandbox mounted in the app, not to the load's own server.
        assert config.obter(uow.session, "hotmart_api_base").endswith("/sandbox/hotmart")


def test_demo_sends_example_messages_that_come_back_read(com_demo):
    import time

    assert _contar(com_demo, "templates") >= 5
    assert _contar(com_demo, "logs_disparo") > 0
    fim = time.monotonic() + 30
    while time.monotonic() < fim:
        with com_demo.connect() as conn:
            lidos = conn.execute(
                text("SELECT count(*) FROM logs_disparo WHERE status_entrega = 'read'")
            ).scalar()
        if lidos:
            break
        time.sleep(0.5)
    assert lidos > 0  # statuses arrived by signed webhook from the mounted Meta sandbox


def test_demo_comes_with_example_rules_and_a_queue_to_approve(com_demo):
    with com_demo.connect() as conn:
        regras = conn.execute(
            text("SELECT gatilho, modo_execucao, ativo FROM regras_automacao ORDER BY gatilho")
        ).all()
        pendentes = conn.execute(
            text(
                "SELECT count(*) AS n, bool_and(texto_renderizado LIKE '%' || t.link_boleto || '%')"
                " FILTER (WHERE r.gatilho = 'boleto_pendente') AS com_link "
                "FROM filas_disparo f JOIN regras_automacao r ON r.id = f.regra_id "
                "JOIN transacoes t ON t.id = f.contexto->>'transacao_id' "
                "WHERE f.status = 'pendente'"
            )
        ).one()
    assert [(r.gatilho, r.modo_execucao, r.ativo) for r in regras] == [
        ("boleto_pendente", "SUGERIR", True),
        ("pix_pendente", "SUGERIR", True),
    ]
    assert pendentes.n > 0  # a CS agent opening the demo has messages to approve
    assert pendentes.com_link is True  # the boleto reminder carries the student's link


def test_a_demo_job_records_progress_and_result(com_demo):
    ultimo = jobs.ultimo("demo")
    assert ultimo.status == "concluido" and ultimo.progresso == 100
    assert ultimo.resultado["transacoes_lidas"] > 0 and ultimo.iniciado_por == "teste"


def test_erasing_the_demo_leaves_users_and_settings(com_demo, criar_usuario):
    criar_usuario("admin", "chefe")
    with UnidadeDeTrabalho() as uow:
        demo.apagar(uow.session, usuario="chefe")
        uow.commit()
    for tabela in ("produtos", "alunos", "transacoes", "matriculas", "progresso_aulas"):
        assert _contar(com_demo, tabela) == 0
    assert _contar(com_demo, "usuarios") == 1
    with UnidadeDeTrabalho() as uow:
        assert not demo.ativo(uow.session)
        assert config.obter(uow.session, "hotmart_client_id") is None
    assert not demo.deve_carregar_na_partida()  # an erased demo is not reloaded on restart


def test_sync_without_credentials_is_a_clear_error(banco):
    with pytest.raises(HotmartNaoConfigurada, match="Configure o Client ID"):
        executar_sync(iniciado_por="teste")
    assert jobs.ultimo("sync_hotmart").status == "erro"


def test_a_second_job_of_the_same_kind_is_refused_while_one_runs(banco):
    liberar, iniciou = threading.Event(), threading.Event()

    def demorado(execucao):
        execucao.progresso(50, "no meio")
        iniciou.set()
        liberar.wait(10)
        return {"ok": 1}

    thread = threading.Thread(
        target=jobs.executar, args=("sync_hotmart", demorado), kwargs={"iniciado_por": "ana"}
    )
    thread.start()
    try:
        assert iniciou.wait(10)
        with pytest.raises(jobs.JobEmAndamento, match="iniciada por ana"):
            jobs.executar("sync_hotmart", lambda e: {}, iniciado_por="bia")
        rodando = jobs.em_andamento()
        assert [(j.tipo, j.progresso, j.iniciado_por) for j in rodando] == [
            ("sync_hotmart", 50, "ana")
        ]
    finally:
        liberar.set()
        thread.join(10)
    assert jobs.ultimo("sync_hotmart").status == "concluido"


def test_a_failed_sync_is_resumed_by_the_next_one(com_demo, monkeypatch):
    from services import hotmart_sync

    original = hotmart_sync.Sincronizacao._assinaturas

    def quebra(self):
        raise RuntimeError("queda simulada")

    monkeypatch.setattr(hotmart_sync.Sincronizacao, "_assinaturas", quebra)
    with pytest.raises(RuntimeError):
        executar_sync(iniciado_por="teste")
    falho = jobs.ultimo("sync_hotmart")
    assert falho.status == "erro" and "vendas:APPROVED" in falho.cursor["feitas"]
    monkeypatch.setattr(hotmart_sync.Sincronizacao, "_assinaturas", original)
    etapas: list[str] = []
    job = executar_sync(iniciado_por="teste", observador=lambda _p, m: etapas.append(m))
    assert job.status == "concluido"
    assert "Vendas (APPROVED)" not in etapas and "Assinaturas" in etapas


def test_home_shows_the_demo_banner_and_the_sync_button_for_a_manager(com_demo, criar_usuario):
    username, senha = criar_usuario("gestor")
    at = AppTest.from_file(str(RAIZ / "Home.py"), default_timeout=30).run()
    at.text_input[0].input(username)
    at.text_input[1].input(senha)
    at.button[0].click().run()
    assert any("Modo demonstração" in w.value for w in at.warning)
    assert "Sincronizar" in [b.label for b in at.sidebar.button]
    at.sidebar.button(key="botao_sincronizar").click().run()
    for _ in range(100):
        ultimo = jobs.ultimo("sync_hotmart")
        if ultimo and ultimo.status != "executando":
            break
        threading.Event().wait(0.2)
    assert jobs.ultimo("sync_hotmart").status == "concluido"
    assert jobs.ultimo("sync_hotmart").iniciado_por == username


def test_cs_has_no_sync_button(criar_usuario):
    username, senha = criar_usuario("cs")
    at = AppTest.from_file(str(RAIZ / "Home.py"), default_timeout=30).run()
    at.text_input[0].input(username)
    at.text_input[1].input(senha)
    at.button[0].click().run()
    assert "Sincronizar" not in [b.label for b in at.sidebar.button]


def test_a_job_left_running_by_a_dead_worker_is_not_shown_as_running(banco):
    with banco.begin() as conn:
        conn.execute(text("INSERT INTO jobs (tipo, iniciado_por) VALUES ('sync_hotmart', 'x')"))
    assert jobs.em_andamento() == []
    jobs.executar("sync_hotmart", lambda e: {"ok": 1}, iniciado_por="y")
    with banco.connect() as conn:
        estados = dict(conn.execute(text("SELECT iniciado_por, status FROM jobs")).all())
    assert estados == {"x": "interrompido", "y": "concluido"}
