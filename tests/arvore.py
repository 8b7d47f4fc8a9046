"""Reading everything an AppTest page sent, for tests that look for text that must not be there."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def texto_completo(at: AppTest) -> str:
    """Everything the page sent: every element's proto (labels, values, placeholders, help,
    markdown, widget defaults), every widget's current value, every table's cells.
    (``str(at._tree)`` is an abbreviated repr: it elides children and values.)"""
    partes: list[str] = []

    def visitar(no) -> None:
        proto = getattr(no, "proto", None)
        if proto is not None:
            partes.append(str(proto))
        if not hasattr(no, "children"):
            try:
                valor = no.value
            except Exception:  # noqa: BLE001 - some elements have no readable value
                valor = None
            if hasattr(valor, "to_csv"):
                partes.append(valor.to_csv())
            elif valor is not None:
                partes.append(repr(valor))
        for filho in getattr(no, "children", {}).values():
            visitar(filho)

    visitar(at._tree)
    return "\n".join(partes)
