"""LGPD: export everything held about a student (JSON) and anonymise them on request.

Both are admin operations and both are audited (who, which student, never the content).
Anonymisation keeps the financial records (transactions with their values, statuses and dates,
still linked to the same student id) and replaces or removes every personal datum around them;
a hash of the e-mail and CPF goes to ``lgpd_anonimizados`` so a Hotmart sync never re-creates
the person (services.hotmart_espelho.upsert_alunos consults it).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from services import consentimento
from services.alunos import regex_nome
from services.auditoria import registrar
from services.disparo import CLASSE_LOCK
from services.hotmart_espelho import _LOCK_ALUNOS, sql_hash_cpf, sql_hash_email

VERSAO_FORMATO = 1
LIMITE_EVENTOS_EXPORTADOS = 1000  # raw webhook events in an export, newest first
TAMANHO_MINIMO_MOTIVO = 5
TAMANHO_MAXIMO_MOTIVO = 500
MARCADOR = "[anonimizado]"
TEXTO_REMOVIDO = "[texto removido — LGPD]"
CORPO_REMOVIDO = "[corpo removido — LGPD]"
MOTIVO_CANCELAMENTO = "titular anonimizado (LGPD)"
ORIGEM_CONSENTIMENTO = "lgpd"
_LOTE_EVENTOS = 500
_MINIMO_DIGITOS = 8  # shorter digit runs (a DDD, a house number) are not identifiers

# In a raw event that mentions the person: subtrees that describe a buyer/user are scrubbed
# whole; payment links can carry the payer's data; these keys are scrubbed in any object that
# holds one of the person's identifiers (a Meta contact, message or status of their number).
_CHAVES_PESSOA = {"buyer", "subscriber", "user", "student"}
_CHAVES_PAGAMENTO = {"billet_url", "pix_code", "pix_qrcode", "billet_barcode"}
_CHAVES_INTEIRAS = _CHAVES_PESSOA | _CHAVES_PAGAMENTO
_CHAVES_PESSOAIS = set(
    "name first_name last_name full_name email phone phone_number checkout_phone "
    "checkout_phone_code document doc cpf address zip zipcode cep ucode profile wa_id from "
    "recipient_id text body caption button interactive location".split()
)


class LgpdInvalido(ValueError):
    """Bad input for an LGPD operation (message in pt-BR, safe to show)."""


@dataclass(frozen=True)
class ResumoAnonimizacao:
    """What an anonymisation did (or that it had already been done)."""

    aluno_id: uuid.UUID
    ja_anonimizado: bool
    anonimizado_em: datetime
    nome: str
    alteracoes: dict[str, int] = field(default_factory=dict)
    chatwoot_contato_id: int | None = None


def _uuid(aluno_id: uuid.UUID | str) -> uuid.UUID:
    try:
        return aluno_id if isinstance(aluno_id, uuid.UUID) else uuid.UUID(str(aluno_id).strip())
    except ValueError:
        raise LgpdInvalido(
            "Identificador de aluno inválido: use o ID (UUID) que aparece no perfil do aluno."
        ) from None


def _motivo(motivo: str | None) -> str:
    motivo = " ".join((motivo or "").split())
    if len(motivo) < TAMANHO_MINIMO_MOTIVO:
        raise LgpdInvalido(
            f"Informe o motivo da anonimização (pelo menos {TAMANHO_MINIMO_MOTIVO} caracteres)."
        )
    if len(motivo) > TAMANHO_MAXIMO_MOTIVO:
        raise LgpdInvalido(f"O motivo pode ter no máximo {TAMANHO_MAXIMO_MOTIVO} caracteres.")
    return motivo


def _json(valor: Any) -> Any:
    """A database value as JSON: dates ISO 8601, decimals and ids as strings."""
    if isinstance(valor, dict):
        return {str(k): _json(v) for k, v in valor.items()}
    if isinstance(valor, list | tuple):
        return [_json(v) for v in valor]
    if isinstance(valor, datetime | date):
        return valor.isoformat()
    if isinstance(valor, Decimal | uuid.UUID):
        return str(valor)
    return valor


def _linhas(session: Session, sql: str, parametros: dict) -> list[dict]:
    return [_json(dict(linha)) for linha in session.execute(text(sql), parametros).mappings()]


# ---- recognising the person in stored data -------------------------------------------------


def _digitos(valor: Any) -> str:
    return re.sub(r"\D", "", str(valor or ""))


@dataclass
class _Identidade:
    """The person's identifiers: what their data can be recognised by elsewhere."""

    email: str | None
    nome: str | None
    cpf: str | None
    celular: str | None
    telefones: set[str]  # numbers our messages went to and Meta's wa_ids
    transacoes: list[str]

    def numeros(self) -> set[str]:
        """Phone and CPF digit forms long enough to identify the person."""
        formas = {_digitos(self.cpf)}
        for telefone in {self.celular, *self.telefones}:
            d = _digitos(telefone)
            formas |= {d, d[2:] if d.startswith("55") else d, d[4:] if d.startswith("55") else ""}
        return {f for f in formas if len(f) >= _MINIMO_DIGITOS}

    def agulhas(self) -> list[str]:
        """JSON string values (quoted, as jsonb::text writes them) that mention the person."""
        valores = {self.email, self.cpf, self.celular, *self.telefones, *self.transacoes}
        valores |= self.numeros()
        return sorted(
            json.dumps(v.strip().lower(), ensure_ascii=False)
            for v in valores
            if v and len(v.strip()) >= 6
        )


def _identidade(session: Session, aluno: dict) -> _Identidade:
    telefones = session.execute(
        text(
            "SELECT DISTINCT unnest(ARRAY[telefone, wa_id]) FROM logs_disparo WHERE aluno_id = :a"
        ),
        {"a": aluno["id"]},
    ).scalars()
    transacoes = session.execute(
        text("SELECT id FROM transacoes WHERE aluno_id = :a ORDER BY id"), {"a": aluno["id"]}
    ).scalars()
    return _Identidade(
        email=(aluno["email"] or "").strip().lower() or None,
        nome=(aluno["nome"] or "").strip() or None,
        cpf=(aluno["cpf"] or "").strip() or None,
        celular=(aluno["celular"] or "").strip() or None,
        telefones={t for t in telefones if t},
        transacoes=list(transacoes),
    )


def _sql_eventos(agulhas: list[str]) -> tuple[str, dict]:
    """WHERE clause (and its parameter) of the raw events holding one of the JSON values.

    One case-insensitive regex of escaped literals, passed as a bound parameter: a value the
    person typed can neither break out of the SQL nor act as a pattern. Scans every event once.
    """
    padrao = "|".join(regex_nome(a) for a in agulhas)
    return "(e.payload::text ~* :padrao OR e.corpo_bruto ~* :padrao)", {"padrao": padrao}


class _Limpador:
    """Recognises the person's identifiers in free text and in raw JSON, and scrubs them."""

    def __init__(self, identidade: _Identidade) -> None:
        fortes = []
        if identidade.email:  # not inside a longer address (ana.maria@… is not maria@…)
            fortes.append(rf"(?<![\w.+\-]){regex_nome(identidade.email)}(?![\w.\-])")
        if identidade.cpf:
            fortes.append(regex_nome(identidade.cpf))
        for numero in sorted(identidade.numeros(), key=len, reverse=True):
            # digits with the punctuation people type between them: (11) 98765-4321, 529.982…
            fortes.append(r"(?<!\d)" + r"[\s().\-/+]{0,2}".join(numero) + r"(?!\d)")
        self._forte = re.compile("|".join(fortes), re.I) if fortes else None
        nomes = []
        if identidade.nome:
            nomes.append(identidade.nome)
            nomes += [p for p in identidade.nome.split() if len(p) >= 3]
        self._nome = (
            re.compile("|".join(rf"(?<!\w){regex_nome(n)}(?!\w)" for n in nomes), re.I)
            if nomes
            else None
        )

    def forte(self, valor: str) -> bool:
        return bool(self._forte and self._forte.search(valor))

    def menciona(self, valor: str) -> bool:
        return self.forte(valor) or bool(self._nome and self._nome.search(valor))

    def texto(self, valor: str | None) -> str | None:
        """Free text with every mention (e-mail, CPF, phone, name or part of it) replaced."""
        for padrao in (self._forte, self._nome):
            if valor and padrao:
                valor = padrao.sub(MARCADOR, valor)
        return valor

    def recorte(self, no: Any) -> Any:
        """A raw event as exported: in a list where some items concern the person (a batch of
        Meta statuses, contacts, messages), only those items; other people's stay out."""
        if isinstance(no, dict):
            return {k: self.recorte(v) for k, v in no.items()}
        if isinstance(no, list):
            dele = [self.forte(json.dumps(v, ensure_ascii=False)) for v in no]
            if any(dele):
                no = [v for v, marcado in zip(no, dele, strict=True) if marcado]
            return [self.recorte(v) for v in no]
        return no

    def payload(self, no: Any, *, tudo: bool = False) -> Any:
        """A raw event with the person's data scrubbed; keys and everything else kept."""
        if isinstance(no, dict):
            pessoal = tudo or any(
                isinstance(v, str | int | float) and not isinstance(v, bool) and self.forte(str(v))
                for v in no.values()
            )
            return {
                k: self.payload(
                    v,
                    tudo=tudo
                    or str(k).lower() in _CHAVES_INTEIRAS
                    or (pessoal and str(k).lower() in _CHAVES_PESSOAIS),
                )
                for k, v in no.items()
            }
        if isinstance(no, list):
            return [self.payload(v, tudo=tudo) for v in no]
        if no is None or isinstance(no, bool):
            return no
        if isinstance(no, int | float):
            return None if tudo or self.forte(str(no)) else no
        return MARCADOR if tudo or self.menciona(str(no)) else no


# ---- export --------------------------------------------------------------------------------

_SQL_EXPORTACAO = {
    "transacoes": """
        SELECT t.*, p.nome AS produto, o.nome AS oferta, o.hotmart_offer_code AS oferta_codigo
          FROM transacoes t
          LEFT JOIN produtos p ON p.id = t.produto_id
          LEFT JOIN ofertas o ON o.id = t.oferta_id
         WHERE t.aluno_id = :a ORDER BY t.data_compra NULLS LAST, t.id
    """,
    "matriculas": """
        SELECT m.*, p.nome AS produto FROM matriculas m LEFT JOIN produtos p ON p.id = m.produto_id
         WHERE m.aluno_id = :a ORDER BY m.data_inicio NULLS LAST, m.id
    """,
    "progresso_aulas": """
        SELECT pa.*, au.nome AS aula, md.nome AS modulo, p.nome AS produto
          FROM progresso_aulas pa
          JOIN matriculas m ON m.id = pa.matricula_id
          LEFT JOIN aulas au ON au.id = pa.aula_id
          LEFT JOIN modulos md ON md.id = au.modulo_id
          LEFT JOIN produtos p ON p.id = md.produto_id
         WHERE m.aluno_id = :a ORDER BY pa.data_conclusao, pa.id
    """,
    "alunos_tags": """
        SELECT t.id AS tag_id, t.nome, t.cor_hex
          FROM alunos_tags alt JOIN tags t ON t.id = alt.tag_id
         WHERE alt.aluno_id = :a ORDER BY lower(t.nome), t.id
    """,
    "consentimentos": """
        SELECT * FROM consentimentos WHERE aluno_id = :a ORDER BY registrado_em, id
    """,
    "logs_disparo": """
        SELECT l.*, t.nome_meta AS template
          FROM logs_disparo l LEFT JOIN templates t ON t.id = l.template_id
         WHERE l.aluno_id = :a ORDER BY l.data_envio, l.id
    """,
    "filas_disparo": """
        SELECT f.*, t.nome_meta AS template, r.nome AS regra
          FROM filas_disparo f
          LEFT JOIN templates t ON t.id = f.template_id
          LEFT JOIN regras_automacao r ON r.id = f.regra_id
         WHERE f.aluno_id = :a ORDER BY f.data_criacao, f.id
    """,
    "carrinhos_abandonados": """
        SELECT c.*, p.nome AS produto
          FROM carrinhos_abandonados c LEFT JOIN produtos p ON p.id = c.produto_id
         WHERE c.aluno_id = :a OR lower(c.email) = CAST(:email AS text)
            OR c.celular = ANY(CAST(:telefones AS text[]))
         ORDER BY c.criado_em, c.id
    """,
}


def exportar_aluno(session: Session, aluno_id: uuid.UUID | str, *, usuario: str | None) -> dict:
    """Everything held about one student, JSON-serialisable; audited (never the content).

    Raw webhook events: those whose JSON holds the student's e-mail, CPF, phone or one of their
    transaction codes as a value, at most LIMITE_EVENTOS_EXPORTADOS, newest first.
    """
    aluno_id = _uuid(aluno_id)
    aluno = session.execute(text("SELECT * FROM alunos WHERE id = :a"), {"a": aluno_id})
    aluno = aluno.mappings().first()
    if aluno is None:
        raise LgpdInvalido("Aluno não encontrado. Confira o ID e tente de novo.")
    identidade = _identidade(session, aluno)
    parametros = {
        "a": aluno_id,
        "email": identidade.email,
        "telefones": sorted({identidade.celular, *identidade.telefones} - {None}),
    }
    dados: dict[str, Any] = {
        "versao_formato": VERSAO_FORMATO,
        "gerado_em": datetime.now(UTC).isoformat(),
        "aluno": _json(dict(aluno)),
    }
    for chave, sql in _SQL_EXPORTACAO.items():
        dados[chave] = _linhas(session, sql, parametros)
    chatwoot = _linhas(session, "SELECT * FROM chatwoot_contatos WHERE aluno_id = :a", parametros)
    dados["chatwoot_contatos"] = chatwoot[0] if chatwoot else None
    eventos: list[dict] = []
    if agulhas := identidade.agulhas():
        condicao, extra = _sql_eventos(agulhas)
        eventos = _linhas(
            session,
            f"""
            SELECT e.id, e.origem, e.evento_id, e.tipo, e.recebido_em, e.processado_em, e.erro,
                   e.payload, e.corpo_bruto
              FROM eventos_webhook e WHERE {condicao}
             ORDER BY e.recebido_em DESC, e.id DESC LIMIT :limite
            """,
            {**extra, "limite": LIMITE_EVENTOS_EXPORTADOS + 1},
        )
    limpador = _Limpador(identidade)
    for evento in eventos:
        evento["payload"] = limpador.recorte(evento["payload"])
    dados["eventos_webhook_truncado"] = len(eventos) > LIMITE_EVENTOS_EXPORTADOS
    dados["eventos_webhook"] = eventos[:LIMITE_EVENTOS_EXPORTADOS]
    registrar(
        session,
        usuario=usuario,
        acao="lgpd_exportado",
        entidade="alunos",
        entidade_id=str(aluno_id),
        detalhes={"registros": {k: len(v) for k, v in dados.items() if isinstance(v, list)}},
    )
    return dados


def exportar_aluno_json(
    session: Session, aluno_id: uuid.UUID | str, *, usuario: str | None
) -> bytes:
    """The export as UTF-8 JSON bytes (what the download button and the CLI write)."""
    dados = exportar_aluno(session, aluno_id, usuario=usuario)
    return json.dumps(dados, ensure_ascii=False, indent=2).encode("utf-8")


# ---- anonymisation -------------------------------------------------------------------------


def anonimizado_em(session: Session, aluno_id: uuid.UUID | str) -> datetime | None:
    """When the student was anonymised, or None."""
    return session.execute(
        text("SELECT anonimizado_em FROM alunos WHERE id = :a"), {"a": _uuid(aluno_id)}
    ).scalar()


def pseudonimo(aluno_id: uuid.UUID) -> tuple[str, str]:
    """(name, e-mail) that replace the person's: derived from the random id, unique, unroutable."""
    resumo = hashlib.sha256(aluno_id.bytes).hexdigest()
    return f"Titular anonimizado {resumo[:8]}", f"anonimizado+{resumo[:16]}@invalid"


def anonimizar_aluno(
    session: Session, aluno_id: uuid.UUID | str, *, usuario: str | None, motivo: str | None
) -> ResumoAnonimizacao:
    """Replace the student's personal data everywhere, keeping the financial records; audited.

    All or nothing (a savepoint: a failure half-way leaves the caller's transaction as it was);
    the caller commits. A second call changes nothing and says so (``ja_anonimizado``).
    """
    motivo = _motivo(motivo)
    aluno_id = _uuid(aluno_id)
    with session.begin_nested():
        return _anonimizar(session, aluno_id, usuario=usuario, motivo=motivo)


_SQL_EM_ENVIO = f"""
    EXISTS (SELECT 1 FROM pg_locks l
             WHERE l.locktype = 'advisory' AND l.granted AND l.classid = {CLASSE_LOCK}
               AND l.objid = f.reservado_por AND l.objsubid = 2)
"""  # the item's dispatch worker is alive (same test as services.disparo.recuperar_orfaos)


def _anonimizar(
    session: Session, aluno_id: uuid.UUID, *, usuario: str | None, motivo: str
) -> ResumoAnonimizacao:
    # The lock of the Hotmart student upsert, taken first as it does: a postback that already
    # matched this person by e-mail/CPF finishes before us, or runs after and finds no one.
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_ALUNOS})
    aluno = session.execute(
        text("SELECT * FROM alunos WHERE id = :a FOR UPDATE"), {"a": aluno_id}
    ).mappings()
    aluno = aluno.first()
    if aluno is None:
        raise LgpdInvalido("Aluno não encontrado. Confira o ID e tente de novo.")
    chatwoot = session.execute(
        text("SELECT contato_id FROM chatwoot_contatos WHERE aluno_id = :a"), {"a": aluno_id}
    ).scalar()
    if aluno["anonimizado_em"] is not None:
        return ResumoAnonimizacao(
            aluno_id, True, aluno["anonimizado_em"], aluno["nome"], {}, chatwoot
        )
    p: dict[str, Any] = {"a": aluno_id}
    n: dict[str, int] = {}

    def executar(chave: str, sql: str, parametros: dict | None = None) -> None:
        n[chave] = n.get(chave, 0) + (
            session.execute(text(sql), {**p, **(parametros or {})}).rowcount or 0
        )

    # Queue first: the cancelled rows are locked, so no dispatcher claims them from here on.
    executar(
        "filas_disparo_cancelados",
        f"""
        UPDATE filas_disparo f SET status = 'cancelado', motivo_cancelamento = :m
         WHERE f.aluno_id = :a AND (f.status IN ('pendente', 'aprovado', 'verificar')
                                    OR (f.status = 'enviando' AND NOT {_SQL_EM_ENVIO}))
        """,
        {"m": MOTIVO_CANCELAMENTO},
    )
    em_envio = session.execute(
        text(f"SELECT count(*) FROM filas_disparo f WHERE f.aluno_id = :a AND {_SQL_EM_ENVIO}"),
        p,
    ).scalar()
    if em_envio:
        raise LgpdInvalido(
            "Uma mensagem para este aluno está sendo enviada agora. Tente de novo em instantes."
        )

    identidade = _identidade(session, aluno)
    limpador = _Limpador(identidade)
    n["eventos_webhook"] = _limpar_eventos(session, identidade, limpador)

    cpf_digitos = _digitos(identidade.cpf) or None
    if identidade.email or cpf_digitos:
        executar(
            "lgpd_anonimizados",
            f"INSERT INTO lgpd_anonimizados (hash_email, hash_cpf) "
            f"VALUES ({sql_hash_email('CAST(:e AS text)')}, {sql_hash_cpf('CAST(:c AS text)')})",
            {"e": identidade.email, "c": cpf_digitos},
        )
    executar(
        "carrinhos_abandonados",
        """
        UPDATE carrinhos_abandonados c SET nome = NULL, email = NULL, celular = NULL
         WHERE c.aluno_id = :a OR lower(c.email) = CAST(:e AS text)
            OR c.celular = ANY(CAST(:t AS text[]))
        """,
        {"e": identidade.email, "t": sorted({identidade.celular, *identidade.telefones} - {None})},
    )
    executar(
        "transacoes",
        "UPDATE transacoes SET link_boleto = NULL, codigo_pix = NULL, atualizado_em = now() "
        "WHERE aluno_id = :a AND (link_boleto IS NOT NULL OR codigo_pix IS NOT NULL)",
    )
    executar(
        "logs_disparo",
        """
        UPDATE logs_disparo SET telefone = NULL, wa_id = NULL, variaveis = NULL,
               texto_renderizado = CASE WHEN texto_renderizado IS NOT NULL THEN :r END
         WHERE aluno_id = :a
        """,
        {"r": TEXTO_REMOVIDO},
    )
    executar(
        "filas_disparo",
        """
        UPDATE filas_disparo SET variaveis = NULL,
               texto_renderizado = CASE WHEN texto_renderizado IS NOT NULL THEN :r END
         WHERE aluno_id = :a
        """,
        {"r": TEXTO_REMOVIDO},
    )
    # Free text written about the person by agents, Meta or the opt-out ledger.
    for tabela, colunas in (
        ("logs_disparo", ("erro_titulo",)),
        ("filas_disparo", ("motivo_rejeicao", "erro_mensagem")),
        ("consentimentos", ("detalhes",)),
    ):
        n[f"{tabela}_textos"] = _limpar_textos(session, tabela, colunas, aluno_id, limpador)
    executar("alunos_tags", "DELETE FROM alunos_tags WHERE aluno_id = :a")
    n["consentimentos"] = consentimento.registrar(
        session,
        aluno_ids=[aluno_id],
        concedido=False,
        origem=ORIGEM_CONSENTIMENTO,
        detalhes="consentimento revogado pela anonimização (LGPD)",
    )
    nome, email = pseudonimo(aluno_id)
    quando = session.execute(
        text(
            """
            UPDATE alunos SET nome = :n, email = :e, celular = NULL, cpf = NULL, foto_url = NULL,
                   anonimizado_em = now()
             WHERE id = :a RETURNING anonimizado_em
            """
        ),
        {**p, "n": nome, "e": email},
    ).scalar_one()
    registrar(
        session,
        usuario=usuario,
        acao="lgpd_anonimizado",
        entidade="alunos",
        entidade_id=str(aluno_id),
        # The reason as typed minus any mention of the person (an agent may write their name).
        detalhes={"motivo": limpador.texto(motivo), "alteracoes": n},
    )
    return ResumoAnonimizacao(aluno_id, False, quando, nome, n, chatwoot)


def _limpar_textos(
    session: Session,
    tabela: str,
    colunas: tuple[str, ...],
    aluno_id: uuid.UUID,
    limpador: _Limpador,
) -> int:
    """Scrub mentions of the person from free-text columns of their own rows; rows changed."""
    lista = ", ".join(colunas)
    linhas = session.execute(
        text(f"SELECT id, {lista} FROM {tabela} WHERE aluno_id = :a"), {"a": aluno_id}
    ).all()
    mudadas = []
    for linha in linhas:
        novos = {c: limpador.texto(getattr(linha, c)) for c in colunas}
        if any(novos[c] != getattr(linha, c) for c in colunas):
            mudadas.append({"id": linha.id, **novos})
    if mudadas:
        atribuicoes = ", ".join(f"{c} = :{c}" for c in colunas)
        session.execute(text(f"UPDATE {tabela} SET {atribuicoes} WHERE id = :id"), mudadas)
    return len(mudadas)


def _limpar_eventos(session: Session, identidade: _Identidade, limpador: _Limpador) -> int:
    """Raw webhook events that mention the person: personal fields of the payload scrubbed
    (the event's shape, ids, products, values and statuses kept), an unparsed body replaced
    by a marker, mentions removed from the processing error. Returns the events changed."""
    agulhas = identidade.agulhas()
    if not agulhas:
        return 0
    condicao, parametros = _sql_eventos(agulhas)
    ids = list(
        session.execute(
            text(f"SELECT e.id FROM eventos_webhook e WHERE {condicao} ORDER BY e.id"), parametros
        ).scalars()
    )
    mudados = 0
    for inicio in range(0, len(ids), _LOTE_EVENTOS):
        lote = session.execute(
            text(
                "SELECT id, payload, corpo_bruto, erro FROM eventos_webhook "
                "WHERE id = ANY(:ids) ORDER BY id FOR UPDATE"
            ),
            {"ids": ids[inicio : inicio + _LOTE_EVENTOS]},
        ).all()
        novos = [
            {
                "id": e.id,
                "payload": None if e.payload is None else json.dumps(limpador.payload(e.payload)),
                "corpo": CORPO_REMOVIDO if e.corpo_bruto is not None else None,
                "erro": limpador.texto(e.erro),
            }
            for e in lote
        ]
        session.execute(
            text(
                "UPDATE eventos_webhook SET payload = CAST(:payload AS jsonb), "
                "corpo_bruto = :corpo, erro = :erro WHERE id = :id"
            ),
            novos,
        )
        mudados += len(novos)
    return mudados
