"""Landing-page figures (row counts per table until the dashboards arrive)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

TABELAS = {
    "produtos": "Produtos",
    "ofertas": "Ofertas",
    "modulos": "Módulos",
    "aulas": "Aulas",
    "alunos": "Alunos",
    "matriculas": "Matrículas",
    "transacoes": "Transações",
    "progresso_aulas": "Aulas concluídas",
    "tags": "Tags",
    "templates": "Templates",
    "regras_automacao": "Regras",
    "filas_disparo": "Fila de disparo",
    "logs_disparo": "Mensagens enviadas",
}


def contagem_por_tabela(session: Session) -> dict[str, int]:
    """Exact row count of each domain table, in one round trip."""
    partes = " UNION ALL ".join(
        f"SELECT '{tabela}' AS tabela, count(*) AS n FROM {tabela}" for tabela in TABELAS
    )
    return {linha.tabela: linha.n for linha in session.execute(text(partes))}
