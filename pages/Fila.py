"""Fila de Aprovação (cs, gestor, admin): proposed messages, approve/reject, unconfirmed sends."""

import streamlit as st

from ui.navegacao import exigir_acesso

usuario = exigir_acesso("fila")

# Imports after the guard: nothing below runs for a visitor without the role.
import pandas as pd  # noqa: E402

from db.uow import UnidadeDeTrabalho  # noqa: E402
from services import fila, produtos, regras  # noqa: E402
from ui.formato import data_hora, inteiro, moeda  # noqa: E402
from ui.saida import botao_csv, literal  # noqa: E402

COLUNA_SELECAO = "Selecionar"
ROTULOS_STATUS = {
    "pendente": "Pendente",
    "verificar": "A verificar",
    "aprovado": "Aprovado (aguardando envio)",
    "enviando": "Enviando",
    "enviado": "Enviado",
    "rejeitado": "Rejeitado",
    "cancelado": "Cancelado",
    "erro": "Erro no envio",
}
ORDEM_STATUS = [s for s in ROTULOS_STATUS if s in fila.STATUS] + [
    s for s in fila.STATUS if s not in ROTULOS_STATUS
]

st.title("Fila de Aprovação")
st.caption(
    "Mensagens que as regras propõem. Confira o texto exato que o aluno vai receber e o "
    "contexto dele, então aprove ou rejeite com um motivo. Fica registrado quem decidiu e quando."
)
if aviso := st.session_state.pop("_aviso_fila", None):
    st.success(aviso)
if st.session_state.pop("_fila_limpar", False):
    for chave in ("fila_confirma_reenvio", "fila_selecao", "fila_todos"):
        st.session_state.pop(chave, None)
    # Set, not removed: a removed key leaves the browser showing the last reason, which the
    # next rejection would reuse by mistake.
    st.session_state["fila_motivo"] = ""

with UnidadeDeTrabalho() as uow:
    contagem = fila.contagem_por_status(uow.session)
    lista_regras = regras.listar(uow.session)
    lista_produtos = produtos.listar_produtos(uow.session)
    fora_da_janela = regras.fora_da_janela(uow.session)

coluna_pend, coluna_verif, coluna_aprov, coluna_env = st.columns(4)
coluna_pend.metric("Pendentes", inteiro(contagem.get("pendente", 0)))
coluna_verif.metric("A verificar", inteiro(contagem.get("verificar", 0)))
coluna_aprov.metric("Aprovados aguardando envio", inteiro(contagem.get("aprovado", 0)))
coluna_env.metric("Enviados", inteiro(contagem.get("enviado", 0)))

nomes_regras = {r.id: f"#{r.id} · {r.nome}" for r in lista_regras}
nomes_produtos = {p.id: p.nome for p in lista_produtos}

coluna_status, coluna_regra, coluna_produto, coluna_busca = st.columns(4)
status = coluna_status.selectbox(
    "Status", ORDEM_STATUS, format_func=lambda s: ROTULOS_STATUS.get(s, s), key="fila_status"
)
regra_id = coluna_regra.selectbox(
    "Regra",
    [None, *nomes_regras],
    format_func=lambda i: "Todas" if i is None else nomes_regras.get(i, str(i)),
    key="fila_regra",
)
produto_id = coluna_produto.selectbox(
    "Produto",
    [None, *nomes_produtos],
    format_func=lambda i: "Todos" if i is None else nomes_produtos.get(i, str(i)),
    key="fila_produto",
)
busca = coluna_busca.text_input(
    "Aluno", placeholder="Nome ou e-mail", max_chars=100, key="fila_busca"
)

if contagem.get("verificar") and status != "verificar":
    st.warning(
        f"{inteiro(contagem['verificar'])} envio(s) começaram mas não foram confirmados e "
        "esperam uma pessoa: escolha o status “A verificar”.",
        icon=":material/help:",
    )

with UnidadeDeTrabalho() as uow:
    itens, total = fila.listar(
        uow.session, status=status, regra_id=regra_id, produto_id=produto_id, busca=busca
    )

filtrado = regra_id is not None or produto_id is not None or bool(busca.strip())
if not itens:
    if filtrado:
        st.info("Nenhum item encontrado com esses filtros.")
    elif status == "pendente":
        st.info("Nenhum item pendente na fila.")
    else:
        st.info(f"Nenhum item com o status “{ROTULOS_STATUS.get(status, status)}”.")
    st.stop()

if status == "pendente" and fora_da_janela:
    st.caption("Agora está fora da janela de envio: o que for aprovado sai quando ela abrir.")

ids = [i.id for i in itens]
tabela = pd.DataFrame(
    {
        "Aluno": [i.aluno or "" for i in itens],
        "Mensagem": [i.texto or "" for i in itens],
        "Produto": [i.produto or "" for i in itens],
        "Regra": [i.regra or "" for i in itens],
        "LTV": [moeda(i.ltv or 0) for i in itens],
        "Progresso": ["—" if i.progresso is None else f"{i.progresso}%" for i in itens],
        "Última mensagem": [data_hora(i.ultima_mensagem) or "nunca" for i in itens],
        "Celular": [i.celular or "" for i in itens],
        "Criado em": [data_hora(i.data_criacao) for i in itens],
    },
    index=ids,
)
if status != "pendente":
    tabela["Decidido por"] = [i.decidido_por or "" for i in itens]
    tabela["Decidido em"] = [data_hora(i.decidido_em) for i in itens]
    tabela["Motivo / erro"] = [i.motivo or "" for i in itens]
configuracao = {
    "Mensagem": st.column_config.TextColumn(
        "Mensagem", width="large", help="O texto exato que o aluno recebe."
    ),
    "Última mensagem": st.column_config.TextColumn(
        "Última mensagem", help="Quando o aluno recebeu a última mensagem nossa."
    ),
}

decidir = status in ("pendente", "verificar")
selecionados: list[int] = []
if decidir:
    todos = st.checkbox(f"Marcar todos os {inteiro(len(itens))} itens listados", key="fila_todos")
    # A different list starts with nothing marked: row positions would point at other items.
    assinatura = (status, tuple(ids), todos)
    anterior = st.session_state.get("_fila_assinatura")
    if anterior != assinatura:
        marcados_antes = (st.session_state.get("fila_selecao") or {}).get("edited_rows")
        if anterior is not None and anterior[::2] == assinatura[::2] and marcados_antes:
            st.warning("A fila mudou desde a sua seleção: confira e marque os itens de novo.")
        st.session_state.pop("fila_selecao", None)
        st.session_state["_fila_assinatura"] = assinatura
    editada = st.data_editor(
        tabela.assign(**{COLUNA_SELECAO: todos})[[COLUNA_SELECAO, *tabela.columns]],
        column_config={
            COLUNA_SELECAO: st.column_config.CheckboxColumn(
                COLUNA_SELECAO, help="Marque os itens que vão receber a mesma decisão."
            ),
            **configuracao,
        },
        disabled=list(tabela.columns),
        hide_index=True,
        width="stretch",
        key="fila_selecao",
    )
    marcados = editada[COLUNA_SELECAO].fillna(False).to_numpy(dtype=bool)
    selecionados = [int(i) for i in editada.index[marcados]]
else:
    st.dataframe(tabela, column_config=configuracao, hide_index=True, width="stretch")
if total > len(itens):
    st.caption(
        f"Mostrando os {inteiro(len(itens))} mais antigos de {inteiro(total)}: "
        "decida estes ou use os filtros para achar os demais."
    )
botao_csv(tabela.reset_index(names="Item"), f"fila_{status}.csv", key="csv_fila")


def _concluir(mensagem: str) -> None:
    st.session_state["_aviso_fila"] = mensagem
    st.session_state["_fila_limpar"] = True
    st.session_state["_fila_assinatura"] = None
    st.rerun()


def _ja_decididos(pedidos: int, feitos: int) -> str:
    resto = pedidos - feitos
    return f" {resto} já tinha(m) sido decidido(s) por outra pessoa." if resto else ""


if status == "pendente":
    n = len(selecionados)
    coluna_aprovar, coluna_motivo, coluna_rejeitar = st.columns(
        [1, 2, 1], vertical_alignment="bottom"
    )
    aprovar = coluna_aprovar.button(
        f"Aprovar {n}",
        type="primary",
        icon=":material/check:",
        disabled=not selecionados,
        key="fila_aprovar",
    )
    motivo = coluna_motivo.text_input(
        "Motivo da rejeição",
        placeholder="Obrigatório para rejeitar — ex.: aluno já pagou por outro meio",
        max_chars=1000,
        key="fila_motivo",
    )
    rejeitar = coluna_rejeitar.button(
        f"Rejeitar {n}", icon=":material/close:", disabled=not selecionados, key="fila_rejeitar"
    )
    if aprovar or rejeitar:
        try:
            with UnidadeDeTrabalho() as uow:
                if aprovar:
                    feitos = fila.aprovar(uow.session, selecionados, usuario=usuario.username)
                else:
                    feitos = fila.rejeitar(
                        uow.session, selecionados, motivo=motivo, usuario=usuario.username
                    )
                uow.commit()
        except fila.DecisaoInvalida as exc:
            st.error(literal(exc))
        else:
            if aprovar:
                mensagem = f"{inteiro(feitos)} item(ns) aprovado(s)."
                if fora_da_janela:
                    mensagem += " Saem quando a janela de envio abrir."
            else:
                mensagem = f"{inteiro(feitos)} item(ns) rejeitado(s)."
            _concluir(mensagem + _ja_decididos(n, feitos))

if status == "verificar":
    st.info(
        "Estes envios começaram mas a confirmação nunca chegou: o processo de disparo parou no "
        "meio, a Meta demorou demais ou a conexão caiu, ou um intermediário respondeu com erro "
        "(ex.: 502) sem a resposta da Meta — o motivo está na coluna “Motivo / erro”. A "
        "mensagem pode ter saído, por isso o sistema não a reenvia sozinho. Confira no WhatsApp "
        "ou na conversa do aluno no Chatwoot se ele recebeu: marque como enviado, ou devolva "
        "para envio — se a mensagem já tiver saído, ele a recebe duas vezes.",
        icon=":material/help:",
    )
    coluna_enviado, coluna_reenviar = st.columns(2, vertical_alignment="bottom")
    marcar_enviado = coluna_enviado.button(
        f"Marcar {len(selecionados)} como enviado(s)",
        icon=":material/done_all:",
        disabled=not selecionados,
        key="fila_marcar_enviado",
    )
    confirma_reenvio = coluna_reenviar.checkbox(
        "Confirmo que o aluno não recebeu", key="fila_confirma_reenvio"
    )
    reenviar = coluna_reenviar.button(
        f"Enviar {len(selecionados)} novamente",
        icon=":material/send:",
        disabled=not selecionados,
        key="fila_reenviar",
    )
    if marcar_enviado or reenviar:
        if not selecionados:
            st.error("Selecione ao menos um item.")
        elif reenviar and not confirma_reenvio:
            st.error("Marque a confirmação de que o aluno não recebeu para enviar novamente.")
        else:
            with UnidadeDeTrabalho() as uow:
                feitos = fila.resolver_verificacao(
                    uow.session, selecionados, enviado=marcar_enviado, usuario=usuario.username
                )
                uow.commit()
            destino = "marcado(s) como enviado(s)" if marcar_enviado else "devolvido(s) para envio"
            _concluir(
                f"{inteiro(feitos)} item(ns) {destino}." + _ja_decididos(len(selecionados), feitos)
            )

# ---- one item in full ------------------------------------------------------------------------
st.divider()
por_id = {i.id: i for i in itens}
item_id = st.selectbox(
    "Ver item",
    ids,
    format_func=lambda i: (
        f"#{i} · {por_id[i].aluno or 'sem nome'} · {por_id[i].produto or 'sem produto'}"
        if i in por_id
        else f"#{i}"
    ),
    key="fila_detalhe",
)
item = por_id[item_id]
st.markdown("**Texto exato que o aluno recebe**")
st.code(item.texto or "(sem texto)", language=None, wrap_lines=True)
coluna_ltv, coluna_progresso, coluna_ultima = st.columns(3)
coluna_ltv.metric("LTV", moeda(item.ltv or 0))
coluna_progresso.metric(
    "Progresso no produto", "—" if item.progresso is None else f"{item.progresso}%"
)
coluna_ultima.metric("Última mensagem", data_hora(item.ultima_mensagem) or "nunca")
detalhes = [
    f"Regra: {literal(item.regra or '—')}",
    f"Template: {literal(item.template or '—')}",
    f"Celular: {literal(item.celular or 'sem celular')}",
    f"Status: {ROTULOS_STATUS.get(item.status, item.status)}",
    f"Criado em {data_hora(item.data_criacao)}",
]
if item.decidido_por:
    detalhes.append(f"Decidido por {literal(item.decidido_por)} em {data_hora(item.decidido_em)}")
if item.motivo:
    detalhes.append(f"Motivo: {literal(item.motivo)}")
st.caption(" · ".join(detalhes))
