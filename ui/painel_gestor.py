"""The manager dashboard on the Home page (gestor, admin): filters, KPIs and charts."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from db.uow import UnidadeDeTrabalho
from services import dashboard, logs
from ui.formato import inteiro, moeda, percentual
from ui.saida import botao_csv, literal, rotulo_grafico

COR = "#0F766E"
COR_CLARA = "#5EEAD4"
COR_ALERTA = "#B45309"
COR_NEUTRA = "#94A3B8"
MESES = ("jan", "fev", "mar", "abr", "mai", "jun", "jul", "ago", "set", "out", "nov", "dez")
SEM_VENDAS = (
    "Nenhuma venda no período — ajuste o período ou sincronize a Hotmart pela barra lateral."
)
SEM_COMPRAS = "Nenhuma compra paga ainda — sincronize a Hotmart pela barra lateral."
SEM_AULAS = (
    "Nenhuma matrícula em produtos com aulas espelhadas — confira o subdomínio do Club em "
    "Produtos e sincronize a Hotmart pela barra lateral."
)


@st.cache_data(ttl=60, show_spinner=False)
def _produtos() -> dict[str, str]:
    with UnidadeDeTrabalho() as uow:
        return {str(o.id): o.rotulo for o in logs.opcoes_filtro(uow.session).produtos}


def _filtro(inicio: date, fim: date, produtos: tuple[str, ...]) -> dashboard.FiltroPainel:
    return dashboard.FiltroPainel(inicio, fim, tuple(uuid.UUID(p) for p in produtos))


# The dashboard's independent aggregates, slowest first; CONEXOES of them run at once, each on
# its own connection, so a cold Home waits for the longest chain, not for their sum.
CONSULTAS = (
    "kpis",
    "ltv_por_faixa_ticket",
    "ltv_por_oferta",
    "receita_por_coorte",
    "ltv_por_produto",
    "estagnados_por_modulo",
    "taxas_reembolso_chargeback",
    "funil_entrega",
    "receita_por_mes",
    "distribuicao_conclusao",
    "primeiro_acesso_por_mes",
    "receita_recuperada_por_regra",
)
CONEXOES = 3


def _consultar(nome: str, filtro: dashboard.FiltroPainel) -> object:
    with UnidadeDeTrabalho() as uow:
        return getattr(dashboard, nome)(uow.session, filtro)


@st.cache_data(ttl=60, show_spinner="Calculando os painéis…")
def _dados(inicio: date, fim: date, produtos: tuple[str, ...]) -> dict[str, object]:
    """Every query of the dashboard for one filter (an error in any of them is raised here)."""
    filtro = _filtro(inicio, fim, produtos)
    with ThreadPoolExecutor(max_workers=CONEXOES, thread_name_prefix="painel") as executor:
        futuros = {nome: executor.submit(_consultar, nome, filtro) for nome in CONSULTAS}
        return {nome: futuro.result() for nome, futuro in futuros.items()}


@st.cache_data(ttl=60, show_spinner=False)
def _funil_modulos(
    inicio: date, fim: date, produtos: tuple[str, ...], produto_id: str
) -> list[dashboard.EtapaModulo]:
    with UnidadeDeTrabalho() as uow:
        filtro = _filtro(inicio, fim, produtos)
        return dashboard.funil_modulos(uow.session, filtro, uuid.UUID(produto_id))


def _mes(valor: date) -> str:
    return f"{MESES[valor.month - 1]}/{valor.year}"


def _figura(
    titulo: str, eixo_x: str, eixo_y: str, *, altura: int = 340, categorias: str = "x", **layout
) -> go.Figure:
    """An empty figure with a pt-BR title, axis labels and pt-BR number separators; the axes in
    ``categorias`` hold labels (plotly would read "100%" or a product named "2025" as numbers)."""
    for eixo in categorias:
        layout[f"{eixo}axis_type"] = "category"
    figura = go.Figure()
    figura.update_layout(
        title={"text": titulo},
        xaxis_title=eixo_x,
        yaxis_title=eixo_y,
        separators=",.",
        height=altura,
        margin={"l": 10, "r": 10, "t": 70, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0},
        **layout,
    )
    return figura


def _tabela(tabela: pd.DataFrame, arquivo: str, chave: str) -> None:
    """The chart's numbers as a table, with its CSV button, tucked in an expander."""
    with st.expander("Ver tabela"):
        st.dataframe(tabela, hide_index=True, width="stretch", key=f"tabela_{chave}")
        botao_csv(tabela, arquivo, key=f"csv_{chave}")


def _filtros() -> tuple[date, date, tuple[str, ...]] | None:
    produtos = _produtos()
    coluna_periodo, coluna_produtos = st.columns([1, 2])
    periodo = coluna_periodo.date_input(
        "Período",
        value=dashboard.periodo_padrao(),
        format="DD/MM/YYYY",
        key="painel_periodo",
    )
    escolhidos = coluna_produtos.multiselect(
        "Produtos",
        list(produtos),
        format_func=lambda i: produtos.get(i, i),
        placeholder="Todos os produtos",
        key="painel_produtos",
    )
    if not isinstance(periodo, tuple | list) or len(periodo) != 2:
        st.info("Escolha a data final do período.")
        return None
    return periodo[0], periodo[1], tuple(escolhidos)


def _kpis(k: dashboard.Kpis) -> None:
    linha1 = st.columns(4)
    linha1[0].metric(
        "LTV total",
        moeda(k.ltv_total),
        help="Soma do LTV (todas as compras pagas, de qualquer data) dos alunos dos produtos "
        "escolhidos.",
    )
    linha1[1].metric(
        "LTV médio",
        moeda(k.ltv_medio) or "—",
        help=f"Por aluno pagante ({inteiro(k.alunos_pagantes)} alunos com LTV acima de zero).",
    )
    linha1[2].metric(
        "Receita no período",
        moeda(k.receita_periodo),
        help=f"{inteiro(k.vendas_periodo)} venda(s) aprovada(s) ou completa(s), pela data do "
        "pagamento.",
    )
    linha1[3].metric("Alunos ativos", inteiro(k.alunos_ativos), help="Com acesso ATIVO hoje.")
    linha2 = st.columns(3)
    linha2[0].metric(
        "Concluíram o curso",
        percentual(k.taxa_conclusao) or "—",
        help=f"{inteiro(k.matriculas_concluidas)} de {inteiro(k.matriculas)} matrículas "
        "concluíram todas as aulas do produto.",
    )
    linha2[1].metric("Fila pendente", inteiro(k.fila_pendente), help="Itens aguardando decisão.")
    linha2[2].metric(
        "Leitura (7 dias)",
        percentual(k.taxa_leitura_7d) or "—",
        help=f"{inteiro(k.lidas_7d)} lidas de {inteiro(k.enviadas_7d)} mensagens enviadas nos "
        "últimos 7 dias (independe do período).",
    )


def _receita(d: dict) -> None:
    meses: list[dashboard.ReceitaMes] = d["receita_por_mes"]
    if not any(m.vendas for m in meses):
        st.info(SEM_VENDAS)
    else:
        figura = _figura(
            "Receita por mês",
            "Mês",
            "Receita (R$)",
            yaxis_tickprefix="R$ ",
            yaxis_tickformat=",.0f",
        )
        figura.add_bar(
            x=[_mes(m.mes) for m in meses],
            y=[float(m.receita) for m in meses],
            customdata=[m.vendas for m in meses],
            hovertemplate="%{x}<br>R$ %{y:,.2f}<br>%{customdata} venda(s)<extra></extra>",
            marker_color=COR,
        )
        st.plotly_chart(figura, width="stretch", key="grafico_receita_mes")
        tabela = pd.DataFrame(
            {
                "Mês": [_mes(m.mes) for m in meses],
                "Receita": [moeda(m.receita) for m in meses],
                "Vendas": [m.vendas for m in meses],
            }
        )
        _tabela(tabela, "receita_por_mes.csv", "receita_mes")

    celulas: list[dashboard.CelulaCoorte] = d["receita_por_coorte"]
    if not celulas:
        st.info("Nenhum aluno fez a primeira compra no período — amplie o período.")
        return
    coortes = sorted({c.coorte for c in celulas})
    colunas = max(c.meses_desde for c in celulas) + 1
    z: list[list[float | None]] = [[None] * colunas for _ in coortes]
    extra: list[list[list[object]]] = [[["", 0]] * colunas for _ in coortes]
    for c in celulas:
        linha = coortes.index(c.coorte)
        z[linha][c.meses_desde] = float(c.acumulada_por_aluno)
        extra[linha][c.meses_desde] = [float(c.receita), c.alunos]
    figura = _figura(
        "Receita acumulada por aluno, por mês da primeira compra",
        "Meses desde a primeira compra",
        "Mês da primeira compra",
        altura=max(300, 60 + 30 * len(coortes)),
        categorias="xy",
        yaxis_autorange="reversed",
    )
    figura.add_heatmap(
        z=z,
        x=[f"Mês {i}" for i in range(colunas)],
        y=[_mes(c) for c in coortes],
        customdata=extra,
        colorscale="Teal",
        colorbar={"title": {"text": "R$/aluno"}},
        hovertemplate="Coorte %{y} · %{x}<br>Acumulado por aluno: R$ %{z:,.2f}"
        "<br>Receita no mês: R$ %{customdata[0]:,.2f}<br>Alunos: %{customdata[1]}"
        "<extra></extra>",
    )
    st.plotly_chart(figura, width="stretch", key="grafico_coortes")
    st.caption(
        "Cada linha reúne os alunos que fizeram a primeira compra naquele mês; cada célula "
        "mostra quanto cada um deles pagou, em média, até aquele mês (dentro do período)."
    )
    tabela = pd.DataFrame(
        {
            "Coorte": [_mes(c.coorte) for c in celulas],
            "Mês": [_mes(c.mes) for c in celulas],
            "Meses desde a 1ª compra": [c.meses_desde for c in celulas],
            "Alunos": [c.alunos for c in celulas],
            "Receita no mês": [moeda(c.receita) for c in celulas],
            "Acumulado por aluno": [moeda(c.acumulada_por_aluno) for c in celulas],
        }
    )
    _tabela(tabela, "receita_por_coorte.csv", "coortes")


def _barras_ltv(fatias: list[dashboard.FatiaLtv], titulo: str, eixo: str, chave: str) -> None:
    if not fatias:
        st.info(SEM_COMPRAS)
        return
    rotulos = [rotulo_grafico(f.rotulo, 50) for f in fatias]
    figura = _figura(
        titulo,
        "LTV (R$)",
        eixo,
        altura=max(260, 80 + 28 * len(fatias)),
        categorias="y",
        xaxis_tickprefix="R$ ",
        xaxis_tickformat=",.0f",
        yaxis_autorange="reversed",
    )
    figura.add_bar(
        y=rotulos,
        x=[float(f.ltv) for f in fatias],
        orientation="h",
        customdata=[[f.alunos, float(f.ltv_medio or 0)] for f in fatias],
        hovertemplate="%{y}<br>R$ %{x:,.2f}<br>%{customdata[0]} aluno(s) · "
        "R$ %{customdata[1]:,.2f} por aluno<extra></extra>",
        marker_color=COR,
    )
    st.plotly_chart(figura, width="stretch", key=f"grafico_{chave}")
    tabela = pd.DataFrame(
        {
            eixo: [f.rotulo for f in fatias],
            "LTV": [moeda(f.ltv) for f in fatias],
            "Alunos": [f.alunos for f in fatias],
            "Compras": [f.transacoes for f in fatias],
            "LTV por aluno": [moeda(f.ltv_medio) for f in fatias],
        }
    )
    _tabela(tabela, f"{chave}.csv", chave)


def _reembolsos(taxas: dashboard.TaxasReembolso) -> None:
    total = taxas.total
    if not total.vendas:
        st.info(SEM_VENDAS)
        return
    st.caption(
        f"No período: {percentual(total.taxa_reembolso)} das vendas reembolsadas "
        f"({moeda(total.valor_reembolsos)}) e {percentual(total.taxa_chargeback)} em chargeback "
        f"({moeda(total.valor_chargebacks)}), de {inteiro(total.vendas)} vendas."
    )
    produtos = taxas.por_produto
    figura = _figura(
        "Reembolsos e chargebacks por produto", "Produto", "% das vendas", yaxis_ticksuffix="%"
    )
    for nome, valores, cor in (
        ("Reembolso", [p.taxa_reembolso for p in produtos], COR_ALERTA),
        ("Chargeback", [p.taxa_chargeback for p in produtos], COR_NEUTRA),
    ):
        figura.add_bar(
            name=nome,
            x=[rotulo_grafico(p.produto, 40) for p in produtos],
            y=[float(v or 0) for v in valores],
            hovertemplate="%{x}<br>" + nome + ": %{y:,.1f}%<extra></extra>",
            marker_color=cor,
        )
    st.plotly_chart(figura, width="stretch", key="grafico_reembolsos")
    linhas = [total, *produtos]
    tabela = pd.DataFrame(
        {
            "Produto": [p.produto for p in linhas],
            "Vendas": [p.vendas for p in linhas],
            "Valor vendido": [moeda(p.valor_vendas) for p in linhas],
            "Reembolsos": [p.reembolsos for p in linhas],
            "Reembolso (%)": [percentual(p.taxa_reembolso) for p in linhas],
            "Valor reembolsado": [moeda(p.valor_reembolsos) for p in linhas],
            "Chargebacks": [p.chargebacks for p in linhas],
            "Chargeback (%)": [percentual(p.taxa_chargeback) for p in linhas],
            "Valor em chargeback": [moeda(p.valor_chargebacks) for p in linhas],
        }
    )
    _tabela(tabela, "reembolsos_chargebacks.csv", "reembolsos")


def _recuperada(regras: list[dashboard.RecuperacaoRegra]) -> None:
    if not regras:
        st.info(
            "Nenhum pagamento recuperado no período — aparece aqui o boleto ou PIX pago depois "
            "de uma mensagem nossa sobre ele."
        )
        return
    figura = _figura("Receita recuperada por regra", "Regra", "Receita (R$)")
    figura.update_layout(yaxis_tickprefix="R$ ", yaxis_tickformat=",.0f")
    figura.add_bar(
        x=[rotulo_grafico(r.regra, 40) for r in regras],
        y=[float(r.receita) for r in regras],
        customdata=[r.transacoes for r in regras],
        hovertemplate="%{x}<br>R$ %{y:,.2f}<br>%{customdata} pagamento(s)<extra></extra>",
        marker_color=COR,
    )
    st.plotly_chart(figura, width="stretch", key="grafico_recuperada")
    tabela = pd.DataFrame(
        {
            "Regra": [r.regra for r in regras],
            "Pagamentos": [r.transacoes for r in regras],
            "Receita": [moeda(r.receita) for r in regras],
        }
    )
    _tabela(tabela, "receita_recuperada.csv", "recuperada")


def _progresso(d: dict, inicio: date, fim: date, produtos: tuple[str, ...]) -> None:
    faixas: list[dashboard.FaixaConclusao] = d["distribuicao_conclusao"]
    if not any(f.matriculas for f in faixas):
        st.info(SEM_AULAS)
        return
    figura = _figura("Matrículas por % de aulas concluídas", "Aulas concluídas", "Matrículas")
    figura.add_bar(
        x=[f.faixa for f in faixas],
        y=[f.matriculas for f in faixas],
        hovertemplate="%{x}: %{y:,d} matrícula(s)<extra></extra>",
        marker_color=COR,
    )
    st.plotly_chart(figura, width="stretch", key="grafico_conclusao")
    tabela = pd.DataFrame(
        {
            "Aulas concluídas": [f.faixa for f in faixas],
            "Matrículas": [f.matriculas for f in faixas],
        }
    )
    _tabela(tabela, "conclusao.csv", "conclusao")

    nomes = _produtos()
    opcoes = list(produtos) or list(nomes)
    produto_id = st.selectbox(
        "Produto do funil por módulo",
        opcoes,
        format_func=lambda i: nomes.get(i, i),
        key="painel_funil_produto",
    )
    etapas = _funil_modulos(inicio, fim, produtos, produto_id) if produto_id else []
    if not etapas:
        st.info("Este produto não tem módulos com aulas espelhados.")
    else:
        figura = _figura(
            f"Funil por módulo — {rotulo_grafico(nomes.get(produto_id, ''), 40)}",
            "Módulo",
            "Matrículas",
        )
        modulos = [rotulo_grafico(f"{e.posicao}. {e.modulo or 'Módulo'}", 40) for e in etapas]
        for nome, valores, cor in (
            ("Concluíram ao menos uma aula", [e.iniciaram for e in etapas], COR_CLARA),
            ("Concluíram todas as aulas", [e.concluiram for e in etapas], COR),
        ):
            figura.add_bar(
                name=nome,
                x=modulos,
                y=valores,
                hovertemplate="%{x}<br>" + nome + ": %{y:,d}<extra></extra>",
                marker_color=cor,
            )
        st.plotly_chart(figura, width="stretch", key="grafico_funil_modulos")
        tabela = pd.DataFrame(
            {
                "Módulo": [e.modulo or "" for e in etapas],
                "Aulas": [e.aulas for e in etapas],
                "Matrículas": [e.matriculas for e in etapas],
                "Concluíram ao menos uma aula": [e.iniciaram for e in etapas],
                "Concluíram todas": [e.concluiram for e in etapas],
            }
        )
        _tabela(tabela, "funil_modulos.csv", "funil_modulos")

    parados: list[dashboard.Estagnados] = d["estagnados_por_modulo"]
    if not parados:
        st.info("Nenhum aluno ativo parado há mais de 14 dias.")
        return
    figura = _figura(
        "Alunos parados há mais de 14 dias, pelo módulo da última aula concluída",
        "Matrículas",
        "Módulo",
        altura=max(260, 80 + 28 * len(parados)),
        categorias="y",
        yaxis_autorange="reversed",
    )
    figura.add_bar(
        y=[rotulo_grafico(f"{e.modulo} — {e.produto or ''}", 60) for e in parados],
        x=[e.matriculas for e in parados],
        orientation="h",
        hovertemplate="%{y}<br>%{x:,d} matrícula(s)<extra></extra>",
        marker_color=COR_ALERTA,
    )
    st.plotly_chart(figura, width="stretch", key="grafico_estagnados")
    tabela = pd.DataFrame(
        {
            "Produto": [e.produto or "" for e in parados],
            "Módulo da última aula": [e.modulo for e in parados],
            "Matrículas": [e.matriculas for e in parados],
        }
    )
    _tabela(tabela, "alunos_parados.csv", "estagnados")


def _mensagens(d: dict) -> None:
    funil: logs.Funil = d["funil_entrega"]
    if not funil.disparadas:
        st.info("Nenhuma mensagem enviada no período — amplie o período.")
    else:
        etapas = ["Disparadas", "Enviadas", "Entregues", "Lidas"]
        valores = [funil.disparadas, funil.enviadas, funil.entregues, funil.lidas]
        figura = _figura("Funil de entrega das mensagens", "Mensagens", "", categorias="y")
        figura.add_funnel(
            y=etapas,
            x=valores,
            text=[f"{inteiro(v)} ({percentual(100 * v / funil.disparadas)})" for v in valores],
            textinfo="text",
            hovertemplate="%{y}: %{text}<extra></extra>",
            marker={"color": COR},
        )
        st.plotly_chart(figura, width="stretch", key="grafico_funil_entrega")
        st.caption(f"{inteiro(funil.falhas)} falharam. Uma mensagem lida conta como entregue.")
        tabela = pd.DataFrame(
            {"Etapa": [*etapas, "Falharam"], "Mensagens": [*valores, funil.falhas]}
        )
        _tabela(tabela, "funil_entrega.csv", "funil_entrega")

    meses: list[dashboard.PrimeiroAcessoMes] = d["primeiro_acesso_por_mes"]
    if not any(m.zap_terceiriza + m.email_hotmart + m.sem_origem for m in meses):
        st.info("Nenhum primeiro acesso ao Club no período.")
        return
    figura = _figura("Primeiro acesso ao curso, por origem", "Mês", "Alunos", barmode="stack")
    for nome, valores, cor in (
        ("Pelo WhatsApp (Terceiriza)", [m.zap_terceiriza for m in meses], COR),
        ("Pelo e-mail da Hotmart", [m.email_hotmart for m in meses], COR_CLARA),
        ("Sem origem", [m.sem_origem for m in meses], COR_NEUTRA),
    ):
        figura.add_bar(
            name=nome,
            x=[_mes(m.mes) for m in meses],
            y=valores,
            hovertemplate="%{x}<br>" + nome + ": %{y:,d}<extra></extra>",
            marker_color=cor,
        )
    st.plotly_chart(figura, width="stretch", key="grafico_primeiro_acesso")
    tabela = pd.DataFrame(
        {
            "Mês": [_mes(m.mes) for m in meses],
            "WhatsApp (Terceiriza)": [m.zap_terceiriza for m in meses],
            "E-mail da Hotmart": [m.email_hotmart for m in meses],
            "Sem origem": [m.sem_origem for m in meses],
        }
    )
    _tabela(tabela, "primeiro_acesso.csv", "primeiro_acesso")


def desenhar() -> None:
    """Draw the manager dashboard: filters, KPI row, then charts by theme."""
    st.subheader("Painel do gestor")
    escolha = _filtros()
    if escolha is None:
        return
    try:
        _filtro(*escolha)
    except dashboard.FiltroInvalido as exc:
        st.error(literal(exc))
        return
    d = _dados(*escolha)
    _kpis(d["kpis"])
    aba_receita, aba_progresso, aba_saude, aba_mensagens = st.tabs(
        ["Receita e LTV", "Progresso", "Saúde dos alunos", "Mensagens"]
    )
    with aba_receita:
        _receita(d)
        _barras_ltv(d["ltv_por_produto"], "LTV por produto", "Produto", "ltv_produto")
        _barras_ltv(d["ltv_por_oferta"], "LTV por oferta (20 maiores)", "Oferta", "ltv_oferta")
        _barras_ltv(d["ltv_por_faixa_ticket"], "LTV por faixa de ticket", "Faixa", "ltv_ticket")
        st.caption("LTV considera todas as compras pagas, de qualquer data.")
        _reembolsos(d["taxas_reembolso_chargeback"])
        _recuperada(d["receita_recuperada_por_regra"])
    with aba_progresso:
        st.caption("Retrato de hoje: o período não se aplica ao progresso; os produtos, sim.")
        _progresso(d, *escolha)
    with aba_saude:
        from ui import painel_saude

        painel_saude.desenhar(_filtro(*escolha).produto_ids)
    with aba_mensagens:
        _mensagens(d)
