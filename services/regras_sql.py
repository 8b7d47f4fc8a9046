"""The set-based SQL of the rules: who each trigger selects, the common filters, the exclusions.

Every trigger is one SELECT with the same columns, so the audience preview, the enqueue and the
goal-based exit share it. Only whitelisted fragments are ever formatted into SQL; every value is
a bound parameter.
"""

from __future__ import annotations

from typing import Any

from services.saude_sql import sql_saude

SP = "'America/Sao_Paulo'"
HOJE_SP = f"(now() AT TIME ZONE {SP})::date"
COLUNAS = (
    "aluno_id, produto_id, ocasiao, contexto, aula, modulo, valor, link_boleto, "
    "codigo_pix, data_renovacao"
)

# Lessons per product (the denominator of progress %); the enrolment's own count and latest
# completion are kept on matriculas by triggers (schema v8), never aggregated per row here.
_AULAS_POR_PRODUTO = """(SELECT mo.produto_id, count(*) AS aulas
                           FROM aulas au JOIN modulos mo ON mo.id = au.modulo_id
                          GROUP BY mo.produto_id)"""

GATILHOS_SQL: dict[str, str] = {
    "compra_aprovada": """
        SELECT t.aluno_id, t.produto_id, t.id AS ocasiao,
               jsonb_build_object('transacao_id', t.id) AS contexto,
               NULL::text AS aula, NULL::text AS modulo, t.valor_pago AS valor,
               NULL::text AS link_boleto, NULL::text AS codigo_pix,
               NULL::timestamptz AS data_renovacao
          FROM transacoes t
         WHERE t.status IN ('APPROVED', 'COMPLETE') AND t.aluno_id IS NOT NULL
           AND coalesce(t.data_aprovacao, t.data_compra)
               >= now() - make_interval(hours => :janela_horas)
    """,
    "sem_primeiro_acesso": """
        SELECT m.aluno_id, m.produto_id, 'sem_acesso:' || m.id AS ocasiao,
               jsonb_build_object('matricula_id', m.id) AS contexto,
               NULL, NULL, NULL::numeric, NULL, NULL, NULL::timestamptz
          FROM matriculas m
         WHERE m.status_acesso = 'ATIVO' AND m.data_primeiro_acesso IS NULL
           AND m.data_inicio <= now() - make_interval(days => :dias)
    """,
    "progresso_estagnado": f"""
        SELECT x.aluno_id, x.produto_id,
               'estagnado:' || x.id || ':' || coalesce(x.ultima::date::text, 'nunca') AS ocasiao,
               jsonb_build_object('matricula_id', x.id, 'ultima_conclusao', x.ultima) AS contexto,
               x.aula, x.modulo, NULL::numeric, NULL, NULL, NULL::timestamptz
          FROM (SELECT m.id, m.aluno_id, m.produto_id, m.data_primeiro_acesso,
                       m.ultima_conclusao AS ultima,
                       au.nome AS aula, mo.nome AS modulo, mo.id AS modulo_id,
                       round(100.0 * m.aulas_concluidas / NULLIF(ap.aulas, 0)) AS pct
                  FROM matriculas m
                  LEFT JOIN aulas au ON au.id = m.ultima_aula_id
                  LEFT JOIN modulos mo ON mo.id = au.modulo_id
                  LEFT JOIN {_AULAS_POR_PRODUTO} ap ON ap.produto_id = m.produto_id
                 WHERE m.status_acesso = 'ATIVO' AND m.data_primeiro_acesso IS NOT NULL) x
         WHERE coalesce(x.ultima, x.data_primeiro_acesso)
               <= now() - make_interval(days => :dias_sem_acesso)
           AND coalesce(x.pct, 0) <= :progresso_max
           AND (CAST(:modulo_id AS uuid) IS NULL OR x.modulo_id = CAST(:modulo_id AS uuid))
    """,
    "aula_liberada": f"""
        SELECT m.aluno_id, m.produto_id, 'aula:' || m.id || ':' || au.id AS ocasiao,
               jsonb_build_object('matricula_id', m.id, 'aula_id', au.id) AS contexto,
               au.nome, mo.nome, NULL::numeric, NULL, NULL, NULL::timestamptz
          FROM modulos mo
          JOIN aulas au ON au.modulo_id = mo.id
          JOIN matriculas m ON m.produto_id = mo.produto_id
               -- the enrolment started exactly dias_liberacao São Paulo days ago: a range on
               -- data_inicio per lesson (index on produto_id, data_inicio), not a computed date
               AND m.data_inicio >= (({HOJE_SP} - au.dias_liberacao)::timestamp AT TIME ZONE {SP})
               AND m.data_inicio < (({HOJE_SP} - au.dias_liberacao + 1)::timestamp
                                    AT TIME ZONE {SP})
         WHERE m.status_acesso = 'ATIVO' AND au.dias_liberacao > 0
    """,
    "boleto_pendente": """
        SELECT t.aluno_id, t.produto_id, 'boleto:' || t.id AS ocasiao,
               jsonb_build_object('transacao_id', t.id) AS contexto,
               NULL, NULL, t.valor_pago, t.link_boleto, NULL, NULL::timestamptz
          FROM transacoes t
         WHERE t.status = 'WAITING_PAYMENT' AND t.link_boleto IS NOT NULL
           AND t.aluno_id IS NOT NULL
           AND t.data_compra <= now() - make_interval(hours => :horas)
           AND t.data_compra > now() - make_interval(hours => :max_horas)
    """,
    "pix_pendente": """
        SELECT t.aluno_id, t.produto_id, 'pix:' || t.id AS ocasiao,
               jsonb_build_object('transacao_id', t.id) AS contexto,
               NULL, NULL, t.valor_pago, NULL, t.codigo_pix, NULL::timestamptz
          FROM transacoes t
         WHERE t.status = 'WAITING_PAYMENT' AND t.codigo_pix IS NOT NULL
           AND t.aluno_id IS NOT NULL
           AND t.data_compra <= now() - make_interval(hours => :horas)
           AND t.data_compra > now() - make_interval(hours => :max_horas)
    """,
    "carrinho_abandonado": """
        SELECT c.aluno_id, c.produto_id, 'carrinho:' || c.id AS ocasiao,
               jsonb_build_object('carrinho_id', c.id, 'criado_em', c.criado_em) AS contexto,
               NULL, NULL, NULL::numeric, NULL, NULL, NULL::timestamptz
          FROM carrinhos_abandonados c
         WHERE c.aluno_id IS NOT NULL AND c.produto_id IS NOT NULL
           AND c.criado_em <= now() - make_interval(hours => :horas)
           AND c.criado_em > now() - make_interval(hours => :max_horas)
           AND NOT EXISTS (SELECT 1 FROM transacoes t
                            WHERE t.aluno_id = c.aluno_id AND t.produto_id = c.produto_id
                              AND t.status IN ('APPROVED', 'COMPLETE')
                              AND t.data_compra >= c.criado_em)
    """,
    "risco_reembolso": f"""
        SELECT t.aluno_id, t.produto_id, 'reembolso:' || t.id AS ocasiao,
               jsonb_build_object('transacao_id', t.id) AS contexto,
               NULL, NULL, t.valor_pago, NULL, NULL, NULL::timestamptz
          FROM transacoes t
          JOIN matriculas m ON m.aluno_id = t.aluno_id AND m.produto_id = t.produto_id
          LEFT JOIN {_AULAS_POR_PRODUTO} ap ON ap.produto_id = m.produto_id
         WHERE t.status = 'APPROVED'
           AND t.data_garantia_fim BETWEEN now() AND now() + make_interval(days => :dias)
           AND coalesce(100.0 * m.aulas_concluidas / NULLIF(ap.aulas, 0), 0) < :progresso_max
    """,
    "renovacao_proxima": """
        SELECT m.aluno_id, m.produto_id,
               'renovacao:' || m.id || ':' || m.data_renovacao::date AS ocasiao,
               jsonb_build_object('matricula_id', m.id, 'data_renovacao', m.data_renovacao)
                   AS contexto,
               NULL, NULL, NULL::numeric, NULL, NULL, m.data_renovacao
          FROM matriculas m
         WHERE m.status_assinatura = 'ACTIVE'
           AND m.data_renovacao BETWEEN now() AND now() + make_interval(days => :dias)
    """,
    "aniversario_compra": f"""
        SELECT x.aluno_id, x.produto_id, 'aniversario:' || x.id || ':' || x.ciclos AS ocasiao,
               jsonb_build_object('matricula_id', x.id, 'ciclos', x.ciclos) AS contexto,
               NULL, NULL, NULL::numeric, NULL, NULL, NULL::timestamptz
          FROM (SELECT m.id, m.aluno_id, m.produto_id, m.data_inicio,
                       ((extract(year FROM age({HOJE_SP}, (m.data_inicio AT TIME ZONE {SP})::date))
                         * 12 + extract(month FROM age({HOJE_SP},
                                (m.data_inicio AT TIME ZONE {SP})::date)))::int / :meses)
                       AS ciclos
                  FROM matriculas m
                 WHERE m.status_acesso = 'ATIVO' AND m.data_inicio IS NOT NULL) x
         WHERE x.ciclos >= 1
           AND ((x.data_inicio AT TIME ZONE {SP})::date
                + make_interval(months => x.ciclos * :meses))::date = {HOJE_SP}
    """,
}

# Is the reason of a queued item still true? (goal-based exit, evaluated before sending)
AINDA_VALIDO: dict[str, tuple[str, str]] = {
    "compra_aprovada": (
        "EXISTS (SELECT 1 FROM transacoes t WHERE t.id = f.contexto->>'transacao_id' "
        "AND t.status IN ('APPROVED', 'COMPLETE'))",
        "a compra não está mais aprovada",
    ),
    "boleto_pendente": (
        "EXISTS (SELECT 1 FROM transacoes t WHERE t.id = f.contexto->>'transacao_id' "
        "AND t.status = 'WAITING_PAYMENT')",
        "o boleto foi pago ou expirou",
    ),
    "pix_pendente": (
        "EXISTS (SELECT 1 FROM transacoes t WHERE t.id = f.contexto->>'transacao_id' "
        "AND t.status = 'WAITING_PAYMENT')",
        "o PIX foi pago ou expirou",
    ),
    "sem_primeiro_acesso": (
        "EXISTS (SELECT 1 FROM matriculas m WHERE m.id = (f.contexto->>'matricula_id')::uuid "
        "AND m.data_primeiro_acesso IS NULL)",
        "o aluno já acessou o curso",
    ),
    "progresso_estagnado": (
        "NOT EXISTS (SELECT 1 FROM progresso_aulas pa "
        "WHERE pa.matricula_id = (f.contexto->>'matricula_id')::uuid "
        "AND pa.data_conclusao > coalesce((f.contexto->>'ultima_conclusao')::timestamptz, "
        "'-infinity'))",
        "o aluno voltou a progredir",
    ),
    "carrinho_abandonado": (
        "NOT EXISTS (SELECT 1 FROM transacoes t WHERE t.aluno_id = f.aluno_id "
        "AND t.produto_id = f.produto_id AND t.status IN ('APPROVED', 'COMPLETE') "
        "AND t.data_compra >= (f.contexto->>'criado_em')::timestamptz)",
        "a compra foi concluída",
    ),
    "risco_reembolso": (
        "EXISTS (SELECT 1 FROM transacoes t WHERE t.id = f.contexto->>'transacao_id' "
        "AND t.status = 'APPROVED' AND t.data_garantia_fim > now())",
        "a garantia acabou ou a compra foi reembolsada",
    ),
    "renovacao_proxima": (
        "EXISTS (SELECT 1 FROM matriculas m WHERE m.id = (f.contexto->>'matricula_id')::uuid "
        "AND m.status_assinatura = 'ACTIVE')",
        "a assinatura não está mais ativa",
    ),
}

EXPRESSOES_CAMPO: dict[str, str] = {
    "primeiro_nome": "initcap(split_part(a.nome, ' ', 1))",
    "nome": "a.nome",
    "produto": "p.nome",
    "link_acesso": "CASE WHEN p.hotmart_subdomain IS NOT NULL THEN 'https://' || "
    "p.hotmart_subdomain || '.club.hotmart.com' END",
    "progresso": "coalesce(prog.pct, 0)::int::text || '%'",
    "valor": "'R$ ' || translate(to_char(c.valor, 'FM999,999,990.00'), ',.', '.,')",
    "link_boleto": "c.link_boleto",
    "codigo_pix": "c.codigo_pix",
    "data_renovacao": f"to_char(c.data_renovacao AT TIME ZONE {SP}, 'DD/MM/YYYY')",
    "aula": "c.aula",
    "modulo": "c.modulo",
}


def parametros_gatilho(gatilho: str, condicao: dict) -> dict[str, Any]:
    """Bound parameters the trigger's SELECT uses."""
    params = {k: v for k, v in condicao.items() if k not in ("filtros",)}
    if gatilho == "progresso_estagnado":
        params.setdefault("modulo_id", None)
    return params


def sql_filtros(filtros: dict) -> tuple[str, dict[str, Any]]:
    """WHERE fragments of the audience filters (products always monitored)."""
    partes = ["p.ativo_monitoramento"]
    params: dict[str, Any] = {}
    if filtros.get("produtos"):
        partes.append("c.produto_id = ANY(CAST(:f_produtos AS uuid[]))")
        params["f_produtos"] = filtros["produtos"]
    if filtros.get("tags_incluir"):
        partes.append(
            "EXISTS (SELECT 1 FROM alunos_tags at WHERE at.aluno_id = c.aluno_id "
            "AND at.tag_id = ANY(:f_tags_in))"
        )
        params["f_tags_in"] = filtros["tags_incluir"]
    if filtros.get("tags_excluir"):
        partes.append(
            "NOT EXISTS (SELECT 1 FROM alunos_tags at WHERE at.aluno_id = c.aluno_id "
            "AND at.tag_id = ANY(:f_tags_out))"
        )
        params["f_tags_out"] = filtros["tags_excluir"]
    if filtros.get("ltv_min") is not None:
        partes.append("coalesce(a.ltv_total, 0) >= :f_ltv_min")
        params["f_ltv_min"] = filtros["ltv_min"]
    if filtros.get("ltv_max") is not None:
        partes.append("coalesce(a.ltv_total, 0) <= :f_ltv_max")
        params["f_ltv_max"] = filtros["ltv_max"]
    if filtros.get("ticket"):
        partes.append(
            "(CASE WHEN coalesce(o.preco, t0.valor_pago, 0) >= :ticket_minimo THEN 'Alto' "
            "ELSE 'Baixo' END) = :f_ticket"
        )
        params["f_ticket"] = filtros["ticket"]
    if filtros.get("status_acesso"):
        partes.append("m.status_acesso = ANY(:f_status)")
        params["f_status"] = filtros["status_acesso"]
    faixa = []
    if filtros.get("saude_min") is not None:
        faixa.append("s.score >= :f_saude_min")
        params["f_saude_min"] = filtros["saude_min"]
    if filtros.get("saude_max") is not None:
        faixa.append("s.score <= :f_saude_max")
        params["f_saude_max"] = filtros["saude_max"]
    if faixa:
        # The candidate's enrolment in its product (m) is scored only when ATIVO: a candidate
        # with no active enrolment has no score and is left out. Only the candidates' own
        # enrolments are scored (the inner m is the score SQL's, c is the trigger's rows).
        candidatas = "(m.aluno_id, m.produto_id) IN (SELECT c.aluno_id, c.produto_id FROM c)"
        partes.append(
            f"m.id IN (SELECT s.matricula_id FROM ({sql_saude(candidatas)}) s "
            f"WHERE {' AND '.join(faixa)})"
        )
    return " AND ".join(partes), params
