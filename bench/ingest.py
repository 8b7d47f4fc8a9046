"""Ingest: a full Hotmart sync from the sandbox through the real client, then its database stage
alone against a plain COPY of the same rows.

1. The sandbox runs in its own process with a demo account sized to about ``vendas_ingest`` sales
   (``services.demo_data``; the exact count is reported). Credentials are stored through
   ``services.config`` and the client is built by ``hotmart_conexao.cliente_configurado``, as the
   app does. The catalogue is synced first and each product's Club subdomain set (as a CS user
   would), then the full sync runs as the ``sync_hotmart`` job exactly like
   ``hotmart_conexao.sincronizar`` — with the client wrapped so that the sales and buyers pages it
   fetched are kept.
2. Database stage alone: the mirror tables are emptied and the kept pages, normalised beforehand,
   are fed to the sync's own batch writers (``hotmart_sync.gravar_compradores`` and
   ``gravar_vendas``) in the sync's batches (``hotmart_sync.LOTE``), one transaction each, in the
   order ``Sincronizacao._participantes``/``_vendas`` call them.
3. Plain COPY: the rows that stage produced (products, offers, students, transactions) are copied
   out, the tables emptied again, and the same rows COPYed back in one transaction.

Ratio = COPY time ÷ stage time (1.0 = as fast as COPY; target ≥ 0.5).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import Engine, text

from bench.escalas import Escala
from bench.medidas import Captura, Figura, capturar_sql
from bench.sandboxes import CLIENT_ID, CLIENT_SECRET, sandbox_em_processo

TABELAS_ESPELHO = (
    "produtos ofertas modulos aulas alunos transacoes matriculas progresso_aulas "
    "carrinhos_abandonados"
).split()


class Gravador:
    """The real client, with every sales and buyers item it yields kept (in fetch order)."""

    def __init__(self, cliente) -> None:
        self._cliente = cliente
        self.vendas_brutas: dict[str, list[dict]] = {}
        self.participantes_brutos: dict[str, list[dict]] = {}

    def __getattr__(self, nome: str) -> Any:
        return getattr(self._cliente, nome)

    def vendas(self, **filtros: Any) -> Iterator[dict]:
        destino = self.vendas_brutas.setdefault(filtros.get("transaction_status", ""), [])
        for item in self._cliente.vendas(**filtros):
            destino.append(item)
            yield item

    def usuarios_vendas(self, **filtros: Any) -> Iterator[dict]:
        destino = self.participantes_brutos.setdefault(filtros.get("transaction_status", ""), [])
        for item in self._cliente.usuarios_vendas(**filtros):
            destino.append(item)
            yield item


def _cpu_postgres() -> float:
    """CPU seconds of our PostgreSQL: the postmaster of this run's data directory and its
    children (other embedded servers on the machine are other people's)."""
    arquivo = Path(os.environ["TERCEIRIZA_DATA_DIR"]) / "pg" / "postmaster.pid"
    try:
        mestre = psutil.Process(int(arquivo.read_text().splitlines()[0]))
        processos = [mestre, *mestre.children()]
    except (OSError, ValueError, IndexError, psutil.Error):
        return 0.0
    total = 0.0
    for p in processos:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            continue
    return total


def _cpu_desde(antes: tuple[float, float, float]) -> dict:
    """CPU seconds of this process and of PostgreSQL since ``antes``, and the load averages."""
    processo = time.process_time() - antes[0]
    postgresql = _cpu_postgres() - antes[1]
    return {
        "processo_s": round(processo, 2),
        "postgresql_s": round(postgresql, 2),
        "total_s": round(processo + postgresql, 2),
        "carga": [round(antes[2], 2), round(os.getloadavg()[0], 2)],
    }


def _cpu(pid: int) -> float:
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def _esvaziar(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABELAS_ESPELHO)} RESTART IDENTITY CASCADE"))


def medir(engine: Engine, escala: Escala, log=print) -> tuple[list[Figura], dict]:
    """Run the three steps; return the figures and the details for results.json."""
    from db.uow import UnidadeDeTrabalho
    from services import config, hotmart_conexao, jobs
    from services.hotmart_sync import LOTE, Sincronizacao
    from services.sandbox.hotmart import CAMINHO_TOKEN

    detalhes: dict[str, Any] = {}
    log(f"  ingest: gerando a conta de demonstração ({escala.alunos_ingest} compradores)…")
    with sandbox_em_processo("hotmart", "--alunos", str(escala.alunos_ingest), "--seed", "42") as (
        fatos,
        pid_sandbox,
    ):
        url = fatos["url"]
        detalhes["sandbox"] = {k: v for k, v in fatos.items() if k not in ("subdominios", "url")}
        log(
            f"  ingest: sandbox pronto ({fatos['vendas']} vendas, {fatos['usuarios_club']} "
            f"usuários do Club, gerado em {fatos['geracao_s']} s)"
        )
        with UnidadeDeTrabalho() as uow:
            config.definir_varios(
                uow.session,
                {
                    "hotmart_client_id": CLIENT_ID,
                    "hotmart_client_secret": CLIENT_SECRET,
                    "hotmart_api_base": url,
                    "hotmart_auth_url": url + CAMINHO_TOKEN,
                },
                usuario="bench",
            )
            uow.commit()
            cliente = hotmart_conexao.cliente_configurado(uow.session)
        with cliente:
            Sincronizacao(cliente).sincronizar_catalogo()
        with engine.begin() as conn:
            for pid, subdominio in fatos["subdominios"].items():
                conn.execute(
                    text(
                        "UPDATE produtos SET hotmart_subdomain = :s WHERE hotmart_product_id = :p"
                    ),
                    {"s": subdominio, "p": int(pid)},
                )
        with UnidadeDeTrabalho() as uow:
            cliente = hotmart_conexao.cliente_configurado(uow.session)
        gravador = Gravador(cliente)
        marcos: list[tuple[float, str]] = []

        def sincronizar(execucao: jobs.ExecucaoJob) -> dict:
            def progresso(p: float, m: str) -> None:
                marcos.append((time.perf_counter(), m))
                execucao.progresso(p, m)

            return Sincronizacao(
                gravador,
                progresso=progresso,
                cursor=execucao.cursor,
                salvar_cursor=execucao.salvar_cursor,
            ).executar()

        log("  ingest: sincronização completa (job sync_hotmart)…")
        cpu0 = (time.process_time(), _cpu(pid_sandbox), _cpu_postgres())
        with cliente:
            inicio = time.perf_counter()
            job = jobs.executar(
                "sync_hotmart", sincronizar, iniciado_por="bench", parametros={"desde": None}
            )
            total = time.perf_counter() - inicio
        cpu1 = (time.process_time(), _cpu(pid_sandbox), _cpu_postgres())
        paginas = cliente.paginas_buscadas
    resultado = job.resultado or {}
    vendas = int(resultado.get("transacoes_lidas", 0))
    etapas = _etapas(marcos, inicio, inicio + total)
    t_vendas = etapas.get("compradores e vendas", 0.0)
    detalhes.update(
        job_status=job.status,
        resultado_job=resultado,
        paginas_http=paginas,
        total_s=round(total, 2),
        etapas_s={k: round(v, 2) for k, v in etapas.items()},
        cpu_s={
            "processo_sync": round(cpu1[0] - cpu0[0], 1),
            "sandbox": round(cpu1[1] - cpu0[1], 1),
            "postgresql": round(cpu1[2] - cpu0[2], 1),
        },
    )
    log(f"  ingest: {vendas} vendas em {total:.1f} s; etapas {detalhes['etapas_s']}")
    figuras = [
        Figura(
            "ingest",
            "Sincronização completa: vendas/s de ponta a ponta",
            vendas / total if total else None,
            "vendas/s",
            "—",
            None,
            f"{vendas} vendas, {fatos['usuarios_club']} usuários do Club e "
            f"{resultado.get('aulas_concluidas_gravadas', 0)} aulas concluídas em {total:.0f} s "
            f"(todas as etapas, HTTP incluso)",
        ),
        Figura(
            "ingest",
            "Etapas de compradores + vendas: vendas/s",
            vendas / t_vendas if t_vendas else None,
            "vendas/s",
            "—",
            None,
            f"{t_vendas:.0f} s das 34 etapas de compradores/vendas (HTTP + normalização + banco)",
        ),
    ]
    # ---- database stage alone vs plain COPY ---------------------------------------------------
    lotes_p, lotes_v, t_norm = _normalizar(gravador)
    gravador.vendas_brutas.clear()  # the raw pages are no longer needed: free the memory
    gravador.participantes_brutos.clear()
    log("  ingest: etapa de banco sozinha (funções de escrita do sync, sem HTTP)…")
    _esvaziar(engine)
    cpu_antes = (time.process_time(), _cpu_postgres(), os.getloadavg()[0])
    with capturar_sql(engine) as captura:
        t_estagio = _estagio_banco(engine, lotes_p, lotes_v)
    cpu_estagio = _cpu_desde(cpu_antes)
    detalhes["estagio_por_instrucao"] = _por_instrucao(captura)
    with engine.connect() as conn:
        gravadas = conn.execute(text("SELECT count(*) FROM transacoes")).scalar()
        alunos = conn.execute(text("SELECT count(*) FROM alunos")).scalar()
    log("  ingest: COPY simples das mesmas linhas…")
    t_copy, cpu_copy = _copy_simples(engine)
    razao = t_copy / t_estagio if t_estagio else None
    detalhes.update(
        normalizacao_s=round(t_norm, 2),
        estagio_banco_s=round(t_estagio, 2),
        copy_s=round(t_copy, 2),
        # CPU seconds spent, less sensitive than wall time to other work on the machine; the
        # load average (1 min) at the start and end of each.
        estagio_cpu=cpu_estagio,
        copy_cpu=cpu_copy,
        linhas={"transacoes": gravadas, "alunos": alunos},
    )
    figuras += [
        Figura(
            "ingest",
            "Etapa de banco sozinha: vendas/s",
            gravadas / t_estagio if t_estagio else None,
            "vendas/s",
            "—",
            None,
            f"{gravadas} transações e {alunos} alunos em {t_estagio:.1f} s "
            f"(gravadores do sync em lotes de {LOTE:_}, commit por lote; normalização à parte: "
            f"{t_norm:.1f} s)".replace("_", "."),
        ),
        Figura(
            "ingest",
            "COPY simples das mesmas linhas: vendas/s",
            gravadas / t_copy if t_copy else None,
            "vendas/s",
            "—",
            None,
            f"produtos, ofertas, alunos e transações em {t_copy:.1f} s, uma transação",
        ),
        Figura(
            "ingest",
            "Etapa de banco ÷ COPY (razão de velocidade)",
            razao,
            "× COPY",
            "≥ 0,5",
            razao is not None and razao >= 0.5,
            f"tempo do COPY {t_copy:.1f} s ÷ tempo da etapa {t_estagio:.1f} s; CPU "
            f"(PostgreSQL + processo): COPY {cpu_copy['total_s']:.1f} s, etapa "
            f"{cpu_estagio['total_s']:.1f} s; carga média {cpu_estagio['carga'][0]:.1f} → "
            f"{cpu_copy['carga'][1]:.1f}",
        ),
    ]
    _esvaziar(engine)
    return figuras, detalhes


def _por_instrucao(captura: Captura, quantas: int = 12) -> list[dict]:
    """Where the stage's time went: statements grouped by their text, slowest first (the COPY
    into each staging table and its DROP/CREATE go through the raw psycopg cursor and are not
    listed: they are the rest of the stage's time)."""
    grupos: dict[str, list[float]] = {}
    for i in captura.instrucoes:
        chave = " ".join(i.sql.split())[:110]
        grupos.setdefault(chave, []).append(i.segundos)
    linhas = sorted(grupos.items(), key=lambda kv: -sum(kv[1]))[:quantas]
    return [
        {
            "sql": k,
            "vezes": len(v),
            "total_s": round(sum(v), 2),
            "media_ms": round(1000 * sum(v) / len(v), 2),
        }
        for k, v in linhas
    ]


def _etapas(marcos: list[tuple[float, str]], inicio: float, fim: float) -> dict[str, float]:
    """Wall time per group of sync steps, from the progress messages' timestamps."""
    grupos: dict[str, float] = {}
    pontos = [*marcos, (fim, "fim")]
    for (t, mensagem), (t_seguinte, _) in zip(pontos, pontos[1:], strict=False):
        if mensagem.startswith(("Compradores", "Vendas")):
            grupo = "compradores e vendas"
        elif mensagem.startswith("Área de membros"):
            grupo = "área de membros (módulos, usuários, aulas)"
        else:
            grupo = mensagem.lower()
        grupos[grupo] = grupos.get(grupo, 0.0) + (t_seguinte - t)
    if marcos:
        grupos["antes do primeiro passo"] = marcos[0][0] - inicio
    return grupos


def _normalizar(gravador: Gravador):
    """The kept pages in the sync's batches (``LOTE``), normalised as the sync does it."""
    from services import hotmart_normalizar as norm
    from services.hotmart_sync import LOTE, STATUS_TRANSACAO

    inicio = time.perf_counter()
    lotes_p: dict[str, list[list[dict]]] = {}
    lotes_v: dict[str, list[list[dict]]] = {}
    for status in STATUS_TRANSACAO:
        brutos = gravador.participantes_brutos.get(status, [])
        lotes_p[status] = [
            [p for p in (norm.participante_da_api(x) for x in brutos[i : i + LOTE]) if p]
            for i in range(0, len(brutos), LOTE)
        ]
        brutos = gravador.vendas_brutas.get(status, [])
        lotes_v[status] = [
            [norm.venda_da_api(x) for x in brutos[i : i + LOTE]]
            for i in range(0, len(brutos), LOTE)
        ]
    return lotes_p, lotes_v, time.perf_counter() - inicio


def _estagio_banco(engine: Engine, lotes_p: dict, lotes_v: dict) -> float:
    """The sync's own batch writers (``gravar_compradores``/``gravar_vendas``, one transaction
    per batch), called in the order Sincronizacao runs them, without HTTP. After each step a
    durable commit stands for the job's cursor save, which flushes the step's batches (they
    commit without waiting for the disk)."""
    from services.hotmart_sync import STATUS_TRANSACAO, gravar_compradores, gravar_vendas

    def fim_da_etapa() -> None:
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_current_xact_id()"))  # a commit record, flushed

    inicio = time.perf_counter()
    for status in STATUS_TRANSACAO:
        for pessoas in lotes_p[status]:
            gravar_compradores(pessoas)
        fim_da_etapa()
        for linhas in lotes_v[status]:
            gravar_vendas(linhas)
        fim_da_etapa()
    return time.perf_counter() - inicio


def _copy_simples(engine: Engine) -> tuple[float, dict]:
    """COPY the stage's rows out, empty the tables, COPY them back in (timed); return the time
    and the CPU it took."""
    tabelas = ("produtos", "ofertas", "alunos", "transacoes")
    bruta = engine.raw_connection()
    try:
        pg = bruta.driver_connection
        dados: dict[str, bytes] = {}
        with pg.cursor() as cur:
            for tabela in tabelas:
                partes = []
                with cur.copy(f"COPY {tabela} TO STDOUT") as copia:
                    for bloco in copia:
                        partes.append(bytes(bloco))
                dados[tabela] = b"".join(partes)
        pg.commit()
        _esvaziar(engine)
        cpu_antes = (time.process_time(), _cpu_postgres(), os.getloadavg()[0])
        inicio = time.perf_counter()
        with pg.cursor() as cur:
            for tabela in tabelas:
                with cur.copy(f"COPY {tabela} FROM STDIN") as copia:
                    visao = memoryview(dados[tabela])
                    for i in range(0, len(visao), 1 << 20):
                        copia.write(visao[i : i + (1 << 20)])
        pg.commit()
        return time.perf_counter() - inicio, _cpu_desde(cpu_antes)
    finally:
        bruta.close()
