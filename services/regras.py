"""Automation rules: save/activate (audited), audience preview, evaluation into the queue."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session

from services import config
from services.auditoria import registrar
from services.consentimento import SQL_CONSENTIMENTO_ATUAL
from services.regras_condicoes import (
    GATILHOS,
    MODOS,
    CondicaoInvalida,
    texto_com_controle,
    validar_condicao,
    validar_mapeamento,
)
from services.regras_sql import (
    COLUNAS,
    EXPRESSOES_CAMPO,
    GATILHOS_SQL,
    SP,
    parametros_gatilho,
    sql_filtros,
)

_log = logging.getLogger(__name__)
FUSO = ZoneInfo("America/Sao_Paulo")
# A run queues at most this many new items per rule; the rest of the audience is queued by the
# next runs (what is queued is deduplicated). More than a team can approve in a day, and it keeps
# a rule whose audience is the whole base from writing 100,000 rows in one transaction.
MAX_NOVOS_POR_EXECUCAO = 5_000


@dataclass(frozen=True)
class Regra:
    """A rule as pages list it."""

    id: int
    nome: str
    gatilho: str
    condicao: dict
    template_id: int | None
    template_nome: str | None
    mapeamento: dict
    modo: str
    ativo: bool
    atualizado_em: datetime | None
    atualizado_por: str | None


@dataclass
class Previa:
    """Who a rule would reach now: counts, rendered examples, the excluded and why."""

    total: int = 0
    elegiveis: int = 0
    exemplos: list[dict[str, Any]] = field(default_factory=list)
    excluidos: list[dict[str, Any]] = field(default_factory=list)
    por_motivo: dict[str, int] = field(default_factory=dict)
    fora_da_janela: bool = False


def _template(session: Session, template_id: int | None):
    if template_id is None:
        raise CondicaoInvalida("Escolha um template.")
    tpl = session.execute(
        text(
            "SELECT id, nome_meta, status_meta, conteudo_texto, qtd_parametros, produto_id, "
            "removido_na_meta_em FROM templates WHERE id = :t"
        ),
        {"t": template_id},
    ).first()
    if tpl is None:
        raise CondicaoInvalida("Template não encontrado.")
    return tpl


def _consulta(
    session: Session,
    *,
    gatilho: str,
    condicao: dict,
    template,
    mapeamento: dict,
    chave_regra: str,
) -> tuple[str, dict[str, Any]]:
    """The audience query: one row per candidate with its variables, text and exclusion."""
    filtros_sql, params = sql_filtros(condicao.get("filtros") or {})
    params.update(parametros_gatilho(gatilho, condicao))
    variaveis = []
    texto = ":corpo"
    for chave in sorted(mapeamento, key=int):
        campo, padrao = mapeamento[chave]["campo"], mapeamento[chave]["padrao"]
        params[f"pad_{chave}"] = padrao
        variaveis.append(
            f"coalesce(nullif({EXPRESSOES_CAMPO[campo]}, ''), :pad_{chave}) AS v{chave}"
        )
        texto = f"replace({texto}, '{{{{{chave}}}}}', coalesce(v.v{chave}, ''))"
    lista = ", ".join(f"v.v{k}" for k in sorted(mapeamento, key=int))
    params.update(
        corpo=template.conteudo_texto or "",
        chave_regra=chave_regra,
        tpl_produto=template.produto_id,
        limite_dia=config.obter_inteiro(session, "disparo_max_por_aluno_dia"),
        ticket_minimo=config.obter_inteiro(session, "ticket_alto_minimo"),
    )
    sql = f"""
        WITH c ({COLUNAS}) AS ({GATILHOS_SQL[gatilho]})
        SELECT c.aluno_id, c.produto_id, c.ocasiao, c.contexto,
               :chave_regra || ':' || c.aluno_id || ':' || c.ocasiao AS chave,
               a.nome AS aluno_nome, p.nome AS produto_nome,
               jsonb_build_array({lista}) AS variaveis, {texto} AS texto,
               CASE
                 WHEN NOT coalesce(cs.concedido, true) THEN 'sem consentimento'
                 WHEN a.celular IS NULL THEN 'sem celular'
                 WHEN CAST(:tpl_produto AS uuid) IS NOT NULL
                      AND c.produto_id <> CAST(:tpl_produto AS uuid)
                   THEN 'template de outro produto'
                 WHEN EXISTS (SELECT 1 FROM filas_disparo f WHERE f.chave_dedupe =
                              :chave_regra || ':' || c.aluno_id || ':' || c.ocasiao)
                   THEN 'já na fila ou enviado'
                 WHEN coalesce(hoje.n, 0) >= :limite_dia THEN 'limite diário atingido'
               END AS motivo
          -- the candidates once (a fence: the exclusions below must not be pushed into the
          -- trigger's joins, where their selectivity is guessed and turned 110,000 rows into
          -- nested loops); consent and today's messages as two set-based joins, not per row
          FROM (SELECT * FROM c OFFSET 0) c
          LEFT JOIN ({SQL_CONSENTIMENTO_ATUAL}) cs ON cs.aluno_id = c.aluno_id
          LEFT JOIN (SELECT l.aluno_id, count(*) AS n FROM logs_disparo l
                      WHERE l.data_envio >= (date_trunc('day', now() AT TIME ZONE {SP})
                                             AT TIME ZONE {SP})
                      GROUP BY l.aluno_id) hoje ON hoje.aluno_id = c.aluno_id
          JOIN alunos a ON a.id = c.aluno_id
          JOIN produtos p ON p.id = c.produto_id
          LEFT JOIN matriculas m ON m.aluno_id = c.aluno_id AND m.produto_id = c.produto_id
          LEFT JOIN transacoes t0 ON t0.id = m.transacao_origem_id
          LEFT JOIN ofertas o ON o.id = t0.oferta_id
          LEFT JOIN (SELECT mo.produto_id, count(*) AS aulas
                       FROM aulas au JOIN modulos mo ON mo.id = au.modulo_id
                      GROUP BY mo.produto_id) ap ON ap.produto_id = c.produto_id
          CROSS JOIN LATERAL (
                SELECT round(100.0 * coalesce(m.aulas_concluidas, 0) / NULLIF(ap.aulas, 0))
                    AS pct) prog
          CROSS JOIN LATERAL (SELECT {", ".join(variaveis) or "NULL AS v0"}) v
         WHERE {filtros_sql}
    """
    return sql, params


def fora_da_janela(session: Session, agora: datetime | None = None) -> bool:
    """True outside the send window (São Paulo time)."""
    hora = (agora or datetime.now(FUSO)).astimezone(FUSO).strftime("%H:%M")
    inicio = config.obter(session, "disparo_janela_inicio")
    fim = config.obter(session, "disparo_janela_fim")
    return not (inicio <= hora < fim)


def validar(
    session: Session, *, gatilho: str, condicao: Any, template_id: int | None, mapeamento: Any
) -> tuple[dict, Any, dict]:
    """Validate a rule's parts; returns (condition, template row, mapping)."""
    cond = validar_condicao(gatilho, condicao)
    tpl = _template(session, template_id)
    mapa = validar_mapeamento(gatilho, mapeamento, tpl.qtd_parametros or 0)
    return cond, tpl, mapa


def prever(
    session: Session,
    *,
    gatilho: str,
    condicao: Any,
    template_id: int | None,
    mapeamento: Any,
    regra_id: int | None = None,
    limite: int = 20,
) -> Previa:
    """The audience preview: how many, 20 rendered examples, the excluded with their reason."""
    cond, tpl, mapa = validar(
        session, gatilho=gatilho, condicao=condicao, template_id=template_id, mapeamento=mapeamento
    )
    sql, params = _consulta(
        session,
        gatilho=gatilho,
        condicao=cond,
        template=tpl,
        mapeamento=mapa,
        chave_regra=str(regra_id or "previa"),
    )
    linhas = session.execute(
        text(
            f"""
            WITH q AS ({sql})
            SELECT (SELECT count(*) FROM q) AS total,
                   (SELECT count(*) FROM q WHERE motivo IS NULL) AS elegiveis,
                   (SELECT coalesce(jsonb_object_agg(motivo, n), '{{}}') FROM
                        (SELECT motivo, count(*) AS n FROM q WHERE motivo IS NOT NULL
                          GROUP BY motivo) m) AS por_motivo,
                   (SELECT coalesce(jsonb_agg(x), '[]') FROM
                        (SELECT aluno_nome AS aluno, produto_nome AS produto, texto
                           FROM q WHERE motivo IS NULL ORDER BY lower(aluno_nome) LIMIT :lim) x)
                       AS exemplos,
                   (SELECT coalesce(jsonb_agg(x), '[]') FROM
                        (SELECT aluno_nome AS aluno, produto_nome AS produto, motivo
                           FROM q WHERE motivo IS NOT NULL ORDER BY motivo, aluno_nome
                          LIMIT :lim) x) AS excluidos
            """
        ),
        {**params, "lim": limite},
    ).one()
    return Previa(
        total=linhas.total,
        elegiveis=linhas.elegiveis,
        exemplos=linhas.exemplos,
        excluidos=linhas.excluidos,
        por_motivo=linhas.por_motivo,
        fora_da_janela=fora_da_janela(session),
    )


def salvar(
    session: Session,
    *,
    regra_id: int | None = None,
    nome: str,
    gatilho: str,
    condicao: Any,
    template_id: int | None,
    mapeamento: Any,
    modo: str = "SUGERIR",
    ativo: bool = True,
    usuario: str | None,
) -> int:
    """Create or edit a rule after validating everything; audited."""
    nome = (nome or "").strip()
    if not 1 <= len(nome) <= 100:
        raise CondicaoInvalida("Nome da regra: de 1 a 100 caracteres.")
    if texto_com_controle(nome):
        raise CondicaoInvalida("Nome da regra: o valor contém caracteres de controle.")
    if modo not in MODOS:
        raise CondicaoInvalida("Modo: use SUGERIR (fila) ou AUTOMATICO (direto).")
    cond, tpl, mapa = validar(
        session, gatilho=gatilho, condicao=condicao, template_id=template_id, mapeamento=mapeamento
    )
    if tpl.status_meta != "APPROVED" or tpl.removido_na_meta_em is not None:
        raise CondicaoInvalida(f"O template {tpl.nome_meta} não está aprovado na Meta.")
    params = {
        "nome": nome,
        "g": gatilho,
        "c": json.dumps(cond),
        "t": tpl.id,
        "m": json.dumps(mapa),
        "modo": modo,
        "ativo": ativo,
        "u": usuario,
    }
    if regra_id is None:
        regra_id = session.execute(
            text(
                "INSERT INTO regras_automacao (nome, gatilho, condicao_json, template_id, "
                "mapeamento_json, modo_execucao, ativo, atualizado_em, atualizado_por) "
                "VALUES (:nome, :g, CAST(:c AS jsonb), :t, CAST(:m AS jsonb), :modo, :ativo, "
                "now(), :u) RETURNING id"
            ),
            params,
        ).scalar_one()
        acao = "regra_criada"
    else:
        if not session.execute(
            text(
                "UPDATE regras_automacao SET nome = :nome, gatilho = :g, "
                "condicao_json = CAST(:c AS jsonb), template_id = :t, "
                "mapeamento_json = CAST(:m AS jsonb), modo_execucao = :modo, ativo = :ativo, "
                "atualizado_em = now(), atualizado_por = :u WHERE id = :id"
            ),
            {**params, "id": regra_id},
        ).rowcount:
            raise CondicaoInvalida("Regra não encontrada.")
        acao = "regra_editada"
    registrar(
        session,
        usuario=usuario,
        acao=acao,
        entidade="regras_automacao",
        entidade_id=str(regra_id),
        detalhes={
            "nome": nome,
            "gatilho": gatilho,
            "modo": modo,
            "ativo": ativo,
            "condicao": cond,
            "template_id": tpl.id,
        },
    )
    return regra_id


def definir_ativa(session: Session, regra_id: int, ativo: bool, *, usuario: str | None) -> None:
    """Activate or deactivate a rule (audited)."""
    if not session.execute(
        text(
            "UPDATE regras_automacao SET ativo = :a, atualizado_em = now(), "
            "atualizado_por = :u WHERE id = :id"
        ),
        {"a": ativo, "u": usuario, "id": regra_id},
    ).rowcount:
        raise CondicaoInvalida("Regra não encontrada.")
    registrar(
        session,
        usuario=usuario,
        acao="regra_ativada" if ativo else "regra_desativada",
        entidade="regras_automacao",
        entidade_id=str(regra_id),
    )


def listar(session: Session) -> list[Regra]:
    """Every rule with its template name."""
    linhas = session.execute(
        text(
            "SELECT r.id, r.nome, r.gatilho, r.condicao_json, r.template_id, t.nome_meta, "
            "r.mapeamento_json, r.modo_execucao, r.ativo, r.atualizado_em, r.atualizado_por "
            "FROM regras_automacao r LEFT JOIN templates t ON t.id = r.template_id "
            "ORDER BY r.ativo DESC, r.nome"
        )
    ).all()
    return [
        Regra(
            r[0],
            r[1],
            r[2],
            r[3] or {},
            r[4],
            r[5],
            r[6] or {},
            r[7] or "SUGERIR",
            bool(r[8]),
            r[9],
            r[10],
        )
        for r in linhas
    ]


def avaliar(
    session: Session,
    regra: Regra,
    *,
    automaticos_restantes: int,
    maximo: int = MAX_NOVOS_POR_EXECUCAO,
) -> dict[str, int]:
    """Enqueue one rule's eligible audience (ON CONFLICT on the dedupe key: never twice).

    SUGERIR → 'pendente'; AUTOMATICO → 'aprovado' by the system for at most
    ``automaticos_restantes`` items, the rest wait for a person as 'pendente'. At most
    ``maximo`` new items per run, in the queue's order (student name, occasion); the others are
    still eligible and are queued by the next runs; ``adiados`` in the result counts them.
    """
    if regra.gatilho not in GATILHOS:
        return {"inseridos": 0, "aprovados": 0}
    tpl = _template(session, regra.template_id)
    if tpl.status_meta != "APPROVED" or tpl.removido_na_meta_em is not None:
        # The template was paused, rejected or removed since the rule was saved: queue nothing.
        raise CondicaoInvalida(f"O template {tpl.nome_meta} não está aprovado na Meta.")
    cond = validar_condicao(regra.gatilho, regra.condicao)
    mapa = validar_mapeamento(regra.gatilho, regra.mapeamento, tpl.qtd_parametros or 0)
    sql, params = _consulta(
        session,
        gatilho=regra.gatilho,
        condicao=cond,
        template=tpl,
        mapeamento=mapa,
        chave_regra=str(regra.id),
    )
    automatico = regra.modo == "AUTOMATICO"
    # q is MATERIALIZED: inlined, the "motivo IS NULL" filter was pushed into its joins with a
    # guessed selectivity (114,788 rows estimated as 101 at L), and the planner then joined the
    # products by a nested loop over a materialised, spilled copy of every candidate.
    linhas = session.execute(
        text(
            f"""
            WITH q AS MATERIALIZED ({sql}),
            elegiveis AS (SELECT q.*, row_number() OVER (ORDER BY q.aluno_nome, q.ocasiao) AS n,
                                 count(*) OVER () AS total
                            FROM q WHERE motivo IS NULL),
            novos AS (SELECT * FROM elegiveis WHERE n <= :maximo),
            ins AS (
            INSERT INTO filas_disparo (regra_id, aluno_id, template_id, status, chave_dedupe,
                                       produto_id, ocasiao, contexto, variaveis,
                                       texto_renderizado, decidido_por, decidido_em)
            SELECT :regra, aluno_id, :template, CASE WHEN :auto AND n <= :restantes
                                                     THEN 'aprovado' ELSE 'pendente' END,
                   chave, produto_id, left(ocasiao, 200), contexto, variaveis, texto,
                   CASE WHEN :auto AND n <= :restantes THEN 'sistema' END,
                   CASE WHEN :auto AND n <= :restantes THEN now() END
              FROM novos
            ON CONFLICT (chave_dedupe) DO NOTHING
            RETURNING status)
            SELECT (SELECT count(*) FROM ins) AS inseridos,
                   (SELECT count(*) FROM ins WHERE status = 'aprovado') AS aprovados,
                   greatest(coalesce((SELECT max(total) FROM elegiveis), 0) - :maximo, 0)
                       AS adiados
            """
        ),
        {
            **params,
            "regra": regra.id,
            "template": tpl.id,
            "auto": automatico,
            "restantes": max(0, automaticos_restantes),
            "maximo": max(1, int(maximo)),
        },
    ).one()
    return {
        "inseridos": linhas.inseridos,
        "aprovados": linhas.aprovados,
        "adiados": linhas.adiados,
    }


def avaliar_todas(*, progresso=None) -> dict[str, Any]:
    """Evaluate every active rule, one transaction per rule; the automatic budget is shared."""
    from db.uow import UnidadeDeTrabalho

    with UnidadeDeTrabalho() as uow:
        regras = [r for r in listar(uow.session) if r.ativo]
        restantes = config.obter_inteiro(uow.session, "disparo_max_automatico_por_execucao")
    total = {"regras": len(regras), "inseridos": 0, "aprovados": 0, "adiados": 0, "erros": 0}
    for i, regra in enumerate(regras):
        if progresso:
            progresso(100 * i / max(1, len(regras)), f"Regra: {regra.nome}")
        try:
            with UnidadeDeTrabalho() as uow:
                r = avaliar(uow.session, regra, automaticos_restantes=restantes)
                uow.commit()
        except CondicaoInvalida:
            total["erros"] += 1
            continue
        restantes -= r["aprovados"]
        total["inseridos"] += r["inseridos"]
        total["aprovados"] += r["aprovados"]
        total["adiados"] += r["adiados"]
    return total


def executar_avaliacao(*, iniciado_por: str | None, observador=None):
    """Evaluate the rules as the 'regras' job (one at a time, from any replica or cron)."""
    from services import jobs, saude_instantaneo

    job = jobs.executar(
        "regras",
        lambda e: avaliar_todas(progresso=e.progresso),
        iniciado_por=iniciado_por,
        observador=observador,
    )
    # Cron runs this job every few minutes: it also keeps Home's health snapshot under an hour.
    try:
        saude_instantaneo.atualizar_se_antigo(iniciado_por=iniciado_por)
    except Exception:  # noqa: BLE001 - the rules ran; the 'saude' job shows the error
        _log.exception("Falha ao atualizar a saúde dos alunos")
    return job
