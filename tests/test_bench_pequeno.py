"""`python -m bench --escala small` keeps working: every section runs and reports numbers.

No time is asserted (the machine is shared); only that the run completes, that each section
produced numeric figures, that a second rule evaluation inserts nothing and that no webhook is
lost.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

RAIZ = Path(__file__).resolve().parent.parent
SECOES = ("ingest", "webhooks", "regras", "disparo", "consultas", "paginas")


def test_small_benchmark_runs_every_section(tmp_path):
    saida = tmp_path / "results.json"
    # The benchmark makes its own embedded PostgreSQL: never the test session's server.
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TERCEIRIZA_DATA_DIR")}
    processo = subprocess.run(
        [sys.executable, "-m", "bench", "--escala", "small", "--saida", str(saida)],
        cwd=RAIZ,
        env=env,
        capture_output=True,
        text=True,
        timeout=360,
    )
    assert processo.returncode == 0, processo.stdout[-3000:] + processo.stderr[-3000:]
    resultados = json.loads(saida.read_text())
    assert resultados["completo"] is True
    assert resultados["escala"] == "small"
    assert resultados["maquina"]["nucleos"] >= 1
    for secao in SECOES:
        dados = resultados["secoes"][secao]
        assert dados["erro"] is None, (secao, dados["erro"])
        assert dados["figuras"], secao
        for figura in dados["figuras"]:
            valor = figura["valor"]
            assert isinstance(valor, int | float) and math.isfinite(valor), (secao, figura)
    # A second evaluation queues no student again for the same occasion (a student crossing a
    # threshold between the two runs is a new occasion, so the raw insert count is not asserted).
    assert resultados["verificacoes"]["segunda_avaliacao_repetidos"] == 0
    assert isinstance(resultados["verificacoes"]["segunda_avaliacao_inseridos"], int)
    assert resultados["verificacoes"]["nenhum_perdido"] is True
    assert resultados["perfil"]["contagens"]["alunos"] == resultados["parametros"]["alunos"]
