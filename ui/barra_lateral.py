"""Sidebar actions shared by every page: background jobs with live progress, Sincronizar."""

from __future__ import annotations

import streamlit as st

from services import disparo, jobs, regras
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
    for tipo in ("sync_hotmart", "regras", "disparo"):
        ultimo = jobs.ultimo(tipo)
        if ultimo is None or ultimo.status == "executando":
            continue
        rotulo = jobs.ROTULOS.get(tipo, tipo)
        if ultimo.status == "erro":
            st.error(f"{rotulo} falhou: {ultimo.erro}")
        elif ultimo.status == "concluido":
            resumo = _resumo(tipo, ultimo.resultado or {})
            st.caption(f"{rotulo}: {data_hora(ultimo.terminado_em)}{resumo}")


def _resumo(tipo: str, resultado: dict) -> str:
    if tipo == "regras":
        adiados = resultado.get("adiados") or 0
        return f" — {resultado.get('inseridos', 0)} sugestões novas" + (
            f" ({adiados} ficam para as próximas execuções)" if adiados else ""
        )
    if tipo == "disparo":
        return f" — {resultado.get('enviados', 0)} enviados" + (
            f" ({resultado['parada']})"
            if resultado.get("parada") not in (None, "fila vazia")
            else ""
        )
    return ""


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
            ocupados = {j.tipo for j in jobs.em_andamento()}
            if st.button(
                "Gerar sugestões",
                icon=":material/lightbulb:",
                disabled="regras" in ocupados,
                key="botao_regras",
                help="Avalia as regras ativas e coloca as sugestões na Fila de Aprovação",
            ):
                jobs.em_segundo_plano(
                    "regras", lambda: regras.executar_avaliacao(iniciado_por=usuario.username)
                )
                st.toast("Avaliação das regras iniciada.")
            if st.button(
                "Disparar aprovados",
                icon=":material/send:",
                disabled="disparo" in ocupados,
                key="botao_disparo",
                help="Envia pelo WhatsApp os itens aprovados, respeitando o freio",
            ):
                jobs.em_segundo_plano(
                    "disparo", lambda: disparo.executar_disparo(iniciado_por=usuario.username)
                )
                st.toast("Disparo iniciado.")
        _andamento()
