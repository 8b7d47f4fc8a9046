"""Sidebar actions shared by every page: background jobs with live progress, Sincronizar."""

from __future__ import annotations

import streamlit as st

from services import jobs
from services.sincronizacao import sincronizar_tudo
from services.usuarios import Usuario
from ui.formato import data_hora

PAPEIS_SINCRONIZAR = ("gestor", "admin")


@st.fragment(run_every="3s")
def _andamento() -> None:
    """Every user sees what is running, by whom, and how far it is."""
    for job in jobs.em_andamento():
        rotulo = jobs.ROTULOS.get(job.tipo, job.tipo)
        quem = f" — iniciada por {job.iniciado_por}" if job.iniciado_por else ""
        st.progress(job.progresso / 100, text=f"{rotulo} em andamento ({job.progresso}%){quem}")
        if job.mensagem:
            st.caption(job.mensagem)
    ultimo = jobs.ultimo("sync_hotmart")
    if ultimo and ultimo.status == "erro":
        st.error(f"Última sincronização falhou: {ultimo.erro}")
    elif ultimo and ultimo.status == "concluido":
        st.caption(f"Última sincronização: {data_hora(ultimo.terminado_em)}")


def desenhar(usuario: Usuario) -> None:
    """Draw the sidebar's job area and the Sincronizar button for the roles that may use it."""
    with st.sidebar:
        if usuario.papel in PAPEIS_SINCRONIZAR:
            rodando = any(
                j.tipo.startswith("sync_") or j.tipo == "demo" for j in jobs.em_andamento()
            )
            if st.button(
                "Sincronizar",
                icon=":material/sync:",
                disabled=rodando,
                key="botao_sincronizar",
                help="Hotmart (produtos, vendas, progresso), templates do WhatsApp e etiquetas "
                "do Chatwoot",
            ):
                jobs.em_segundo_plano(
                    "sincronizar", lambda: sincronizar_tudo(iniciado_por=usuario.username)
                )
                st.toast("Sincronização iniciada.")
        _andamento()
