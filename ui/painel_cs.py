"""Home for a CS agent: the pending queue, its oldest item, today's sends and failures."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from db.uow import UnidadeDeTrabalho
from services import dias, fila, logs
from services.usuarios import Usuario
from ui.formato import FUSO, data_hora, inteiro
from ui.saida import botao_csv, literal

LIMITE_FALHAS = 50


def idade(desde: datetime, agora: datetime | None = None) -> str:
    """How long ago, in words a person reads at a glance: 'há 5 min', 'há 3 h', 'há 2 dias'."""
    segundos = max(0, int(((agora or datetime.now(FUSO)) - desde).total_seconds()))
    if segundos < 3600:
        return f"há {max(1, segundos // 60)} min"
    if segundos < 86400:
        return f"há {segundos // 3600} h"
    dias = segundos // 86400
    return "há 1 dia" if dias == 1 else f"há {dias} dias"


def desenhar(usuario: Usuario) -> None:
    """Draw the CS agent's landing page."""
    hoje = dias.hoje_sao_paulo()
    filtro_hoje = logs.FiltroLogs(inicio=hoje, fim=hoje)
    with UnidadeDeTrabalho() as uow:
        s = uow.session
        por_status = fila.contagem_por_status(s)
        mais_antigos, pendentes = fila.listar(s, status="pendente", limite=1)
        decisoes = fila.decisoes_do_dia(s, usuario=usuario.username, dia=hoje)
        hoje_funil = logs.funil(s, filtro_hoje)
        falhas = logs.listar_mensagens(
            s, logs.FiltroLogs(inicio=hoje, fim=hoje, status=("failed",)), limite=LIMITE_FALHAS
        )

    st.title("Minha fila de hoje")
    st.caption(f"{data_hora(datetime.now(FUSO))[:10]} · horário de São Paulo")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Pendentes na fila", inteiro(pendentes))
    c2.metric(
        "Mais antigo aguardando",
        idade(mais_antigos[0].data_criacao) if mais_antigos else "—",
    )
    c3.metric("Enviadas hoje", inteiro(hoje_funil.disparadas))
    c4.metric("Falhas hoje", inteiro(hoje_funil.falhas))
    st.caption(
        f"Suas decisões hoje: {inteiro(decisoes.aprovados)} aprovada(s), "
        f"{inteiro(decisoes.rejeitados)} rejeitada(s)."
    )

    verificar = por_status.get("verificar", 0)
    if verificar:
        st.warning(
            f"{inteiro(verificar)} mensagem(ns) sem confirmação de envio aguardam conferência "
            "na Fila de Aprovação (status verificar)."
        )

    st.subheader("Próximo a decidir")
    if mais_antigos:
        item = mais_antigos[0]
        with st.container(border=True):
            st.markdown(
                f"**{literal(item.aluno or 'Aluno sem nome')}** · {literal(item.produto or '—')}"
                f" · regra {literal(item.regra or '—')}"
            )
            st.caption(f"Na fila desde {data_hora(item.data_criacao)}")
            st.text(item.texto or "")
        st.page_link(
            "pages/Fila.py", label="Abrir a Fila de Aprovação", icon=":material/fact_check:"
        )
    else:
        st.success("Nenhuma mensagem aguardando aprovação. Bom trabalho!")

    st.subheader("Falhas de hoje")
    if not falhas.mensagens:
        st.info("Nenhuma falha de entrega hoje.")
        return
    tabela = pd.DataFrame(
        [
            {
                "Enviada em": data_hora(m.data_envio),
                "Aluno": m.aluno or "",
                "Telefone": m.telefone or "",
                "Template": m.template or "",
                "Código": m.erro_codigo,
                "Erro": m.erro_titulo or "",
            }
            for m in falhas.mensagens
        ]
    )
    st.dataframe(tabela, hide_index=True, width="stretch")
    if falhas.total > len(falhas.mensagens):
        st.caption(
            f"Mostrando {inteiro(len(falhas.mensagens))} de {inteiro(falhas.total)}; "
            "veja todas em Logs de disparo."
        )
    botao_csv(tabela, f"falhas-{hoje.isoformat()}.csv", key="cs_falhas_csv")
