"""Showing stored data safely: literal text in markdown and charts, CSV downloads."""

from __future__ import annotations

import html
import re

import pandas as pd
import streamlit as st

# Every ASCII punctuation mark may be backslash-escaped in CommonMark; these are the ones
# Markdown, Streamlit's directives (:red[..], :material/..:) and LaTeX ($) would interpret.
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=^&\"'])")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def literal(texto: object) -> str:
    """Text from the data, escaped so that st.markdown/st.info show it exactly as stored."""
    return _MARKDOWN.sub(r"\\\1", str(texto)).replace("\n", " ")


def rotulo_grafico(texto: object, limite: int = 60) -> str:
    """Text from the data for a plotly label: entities escaped (no pseudo-HTML), shortened."""
    bruto = str(texto)
    if len(bruto) > limite:
        bruto = bruto[: limite - 1] + "…"
    return html.escape(bruto)


def csv(tabela: pd.DataFrame) -> bytes:
    """A ';'-separated UTF-8 CSV (Excel pt-BR); cells that look like formulas are neutralised."""
    segura = tabela.map(lambda v: "'" + v if isinstance(v, str) and v.startswith(_FORMULA) else v)
    return segura.to_csv(index=False, sep=";").encode("utf-8-sig")


def botao_csv(tabela: pd.DataFrame, arquivo: str, *, key: str) -> None:
    """A 'Baixar CSV' button for a table as shown."""
    st.download_button(
        "Baixar CSV",
        csv(tabela),
        file_name=arquivo,
        mime="text/csv",
        icon=":material/download:",
        key=key,
    )


def tabela_com_csv(tabela: pd.DataFrame, arquivo: str, *, key: str, **opcoes) -> None:
    """A read-only table (plain text cells) with its 'Baixar CSV' button underneath."""
    st.dataframe(tabela, hide_index=True, width="stretch", key=key, **opcoes)
    botao_csv(tabela, arquivo, key=f"csv_{key}")
