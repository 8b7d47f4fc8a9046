"""The database stage of the Hotmart mirror: set-based upserts shared by the sync and postbacks.

Each function takes normalised rows (services.hotmart_normalizar), COPYs them into a temporary
staging table and applies one ``INSERT … SELECT … ON CONFLICT`` (or UPDATE … FROM) per table, so
the cost per row is a COPY row, never an ORM round trip. Writes that would change nothing are
skipped with ``IS DISTINCT FROM`` so a repeated sync rewrites no row. Statements without
parameters that follow one another go to the server in one round trip (``_roteiro``): a group
of purchase postbacks (``upsert_compras``) is one COPY and one pipeline of prepared statements.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

import psycopg
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
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


def _copiar(
    session: Session,
    tabela: str,
    colunas: Sequence[tuple[str, str]],
    linhas,
    *,
    extras: Sequence[tuple[str, str]] = (),
    numerar: bool = False,
) -> int:
    """COPY the rows into this connection's staging table ``tabela``; return the row count.

    ``numerar``: the first column is ``ord``, each row's position in ``linhas`` (later rows win).

    The temp table (``colunas`` plus ``extras``, columns filled later in SQL) is created on the
    connection's first use and kept: ``ON COMMIT DELETE ROWS`` empties it at each commit and the
    DELETE empties it for a second use in one transaction. A create/drop per batch wrote the
    catalogue every time, and psycopg forgets every prepared statement after a DROP or ALTER.
    """
    nomes = ", ".join(nome for nome, _ in colunas)
    dbapi = session.connection().connection
    n = 0
    with dbapi.driver_connection.cursor() as cur:
        cur.execute("; ".join(_sql_preparar_staging(dbapi, tabela, [*colunas, *extras])))
        chaves = [nome for nome, _ in colunas][1 if numerar else 0 :]
        with cur.copy(f"COPY {tabela} ({nomes}) FROM STDIN") as copia:
            for n, linha in enumerate(linhas, start=1):
                valores = map(linha.get, chaves)
                copia.write_row([n, *valores] if numerar else list(valores))
    return n


def _sql_preparar_staging(dbapi, tabela: str, colunas: Sequence[tuple[str, str]]) -> list[str]:
    """The statements that leave this connection's staging table ``tabela`` empty and with
    ``colunas`` (see _copiar). ``dbapi`` is the pooled connection: it remembers, per
    connection, the definition each staging table was created with, and a caller asking for
    other columns under the same name gets the table created again."""
    definicao = ", ".join(f"{nome} {tipo}" for nome, tipo in colunas)
    definicoes = dbapi.info.setdefault("stg_definicoes", {})
    refazer = definicoes.get(tabela, definicao) != definicao
    definicoes[tabela] = definicao
    return [
        *([f"DROP TABLE IF EXISTS {tabela}"] if refazer else []),
        f"CREATE TEMP TABLE IF NOT EXISTS {tabela} ({definicao}) ON COMMIT DELETE ROWS",
        f"DELETE FROM {tabela}",
    ]


def _executar(session: Session, sql: str, params: dict[str, Any] | None = None) -> int:
    return session.execute(text(sql), params or {}).rowcount or 0


# ---- catalogue ------------------------------------------------------------------------------


def _sql_upsert_produtos(origem: str) -> str:
    """Products from ``origem`` (a relation with hotmart_product_id, nome, ord).

    A product already stored with that name is left out before the insert: ``ON CONFLICT DO
    UPDATE`` locks the conflicting row even when its ``WHERE`` is false, and every purchase
    names its product, so two groups of postbacks would otherwise take turns on the same few
    product rows until commit.
    """
    return f"""
        INSERT INTO produtos (hotmart_product_id, nome)
        SELECT x.hotmart_product_id, x.nome
          FROM (SELECT DISTINCT ON (hotmart_product_id) hotmart_product_id, left(nome, 255) AS nome
                  FROM {origem} WHERE hotmart_product_id IS NOT NULL
                 ORDER BY hotmart_product_id, ord DESC) x
         WHERE NOT EXISTS (SELECT 1 FROM produtos p
                            WHERE p.hotmart_product_id = x.hotmart_product_id
                              AND p.nome IS NOT DISTINCT FROM x.nome)
        ON CONFLICT (hotmart_product_id) DO UPDATE SET nome = EXCLUDED.nome
         WHERE produtos.nome IS DISTINCT FROM EXCLUDED.nome
        """


def upsert_produtos(session: Session, linhas: Iterable[dict]) -> int:
    """Insert or rename products; our own columns (monitoring, subdomain, cover) are untouched."""
    colunas = [("ord", "bigint"), ("hotmart_product_id", "int"), ("nome", "text")]
    if not _copiar(session, "stg_produtos", colunas, linhas, numerar=True):
        return 0
    return _executar(session, _sql_upsert_produtos("stg_produtos"))


def _sql_upsert_ofertas(origem: str, *, so_lacunas: bool) -> str:
    """Offers from ``origem`` (hotmart_product_id, offer_code, nome, preco, moeda).

    As for products, an offer the rows would not change is left out before the insert, so its
    row is not locked until commit."""
    colunas_oferta = ("nome", "preco", "moeda")

    def novos(atual: str, vindo: str) -> list[str]:
        if so_lacunas:
            return [f"coalesce({atual}.{c}, {vindo}.{c})" for c in colunas_oferta]
        return [f"coalesce({vindo}.{c}, {atual}.{c})" for c in colunas_oferta]

    no_conflito = novos("ofertas", "EXCLUDED")
    # The last ORDER BY keys only make the choice among one batch's rows deterministic.
    return f"""
        INSERT INTO ofertas (produto_id, hotmart_offer_code, nome, preco, moeda)
        SELECT x.produto_id, x.hotmart_offer_code, x.nome, x.preco, x.moeda
          FROM (SELECT DISTINCT ON (p.id, s.offer_code) p.id AS produto_id,
                       s.offer_code AS hotmart_offer_code, left(s.nome, 255) AS nome, s.preco,
                       coalesce(s.moeda, 'BRL') AS moeda
                  FROM {origem} s JOIN produtos p ON p.hotmart_product_id = s.hotmart_product_id
                 WHERE s.offer_code IS NOT NULL
                 ORDER BY p.id, s.offer_code, (s.nome IS NULL), (s.preco IS NULL), s.preco, s.nome
               ) x
          LEFT JOIN ofertas o ON o.produto_id = x.produto_id
                             AND o.hotmart_offer_code = x.hotmart_offer_code
         WHERE o.id IS NULL
            OR (o.nome, o.preco, o.moeda) IS DISTINCT FROM ({", ".join(novos("o", "x"))})
        ON CONFLICT (produto_id, hotmart_offer_code) DO UPDATE
           SET {", ".join(f"{c} = {n}" for c, n in zip(colunas_oferta, no_conflito, strict=True))}
         WHERE (ofertas.nome, ofertas.preco, ofertas.moeda) IS DISTINCT FROM
               ({", ".join(no_conflito)})
        """


def upsert_ofertas(session: Session, linhas: Iterable[dict], *, so_lacunas: bool = False) -> int:
    """Offers by (product, code): name, price and currency; unknown details never erase known.

    ``so_lacunas``: the rows only fill what is still unknown (the sales step derives an offer
    from a sale, whose paid price includes interest: it must not overwrite the catalogue's
    price, nor make the mirror depend on which sale came last).
    """
    colunas = [
        ("hotmart_product_id", "int"),
        ("offer_code", "text"),
        ("nome", "text"),
        ("preco", "numeric"),
        ("moeda", "text"),
    ]
    if not _copiar(session, "stg_ofertas", colunas, linhas):
        return 0
    return _executar(session, _sql_upsert_ofertas("stg_ofertas", so_lacunas=so_lacunas))


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


def _sql_travar_pessoas(linhas: int) -> str:
    """SQL taking the student-matching locks for the rows in ``stg_alunos`` (see _LOCK_ALUNOS);
    the keys are our own constants, written in so the statement joins a script."""
    if linhas > LIMITE_TRAVA_POR_PESSOA:
        return f"SELECT pg_advisory_xact_lock({_LOCK_ALUNOS})"
    # In a stable order (no deadlock between two postbacks).
    return f"""
        SELECT pg_advisory_xact_lock_shared({_LOCK_ALUNOS}),
               (SELECT count(pg_advisory_xact_lock({_CLASSE_PESSOA}, hashtext(chave)))
                  FROM (SELECT DISTINCT chave FROM (
                            SELECT 'e:' || email AS chave FROM stg_alunos
                             WHERE email IS NOT NULL
                            UNION SELECT 'c:' || cpf FROM stg_alunos WHERE cpf IS NOT NULL
                        ) AS todas ORDER BY chave) AS ordenadas)
        """


_COLUNAS_ALUNO = [
    ("ord", "bigint"),
    ("email", "text"),
    ("nome", "text"),
    ("cpf", "text"),
    ("celular", "text"),
]
_EXTRAS_ALUNO = [("aluno_id", "uuid")]


def _sql_resolver_alunos(tabela: str) -> list[str]:
    """SQL filling the staging rows' ``aluno_id`` still empty: by CPF first, else by e-mail."""
    return [
        f"""UPDATE {tabela} s SET aluno_id = a.id FROM alunos a
             WHERE s.aluno_id IS NULL AND s.cpf IS NOT NULL AND a.cpf = s.cpf""",
        f"""UPDATE {tabela} s SET aluno_id = a.id FROM alunos a
             WHERE s.aluno_id IS NULL AND s.email IS NOT NULL AND lower(a.email) = s.email""",
    ]


def _resolver_alunos(session: Session, tabela: str) -> None:
    session.execute(text("; ".join(_sql_resolver_alunos(tabela))))


# Rows without a key, and people anonymised on request (services.lgpd): never re-created from
# Hotmart's data.
_SQL_ALUNOS_SEM_CHAVE_OU_ANONIMIZADOS = f"""
    DELETE FROM stg_alunos s
     WHERE (s.email IS NULL AND s.cpf IS NULL)
        OR EXISTS (SELECT 1 FROM lgpd_anonimizados d
                    WHERE d.hash_email = {sql_hash_email("s.email")}
                       OR (s.cpf IS NOT NULL AND d.hash_cpf = {sql_hash_cpf("s.cpf")}))
    """
# New people: rows of one person share a key (their CPF, or the CPF another row with the same
# e-mail carries, else the e-mail); the newest row with a CPF describes them. The rows still
# unresolved are then matched (CPF first, else e-mail) against the people just inserted: under
# the locks nobody else inserts these people, so those are the only new matches.
_SQL_ALUNOS_NOVOS = """
    WITH novos AS (
        INSERT INTO alunos (email, nome, cpf, celular)
        SELECT DISTINCT ON (chave) email, left(nome, 255), cpf, celular
          FROM (SELECT s.*, coalesce(s.cpf, min(s.cpf) OVER (PARTITION BY s.email),
                                     'e:' || s.email) AS chave
                  FROM stg_alunos s) n
         WHERE aluno_id IS NULL AND email IS NOT NULL
         ORDER BY chave, (cpf IS NULL), ord DESC
        ON CONFLICT (email) DO NOTHING
        RETURNING id, email, cpf
    ), achados AS (
        SELECT s.ord, coalesce(c.id, e.id) AS id
          FROM stg_alunos s
          LEFT JOIN novos c ON c.cpf = s.cpf
          LEFT JOIN novos e ON lower(e.email) = s.email
         WHERE s.aluno_id IS NULL
    )
    UPDATE stg_alunos s SET aluno_id = a.id
      FROM achados a
     WHERE s.ord = a.ord AND a.id IS NOT NULL
    """
# Known people: newer non-empty details win; a CPF is filled in only where it is free.
_SQL_ALUNOS_CONHECIDOS = """
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
_SQL_ALUNOS_TOCADOS = "SELECT DISTINCT aluno_id FROM stg_alunos WHERE aluno_id IS NOT NULL"


def _sql_alunos_da_staging(linhas: int) -> list[str]:
    """The statements that write the people in ``stg_alunos`` (``linhas`` rows): locks, the
    denylist, matching, new people, known people's details. No parameters, so they go to the
    server as one script (one round trip)."""
    return [
        _sql_travar_pessoas(linhas),
        _SQL_ALUNOS_SEM_CHAVE_OU_ANONIMIZADOS,
        *_sql_resolver_alunos("stg_alunos"),
        _SQL_ALUNOS_NOVOS,
        _SQL_ALUNOS_CONHECIDOS,
    ]


def _roteiro(session: Session, comandos: Sequence[str], *, preparados: bool = False) -> list[tuple]:
    """Run parameterless statements (one each) in one round trip in the session's transaction;
    return the rows of the last one. A failure is raised as SQLAlchemy raises it
    (``DBAPIError`` subclasses), as if run through ``session.execute``.

    By default they go as one script (the simple query protocol: each is parsed and planned
    on every run, for the rows at hand). ``preparados``: they go in a pipeline as prepared
    statements, planned once per connection — for the postbacks' small groups, whose plans
    do not depend on how many rows are staged; not for the sync's batches of thousands.
    """
    dbapi = session.connection().connection
    conexao = dbapi.driver_connection
    try:
        with conexao.cursor() as cur:
            if not preparados:
                cur.execute(";\n".join(comandos))
                while cur.nextset():
                    pass
                return cur.fetchall() if cur.description else []
            with conexao.pipeline():
                for comando in comandos:
                    cur.execute(comando, prepare=True)
            return cur.fetchall() if cur.description else []
    except psycopg.Error as exc:
        raise DBAPIError.instance(";\n".join(comandos), None, exc, psycopg.Error) from exc


def upsert_alunos(session: Session, linhas: Iterable[dict]) -> list[UUID]:
    """One person, one row: match by CPF when known, else by e-mail; return the touched ids."""
    n = _copiar(session, "stg_alunos", _COLUNAS_ALUNO, linhas, extras=_EXTRAS_ALUNO, numerar=True)
    if not n:
        return []
    linhas_ids = _roteiro(session, [*_sql_alunos_da_staging(n), _SQL_ALUNOS_TOCADOS])
    return [aluno_id for (aluno_id,) in linhas_ids]


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
    ("nome", "text"),
    ("produto_nome", "text"),
    ("moeda", "text"),
    # Purchase postbacks only (upsert_compras): the buyer's phone and the offer's own details.
    ("celular", "text"),
    ("oferta_nome", "text"),
    ("oferta_preco", "numeric"),
]
_EXTRAS_TRANSACAO = [("aluno_id", "uuid")]


# The products the staged sales name (for _sql_upsert_produtos).
_PRODUTOS_DAS_VENDAS = (
    "(SELECT hotmart_product_id, produto_nome AS nome, ord FROM stg_transacoes) s"
)


def _copiar_vendas(session: Session, linhas: Iterable[dict]) -> int:
    """COPY sales into this connection's ``stg_transacoes`` (see _copiar); the row count."""
    return _copiar(
        session,
        "stg_transacoes",
        _COLUNAS_TRANSACAO,
        linhas,
        extras=_EXTRAS_TRANSACAO,
        numerar=True,
    )


def upsert_transacoes(session: Session, linhas: Iterable[dict], *, fonte: str = "api") -> int:
    """Transactions by HP code, students and products resolved in SQL.

    ``fonte='postback'``: a late event never moves a transaction back in its lifecycle (a
    REFUNDED that arrived before its APPROVED stays REFUNDED), unless it is a later recurrence.
    ``fonte='api'``: the API's current state is authoritative.
    """
    if not _copiar_vendas(session, linhas):
        return 0
    return _gravar_transacoes(session, fonte)


def upsert_vendas(session: Session, linhas: Sequence[dict]) -> tuple[list[UUID], int]:
    """One batch of the sales history (services.hotmart_normalizar.venda_da_api rows).

    Writes the products and offers the sales name (offers only where still unknown), creates the
    buyers not known yet (a sale's buyer may be missing from the buyers list; known ones keep
    what the buyers step wrote) and upserts the transactions with their student resolved once
    in staging. Returns the students of the batch and the transactions written.
    """
    if not _copiar_vendas(session, linhas):
        return [], 0
    session.execute(text(_sql_upsert_produtos(_PRODUTOS_DAS_VENDAS)))
    session.execute(
        text(
            _sql_upsert_ofertas(
                "(SELECT hotmart_product_id, offer_code, NULL::text AS nome,"
                " valor_pago AS preco, moeda FROM stg_transacoes)",
                so_lacunas=True,
            )
        )
    )
    _resolver_alunos(session, "stg_transacoes")
    faltam = session.execute(
        text(
            "SELECT email, nome FROM stg_transacoes"
            " WHERE aluno_id IS NULL AND email IS NOT NULL ORDER BY ord"
        )
    ).all()
    if faltam:
        upsert_alunos(session, [{"email": e, "nome": n} for e, n in faltam])
        _resolver_alunos(session, "stg_transacoes")
    gravadas = _gravar_transacoes(session, "api")
    ids = session.execute(
        text("SELECT DISTINCT aluno_id FROM stg_transacoes WHERE aluno_id IS NOT NULL")
    ).scalars()
    return list(ids), gravadas


# The students in stg_alunos as a uuid[] (for statements that join upsert_compras' script).
# The cast keeps ``= ANY(…)`` from reading it as a subquery of arrays.
IDS_DA_STAGING = (
    "(SELECT array_agg(DISTINCT aluno_id) FROM stg_alunos WHERE aluno_id IS NOT NULL)::uuid[]"
)


def upsert_compras(
    session: Session, linhas: Sequence[dict], depois: Sequence[str] = ()
) -> list[UUID]:
    """Purchase postbacks, one row each: the sale (as ``upsert_transacoes`` takes it) plus its
    product's name (``produto_nome``), its offer's name, price and currency (``oferta_nome``,
    ``oferta_preco``, ``moeda``) and the buyer's name and phone (``nome``, ``celular``).

    What the postback path writes with one upsert per table (products, offers, buyers,
    transactions with the postback's lifecycle rule), from one COPY and one pipeline of
    prepared statements: a group of postbacks costs a handful of round trips however many it
    holds, and its statements are planned once per connection. ``depois``: more
    parameterless statements for the same script (``IDS_DA_STAGING`` names the students).
    Returns the students touched.
    """
    n = _copiar_vendas(session, linhas)
    if not n:
        return []
    dbapi = session.connection().connection
    linhas_ids = _roteiro(
        session,
        [
            _sql_upsert_produtos(_PRODUTOS_DAS_VENDAS),
            _sql_upsert_ofertas(
                "(SELECT hotmart_product_id, offer_code, oferta_nome AS nome,"
                " oferta_preco AS preco, moeda FROM stg_transacoes)",
                so_lacunas=False,
            ),
            *_sql_preparar_staging(dbapi, "stg_alunos", [*_COLUNAS_ALUNO, *_EXTRAS_ALUNO]),
            "INSERT INTO stg_alunos (ord, email, nome, cpf, celular)"
            " SELECT ord, email, nome, cpf, celular FROM stg_transacoes",
            *_sql_alunos_da_staging(n),
            _sql_gravar_transacoes("postback"),
            *depois,
            _SQL_ALUNOS_TOCADOS,
        ],
        preparados=True,
    )
    return [aluno_id for (aluno_id,) in linhas_ids]


def _gravar_transacoes(session: Session, fonte: str) -> int:
    """stg_transacoes → transacoes (a staging row's aluno_id, when resolved, saves the lookup)."""
    return _executar(session, _sql_gravar_transacoes(fonte))


def _sql_gravar_transacoes(fonte: str) -> str:
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
    return f"""
        INSERT INTO transacoes AS transacoes (
            id, aluno_id, produto_id, oferta_id, status, valor_pago, data_compra,
            data_garantia_fim, link_boleto, codigo_pix, origem_src, status_hotmart,
            tipo_pagamento, data_aprovacao, recorrencia, hotmart_subscriber_code, evento_em,
            atualizado_em)
        SELECT DISTINCT ON (s.id) s.id, coalesce(s.aluno_id, {_sql_aluno("s")}), p.id, o.id,
               s.status, s.valor_pago, s.data_compra, s.data_garantia_fim, s.link_boleto,
               s.codigo_pix, left(s.origem_src, 100), s.status_hotmart, s.tipo_pagamento,
               s.data_aprovacao, s.recorrencia, s.subscriber_code, s.evento_em, now()
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
        """


def recalcular_ltv(session: Session, aluno_ids: Sequence[UUID] | None = None) -> int:
    """ltv_total = sum of valor_pago over APPROVED and COMPLETE, for the given (or all) students."""
    if aluno_ids is None:
        return _executar(session, sql_recalcular_ltv(None))
    return _executar(session, sql_recalcular_ltv(":ids"), {"ids": list(aluno_ids)})


def sql_recalcular_ltv(ids: str | None) -> str:
    """SQL of ``recalcular_ltv`` for the students of the uuid[] expression ``ids`` (None: all)."""
    filtro = f"WHERE a.id = ANY({ids})" if ids is not None else ""
    return f"""
        UPDATE alunos a SET ltv_total = n.ltv
          FROM (SELECT a.id,
                       coalesce(sum(t.valor_pago) FILTER
                                (WHERE t.status = ANY({sql_textos(STATUS_PAGOS)})), 0) AS ltv
                  FROM alunos a LEFT JOIN transacoes t ON t.aluno_id = a.id
                  {filtro} GROUP BY a.id) n
         WHERE a.id = n.id AND a.ltv_total IS DISTINCT FROM n.ltv
        """


def sql_textos(valores: Sequence[str]) -> str:
    """A text[] literal of our own constants (status names), so a statement needs no parameter."""
    if not all(v.replace("_", "").isalnum() for v in valores):
        raise ValueError("só constantes de status cabem num literal")
    return "ARRAY[" + ", ".join(f"'{v}'" for v in valores) + "]::text[]"
