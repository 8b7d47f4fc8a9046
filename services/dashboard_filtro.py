"""The dashboard's filter and the SQL pieces every dashboard query shares."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from services.dias import fim_sql, hoje_sao_paulo, inicio_sql
from services.hotmart_normalizar import STATUS_PAGOS

DIAS_PADRAO = 90
ANOS_MAXIMOS = 3

# The period as timestamptz bounds (services/dias.py), so that the timestamp column's index serves.
INICIO = inicio_sql()
FIM = fim_sql()


class FiltroInvalido(ValueError):
    """A filter the dashboard cannot run (message in pt-BR, safe to show)."""


@dataclass(frozen=True)
class FiltroPainel:
    """Period (São Paulo days, both inclusive) and products (empty: all) of the dashboard."""

    inicio: date
    fim: date
    produto_ids: tuple[uuid.UUID, ...] = ()

    def __post_init__(self) -> None:
        if self.fim < self.inicio:
            raise FiltroInvalido("Período: a data inicial precisa ser anterior ou igual à final.")
        try:
            limite = self.inicio.replace(year=self.inicio.year + ANOS_MAXIMOS)
        except ValueError:  # 29/02 three years later does not exist
            limite = self.inicio.replace(year=self.inicio.year + ANOS_MAXIMOS, day=28)
        if self.fim >= limite:
            raise FiltroInvalido(f"Período: escolha no máximo {ANOS_MAXIMOS} anos.")


def periodo_padrao(agora: datetime | None = None) -> tuple[date, date]:
    """The last 90 days in São Paulo, today included."""
    hoje = hoje_sao_paulo(agora)
    return hoje - timedelta(days=DIAS_PADRAO - 1), hoje


def parametros(filtro: FiltroPainel) -> dict[str, object]:
    """The bound parameters of a filter (period, products, paid statuses)."""
    return {
        "inicio": filtro.inicio,
        "fim": filtro.fim,
        "produtos": list(filtro.produto_ids),
        "pagos": list(STATUS_PAGOS),
    }


def dos_produtos(filtro: FiltroPainel, coluna: str) -> str:
    """``AND coluna = ANY(:produtos)`` when products are chosen (the ids are bound, never
    formatted); nothing otherwise, so that the plan for "all products" stays simple."""
    return f" AND {coluna} = ANY(:produtos)" if filtro.produto_ids else ""
