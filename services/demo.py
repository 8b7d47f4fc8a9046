"""Demo mode: a synthetic Hotmart account served by the sandbox and mirrored through the real
client, so a new user sees a working product before having credentials."""

from __future__ import annotations

import json
import logging
import secrets
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session
from starlette.responses import JSONResponse

from db.uow import UnidadeDeTrabalho
from services import config, jobs, webhook_hotmart
from services.demo_data import Dataset, gerar_dataset
from services.hotmart_conexao import cliente_configurado, sincronizar
from services.hotmart_sync import Sincronizacao
from services.sandbox import hotmart as sandbox
from services.sandbox import hotmart_webhooks as postbacks
from services.sandbox.server import servir

_log = logging.getLogger(__name__)
CHAVE_PARAMETROS = "demo_parametros"  # internal row of configuracoes (not a credential)
ALUNOS_PADRAO = 500
CAMINHO_MONTAGEM = "/sandbox/hotmart"


# Domain tables erased with the demo (users, settings, audit and jobs stay).
TABELAS_DEMO = (
    "status_pendentes",
    "consentimentos",
    "chatwoot_contatos",
    "progresso_aulas",
    "alunos_tags",
    "logs_disparo",
    "filas_disparo",
    "regras_automacao",
    "templates",
    "matriculas",
    "transacoes",
    "carrinhos_abandonados",
    "aulas",
    "modulos",
    "ofertas",
    "produtos",
    "alunos",
    "chatwoot_tags_renomeadas",
    "tags",
    "eventos_webhook",
)


def parametros(session: Session) -> dict[str, Any] | None:
    """The stored demo parameters (alunos, seed, agora_ms), or None when no demo is loaded."""
    valor = session.execute(
        text("SELECT valor FROM configuracoes WHERE chave = :c"), {"c": CHAVE_PARAMETROS}
    ).scalar()
    return json.loads(valor) if valor else None


def ativo(session: Session) -> bool:
    """True while demo data is present (every page shows the banner)."""
    return parametros(session) is not None


def banco_vazio(session: Session) -> bool:
    """No product and no student: the embedded first start loads the demo."""
    return not session.execute(
        text("SELECT EXISTS (SELECT 1 FROM produtos) OR EXISTS (SELECT 1 FROM alunos)")
    ).scalar()


@lru_cache(maxsize=2)
def _dataset(alunos: int, seed: int, agora_ms: int) -> Dataset:
    return gerar_dataset(alunos=alunos, seed=seed, agora=agora_ms)


def _app_sandbox(alunos: int, seed: int, agora_ms: int):
    return sandbox.criar_app(
        _dataset(alunos, seed, agora_ms),
        client_id=sandbox.DEMO_CLIENT_ID,
        client_secret=sandbox.DEMO_CLIENT_SECRET,
    )


class SandboxMontado:
    """ASGI app for ``/sandbox/hotmart`` in the main server: the stored demo's data set, or 404."""

    def __init__(self) -> None:
        self._app = None
        self._chave: tuple | None = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        from starlette.concurrency import run_in_threadpool

        app = await run_in_threadpool(self._atual)
        if app is None:
            resposta = JSONResponse(
                {"error": "not_found", "error_description": "demo inativo"}, 404
            )
            await resposta(scope, receive, send)
            return
        await app(scope, receive, send)

    def _atual(self):
        with UnidadeDeTrabalho() as uow:
            p = parametros(uow.session)
        if p is None:
            return None
        chave = (p["alunos"], p["seed"], p["agora_ms"])
        if chave != self._chave:
            self._app, self._chave = _app_sandbox(*chave), chave
        return self._app


def carregar(
    execucao: jobs.ExecucaoJob,
    *,
    alunos: int = ALUNOS_PADRAO,
    seed: int = 42,
    url_app: str | None = None,
) -> dict[str, Any]:
    """Generate the data set, serve it on loopback, point the Hotmart settings at it, sync
    through the real client, then deliver the postbacks only webhooks carry (boleto links,
    PIX codes, abandoned carts). ``url_app``: where the app serves the mounted sandbox, so
    later syncs from the sidebar reach it."""
    if alunos < 1 or alunos > 1_000_000:
        raise ValueError("O número de alunos da demonstração vai de 1 a 1.000.000.")
    agora_ms = int(datetime.now(UTC).timestamp() * 1000)
    execucao.progresso(1, "Gerando dados de demonstração")
    ds = _dataset(alunos, seed, agora_ms)
    hottok = secrets.token_urlsafe(24)
    with servir(_app_sandbox(alunos, seed, agora_ms)) as url:
        with UnidadeDeTrabalho() as uow:
            s = uow.session
            s.execute(
                text(
                    "INSERT INTO configuracoes (chave, valor, descricao) VALUES (:c, :v, :d) "
                    "ON CONFLICT (chave) DO UPDATE "
                    "SET valor = EXCLUDED.valor, atualizado_em = now()"
                ),
                {
                    "c": CHAVE_PARAMETROS,
                    "d": "Parâmetros da demonstração",
                    "v": json.dumps({"alunos": alunos, "seed": seed, "agora_ms": agora_ms}),
                },
            )
            config.definir_varios(
                s,
                {
                    "hotmart_client_id": sandbox.DEMO_CLIENT_ID,
                    "hotmart_client_secret": sandbox.DEMO_CLIENT_SECRET,
                    "hotmart_api_base": url,
                    "hotmart_auth_url": url + sandbox.CAMINHO_TOKEN,
                    "hotmart_hottok": hottok,
                },
                usuario="demo",
            )
            uow.commit()
        execucao.progresso(3, "Catálogo")
        with UnidadeDeTrabalho() as uow:
            cliente = cliente_configurado(uow.session)
        with cliente:
            Sincronizacao(cliente).sincronizar_catalogo()
        with UnidadeDeTrabalho() as uow:
            # As a CS user would: Club subdomains and monitoring switched on.
            for pid, subdominio in ds.subdominios.items():
                uow.session.execute(
                    text(
                        "UPDATE produtos SET hotmart_subdomain = :s, ativo_monitoramento = true "
                        "WHERE hotmart_product_id = :p"
                    ),
                    {"s": subdominio, "p": pid},
                )
            uow.commit()
        resultado = sincronizar(execucao, base=5, escala=0.85)
    execucao.progresso(92, "Postbacks de boletos, PIX e carrinhos")
    resultado["postbacks"] = _entregar_postbacks(ds, hottok)
    if url_app:
        from services.demo_whatsapp import configurar_whatsapp_e_chatwoot

        resultado.update(configurar_whatsapp_e_chatwoot(execucao, url_app))
        with UnidadeDeTrabalho() as uow:
            base = url_app.rstrip("/") + CAMINHO_MONTAGEM
            config.definir_varios(
                uow.session,
                {
                    "hotmart_api_base": base,
                    "hotmart_auth_url": base + sandbox.CAMINHO_TOKEN,
                },
                usuario="demo",
            )
            uow.commit()
    return resultado


def executar(
    *,
    iniciado_por: str | None,
    alunos: int = ALUNOS_PADRAO,
    seed: int = 42,
    url_app: str | None = None,
    observador=None,
) -> jobs.Job:
    """Load the demo as the 'demo' job."""
    return jobs.executar(
        "demo",
        lambda execucao: carregar(execucao, alunos=alunos, seed=seed, url_app=url_app),
        iniciado_por=iniciado_por,
        parametros={"alunos": alunos, "seed": seed},
        observador=observador,
    )


def em_segundo_plano(*, iniciado_por: str | None, url_app: str | None, alunos: int = ALUNOS_PADRAO):
    """Start the demo load in a worker thread (app start-up, the admin's button)."""
    return jobs.em_segundo_plano(
        "demo", lambda: executar(iniciado_por=iniciado_por, alunos=alunos, url_app=url_app)
    )


def deve_carregar_na_partida() -> bool:
    """Empty mirror and no demo loaded yet (a failed load is retried; an erased demo is not)."""
    with UnidadeDeTrabalho() as uow:
        if not banco_vazio(uow.session):
            return False
    ultimo = jobs.ultimo("demo")
    return ultimo is None or ultimo.status in ("erro", "interrompido")


def _entregar_postbacks(ds: Dataset, hottok: str) -> int:
    """Pending boleto/PIX sales and abandoned carts through the webhook's own code path."""
    eventos = [
        postbacks.evento_compra(ds, v["purchase"]["transaction"])
        for v in ds.vendas
        if v["purchase"]["status"] in ("PRINTED_BILLET", "WAITING_PAYMENT")
    ]
    expiradas = [v for v in ds.vendas if v["purchase"]["status"] == "EXPIRED"][:20]
    eventos += [
        postbacks.evento_carrinho_abandonado(ds, v["buyer"]["email"], v["product"]["id"])
        for v in expiradas
    ]
    aceitos = 0
    for evento in eventos:
        codigo, _ = webhook_hotmart.processar(json.dumps(evento).encode(), hottok)
        aceitos += codigo == 200
    return aceitos


def apagar(session: Session, *, usuario: str | None) -> None:
    """Erase the demo data and its sandbox settings (one transaction)."""
    session.execute(text(f"TRUNCATE {', '.join(TABELAS_DEMO)} RESTART IDENTITY CASCADE"))
    session.execute(
        text("DELETE FROM configuracoes WHERE chave = ANY(:c)"),
        {
            "c": [
                CHAVE_PARAMETROS,
                "hotmart_client_id",
                "hotmart_client_secret",
                "hotmart_api_base",
                "hotmart_auth_url",
                "hotmart_hottok",
            ]
        },
    )
    from services.auditoria import registrar

    registrar(session, usuario=usuario, acao="demo_apagada", entidade="demo")
