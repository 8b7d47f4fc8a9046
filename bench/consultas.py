"""Queries: p50/p95 of every query function the pages call, on the profile.

Each call runs as a page runs it — a fresh ``UnidadeDeTrabalho`` and the service function — once
to warm up and then ``execucoes_consulta`` times. ``services.dashboard*`` and ``services.saude``
are being written while this benchmark is: their public functions are discovered at run time
and called with arguments built from their parameter names (``filtro`` → the dashboard's default
period, ``aluno_id`` → a heavy student…); a function whose arguments cannot be built is listed
as skipped. A query that misses its target is run once more with its SQL captured and the
slowest statement explained (``EXPLAIN (ANALYZE, BUFFERS)``, rolled back).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, text

from bench.escalas import Escala
from bench.medidas import Figura, capturar_sql, explicar, percentil

ALVO_MS = 300.0
ALVO_BUSCA_MS = 50.0
LIMITE_LENTA_S = 10.0  # a call slower than this is run 3 times only (noted)


@dataclass
class Consulta:
    nome: str
    funcao: Callable  # (session) -> object
    alvo_ms: float
    pagina: str


def _amostras(engine: Engine) -> dict:
    """Real arguments from the profile: a heavy student, the biggest product, search terms."""
    with engine.connect() as conn:
        q = lambda sql: conn.execute(text(sql)).first()  # noqa: E731
        aluno = q(
            "SELECT l.aluno_id FROM logs_disparo l GROUP BY l.aluno_id "
            "ORDER BY count(*) DESC, l.aluno_id LIMIT 1"
        )[0]
        matricula = q(
            f"SELECT id FROM matriculas WHERE aluno_id = '{aluno}' AND status_acesso = 'ATIVO' "
            "ORDER BY id LIMIT 1"
        )
        if matricula is None:
            matricula = q(
                "SELECT id FROM matriculas WHERE status_acesso = 'ATIVO' ORDER BY id LIMIT 1"
            )
        produto = q(
            "SELECT produto_id FROM matriculas GROUP BY produto_id ORDER BY count(*) DESC LIMIT 1"
        )[0]
        alvo = q(
            "SELECT nome, email, cpf, celular FROM alunos WHERE cpf IS NOT NULL AND celular IS NOT "
            "NULL ORDER BY md5(id::text) LIMIT 1"
        )
        regra = q("SELECT id FROM regras_automacao ORDER BY id LIMIT 1")[0]
        usuario = q(
            "SELECT decidido_por FROM filas_disparo WHERE decidido_por IS NOT NULL "
            "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
        )
    cpf = alvo.cpf
    local = alvo.email.split("@")[0]
    return {
        "aluno_id": aluno,
        "matricula_id": matricula[0] if matricula else None,
        "produto_id": produto,
        "regra_id": regra,
        "usuario": usuario[0] if usuario else "bench.admin",
        "busca_nome": "maria conceição",
        "busca_nome_curto": "joão",
        "busca_email": local[-10:],
        "busca_cpf": f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}",
        "busca_cpf_parcial": cpf[:6],
        "busca_celular": f"{alvo.celular[-9:-4]}-{alvo.celular[-4:]}",
    }


def _descobertas(a: dict) -> tuple[list[Consulta], list[str]]:
    """Public query functions of services.dashboard* and services.saude, with built arguments."""
    import services

    consultas: list[Consulta] = []
    puladas: list[str] = []
    nomes = sorted(
        m.name
        for m in pkgutil.iter_modules(services.__path__)
        if m.name.startswith("dashboard") or m.name == "saude"
    )
    if "dashboard" not in nomes:
        puladas.append("services.dashboard: módulo ausente")
    if "saude" not in nomes:
        puladas.append("services.saude: módulo ausente")
    filtro = None
    try:
        filtro_mod = importlib.import_module(
            "services.dashboard_filtro" if "dashboard_filtro" in nomes else "services.dashboard"
        )
        filtro = filtro_mod.FiltroPainel(*filtro_mod.periodo_padrao())
    except Exception as exc:  # noqa: BLE001 - modules under construction: note and go on
        puladas.append(f"FiltroPainel indisponível: {type(exc).__name__}: {exc}")
    valores = {
        "filtro": filtro,
        "aluno_id": a["aluno_id"],
        "matricula_id": a["matricula_id"],
        "produto_id": a["produto_id"],
        "produto_ids": (),
        "usuario": a["usuario"],
    }
    for nome_mod in nomes:
        try:
            modulo = importlib.import_module(f"services.{nome_mod}")
        except Exception as exc:  # noqa: BLE001
            puladas.append(f"services.{nome_mod}: não importa ({type(exc).__name__}: {exc})")
            continue
        for nome, funcao in inspect.getmembers(modulo, inspect.isfunction):
            if nome.startswith("_") or funcao.__module__ != modulo.__name__:
                continue
            parametros = list(inspect.signature(funcao).parameters.values())
            if not parametros or parametros[0].name != "session":
                continue
            args, kwargs, falta = [], {}, None
            for p in parametros[1:]:
                if p.name in valores and valores[p.name] is not None:
                    # By name unless positional-only: a skipped optional parameter before it
                    # must not shift the others.
                    if p.kind == p.POSITIONAL_ONLY:
                        args.append(valores[p.name])
                    else:
                        kwargs[p.name] = valores[p.name]
                elif p.default is inspect.Parameter.empty:
                    falta = p.name
                    break
            if falta:
                puladas.append(f"services.{nome_mod}.{nome}: sem valor para o parâmetro {falta!r}")
                continue
            consultas.append(
                Consulta(
                    f"{nome_mod}.{nome}",
                    lambda s, f=funcao, a_=tuple(args), k=dict(kwargs): f(s, *a_, **k),
                    ALVO_MS,
                    "Início" if nome_mod.startswith("dashboard") else "Início / Alunos",
                )
            )
    return consultas, puladas


def _conhecidas(a: dict) -> list[Consulta]:
    from services import alunos, dias, fila, logs, produtos, regras

    hoje = dias.hoje_sao_paulo()
    padrao = logs.FiltroLogs(*logs.periodo_padrao())
    hoje_f = logs.FiltroLogs(inicio=hoje, fim=hoje)
    p = a["produto_id"]
    c = [
        Consulta("produtos.listar_produtos", produtos.listar_produtos, ALVO_MS, "Produtos"),
        Consulta(
            "produtos.listar_ofertas",
            lambda s: produtos.listar_ofertas(s, produto_id=p),
            ALVO_MS,
            "Produtos",
        ),
        Consulta(
            "produtos.arvore_curso",
            lambda s: produtos.arvore_curso(s, produto_id=p),
            ALVO_MS,
            "Produtos",
        ),
        Consulta(
            "produtos.funil_aulas",
            lambda s: produtos.funil_aulas(s, produto_id=p),
            ALVO_MS,
            "Produtos",
        ),
        Consulta(
            "produtos.funil_aulas + maior_queda",
            lambda s: produtos.maior_queda(produtos.funil_aulas(s, produto_id=p)),
            ALVO_MS,
            "Produtos",
        ),
    ]
    for rotulo, termo in (
        ("nome", a["busca_nome"]),
        ("nome (um termo comum)", a["busca_nome_curto"]),
        ("e-mail", a["busca_email"]),
        ("CPF com pontuação", a["busca_cpf"]),
        ("CPF parcial", a["busca_cpf_parcial"]),
        ("telefone (final)", a["busca_celular"]),
    ):
        c.append(
            Consulta(
                f"alunos.buscar_alunos: {rotulo} ({termo!r})",
                lambda s, t=termo: alunos.buscar_alunos(s, termo=t),
                ALVO_BUSCA_MS,
                "Alunos",
            )
        )
    aid = a["aluno_id"]
    c += [
        Consulta("alunos.ha_alunos", alunos.ha_alunos, ALVO_MS, "Alunos"),
        Consulta("alunos.catalogo_tags", alunos.catalogo_tags, ALVO_MS, "Alunos"),
        Consulta(
            "alunos.perfil (aluno com mais mensagens)",
            lambda s: alunos.perfil(s, aluno_id=aid),
            ALVO_MS,
            "Alunos",
        ),
        Consulta("alunos.alunos_por_tag", alunos.alunos_por_tag, ALVO_MS, "Configurações"),
        Consulta("fila.contagem_por_status", fila.contagem_por_status, ALVO_MS, "Fila / Início"),
        Consulta(
            "fila.listar (pendentes, 200)",
            lambda s: fila.listar(s, status="pendente"),
            ALVO_MS,
            "Fila",
        ),
        Consulta(
            "fila.listar (pendente mais antigo)",
            lambda s: fila.listar(s, status="pendente", limite=1),
            ALVO_MS,
            "Início (CS)",
        ),
        Consulta(
            "fila.listar (todos os status, busca)",
            lambda s: fila.listar(s, status=None, busca="silva"),
            ALVO_MS,
            "Fila",
        ),
        Consulta(
            "fila.listar (por regra e produto)",
            lambda s: fila.listar(s, status="pendente", regra_id=a["regra_id"], produto_id=p),
            ALVO_MS,
            "Fila",
        ),
        Consulta(
            "fila.decisoes_do_dia",
            lambda s: fila.decisoes_do_dia(s, usuario=a["usuario"], dia=hoje),
            ALVO_MS,
            "Início (CS)",
        ),
        Consulta("regras.listar", regras.listar, ALVO_MS, "Fila / Regras"),
        Consulta("logs.opcoes_filtro", logs.opcoes_filtro, ALVO_MS, "Logs"),
        Consulta("logs.funil (7 dias)", lambda s: logs.funil(s, padrao), ALVO_MS, "Logs"),
        Consulta(
            "logs.listar_mensagens (7 dias, 500)",
            lambda s: logs.listar_mensagens(s, padrao),
            ALVO_MS,
            "Logs",
        ),
        Consulta(
            "logs.listar_mensagens (CSV, até 10.000)",
            lambda s: logs.listar_mensagens(s, padrao, limite=logs.LIMITE_CSV),
            ALVO_MS,
            "Logs",
        ),
        Consulta(
            "logs.falhas_por_codigo (7 dias)",
            lambda s: logs.falhas_por_codigo(s, padrao),
            ALVO_MS,
            "Logs",
        ),
        Consulta(
            "logs.leitura_por_template (7 dias)",
            lambda s: logs.leitura_por_template(s, padrao),
            ALVO_MS,
            "Logs",
        ),
        Consulta(
            "logs.listar_mensagens (aluno 'silva', 7 dias)",
            lambda s: logs.listar_mensagens(
                s, logs.FiltroLogs(padrao.inicio, padrao.fim, aluno="silva")
            ),
            ALVO_MS,
            "Logs",
        ),
        Consulta("logs.funil (hoje)", lambda s: logs.funil(s, hoje_f), ALVO_MS, "Início (CS)"),
        Consulta(
            "logs.listar_mensagens (falhas de hoje)",
            lambda s: logs.listar_mensagens(
                s, logs.FiltroLogs(inicio=hoje, fim=hoje, status=("failed",)), limite=20
            ),
            ALVO_MS,
            "Início (CS)",
        ),
    ]
    return c


def _executar(consulta: Consulta) -> float:
    from db.uow import UnidadeDeTrabalho

    inicio = time.perf_counter()
    with UnidadeDeTrabalho() as uow:
        consulta.funcao(uow.session)
    return time.perf_counter() - inicio


def medir(engine: Engine, escala: Escala, log=print) -> tuple[list[Figura], dict]:
    amostras = _amostras(engine)
    descobertas, puladas = _descobertas(amostras)
    consultas = _conhecidas(amostras) + descobertas
    figuras: list[Figura] = []
    detalhes: dict = {
        "execucoes": escala.execucoes_consulta,
        "amostras": {k: str(v) for k, v in amostras.items()},
        "puladas": puladas,
        "por_consulta": {},
        "inicio": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    for nota in puladas:
        log(f"  consultas: pulada — {nota}")
    for consulta in consultas:
        try:
            primeira = _executar(consulta)
            n = escala.execucoes_consulta if primeira < LIMITE_LENTA_S else 3
            tempos = [_executar(consulta) for _ in range(n)]
        except Exception as exc:  # noqa: BLE001 - a broken query is a result, not a crash
            detalhes["por_consulta"][consulta.nome] = {"erro": f"{type(exc).__name__}: {exc}"}
            figuras.append(
                Figura(
                    "consultas",
                    consulta.nome,
                    None,
                    "ms",
                    f"p95 ≤ {consulta.alvo_ms:.0f} ms",
                    False,
                    f"erro: {type(exc).__name__}: {str(exc)[:200]}",
                )
            )
            log(f"  consultas: {consulta.nome}: ERRO {type(exc).__name__}: {exc}")
            continue
        p50 = percentil(tempos, 50) * 1000
        p95 = percentil(tempos, 95) * 1000
        ok = p95 <= consulta.alvo_ms
        info = {
            "pagina": consulta.pagina,
            "primeira_ms": round(primeira * 1000, 1),
            "p50_ms": round(p50, 1),
            "p95_ms": round(p95, 1),
            "max_ms": round(max(tempos) * 1000, 1),
            "execucoes": n,
        }
        if not ok:
            with capturar_sql(engine) as captura:
                _executar(consulta)
            lenta = captura.mais_lenta()
            if lenta is not None:
                info["sql_mais_lenta_ms"] = round(lenta.segundos * 1000, 1)
                info["sql"] = lenta.sql
                info["explain"] = explicar(engine, lenta)
        detalhes["por_consulta"][consulta.nome] = info
        log(f"  consultas: {consulta.nome}: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
        figuras.append(
            Figura(
                "consultas",
                consulta.nome,
                p95,
                "ms (p95)",
                f"p95 ≤ {consulta.alvo_ms:.0f} ms",
                ok,
                f"p50 {p50:.1f} ms; {n} execuções após 1 de aquecimento ({primeira * 1000:.0f} ms)"
                + (
                    ""
                    if n >= 20
                    else f"; só {n} execuções: a 1ª levou mais de {LIMITE_LENTA_S:.0f} s"
                ),
                extra={"p50_ms": round(p50, 1), "pagina": consulta.pagina},
            )
        )
    return figuras, detalhes
