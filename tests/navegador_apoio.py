"""Helpers of the browser test: the real app under ``streamlit run`` on its own embedded database.

The app runs in a subprocess (as ``make run`` does) with a fresh data directory, so it loads the
demo by itself; set-up and checks talk to the same database through the CLI and short Python
subprocesses with the same environment (a second process reuses the running server).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

RAIZ = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
ARGS_CHROMIUM = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def porta_livre() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppEmExecucao:
    """The running app: its URL, its environment and a way to run Python against its database."""

    def __init__(self, url: str, env: dict[str, str], log: Path) -> None:
        self.url = url
        self.env = env
        self.log = log

    def cli(self, *args: str, env_extra: dict[str, str] | None = None) -> str:
        r = subprocess.run(
            [sys.executable, "-m", "services.cli", *args],
            cwd=RAIZ,
            env={**self.env, **(env_extra or {})},
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert r.returncode == 0, f"cli {args[0]} falhou: {r.stderr[-2000:]}"
        return r.stdout

    def consultar(self, sql: str, **params) -> list[dict]:
        """Rows of a read-only query against the app's database, as dicts (JSON-friendly)."""
        codigo = (
            "import json, sys\n"
            "from sqlalchemy import text\n"
            "from db.uow import UnidadeDeTrabalho\n"
            "sql, params = json.loads(sys.stdin.read())\n"
            "with UnidadeDeTrabalho() as uow:\n"
            "    linhas = [dict(r._mapping) for r in uow.session.execute(text(sql), params)]\n"
            "print(json.dumps(linhas, default=str))\n"
        )
        r = subprocess.run(
            [sys.executable, "-c", codigo],
            cwd=RAIZ,
            env=self.env,
            input=json.dumps([sql, params]),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0, r.stderr[-2000:]
        return json.loads(r.stdout.strip().splitlines()[-1])

    def aguardar(self, sql: str, condicao, *, limite_s: float = 120, **params) -> list[dict]:
        """Poll a query until ``condicao(rows)`` holds (the demo, webhooks arrive in time)."""
        fim = time.monotonic() + limite_s
        linhas: list[dict] = []
        while time.monotonic() < fim:
            linhas = self.consultar(sql, **params)
            if condicao(linhas):
                return linhas
            time.sleep(1)
        raise AssertionError(f"tempo esgotado esperando: {sql} → {linhas}")


@contextmanager
def streamlit_em_execucao(log: Path, env_extra: dict[str, str], *, limite_s: float = 90):
    """``streamlit run app.py`` on a free port (embedded mode: DATABASE_URL removed), once
    ``/healthz`` answers 200; yields (url, env, process) and stops it at the end. The browser
    test and ``make bench`` both start the app through here."""
    porta = porta_livre()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        {
            **env_extra,
            "STREAMLIT_SERVER_PORT": str(porta),
            "STREAMLIT_SERVER_HEADLESS": "true",
            "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
            "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none",
        }
    )
    with log.open("wb") as saida:
        processo = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py"],
            cwd=RAIZ,
            env=env,
            stdout=saida,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{porta}"
        try:
            fim = time.monotonic() + limite_s
            while True:
                if processo.poll() is not None:
                    raise RuntimeError(f"o app terminou na partida: {log.read_text()[-3000:]}")
                try:
                    if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() >= fim:
                    raise RuntimeError(f"o app não respondeu /healthz em {limite_s:.0f} s")
                time.sleep(0.3)
            yield url, env, processo
        finally:
            processo.terminate()
            try:
                processo.wait(timeout=30)
            except subprocess.TimeoutExpired:
                processo.kill()
                processo.wait()


@contextmanager
def app_em_execucao(diretorio: Path, senha_admin: str):
    """The app on a fresh data directory in demo mode, every demo send coming back read."""
    log = diretorio / "app.log"
    extra = {
        "TERCEIRIZA_DATA_DIR": str(diretorio / "dados"),
        "TERCEIRIZA_ADMIN_PASSWORD": senha_admin,
        "TERCEIRIZA_DEMO_META_CENARIO": "lido",
    }
    with streamlit_em_execucao(log, extra) as (url, env, _processo):
        yield AppEmExecucao(url, env, log)
