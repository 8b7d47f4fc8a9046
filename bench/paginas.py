"""Pages: AppTest run time of each page and of Home.py's landing content on the profile, then the
peak memory of ``streamlit run app.py`` while headless Chromium logs in and opens every page.

AppTest: one throw-away script first imports Streamlit, pandas and plotly (a one-time cost of the
process, not of a page); before each measured run ``st.cache_data`` is cleared, so a page pays
its queries as on a first visit after its cache expired. Each page runs as an admin
(``authentication_status`` and ``username`` in ``session_state``, as the page tests do). The
second run of the same session (a rerun, caches warm) is reported beside it.

Memory: psutil samples the app process's RSS every 50 ms from start-up to the end of the
browser walk (login, the landing page, then each page from the sidebar; a page counts as done
when the app has been idle for 0.75 s). Without /usr/bin/chromium the AppTest process's own peak
RSS is reported instead, and said so.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from pathlib import Path

import psutil
from sqlalchemy import Engine

from bench.ambiente import RAIZ
from bench.app import app_em_execucao
from bench.escalas import Escala
from bench.medidas import Figura
from tests.navegador_apoio import ARGS_CHROMIUM, CHROMIUM

ALVO_S = 2.0
ALVO_MB = 500.0
USUARIO = "bench.admin"


def _criar_admin() -> str:
    from db.uow import UnidadeDeTrabalho
    from services import usuarios

    senha = secrets.token_urlsafe(12)
    with UnidadeDeTrabalho() as uow:
        existente = usuarios.buscar(uow.session, USUARIO)
        if existente is None:
            usuarios.criar(
                uow.session,
                username=USUARIO,
                nome="Bench Admin",
                email=None,
                papel="admin",
                senha=senha,
                por="bench",
            )
        else:
            usuarios.redefinir_senha(uow.session, USUARIO, senha, por="bench")
        uow.commit()
    return senha


class Amostrador:
    """Peak RSS of a process, sampled in a thread; ``marcar(nome)`` starts a named phase."""

    def __init__(self, pid: int, intervalo: float = 0.05) -> None:
        self.processo = psutil.Process(pid)
        self.intervalo = intervalo
        self.pico = 0
        self.fases: dict[str, int] = {}
        self._fase = "partida"
        self._parar = threading.Event()
        self._linha = threading.Thread(target=self._laco, daemon=True)

    def _laco(self) -> None:
        while not self._parar.is_set():
            with contextlib.suppress(psutil.Error):
                rss = self.processo.memory_info().rss
                self.pico = max(self.pico, rss)
                self.fases[self._fase] = max(self.fases.get(self._fase, 0), rss)
            time.sleep(self.intervalo)

    def marcar(self, fase: str) -> None:
        self._fase = fase

    def __enter__(self) -> Amostrador:
        self._linha.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._parar.set()
        self._linha.join(timeout=5)


def _aguardar_ocioso(processo: psutil.Process, limite_s: float = 120) -> float:
    """Wait until the app process has used < 3 % CPU for three 0.25 s samples in a row."""
    inicio = time.perf_counter()
    calmos = 0
    processo.cpu_percent(None)
    while time.perf_counter() - inicio < limite_s:
        time.sleep(0.25)
        calmos = calmos + 1 if processo.cpu_percent(None) < 3 else 0
        if calmos >= 3:
            break
    return time.perf_counter() - inicio - 0.75


@contextlib.contextmanager
def _silenciar_streamlit():
    """AppTest set-up and ``st.cache_data.clear()`` outside a script run log "missing
    ScriptRunContext" warnings by the dozen; they say nothing here."""
    import logging

    nomes = [n for n in logging.root.manager.loggerDict if n.startswith("streamlit")]
    niveis = {n: logging.getLogger(n).level for n in nomes}
    for n in nomes:
        logging.getLogger(n).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for n, nivel in niveis.items():
            logging.getLogger(n).setLevel(nivel)


def _limpar_caches() -> None:
    import streamlit as st

    with _silenciar_streamlit():
        st.cache_data.clear()


def _apptest(engine: Engine, log) -> tuple[list[Figura], dict]:
    from streamlit.testing.v1 import AppTest

    figuras: list[Figura] = []
    detalhes: dict = {}
    AppTest.from_string(
        "import streamlit as st\nimport pandas\nimport plotly.graph_objects\nst.write('ok')"
    ).run()
    alvos = [("Início (Home.py)", RAIZ / "Home.py", None)]
    alvos += [(f"pages/{p.name}", p, None) for p in sorted((RAIZ / "pages").glob("*.py"))]
    alvos.append(("pages/Alunos.py com busca 'maria'", RAIZ / "pages" / "Alunos.py", "maria"))
    processo = psutil.Process()
    pico = processo.memory_info().rss
    for nome, arquivo, busca in alvos:
        _limpar_caches()
        with _silenciar_streamlit():
            at = AppTest.from_file(str(arquivo), default_timeout=300)
            at.session_state["authentication_status"] = True
            at.session_state["username"] = USUARIO
            at.session_state["name"] = "Bench Admin"
        try:
            inicio = time.perf_counter()
            at.run()
            segundos = time.perf_counter() - inicio
            if busca:
                _limpar_caches()
                inicio = time.perf_counter()
                at.text_input(key="busca_aluno").input(busca).run()
                segundos = time.perf_counter() - inicio
            inicio = time.perf_counter()
            at.run()
            segunda = time.perf_counter() - inicio
        except Exception as exc:  # noqa: BLE001 - a page that cannot run is a result
            figuras.append(
                Figura("paginas", f"AppTest: {nome}", None, "s", "≤ 2 s", False, f"erro: {exc}")
            )
            detalhes[nome] = {"erro": f"{type(exc).__name__}: {exc}"}
            continue
        pico = max(pico, processo.memory_info().rss)
        excecoes = [str(e.value)[:300] for e in at.exception]
        if any(t.label == "Usuário" for t in at.text_input):
            excecoes.append("a página mostrou o formulário de login em vez do conteúdo")
        avisos = [str(e.value)[:200] for e in (*at.error, *at.warning)]
        ok = segundos <= ALVO_S and not excecoes
        nota = f"2ª execução (rerun) {segunda:.2f} s"
        if excecoes:
            nota += f"; EXCEÇÃO na página: {excecoes[0]}"
        if avisos:
            nota += f"; avisos: {' | '.join(avisos)[:200]}"
        detalhes[nome] = {
            "segundos": round(segundos, 3),
            "segunda_s": round(segunda, 3),
            "excecoes": excecoes,
            "avisos": avisos,
        }
        marca = " EXCEÇÃO" if excecoes else ""
        log(f"  páginas: {nome}: {segundos:.2f} s (rerun {segunda:.2f} s){marca}")
        figuras.append(Figura("paginas", f"AppTest: {nome}", segundos, "s", "≤ 2 s", ok, nota))
    detalhes["rss_pico_processo_apptest_mb"] = round(pico / 2**20, 1)
    return figuras, detalhes


def _navegador(diretorio: Path, senha: str, log) -> tuple[list[Figura], dict]:
    from playwright.sync_api import expect, sync_playwright

    from ui.navegacao import PAGINAS

    detalhes: dict = {"por_pagina": {}}
    with app_em_execucao(diretorio, "app-paginas.log") as app:
        processo = psutil.Process(app.pid)
        with Amostrador(app.pid) as amostra, sync_playwright() as p:
            navegador = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS_CHROMIUM)
            try:
                contexto = navegador.new_context(viewport={"width": 1440, "height": 2200})
                pagina = contexto.new_page()
                pagina.set_default_timeout(180_000)
                amostra.marcar("login e Início")
                inicio = time.perf_counter()
                pagina.goto(app.url)
                expect(pagina.get_by_label("Usuário")).to_be_visible(timeout=120_000)
                pagina.get_by_label("Usuário").fill(USUARIO)
                pagina.get_by_label("Senha", exact=True).fill(senha)
                pagina.get_by_role("button", name="Entrar").click()
                expect(pagina.get_by_test_id("stSidebar").get_by_text("Sair")).to_be_visible(
                    timeout=180_000
                )
                ocioso = _aguardar_ocioso(processo)
                detalhes["por_pagina"]["Início"] = {
                    "ate_ocioso_s": round(time.perf_counter() - inicio, 2),
                    "rss_mb": round(amostra.fases.get("login e Início", 0) / 2**20, 1),
                }
                del ocioso
                for chave, definicao in PAGINAS.items():
                    amostra.marcar(chave)
                    inicio = time.perf_counter()
                    pagina.get_by_test_id("stSidebarNav").get_by_text(
                        definicao.titulo, exact=True
                    ).click()
                    time.sleep(0.3)
                    _aguardar_ocioso(processo)
                    segundos = time.perf_counter() - inicio
                    detalhes["por_pagina"][definicao.titulo] = {
                        "url": pagina.url,
                        "ate_ocioso_s": round(segundos, 2),
                        "rss_mb": round(amostra.fases.get(chave, 0) / 2**20, 1),
                    }
                    log(
                        f"  páginas: navegador, {definicao.titulo}: {segundos:.1f} s até ocioso, "
                        f"RSS {amostra.fases.get(chave, 0) / 2**20:.0f} MB"
                    )
                contexto.close()
            finally:
                navegador.close()
        pico_mb = amostra.pico / 2**20
    detalhes["rss_pico_mb"] = round(pico_mb, 1)
    figura = Figura(
        "paginas",
        "Pico de memória (RSS) do app durante o login e todas as páginas no Chromium",
        pico_mb,
        "MB",
        "≤ 500 MB",
        pico_mb <= ALVO_MB,
        "streamlit run app.py; amostrado a cada 50 ms; por página: "
        + ", ".join(f"{k} {v['rss_mb']:.0f}" for k, v in detalhes["por_pagina"].items()),
    )
    return [figura], detalhes


def medir(engine: Engine, escala: Escala, diretorio: Path, log=print) -> tuple[list[Figura], dict]:
    senha = _criar_admin()
    figuras, detalhes = _apptest(engine, log)
    resultado = {"apptest": detalhes}
    if CHROMIUM.exists():
        try:
            f_nav, d_nav = _navegador(diretorio, senha, log)
            figuras += f_nav
            resultado["navegador"] = d_nav
            return figuras, resultado
        except Exception as exc:  # noqa: BLE001 - fall back to the AppTest process
            resultado["navegador"] = {"erro": f"{type(exc).__name__}: {exc}"}
            log(f"  páginas: navegador falhou ({type(exc).__name__}: {exc}); usando o AppTest")
    pico = detalhes["rss_pico_processo_apptest_mb"]
    figuras.append(
        Figura(
            "paginas",
            "Pico de memória (RSS) do processo do AppTest (sem Chromium)",
            pico,
            "MB",
            "≤ 500 MB",
            pico <= ALVO_MB,
            "Chromium indisponível ou falhou: medido o processo que rodou as páginas no AppTest "
            "(inclui o próprio benchmark)",
        )
    )
    return figuras, resultado
