"""Demo mode, WhatsApp and Chatwoot part: sandboxes mounted in the app and example sends."""

from __future__ import annotations

import os
import secrets
import time
from typing import Any

import httpx
from sqlalchemy import text
from starlette.responses import JSONResponse

from db.uow import UnidadeDeTrabalho
from services import config, demo, jobs, regras, whatsapp
from services.sandbox import chatwoot as chatwoot_sandbox
from services.sandbox import meta as meta_sandbox
from services.sandbox.meta_webhooks import CENARIOS

CAMINHO_META = "/sandbox/meta"
CAMINHO_CHATWOOT = "/sandbox/chatwoot"
MENSAGENS_DEMO = 12


class SandboxFixo:
    """ASGI app for the Meta or Chatwoot sandbox mounted in the app: one instance for the life
    of the server (its templates, sends and contacts are state), 404 while no demo is loaded."""

    def __init__(self, fabrica) -> None:
        self._fabrica = fabrica
        self.app = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        from starlette.concurrency import run_in_threadpool

        def _ativo() -> bool:
            with UnidadeDeTrabalho() as uow:
                return demo.ativo(uow.session)

        if not await run_in_threadpool(_ativo):
            resposta = JSONResponse({"error": {"message": "demo inativo", "code": 404}}, 404)
            await resposta(scope, receive, send)
            return
        if self.app is None:
            self.app = self._fabrica()
        await self.app(scope, receive, send)


_URL_APP = {"url": "http://127.0.0.1:8501"}


def definir_url_app(url: str) -> None:
    """Where the app serves its routes (app.py sets it from the configured port)."""
    _URL_APP["url"] = url.rstrip("/")


def _cenarios_demo() -> dict[str, float] | None:
    """TERCEIRIZA_DEMO_META_CENARIO=lido (or another scenario name) makes every demo send follow
    that delivery scenario, for a walkthrough or the browser test; unset keeps the seeded mix."""
    cenario = os.environ.get("TERCEIRIZA_DEMO_META_CENARIO", "").strip()
    return {cenario: 1.0} if cenario in CENARIOS else None


def _sandbox_meta():
    return meta_sandbox.criar_app(
        access_token=meta_sandbox.DEMO_ACCESS_TOKEN,
        app_secret=meta_sandbox.DEMO_APP_SECRET,
        phone_number_id=meta_sandbox.DEMO_PHONE_NUMBER_ID,
        waba_id=meta_sandbox.DEMO_WABA_ID,
        callback_url=_URL_APP["url"] + "/webhooks/meta",
        atraso_status_s=1.5,  # slow enough to watch a message move to 'read' on Logs
        cenarios=_cenarios_demo(),
    )


def _sandbox_chatwoot():
    return chatwoot_sandbox.criar_app(
        api_token=chatwoot_sandbox.DEMO_API_TOKEN, account_id=chatwoot_sandbox.DEMO_ACCOUNT_ID
    )


SANDBOX_META = SandboxFixo(_sandbox_meta)
SANDBOX_CHATWOOT = SandboxFixo(_sandbox_chatwoot)


def _aguardar_app(url_app: str, limite_s: float = 60.0) -> bool:
    """The app's own routes answer (the demo's WhatsApp part needs its webhook)."""
    fim = time.monotonic() + limite_s
    while time.monotonic() < fim:
        try:
            if httpx.get(url_app.rstrip("/") + "/healthz", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


def configurar_whatsapp_e_chatwoot(execucao: jobs.ExecucaoJob, url_app: str) -> dict[str, Any]:
    """Point Meta and Chatwoot at the sandboxes mounted in the app, mirror the templates, send a
    few messages to demo students (their statuses come back by signed webhook) and sync tags."""
    base = url_app.rstrip("/")
    if not _aguardar_app(base):
        return {"whatsapp": "app fora do ar: rode make run e use Sincronizar"}
    with UnidadeDeTrabalho() as uow:
        config.definir_varios(
            uow.session,
            {
                "meta_access_token": meta_sandbox.DEMO_ACCESS_TOKEN,
                "meta_app_secret": meta_sandbox.DEMO_APP_SECRET,
                "meta_verify_token": secrets.token_urlsafe(16),
                "meta_phone_number_id": meta_sandbox.DEMO_PHONE_NUMBER_ID,
                "meta_waba_id": meta_sandbox.DEMO_WABA_ID,
                "meta_api_base": base + CAMINHO_META,
                "chatwoot_base_url": base + CAMINHO_CHATWOOT,
                "chatwoot_api_token": chatwoot_sandbox.DEMO_API_TOKEN,
                "chatwoot_account_id": str(chatwoot_sandbox.DEMO_ACCOUNT_ID),
            },
            usuario="demo",
        )
        uow.commit()
    execucao.progresso(94, "Templates do WhatsApp")
    resultado: dict[str, Any] = {}
    with UnidadeDeTrabalho() as uow:
        with whatsapp.cliente_configurado(uow.session) as cliente:
            resultado.update(whatsapp.sincronizar_templates(uow.session, cliente))
        uow.commit()
    execucao.progresso(96, "Mensagens de exemplo")
    resultado["mensagens_demo"] = _enviar_exemplos()
    execucao.progresso(98, "Regras de exemplo e sugestões")
    resultado["regras_demo"] = _criar_regras_exemplo()
    resultado["sugestoes_demo"] = regras.avaliar_todas()["inseridos"]
    return resultado


# Example rules of the demo (SUGERIR: their items wait in the approval queue). Each maps the
# demo template's placeholders in order; a template missing from the catalogue skips its rule.
REGRAS_DEMO = (
    {
        "nome": "Lembrete de boleto pendente (demonstração)",
        "gatilho": "boleto_pendente",
        "condicao": {"horas": 12, "max_horas": 240},
        "template": "boleto_pendente",
        "campos": ("primeiro_nome", "produto", "valor", "link_boleto"),
    },
    {
        "nome": "Lembrete de PIX pendente (demonstração)",
        "gatilho": "pix_pendente",
        "condicao": {"horas": 1, "max_horas": 240},
        "template": "pix_pendente",
        "campos": ("primeiro_nome", "produto", "codigo_pix"),
    },
)


def _criar_regras_exemplo() -> int:
    """Create the example rules whose templates exist (validated like any rule)."""
    criadas = 0
    for modelo in REGRAS_DEMO:
        with UnidadeDeTrabalho() as uow:
            template = uow.session.execute(
                text(
                    "SELECT id, qtd_parametros FROM templates WHERE nome_meta = :n "
                    "AND status_meta = 'APPROVED' AND removido_na_meta_em IS NULL LIMIT 1"
                ),
                {"n": modelo["template"]},
            ).first()
            if template is None:
                continue
            campos = modelo["campos"][: template.qtd_parametros or 0]
            try:
                regras.salvar(
                    uow.session,
                    nome=modelo["nome"],
                    gatilho=modelo["gatilho"],
                    condicao=modelo["condicao"],
                    template_id=template.id,
                    mapeamento={
                        str(i): {"campo": c, "padrao": ""} for i, c in enumerate(campos, 1)
                    },
                    usuario="demo",
                )
            except regras.CondicaoInvalida:
                continue
            uow.commit()
            criadas += 1
    return criadas


def _enviar_exemplos() -> int:
    """Welcome messages to some demo students, through the real client and the sandbox."""
    enviados = 0
    with UnidadeDeTrabalho() as uow:
        s = uow.session
        template = s.execute(
            text(
                "SELECT id, qtd_parametros FROM templates WHERE status_meta = 'APPROVED' "
                "AND removido_na_meta_em IS NULL ORDER BY (nome_meta = 'boas_vindas_acesso') DESC, "
                "nome_meta LIMIT 1"
            )
        ).first()
        alunos = s.execute(
            text(
                "SELECT a.id, split_part(a.nome, ' ', 1) AS primeiro, p.nome AS produto "
                "FROM alunos a JOIN matriculas m ON m.aluno_id = a.id "
                "JOIN produtos p ON p.id = m.produto_id "
                "WHERE a.celular IS NOT NULL AND m.status_acesso = 'ATIVO' "
                "ORDER BY m.data_inicio DESC NULLS LAST LIMIT :n"
            ),
            {"n": MENSAGENS_DEMO},
        ).all()
        if template is None:
            return 0
        with whatsapp.cliente_configurado(s) as cliente:
            for aluno in alunos:
                valores = [
                    aluno.primeiro,
                    aluno.produto,
                    "https://hotmart.com/club",
                    "7 dias",
                    "R$ 97,00",
                ][: template.qtd_parametros or 0]
                whatsapp.enviar(
                    s, cliente, aluno_id=aluno.id, template_id=template.id, parametros=valores
                )
                s.commit()
                enviados += 1
    return enviados
