"""``python -m bench [--escala L|small] [--so ingest,webhooks,regras,disparo,consultas,paginas]``.

A fresh embedded PostgreSQL in a temporary directory; the ingest first (it needs an empty
mirror); then profile L (or small) built with COPY; then the other measurements against it.
Prints the table and writes bench/results.json after each section. Exit code 0 when every
section ran (targets missed included), 1 when a section crashed, 130 on Ctrl-C/SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path

from bench.ambiente import Interrompido, banco_temporario, gravar_json, linha_maquina, maquina
from bench.escalas import ESCALAS
from bench.medidas import Figura
from bench.tabela import formatar_tabela

SECOES = ("ingest", "webhooks", "regras", "disparo", "consultas", "paginas")
SAIDA = Path(__file__).resolve().parent / "results.json"


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--escala", choices=sorted(ESCALAS), default=os.environ.get("BENCH_SCALE") or "L"
    )
    parser.add_argument(
        "--so",
        default=",".join(SECOES),
        help="seções separadas por vírgula (padrão: todas): " + ",".join(SECOES),
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--saida", type=Path, default=SAIDA)
    parser.add_argument("--manter", action="store_true", help="não apagar o diretório temporário")
    args = parser.parse_args(argv)
    args.secoes = [s.strip() for s in args.so.split(",") if s.strip()]
    desconhecidas = sorted(set(args.secoes) - set(SECOES))
    if desconhecidas:
        parser.error(f"seções desconhecidas: {', '.join(desconhecidas)}")
    return args


def _log(mensagem: str) -> None:
    print(mensagem, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    escala = ESCALAS[args.escala]
    resultados: dict = {
        "escala": escala.nome,
        "parametros": escala.como_dict(),
        "secoes_pedidas": args.secoes,
        "maquina": None,
        "perfil": None,
        "secoes": {},
        "verificacoes": {},
        "completo": False,
    }
    falhou = False
    inicio = time.perf_counter()
    try:
        with banco_temporario(args.manter) as diretorio:
            from db.engine import obter_engine
            from db.schema import aplicar_schema

            engine = obter_engine()
            aplicar_schema(engine)
            resultados["maquina"] = maquina()
            _log(f"Benchmark escala {escala.nome} — {linha_maquina(resultados['maquina'])}")
            _log(f"Banco temporário: {diretorio}")

            def secao(nome: str, funcao) -> None:
                nonlocal falhou
                _log(f"[{nome}]")
                t = time.perf_counter()
                try:
                    figuras, detalhes = funcao()
                    erro = None
                except (KeyboardInterrupt, Interrompido):
                    raise
                except Exception as exc:  # noqa: BLE001 - record it and go on to the next one
                    falhou = True
                    erro = f"{type(exc).__name__}: {exc}"
                    figuras = [
                        Figura(nome, "seção interrompida por erro", None, "", "—", False, erro)
                    ]
                    detalhes = {"traceback": traceback.format_exc()}
                    _log(traceback.format_exc())
                resultados["secoes"][nome] = {
                    "figuras": [f.__dict__ for f in figuras],
                    "detalhes": detalhes,
                    "erro": erro,
                    "duracao_s": round(time.perf_counter() - t, 1),
                    # Other processes on the machine change the figures: keep the load with them.
                    "carga_ao_fim": [round(x, 2) for x in os.getloadavg()],
                }
                gravar_json(args.saida, resultados)

            if "ingest" in args.secoes:
                from bench import ingest

                secao("ingest", lambda: ingest.medir(engine, escala, _log))
            restantes = [s for s in args.secoes if s != "ingest"]
            if restantes:
                from bench.perfil import Gerador

                _log(f"[perfil {escala.nome}]")
                resultados["perfil"] = Gerador(engine, escala, args.seed).construir(_log)
                gravar_json(args.saida, resultados)
            if "webhooks" in restantes:
                from bench import webhooks

                secao("webhooks", lambda: webhooks.medir(engine, escala, diretorio, _log))
            if "regras" in restantes:
                from bench import motor

                secao("regras", lambda: motor.medir(engine, escala, _log))
            if "disparo" in restantes:
                from bench import envio

                secao("disparo", lambda: envio.medir(engine, escala, _log))
            if "consultas" in restantes:
                from bench import consultas

                secao("consultas", lambda: consultas.medir(engine, escala, _log))
            if "paginas" in restantes:
                from bench import paginas

                secao("paginas", lambda: paginas.medir(engine, escala, diretorio, _log))
    except (KeyboardInterrupt, Interrompido):
        _log("Interrompido: banco temporário parado e removido.")
        gravar_json(args.saida, resultados)
        return 130
    resultados["duracao_total_s"] = round(time.perf_counter() - inicio, 1)
    webhooks_d = resultados["secoes"].get("webhooks", {}).get("detalhes", {})
    regras_d = resultados["secoes"].get("regras", {}).get("detalhes", {})
    resultados["verificacoes"] = {
        "segunda_avaliacao_inseridos": regras_d.get("segunda_avaliacao_inseridos"),
        "segunda_avaliacao_repetidos": regras_d.get("segunda_avaliacao_repetidos"),
        "nenhum_perdido": webhooks_d.get("nenhum_perdido"),
    }
    resultados["completo"] = not falhou
    gravar_json(args.saida, resultados)
    _log("")
    _log(formatar_tabela(resultados))
    _log(f"\nResultados em {args.saida} ({resultados['duracao_total_s']:.0f} s no total)")
    return 1 if falhou else 0


if __name__ == "__main__":
    sys.exit(main())
