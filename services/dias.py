"""São Paulo calendar days: today, and a day range as timestamptz bounds for SQL.

Every page filters by São Paulo days (both ends inclusive). As SQL the range is
``[inicio 00:00, fim + 1 day 00:00)`` São Paulo time, compared with the timestamp column itself
so that its index serves the filter.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

FUSO = ZoneInfo("America/Sao_Paulo")


def hoje_sao_paulo(agora: datetime | None = None) -> date:
    """Today's date in São Paulo."""
    return (agora or datetime.now(FUSO)).astimezone(FUSO).date()


def inicio_sql(parametro: str = "inicio") -> str:
    """00:00 São Paulo of the date in the bound parameter ``:parametro``, as timestamptz."""
    return f"(CAST(:{parametro} AS date)::timestamp AT TIME ZONE 'America/Sao_Paulo')"


def fim_sql(parametro: str = "fim") -> str:
    """00:00 São Paulo of the day after ``:parametro`` (exclusive upper bound), as timestamptz."""
    return f"((CAST(:{parametro} AS date) + 1)::timestamp AT TIME ZONE 'America/Sao_Paulo')"


def entre_dias_sql(coluna: str, inicio: str = "inicio", fim: str = "fim") -> str:
    """``coluna`` within the São Paulo days ``:inicio`` … ``:fim`` (both inclusive)."""
    return f"{coluna} >= {inicio_sql(inicio)} AND {coluna} < {fim_sql(fim)}"
