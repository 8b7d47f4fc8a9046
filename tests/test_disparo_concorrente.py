"""Several dispatch workers at once over 1,000 approved items (issue #8): each sent exactly once.

Every worker is a separate Python process with its own database connections and its own HTTP
client, as cron or systemd would start them; they wait on a start line so that they really run
side by side. The Meta sandbox serves them over HTTP on 127.0.0.1 and counts what it accepted:
each student must get the message once, each item must be ``enviado`` with one log row whose
wamid is the one Meta returned.

Workers call ``disparo.despachar`` (the function behind ``services.cli dispatch``); the CLI
itself is also started four times at once, where the dispatch job's lock lets one run and the
others step aside (300 items in ``make test``, 1,000 under ``longo``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from db.uow import UnidadeDeTrabalho
from services import config
from services.sandbox import meta as sandbox_meta
from services.sandbox.server import servir

RAIZ = Path(__file__).resolve().parent.parent
TOKEN = "tok-concorrente"
ITENS = 1_000

# One worker: waits for the start line, dispatches until the queue is empty, prints its counts.
WORKER = """
import json, sys
from datetime import datetime, timezone
from db.engine import obter_engine
from services import disparo

obter_engine().connect().close()  # connected before the start line: all start together
sys.stdin.readline()
meio_dia = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)  # 12:00 in São Paulo
print(json.dumps(disparo.despachar(agora=lambda: meio_dia)), flush=True)
"""


@pytest.fixture
def meta(banco):
    from services.sandbox.meta_templates import _modelo

    app = sandbox_meta.criar_app(
        access_token=TOKEN,
        app_secret="s",
        phone_number_id="111",
        waba_id="222",
        templates=[_modelo("91", "aviso", "UTILITY", "Oi {{1}}", ["Ana"])],
    )
    with servir(app) as url:
        with UnidadeDeTrabalho() as uow:
            config.definir_varios(
                uow.session,
                {
                    "meta_access_token": TOKEN,
                    "meta_phone_number_id": "111",
                    "meta_waba_id": "222",
                    "meta_api_base": url,
                    "disparo_max_por_segundo": "80",
                    "disparo_max_por_aluno_dia": "1",
                    "disparo_janela_inicio": "00:00",
                    "disparo_janela_fim": "23:59",
                },
            )
            uow.commit()
        yield app


def _fila(banco, n: int) -> None:
    """n approved items, one per student (distinct numbers), of an approved template."""
    with banco.begin() as conn:
        template = conn.execute(
            text(
                "INSERT INTO templates (nome_meta, idioma, status_meta, conteudo_texto, "
                "qtd_parametros) VALUES ('aviso', 'pt_BR', 'APPROVED', 'Oi {{1}}', 1) RETURNING id"
            )
        ).scalar()
        conn.execute(
            text(
                """
                WITH novos AS (
                    INSERT INTO alunos (nome, email, celular)
                    SELECT 'Aluno ' || i, 'c' || i || '@x.com', '55119' || lpad(i::text, 8, '0')
                      FROM generate_series(1, :n) AS i
                    RETURNING id, email
                )
                INSERT INTO filas_disparo (aluno_id, template_id, status, variaveis, chave_dedupe,
                                           decidido_por, decidido_em)
                SELECT id, :t, 'aprovado', '["Ana"]', 'conc:' || email, 'cs', now() FROM novos
                """
            ),
            {"n": n, "t": template},
        )


def _iniciar(comando: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        comando,
        cwd=RAIZ,
        env=os.environ.copy(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _cada_item_enviado_uma_vez(banco, meta, n: int) -> None:
    """What a user would check: every student got it once, every item is sent and logged once
    with the wamid Meta returned."""
    envios = meta.state.envios
    assert len(envios) == n
    assert Counter(e["to"] for e in envios).most_common(1)[0][1] == 1
    with banco.connect() as conn:
        estados = dict(
            conn.execute(text("SELECT status, count(*) FROM filas_disparo GROUP BY 1")).all()
        )
        logs = conn.execute(
            text(
                "SELECT l.fila_id, l.mensagem_id_whatsapp, l.telefone, l.status_entrega, "
                "f.enviado_em IS NOT NULL AS marcado "
                "FROM logs_disparo l JOIN filas_disparo f ON f.id = l.fila_id"
            )
        ).all()
    assert estados == {"enviado": n}
    assert len(logs) == n and len({linha.fila_id for linha in logs}) == n
    assert all(linha.marcado and linha.status_entrega == "accepted" for linha in logs)
    assert {(linha.mensagem_id_whatsapp, linha.telefone) for linha in logs} == {
        (e["wamid"], e["to"]) for e in envios
    }


@pytest.mark.parametrize("workers", [2, 4])
def test_concurrent_worker_processes_send_each_of_1000_items_exactly_once(banco, meta, workers):
    _fila(banco, ITENS)
    processos = [_iniciar([sys.executable, "-c", WORKER]) for _ in range(workers)]
    try:
        for p in processos:
            p.stdin.write("já\n")
            p.stdin.flush()
        saidas = [p.communicate(timeout=120) for p in processos]
    finally:
        for p in processos:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in processos] == [0] * workers, [e for _, e in saidas]
    contagens = [json.loads(saida.strip().splitlines()[-1]) for saida, _ in saidas]
    assert sum(c["enviados"] for c in contagens) == ITENS
    assert all(c["enviados"] > 0 for c in contagens)  # every worker really sent a share
    assert {c["parada"] for c in contagens} == {"fila vazia"}
    assert sum(c["verificar"] + c["erros"] + c["cancelados"] for c in contagens) == 0
    _cada_item_enviado_uma_vez(banco, meta, ITENS)


@pytest.mark.parametrize(
    "itens",
    # One run sends them all at 80/s: 1,000 take 12.5 s, so make test uses 300.
    [300, pytest.param(ITENS, marks=pytest.mark.longo)],
)
def test_four_cli_dispatches_at_once_send_each_item_exactly_once(banco, meta, itens):
    _fila(banco, itens)
    comando = [sys.executable, "-m", "services.cli", "dispatch"]
    processos = [_iniciar(comando) for _ in range(4)]
    try:
        saidas = [p.communicate(timeout=120) for p in processos]
    finally:
        for p in processos:
            if p.poll() is None:
                p.kill()
    codigos = [p.returncode for p in processos]
    # The dispatch job's lock: one run sends; a run that overlaps it exits 4 and sends nothing
    # (one that starts after it ended finds the queue empty and exits 0).
    assert codigos.count(0) >= 1 and set(codigos) <= {0, 4}, saidas
    for codigo, (saida, erro) in zip(codigos, saidas, strict=True):
        if codigo == 4:
            assert "já está em andamento" in saida + erro
    _cada_item_enviado_uma_vez(banco, meta, itens)
