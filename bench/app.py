"""The real app as production runs it: ``streamlit run app.py`` in a subprocess, on a free port,
against the benchmark's data directory (it attaches to the running embedded server)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.navegador_apoio import streamlit_em_execucao


@dataclass
class App:
    url: str
    porta: int
    pid: int
    log: Path


@contextlib.contextmanager
def app_em_execucao(diretorio: Path, nome_log: str = "app.log") -> Iterator[App]:
    """Start the app (the same starter as the browser test), wait for ``/healthz`` 200, yield
    it; terminate it at the end."""
    log = diretorio / nome_log
    with streamlit_em_execucao(log, {}, limite_s=120) as (url, _env, processo):
        yield App(url, int(url.rsplit(":", 1)[1]), processo.pid, log)
