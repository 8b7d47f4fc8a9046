"""Products as the CS team sees them: catalogue, monitoring flag, offers, course tree, funnel."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.orm import Session

from services.auditoria import registrar
from services.config import obter_inteiro

LIMITE_PRODUTOS = 1000
LIMITE_OFERTAS = 500
LIMITE_AULAS = 5000

# A Club subdomain is one DNS label: lowercase letters, digits and inner hyphens.
_SUBDOMINIO = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$")


class ProdutoInvalido(ValueError):
    """Bad input for a product change (message in pt-BR, safe to show)."""


@dataclass(frozen=True)
class ProdutoResumo:
    """One row of the product table."""

    id: uuid.UUID
    nome: str
    hotmart_product_id: int | None
    hotmart_subdomain: str | None
    ativo_monitoramento: bool
    ofertas: int
    modulos: int
    aulas: int
    matriculas_ativas: int


@dataclass(frozen=True)
class OfertaResumo:
    """An offer of a product with its ticket class ("Alto", "Baixo", or None without a price)."""

    id: uuid.UUID
    codigo: str | None
    nome: str | None
    preco: Decimal | None
    moeda: str | None
    classe_ticket: str | None


@dataclass(frozen=True)
class ItemCurso:
    """One line of the module → lesson tree (aula_* are None for a module without lessons)."""

    modulo_id: uuid.UUID
    modulo_ordem: int | None
    modulo_nome: str | None
    aula_id: uuid.UUID | None
    aula_ordem: int | None
    aula_nome: str | None
    dias_liberacao: int | None


@dataclass(frozen=True)
class EtapaFunil:
    """A lesson in course order with how many of the product's enrolments completed it."""

    posicao: int
    aula_id: uuid.UUID
    modulo_nome: str | None
    aula_nome: str | None
    concluintes: int
    matriculas: int
    percentual: Decimal


def listar_produtos(session: Session) -> list[ProdutoResumo]:
    """Every product with its counts of offers, modules, lessons and active enrolments."""
    linhas = session.execute(
        text(
            """
            SELECT p.id, p.nome, p.hotmart_product_id, p.hotmart_subdomain,
                   coalesce(p.ativo_monitoramento, false) AS ativo_monitoramento,
                   coalesce(o.n, 0) AS ofertas, coalesce(m.n, 0) AS modulos,
                   coalesce(a.n, 0) AS aulas, coalesce(mt.n, 0) AS matriculas_ativas
              FROM produtos p
              LEFT JOIN (SELECT produto_id, count(*) AS n FROM ofertas GROUP BY produto_id) o
                     ON o.produto_id = p.id
              LEFT JOIN (SELECT produto_id, count(*) AS n FROM modulos GROUP BY produto_id) m
                     ON m.produto_id = p.id
              LEFT JOIN (SELECT md.produto_id, count(*) AS n
                           FROM aulas au JOIN modulos md ON md.id = au.modulo_id
                          GROUP BY md.produto_id) a
                     ON a.produto_id = p.id
              LEFT JOIN (SELECT produto_id, count(*) AS n FROM matriculas
                          WHERE upper(status_acesso) = 'ATIVO' GROUP BY produto_id) mt
                     ON mt.produto_id = p.id
             ORDER BY lower(p.nome), p.id
             LIMIT :limite
            """
        ),
        {"limite": LIMITE_PRODUTOS},
    ).all()
    return [ProdutoResumo(**linha._mapping) for linha in linhas]


def _estado_atual(session: Session, produto_id: uuid.UUID):
    linha = session.execute(
        text(
            "SELECT ativo_monitoramento, hotmart_subdomain FROM produtos WHERE id = :id FOR UPDATE"
        ),
        {"id": produto_id},
    ).first()
    if linha is None:
        raise ProdutoInvalido("Produto não encontrado. Atualize a página e tente de novo.")
    return linha


def definir_monitoramento(
    session: Session, produto_id: uuid.UUID, ativo: bool, *, usuario: str | None
) -> bool:
    """Turn the CS monitoring of a product on or off (audited); return True when it changed."""
    anterior = bool(_estado_atual(session, produto_id).ativo_monitoramento)
    if anterior == bool(ativo):
        return False
    session.execute(
        text("UPDATE produtos SET ativo_monitoramento = :ativo WHERE id = :id"),
        {"ativo": bool(ativo), "id": produto_id},
    )
    registrar(
        session,
        usuario=usuario,
        acao="monitoramento_alterado",
        entidade="produtos",
        entidade_id=str(produto_id),
        detalhes={"ativo": bool(ativo)},
    )
    return True


def validar_subdominio(subdominio: str | None) -> str | None:
    """Normalise a Club subdomain (trimmed, lowercased; empty → None) or raise ProdutoInvalido."""
    valor = (subdominio or "").strip().lower()
    if not valor:
        return None
    if len(valor) > 100:
        raise ProdutoInvalido("Subdomínio: use no máximo 100 caracteres.")
    if not _SUBDOMINIO.match(valor):
        raise ProdutoInvalido(
            "Subdomínio inválido: use apenas letras minúsculas sem acento, números e hífen "
            "(sem hífen no início ou no fim), ex.: meu-curso."
        )
    return valor


def definir_subdominio(
    session: Session, produto_id: uuid.UUID, subdominio: str | None, *, usuario: str | None
) -> bool:
    """Validate and store a product's Hotmart Club subdomain (audited); True when it changed."""
    valor = validar_subdominio(subdominio)
    if _estado_atual(session, produto_id).hotmart_subdomain == valor:
        return False
    session.execute(
        text("UPDATE produtos SET hotmart_subdomain = :s WHERE id = :id"),
        {"s": valor, "id": produto_id},
    )
    registrar(
        session,
        usuario=usuario,
        acao="subdominio_alterado",
        entidade="produtos",
        entidade_id=str(produto_id),
        detalhes={"subdominio": valor},
    )
    return True


def listar_ofertas(session: Session, *, produto_id: uuid.UUID) -> list[OfertaResumo]:
    """A product's offers, priciest first, classed "Alto" when price >= ticket_alto_minimo."""
    minimo = obter_inteiro(session, "ticket_alto_minimo")
    linhas = session.execute(
        text(
            """
            SELECT id, hotmart_offer_code AS codigo, nome, preco, moeda,
                   CASE WHEN preco IS NULL THEN NULL
                        WHEN preco >= :minimo THEN 'Alto' ELSE 'Baixo' END AS classe_ticket
              FROM ofertas
             WHERE produto_id = :p
             ORDER BY preco DESC NULLS LAST, nome, id
             LIMIT :limite
            """
        ),
        {"p": produto_id, "minimo": minimo, "limite": LIMITE_OFERTAS},
    ).all()
    return [OfertaResumo(**linha._mapping) for linha in linhas]


def arvore_curso(session: Session, *, produto_id: uuid.UUID) -> list[ItemCurso]:
    """Modules and their lessons in course order, with drip days."""
    linhas = session.execute(
        text(
            """
            SELECT m.id AS modulo_id, m.ordem AS modulo_ordem, m.nome AS modulo_nome,
                   a.id AS aula_id, a.ordem AS aula_ordem, a.nome AS aula_nome,
                   a.dias_liberacao
              FROM modulos m
              LEFT JOIN aulas a ON a.modulo_id = m.id
             WHERE m.produto_id = :p
             ORDER BY m.ordem NULLS LAST, m.nome, m.id, a.ordem NULLS LAST, a.nome, a.id
             LIMIT :limite
            """
        ),
        {"p": produto_id, "limite": LIMITE_AULAS},
    ).all()
    return [ItemCurso(**linha._mapping) for linha in linhas]


def funil_aulas(session: Session, *, produto_id: uuid.UUID) -> list[EtapaFunil]:
    """Per lesson in course order: enrolments of the product that completed it, and their %."""
    linhas = session.execute(
        text(
            """
            WITH total AS (SELECT count(*) AS n FROM matriculas WHERE produto_id = :p),
                 -- (matricula_id, aula_id) is UNIQUE and a row's lesson is always of its
                 -- enrolment's product (schema v9 refuses others): counting a lesson's rows
                 -- counts this product's enrolments, from the aula_id index alone (no DISTINCT
                 -- sorting ~800,000 rows, no join)
                 feitas AS (
                     SELECT pa.aula_id, count(*) AS n
                       FROM progresso_aulas pa
                      WHERE pa.aula_id IN (SELECT a.id FROM aulas a
                                             JOIN modulos mo ON mo.id = a.modulo_id
                                            WHERE mo.produto_id = :p)
                      GROUP BY pa.aula_id)
            SELECT row_number() OVER (
                       ORDER BY m.ordem NULLS LAST, m.nome, m.id, a.ordem NULLS LAST, a.nome, a.id
                   ) AS posicao,
                   a.id AS aula_id, m.nome AS modulo_nome, a.nome AS aula_nome,
                   coalesce(f.n, 0) AS concluintes, total.n AS matriculas,
                   CASE WHEN total.n = 0 THEN 0
                        ELSE round(100.0 * coalesce(f.n, 0) / total.n, 1) END AS percentual
              FROM modulos m
              JOIN aulas a ON a.modulo_id = m.id
              CROSS JOIN total
              LEFT JOIN feitas f ON f.aula_id = a.id
             WHERE m.produto_id = :p
             ORDER BY posicao
             LIMIT :limite
            """
        ),
        {"p": produto_id, "limite": LIMITE_AULAS},
    ).all()
    return [
        EtapaFunil(**{**linha._mapping, "percentual": Decimal(linha.percentual)})
        for linha in linhas
    ]


def maior_queda(
    funil: list[EtapaFunil],
) -> tuple[EtapaFunil | None, EtapaFunil, int] | None:
    """Where most students stop: (lesson before or None for the enrolment, lesson, loss)."""
    melhor = None
    anterior: EtapaFunil | None = None
    for etapa in funil:
        antes = anterior.concluintes if anterior else etapa.matriculas
        perda = antes - etapa.concluintes
        if perda > 0 and (melhor is None or perda > melhor[2]):
            melhor = (anterior, etapa, perda)
        anterior = etapa
    return melhor
