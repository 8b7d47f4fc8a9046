"""Regras (gestor, admin): automation rules — trigger, audience, template, mapping, preview."""

import streamlit as st

from ui.navegacao import exigir_acesso

usuario = exigir_acesso("regras")

# Imports after the guard: nothing below runs for a visitor without the role.
import json  # noqa: E402
import logging  # noqa: E402
import uuid  # noqa: E402

import pandas as pd  # noqa: E402
from sqlalchemy.exc import SQLAlchemyError  # noqa: E402

from db.uow import UnidadeDeTrabalho  # noqa: E402
from services import alunos, config, produtos, regras, templates  # noqa: E402
from services.regras_condicoes import (  # noqa: E402
    CAMPOS,
    GATILHOS,
    MODOS,
    STATUS_ACESSO,
    CondicaoInvalida,
    campos_do_gatilho,
    validar_condicao,
)
from ui.formato import data_hora, inteiro  # noqa: E402
from ui.saida import botao_csv, literal  # noqa: E402

log = logging.getLogger(__name__)

NOVA = 0  # the "new rule" entry of the rule picker (rule ids start at 1)
PREFIXO = "rf_"  # every widget of the rule form: cleared when another rule is opened
ROTULO_MODO = {
    "SUGERIR": "Sugerir (vai para a Fila de Aprovação)",
    "AUTOMATICO": "Automático (envia sem aprovação)",
}
ROTULO_STATUS_ACESSO = {"ATIVO": "Ativo", "BLOQUEADO": "Bloqueado", "EXPIRADO": "Expirado"}

st.title("Regras de automação")
st.caption(
    "Se algo acontece com um aluno, a regra propõe uma mensagem de WhatsApp: escolha o gatilho, "
    "o público, o template e como preencher as variáveis. As sugestões vão para a Fila de "
    "Aprovação (ou saem direto, no modo automático)."
)
if aviso := st.session_state.pop("_aviso_regras", None):
    st.success(aviso)

with UnidadeDeTrabalho() as uow:
    lista = regras.listar(uow.session)
    catalogo_produtos = produtos.listar_produtos(uow.session)
    todos_templates = templates.listar(uow.session)
    catalogo_tags = alunos.catalogo_tags(uow.session)
    maximo_automatico = config.obter_inteiro(uow.session, "disparo_max_automatico_por_execucao")
    janela = (
        config.obter(uow.session, "disparo_janela_inicio"),
        config.obter(uow.session, "disparo_janela_fim"),
    )

nomes_produtos = {
    p.id: p.nome + ("" if p.ativo_monitoramento else " (não monitorado)") for p in catalogo_produtos
}
nomes_tags = {t.id: t.nome or f"Tag {t.id}" for t in catalogo_tags}
por_template = {t.id: t for t in todos_templates}
por_regra = {r.id: r for r in lista}


def _rotulo_gatilho(gatilho: str) -> str:
    return GATILHOS[gatilho].rotulo if gatilho in GATILHOS else gatilho


def _rotulo_regra(regra_id: int) -> str:
    regra = por_regra.get(regra_id)
    return "Nova regra" if regra is None else f"#{regra.id} · {regra.nome}"


def _rotulo_template(template_id: int) -> str:
    t = por_template.get(template_id)
    if t is None:
        return f"Template {template_id}"
    dono = nomes_produtos.get(t.produto_id, "outro produto") if t.produto_id else "genérico"
    return f"{t.nome} ({t.idioma or '?'}) — {dono}"


def _uuids_conhecidos(valores, conhecidos) -> list[uuid.UUID]:
    saida = []
    for valor in valores or []:
        try:
            chave = uuid.UUID(str(valor))
        except ValueError:
            continue
        if chave in conhecidos:
            saida.append(chave)
    return saida


def _limitado(valor, minimo: int, maximo: int, padrao: int) -> int:
    try:
        return min(max(int(valor), minimo), maximo)
    except (TypeError, ValueError):
        return padrao


def _preencher_condicao(gatilho: str, condicao: dict) -> None:
    """Write a (validated or stored) condition into the form's widgets."""
    estado = st.session_state
    for p in GATILHOS[gatilho].parametros:
        estado[f"{PREFIXO}param_{gatilho}_{p.nome}"] = _limitado(
            condicao.get(p.nome, p.padrao), p.minimo, p.maximo, p.padrao
        )
    filtros = condicao.get("filtros") or {}
    estado[f"{PREFIXO}produtos"] = _uuids_conhecidos(filtros.get("produtos"), nomes_produtos)
    estado[f"{PREFIXO}tags_in"] = [t for t in filtros.get("tags_incluir") or [] if t in nomes_tags]
    estado[f"{PREFIXO}tags_out"] = [t for t in filtros.get("tags_excluir") or [] if t in nomes_tags]
    estado[f"{PREFIXO}ltv_min"] = filtros.get("ltv_min")
    estado[f"{PREFIXO}ltv_max"] = filtros.get("ltv_max")
    if filtros.get("ticket") in ("Alto", "Baixo"):
        estado[f"{PREFIXO}ticket"] = filtros["ticket"]
    else:  # None in the state would read as "no choice" (an empty selectbox), not "Qualquer"
        estado.pop(f"{PREFIXO}ticket", None)
    estado[f"{PREFIXO}status"] = [
        s for s in filtros.get("status_acesso") or [] if s in STATUS_ACESSO
    ]
    estado[f"{PREFIXO}saude_min"] = filtros.get("saude_min")
    estado[f"{PREFIXO}saude_max"] = filtros.get("saude_max")
    if condicao.get("modulo_id"):
        try:
            estado[f"{PREFIXO}modulo"] = uuid.UUID(str(condicao["modulo_id"]))
        except ValueError:
            estado.pop(f"{PREFIXO}modulo", None)


def _carregar(regra) -> None:
    """Fill the form with a stored rule (or empty it for a new one)."""
    for chave in [k for k in st.session_state if str(k).startswith(PREFIXO)]:
        del st.session_state[chave]
    if regra is None or regra.gatilho not in GATILHOS:
        return
    estado = st.session_state
    estado[f"{PREFIXO}nome"] = regra.nome or ""
    estado[f"{PREFIXO}gatilho"] = regra.gatilho
    _preencher_condicao(regra.gatilho, regra.condicao or {})
    estado[f"{PREFIXO}template"] = regra.template_id
    campos = campos_do_gatilho(regra.gatilho)
    for chave, item in (regra.mapeamento or {}).items():
        item = item if isinstance(item, dict) else {"campo": item}
        if item.get("campo") in campos:
            estado[f"{PREFIXO}campo_{regra.gatilho}_{chave}"] = item["campo"]
        estado[f"{PREFIXO}padrao_{chave}"] = str(item.get("padrao") or "")
    estado[f"{PREFIXO}modo"] = regra.modo if regra.modo in MODOS else "SUGERIR"


def _aplicar_json(gatilho: str) -> None:
    """Callback of the advanced view: a pasted condition JSON goes into the form (validated)."""
    try:
        condicao = validar_condicao(gatilho, st.session_state.get(f"{PREFIXO}json") or "")
    except CondicaoInvalida as exc:
        st.session_state["_erro_json_regras"] = str(exc)
        return
    _preencher_condicao(gatilho, condicao)
    if not condicao.get("modulo_id"):
        st.session_state.pop(f"{PREFIXO}modulo", None)
    st.session_state["_aviso_json_regras"] = "Condição aplicada ao formulário."


def _intervalo(colunas, rotulos: tuple[str, str], chave: str, maximo: int, passo: int):
    """A minimum and a maximum (each optional) side by side; keys ``<chave>_min``/``_max``."""
    return tuple(
        coluna.number_input(
            rotulo,
            min_value=0,
            max_value=maximo,
            step=passo,
            value=None,
            key=f"{PREFIXO}{chave}_{fim}",
        )
        for coluna, rotulo, fim in zip(colunas, rotulos, ("min", "max"), strict=True)
    )


def _recarregar(mensagem: str, *, abrir: int | None = None) -> None:
    st.session_state["_aviso_regras"] = mensagem
    if abrir is not None:
        st.session_state["_regra_abrir"] = abrir
    st.session_state["_regra_carregada"] = None  # the form is read again from the database
    st.rerun()


# ---- the list --------------------------------------------------------------------------------
if not lista:
    st.info("Nenhuma regra ainda — crie a primeira abaixo.")
else:
    tabela = pd.DataFrame(
        {
            "Regra": [r.nome for r in lista],
            "Gatilho": [_rotulo_gatilho(r.gatilho) for r in lista],
            "Template": [r.template_nome or "—" for r in lista],
            "Modo": ["Automático" if r.modo == "AUTOMATICO" else "Sugerir" for r in lista],
            "Situação": ["Ativa" if r.ativo else "Inativa" for r in lista],
            "Atualizada em": [data_hora(r.atualizado_em) for r in lista],
            "Por": [r.atualizado_por or "" for r in lista],
        }
    )
    st.dataframe(tabela, hide_index=True, width="stretch")
    botao_csv(tabela, "regras.csv", key="csv_regras")

st.divider()
if (abrir := st.session_state.pop("_regra_abrir", None)) is not None:
    st.session_state["regra_escolhida"] = abrir
escolhida = st.selectbox(
    "Criar ou editar", [NOVA, *por_regra], format_func=_rotulo_regra, key="regra_escolhida"
)
regra = por_regra.get(escolhida)
if st.session_state.get("_regra_carregada") != escolhida:
    _carregar(regra)
    st.session_state["_regra_carregada"] = escolhida

if regra is not None and regra.gatilho not in GATILHOS:
    st.error(
        f"Esta regra usa um gatilho desconhecido ({literal(regra.gatilho)}) e não pode ser "
        "editada aqui. Desative-a ou crie outra."
    )

# ---- activate / deactivate a stored rule -------------------------------------------------------
if regra is not None:
    situacao = "ativa" if regra.ativo else "inativa"
    autor = f" por {literal(regra.atualizado_por)}" if regra.atualizado_por else ""
    st.caption(
        f"Esta regra está **{situacao}**, no modo "
        f"{'automático' if regra.modo == 'AUTOMATICO' else 'sugerir'}; "
        f"última alteração em {data_hora(regra.atualizado_em) or '—'}{autor}."
    )
    confirma_ativar = True
    if not regra.ativo and regra.modo == "AUTOMATICO":
        confirma_ativar = st.checkbox(
            "Confirmo ativar uma regra automática: as mensagens dela saem sem aprovação",
            key=f"{PREFIXO}confirma_ativar",
        )
    if st.button(
        "Desativar regra" if regra.ativo else "Ativar regra",
        icon=":material/toggle_off:" if regra.ativo else ":material/toggle_on:",
        key="regra_alternar",
    ):
        if not confirma_ativar:
            st.error("Marque a confirmação para ativar uma regra automática.")
        else:
            try:
                with UnidadeDeTrabalho() as uow:
                    regras.definir_ativa(
                        uow.session, regra.id, not regra.ativo, usuario=usuario.username
                    )
                    uow.commit()
            except CondicaoInvalida as exc:
                st.error(literal(exc))
            else:
                _recarregar(
                    f"Regra {literal(regra.nome)} {'desativada' if regra.ativo else 'ativada'}."
                )
    if regra.gatilho not in GATILHOS:
        st.stop()

# ---- the form (plain widgets, not st.form: the previews follow every change) -----------------
st.subheader("Nova regra" if regra is None else "Editar regra")
nome = st.text_input("Nome da regra", max_chars=100, key=f"{PREFIXO}nome")
gatilho = st.selectbox(
    "Gatilho", list(GATILHOS), format_func=_rotulo_gatilho, key=f"{PREFIXO}gatilho"
)
st.caption(GATILHOS[gatilho].descricao)

condicao: dict = {}
parametros = GATILHOS[gatilho].parametros
if parametros:
    for coluna, p in zip(st.columns(len(parametros)), parametros, strict=True):
        chave = f"{PREFIXO}param_{gatilho}_{p.nome}"
        st.session_state.setdefault(chave, p.padrao)
        condicao[p.nome] = int(
            coluna.number_input(p.rotulo, min_value=p.minimo, max_value=p.maximo, step=1, key=chave)
        )

with st.expander("Público (filtros)", expanded=True):
    st.caption("Só alunos de produtos monitorados recebem mensagens. Vazio = sem filtro.")
    produtos_filtro = st.multiselect(
        "Produtos",
        list(nomes_produtos),
        format_func=lambda i: nomes_produtos.get(i, str(i)),
        placeholder="Todos os produtos monitorados",
        key=f"{PREFIXO}produtos",
    )
    coluna_in, coluna_out = st.columns(2)
    tags_incluir = coluna_in.multiselect(
        "Só alunos com as tags",
        list(nomes_tags),
        format_func=lambda i: nomes_tags.get(i, str(i)),
        placeholder="Qualquer tag",
        key=f"{PREFIXO}tags_in",
    )
    tags_excluir = coluna_out.multiselect(
        "Exceto alunos com as tags",
        list(nomes_tags),
        format_func=lambda i: nomes_tags.get(i, str(i)),
        placeholder="Nenhuma",
        key=f"{PREFIXO}tags_out",
    )
    coluna_min, coluna_max, coluna_ticket = st.columns(3)
    ltv_min, ltv_max = _intervalo(
        (coluna_min, coluna_max), ("LTV mínimo (R$)", "LTV máximo (R$)"), "ltv", 10_000_000, 100
    )
    ticket = coluna_ticket.selectbox(
        "Ticket da oferta",
        [None, "Alto", "Baixo"],
        format_func=lambda t: "Qualquer" if t is None else t,
        key=f"{PREFIXO}ticket",
    )
    status_acesso = st.multiselect(
        "Status de acesso",
        list(STATUS_ACESSO),
        format_func=lambda s: ROTULO_STATUS_ACESSO.get(s, s),
        placeholder="Qualquer status",
        key=f"{PREFIXO}status",
    )
    saude_min, saude_max = _intervalo(
        st.columns(2), ("Saúde mínima (0–100)", "Saúde máxima (0–100)"), "saude", 100, 5
    )
    st.caption(
        "Saúde: o score de 0 a 100 da matrícula ativa do aluno no produto (o detalhe fica no "
        "perfil, em Alunos). Com esse filtro, quem não tem matrícula ativa no produto fica de fora."
    )
    if gatilho == "progresso_estagnado":
        if len(produtos_filtro) == 1:
            with UnidadeDeTrabalho() as uow:
                arvore = produtos.arvore_curso(uow.session, produto_id=produtos_filtro[0])
            modulos = {i.modulo_id: i.modulo_nome or "Módulo sem nome" for i in arvore}
            if st.session_state.get(f"{PREFIXO}modulo") not in modulos:
                st.session_state.pop(f"{PREFIXO}modulo", None)
            modulo_id = st.selectbox(
                "Parado no módulo",
                [None, *modulos],
                format_func=lambda m: "Qualquer módulo" if m is None else modulos.get(m, str(m)),
                key=f"{PREFIXO}modulo",
            )
            if modulo_id is not None:
                condicao["modulo_id"] = str(modulo_id)
        else:
            st.caption("Para limitar a um módulo, filtre um único produto.")

filtros: dict = {}
if produtos_filtro:
    filtros["produtos"] = [str(p) for p in produtos_filtro]
if tags_incluir:
    filtros["tags_incluir"] = list(tags_incluir)
if tags_excluir:
    filtros["tags_excluir"] = list(tags_excluir)
if ltv_min is not None:
    filtros["ltv_min"] = int(ltv_min)
if ltv_max is not None:
    filtros["ltv_max"] = int(ltv_max)
if ticket:
    filtros["ticket"] = ticket
if status_acesso:
    filtros["status_acesso"] = list(status_acesso)
if saude_min is not None:
    filtros["saude_min"] = int(saude_min)
if saude_max is not None:
    filtros["saude_max"] = int(saude_max)
condicao["filtros"] = filtros

# ---- template and variables ------------------------------------------------------------------
st.subheader("Mensagem")
aprovados = [t for t in todos_templates if t.status == "APPROVED" and not t.removido]
produto_unico = produtos_filtro[0] if len(produtos_filtro) == 1 else None
# A product's template only goes to that product's students: offer it only to a rule that is
# filtered to exactly that product; generic templates (no product) serve any rule.
elegiveis = [t for t in aprovados if t.produto_id is None or t.produto_id == produto_unico]
ids_elegiveis = [t.id for t in elegiveis]
atual = st.session_state.get(f"{PREFIXO}template")
if atual is not None and atual not in ids_elegiveis:
    st.warning(
        f"O template {literal(_rotulo_template(atual))} não serve para esta regra (não está "
        "aprovado na Meta ou é de outro produto): escolha outro."
    )
    st.session_state.pop(f"{PREFIXO}template", None)
if produto_unico is None:
    st.caption(
        "Aparecem os templates aprovados e genéricos. Para usar o template de um produto, "
        "filtre a regra por esse único produto."
    )
else:
    st.caption(
        "Aparecem os templates aprovados genéricos e os de "
        f"{literal(nomes_produtos.get(produto_unico, ''))}."
    )
if not elegiveis:
    st.info(
        "Nenhum template aprovado disponível — sincronize os templates da Meta pela barra "
        "lateral ou vincule um template ao produto em Produtos."
    )
template_id = st.selectbox(
    "Template aprovado",
    ids_elegiveis,
    index=None,
    format_func=_rotulo_template,
    placeholder="Escolha um template",
    key=f"{PREFIXO}template",
)
template = por_template.get(template_id)

mapeamento: dict = {}
if template is not None:
    quantidade = template.qtd_parametros or 0
    campos = campos_do_gatilho(gatilho)
    if quantidade == 0:
        st.caption("Este template não tem variáveis.")
    else:
        st.markdown("**Variáveis** — o que entra em cada espaço do template")
    previa_texto = template.texto or ""
    for i in range(1, quantidade + 1):
        coluna_campo, coluna_padrao = st.columns(2)
        campo = coluna_campo.selectbox(
            f"Variável {{{{{i}}}}}",
            campos,
            index=None,
            format_func=lambda c: CAMPOS.get(c, c),
            placeholder="Escolha um campo",
            key=f"{PREFIXO}campo_{gatilho}_{i}",
        )
        padrao = coluna_padrao.text_input(
            f"Se {{{{{i}}}}} vier vazio, usar",
            max_chars=200,
            placeholder="ex.: aluno(a)",
            key=f"{PREFIXO}padrao_{i}",
        )
        mapeamento[str(i)] = {"campo": campo, "padrao": padrao}
        previa_texto = previa_texto.replace(
            f"{{{{{i}}}}}", f"[{CAMPOS[campo]}]" if campo else f"[{{{{{i}}}}} sem campo]"
        )
    st.caption("Como o texto fica, com os campos escolhidos:")
    st.code(previa_texto or "(template sem texto)", language=None, wrap_lines=True)

# ---- mode ------------------------------------------------------------------------------------
modo = st.radio(
    "Modo", list(MODOS), format_func=ROTULO_MODO.get, horizontal=True, key=f"{PREFIXO}modo"
)
precisa_confirmar = modo == "AUTOMATICO" and (regra is None or regra.modo != "AUTOMATICO")
confirmado = True
if modo == "AUTOMATICO":
    st.warning(
        "No modo automático as mensagens saem sem que uma pessoa as aprove — no máximo "
        f"{inteiro(maximo_automatico)} por execução (o resto espera na fila). Use só quando o "
        "texto e o público já foram conferidos na prévia abaixo."
    )
    if precisa_confirmar:
        confirmado = st.checkbox(
            "Confirmo: esta regra envia mensagens sem aprovação humana",
            key=f"{PREFIXO}confirma_auto",
        )

with st.expander("Visualização avançada (JSON)"):
    st.caption("A condição e o mapeamento como são gravados.")
    st.code(json.dumps(condicao, ensure_ascii=False, indent=2), language="json")
    st.code(json.dumps(mapeamento, ensure_ascii=False, indent=2), language="json")
    if erro := st.session_state.pop("_erro_json_regras", None):
        st.error(literal(erro))
    if aviso_json := st.session_state.pop("_aviso_json_regras", None):
        st.success(aviso_json)
    st.text_area(
        "Colar uma condição em JSON",
        placeholder='{"horas": 12, "max_horas": 72, "filtros": {"ticket": "Alto"}}',
        max_chars=5000,
        key=f"{PREFIXO}json",
    )
    st.button(
        "Aplicar ao formulário", on_click=_aplicar_json, args=(gatilho,), key="regra_aplicar_json"
    )

# ---- audience preview ------------------------------------------------------------------------
st.subheader("Prévia do público")
previa = None
try:
    with UnidadeDeTrabalho() as uow:
        previa = regras.prever(
            uow.session,
            gatilho=gatilho,
            condicao=condicao,
            template_id=template_id,
            mapeamento=mapeamento,
            regra_id=regra.id if regra else None,
        )
except CondicaoInvalida as exc:
    st.info(f"Complete a regra para ver quem ela alcança: {literal(exc)}")
except SQLAlchemyError:
    log.exception("prévia da regra falhou")
    st.error("Não foi possível calcular a prévia agora. Tente de novo em instantes.")

if previa is not None:
    coluna_total, coluna_elegiveis, coluna_excluidos = st.columns(3)
    coluna_total.metric("Alunos no gatilho", inteiro(previa.total))
    coluna_elegiveis.metric("Receberiam agora", inteiro(previa.elegiveis))
    coluna_excluidos.metric("Excluídos", inteiro(previa.total - previa.elegiveis))
    if previa.elegiveis > regras.MAX_NOVOS_POR_EXECUCAO:
        st.info(
            f"Cada avaliação coloca no máximo {inteiro(regras.MAX_NOVOS_POR_EXECUCAO)} "
            "mensagens novas na fila por regra; os demais alunos entram nas próximas "
            "avaliações, em ordem alfabética.",
            icon=":material/low_priority:",
        )
    if previa.fora_da_janela:
        st.info(
            f"Agora está fora da janela de envio ({janela[0]}–{janela[1]}, horário de São "
            "Paulo): as mensagens aprovadas esperam a janela abrir.",
            icon=":material/schedule:",
        )
    if previa.exemplos:
        st.markdown(f"**Exemplos** (até {len(previa.exemplos)}, com o texto exato)")
        st.dataframe(
            pd.DataFrame(
                {
                    "Aluno": [e.get("aluno") or "" for e in previa.exemplos],
                    "Produto": [e.get("produto") or "" for e in previa.exemplos],
                    "Mensagem": [e.get("texto") or "" for e in previa.exemplos],
                }
            ),
            column_config={"Mensagem": st.column_config.TextColumn("Mensagem", width="large")},
            hide_index=True,
            width="stretch",
            key="previa_exemplos",
        )
    elif previa.total == 0:
        st.caption("Ninguém se encaixa no gatilho e nos filtros agora.")
    if previa.por_motivo:
        st.markdown("**Excluídos e por quê**")
        st.dataframe(
            pd.DataFrame(
                {
                    "Motivo": list(previa.por_motivo),
                    "Alunos": [int(n) for n in previa.por_motivo.values()],
                }
            ),
            hide_index=True,
            key="previa_motivos",
        )
        st.dataframe(
            pd.DataFrame(
                {
                    "Aluno": [e.get("aluno") or "" for e in previa.excluidos],
                    "Produto": [e.get("produto") or "" for e in previa.excluidos],
                    "Motivo": [e.get("motivo") or "" for e in previa.excluidos],
                }
            ),
            hide_index=True,
            width="stretch",
            key="previa_excluidos",
        )

# ---- save ------------------------------------------------------------------------------------
st.divider()
if regra is None:
    st.caption("A regra nova já nasce ativa: entra na próxima geração de sugestões.")
if st.button(
    "Criar regra" if regra is None else "Salvar alterações",
    type="primary",
    icon=":material/save:",
    key="regra_salvar",
):
    if precisa_confirmar and not confirmado:
        st.error("Marque a confirmação do modo automático para salvar. Nada foi salvo.")
    else:
        try:
            with UnidadeDeTrabalho() as uow:
                regra_id = regras.salvar(
                    uow.session,
                    regra_id=regra.id if regra else None,
                    nome=nome,
                    gatilho=gatilho,
                    condicao=condicao,
                    template_id=template_id,
                    mapeamento=mapeamento,
                    modo=modo,
                    ativo=True if regra is None else regra.ativo,
                    usuario=usuario.username,
                )
                uow.commit()
        except CondicaoInvalida as exc:
            st.error(f"{literal(exc)} Nada foi salvo.")
        except SQLAlchemyError:
            log.exception("salvar regra falhou")
            st.error("Não foi possível salvar a regra agora. Tente de novo. Nada foi salvo.")
        else:
            _recarregar(
                f"Regra {literal(nome.strip())} {'criada' if regra is None else 'salva'}.",
                abrir=regra_id,
            )
