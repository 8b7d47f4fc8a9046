"""Students: search, the profile a CS agent reads before answering, and their tags."""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.orm import Session

from services.auditoria import registrar
from services.chatwoot_labels import chave_label

LIMITE_BUSCA = 50
LIMITE_TRANSACOES = 200
LIMITE_MATRICULAS = 200
LIMITE_MENSAGENS = 100
LIMITE_TAGS = 500
TAMANHO_MAXIMO_BUSCA = 200
TAMANHO_MAXIMO_TAG = 50

# Accent-insensitive name search without the unaccent extension: each letter of the folded
# input becomes a class of its accented forms for a case-insensitive regex (translate() over
# every row measured ~25 times slower than this on 300k students).
_VARIANTES = {
    "a": "aáàâãäAÁÀÂÃÄ",
    "e": "eéèêëEÉÈÊË",
    "i": "iíìîïIÍÌÎÏ",
    "o": "oóòôõöOÓÒÔÕÖ",
    "u": "uúùûüUÚÙÛÜ",
    "c": "cçCÇ",
    "n": "nñNÑ",
}
_SO_DOCUMENTO = re.compile(r"^[\d\s.\-/()+]+$")  # digits plus the punctuation people type
_CONTROLE = re.compile(r"[\x00-\x1f\x7f]")
_COR_HEX = re.compile(r"^#[0-9A-Fa-f]{6}$")
_MINIMO_DIGITOS_CPF = 5
_MINIMO_DIGITOS_CELULAR = 8


class AlunoInvalido(ValueError):
    """Bad input for a student operation (message in pt-BR, safe to show)."""


@dataclass(frozen=True)
class AlunoEncontrado:
    """One search result."""

    id: uuid.UUID
    nome: str | None
    email: str | None
    celular: str | None
    cpf: str | None
    ltv_total: Decimal | None


@dataclass(frozen=True)
class AlunoDetalhe:
    """Contact data and LTV of one student."""

    id: uuid.UUID
    nome: str | None
    email: str | None
    celular: str | None
    cpf: str | None
    foto_url: str | None
    ltv_total: Decimal | None
    criado_em: datetime | None


@dataclass(frozen=True)
class TransacaoAluno:
    """A purchase of the student with what is needed to recover a pending payment."""

    id: str
    produto: str | None
    oferta: str | None
    status: str | None
    valor_pago: Decimal | None
    data_compra: datetime | None
    data_garantia_fim: datetime | None
    link_boleto: str | None
    codigo_pix: str | None
    origem_src: str | None


@dataclass(frozen=True)
class MatriculaAluno:
    """An enrolment of the student in a product."""

    id: uuid.UUID
    produto: str | None
    status_acesso: str | None
    data_inicio: datetime | None
    data_renovacao: datetime | None
    origem_primeiro_acesso: str | None


@dataclass(frozen=True)
class ProgressoProduto:
    """How far the student went in one product."""

    produto_id: uuid.UUID
    produto: str | None
    aulas_total: int
    aulas_concluidas: int
    percentual: Decimal
    ultima_aula: str | None
    ultima_conclusao: datetime | None
    dias_desde_ultima: int | None


@dataclass(frozen=True)
class Tag:
    """A catalogue tag."""

    id: int
    nome: str | None
    cor_hex: str | None


@dataclass(frozen=True)
class MensagemEnviada:
    """A WhatsApp message sent to the student."""

    id: int
    data_envio: datetime | None
    template: str | None
    status_entrega: str | None
    mensagem_id_whatsapp: str | None


@dataclass(frozen=True)
class PerfilAluno:
    """Everything the profile page shows about one student."""

    aluno: AlunoDetalhe
    transacoes: list[TransacaoAluno]
    matriculas: list[MatriculaAluno]
    progresso: list[ProgressoProduto]
    tags: list[Tag]
    mensagens: list[MensagemEnviada]


def escapar_like(valor: str) -> str:
    """``valor`` with LIKE's wildcards escaped (use with ESCAPE '\\')."""
    return valor.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def sem_acentos(valor: str) -> str:
    """``valor`` in lower case without accents (what SQL's ``texto_busca()`` does to a name)."""
    decomposto = unicodedata.normalize("NFKD", valor.lower())
    return "".join(ch for ch in decomposto if not unicodedata.combining(ch))


def regex_nome(termo: str) -> str:
    """A PostgreSQL regex (for ~*) matching ``termo`` literally, whatever its accents."""
    partes = []
    for ch in sem_acentos(termo):
        if ch in _VARIANTES:
            partes.append(f"[{_VARIANTES[ch]}]")
        elif ch.isalnum():
            partes.append(ch)
        else:
            partes.append("\\" + ch)  # in a PostgreSQL ARE, backslash + non-alnum is literal
    return "".join(partes)


def buscar_alunos(
    session: Session, *, termo: str, limite: int = LIMITE_BUSCA
) -> list[AlunoEncontrado]:
    """Students whose name, e-mail, CPF or WhatsApp number match ``termo``; best matches first."""
    termo = _CONTROLE.sub("", termo or "").strip()
    if len(termo) > TAMANHO_MAXIMO_BUSCA:
        raise AlunoInvalido(f"A busca pode ter no máximo {TAMANHO_MAXIMO_BUSCA} caracteres.")
    if len(termo) < 2:
        return []
    parametros: dict[str, object] = {"limite": max(1, min(limite, LIMITE_BUSCA))}
    condicoes: list[str] = []
    exatas: list[str] = ["false"]
    inicio_do_nome = "false"
    digitos = re.sub(r"\D", "", termo)
    if _SO_DOCUMENTO.match(termo) and digitos:
        if len(digitos) >= _MINIMO_DIGITOS_CPF:
            parametros["cpf"] = digitos
            condicoes.append(r"regexp_replace(cpf, '\D', '', 'g') LIKE :cpf || '%'")
            exatas.append(r"regexp_replace(cpf, '\D', '', 'g') = :cpf")
        if len(digitos) >= _MINIMO_DIGITOS_CELULAR:
            # Reversed so that "ends with" is a prefix match an expression index can serve.
            parametros["celular_invertido"] = digitos[::-1]
            condicao = (
                r"reverse(regexp_replace(celular, '\D', '', 'g')) LIKE :celular_invertido || '%'"
            )
            condicoes.append(condicao)
            exatas.append(condicao)
    else:
        parametros["padrao"] = escapar_like(termo)
        parametros["termo"] = termo
        # texto_busca() (schema v9) folds case and accents; its trigram index serves the LIKE.
        parametros["nome_dobrado"] = escapar_like(sem_acentos(termo))
        condicoes.append(r"texto_busca(nome) LIKE '%' || :nome_dobrado || '%' ESCAPE '\'")
        condicoes.append(r"lower(email) LIKE '%' || lower(:padrao) || '%' ESCAPE '\'")
        exatas.append("lower(email) = lower(:termo)")
        inicio_do_nome = r"texto_busca(nome) LIKE :nome_dobrado || '%' ESCAPE '\'"
    if not condicoes:
        return []
    linhas = session.execute(
        text(
            f"""
            SELECT id, nome, email, celular, cpf, ltv_total
              FROM alunos
             WHERE {" OR ".join(f"({c})" for c in condicoes)}
             ORDER BY CASE WHEN {" OR ".join(f"({c})" for c in exatas)} THEN 0
                           WHEN {inicio_do_nome} THEN 1
                           ELSE 2 END,
                      lower(nome), lower(email), id
             LIMIT :limite
            """
        ),
        parametros,
    ).all()
    return [AlunoEncontrado(**linha._mapping) for linha in linhas]


def ha_alunos(session: Session) -> bool:
    """True when at least one student is stored."""
    return bool(session.execute(text("SELECT EXISTS (SELECT 1 FROM alunos)")).scalar())


def obter_aluno(session: Session, *, aluno_id: uuid.UUID) -> AlunoDetalhe | None:
    """Contact data and LTV of one student, or None."""
    linha = session.execute(
        text(
            "SELECT id, nome, email, celular, cpf, foto_url, ltv_total, criado_em "
            "FROM alunos WHERE id = :a"
        ),
        {"a": aluno_id},
    ).first()
    return AlunoDetalhe(**linha._mapping) if linha else None


def transacoes_do_aluno(session: Session, *, aluno_id: uuid.UUID) -> list[TransacaoAluno]:
    """The student's transactions, newest first."""
    linhas = session.execute(
        text(
            """
            SELECT t.id, p.nome AS produto, coalesce(o.nome, o.hotmart_offer_code) AS oferta,
                   t.status, t.valor_pago, t.data_compra, t.data_garantia_fim, t.link_boleto,
                   t.codigo_pix, t.origem_src
              FROM transacoes t
              LEFT JOIN produtos p ON p.id = t.produto_id
              LEFT JOIN ofertas o ON o.id = t.oferta_id
             WHERE t.aluno_id = :a
             ORDER BY t.data_compra DESC NULLS LAST, t.id
             LIMIT :limite
            """
        ),
        {"a": aluno_id, "limite": LIMITE_TRANSACOES},
    ).all()
    return [TransacaoAluno(**linha._mapping) for linha in linhas]


def matriculas_do_aluno(session: Session, *, aluno_id: uuid.UUID) -> list[MatriculaAluno]:
    """The student's enrolments, newest first."""
    linhas = session.execute(
        text(
            """
            SELECT m.id, p.nome AS produto, m.status_acesso, m.data_inicio, m.data_renovacao,
                   m.origem_primeiro_acesso
              FROM matriculas m
              LEFT JOIN produtos p ON p.id = m.produto_id
             WHERE m.aluno_id = :a
             ORDER BY m.data_inicio DESC NULLS LAST, p.nome, m.id
             LIMIT :limite
            """
        ),
        {"a": aluno_id, "limite": LIMITE_MATRICULAS},
    ).all()
    return [MatriculaAluno(**linha._mapping) for linha in linhas]


def progresso_do_aluno(session: Session, *, aluno_id: uuid.UUID) -> list[ProgressoProduto]:
    """Per enrolled product: % of its lessons completed, the latest completion and days since."""
    linhas = session.execute(
        text(
            """
            WITH mats AS (
                SELECT id, produto_id FROM matriculas
                 WHERE aluno_id = :a AND produto_id IS NOT NULL),
            produtos_aluno AS (SELECT DISTINCT produto_id FROM mats),
            total AS (
                SELECT md.produto_id, count(*) AS n
                  FROM modulos md JOIN aulas au ON au.modulo_id = md.id
                 WHERE md.produto_id IN (SELECT produto_id FROM produtos_aluno)
                 GROUP BY md.produto_id),
            feitas AS (
                -- a lesson of the same product, counted once across the student's enrolments
                SELECT md.produto_id, pa.aula_id, max(pa.data_conclusao) AS quando
                  FROM progresso_aulas pa
                  JOIN mats ON mats.id = pa.matricula_id
                  JOIN aulas au ON au.id = pa.aula_id
                  JOIN modulos md ON md.id = au.modulo_id AND md.produto_id = mats.produto_id
                 GROUP BY md.produto_id, pa.aula_id),
            contagem AS (SELECT produto_id, count(*) AS n FROM feitas GROUP BY produto_id),
            ultima AS (
                SELECT DISTINCT ON (produto_id) produto_id, aula_id, quando
                  FROM feitas
                 ORDER BY produto_id, quando DESC NULLS LAST, aula_id)
            SELECT p.id AS produto_id, p.nome AS produto,
                   coalesce(t.n, 0) AS aulas_total, coalesce(c.n, 0) AS aulas_concluidas,
                   CASE WHEN coalesce(t.n, 0) = 0 THEN 0
                        ELSE round(100.0 * coalesce(c.n, 0) / t.n, 1) END AS percentual,
                   au.nome AS ultima_aula, u.quando AS ultima_conclusao,
                   (now() AT TIME ZONE 'America/Sao_Paulo')::date
                     - (u.quando AT TIME ZONE 'America/Sao_Paulo')::date AS dias_desde_ultima
              FROM produtos_aluno pa
              JOIN produtos p ON p.id = pa.produto_id
              LEFT JOIN total t ON t.produto_id = p.id
              LEFT JOIN contagem c ON c.produto_id = p.id
              LEFT JOIN ultima u ON u.produto_id = p.id
              LEFT JOIN aulas au ON au.id = u.aula_id
             ORDER BY lower(p.nome), p.id
             LIMIT :limite
            """
        ),
        {"a": aluno_id, "limite": LIMITE_MATRICULAS},
    ).all()
    return [
        ProgressoProduto(**{**linha._mapping, "percentual": Decimal(linha.percentual)})
        for linha in linhas
    ]


def mensagens_do_aluno(session: Session, *, aluno_id: uuid.UUID) -> list[MensagemEnviada]:
    """The WhatsApp messages sent to the student, newest first (at most 100)."""
    linhas = session.execute(
        text(
            """
            SELECT l.id, l.data_envio, t.nome_meta AS template, l.status_entrega,
                   l.mensagem_id_whatsapp
              FROM logs_disparo l
              LEFT JOIN templates t ON t.id = l.template_id
             WHERE l.aluno_id = :a
             ORDER BY l.data_envio DESC NULLS LAST, l.id DESC
             LIMIT :limite
            """
        ),
        {"a": aluno_id, "limite": LIMITE_MENSAGENS},
    ).all()
    return [MensagemEnviada(**linha._mapping) for linha in linhas]


def tags_do_aluno(session: Session, *, aluno_id: uuid.UUID) -> list[Tag]:
    """The student's tags by name."""
    linhas = session.execute(
        text(
            """
            SELECT t.id, t.nome, t.cor_hex
              FROM alunos_tags alt JOIN tags t ON t.id = alt.tag_id
             WHERE alt.aluno_id = :a
             ORDER BY lower(t.nome), t.id
             LIMIT :limite
            """
        ),
        {"a": aluno_id, "limite": LIMITE_TAGS},
    ).all()
    return [Tag(**linha._mapping) for linha in linhas]


def catalogo_tags(session: Session) -> list[Tag]:
    """Every tag of the catalogue by name."""
    linhas = session.execute(
        text("SELECT id, nome, cor_hex FROM tags ORDER BY lower(nome), id LIMIT :limite"),
        {"limite": LIMITE_TAGS},
    ).all()
    return [Tag(**linha._mapping) for linha in linhas]


def alunos_por_tag(session: Session) -> dict[int, int]:
    """How many students carry each tag of the catalogue (tags nobody has are absent)."""
    linhas = session.execute(
        text("SELECT tag_id, count(*) AS n FROM alunos_tags GROUP BY tag_id")
    ).all()
    return {linha.tag_id: linha.n for linha in linhas}


def perfil(session: Session, *, aluno_id: uuid.UUID) -> PerfilAluno | None:
    """The whole profile of one student, or None when the student does not exist."""
    aluno = obter_aluno(session, aluno_id=aluno_id)
    if aluno is None:
        return None
    return PerfilAluno(
        aluno=aluno,
        transacoes=transacoes_do_aluno(session, aluno_id=aluno_id),
        matriculas=matriculas_do_aluno(session, aluno_id=aluno_id),
        progresso=progresso_do_aluno(session, aluno_id=aluno_id),
        tags=tags_do_aluno(session, aluno_id=aluno_id),
        mensagens=mensagens_do_aluno(session, aluno_id=aluno_id),
    )


def _nome_da_tag(session: Session, *, aluno_id: uuid.UUID, tag_id: int) -> str | None:
    linha = session.execute(
        text(
            "SELECT (SELECT true FROM alunos WHERE id = :a) AS aluno, "
            "(SELECT nome FROM tags WHERE id = :t) AS tag, "
            "(SELECT true FROM tags WHERE id = :t) AS tag_existe"
        ),
        {"a": aluno_id, "t": tag_id},
    ).one()
    if not linha.aluno:
        raise AlunoInvalido("Aluno não encontrado. Atualize a página e tente de novo.")
    if not linha.tag_existe:
        raise AlunoInvalido("Tag não encontrada no catálogo. Atualize a página e tente de novo.")
    return linha.tag


def adicionar_tag(
    session: Session, *, aluno_id: uuid.UUID, tag_id: int, usuario: str | None
) -> bool:
    """Tag a student (audited); False when the student already had the tag."""
    nome = _nome_da_tag(session, aluno_id=aluno_id, tag_id=tag_id)
    inserida = session.execute(
        text(
            "INSERT INTO alunos_tags (aluno_id, tag_id) VALUES (:a, :t) "
            "ON CONFLICT DO NOTHING RETURNING tag_id"
        ),
        {"a": aluno_id, "t": tag_id},
    ).first()
    if inserida is None:
        return False
    registrar(
        session,
        usuario=usuario,
        acao="tag_adicionada",
        entidade="alunos",
        entidade_id=str(aluno_id),
        detalhes={"tag_id": tag_id, "tag": nome},
    )
    return True


def remover_tag(session: Session, *, aluno_id: uuid.UUID, tag_id: int, usuario: str | None) -> bool:
    """Remove a tag from a student (audited); False when the student did not have it."""
    removida = session.execute(
        text("DELETE FROM alunos_tags WHERE aluno_id = :a AND tag_id = :t RETURNING tag_id"),
        {"a": aluno_id, "t": tag_id},
    ).first()
    if removida is None:
        return False
    registrar(
        session,
        usuario=usuario,
        acao="tag_removida",
        entidade="alunos",
        entidade_id=str(aluno_id),
        detalhes={"tag_id": tag_id},
    )
    return True


def _validar_tag(nome: str, cor_hex: str) -> tuple[str, str]:
    """A tag's name (trimmed, 1–50 characters) and colour (#RRGGBB, upper-case), or pt-BR errors."""
    nome = (nome or "").strip()
    if not nome:
        raise AlunoInvalido("Nome da tag: o valor não pode ficar vazio.")
    if len(nome) > TAMANHO_MAXIMO_TAG:
        raise AlunoInvalido(f"Nome da tag: use no máximo {TAMANHO_MAXIMO_TAG} caracteres.")
    if _CONTROLE.search(nome):
        raise AlunoInvalido("Nome da tag: o valor contém caracteres de controle.")
    cor = (cor_hex or "").strip()
    if not _COR_HEX.match(cor):
        raise AlunoInvalido("Cor da tag: use o formato #RRGGBB (ex.: #0F766E).")
    return nome, cor.upper()


def _nome_em_uso(session: Session, nome: str, *, exceto: int | None = None) -> None:
    """Refuse a name another tag already has, whatever the case (call under the tags lock)."""
    existente = session.execute(
        text("SELECT 1 FROM tags WHERE lower(nome) = lower(:n) AND id IS DISTINCT FROM :e"),
        {"n": nome, "e": exceto},
    ).first()
    if existente:
        raise AlunoInvalido(f"Já existe uma tag chamada {nome!r}.")


def criar_tag(session: Session, *, nome: str, cor_hex: str, usuario: str | None) -> Tag:
    """Add a tag to the catalogue (name up to 50 characters, color #RRGGBB), audited."""
    nome, cor = _validar_tag(nome, cor_hex)
    # Serialise catalogue writes so that "VIP" and "vip" cannot both slip in concurrently.
    session.execute(text("LOCK TABLE tags IN SHARE ROW EXCLUSIVE MODE"))
    _nome_em_uso(session, nome)
    linha = session.execute(
        text("INSERT INTO tags (nome, cor_hex) VALUES (:n, :c) RETURNING id, nome, cor_hex"),
        {"n": nome, "c": cor},
    ).one()
    registrar(
        session,
        usuario=usuario,
        acao="tag_criada",
        entidade="tags",
        entidade_id=str(linha.id),
        detalhes={"tag": nome, "cor": cor},
    )
    return Tag(**linha._mapping)


def editar_tag(
    session: Session, *, tag_id: int, nome: str, cor_hex: str, usuario: str | None
) -> bool:
    """Rename and/or recolour a catalogue tag (same rules as creating it), audited.

    Returns False when nothing changed. The students keep the tag: only its name and colour move.
    """
    nome, cor = _validar_tag(nome, cor_hex)
    session.execute(text("LOCK TABLE tags IN SHARE ROW EXCLUSIVE MODE"))
    atual = session.execute(
        text("SELECT nome, cor_hex FROM tags WHERE id = :t"), {"t": tag_id}
    ).first()
    if atual is None:
        raise AlunoInvalido("Tag não encontrada no catálogo. Atualize a página e tente de novo.")
    if (atual.nome, (atual.cor_hex or "").upper()) == (nome, cor):
        return False
    _nome_em_uso(session, nome, exceto=tag_id)
    session.execute(
        text("UPDATE tags SET nome = :n, cor_hex = :c WHERE id = :t"),
        {"n": nome, "c": cor, "t": tag_id},
    )
    antiga = chave_label(atual.nome)
    if antiga is not None and antiga != chave_label(nome):
        # For the next Chatwoot sync: rename the old label instead of importing it as a new tag.
        session.execute(
            text(
                "INSERT INTO chatwoot_tags_renomeadas (chave_antiga, tag_id) VALUES (:k, :t) "
                "ON CONFLICT (chave_antiga) DO UPDATE SET tag_id = EXCLUDED.tag_id, "
                "pendente = true, criado_em = now()"
            ),
            {"k": antiga, "t": tag_id},
        )
    registrar(
        session,
        usuario=usuario,
        acao="tag_editada",
        entidade="tags",
        entidade_id=str(tag_id),
        detalhes={"antes": {"tag": atual.nome, "cor": atual.cor_hex}, "tag": nome, "cor": cor},
    )
    return True


def aplicar_tag_em_massa(
    session: Session,
    *,
    aluno_ids: list[uuid.UUID],
    tag_id: int,
    adicionar: bool,
    usuario: str | None,
) -> int:
    """Add (or remove) one tag for up to 50 students in one statement; how many rows changed.

    Idempotent: students that already have (or lack) the tag are left alone and not counted.
    One audit row lists the students that changed; nothing is audited when none did.
    """
    try:
        ids = list(dict.fromkeys(uuid.UUID(str(a)) for a in aluno_ids or ()))
    except ValueError:
        raise AlunoInvalido("Seleção inválida de alunos. Busque novamente.") from None
    if not ids:
        raise AlunoInvalido("Selecione pelo menos um aluno.")
    if len(ids) > LIMITE_BUSCA:
        raise AlunoInvalido(
            f"Selecione no máximo {LIMITE_BUSCA} alunos por vez (os resultados visíveis da busca)."
        )
    nome = session.execute(text("SELECT nome FROM tags WHERE id = :t"), {"t": tag_id}).first()
    if nome is None:
        raise AlunoInvalido("Tag não encontrada no catálogo. Atualize a página e tente de novo.")
    if adicionar:
        sql = """
            INSERT INTO alunos_tags (aluno_id, tag_id)
            SELECT a.id, :t FROM alunos a WHERE a.id = ANY(:ids)
            ON CONFLICT DO NOTHING
            RETURNING aluno_id
        """
    else:
        sql = """
            DELETE FROM alunos_tags WHERE tag_id = :t AND aluno_id = ANY(:ids)
            RETURNING aluno_id
        """
    alterados = session.execute(text(sql), {"t": tag_id, "ids": ids}).scalars().all()
    if alterados:
        registrar(
            session,
            usuario=usuario,
            acao="tag_em_massa_adicionada" if adicionar else "tag_em_massa_removida",
            entidade="tags",
            entidade_id=str(tag_id),
            detalhes={
                "tag": nome.nome,
                "selecionados": len(ids),
                "alterados": len(alterados),
                "alunos": sorted(str(a) for a in alterados),
            },
        )
    return len(alterados)
