"""Alunos (cs, gestor, admin): find a student and read their profile before answering them."""

import streamlit as st

from ui.navegacao import exigir_acesso

usuario = exigir_acesso("alunos")

# Imports after the guard: nothing below runs for a visitor without the role.
import uuid  # noqa: E402

import pandas as pd  # noqa: E402

from db.uow import UnidadeDeTrabalho  # noqa: E402
from services import alunos, lgpd, saude, usuarios  # noqa: E402
from ui.formato import data, data_hora, inteiro, moeda  # noqa: E402
from ui.saida import botao_csv, literal  # noqa: E402

PODE_CRIAR_TAG = usuario.papel == "admin"
PODE_LGPD = usuario.papel == "admin"  # export and anonymisation: admins only
PALAVRA_CONFIRMACAO = "ANONIMIZAR"
COLUNA_SELECAO = "Selecionar"
STATUS_TRANSACAO = {
    "APPROVED": "Aprovada",
    "COMPLETE": "Completa",
    "WAITING_PAYMENT": "Aguardando pagamento",
    "PRINTED_BILLET": "Boleto impresso",
    "BILLET_PRINTED": "Boleto impresso",
    "REFUNDED": "Reembolsada",
    "CHARGEBACK": "Chargeback",
    "CANCELLED": "Cancelada",
    "EXPIRED": "Expirada",
    "OVERDUE": "Vencida",
    "PROTESTED": "Em disputa",
    "DELAYED": "Atrasada",
    "STARTED": "Iniciada",
}
STATUS_ACESSO = {"ATIVO": "Ativo", "BLOQUEADO": "Bloqueado", "EXPIRADO": "Expirado"}
ORIGEM_ACESSO = {"zap_terceiriza": "WhatsApp (Terceiriza)", "email_hotmart": "E-mail da Hotmart"}
STATUS_ENTREGA = {"sent": "Enviada", "delivered": "Entregue", "read": "Lida", "failed": "Falhou"}

st.title("Alunos")
if aviso := st.session_state.pop("_aviso_alunos", None):
    st.success(aviso)


def _rotulo(mapa: dict[str, str], valor: str | None) -> str:
    if not valor:
        return ""
    return mapa.get(valor.upper(), mapa.get(valor, valor))


def _avisar_e_recarregar(mensagem: str) -> None:
    st.session_state["_aviso_alunos"] = mensagem
    st.rerun()


with UnidadeDeTrabalho() as uow:
    existem = alunos.ha_alunos(uow.session)
if not existem:
    st.info("Nenhum aluno ainda — sincronize a Hotmart pela barra lateral.")
    st.stop()

termo = st.text_input(
    "Buscar aluno",
    placeholder="Nome, e-mail, CPF ou celular (WhatsApp)",
    max_chars=alunos.TAMANHO_MAXIMO_BUSCA,
    key="busca_aluno",
)
if len(termo.strip()) < 2:
    st.caption("Digite pelo menos 2 caracteres: parte do nome, o e-mail, o CPF ou o celular.")
    st.stop()

try:
    with UnidadeDeTrabalho() as uow:
        encontrados = alunos.buscar_alunos(uow.session, termo=termo)
except alunos.AlunoInvalido as exc:
    st.error(literal(exc))
    st.stop()

if not encontrados:
    st.info("Nenhum aluno encontrado para essa busca. Confira a grafia ou tente outro dado.")
    st.stop()

with UnidadeDeTrabalho() as uow:
    catalogo = alunos.catalogo_tags(uow.session)
nomes_catalogo = {t.id: t.nome or f"Tag {t.id}" for t in catalogo}

# A new result list (or a finished bulk action) starts a fresh editor with nothing selected:
# a keyed editor keeps its ticks across data changes, and row positions would then point at
# other students. A new key is the only reset that also reaches the browser.
assinatura = tuple(str(a.id) for a in encontrados)
if st.session_state.get("_selecao_assinatura") != assinatura:
    st.session_state["_selecao_assinatura"] = assinatura
    st.session_state["_selecao_versao"] = st.session_state.get("_selecao_versao", 0) + 1
resultados = pd.DataFrame(
    {
        COLUNA_SELECAO: [False] * len(encontrados),
        "Nome": [a.nome or "" for a in encontrados],
        "E-mail": [a.email or "" for a in encontrados],
        "Celular": [a.celular or "" for a in encontrados],
        "CPF": [a.cpf or "" for a in encontrados],
        "LTV": [moeda(a.ltv_total) for a in encontrados],
    },
    index=list(assinatura),
)
editada = st.data_editor(
    resultados,
    column_config={
        COLUNA_SELECAO: st.column_config.CheckboxColumn(
            COLUNA_SELECAO, help="Marque os alunos que recebem ou perdem uma tag em massa."
        )
    },
    disabled=[c for c in resultados.columns if c != COLUNA_SELECAO],
    hide_index=True,
    width="stretch",
    key=f"selecao_alunos_{st.session_state['_selecao_versao']}",
)
if len(encontrados) >= alunos.LIMITE_BUSCA:
    st.caption(f"Mostrando os {alunos.LIMITE_BUSCA} primeiros resultados: refine a busca.")

marcados = editada[COLUNA_SELECAO].fillna(False).to_numpy(dtype=bool)
selecionados = [uuid.UUID(i) for i in editada.index[marcados]]
if not catalogo:
    st.caption("Sem tags no catálogo: um administrador as cria em Configurações › Tags.")
else:
    coluna_tag, coluna_acao, coluna_botao = st.columns([2, 2, 1], vertical_alignment="bottom")
    tag_massa = coluna_tag.selectbox(
        "Tag para os selecionados",
        list(nomes_catalogo),
        format_func=nomes_catalogo.get,
        key="tag_massa",
    )
    acao_massa = coluna_acao.radio(
        "Ação em massa", ["Adicionar", "Remover"], horizontal=True, key="acao_massa"
    )
    aplicar = coluna_botao.button(
        f"Aplicar a {len(selecionados)}",
        disabled=not selecionados,
        key="botao_tag_massa",
        help="Só os alunos marcados na tabela acima (no máximo os resultados visíveis).",
    )
    if aplicar:
        adicionar = acao_massa == "Adicionar"
        try:
            with UnidadeDeTrabalho() as uow:
                alterados = alunos.aplicar_tag_em_massa(
                    uow.session,
                    aluno_ids=selecionados,
                    tag_id=tag_massa,
                    adicionar=adicionar,
                    usuario=usuario.username,
                )
                uow.commit()
        except alunos.AlunoInvalido as exc:
            st.error(literal(exc))
        else:
            nome_tag = literal(nomes_catalogo[tag_massa])
            verbo = "adicionada a" if adicionar else "removida de"
            inalterados = len(selecionados) - alterados
            mensagem = f"Tag {nome_tag} {verbo} {alterados} aluno(s)."
            if inalterados:
                mensagem += (
                    f" {inalterados} já {'tinha(m)' if adicionar else 'não tinha(m)'} a tag."
                )
            st.session_state["_selecao_assinatura"] = None  # a fresh editor: no ticks
            _avisar_e_recarregar(mensagem)

rotulos = {a.id: f"{a.nome or 'Sem nome'} — {a.email or 'sem e-mail'}" for a in encontrados}
aluno_id = st.selectbox("Abrir perfil", list(rotulos), format_func=rotulos.get, key="aluno_aberto")

with UnidadeDeTrabalho() as uow:
    perfil = alunos.perfil(uow.session, aluno_id=aluno_id)
    saude_matriculas = saude.saude_do_aluno(uow.session, aluno_id) if perfil else []
    anonimizado_em = lgpd.anonimizado_em(uow.session, aluno_id) if PODE_LGPD and perfil else None
if perfil is None:
    st.warning("Este aluno não existe mais. Busque novamente.")
    st.stop()

aluno = perfil.aluno
st.divider()
st.subheader(literal(aluno.nome or "Aluno sem nome"))
coluna_ltv, coluna_produtos, coluna_mensagens = st.columns(3)
coluna_ltv.metric("LTV", moeda(aluno.ltv_total or 0))
coluna_produtos.metric("Matrículas", inteiro(len(perfil.matriculas)))
coluna_mensagens.metric(
    "Mensagens recebidas",
    inteiro(len(perfil.mensagens))
    + ("+" if len(perfil.mensagens) >= alunos.LIMITE_MENSAGENS else ""),
)
st.dataframe(
    pd.DataFrame(
        {
            "Campo": ["E-mail", "Celular (WhatsApp)", "CPF", "Cadastrado em"],
            "Valor": [
                aluno.email or "",
                aluno.celular or "",
                aluno.cpf or "",
                data(aluno.criado_em),
            ],
        }
    ),
    hide_index=True,
    key="contato_aluno",
)

aba_compras, aba_cursos, aba_tags, aba_mensagens, aba_saude = st.tabs(
    ["Compras", "Matrículas e progresso", "Tags", "Mensagens enviadas", "Saúde"]
)

with aba_compras:
    if not perfil.transacoes:
        st.info("Nenhuma compra registrada para este aluno.")
    else:
        tabela_compras = pd.DataFrame(
            {
                "Transação": [t.id for t in perfil.transacoes],
                "Produto": [t.produto or "" for t in perfil.transacoes],
                "Oferta": [t.oferta or "" for t in perfil.transacoes],
                "Status": [_rotulo(STATUS_TRANSACAO, t.status) for t in perfil.transacoes],
                "Valor pago": [moeda(t.valor_pago) for t in perfil.transacoes],
                "Compra": [data(t.data_compra) for t in perfil.transacoes],
                "Garantia até": [data(t.data_garantia_fim) for t in perfil.transacoes],
                "Origem (src)": [t.origem_src or "" for t in perfil.transacoes],
            }
        )
        st.dataframe(tabela_compras, hide_index=True, width="stretch")
        botao_csv(tabela_compras, "compras_aluno.csv", key="csv_compras")
        recuperacao = [t for t in perfil.transacoes if t.link_boleto or t.codigo_pix]
        if recuperacao:
            st.markdown("**Recuperação de pagamento** — copie e envie ao aluno.")
        for t in recuperacao:
            st.caption(
                f"{literal(t.id)} · {literal(t.produto or '')} · "
                f"{literal(_rotulo(STATUS_TRANSACAO, t.status))} · {moeda(t.valor_pago)}"
            )
            if t.link_boleto:
                st.code(t.link_boleto, language=None, wrap_lines=True)
            if t.codigo_pix:
                st.code(t.codigo_pix, language=None, wrap_lines=True)

with aba_cursos:
    if not perfil.matriculas:
        st.info("Este aluno não tem matrículas.")
    else:
        st.dataframe(
            pd.DataFrame(
                {
                    "Produto": [m.produto or "" for m in perfil.matriculas],
                    "Acesso": [_rotulo(STATUS_ACESSO, m.status_acesso) for m in perfil.matriculas],
                    "Início": [data(m.data_inicio) for m in perfil.matriculas],
                    "Renovação": [data(m.data_renovacao) for m in perfil.matriculas],
                    "Primeiro acesso via": [
                        _rotulo(ORIGEM_ACESSO, m.origem_primeiro_acesso) for m in perfil.matriculas
                    ],
                }
            ),
            hide_index=True,
            width="stretch",
        )
        st.markdown("**Progresso por produto**")
        st.dataframe(
            pd.DataFrame(
                {
                    "Produto": [p.produto or "" for p in perfil.progresso],
                    "Aulas concluídas": [
                        f"{p.aulas_concluidas} de {p.aulas_total}" for p in perfil.progresso
                    ],
                    "Concluído": [float(p.percentual) for p in perfil.progresso],
                    "Última aula concluída": [p.ultima_aula or "—" for p in perfil.progresso],
                    "Concluída em": [data(p.ultima_conclusao) for p in perfil.progresso],
                    "Dias desde então": [
                        "—" if p.dias_desde_ultima is None else str(p.dias_desde_ultima)
                        for p in perfil.progresso
                    ],
                }
            ),
            column_config={
                "Concluído": st.column_config.ProgressColumn(
                    "Concluído", min_value=0, max_value=100, format="%.1f%%"
                )
            },
            hide_index=True,
            width="stretch",
        )

with aba_tags:
    ids_do_aluno = {t.id for t in perfil.tags}
    if perfil.tags:
        st.dataframe(
            pd.DataFrame(
                {
                    "Tag": [t.nome or "" for t in perfil.tags],
                    "Cor": [t.cor_hex or "" for t in perfil.tags],
                }
            ),
            hide_index=True,
            key="tags_aluno",
        )
    else:
        st.caption("Este aluno ainda não tem tags.")
    livres = [t.id for t in catalogo if t.id not in ids_do_aluno]
    esquerda, direita = st.columns(2)
    with esquerda:
        if not catalogo:
            st.info("O catálogo de tags está vazio.")
        elif not livres:
            st.caption("O aluno já tem todas as tags do catálogo.")
        else:
            nova = st.selectbox(
                "Adicionar tag", livres, format_func=nomes_catalogo.get, key="tag_adicionar"
            )
            if st.button("Adicionar", key="botao_adicionar_tag", icon=":material/add:"):
                try:
                    with UnidadeDeTrabalho() as uow:
                        alunos.adicionar_tag(
                            uow.session, aluno_id=aluno.id, tag_id=nova, usuario=usuario.username
                        )
                        uow.commit()
                except alunos.AlunoInvalido as exc:
                    st.error(literal(exc))
                else:
                    _avisar_e_recarregar(f"Tag {literal(nomes_catalogo[nova])} adicionada.")
    with direita:
        if perfil.tags:
            nomes_do_aluno = {t.id: t.nome or f"Tag {t.id}" for t in perfil.tags}
            tirar = st.selectbox(
                "Remover tag",
                list(nomes_do_aluno),
                format_func=nomes_do_aluno.get,
                key="tag_remover",
            )
            if st.button("Remover", key="botao_remover_tag", icon=":material/remove:"):
                with UnidadeDeTrabalho() as uow:
                    alunos.remover_tag(
                        uow.session, aluno_id=aluno.id, tag_id=tirar, usuario=usuario.username
                    )
                    uow.commit()
                _avisar_e_recarregar(f"Tag {literal(nomes_do_aluno[tirar])} removida.")
    if PODE_CRIAR_TAG:
        with st.expander("Nova tag no catálogo"), st.form("form_nova_tag", clear_on_submit=True):
            nome_tag = st.text_input(
                "Nome da tag", max_chars=alunos.TAMANHO_MAXIMO_TAG, key="nova_tag_nome"
            )
            cor_tag = st.color_picker("Cor", "#0F766E", key="nova_tag_cor")
            criar = st.form_submit_button("Criar tag")
        st.caption("Para renomear uma tag ou mudar a cor dela: Configurações › Tags.")
        if criar:
            try:
                with UnidadeDeTrabalho() as uow:
                    criada = alunos.criar_tag(
                        uow.session, nome=nome_tag, cor_hex=cor_tag, usuario=usuario.username
                    )
                    uow.commit()
            except alunos.AlunoInvalido as exc:
                st.error(literal(exc))
            else:
                _avisar_e_recarregar(f"Tag {literal(criada.nome)} criada no catálogo.")

with aba_mensagens:
    if not perfil.mensagens:
        st.info("Nenhuma mensagem enviada a este aluno ainda.")
    else:
        st.dataframe(
            pd.DataFrame(
                {
                    "Enviada em": [data_hora(m.data_envio) for m in perfil.mensagens],
                    "Template": [m.template or "" for m in perfil.mensagens],
                    "Status": [_rotulo(STATUS_ENTREGA, m.status_entrega) for m in perfil.mensagens],
                    "ID WhatsApp": [m.mensagem_id_whatsapp or "" for m in perfil.mensagens],
                }
            ),
            hide_index=True,
            width="stretch",
        )
        if len(perfil.mensagens) >= alunos.LIMITE_MENSAGENS:
            st.caption(f"Mostrando as {alunos.LIMITE_MENSAGENS} mensagens mais recentes.")

with aba_saude:
    if not saude_matriculas:
        st.info("Nenhuma matrícula ativa: o score de saúde só é calculado para matrículas ativas.")
    for s in saude_matriculas:
        faixa = "em risco" if s.em_risco else f"faixa {s.faixa}"
        st.metric(
            f"Saúde — {literal(s.produto or 'produto sem nome')}",
            f"{s.score}/100",
            help=f"Score de 0 a 100 ({faixa}). Em risco: até {saude.FAIXA_RISCO} pontos.",
        )
        if s.motivo_principal:
            st.caption(f"Onde mais perdeu pontos: {literal(s.motivo_principal)}.")
        tabela_saude = pd.DataFrame(
            {
                "Componente": [c.rotulo for c in s.componentes],
                "Pontos": [c.pontos for c in s.componentes],
                "Máximo": [c.maximo for c in s.componentes],
                "Detalhe": [c.detalhe for c in s.componentes],
            }
        )
        st.dataframe(tabela_saude, hide_index=True, width="stretch", key=f"saude_{s.matricula_id}")
        botao_csv(tabela_saude, "saude_aluno.csv", key=f"csv_saude_{s.matricula_id}")


def _exportacao(aluno_id: uuid.UUID, username: str):
    """The JSON export, built (and audited) only when the button is clicked."""

    def gerar() -> bytes:
        with UnidadeDeTrabalho() as uow:
            # The click may come long after the page was drawn: still an active admin?
            quem = usuarios.buscar(uow.session, username)
            if quem is None or not quem.ativo or quem.papel != "admin":
                raise PermissionError("exportação LGPD recusada: o usuário não é mais admin")
            conteudo = lgpd.exportar_aluno_json(uow.session, aluno_id, usuario=username)
            uow.commit()
        return conteudo

    return gerar


if PODE_LGPD:
    st.divider()
    with st.expander("LGPD", icon=":material/shield_person:"):
        st.caption(
            "Pedidos do titular dos dados (Lei 13.709/2018). A exportação e a anonimização "
            f"ficam registradas na auditoria. ID do aluno (para a linha de comando): {aluno.id}"
        )
        st.download_button(
            "Baixar dados do aluno (JSON)",
            _exportacao(aluno.id, usuario.username),
            file_name=f"aluno_{aluno.id}.json",
            mime="application/json",
            icon=":material/download:",
            on_click="ignore",
            key="lgpd_exportar",
        )
        if anonimizado_em is not None:
            st.info(
                f"Aluno anonimizado em {data_hora(anonimizado_em)}: os dados pessoais já foram "
                "substituídos e as compras foram mantidas."
            )
        else:
            st.markdown("**Anonimizar**")
            st.caption(
                "Substitui nome, e-mail, celular, CPF, textos das mensagens e dados pessoais dos "
                "eventos recebidos; mantém as compras (valores, status e datas). Cancela as "
                "mensagens na fila, revoga o consentimento e remove as tags. Não pode ser desfeito."
            )
            with st.form("form_lgpd_anonimizar"):
                motivo = st.text_area(
                    "Motivo (obrigatório)",
                    max_chars=lgpd.TAMANHO_MAXIMO_MOTIVO,
                    placeholder="Ex.: pedido do titular por e-mail em 12/03, protocolo 1234",
                    key="lgpd_motivo",
                )
                ciente = st.checkbox(
                    "Entendo que a anonimização não pode ser desfeita.", key="lgpd_ciente"
                )
                confirmacao = st.text_input(
                    f"Para confirmar, digite {PALAVRA_CONFIRMACAO}", key="lgpd_confirmacao"
                )
                anonimizar = st.form_submit_button("Anonimizar aluno", type="primary")
            if anonimizar:
                if not ciente or confirmacao.strip().upper() != PALAVRA_CONFIRMACAO:
                    st.error(
                        f"Marque a caixa de confirmação e digite {PALAVRA_CONFIRMACAO} para "
                        "anonimizar."
                    )
                else:
                    try:
                        with UnidadeDeTrabalho() as uow:
                            resumo = lgpd.anonimizar_aluno(
                                uow.session, aluno.id, usuario=usuario.username, motivo=motivo
                            )
                            uow.commit()
                    except lgpd.LgpdInvalido as exc:
                        st.error(literal(exc))
                    else:
                        if resumo.ja_anonimizado:
                            mensagem = "Este aluno já estava anonimizado; nada foi alterado."
                        else:
                            mensagem = f"Aluno anonimizado: agora aparece como {resumo.nome}."
                        if resumo.chatwoot_contato_id is not None:
                            mensagem += (
                                f" Apague também o contato {resumo.chatwoot_contato_id} no "
                                "Chatwoot: o telefone e as conversas dele ficam lá."
                            )
                        _avisar_e_recarregar(mensagem)
