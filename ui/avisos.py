"""Banners every page shows."""

from __future__ import annotations

import streamlit as st

from db.uow import UnidadeDeTrabalho
from services import demo


def banner_demo() -> None:
    """'Modo demonstração' while demo data is present (never a surprise in production)."""
    with UnidadeDeTrabalho() as uow:
        ativo = demo.ativo(uow.session)
    if ativo:
        st.warning(
            "**Modo demonstração** — os dados são fictícios, gerados pelo sandbox da Hotmart. "
            "Um administrador pode apagá-los em Configurações › Geral.",
            icon=":material/science:",
        )
