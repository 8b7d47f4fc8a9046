"""Webhooks over HTTP against ``streamlit run app.py``: Meta statuses and Hotmart postbacks.

32 senders, each on its own keep-alive connection, send one event per request and wait for the
answer before the next (closed loop, as providers do). The sender is a minimal HTTP/1.1 client
on asyncio streams: on this 2-core machine ``httpx.AsyncClient`` itself tops out near 600
requests/s at 32 in flight (shared/reference/streamlit-stack.md), which would measure the client,
not the app. Bodies and signatures are prepared before the clock starts (that work is the
provider's). Afterwards every event is counted in ``eventos_webhook`` (processed, no error) and
its effect checked: ``logs_disparo`` status columns for Meta, the transaction's status for Hotmart.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from sqlalchemy import Engine, text

from bench.app import app_em_execucao
from bench.escalas import Escala
from bench.medidas import Figura, percentil

CONCORRENCIA = 32
APP_SECRET = "bench-meta-app-secret-0001"
HOTTOK = "bench-hottok-0001"


@dataclass
class Resultado:
    segundos: float = 0.0
    codigos: dict[int, int] = field(default_factory=dict)
    status_corpo: dict[str, int] = field(default_factory=dict)
    latencias: list[float] = field(default_factory=list)
    erros_conexao: int = 0


async def _ler_resposta(leitor: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    cabecalho = await leitor.readuntil(b"\r\n\r\n")
    linhas = cabecalho.decode("latin-1").split("\r\n")
    codigo = int(linhas[0].split()[1])
    campos = {}
    for linha in linhas[1:]:
        if ":" in linha:
            k, v = linha.split(":", 1)
            campos[k.strip().lower()] = v.strip().lower()
    if "content-length" in campos:
        corpo = await leitor.readexactly(int(campos["content-length"]))
    elif campos.get("transfer-encoding") == "chunked":
        partes = []
        while True:
            tamanho = int((await leitor.readuntil(b"\r\n")).strip(), 16)
            if tamanho == 0:
                await leitor.readuntil(b"\r\n")
                break
            partes.append(await leitor.readexactly(tamanho))
            await leitor.readexactly(2)
        corpo = b"".join(partes)
    else:
        corpo = b""
    return codigo, corpo, campos.get("connection") == "close"


async def _enviar(host: str, porta: int, pedidos: list[bytes], concorrencia: int) -> Resultado:
    resultado = Resultado()
    proximo = iter(range(len(pedidos)))

    async def remetente() -> None:
        leitor = escritor = None
        for i in proximo:
            for tentativa in range(3):
                try:
                    if escritor is None:
                        leitor, escritor = await asyncio.open_connection(host, porta)
                    inicio = time.perf_counter()
                    escritor.write(pedidos[i])
                    codigo, corpo, fechar = await _ler_resposta(leitor)
                    resultado.latencias.append(time.perf_counter() - inicio)
                    resultado.codigos[codigo] = resultado.codigos.get(codigo, 0) + 1
                    try:
                        status = str(json.loads(corpo).get("status"))
                    except ValueError:
                        status = "?"
                    resultado.status_corpo[status] = resultado.status_corpo.get(status, 0) + 1
                    if fechar:
                        escritor.close()
                        escritor = None
                    break
                except (OSError, asyncio.IncompleteReadError):
                    resultado.erros_conexao += 1
                    if escritor is not None:
                        escritor.close()
                    escritor = None
                    if tentativa == 2:
                        raise
        if escritor is not None:
            escritor.close()

    inicio = time.perf_counter()
    await asyncio.gather(*(remetente() for _ in range(concorrencia)))
    resultado.segundos = time.perf_counter() - inicio
    return resultado


def _pedido(porta: int, caminho: str, corpo: bytes, cabecalhos: dict[str, str]) -> bytes:
    extra = "".join(f"{k}: {v}\r\n" for k, v in cabecalhos.items())
    return (
        f"POST {caminho} HTTP/1.1\r\nHost: 127.0.0.1:{porta}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(corpo)}\r\n{extra}\r\n"
    ).encode() + corpo


def _configurar() -> None:
    from db.uow import UnidadeDeTrabalho
    from services import config

    with UnidadeDeTrabalho() as uow:
        config.definir_varios(
            uow.session,
            {"meta_app_secret": APP_SECRET, "hotmart_hottok": HOTTOK},
            usuario="bench",
        )
        uow.commit()


def _eventos_meta(engine: Engine, n: int, porta: int, pular: int = 0):
    from services.sandbox.meta_webhooks import assinar, corpo_status, serializar

    with engine.connect() as conn:
        linhas = conn.execute(
            text(
                "SELECT mensagem_id_whatsapp, telefone FROM logs_disparo "
                "WHERE status_entrega IN ('sent', 'accepted') AND entregue_em IS NULL "
                "AND lido_em IS NULL AND mensagem_id_whatsapp IS NOT NULL ORDER BY id "
                "LIMIT :n OFFSET :o"
            ),
            {"n": n, "o": pular},
        ).all()
    agora = int(time.time())
    pedidos, hashes, entregues, lidos = [], [], [], []
    for k, (wamid, telefone) in enumerate(linhas):
        status = "delivered" if k % 2 == 0 else "read"
        corpo = serializar(
            corpo_status(
                waba_id="200000000000001",
                phone_number_id="100000000000001",
                telefone_exibicao="5511999990000",
                wamid=wamid,
                status=status,
                timestamp=agora,
                recipient_id=telefone or "5511999999999",
            )
        )
        pedidos.append(
            _pedido(
                porta, "/webhooks/meta", corpo, {"X-Hub-Signature-256": assinar(corpo, APP_SECRET)}
            )
        )
        hashes.append(hashlib.sha256(corpo).hexdigest())
        (entregues if status == "delivered" else lidos).append(wamid)
    return pedidos, hashes, entregues, lidos


def _eventos_hotmart(engine: Engine, n: int, porta: int, pular: int = 0):
    with engine.connect() as conn:
        linhas = conn.execute(
            text(
                """
                SELECT t.id, t.valor_pago, t.data_compra, t.tipo_pagamento, t.link_boleto,
                       t.codigo_pix, a.email, a.nome, a.cpf, a.celular, p.hotmart_product_id,
                       p.nome AS produto, o.hotmart_offer_code, o.nome AS oferta
                  FROM transacoes t JOIN alunos a ON a.id = t.aluno_id
                  JOIN produtos p ON p.id = t.produto_id
                  LEFT JOIN ofertas o ON o.id = t.oferta_id
                 WHERE t.status = 'WAITING_PAYMENT' ORDER BY t.id LIMIT :n OFFSET :o
                """
            ),
            {"n": n, "o": pular},
        ).all()
    agora_ms = int(time.time() * 1000)
    pedidos, ids, transacoes = [], [], []
    for r in linhas:
        ident = str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench:PURCHASE_APPROVED:{r.id}"))
        celular = r.celular or ""
        evento = {
            "id": ident,
            "creation_date": agora_ms,
            "event": "PURCHASE_APPROVED",
            "version": "2.0.0",
            "data": {
                "product": {"id": r.hotmart_product_id, "name": r.produto},
                "buyer": {
                    "email": r.email,
                    "name": r.nome,
                    "document": r.cpf,
                    "document_type": "CPF",
                    "checkout_phone_code": celular[2:4],
                    "checkout_phone": celular[4:],
                },
                "purchase": {
                    "transaction": r.id,
                    "status": "APPROVED",
                    "order_date": int(r.data_compra.timestamp() * 1000),
                    "approved_date": agora_ms,
                    "price": {"value": float(r.valor_pago), "currency_value": "BRL"},
                    "offer": {"code": r.hotmart_offer_code, "name": r.oferta},
                    "payment": {"type": r.tipo_pagamento or "BILLET"},
                },
            },
        }
        corpo = json.dumps(evento).encode()
        pedidos.append(_pedido(porta, "/webhooks/hotmart", corpo, {"X-HOTMART-HOTTOK": HOTTOK}))
        ids.append(ident)
        transacoes.append(r.id)
    return pedidos, ids, transacoes


def _cpu(pid: int) -> float:
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def _rodada(pedidos: list[bytes], porta: int, pid_app: int) -> tuple[Resultado, dict]:
    cpu0 = (time.process_time(), _cpu(pid_app))
    resultado = asyncio.run(_enviar("127.0.0.1", porta, pedidos, CONCORRENCIA))
    cpu1 = (time.process_time(), _cpu(pid_app))
    return resultado, {
        "cpu_remetentes_s": round(cpu1[0] - cpu0[0], 1),
        "cpu_app_s": round(cpu1[1] - cpu0[1], 1),
    }


def _resumo(r: Resultado, n: int, cpu: dict) -> dict:
    return {
        "enviados": n,
        "segundos": round(r.segundos, 2),
        "por_segundo": round(n / r.segundos, 1) if r.segundos else None,
        "codigos_http": r.codigos,
        "status_resposta": r.status_corpo,
        "latencia_p50_ms": round(percentil(r.latencias, 50) * 1000, 1) if r.latencias else None,
        "latencia_p95_ms": round(percentil(r.latencias, 95) * 1000, 1) if r.latencias else None,
        "reconexoes": r.erros_conexao,
        **cpu,
    }


def _direto(pedidos: list[bytes], processar) -> tuple[float, int]:
    """The route's handler called straight in this process, one at a time (no HTTP, no
    server): how much of the per-event cost is the handler's own."""
    ok = 0
    inicio = time.perf_counter()
    for pedido in pedidos:
        cabecalho, corpo = pedido.split(b"\r\n\r\n", 1)
        campos = dict(
            linha.split(": ", 1) for linha in cabecalho.decode().split("\r\n")[1:] if ": " in linha
        )
        assinatura = campos.get("X-Hub-Signature-256") or campos.get("X-HOTMART-HOTTOK")
        codigo, _ = processar(corpo, assinatura)
        ok += codigo == 200
    return time.perf_counter() - inicio, ok


def medir(engine: Engine, escala: Escala, diretorio: Path, log=print) -> tuple[list[Figura], dict]:
    from services import webhook_hotmart, webhook_meta

    _configurar()
    detalhes: dict = {"remetentes": CONCORRENCIA}
    figuras: list[Figura] = []
    with app_em_execucao(diretorio, "app-webhooks.log") as app:
        # ---- Meta statuses ---------------------------------------------------------------
        pedidos, hashes, entregues, lidos = _eventos_meta(engine, escala.webhooks_meta, app.porta)
        n = len(pedidos)
        log(f"  webhooks: {n} status da Meta, {CONCORRENCIA} remetentes…")
        r, cpu = _rodada(pedidos, app.porta, app.pid)
        with engine.connect() as conn:
            eventos = conn.execute(
                text(
                    "SELECT count(*) FILTER (WHERE processado_em IS NOT NULL AND erro IS NULL), "
                    "count(*) FROM eventos_webhook WHERE origem = 'meta' AND evento_id = ANY(:h)"
                ),
                {"h": hashes},
            ).one()
            aplicados = conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM logs_disparo "
                    "         WHERE mensagem_id_whatsapp = ANY(:e) "
                    "           AND entregue_em IS NOT NULL AND status_entrega = 'delivered') + "
                    "       (SELECT count(*) FROM logs_disparo "
                    "         WHERE mensagem_id_whatsapp = ANY(:l) "
                    "           AND lido_em IS NOT NULL AND status_entrega = 'read')"
                ),
                {"e": entregues, "l": lidos},
            ).scalar()
        nenhum_perdido = eventos[0] == n and aplicados == n and r.codigos.get(200, 0) == n
        detalhes["meta"] = {
            **_resumo(r, n, cpu),
            "eventos_processados": eventos[0],
            "eventos_gravados": eventos[1],
            "status_aplicados": aplicados,
            "nenhum_perdido": nenhum_perdido,
        }
        taxa = n / r.segundos if r.segundos else None
        figuras.append(
            Figura(
                "webhooks",
                "Status da Meta (X-Hub-Signature-256), 32 remetentes",
                taxa,
                "status/s",
                "≥ 1.000/s",
                taxa is not None and taxa >= 1000,
                f"p50 {detalhes['meta']['latencia_p50_ms']} ms, p95 "
                f"{detalhes['meta']['latencia_p95_ms']} ms; CPU do app {cpu['cpu_app_s']} s em "
                f"{r.segundos:.1f} s",
            )
        )
        figuras.append(
            Figura(
                "webhooks",
                "Status da Meta: nenhum perdido (gravados, processados e aplicados)",
                float(aplicados),
                f"de {n}",
                "todos",
                nenhum_perdido,
                f"eventos_webhook processados {eventos[0]}/{n}; logs_disparo aplicados "
                f"{aplicados}/{n}; HTTP {r.codigos}",
            )
        )
        # ---- the handler alone, for comparison ---------------------------------------------
        # The candidates' query already leaves out the messages the HTTP run just updated.
        extra, *_ = _eventos_meta(engine, max(100, n // 10), app.porta)
        segundos, ok_d = _direto(extra, webhook_meta.processar)
        detalhes["meta_direto"] = {"eventos": len(extra), "ok": ok_d, "segundos": segundos}
        figuras.append(
            Figura(
                "webhooks",
                "Status da Meta: webhook_meta.processar() chamado direto, 1 thread, sem HTTP",
                len(extra) / segundos if extra and segundos else None,
                "status/s",
                "—",
                None,
                f"{ok_d}/{len(extra)} com 200; o custo do próprio tratamento, sem servidor",
            )
        )
        # ---- Hotmart postbacks -------------------------------------------------------------
        pedidos, ids, transacoes = _eventos_hotmart(engine, escala.webhooks_hotmart, app.porta)
        n = len(pedidos)
        log(f"  webhooks: {n} postbacks da Hotmart (boleto/PIX pagos), {CONCORRENCIA} remetentes…")
        r, cpu = _rodada(pedidos, app.porta, app.pid)
        with engine.connect() as conn:
            eventos = conn.execute(
                text(
                    "SELECT count(*) FILTER (WHERE processado_em IS NOT NULL AND erro IS NULL), "
                    "count(*) FROM eventos_webhook WHERE origem = 'hotmart' AND evento_id = ANY(:i)"
                ),
                {"i": ids},
            ).one()
            aplicados = conn.execute(
                text("SELECT count(*) FROM transacoes WHERE id = ANY(:t) AND status = 'APPROVED'"),
                {"t": transacoes},
            ).scalar()
        nenhum_perdido_h = eventos[0] == n and aplicados == n and r.codigos.get(200, 0) == n
        detalhes["hotmart"] = {
            **_resumo(r, n, cpu),
            "eventos_processados": eventos[0],
            "eventos_gravados": eventos[1],
            "transacoes_aprovadas": aplicados,
            "nenhum_perdido": nenhum_perdido_h,
        }
        taxa = n / r.segundos if r.segundos else None
        figuras.append(
            Figura(
                "webhooks",
                "Postbacks da Hotmart (PURCHASE_APPROVED), 32 remetentes",
                taxa,
                "eventos/s",
                "≥ 1.000/s",
                taxa is not None and taxa >= 1000,
                f"p50 {detalhes['hotmart']['latencia_p50_ms']} ms, p95 "
                f"{detalhes['hotmart']['latencia_p95_ms']} ms; CPU do app {cpu['cpu_app_s']} s em "
                f"{r.segundos:.1f} s",
            )
        )
        figuras.append(
            Figura(
                "webhooks",
                "Postbacks da Hotmart: nenhum perdido (processados e aplicados)",
                float(aplicados),
                f"de {n}",
                "todos",
                nenhum_perdido_h,
                f"eventos_webhook processados {eventos[0]}/{n}; transações APPROVED "
                f"{aplicados}/{n}; HTTP {r.codigos}",
            )
        )
        extra, *_ = _eventos_hotmart(engine, max(20, n // 10), app.porta)
        segundos, ok_d = _direto(extra, webhook_hotmart.processar)
        detalhes["hotmart_direto"] = {"eventos": len(extra), "ok": ok_d, "segundos": segundos}
        figuras.append(
            Figura(
                "webhooks",
                "Postbacks da Hotmart: webhook_hotmart.processar() direto, 1 thread, sem HTTP",
                len(extra) / segundos if extra and segundos else None,
                "eventos/s",
                "—",
                None,
                f"{ok_d}/{len(extra)} com 200; o custo do próprio tratamento, sem servidor",
            )
        )
    detalhes["nenhum_perdido"] = nenhum_perdido and nenhum_perdido_h
    return figuras, detalhes
