"""WhatsApp on our side: the client from Configurações, the template mirror, sending a template."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.orm import Session

from services import config, consentimento, whatsapp_status
from services.whatsapp_client import WhatsAppClient

PLACEHOLDER = re.compile(r"\{\{\s*([0-9]+|[a-z_][a-z0-9_]*)\s*\}\}")


class WhatsAppNaoConfigurado(RuntimeError):
    """Credentials missing (message in pt-BR)."""


class EnvioRecusado(ValueError):
    """A send refused before calling Meta (message in pt-BR, safe to show)."""


def cliente_configurado(session: Session, **kwargs: Any) -> WhatsAppClient:
    """A client from the stored settings; a clear pt-BR error when they are missing."""
    valores = {
        chave: config.obter(session, chave)
        for chave in ("meta_access_token", "meta_phone_number_id", "meta_waba_id")
    }
    faltando = [config.CHAVES[k].rotulo for k, v in valores.items() if not v]
    if faltando:
        raise WhatsAppNaoConfigurado(
            "Configure na aba Meta WhatsApp de Configurações: " + ", ".join(faltando) + "."
        )
    return WhatsAppClient(
        access_token=valores["meta_access_token"],
        phone_number_id=valores["meta_phone_number_id"],
        waba_id=valores["meta_waba_id"],
        api_base=config.obter(session, "meta_api_base"),
        versao=config.obter(session, "meta_api_versao"),
        **kwargs,
    )


# ---- template mirror -----------------------------------------------------------------------


def _corpo(componentes: list[dict]) -> str:
    return next(
        (c.get("text") or "" for c in componentes if str(c.get("type", "")).upper() == "BODY"), ""
    )


def _placeholders(texto: str) -> list[str]:
    vistos: list[str] = []
    for nome in PLACEHOLDER.findall(texto):
        if nome not in vistos:
            vistos.append(nome)
    return vistos


def linha_template(item: dict) -> dict:
    """A Meta template item → templates row (BODY text and its placeholders)."""
    componentes = item.get("components") or []
    corpo = _corpo(componentes)
    nomes = _placeholders(corpo)
    return {
        "nome_meta": str(item.get("name"))[:255],
        "idioma": str(item.get("language") or "")[:20] or None,
        "conteudo_texto": corpo,
        "status_meta": str(item.get("status") or "")[:50] or None,
        "categoria": (item.get("category") or None),
        "meta_template_id": str(item["id"]) if item.get("id") is not None else None,
        "formato_parametros": item.get("parameter_format") or "POSITIONAL",
        "qtd_parametros": len(nomes),
        "parametros_nomes": json.dumps(nomes),
        "componentes": json.dumps(componentes),
    }


def sincronizar_templates(session: Session, cliente: WhatsAppClient) -> dict[str, int]:
    """Mirror every template of the WABA; a template gone at Meta is marked, never deleted."""
    inicio = datetime.now(UTC)
    linhas = [linha_template(item) for item in cliente.listar_templates()]
    gravados = 0
    if linhas:
        gravados = (
            session.execute(
                text(
                    """
                    INSERT INTO templates AS t (nome_meta, idioma, conteudo_texto, status_meta,
                        categoria, meta_template_id, formato_parametros, qtd_parametros,
                        parametros_nomes, componentes, sincronizado_em, removido_na_meta_em)
                    SELECT x.nome_meta, x.idioma, x.conteudo_texto, x.status_meta, x.categoria,
                           x.meta_template_id, x.formato_parametros, x.qtd_parametros,
                           CAST(x.parametros_nomes AS jsonb), CAST(x.componentes AS jsonb),
                           :agora, NULL
                      FROM jsonb_to_recordset(CAST(:linhas AS jsonb)) AS x(
                           nome_meta text, idioma text, conteudo_texto text, status_meta text,
                           categoria text, meta_template_id text, formato_parametros text,
                           qtd_parametros int, parametros_nomes text, componentes text)
                    ON CONFLICT (nome_meta, idioma) DO UPDATE SET
                        conteudo_texto = EXCLUDED.conteudo_texto,
                        status_meta = EXCLUDED.status_meta,
                        categoria = EXCLUDED.categoria,
                        meta_template_id = EXCLUDED.meta_template_id,
                        formato_parametros = EXCLUDED.formato_parametros,
                        qtd_parametros = EXCLUDED.qtd_parametros,
                        parametros_nomes = EXCLUDED.parametros_nomes,
                        componentes = EXCLUDED.componentes,
                        sincronizado_em = EXCLUDED.sincronizado_em,
                        removido_na_meta_em = NULL
                    """
                ),
                {"linhas": json.dumps(linhas), "agora": inicio},
            ).rowcount
            or 0
        )
    removidos = (
        session.execute(
            text(
                "UPDATE templates SET removido_na_meta_em = :agora "
                "WHERE meta_template_id IS NOT NULL AND removido_na_meta_em IS NULL "
                "AND (sincronizado_em IS NULL OR sincronizado_em < :agora)"
            ),
            {"agora": inicio},
        ).rowcount
        or 0
    )
    return {
        "templates_lidos": len(linhas),
        "templates_gravados": gravados,
        "templates_removidos": removidos,
    }


def atualizar_status_template(
    session: Session, *, meta_id: str | None, nome: str | None, idioma: str | None, status: str
) -> int:
    """message_template_status_update: the new status of a template (by Meta id, else name)."""
    return (
        session.execute(
            text(
                "UPDATE templates SET status_meta = :s WHERE (meta_template_id = :id) "
                "OR (CAST(:id AS text) IS NULL AND nome_meta = :n AND idioma = :i)"
            ),
            {"s": status[:50], "id": meta_id, "n": nome, "i": idioma},
        ).rowcount
        or 0
    )


# ---- sending ----------------------------------------------------------------------------------


def renderizar(corpo: str, parametros: list[str] | dict[str, str]) -> str:
    """The BODY with its placeholders filled: exactly the text the student receives."""
    if isinstance(parametros, dict):
        return PLACEHOLDER.sub(lambda m: str(parametros.get(m.group(1), m.group(0))), corpo)
    return PLACEHOLDER.sub(
        lambda m: (
            str(parametros[int(m.group(1)) - 1])
            if m.group(1).isdigit() and 0 < int(m.group(1)) <= len(parametros)
            else m.group(0)
        ),
        corpo,
    )


@dataclass(frozen=True)
class Enviado:
    """A message accepted by Meta and logged."""

    log_id: int
    wamid: str
    texto: str


def enviar(
    session: Session,
    cliente: WhatsAppClient,
    *,
    aluno_id: UUID,
    template_id: int,
    parametros: list[str],
    fila_id: int | None = None,
    produto_id: UUID | None = None,
) -> Enviado:
    """Check, send through Meta, log (``status_entrega='accepted'``) and apply parked statuses.

    The log's product is the occasion's (``produto_id``, from the queue item), else the
    template's: a generic template sent about a course still counts for that course.

    The caller commits right after: the message is out once Meta accepted it.
    """
    aluno = session.execute(
        text("SELECT id, celular FROM alunos WHERE id = :a"), {"a": aluno_id}
    ).first()
    if aluno is None:
        raise EnvioRecusado("Aluno não encontrado.")
    if not aluno.celular:
        raise EnvioRecusado("O aluno não tem celular cadastrado.")
    if not consentimento.tem_consentimento(session, aluno_id):
        raise EnvioRecusado("O aluno revogou o consentimento para mensagens no WhatsApp.")
    template = session.execute(
        text(
            "SELECT id, nome_meta, idioma, status_meta, conteudo_texto, qtd_parametros, "
            "produto_id, removido_na_meta_em FROM templates WHERE id = :t"
        ),
        {"t": template_id},
    ).first()
    if template is None:
        raise EnvioRecusado("Template não encontrado.")
    if template.status_meta != "APPROVED" or template.removido_na_meta_em is not None:
        raise EnvioRecusado(f"O template {template.nome_meta} não está aprovado na Meta.")
    if (template.qtd_parametros or 0) != len(parametros):
        raise EnvioRecusado(
            f"O template {template.nome_meta} espera {template.qtd_parametros} variáveis; "
            f"foram informadas {len(parametros)}."
        )
    envio = cliente.enviar_template(
        aluno.celular, template.nome_meta, template.idioma or "pt_BR", parametros
    )
    texto_final = renderizar(template.conteudo_texto or "", parametros)
    log_id = session.execute(
        text(
            """
            INSERT INTO logs_disparo (aluno_id, template_id, mensagem_id_whatsapp, status_entrega,
                                      telefone, wa_id, variaveis, texto_renderizado, produto_id,
                                      fila_id)
            VALUES (:a, :t, :w, 'accepted', :tel, :wa, CAST(:v AS jsonb), :txt, :p, :f)
            RETURNING id
            """
        ),
        {
            "a": aluno_id,
            "t": template_id,
            "w": envio.wamid,
            "tel": aluno.celular,
            "wa": envio.wa_id,
            "v": json.dumps(parametros),
            "txt": texto_final,
            "p": produto_id or template.produto_id,
            "f": fila_id,
        },
    ).scalar_one()
    whatsapp_status.aplicar_estacionados(session, envio.wamid)
    return Enviado(log_id, envio.wamid, texto_final)


def executar_sync_templates(*, iniciado_por: str | None, observador=None):
    """Mirror the templates as the 'sync_templates' job."""
    from db.uow import UnidadeDeTrabalho
    from services import jobs

    def funcao(execucao: jobs.ExecucaoJob) -> dict[str, int]:
        execucao.progresso(10, "Templates da Meta")
        with UnidadeDeTrabalho() as uow:
            with cliente_configurado(uow.session) as cliente:
                resultado = sincronizar_templates(uow.session, cliente)
            uow.commit()
        return resultado

    return jobs.executar("sync_templates", funcao, iniciado_por=iniciado_por, observador=observador)
