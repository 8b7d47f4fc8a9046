"""Templates as the app uses them: which product each belongs to."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.orm import Session

from services.auditoria import registrar


class TemplateInvalido(ValueError):
    """Bad input for a template operation (message in pt-BR)."""


@dataclass(frozen=True)
class TemplateResumo:
    """A mirrored template as pages list it."""

    id: int
    nome: str
    idioma: str | None
    status: str | None
    categoria: str | None
    qtd_parametros: int | None
    texto: str | None
    produto_id: UUID | None
    removido: bool


def listar(session: Session, *, produto_id: UUID | None = None) -> list[TemplateResumo]:
    """Every template (or those of one product), sendable ones first."""
    linhas = session.execute(
        text(
            """
            SELECT id, nome_meta, idioma, status_meta, categoria, qtd_parametros, conteudo_texto,
                   produto_id, removido_na_meta_em IS NOT NULL AS removido
              FROM templates
             WHERE CAST(:p AS uuid) IS NULL OR produto_id = :p
             ORDER BY (status_meta = 'APPROVED' AND removido_na_meta_em IS NULL) DESC,
                      nome_meta, idioma
             LIMIT 500
            """
        ),
        {"p": produto_id},
    ).all()
    return [TemplateResumo(*linha) for linha in linhas]


def vincular(
    session: Session, *, template_id: int, produto_id: UUID | None, usuario: str | None
) -> bool:
    """Bind a template to a product (None: usable for any product); audited when it changes."""
    if (
        produto_id is not None
        and not session.execute(
            text("SELECT 1 FROM produtos WHERE id = :p"), {"p": produto_id}
        ).first()
    ):
        raise TemplateInvalido("Produto não encontrado.")
    mudou = session.execute(
        text(
            "UPDATE templates SET produto_id = :p WHERE id = :t "
            "AND produto_id IS DISTINCT FROM CAST(:p AS uuid)"
        ),
        {"p": produto_id, "t": template_id},
    ).rowcount
    if mudou:
        registrar(
            session,
            usuario=usuario,
            acao="template_vinculado",
            entidade="templates",
            entidade_id=str(template_id),
            detalhes={"produto_id": str(produto_id)},
        )
    return bool(mudou)
