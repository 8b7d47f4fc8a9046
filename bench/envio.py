"""Dispatch: approved queue items sent by ``services.disparo.despachar`` (one worker, as the CLI
and the sidebar run it) through the real WhatsApp client to the Meta sandbox in its own process.

Items: distinct students with a WhatsApp number and consent, each with a paid sale, queued by the
profile's ``compra_aprovada`` rule with that sale as context (so the goal-based exit runs its
query), the generic APPROVED ``boas_vindas_acesso`` template. The send window is set to
00:00–23:59 and the per-student cap to 10 for the run.

- rate limit "off": ``disparo_max_por_segundo`` written as 1,000,000 straight into
  ``configuracoes`` (its validated range is 1–80, so the token bucket never waits);
- rate limit 80/s: set through ``services.config`` like an admin does.

The time of each accepted send is taken in the client wrapper, so the achieved rate, the steady
rate after the bucket's initial one-second burst and the busiest one-second window are reported.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import time

import psutil
from sqlalchemy import Engine, text

from bench.escalas import Escala
from bench.medidas import Figura
from bench.sandboxes import sandbox_em_processo

TOKEN = "bench-meta-token-0001"


class ClienteCronometrado:
    """The real WhatsAppClient; the instant of each accepted send is kept."""

    def __init__(self, cliente) -> None:
        self._cliente = cliente
        self.instantes: list[float] = []

    def __enter__(self):
        self._cliente.__enter__()
        return self

    def __exit__(self, *exc):
        return self._cliente.__exit__(*exc)

    def __getattr__(self, nome):
        return getattr(self._cliente, nome)

    def enviar_template(self, *args, **kwargs):
        envio = self._cliente.enviar_template(*args, **kwargs)
        self.instantes.append(time.perf_counter())
        return envio


def _itens(engine: Engine, n: int, rotulo: str, excluir: list) -> list[int]:
    """Queue ``n`` approved items for distinct students not used before in this run."""
    with engine.begin() as conn:
        regra = conn.execute(
            text(
                "SELECT id FROM regras_automacao WHERE gatilho = 'compra_aprovada' "
                "ORDER BY id LIMIT 1"
            )
        ).scalar()
        tpl = conn.execute(
            text("SELECT id FROM templates WHERE nome_meta = 'boas_vindas_acesso'")
        ).scalar()
        return list(
            conn.execute(
                text(
                    """
                    INSERT INTO filas_disparo (regra_id, aluno_id, template_id, status,
                                               chave_dedupe, produto_id, ocasiao, contexto,
                                               variaveis, texto_renderizado, decidido_por,
                                               decidido_em)
                    SELECT :regra, x.aluno_id, :tpl, 'aprovado',
                           'bench-disparo:' || :rotulo || ':' || x.id, x.produto_id, x.id,
                           jsonb_build_object('transacao_id', x.id),
                           jsonb_build_array(split_part(x.nome, ' ', 1), x.produto,
                                             x.email),
                           'Olá!', 'bench', now()
                      FROM (SELECT DISTINCT ON (t.aluno_id) t.id, t.aluno_id, t.produto_id,
                                   a.nome, a.email, p.nome AS produto
                              FROM transacoes t JOIN alunos a ON a.id = t.aluno_id
                              JOIN produtos p ON p.id = t.produto_id
                             WHERE t.status IN ('APPROVED', 'COMPLETE') AND a.celular IS NOT NULL
                               AND NOT (t.aluno_id = ANY(CAST(:excluir AS uuid[])))
                               AND NOT EXISTS (SELECT 1 FROM consentimentos c
                                                WHERE c.aluno_id = t.aluno_id)
                             ORDER BY t.aluno_id, t.id) x
                     ORDER BY md5(x.id)
                     LIMIT :n
                    RETURNING id
                    """
                ),
                {"regra": regra, "tpl": tpl, "rotulo": rotulo, "excluir": excluir, "n": n},
            ).scalars()
        )


def _alunos_dos_itens(engine: Engine, ids: list[int]) -> list:
    with engine.connect() as conn:
        return list(
            conn.execute(
                text("SELECT aluno_id FROM filas_disparo WHERE id = ANY(:i)"), {"i": ids}
            ).scalars()
        )


def _cpu_s(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds (user + system) used so far: this process with its threads, the sandbox, and
    the PostgreSQL server with its live backends (the dispatcher's pooled connections)."""
    tempos = {"dispatcher": time.process_time()}
    for nome, pid in pids.items():
        try:
            processo = psutil.Process(pid)
            grupo = [processo, *(processo.children() if nome == "postgres" else [])]
            total = 0.0
            for p in grupo:
                with contextlib.suppress(psutil.Error):
                    t = p.cpu_times()
                    total += t.user + t.system
            tempos[nome] = total
        except psutil.Error:
            continue
    return tempos


def _rodada(engine: Engine, ids: list[int], pids: dict[str, int]) -> dict:
    from db.uow import UnidadeDeTrabalho
    from services import disparo, whatsapp

    clientes: list[ClienteCronometrado] = []

    def fabrica():
        with UnidadeDeTrabalho() as uow:
            cliente = ClienteCronometrado(whatsapp.cliente_configurado(uow.session))
        clientes.append(cliente)
        return cliente

    cpu_antes = _cpu_s(pids)
    inicio = time.perf_counter()
    contagem = disparo.despachar(cliente_fabrica=fabrica)
    segundos = time.perf_counter() - inicio
    cpu_depois = _cpu_s(pids)
    enviados = max(1, contagem["enviados"])
    cpu_ms_por_msg = {
        nome: round(1000 * (cpu_depois[nome] - cpu_antes[nome]) / enviados, 3)
        for nome in cpu_antes
        if nome in cpu_depois
    }
    instantes = clientes[0].instantes if clientes else []
    with engine.connect() as conn:
        por_status = dict(
            conn.execute(
                text("SELECT status, count(*) FROM filas_disparo WHERE id = ANY(:i) GROUP BY 1"),
                {"i": ids},
            ).all()
        )
        logs = conn.execute(
            text("SELECT count(*) FROM logs_disparo WHERE fila_id = ANY(:i)"), {"i": ids}
        ).scalar()
    return {
        "itens": len(ids),
        "segundos": segundos,
        "contagem": contagem,
        "status_itens": por_status,
        "logs": logs,
        "cpu_ms_por_msg": cpu_ms_por_msg,
        "instantes": instantes,
    }


def _janela_pico(instantes: list[float]) -> int:
    """Most sends inside any one-second window."""
    melhor = 0
    for i, t in enumerate(instantes):
        melhor = max(melhor, bisect.bisect_right(instantes, t + 1.0) - i)
    return melhor


def medir(engine: Engine, escala: Escala, log=print) -> tuple[list[Figura], dict]:
    from db.uow import UnidadeDeTrabalho
    from services import config

    detalhes: dict = {}
    figuras: list[Figura] = []
    criados: list[int] = []
    try:
        with sandbox_em_processo("meta", "--token", TOKEN) as (fatos, pid_sandbox):
            with engine.connect() as conn:
                backend = conn.execute(text("SELECT pg_backend_pid()")).scalar()
            pids = {"sandbox": pid_sandbox, "postgres": psutil.Process(backend).ppid()}
            with UnidadeDeTrabalho() as uow:
                config.definir_varios(
                    uow.session,
                    {
                        "meta_access_token": TOKEN,
                        "meta_phone_number_id": fatos["phone_number_id"],
                        "meta_waba_id": fatos["waba_id"],
                        "meta_api_base": fatos["url"],
                        "disparo_pausado": "false",
                        "disparo_janela_inicio": "00:00",
                        "disparo_janela_fim": "23:59",
                        "disparo_max_por_aluno_dia": "10",
                    },
                    usuario="bench",
                )
                uow.commit()
            # ---- rate limit off ------------------------------------------------------------
            with engine.begin() as conn:
                conn.execute(
                    text(
                        "INSERT INTO configuracoes (chave, valor) VALUES "
                        "('disparo_max_por_segundo', '1000000') ON CONFLICT (chave) DO UPDATE "
                        "SET valor = EXCLUDED.valor, ativo = true"
                    )
                )
            ids = _itens(engine, escala.disparo_livre, "livre", [])
            criados += ids
            log(f"  disparo: {len(ids)} itens sem limite de taxa…")
            livre = _rodada(engine, ids, pids)
            enviados = livre["contagem"]["enviados"]
            taxa = enviados / livre["segundos"] if livre["segundos"] else None
            detalhes["sem_limite"] = {k: v for k, v in livre.items() if k != "instantes"}
            figuras.append(
                Figura(
                    "disparo",
                    "Mensagens/s com o limite de taxa desligado (1 worker)",
                    taxa,
                    "msg/s",
                    "≥ 500/s",
                    taxa is not None and taxa >= 500,
                    f"{enviados} de {len(ids)} enviados em {livre['segundos']:.1f} s; "
                    f"itens {livre['status_itens']}; {livre['logs']} linhas em logs_disparo; "
                    f"CPU ms/msg {livre['cpu_ms_por_msg']}",
                )
            )
            # ---- 80/s ---------------------------------------------------------------------
            with UnidadeDeTrabalho() as uow:
                config.definir(uow.session, "disparo_max_por_segundo", "80", usuario="bench")
                uow.commit()
            ids = _itens(engine, escala.disparo_80, "80", _alunos_dos_itens(engine, criados))
            criados += ids
            log(f"  disparo: {len(ids)} itens a 80/s…")
            limitado = _rodada(engine, ids, pids)
            instantes = limitado["instantes"]
            enviados = limitado["contagem"]["enviados"]
            taxa = enviados / limitado["segundos"] if limitado["segundos"] else None
            estavel = None
            if len(instantes) >= 200:
                # The second half of the run: well after the bucket's initial burst.
                meio = len(instantes) // 2
                estavel = (len(instantes) - 1 - meio) / (instantes[-1] - instantes[meio])
            pico = _janela_pico(instantes)
            detalhes["a_80"] = {
                **{k: v for k, v in limitado.items() if k != "instantes"},
                "taxa_media": taxa,
                "taxa_estavel": estavel,
                "pico_em_1_s": pico,
            }
            ok = taxa is not None and abs(taxa - 80) <= 0.05 * 80
            nota = f"{enviados} enviados em {limitado['segundos']:.1f} s (média da execução)"
            if estavel:
                nota += f"; na segunda metade da execução: {estavel:.1f}/s"
            nota += f"; maior janela de 1 s: {pico} envios"
            figuras.append(
                Figura(
                    "disparo",
                    "Taxa obtida com disparo_max_por_segundo = 80",
                    taxa,
                    "msg/s",
                    "80 ± 5 %",
                    ok,
                    nota,
                )
            )
            figuras.append(
                Figura(
                    "disparo",
                    "Maior número de envios numa janela de 1 s (limite 80/s)",
                    float(pico),
                    "msg",
                    "—",
                    None,
                    "o balde começa com 1 ficha e repõe 80/s: nenhuma janela de 1 s deveria "
                    "passar muito de 80",
                )
            )
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM logs_disparo WHERE fila_id = ANY(:i)"), {"i": criados})
            conn.execute(text("DELETE FROM filas_disparo WHERE id = ANY(:i)"), {"i": criados})
            conn.execute(
                text("UPDATE configuracoes SET valor = :v WHERE chave = 'disparo_max_por_segundo'"),
                {"v": json.dumps(20)},
            )
    return figuras, detalhes
