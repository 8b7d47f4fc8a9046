"""pt-BR display formats: money, dates in São Paulo time."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

FUSO = ZoneInfo("America/Sao_Paulo")


def data_hora(valor: datetime | None) -> str:
    """dd/mm/aaaa HH:MM in São Paulo time; empty for None."""
    if valor is None:
        return ""
    return valor.astimezone(FUSO).strftime("%d/%m/%Y %H:%M")


def moeda(valor: Decimal | float | int | None) -> str:
    """R$ 1.234,56."""
    if valor is None:
        return ""
    texto = f"{Decimal(valor):,.2f}"
    return "R$ " + texto.replace(",", "_").replace(".", ",").replace("_", ".")


def inteiro(valor: int | None) -> str:
    """1.234 (thousands with a dot)."""
    return "" if valor is None else f"{valor:,}".replace(",", ".")


def data(valor: datetime | None) -> str:
    """dd/mm/aaaa in São Paulo time; empty for None."""
    if valor is None:
        return ""
    return valor.astimezone(FUSO).strftime("%d/%m/%Y")


def percentual(valor: Decimal | float | int | None, casas: int = 1) -> str:
    """75,5% (decimal comma)."""
    if valor is None:
        return ""
    return f"{Decimal(valor):.{casas}f}".replace(".", ",") + "%"
