"""The database stage of the Hotmart mirror: set-based upserts shared by the sync and postbacks.

Each function takes normalised rows (services.hotmart_normalizar), COPYs them into a temporary
staging table and applies one ``INSERT … SELECT … ON CONFLICT`` (or UPDATE … FROM) per table, so
the cost per row is a COPY row, never an ORM round trip. Writes that would change nothing are
skipped with ``IS DISTINCT FROM`` so a repeated sync rewrites no row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.orm import Session

from services.hotmart_normalizar import STATUS_PAGOS

# Serialises student matching between concurrent writers (sync and postbacks): matching by CPF
# then e-mail and inserting the unmatched is a read-then-write that must not interleave. A big
# batch (the sync, LGPD anonymisation) takes it exclusively; a few rows (a postback) take it
# shared plus one lock per e-mail and CPF (_CLASSE_PESSOA), so postbacks of different people run
# side by side while two of the same person, or a postback and the sync, still take turns.
_LOCK_ALUNOS = 7_310_010
_CLASSE_PESSOA = 7_310_011
LIMITE_TRAVA_POR_PESSOA = 250  # rows up to which the per-person locks are used (a group of
# postbacks holds up to 200; the sync writes 1,000 at a time)


def _copiar(session: Session, tabela: str, colunas: Sequence[tuple[str, str]], linhas) -> int:
    """(Re)create a temp staging table and COPY the rows into it; return the row count."""
    definicao = ", ".join(f"{nome} {tipo}" for nome, tipo in colunas)
    nomes = ", ".join(nome for nome, _ in colunas)
    conn = session.connection().connection.driver_connection
    n = 0
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {tabela}")
        cur.execute(f"CREATE TEMP TABLE {tabela} ({definicao}) ON COMMIT DROP")
        with cur.copy(f"COPY {tabela} ({nomes}) FROM STDIN") as copia:
            for linha in linhas:
                copia.write_row([linha.get(nome) for nome, _ in colunas])
                n += 1
    return n


def _executar(session: Session, sql: str, params: dict[str, Any] | None = None) -> int:
    return session.execute(text(sql), params or {}).rowcount or 0


# ---- catalogue ------------------------------------------------------------------------------


def upsert_produtos(session: Session, linhas: Iterable[dict]) -> int:
    """Insert or rename products; our own columns (monitoring, subdomain, cover) are untouched."""
    if not _copiar(
        session, "stg_produtos", [("hotmart_product_id", "int"), ("nome", "text")], linhas
    ):
        return 0
    return _executar(
        session,
        """
        INSERT INTO produtos (hotmart_product_id, nome)
        SELECT DISTINCT ON (hotmart_product_id) hotmart_product_id, left(nome, 255)
          FROM stg_produtos WHERE hotmart_product_id IS NOT NULL
        ON CONFLICT (hotmart_product_id) DO UPDATE SET nome = EXCLUDED.nome
         WHERE produtos.nome IS DISTINCT FROM EXCLUDED.nome
        """,
    )


def upsert_ofertas(session: Session, linhas: Iterable[dict], *, so_lacunas: bool = False) -> int:
    """Offers by (product, code): name, price and currency; unknown details never erase known.

    ``so_lacunas``: the rows only fill what is still unknown (the sales step derives an offer
    from a sale, whose paid price includes interest: it must not overwrite the catalogue's
    price, nor make the mirror depend on which sale came last).
    """
    colunas_oferta = ("nome", "preco", "moeda")
    if so_lacunas:
        novos = [f"coalesce(ofertas.{c}, EXCLUDED.{c})" for c in colunas_oferta]
    else:
        novos = [f"coalesce(EXCLUDED.{c}, ofertas.{c})" for c in colunas_oferta]
    colunas = [
        ("hotmart_product_id", "int"),
        ("offer_code", "text"),
        ("nome", "text"),
        ("preco", "numeric"),
        ("moeda", "text"),
    ]
    if not _copiar(session, "stg_ofertas", colunas, linhas):
        return 0
    # The last ORDER BY keys only make the choice among one batch's rows deterministic.
    return _executar(
        session,
        f"""
        INSERT INTO ofertas (produto_id, hotmart_offer_code, nome, preco, moeda)
        SELECT DISTINCT ON (p.id, s.offer_code) p.id, s.offer_code, left(s.nome, 255), s.preco,
               coalesce(s.moeda, 'BRL')
          FROM stg_ofertas s JOIN produtos p ON p.hotmart_product_id = s.hotmart_product_id
         WHERE s.offer_code IS NOT NULL
         ORDER BY p.id, s.offer_code, (s.nome IS NULL), (s.preco IS NULL), s.preco, s.nome
        ON CONFLICT (produto_id, hotmart_offer_code) DO UPDATE
           SET {", ".join(f"{c} = {n}" for c, n in zip(colunas_oferta, novos, strict=True))}
         WHERE (ofertas.nome, ofertas.preco, ofertas.moeda) IS DISTINCT FROM
               ({", ".join(novos)})
        """,
    )


def upsert_modulos(session: Session, linhas: Iterable[dict]) -> int:
    """Club modules of products (module_id → hotmart_module_id, sequence → ordem)."""
    colunas = [
        ("hotmart_product_id", "int"),
        ("module_id", "text"),
        ("nome", "text"),
        ("ordem", "int"),
    ]
    if not _copiar(session, "stg_modulos", colunas, linhas):
        return 0
    return _executar(
        session,
        """
        INSERT INTO modulos (produto_id, hotmart_module_id, nome, ordem)
        SELECT DISTINCT ON (p.id, s.module_id) p.id, s.module_id, left(s.nome, 255), s.ordem
          FROM stg_modulos s JOIN produtos p ON p.hotmart_product_id = s.hotmart_product_id
        ON CONFLICT (produto_id, hotmart_module_id) DO UPDATE
           SET nome = EXCLUDED.nome, ordem = EXCLUDED.ordem
         WHERE (modulos.nome, modulos.ordem) IS DISTINCT FROM (EXCLUDED.nome, EXCLUDED.ordem)
        """,
    )


def upsert_aulas(session: Session, linhas: Iterable[dict]) -> int:
    """Club pages (page_id → hotmart_page_hash, page_order → ordem, BY_DAYS → dias_liberacao)."""
    colunas = [
        ("hotmart_product_id", "int"),
        ("module_id", "text"),
        ("page_id", "text"),
        ("nome", "text"),
        ("ordem", "int"),
        ("dias_liberacao", "int"),
    ]
    if not _copiar(session, "stg_aulas", colunas, linhas):
        return 0
    return _executar(
        session,
        """
        INSERT INTO aulas (modulo_id, hotmart_page_hash, nome, ordem, dias_liberacao)
        SELECT DISTINCT ON (m.id, s.page_id) m.id, s.page_id, left(s.nome, 255), s.ordem,
               s.dias_liberacao
          FROM stg_aulas s
          JOIN produtos p ON p.hotmart_product_id = s.hotmart_product_id
          JOIN modulos m ON m.produto_id = p.id AND m.hotmart_module_id = s.module_id
        ON CONFLICT (modulo_id, hotmart_page_hash) DO UPDATE
           SET nome = EXCLUDED.nome, ordem = EXCLUDED.ordem,
               dias_liberacao = EXCLUDED.dias_liberacao
         WHERE (aulas.nome, aulas.ordem, aulas.dias_liberacao) IS DISTINCT FROM
               (EXCLUDED.nome, EXCLUDED.ordem, EXCLUDED.dias_liberacao)
        """,
    )


# ---- students -------------------------------------------------------------------------------


def sql_hash_email(expressao: str) -> str:
    """SQL: SHA-256 (hex) of a normalised e-mail, the key of the LGPD denylist."""
    return f"encode(sha256(convert_to(lower(btrim({expressao})), 'UTF8')), 'hex')"


def sql_hash_cpf(expressao: str) -> str:
    """SQL: SHA-256 (hex) of a CPF's digits, the other key of the LGPD denylist."""
    return f"encode(sha256(convert_to(regexp_replace({expressao}, '\\D', '', 'g'), 'UTF8')), 'hex')"


def _travar_pessoas(session: Session, linhas: int) -> None:
    """The student-matching locks for the rows in ``stg_alunos`` (see _LOCK_ALUNOS)."""
    if linhas > LIMITE_TRAVA_POR_PESSOA:
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_ALUNOS})
        return
    # In a stable order (no deadlock between two postbacks), in one round trip.
    session.execute(
        text(
            """
            SELECT pg_advisory_xact_lock_shared(:k),
                   (SELECT count(pg_advisory_xact_lock(:classe, hashtext(chave)))
                      FROM (SELECT DISTINCT chave FROM (
                                SELECT 'e:' || email AS chave FROM stg_alunos
                                 WHERE email IS NOT NULL
                                UNION SELECT 'c:' || cpf FROM stg_alunos WHERE cpf IS NOT NULL
                            ) AS todas ORDER BY chave) AS ordenadas)
            """
        ),
        {"k": _LOCK_ALUNOS, "classe": _CLASSE_PESSOA},
    )


def upsert_alunos(session: Session, linhas: Iterable[dict]) -> list[UUID]:
    """One person, one row: match by CPF when known, else by e-mail; return the touched ids."""
    colunas = [
        ("ord", "bigint"),
        ("email", "text"),
        ("nome", "text"),
        ("cpf", "text"),
        ("celular", "text"),
    ]
    numeradas = ({**linha, "ord": i} for i, linha in enumerate(linhas))
    n = _copiar(session, "stg_alunos", colunas, numeradas)
    if not n:
        return []
    _travar_pessoas(session, n)
    session.execute(
        text(
            """
            ALTER TABLE stg_alunos ADD COLUMN aluno_id uuid, ADD COLUMN chave text;
            DELETE FROM stg_alunos WHERE email IS NULL AND cpf IS NULL;
            """
        )
    )
    # People anonymised on request (services.lgpd) are never re-created from Hotmart's data.
    session.execute(
        text(
            f"""
            DELETE FROM stg_alunos s
             WHERE EXISTS (SELECT 1 FROM lgpd_anonimizados d
                            WHERE d.hash_email = {sql_hash_email("s.email")}
                               OR (s.cpf IS NOT NULL AND d.hash_cpf = {sql_hash_cpf("s.cpf")}))
            """
        )
    )
    resolver = """
        UPDATE stg_alunos s SET aluno_id = a.id FROM alunos a
         WHERE s.aluno_id IS NULL AND s.cpf IS NOT NULL AND a.cpf = s.cpf;
        UPDATE stg_alunos s SET aluno_id = a.id FROM alunos a
         WHERE s.aluno_id IS NULL AND s.email IS NOT NULL AND lower(a.email) = s.email;
    """
    session.execute(text(resolver))
    # New people: rows of one person share a key (their CPF, or the CPF another row with the
    # same e-mail carries, else the e-mail).
    session.execute(
        text(
            """
            UPDATE stg_alunos s SET chave = coalesce(
                s.cpf,
                (SELECT min(o.cpf) FROM stg_alunos o WHERE o.email = s.email AND o.cpf IS NOT NULL),
                'e:' || s.email)
             WHERE s.aluno_id IS NULL;
            INSERT INTO alunos (email, nome, cpf, celular)
            SELECT DISTINCT ON (chave) email, left(nome, 255), cpf, celular
              FROM stg_alunos WHERE aluno_id IS NULL AND email IS NOT NULL
             ORDER BY chave, (cpf IS NULL), ord DESC
            ON CONFLICT (email) DO NOTHING;
            """
        )
    )
    session.execute(text(resolver))
    # Known people: newer non-empty details win; a CPF is filled in only where it is free.
    session.execute(
        text(
            """
            WITH novo AS (
                SELECT aluno_id,
                       (array_agg(left(nome, 255) ORDER BY ord DESC)
                           FILTER (WHERE nome IS NOT NULL))[1] AS nome,
                       (array_agg(celular ORDER BY ord DESC)
                           FILTER (WHERE celular IS NOT NULL))[1] AS celular,
                       (array_agg(cpf ORDER BY ord DESC) FILTER (WHERE cpf IS NOT NULL))[1] AS cpf
                  FROM stg_alunos WHERE aluno_id IS NOT NULL
                 GROUP BY aluno_id
            )
            UPDATE alunos a
               SET nome = coalesce(n.nome, a.nome),
                   celular = coalesce(n.celular, a.celular),
                   cpf = coalesce(a.cpf, CASE WHEN NOT EXISTS
                         (SELECT 1 FROM alunos o WHERE o.cpf = n.cpf) THEN n.cpf END)
              FROM novo n
             WHERE a.id = n.aluno_id
               AND (a.nome, a.celular, a.cpf) IS DISTINCT FROM
                   (coalesce(n.nome, a.nome), coalesce(n.celular, a.celular),
                    coalesce(a.cpf, CASE WHEN NOT EXISTS
                         (SELECT 1 FROM alunos o WHERE o.cpf = n.cpf) THEN n.cpf END))
            """
        )
    )
    return list(
        session.execute(
            text("SELECT DISTINCT aluno_id FROM stg_alunos WHERE aluno_id IS NOT NULL")
        ).scalars()
    )


def _sql_aluno(alias: str) -> str:
    """Expression resolving a staging row's student: CPF first, else e-mail."""
    return (
        f"coalesce((SELECT a.id FROM alunos a WHERE a.cpf = {alias}.cpf), "
        f"(SELECT a.id FROM alunos a WHERE lower(a.email) = {alias}.email))"
    )


# ---- money ----------------------------------------------------------------------------------

_COLUNAS_TRANSACAO = [
    ("ord", "bigint"),
    ("id", "text"),
    ("email", "text"),
    ("cpf", "text"),
    ("hotmart_product_id", "int"),
    ("offer_code", "text"),
    ("status", "text"),
    ("status_hotmart", "text"),
    ("valor_pago", "numeric"),
    ("data_compra", "timestamptz"),
    ("data_aprovacao", "timestamptz"),
    ("data_garantia_fim", "timestamptz"),
    ("link_boleto", "text"),
    ("codigo_pix", "text"),
    ("origem_src", "text"),
    ("tipo_pagamento", "text"),
    ("recorrencia", "int"),
    ("subscriber_code", "text"),
    ("evento_em", "timestamptz"),
]


def upsert_transacoes(session: Session, linhas: Iterable[dict], *, fonte: str = "api") -> int:
    """Transactions by HP code, students and products resolved in SQL.

    ``fonte='postback'``: a late event never moves a transaction back in its lifecycle (a
    REFUNDED that arrived before its APPROVED stays REFUNDED), unless it is a later recurrence.
    ``fonte='api'``: the API's current state is authoritative.
    """
    numeradas = ({**linha, "ord": i} for i, linha in enumerate(linhas))
    if not _copiar(session, "stg_transacoes", _COLUNAS_TRANSACAO, numeradas):
        return 0
    # Postbacks: only forward in the lifecycle, or a later recurrence of a subscription.
    avanca = (
        "(coalesce(EXCLUDED.recorrencia, 0) > coalesce(transacoes.recorrencia, 0)"
        " OR status_transacao_ordem(EXCLUDED.status) >= status_transacao_ordem(transacoes.status))"
        if fonte == "postback"
        else "true"
    )
    status_novo = f"CASE WHEN {avanca} THEN EXCLUDED.status ELSE transacoes.status END"
    status_hotmart_novo = (
        f"CASE WHEN {avanca} THEN EXCLUDED.status_hotmart ELSE transacoes.status_hotmart END"
    )
    return _executar(
        session,
        f"""
        INSERT INTO transacoes AS transacoes (
            id, aluno_id, produto_id, oferta_id, status, valor_pago, data_compra,
            data_garantia_fim, link_boleto, codigo_pix, origem_src, status_hotmart,
            tipo_pagamento, data_aprovacao, recorrencia, hotmart_subscriber_code, evento_em,
            atualizado_em)
        SELECT DISTINCT ON (s.id) s.id, {_sql_aluno("s")}, p.id, o.id, s.status, s.valor_pago,
               s.data_compra, s.data_garantia_fim, s.link_boleto, s.codigo_pix,
               left(s.origem_src, 100), s.status_hotmart, s.tipo_pagamento, s.data_aprovacao,
               s.recorrencia, s.subscriber_code, s.evento_em, now()
          FROM stg_transacoes s
          JOIN produtos p ON p.hotmart_product_id = s.hotmart_product_id
          LEFT JOIN ofertas o ON o.produto_id = p.id AND o.hotmart_offer_code = s.offer_code
         ORDER BY s.id, s.ord DESC
        ON CONFLICT (id) DO UPDATE SET
            status = {status_novo},
            status_hotmart = {status_hotmart_novo},
            aluno_id = coalesce(EXCLUDED.aluno_id, transacoes.aluno_id),
            oferta_id = coalesce(EXCLUDED.oferta_id, transacoes.oferta_id),
            valor_pago = coalesce(EXCLUDED.valor_pago, transacoes.valor_pago),
            data_compra = coalesce(transacoes.data_compra, EXCLUDED.data_compra),
            data_garantia_fim = coalesce(EXCLUDED.data_garantia_fim, transacoes.data_garantia_fim),
            link_boleto = coalesce(EXCLUDED.link_boleto, transacoes.link_boleto),
            codigo_pix = coalesce(EXCLUDED.codigo_pix, transacoes.codigo_pix),
            origem_src = coalesce(EXCLUDED.origem_src, transacoes.origem_src),
            tipo_pagamento = coalesce(EXCLUDED.tipo_pagamento, transacoes.tipo_pagamento),
            data_aprovacao = coalesce(EXCLUDED.data_aprovacao, transacoes.data_aprovacao),
            recorrencia = greatest(EXCLUDED.recorrencia, transacoes.recorrencia),
            hotmart_subscriber_code = coalesce(EXCLUDED.hotmart_subscriber_code,
                                               transacoes.hotmart_subscriber_code),
            evento_em = greatest(EXCLUDED.evento_em, transacoes.evento_em),
            atualizado_em = now()
         WHERE (transacoes.status, transacoes.aluno_id, transacoes.oferta_id, transacoes.valor_pago,
                transacoes.data_garantia_fim, transacoes.link_boleto, transacoes.codigo_pix,
                transacoes.origem_src, transacoes.tipo_pagamento, transacoes.data_aprovacao,
                transacoes.recorrencia, transacoes.hotmart_subscriber_code)
               IS DISTINCT FROM
               ({status_novo}, coalesce(EXCLUDED.aluno_id, transacoes.aluno_id),
                coalesce(EXCLUDED.oferta_id, transacoes.oferta_id),
                coalesce(EXCLUDED.valor_pago, transacoes.valor_pago),
                coalesce(EXCLUDED.data_garantia_fim, transacoes.data_garantia_fim),
                coalesce(EXCLUDED.link_boleto, transacoes.link_boleto),
                coalesce(EXCLUDED.codigo_pix, transacoes.codigo_pix),
                coalesce(EXCLUDED.origem_src, transacoes.origem_src),
                coalesce(EXCLUDED.tipo_pagamento, transacoes.tipo_pagamento),
                coalesce(EXCLUDED.data_aprovacao, transacoes.data_aprovacao),
                greatest(EXCLUDED.recorrencia, transacoes.recorrencia),
                coalesce(EXCLUDED.hotmart_subscriber_code, transacoes.hotmart_subscriber_code))
        """,
    )


def recalcular_ltv(session: Session, aluno_ids: Sequence[UUID] | None = None) -> int:
    """ltv_total = sum of valor_pago over APPROVED and COMPLETE, for the given (or all) students."""
    filtro = "WHERE a.id = ANY(:ids)" if aluno_ids is not None else ""
    return _executar(
        session,
        f"""
        UPDATE alunos a SET ltv_total = n.ltv
          FROM (SELECT a.id,
                       coalesce(sum(t.valor_pago) FILTER (WHERE t.status = ANY(:pagos)), 0) AS ltv
                  FROM alunos a LEFT JOIN transacoes t ON t.aluno_id = a.id
                  {filtro} GROUP BY a.id) n
         WHERE a.id = n.id AND a.ltv_total IS DISTINCT FROM n.ltv
        """,
        {"ids": list(aluno_ids or []), "pagos": list(STATUS_PAGOS)},
    )
