"""Home: the health-score distribution and the "Alunos em risco" list."""

from __future__ import annotations

import logging

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from db.uow import UnidadeDeTrabalho
from services import saude
from ui.formato import data_hora, inteiro, percentual
from ui.saida import botao_csv, literal

log = logging.getLogger(__name__)

QUANTIDADE_EM_RISCO = 50
CORES_FAIXAS = ("#B91C1C", "#EA580C", "#CA8A04", "#65A30D", "#0F766E")  # 0–20 … 81–100


def _grafico(faixas: list[tuple[str, int]], total: int) -> go.Figure:
    grafico = go.Figure(
        go.Bar(
            x=[faixa for faixa, _ in faixas],
            y=[n for _, n in faixas],
            text=[f"{inteiro(n)} ({percentual(100 * n / total, 0)})" for _, n in faixas],
            textposition="outside",
            hovertemplate="Score %{x}: %{text} das matrículas ativas<extra></extra>",
            marker={"color": list(CORES_FAIXAS)},
        )
    )
    grafico.update_layout(
        title={"text": "Distribuição do score de saúde"},
        height=320,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        xaxis={"title": {"text": "Faixa de score"}, "type": "category"},
        yaxis={"title": {"text": "Matrículas ativas"}, "rangemode": "tozero"},
    )
    return grafico


def desenhar(produto_ids: tuple = ()) -> None:
    """Draw the score distribution and the at-risk students (optionally for some products)."""
    st.subheader("Saúde dos alunos")
    st.caption(
        "Score de 0 a 100 de cada matrícula ativa: primeiro acesso, aulas recentes, dias desde "
        "a última aula, conclusão em dia, pagamento, garantia e consentimento. O detalhe de "
        f"cada aluno fica no perfil (Alunos). Em risco: até {saude.FAIXA_RISCO} pontos."
    )
    try:
        with UnidadeDeTrabalho() as uow:
            dados = saude.painel(
                uow.session, produto_ids=tuple(produto_ids or ()), quantidade=QUANTIDADE_EM_RISCO
            )
    except saude.SaudeInvalida as exc:
        st.error(literal(exc))
        return
    except SQLAlchemyError:
        log.exception("score de saúde falhou")
        st.error("Não foi possível calcular a saúde dos alunos agora. Tente de novo em instantes.")
        return
    if dados.total == 0:
        st.info(
            "Nenhuma matrícula ativa para pontuar ainda: o score aparece assim que houver alunos "
            "com acesso ativo aos produtos escolhidos."
        )
        return

    if dados.calculado_em is not None:
        st.caption(
            f"Calculado em {data_hora(dados.calculado_em)} (recalculado após cada "
            "sincronização e a cada hora). Os motivos da lista abaixo são de agora."
        )
    st.plotly_chart(_grafico(dados.faixas, dados.total), width="stretch", key="saude_faixas")
    st.markdown(
        f"**Alunos em risco** — {inteiro(dados.total_em_risco)} matrícula(s) com score até "
        f"{saude.FAIXA_RISCO}, as de menor score primeiro"
    )
    if not dados.em_risco:
        st.success(
            f"Nenhum aluno em risco: todas as matrículas ativas têm score acima de "
            f"{saude.FAIXA_RISCO}."
        )
        return
    tabela = pd.DataFrame(
        {
            "Aluno": [r.aluno or "" for r in dados.em_risco],
            "Produto": [r.produto or "" for r in dados.em_risco],
            "Score": [r.score for r in dados.em_risco],
            "Motivo principal": [r.motivo for r in dados.em_risco],
        }
    )
    st.dataframe(
        tabela,
        column_config={
            "Score": st.column_config.ProgressColumn(
                "Score", min_value=0, max_value=100, format="%d"
            )
        },
        hide_index=True,
        width="stretch",
        key="saude_em_risco",
    )
    botao_csv(tabela, "alunos_em_risco.csv", key="csv_saude_em_risco")
    if len(dados.em_risco) < dados.total_em_risco:
        st.caption(
            f"Mostrando as {len(dados.em_risco)} matrículas de menor score; abra o perfil do "
            "aluno em Alunos para ver o detalhe dos pontos."
        )
