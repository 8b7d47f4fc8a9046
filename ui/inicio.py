"""The landing page: row counts per table until the dashboards arrive."""

from __future__ import annotations

import streamlit as st

from db.uow import UnidadeDeTrabalho
from services import painel
from ui.formato import inteiro


def pagina_inicio() -> None:
    """Draw the landing page."""
    st.title("Terceiriza CS")
    st.caption("Visão geral dos dados espelhados da Hotmart e das mensagens enviadas.")
    with UnidadeDeTrabalho() as uow:
        contagens = painel.contagem_por_tabela(uow.session)
    if not any(contagens.values()):
        st.info(
            "Nenhum dado ainda. Configure as credenciais da Hotmart em Configurações "
            "para espelhar produtos, alunos e vendas."
        )
    colunas = st.columns(4)
    for i, (tabela, rotulo) in enumerate(painel.TABELAS.items()):
        colunas[i % 4].metric(rotulo, inteiro(contagens[tabela]))
