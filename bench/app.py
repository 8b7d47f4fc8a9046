"""The real app as production runs it: ``streamlit run app.py`` in a subprocess, on a free port,
against the benchmark's data directory (it attaches to the running embedded server)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.ambiente import RAIZ


def porta_livre() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class App:
    url: str
    porta: int
    pid: int
    log: Path


@contextlib.contextmanager
def app_em_execucao(diretorio: Path, nome_log: str = "app.log") -> Iterator[App]:
    """Start the app, wait for ``/healthz`` 200, yield it; terminate it at the end."""
    porta = porta_livre()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        {
            "STREAMLIT_SERVER_PORT": str(porta),
            "STREAMLIT_SERVER_HEADLESS": "true",
            "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
            "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none",
        }
    )
    log = diretorio / nome_log
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
            limite = time.monotonic() + 120
            while True:
                if processo.poll() is not None:
                    raise RuntimeError(f"o app terminou na partida: {log.read_text()[-2000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                        break
                if time.monotonic() > limite:
                    raise RuntimeError("o app não respondeu /healthz em 120 s")
                time.sleep(0.3)
            yield App(url, porta, processo.pid, log)
        finally:
            processo.terminate()
            try:
                processo.wait(timeout=30)
            except subprocess.TimeoutExpired:
                processo.kill()
                processo.wait()
