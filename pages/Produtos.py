"""Produtos (cs, gestor, admin): catalogue, monitoring, Club subdomain, offers, course, funnel."""

import streamlit as st

from ui.navegacao import exigir_acesso

usuario = exigir_acesso("produtos")

# Imports after the guard: nothing below runs for a visitor without the role.
import uuid  # noqa: E402

import pandas as pd  # noqa: E402
import plotly.graph_objects as go  # noqa: E402

from db.uow import UnidadeDeTrabalho  # noqa: E402
from services import config, produtos, templates  # noqa: E402
from ui.formato import inteiro, moeda, percentual  # noqa: E402
from ui.saida import botao_csv, literal, rotulo_grafico, tabela_com_csv  # noqa: E402

PODE_EDITAR = usuario.papel in ("gestor", "admin")
COLUNA_MONITORAR = "Monitorar"
COLUNA_SUBDOMINIO = "Subdomínio do Club"

st.title("Produtos")
st.caption(
    "Catálogo espelhado da Hotmart: o que o CS acompanha, as ofertas e onde os alunos param."
)
if aviso := st.session_state.pop("_aviso_produtos", None):
    st.success(aviso)

with UnidadeDeTrabalho() as uow:
    lista = produtos.listar_produtos(uow.session)

if not lista:
    st.info("Nenhum produto ainda — sincronize a Hotmart pela barra lateral.")
    st.stop()

nomes = {p.id: p.nome for p in lista}
tabela = pd.DataFrame(
    {
        "Produto": [p.nome for p in lista],
        "ID Hotmart": [
            "" if p.hotmart_product_id is None else str(p.hotmart_product_id) for p in lista
        ],
        COLUNA_SUBDOMINIO: [p.hotmart_subdomain or "" for p in lista],
        COLUNA_MONITORAR: [p.ativo_monitoramento for p in lista],
        "Ofertas": [p.ofertas for p in lista],
        "Módulos": [p.modulos for p in lista],
        "Aulas": [p.aulas for p in lista],
        "Matrículas ativas": [p.matriculas_ativas for p in lista],
    },
    index=[str(p.id) for p in lista],
)
configuracao_colunas = {
    COLUNA_MONITORAR: st.column_config.CheckboxColumn(
        COLUNA_MONITORAR, help="Liga o acompanhamento do CS (regras e alertas) para o produto."
    ),
    COLUNA_SUBDOMINIO: st.column_config.TextColumn(
        COLUNA_SUBDOMINIO,
        help="Subdomínio da área de membros (ex.: meu-curso), usado para puxar as aulas.",
        max_chars=100,
    ),
}


def _salvar(original: pd.DataFrame, editada: pd.DataFrame) -> None:
    """Store every changed flag and subdomain in one transaction: all or nothing."""
    mudou = (original[COLUNA_MONITORAR] != editada[COLUNA_MONITORAR]) | (
        original[COLUNA_SUBDOMINIO] != editada[COLUNA_SUBDOMINIO].fillna("")
    )
    if not mudou.any():
        st.info("Nenhum valor foi alterado.")
        return
    alterados = []
    with UnidadeDeTrabalho() as uow:
        for chave, linha in editada[mudou].iterrows():
            produto_id = uuid.UUID(chave)
            try:
                produtos.definir_monitoramento(
                    uow.session, produto_id, bool(linha[COLUNA_MONITORAR]), usuario=usuario.username
                )
                produtos.definir_subdominio(
                    uow.session,
                    produto_id,
                    linha[COLUNA_SUBDOMINIO] or "",
                    usuario=usuario.username,
                )
            except produtos.ProdutoInvalido as exc:
                st.error(f"{literal(linha['Produto'])}: {literal(exc)} Nada foi salvo.")
                return
            alterados.append(linha["Produto"])
        uow.commit()
    st.session_state["_aviso_produtos"] = (
        "Alterações salvas: " + ", ".join(literal(n) for n in alterados) + "."
    )
    # A new editor key starts it from the stored values instead of replaying the old edits.
    st.session_state["_versao_editor_produtos"] = (
        st.session_state.get("_versao_editor_produtos", 0) + 1
    )
    st.rerun()


def _preco(oferta: produtos.OfertaResumo) -> str:
    if oferta.preco is None:
        return "—"
    if (oferta.moeda or "BRL") == "BRL":
        return moeda(oferta.preco)
    return f"{oferta.moeda} {oferta.preco}"


def _ordenado(ordem: int | None, nome: str | None) -> str:
    return f"{'–' if ordem is None else ordem}. {nome or 'sem nome'}"


if PODE_EDITAR:
    versao = st.session_state.get("_versao_editor_produtos", 0)
    editada = st.data_editor(
        tabela,
        column_config=configuracao_colunas,
        disabled=[c for c in tabela.columns if c not in (COLUNA_MONITORAR, COLUNA_SUBDOMINIO)],
        hide_index=True,
        width="stretch",
        key=f"editor_produtos_{versao}",
    )
    if st.button("Salvar alterações", type="primary", key="salvar_produtos"):
        _salvar(tabela, editada)
else:
    st.dataframe(tabela, column_config=configuracao_colunas, hide_index=True, width="stretch")
    st.caption("Somente gestores e administradores alteram o monitoramento e o subdomínio.")
botao_csv(tabela, "produtos.csv", key="csv_produtos")

st.divider()
produto_id = st.selectbox(
    "Detalhar produto", list(nomes), format_func=nomes.get, key="produto_selecionado"
)

with UnidadeDeTrabalho() as uow:
    ofertas = produtos.listar_ofertas(uow.session, produto_id=produto_id)
    arvore = produtos.arvore_curso(uow.session, produto_id=produto_id)
    funil = produtos.funil_aulas(uow.session, produto_id=produto_id)
    ticket_minimo = config.obter_inteiro(uow.session, "ticket_alto_minimo")

aba_funil, aba_ofertas, aba_curso, aba_templates = st.tabs(
    ["Funil de conclusão", "Ofertas", "Módulos e aulas", "Templates do WhatsApp"]
)

with aba_funil:
    if not funil:
        st.info("Este produto ainda não tem aulas espelhadas — sincronize a Hotmart.")
    else:
        total = funil[0].matriculas
        st.caption(
            f"Das {inteiro(total)} matrículas do produto, quantas concluíram cada aula, "
            "na ordem do curso."
        )
        if total == 0:
            st.info("Nenhuma matrícula neste produto ainda: o funil fica vazio.")
        etapas = ["Matrículas"] + [
            rotulo_grafico(f"{e.posicao:02d}. {e.aula_nome or 'Aula sem nome'}") for e in funil
        ]
        valores = [total] + [e.concluintes for e in funil]
        textos = [f"{inteiro(total)} (100%)" if total else "0"] + [
            f"{inteiro(e.concluintes)} ({percentual(e.percentual)})" for e in funil
        ]
        modulos = [""] + [rotulo_grafico(e.modulo_nome or "") for e in funil]
        grafico = go.Figure(
            go.Funnel(
                y=etapas,
                x=valores,
                text=textos,
                textinfo="text",
                customdata=modulos,
                hovertemplate="%{y}<br>%{customdata}<br>%{text}<extra></extra>",
                marker={"color": "#0F766E"},
            )
        )
        grafico.update_layout(
            height=120 + 34 * len(etapas),
            margin={"l": 10, "r": 10, "t": 10, "b": 10},
        )
        st.plotly_chart(grafico, width="stretch", key="funil_aulas")
        queda = produtos.maior_queda(funil)
        if queda:
            anterior, etapa, perda = queda
            origem = f"“{literal(anterior.aula_nome or 'sem nome')}”" if anterior else "a matrícula"
            st.warning(
                f"Maior queda: {inteiro(perda)} alunos param entre {origem} "
                f"e “{literal(etapa.aula_nome or 'sem nome')}”."
            )
        tabela_funil = pd.DataFrame(
            {
                "Posição": [e.posicao for e in funil],
                "Módulo": [e.modulo_nome or "" for e in funil],
                "Aula": [e.aula_nome or "" for e in funil],
                "Concluíram": [e.concluintes for e in funil],
                "% das matrículas": [percentual(e.percentual) for e in funil],
            }
        )
        st.dataframe(tabela_funil, hide_index=True, width="stretch")
        botao_csv(tabela_funil, "funil_aulas.csv", key="csv_funil")

with aba_ofertas:
    st.caption(f"Ticket alto: preço a partir de {moeda(ticket_minimo)} (ajuste em Configurações).")
    if not ofertas:
        st.info("Nenhuma oferta espelhada para este produto ainda.")
    else:
        tabela_ofertas = pd.DataFrame(
            {
                "Oferta": [o.nome or "" for o in ofertas],
                "Código": [o.codigo or "" for o in ofertas],
                "Preço": [_preco(o) for o in ofertas],
                "Ticket": [o.classe_ticket or "—" for o in ofertas],
            }
        )
        st.dataframe(tabela_ofertas, hide_index=True, width="stretch")
        botao_csv(tabela_ofertas, "ofertas.csv", key="csv_ofertas")

with aba_curso:
    if not arvore:
        st.info("Nenhum módulo espelhado ainda — confira o subdomínio do Club e sincronize.")
    else:
        tabela_curso = pd.DataFrame(
            {
                "Módulo": [_ordenado(i.modulo_ordem, i.modulo_nome) for i in arvore],
                "Aula": [
                    _ordenado(i.aula_ordem, i.aula_nome) if i.aula_id else "(sem aulas)"
                    for i in arvore
                ],
                "Libera após (dias)": [
                    "" if i.dias_liberacao is None else str(i.dias_liberacao) for i in arvore
                ],
            }
        )
        st.dataframe(tabela_curso, hide_index=True, width="stretch")
        botao_csv(tabela_curso, "modulos_aulas.csv", key="csv_curso")

with aba_templates:
    st.caption(
        "Templates vinculados a este produto só são enviados a alunos dele; os sem produto "
        "servem a qualquer produto."
    )
    with UnidadeDeTrabalho() as uow:
        todos = templates.listar(uow.session)
    if not todos:
        st.info("Nenhum template ainda — configure a Meta e sincronize pela barra lateral.")
    else:
        deste = [t for t in todos if t.produto_id == produto_id]
        tabela_tpl = pd.DataFrame(
            {
                "Template": [t.nome for t in deste],
                "Idioma": [t.idioma or "" for t in deste],
                "Status na Meta": [("removido" if t.removido else (t.status or "")) for t in deste],
                "Variáveis": [t.qtd_parametros or 0 for t in deste],
                "Texto": [t.texto or "" for t in deste],
            }
        )
        if deste:
            tabela_com_csv(tabela_tpl, "templates_produto.csv", key="tabela_templates")
        else:
            st.info("Nenhum template vinculado a este produto.")
        if PODE_EDITAR:
            with st.form("form_vincular_template"):
                opcoes = {t.id: t for t in todos}
                escolhido = st.selectbox(
                    "Template",
                    list(opcoes),
                    format_func=lambda i: (
                        f"{opcoes[i].nome} ({opcoes[i].idioma or '?'}) — "
                        + (nomes.get(opcoes[i].produto_id, "sem produto"))
                    ),
                )
                acao = st.radio(
                    "Ação", ["Vincular a este produto", "Deixar sem produto"], horizontal=True
                )
                aplicar = st.form_submit_button("Aplicar")
            if aplicar:
                with UnidadeDeTrabalho() as uow:
                    mudou = templates.vincular(
                        uow.session,
                        template_id=escolhido,
                        produto_id=produto_id if acao.startswith("Vincular") else None,
                        usuario=usuario.username,
                    )
                    uow.commit()
                st.session_state["_aviso_produtos"] = (
                    "Template atualizado." if mudou else "Nada mudou: o template já estava assim."
                )
                st.rerun()
