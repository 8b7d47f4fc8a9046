"""The health score's points table and its set-based SQL (see services/saude.py for the API).

Only whitelisted fragments are formatted into the SQL: the constants below and predicates that
callers build from fixed text; every value is a bound parameter.
"""

from __future__ import annotations

from services.consentimento import SQL_CONSENTIMENTO_ATUAL

_SP = "'America/Sao_Paulo'"
_HOJE_SP = f"(now() AT TIME ZONE {_SP})::date"

PONTOS_PRIMEIRO_ACESSO = 15
PONTOS_AULAS_RECENTES = 20
PONTOS_DIAS_SEM_AULA = 15
PONTOS_CONCLUSAO = 20
PONTOS_PAGAMENTO = 10
PONTOS_GARANTIA = 10
PONTOS_CONSENTIMENTO = 10

JANELA_AULAS_RECENTES_DIAS = 14
AULAS_RECENTES_META = 2  # lessons in the window for full points (1 lesson: half)
DIAS_SEM_AULA_FAIXAS = ((7, 15), (14, 10), (30, 5))  # (up to N days, points); beyond: 0
PRAZO_CONCLUSAO_DIAS = 90  # the whole course is expected done at this age (drip permitting)
PRAZO_PAGAMENTO_DIAS = 3  # a pending charge older than this is overdue
PROGRESSO_MINIMO_GARANTIA = 20  # % of the course below which an open guarantee is a risk

FAIXA_RISCO = 40  # a score up to this is "em risco"
FAIXAS = (
    ("0–20", 0, 20),
    ("21–40", 21, 40),
    ("41–60", 41, 60),
    ("61–80", 61, 80),
    ("81–100", 81, 100),
)

COMPONENTES: tuple[tuple[str, str, int], ...] = (
    ("primeiro_acesso", "Primeiro acesso feito", PONTOS_PRIMEIRO_ACESSO),
    (
        "aulas_recentes",
        f"Aulas nos últimos {JANELA_AULAS_RECENTES_DIAS} dias",
        PONTOS_AULAS_RECENTES,
    ),
    ("dias_sem_aula", "Dias desde a última aula", PONTOS_DIAS_SEM_AULA),
    ("conclusao", "Conclusão em dia com o esperado", PONTOS_CONCLUSAO),
    ("pagamento", "Pagamento em dia", PONTOS_PAGAMENTO),
    ("garantia", "Garantia sem risco", PONTOS_GARANTIA),
    ("consentimento", "Consentimento ativo", PONTOS_CONSENTIMENTO),
)
"""(key, pt-BR label, maximum) of each component, in display order; ``pts_<key>`` in the SQL."""


def _caso_dias_sem_aula() -> str:
    faixas = " ".join(
        f"WHEN d.dias_sem_aula <= {dias} THEN {pts}" for dias, pts in DIAS_SEM_AULA_FAIXAS
    )
    return f"CASE WHEN x.em_dia THEN {PONTOS_DIAS_SEM_AULA} {faixas} ELSE 0 END"


def sql_saude(matriculas: str | None = None) -> str:
    """The score SQL (a FROM-able SELECT) over the ATIVO enrolments matching ``matriculas``.

    ``matriculas`` is a whitelisted predicate over ``matriculas m`` (never user text; values go in
    bound parameters); None scores every ATIVO enrolment. Columns: matricula_id, aluno_id,
    produto_id, score, ``pts_<component>`` for each of COMPONENTES, and the facts the details
    are written from. Subqueries, not CTEs, so that the planner can push the restriction down:
    a profile reads a handful of index entries; the whole base is one pass of each aggregate.
    Each layer ends in OFFSET 0, a fence that keeps PostgreSQL from inlining a layer's
    expressions into every reference above it (which made the whole-base score 4× slower).
    """
    escopo = f"m.status_acesso = 'ATIVO' AND ({matriculas or 'true'})"
    # Restricted, the payment subqueries read only the scored enrolments' transactions;
    # unrestricted, one pass over the few pending or in-guarantee rows is cheaper.
    so_transacoes = (
        f"AND (t.aluno_id, t.produto_id) IN (SELECT m.aluno_id, m.produto_id "
        f"FROM matriculas m WHERE {escopo})"
        if matriculas
        else ""
    )
    # Count and latest completion are kept on matriculas (schema v8). Lessons of the last 14
    # days: per enrolment through the (matricula_id, data_conclusao) index when restricted;
    # for the whole base one range scan of the recent rows grouped by enrolment.
    janela = f"now() - make_interval(days => {JANELA_AULAS_RECENTES_DIAS})"
    recentes = (
        f"""LEFT JOIN LATERAL (SELECT count(*) AS n FROM progresso_aulas pa
                            WHERE pa.matricula_id = m.id AND pa.data_conclusao >= {janela}) r
                   ON true"""
        if matriculas
        else f"""LEFT JOIN (SELECT pa.matricula_id, count(*) AS n FROM progresso_aulas pa
                            WHERE pa.data_conclusao >= {janela} GROUP BY pa.matricula_id) r
                   ON r.matricula_id = m.id"""
    )
    return f"""
    SELECT sp.*, ({" + ".join(f"sp.pts_{chave}" for chave, _, _ in COMPONENTES)}) AS score
      FROM (
    SELECT d.*, x.esperado, x.em_dia,
           CASE WHEN d.acessou THEN {PONTOS_PRIMEIRO_ACESSO} ELSE 0 END AS pts_primeiro_acesso,
           CASE WHEN x.em_dia OR d.recentes >= {AULAS_RECENTES_META} THEN {PONTOS_AULAS_RECENTES}
                WHEN d.recentes >= 1 THEN {PONTOS_AULAS_RECENTES // 2}
                ELSE 0 END AS pts_aulas_recentes,
           {_caso_dias_sem_aula()} AS pts_dias_sem_aula,
           CASE WHEN x.esperado <= 0 THEN {PONTOS_CONCLUSAO}
                ELSE {PONTOS_CONCLUSAO} * least(d.concluidas, x.esperado) / x.esperado
           END AS pts_conclusao,
           CASE WHEN d.assinatura_atrasada OR d.pendente_desde IS NOT NULL THEN 0
                ELSE {PONTOS_PAGAMENTO} END AS pts_pagamento,
           CASE WHEN d.garantia_ate IS NOT NULL
                     AND 100 * d.concluidas < {PROGRESSO_MINIMO_GARANTIA} * d.aulas_total
                THEN 0 ELSE {PONTOS_GARANTIA} END AS pts_garantia,
           CASE WHEN d.consentimento_revogado THEN 0 ELSE {PONTOS_CONSENTIMENTO} END
               AS pts_consentimento
      FROM (
    SELECT m.matricula_id, m.aluno_id, m.produto_id, m.data_primeiro_acesso,
           m.status_assinatura, b.idade_dias,
           coalesce(ct.aulas_total, 0) AS aulas_total,
           m.concluidas, m.recentes, m.ultima_aula,
           -- the drip days are sorted: width_bucket counts those <= the age (released lessons)
           coalesce(width_bucket(b.idade_dias, ct.gotejamento), 0) AS liberadas,
           (m.data_primeiro_acesso IS NOT NULL OR m.concluidas > 0) AS acessou,
           CASE WHEN coalesce(m.ultima_aula, m.data_primeiro_acesso) IS NULL THEN b.idade_dias
                ELSE greatest(agora.hoje - (coalesce(m.ultima_aula, m.data_primeiro_acesso)
                                            AT TIME ZONE {_SP})::date, 0)
           END AS dias_sem_aula,
           coalesce(m.status_assinatura IN ('DELAYED', 'OVERDUE'), false) AS assinatura_atrasada,
           pd.pendente_desde,
           gr.garantia_ate,
           NOT coalesce(cs.concedido, true) AS consentimento_revogado
      FROM (SELECT {_HOJE_SP} AS hoje OFFSET 0) agora
     CROSS JOIN (
           -- the enrolment with its progress summary and its lessons of the last 14 days
           SELECT m.id AS matricula_id, m.aluno_id, m.produto_id, m.data_inicio,
                  m.data_primeiro_acesso, m.status_assinatura,
                  m.aulas_concluidas AS concluidas, coalesce(r.n, 0)::int AS recentes,
                  m.ultima_conclusao AS ultima_aula
             FROM matriculas m
             {recentes}
            WHERE {escopo}) m
     CROSS JOIN LATERAL (
           SELECT CASE WHEN coalesce(m.data_inicio, m.data_primeiro_acesso) IS NOT NULL
                       THEN greatest(agora.hoje - (coalesce(m.data_inicio, m.data_primeiro_acesso)
                                                   AT TIME ZONE {_SP})::date, 0)
                  END AS idade_dias) b
      LEFT JOIN (
           SELECT mo.produto_id, count(*)::int AS aulas_total,
                  array_agg(greatest(coalesce(au.dias_liberacao, 0), 0)
                            ORDER BY greatest(coalesce(au.dias_liberacao, 0), 0)) AS gotejamento
             FROM aulas au JOIN modulos mo ON mo.id = au.modulo_id
            GROUP BY mo.produto_id) ct ON ct.produto_id = m.produto_id
      LEFT JOIN (
           -- an old pending charge no later approved purchase of the same product settled
           SELECT t.aluno_id, t.produto_id, max(t.data_compra) AS pendente_desde
             FROM transacoes t
            WHERE t.status IN ('WAITING_PAYMENT', 'DELAYED', 'OVERDUE')
              AND t.data_compra <= now() - make_interval(days => {PRAZO_PAGAMENTO_DIAS})
              {so_transacoes}
              AND NOT EXISTS (SELECT 1 FROM transacoes pago
                               WHERE pago.aluno_id = t.aluno_id
                                 AND pago.produto_id = t.produto_id
                                 AND pago.status IN ('APPROVED', 'COMPLETE')
                                 AND pago.data_compra > t.data_compra)
            GROUP BY t.aluno_id, t.produto_id) pd
             ON pd.aluno_id = m.aluno_id AND pd.produto_id = m.produto_id
      LEFT JOIN (
           SELECT t.aluno_id, t.produto_id, max(t.data_garantia_fim) AS garantia_ate
             FROM transacoes t
            WHERE t.status = 'APPROVED' AND t.data_garantia_fim > now()
              {so_transacoes}
            GROUP BY t.aluno_id, t.produto_id) gr
             ON gr.aluno_id = m.aluno_id AND gr.produto_id = m.produto_id
      LEFT JOIN ({SQL_CONSENTIMENTO_ATUAL}) cs ON cs.aluno_id = m.aluno_id
    OFFSET 0) d
     CROSS JOIN LATERAL (
           -- integer division floors: a linear pace over the period, capped by the drip
           SELECT least(d.liberadas, d.aulas_total * d.idade_dias / {PRAZO_CONCLUSAO_DIAS})
                      AS esperado,
                  (d.acessou AND d.concluidas >= d.liberadas) AS em_dia) x
    OFFSET 0) sp
    """


SQL_SAUDE = sql_saude()
"""Every ATIVO enrolment's score (FROM-able: ``FROM ({SQL_SAUDE}) s``); no parameters."""
