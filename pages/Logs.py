"""Logs (cs, gestor, admin): WhatsApp messages sent, their delivery, failures and read rates."""

import streamlit as st

from ui.navegacao import exigir_acesso

usuario = exigir_acesso("logs")

# Imports after the guard: nothing below runs for a visitor without the role.
import pandas as pd  # noqa: E402
import plotly.graph_objects as go  # noqa: E402

from db.uow import UnidadeDeTrabalho  # noqa: E402
from services import dias, fila, logs  # noqa: E402
from ui.formato import data_hora, inteiro, percentual  # noqa: E402
from ui.saida import csv, literal, rotulo_grafico, tabela_com_csv  # noqa: E402

ROTULOS_STATUS = {
    "accepted": "Aceita pela Meta",
    "sent": "Enviada",
    "delivered": "Entregue",
    "read": "Lida",
    "failed": "Falhou",
}
COR = "#0F766E"

st.title("Logs de disparo")
st.caption(
    "Cada mensagem de WhatsApp enviada, o caminho dela até o aluno (enviada, entregue, lida ou "
    "falhou) e o texto exato que ele recebeu. Datas no horário de São Paulo."
)

with UnidadeDeTrabalho() as uow:
    opcoes = logs.opcoes_filtro(uow.session)
    sem_confirmacao = fila.a_verificar(uow.session)
if sem_confirmacao:
    st.info(
        f"{inteiro(sem_confirmacao)} envio(s) sem confirmação da Meta não aparecem aqui: o "
        "disparo parou no meio, a conexão caiu, a Meta demorou demais ou um intermediário "
        "respondeu com erro, e a mensagem pode ou não ter saído. Eles não são reenviados "
        "sozinhos — estão na Fila de Aprovação com o status “A verificar”, esperando alguém "
        "conferir se o aluno recebeu.",
        icon=":material/help:",
    )
templates = {o.id: o.rotulo for o in opcoes.templates}
produtos = {o.id: o.rotulo for o in opcoes.produtos}

hoje = dias.hoje_sao_paulo()
coluna_periodo, coluna_status = st.columns(2)
periodo = coluna_periodo.date_input(
    "Período",
    value=logs.periodo_padrao(),
    max_value=hoje,
    format="DD/MM/YYYY",
    key="logs_periodo",
)
status = coluna_status.multiselect(
    "Status",
    list(logs.STATUS),
    format_func=ROTULOS_STATUS.get,
    placeholder="Todos",
    key="logs_status",
)
coluna_template, coluna_produto, coluna_aluno = st.columns(3)
template_id = coluna_template.selectbox(
    "Template",
    [None, *templates],
    format_func=lambda i: "Todos" if i is None else templates[i],
    key="logs_template",
)
produto_id = coluna_produto.selectbox(
    "Produto",
    [None, *produtos],
    format_func=lambda i: "Todos" if i is None else produtos[i],
    key="logs_produto",
)
termo_aluno = coluna_aluno.text_input(
    "Aluno",
    placeholder="Nome ou e-mail",
    max_chars=logs.TAMANHO_MAXIMO_BUSCA,
    key="logs_aluno",
)

if not isinstance(periodo, tuple | list) or len(periodo) != 2:
    st.info("Escolha a data final do período.")
    st.stop()
filtro = logs.FiltroLogs(
    inicio=periodo[0],
    fim=periodo[1],
    status=tuple(status),
    template_id=template_id,
    produto_id=produto_id,
    aluno=termo_aluno,
)

try:
    with UnidadeDeTrabalho() as uow:
        resumo = logs.funil(uow.session, filtro)
        if resumo.disparadas:
            pagina = logs.listar_mensagens(uow.session, filtro)
            falhas = logs.falhas_por_codigo(uow.session, filtro)
            leitura = logs.leitura_por_template(uow.session, filtro)
except logs.FiltroInvalido as exc:
    st.error(literal(exc))
    st.stop()

if not resumo.disparadas:
    filtrado = template_id is not None or produto_id is not None or termo_aluno.strip()
    st.info(
        f"Nenhuma mensagem enviada no período de {filtro.inicio:%d/%m/%Y} a "
        f"{filtro.fim:%d/%m/%Y}" + (" com esses filtros" if filtrado else "") + ". "
        "Amplie o período ou limpe os filtros; as mensagens aparecem aqui assim que são "
        "disparadas pela Fila de Aprovação ou por uma regra automática."
    )
    st.stop()


def _parte(valor: int) -> str:
    return percentual(100 * valor / resumo.disparadas) if resumo.disparadas else "0%"


metricas = st.columns(4)
metricas[0].metric("Disparadas", inteiro(resumo.disparadas))
metricas[1].metric("Entregues", f"{inteiro(resumo.entregues)} ({_parte(resumo.entregues)})")
metricas[2].metric("Lidas", f"{inteiro(resumo.lidas)} ({_parte(resumo.lidas)})")
metricas[3].metric("Falharam", f"{inteiro(resumo.falhas)} ({_parte(resumo.falhas)})")
if resumo.aguardando:
    st.caption(
        f"{inteiro(resumo.aguardando)} mensagem(ns) aceita(s) pela Meta ainda sem status de "
        "entrega."
    )

coluna_funil, coluna_leitura = st.columns(2)
with coluna_funil:
    st.markdown("**Funil de entrega**")
    valores = [resumo.disparadas, resumo.enviadas, resumo.entregues, resumo.lidas]
    grafico_funil = go.Figure(
        go.Funnel(
            y=["Disparadas", "Enviadas", "Entregues", "Lidas"],
            x=valores,
            text=[f"{inteiro(v)} ({_parte(v)})" for v in valores],
            textinfo="text",
            hovertemplate="%{y}: %{text}<extra></extra>",
            marker={"color": COR},
        )
    )
    grafico_funil.update_layout(height=300, margin={"l": 10, "r": 10, "t": 10, "b": 10})
    st.plotly_chart(grafico_funil, width="stretch", key="funil_entrega")
    st.caption("Uma mensagem lida conta também como enviada e entregue.")

with coluna_leitura:
    st.markdown("**Taxa de leitura por template**")
    grafico_leitura = go.Figure(
        go.Bar(
            x=[rotulo_grafico(t.template, 40) for t in leitura],
            y=[float(t.taxa_leitura or 0) for t in leitura],
            text=[percentual(t.taxa_leitura) or "—" for t in leitura],
            textposition="outside",
            customdata=[[inteiro(t.entregues), inteiro(t.lidas)] for t in leitura],
            hovertemplate=(
                "%{x}<br>%{text} das entregues foram lidas"
                "<br>entregues: %{customdata[0]} · lidas: %{customdata[1]}<extra></extra>"
            ),
            marker={"color": COR},
        )
    )
    grafico_leitura.update_layout(
        height=300,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        yaxis={"range": [0, 110], "ticksuffix": "%", "title": "lidas ÷ entregues"},
    )
    st.plotly_chart(grafico_leitura, width="stretch", key="leitura_templates")

if falhas:
    st.markdown("**Falhas por código de erro da Meta**")
    tabela_com_csv(
        pd.DataFrame(
            {
                "Código": ["—" if f.erro_codigo is None else str(f.erro_codigo) for f in falhas],
                "Erro": [f.erro_titulo or "" for f in falhas],
                "Mensagens": [f.quantidade for f in falhas],
            }
        ),
        "falhas_por_codigo.csv",
        key="falhas_por_codigo",
    )


def _texto(valor: object) -> str:
    return "" if valor is None else str(valor)


def _tabela(mensagens: list[logs.MensagemLog]) -> pd.DataFrame:
    """The table as shown (and exported): plain values, dates in São Paulo time."""
    return pd.DataFrame(
        {
            "Enviada em": [data_hora(m.data_envio) for m in mensagens],
            "Aluno": [m.aluno or "" for m in mensagens],
            "Status": [ROTULOS_STATUS.get(m.estado, m.estado) for m in mensagens],
            "Template": [m.template or "" for m in mensagens],
            "Produto": [m.produto or "" for m in mensagens],
            "Telefone": [m.telefone or "" for m in mensagens],
            "Saiu (sent)": [data_hora(m.enviado_em) for m in mensagens],
            "Entregue": [data_hora(m.entregue_em) for m in mensagens],
            "Lida": [data_hora(m.lido_em) for m in mensagens],
            "Falhou": [data_hora(m.falhou_em) for m in mensagens],
            "Código do erro": [_texto(m.erro_codigo) for m in mensagens],
            "Erro": [m.erro_titulo or "" for m in mensagens],
            "Texto enviado": [m.texto_renderizado or "" for m in mensagens],
            "E-mail": [m.email or "" for m in mensagens],
            "ID WhatsApp": [m.mensagem_id_whatsapp or "" for m in mensagens],
        }
    )


def _csv_completo() -> bytes:
    """Built only when the button is clicked: up to LIMITE_CSV rows of the same filter."""
    with UnidadeDeTrabalho() as uow:
        completa = logs.listar_mensagens(uow.session, filtro, limite=logs.LIMITE_CSV)
    return csv(_tabela(completa.mensagens))


st.markdown("**Mensagens**")
if not pagina.mensagens:
    st.info("Nenhuma mensagem com o status escolhido no período. Limpe o filtro de status.")
    st.stop()
# st.dataframe draws every cell as plain text: a rendered message is never read as HTML.
st.dataframe(
    _tabela(pagina.mensagens),
    column_config={"Texto enviado": st.column_config.TextColumn("Texto enviado", width="large")},
    hide_index=True,
    width="stretch",
    key="tabela_logs",
)
legenda = (
    f"Mostrando {inteiro(len(pagina.mensagens))} de {inteiro(pagina.total)} mensagens, "
    "as mais recentes primeiro."
)
if pagina.total > len(pagina.mensagens):
    legenda += f" Refine os filtros ou baixe o CSV (até {inteiro(logs.LIMITE_CSV)} mensagens)."
st.caption(legenda)
st.download_button(
    "Baixar CSV",
    _csv_completo,
    file_name=f"logs_disparo_{filtro.inicio:%Y%m%d}_{filtro.fim:%Y%m%d}.csv",
    mime="text/csv",
    icon=":material/download:",
    key="csv_logs",
)
