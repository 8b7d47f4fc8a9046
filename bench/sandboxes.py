"""The Hotmart and Meta sandboxes in their own process, as the real providers are remote.

``python -m bench.sandboxes hotmart --alunos N --seed S`` (or ``meta --token T``) serves the
sandbox on a free loopback port through ``services.sandbox.server.servir`` (which sets
TCP_NODELAY on accepted sockets), prints one JSON line with its URL and facts, and serves until
stdin closes or it is terminated. A separate process keeps the sandbox's CPU out of the
measured process's GIL.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

RAIZ = Path(__file__).resolve().parent.parent
CLIENT_ID = "bench-client-id"
CLIENT_SECRET = "bench-client-secret"  # not a secret: the loopback sandbox's credential


def _servir(app, fatos: dict) -> None:
    from services.sandbox.server import servir

    with servir(app) as url:
        print(json.dumps({"url": url, **fatos}), flush=True)
        try:
            sys.stdin.read()  # the parent closes our stdin (or terminates us) when it is done
        except KeyboardInterrupt:
            pass


def _hotmart(args) -> None:
    from services.demo_data import gerar_dataset
    from services.sandbox.hotmart import criar_app

    inicio = time.perf_counter()
    ds = gerar_dataset(args.alunos, args.seed)
    geracao = time.perf_counter() - inicio
    app = criar_app(ds, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    fatos = {
        "vendas": len(ds.vendas),
        "compradores": len(ds.compradores),
        "produtos": len(ds.produtos),
        "usuarios_club": sum(len(v) for v in ds.usuarios_club.values()),
        "aulas_concluidas": sum(
            len(aulas)
            for por_usuario in ds.aulas_usuario.values()
            for aulas in por_usuario.values()
        ),
        "subdominios": {str(k): v for k, v in ds.subdominios.items()},
        "geracao_s": round(geracao, 2),
    }
    _servir(app, fatos)


def _meta(args) -> None:
    from services.sandbox import meta

    app = meta.criar_app(
        access_token=args.token,
        app_secret="bench-app-secret",
        phone_number_id="100000000000001",
        waba_id="200000000000001",
        callback_url=None,  # no status webhooks while dispatching: only the sends are measured
    )
    _servir(app, {"phone_number_id": "100000000000001", "waba_id": "200000000000001"})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Sandbox do benchmark num processo próprio")
    sub = parser.add_subparsers(dest="qual", required=True)
    h = sub.add_parser("hotmart")
    h.add_argument("--alunos", type=int, required=True)
    h.add_argument("--seed", type=int, default=42)
    m = sub.add_parser("meta")
    m.add_argument("--token", required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    {"hotmart": _hotmart, "meta": _meta}[args.qual](args)


@contextlib.contextmanager
def sandbox_em_processo(*args: str, espera_s: float = 300) -> Iterator[tuple[dict, int]]:
    """Start ``python -m bench.sandboxes *args``; yield (its JSON facts, its pid); stop it."""
    processo = subprocess.Popen(
        [sys.executable, "-m", "bench.sandboxes", *args],
        cwd=RAIZ,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=None,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        seletor = selectors.DefaultSelector()
        seletor.register(processo.stdout, selectors.EVENT_READ)
        limite = time.monotonic() + espera_s
        linha = ""
        while not linha:
            if processo.poll() is not None:
                raise RuntimeError(f"o sandbox {args[0]} terminou com código {processo.returncode}")
            if time.monotonic() > limite:
                raise RuntimeError(f"o sandbox {args[0]} não ficou pronto em {espera_s} s")
            if seletor.select(timeout=0.5):
                linha = processo.stdout.readline().strip()
        yield json.loads(linha), processo.pid
    finally:
        with contextlib.suppress(Exception):
            processo.stdin.close()
        try:
            processo.wait(timeout=10)
        except subprocess.TimeoutExpired:
            processo.terminate()
            try:
                processo.wait(timeout=10)
            except subprocess.TimeoutExpired:
                processo.kill()
                processo.wait()


if __name__ == "__main__":
    main()
