"""Real-browser end-to-end test: ``streamlit run app.py`` in demo mode, driven by Playwright on
Debian's Chromium. Screenshots of each step are kept in ``test-artifacts/navegador/``.

As ``cs``: approve two queued messages and reject one with a reason; the dispatcher (the CLI, as
cron runs it) sends them through the Meta sandbox; Logs shows them reach ``read`` through the
sandbox's signed webhooks. As ``admin``: rotate a token and see it masked. As ``gestor``: open
Home and see the charts.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.navegador_apoio import ARGS_CHROMIUM, CHROMIUM, RAIZ, app_em_execucao

pytestmark = pytest.mark.browser

if not CHROMIUM.exists():
    if os.environ.get("TERCEIRIZA_EXIGIR_NAVEGADOR"):  # set by .ci/run: CI must run this test
        raise RuntimeError(f"{CHROMIUM} não encontrado: instale o pacote chromium (apt).")
    pytest.skip(
        f"{CHROMIUM} not installed (apt-get install chromium); .ci/run installs it",
        allow_module_level=True,
    )

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

ARTEFATOS = RAIZ / "test-artifacts" / "navegador"
SENHA_ADMIN = "admin-navegador-2026"
SENHA = "senha-navegador-2026"
NOVO_HOTTOK = "hottok-rotacionado-Zk93"
ESPERA_MS = 30_000
ALTURA_LINHA = 35  # px of a data editor row (and of its header)


@pytest.fixture(scope="module")
def app():
    shutil.rmtree(ARTEFATOS, ignore_errors=True)
    ARTEFATOS.mkdir(parents=True)
    # Not tmp_path: pytest resets /tmp/pytest-of-<user> to 0700, which the embedded server's own
    # system user cannot enter when another run starts meanwhile.
    diretorio = Path(tempfile.mkdtemp(prefix="terceiriza-navegador-"))
    with app_em_execucao(diretorio, SENHA_ADMIN) as app:
        # The app loads the demo by itself on an empty embedded database (make run does the same).
        app.aguardar(
            "SELECT status FROM jobs WHERE tipo = 'demo' ORDER BY id DESC LIMIT 1",
            lambda linhas: linhas and linhas[0]["status"] == "concluido",
            limite_s=240,
        )
        for papel in ("cs", "gestor"):
            app.cli(
                "user",
                "add",
                f"{papel}.teste",
                "--nome",
                f"Pessoa {papel}",
                "--papel",
                papel,
                env_extra={"TERCEIRIZA_NOVA_SENHA": SENHA},
            )
        # Sending is allowed all day and more than once per student for this walk-through.
        app.cli("config", "set", "disparo_janela_inicio", "00:00")
        app.cli("config", "set", "disparo_janela_fim", "23:59")
        app.cli("config", "set", "disparo_max_por_aluno_dia", "10")
        yield app
    shutil.copy(app.log, ARTEFATOS / "app.log")
    shutil.rmtree(diretorio, ignore_errors=True)


@pytest.fixture(scope="module")
def navegador():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS_CHROMIUM)
        yield browser
        browser.close()


@pytest.fixture
def pagina(navegador, tmp_path):
    contexto = navegador.new_context(viewport={"width": 1440, "height": 2200}, locale="pt-BR")
    page = contexto.new_page()
    page.set_default_timeout(ESPERA_MS)
    yield page
    contexto.close()


def _foto(page: Page, nome: str) -> None:
    page.wait_for_timeout(300)  # let the last paint settle
    page.screenshot(path=str(ARTEFATOS / f"{nome}.png"), full_page=True)


def _entrar(page: Page, url: str, usuario: str, senha: str) -> None:
    page.goto(url)
    expect(page.get_by_label("Usuário")).to_be_visible()
    page.get_by_label("Usuário").fill(usuario)
    page.get_by_label("Senha", exact=True).fill(senha)
    page.get_by_role("button", name="Entrar").click()
    expect(page.get_by_test_id("stSidebar").get_by_text("Sair")).to_be_visible()


def _ir(page: Page, titulo: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_text(titulo, exact=True).click()


def _marcados(page: Page) -> int:
    """How many rows are ticked, read from the "Aprovar N" button."""
    rotulo = page.get_by_role("button", name=re.compile(r"^Aprovar \d+$")).inner_text()
    return int(rotulo.split()[-1])


def _marcar_linhas(page: Page, quantas: int) -> None:
    """Tick the 'Selecionar' checkbox of the first rows of the data editor. It is a canvas: click
    the row's first cell, then Space toggles it. Each tick reruns the page, which may take the
    focus away or swallow a key on a busy machine, so each row is ticked on its own, its effect
    read back from the "Aprovar N" button, and tried again when nothing changed (or when the grid
    was being redrawn)."""
    grade = page.get_by_test_id("stDataFrame").first
    for linha in range(quantas):
        for _tentativa in range(4):
            expect(grade).to_be_visible()
            caixa = grade.bounding_box()
            if caixa is None:  # the rerun replaced the grid between the two calls
                page.wait_for_timeout(500)
                continue
            page.mouse.click(caixa["x"] + 30, caixa["y"] + ALTURA_LINHA * (linha + 1.5))
            page.keyboard.press("Space")
            try:
                expect(page.get_by_role("button", name=f"Aprovar {linha + 1}")).to_be_visible(
                    timeout=5_000
                )
                break
            except AssertionError:
                assert _marcados(page) == linha, "a linha errada foi marcada"
        else:
            raise AssertionError(f"não consegui marcar a linha {linha + 1} da fila")


def test_cs_approves_and_rejects_then_sees_the_messages_read(app, pagina):
    page = pagina
    pendentes = app.consultar(
        "SELECT id FROM filas_disparo WHERE status = 'pendente' ORDER BY data_criacao, id"
    )
    assert len(pendentes) >= 3, "a demonstração deveria trazer sugestões na fila"
    _entrar(page, app.url, "cs.teste", SENHA)
    expect(page.get_by_text("Minha fila de hoje")).to_be_visible()
    _foto(page, "01-cs-inicio")

    _ir(page, "Fila de Aprovação")
    expect(page.get_by_role("heading", name="Fila de Aprovação")).to_be_visible()
    _marcar_linhas(page, 2)
    expect(page.get_by_role("button", name="Aprovar 2")).to_be_enabled()
    _foto(page, "02-cs-fila-selecao")
    page.get_by_role("button", name="Aprovar 2").click()
    expect(page.get_by_text("2 item(ns) aprovado(s).")).to_be_visible()

    _marcar_linhas(page, 1)
    page.get_by_label("Motivo da rejeição").fill("Aluno pagou por PIX, confirmado no suporte")
    page.get_by_label("Motivo da rejeição").press("Enter")
    page.get_by_role("button", name="Rejeitar 1").click()
    expect(page.get_by_text("1 item(ns) rejeitado(s).")).to_be_visible()
    expect(page.get_by_label("Motivo da rejeição")).to_have_value("")  # not reused by mistake
    _foto(page, "03-cs-fila-decidida")

    decididos = app.consultar(
        "SELECT id, status, decidido_por, motivo_rejeicao FROM filas_disparo "
        "WHERE decidido_por = 'cs.teste' ORDER BY id"
    )
    assert sorted(d["status"] for d in decididos) == ["aprovado", "aprovado", "rejeitado"]
    assert [d["id"] for d in decididos if d["status"] == "aprovado"] == [
        p["id"] for p in pendentes[:2]
    ]
    rejeitado = next(d for d in decididos if d["status"] == "rejeitado")
    assert rejeitado["motivo_rejeicao"] == "Aluno pagou por PIX, confirmado no suporte"

    # The dispatcher, as cron runs it, sends the approved ones through the Meta sandbox.
    app.cli("dispatch")
    lidos = app.aguardar(
        "SELECT l.status_entrega FROM logs_disparo l JOIN filas_disparo f ON f.id = l.fila_id "
        "WHERE f.decidido_por = 'cs.teste'",
        lambda linhas: len(linhas) == 2 and all(r["status_entrega"] == "read" for r in linhas),
        limite_s=60,
    )
    assert len(lidos) == 2

    _ir(page, "Logs de disparo")
    expect(page.get_by_role("heading", name="Logs de disparo")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
    _foto(page, "04-cs-logs-lidas")
    page.get_by_test_id("stSidebar").get_by_text("Sair").click()
    expect(page.get_by_label("Usuário")).to_be_visible()


def test_admin_rotates_a_token_and_sees_it_masked(app, pagina):
    page = pagina
    _entrar(page, app.url, "admin", SENHA_ADMIN)
    _ir(page, "Configurações")
    expect(page.get_by_role("heading", name="Configurações")).to_be_visible()
    page.get_by_role("textbox", name="Hottok").fill(NOVO_HOTTOK)
    page.get_by_text("Confirmo a substituição dos valores informados").filter(
        visible=True
    ).first.click()
    page.get_by_role("button", name="Rotacionar").first.click()
    mascara = "••••" + NOVO_HOTTOK[-4:]
    expect(page.get_by_text(re.compile(r"Alterações salvas: Hottok")).first).to_be_visible()
    # The field now shows only the last four characters of the new value.
    expect(page.get_by_role("textbox", name="Hottok")).to_have_attribute(
        "placeholder", f"atual: {mascara}"
    )
    expect(page.get_by_role("textbox", name="Hottok")).to_have_value("")
    _foto(page, "05-admin-token-mascarado")
    assert NOVO_HOTTOK not in page.content()
    armazenado = app.consultar("SELECT valor FROM configuracoes WHERE chave = 'hotmart_hottok'")[0][
        "valor"
    ]
    assert NOVO_HOTTOK not in armazenado
    assert app.cli("config", "get", "hotmart_hottok").strip() == mascara


def test_admin_renames_a_tag_and_the_selector_shows_the_new_name(app, pagina):
    page = pagina
    _entrar(page, app.url, "admin", SENHA_ADMIN)
    _ir(page, "Configurações")
    page.get_by_role("tab", name="Tags").click()
    painel = page.get_by_role("tabpanel", name="Tags")
    painel.get_by_role("textbox", name="Nome", exact=True).fill("Aluno VIP")
    painel.get_by_role("button", name="Criar tag").click()
    expect(page.get_by_text("Tag Aluno VIP criada.")).to_be_visible()
    page.get_by_role("tab", name="Tags").click()
    painel.get_by_role("textbox", name="Novo nome").fill("Aluno Ouro")
    painel.get_by_role("button", name="Salvar tag").click()
    expect(page.get_by_text("Tag Aluno Ouro atualizada.")).to_be_visible()
    page.get_by_role("tab", name="Tags").click()
    # The selector of the tag being edited shows its new name, not the one it had.
    expect(painel.get_by_role("combobox", name="Tag")).to_have_value("Aluno Ouro")
    _foto(page, "05b-admin-tag-renomeada")
    linhas = app.consultar("SELECT chave_antiga, pendente FROM chatwoot_tags_renomeadas")
    assert [tuple(linha.values()) for linha in linhas] == [("aluno_vip", True)]


def test_gestor_sees_the_charts_on_home(app, pagina):
    page = pagina
    _entrar(page, app.url, "gestor.teste", SENHA)
    expect(page.get_by_text("Painel do gestor")).to_be_visible()
    expect(page.get_by_test_id("stMetricValue").first).to_be_visible()
    expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible()
    _foto(page, "06-gestor-inicio-receita")
    for numero, aba in enumerate(("Progresso", "Saúde dos alunos", "Mensagens"), start=7):
        page.get_by_role("tab", name=aba).click()
        painel = page.get_by_role("tabpanel", name=aba)
        expect(painel.get_by_test_id("stPlotlyChart").first).to_be_visible()
        _foto(page, f"{numero:02d}-gestor-inicio-{aba.split()[0].lower()}")
    assert page.get_by_test_id("stPlotlyChart").count() >= 10
    # Demo data fills the charts: no empty-state message on any tab.
    assert page.get_by_text("Nenhuma venda no período").count() == 0
