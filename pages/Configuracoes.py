"""Configurações (admin): credentials and connection tests, the brake, users, audit, tags."""

from datetime import time

import pandas as pd
import streamlit as st

from ui.navegacao import exigir_acesso

usuario = exigir_acesso("configuracoes")

# Imports after the guard: nothing below runs for a visitor without the role.
from db.uow import UnidadeDeTrabalho  # noqa: E402
from services import alunos, auditoria, conexoes, config, demo, usuarios  # noqa: E402
from services.cripto import ChaveSecretaErro  # noqa: E402
from ui.formato import data_hora, inteiro  # noqa: E402
from ui.saida import literal, tabela_com_csv  # noqa: E402

TESTES_CONEXAO = {
    "hotmart": conexoes.testar_hotmart,
    "meta": conexoes.testar_meta,
    "chatwoot": conexoes.testar_chatwoot,
}

st.title("Configurações")
if aviso := st.session_state.pop("_aviso_configuracoes", None):
    st.success(aviso)
# After a save the secret fields and the confirmation are reset: a typed secret must not stay
# in the page. Assigning (not deleting) the state before the widgets exist makes Streamlit
# push the empty value to the browser, which otherwise keeps what was typed in a form.
for _campo, _vazio in st.session_state.pop("_limpar_campos", {}).items():
    st.session_state[_campo] = _vazio


def _avisar_e_recarregar(mensagem: str) -> None:
    """Redraw the page with fresh data and show the outcome at its top."""
    st.session_state["_aviso_configuracoes"] = mensagem
    st.rerun()


def _listar(grupo: str) -> list[config.ValorExibido]:
    with UnidadeDeTrabalho() as uow:
        return config.listar(uow.session, grupo)


def _gravar(valores: dict[str, str]) -> None:
    """Store all values or none; show the outcome in pt-BR."""
    try:
        with UnidadeDeTrabalho() as uow:
            config.definir_varios(uow.session, valores, usuario=usuario.username)
            uow.commit()
    except (config.ValorInvalido, ChaveSecretaErro) as exc:
        st.error(str(exc))
        return
    grupos = {config.CHAVES[k].grupo for k in valores}
    st.session_state["_limpar_campos"] = {
        **{f"in_{k}": "" for k in valores if config.CHAVES[k].secreta},
        **{f"ok_{g}": False for g in grupos},
    }
    _avisar_e_recarregar(
        "Alterações salvas: " + ", ".join(config.CHAVES[k].rotulo for k in valores) + "."
    )


def _aba_provedor(grupo: str) -> None:
    try:
        valores = _listar(grupo)
    except ChaveSecretaErro as exc:
        st.error(str(exc))
        return
    tabela_com_csv(
        pd.DataFrame(
            {
                "Campo": [v.chave.rotulo for v in valores],
                "Chave": [v.chave.nome for v in valores],
                "Valor atual": [
                    (v.exibicao if v.definido or v.exibicao else "não definido")
                    + ("" if v.definido or not v.exibicao else " (padrão)")
                    for v in valores
                ],
                "Atualizado em": [data_hora(v.atualizado_em) for v in valores],
            }
        ),
        f"credenciais_{grupo}.csv",
        key=f"tabela_config_{grupo}",
    )
    with st.form(f"form_{grupo}", clear_on_submit=False):
        st.markdown("**Rotacionar credenciais** — deixe em branco os segredos que não mudam.")
        entradas = {}
        for v in valores:
            c = v.chave
            if c.secreta:
                entradas[c.nome] = st.text_input(
                    c.rotulo,
                    type="password",
                    placeholder=f"atual: {v.exibicao}" if v.definido else "não definido",
                    help=c.descricao,
                    key=f"in_{c.nome}",
                )
            else:
                entradas[c.nome] = st.text_input(
                    c.rotulo, value=v.exibicao, help=c.descricao, key=f"in_{c.nome}"
                )
        confirmar = st.checkbox("Confirmo a substituição dos valores informados", key=f"ok_{grupo}")
        enviado = st.form_submit_button("Rotacionar", type="primary")
    if enviado:
        atuais = {v.chave.nome: v for v in valores}
        mudancas = {
            nome: valor
            for nome, valor in entradas.items()
            if (config.CHAVES[nome].secreta and valor != "")
            or (not config.CHAVES[nome].secreta and valor != atuais[nome].exibicao)
        }
        if not mudancas:
            st.info("Nenhum valor foi alterado.")
        elif not confirmar:
            st.warning("Marque a confirmação para substituir os valores.")
        else:
            _gravar(mudancas)
    _testar_conexao(grupo)


def _testar_conexao(grupo: str) -> None:
    """One read-only call with the saved values; the verdict never shows a secret."""
    st.caption("Testa os valores salvos (salve antes de testar). Só faz leituras.")
    if st.button("Testar conexão", key=f"testar_{grupo}", icon=":material/network_check:"):
        with st.spinner("Testando a conexão…"), UnidadeDeTrabalho() as uow:
            resultado = TESTES_CONEXAO[grupo](uow.session)
        if resultado.ok:
            st.success(literal(resultado.mensagem), icon=":material/check_circle:")
        else:
            st.error(literal(resultado.mensagem), icon=":material/error:")


def _hora(valor: str) -> time:
    hora, minuto = valor.split(":")
    return time(int(hora), int(minuto))


def _aba_freio() -> None:
    atuais = {v.chave.nome: v.exibicao for v in _listar("disparo")}
    st.caption("Limites que valem para todo envio de WhatsApp (horário de São Paulo).")
    with st.form("form_disparo"):
        pausado = st.toggle("Pausar todos os disparos", value=atuais["disparo_pausado"] == "true")
        por_segundo = st.number_input(
            "Mensagens por segundo", 1, 80, int(atuais["disparo_max_por_segundo"])
        )
        inicio = st.time_input("Início da janela", _hora(atuais["disparo_janela_inicio"]))
        fim = st.time_input("Fim da janela", _hora(atuais["disparo_janela_fim"]))
        por_aluno = st.number_input(
            "Mensagens por aluno por dia", 1, 10, int(atuais["disparo_max_por_aluno_dia"])
        )
        automaticos = st.number_input(
            "Envios automáticos por execução das regras",
            0,
            10000,
            int(atuais["disparo_max_automatico_por_execucao"]),
        )
        salvar = st.form_submit_button("Salvar freio", type="primary")
    if salvar:
        novos = {
            "disparo_pausado": "true" if pausado else "false",
            "disparo_max_por_segundo": str(int(por_segundo)),
            "disparo_janela_inicio": inicio.strftime("%H:%M"),
            "disparo_janela_fim": fim.strftime("%H:%M"),
            "disparo_max_por_aluno_dia": str(int(por_aluno)),
            "disparo_max_automatico_por_execucao": str(int(automaticos)),
        }
        mudancas = {k: v for k, v in novos.items() if v != atuais[k]}
        if not mudancas:
            st.info("Nenhum valor foi alterado.")
        else:
            _gravar(mudancas)


def _aba_geral() -> None:
    atuais = {v.chave.nome: v.exibicao for v in _listar("geral")}
    with st.form("form_geral"):
        ticket = st.number_input(
            "Ticket alto a partir de (R$)", 1, 1_000_000, int(atuais["ticket_alto_minimo"])
        )
        janela = st.number_input(
            "Janela do primeiro acesso (horas após uma mensagem entregue)",
            1,
            720,
            int(atuais["primeiro_acesso_janela_horas"]),
        )
        optout = st.text_input(
            config.CHAVES["optout_palavras"].rotulo + " (separadas por vírgula)",
            value=atuais["optout_palavras"],
            help=config.CHAVES["optout_palavras"].descricao,
            key="in_optout_palavras",
        )
        salvar = st.form_submit_button("Salvar", type="primary")
    if salvar:
        novos = {
            "ticket_alto_minimo": str(int(ticket)),
            "primeiro_acesso_janela_horas": str(int(janela)),
            "optout_palavras": optout,
        }
        mudancas = {k: v for k, v in novos.items() if v != atuais[k]}
        if not mudancas:
            st.info("Nenhum valor foi alterado.")
        else:
            _gravar(mudancas)
    _secao_demo()


def _secao_demo() -> None:
    st.divider()
    st.markdown("**Dados de demonstração**")
    with UnidadeDeTrabalho() as uow:
        ativo = demo.ativo(uow.session)
        vazio = demo.banco_vazio(uow.session)
    if ativo:
        st.caption(
            "Os dados atuais vieram do sandbox. Apagá-los remove produtos, alunos, vendas, "
            "mensagens e as credenciais de demonstração; usuários e ajustes ficam."
        )
        with st.form("form_apagar_demo"):
            confirmar = st.checkbox("Confirmo que quero apagar todos os dados de demonstração")
            apagar = st.form_submit_button("Apagar dados de demonstração")
        if apagar:
            if not confirmar:
                st.warning("Marque a confirmação para apagar.")
            else:
                with UnidadeDeTrabalho() as uow:
                    demo.apagar(uow.session, usuario=usuario.username)
                    uow.commit()
                _avisar_e_recarregar("Dados de demonstração apagados.")
    elif vazio:
        st.caption("O banco está vazio. Carregue uma conta fictícia para conhecer o produto.")
        if st.button("Carregar demonstração"):
            porta = st.get_option("server.port") or 8501
            demo.em_segundo_plano(
                iniciado_por=usuario.username, url_app=f"http://127.0.0.1:{porta}"
            )
            _avisar_e_recarregar("Carga de demonstração iniciada; acompanhe na barra lateral.")
    else:
        st.caption("Há dados reais no banco: a demonstração não está disponível.")


def _aba_usuarios() -> None:
    with UnidadeDeTrabalho() as uow:
        lista = usuarios.listar(uow.session)
    tabela_com_csv(
        pd.DataFrame(
            {
                "Usuário": [u.username for u in lista],
                "Nome": [u.nome for u in lista],
                "E-mail": [u.email or "" for u in lista],
                "Papel": [usuarios.PAPEIS[u.papel] for u in lista],
                "Ativo": ["sim" if u.ativo else "não" for u in lista],
            }
        ),
        "usuarios.csv",
        key="tabela_usuarios",
    )
    esquerda, direita = st.columns(2)
    with esquerda, st.form("form_novo_usuario", clear_on_submit=True):
        st.markdown("**Novo usuário**")
        username = st.text_input("Usuário (login)")
        nome = st.text_input("Nome")
        email = st.text_input("E-mail")
        papel = st.selectbox("Papel", list(usuarios.PAPEIS), format_func=usuarios.PAPEIS.get)
        senha = st.text_input("Senha inicial", type="password")
        criar = st.form_submit_button("Criar usuário")
    with direita, st.form("form_gerenciar_usuario"):
        st.markdown("**Gerenciar usuário**")
        alvo = st.selectbox("Usuário", [u.username for u in lista], key="alvo_usuario")
        acao = st.radio("Ação", ["Desativar", "Reativar", "Redefinir senha"], horizontal=True)
        nova_senha = st.text_input(
            "Nova senha (para redefinir)", type="password", key="gerenciar_nova_senha"
        )
        aplicar = st.form_submit_button("Aplicar")
    try:
        if criar:
            with UnidadeDeTrabalho() as uow:
                usuarios.criar(
                    uow.session,
                    username=username,
                    nome=nome,
                    email=email,
                    papel=papel,
                    senha=senha,
                    por=usuario.username,
                )
                uow.commit()
            _avisar_e_recarregar(f"Usuário {username.strip().lower()} criado.")
        if aplicar:
            with UnidadeDeTrabalho() as uow:
                if acao == "Redefinir senha":
                    usuarios.redefinir_senha(uow.session, alvo, nova_senha, por=usuario.username)
                else:
                    usuarios.definir_ativo(
                        uow.session, alvo, acao == "Reativar", por=usuario.username
                    )
                uow.commit()
            st.session_state["_limpar_campos"] = {"gerenciar_nova_senha": ""}
            _avisar_e_recarregar(f"{acao}: {alvo} — feito.")
    except usuarios.UsuarioInvalido as exc:
        st.error(str(exc))


def _aba_auditoria() -> None:
    with UnidadeDeTrabalho() as uow:
        linhas = auditoria.recentes(uow.session)
    if not linhas:
        st.info("Nenhuma alteração registrada ainda.")
        return
    tabela_com_csv(
        pd.DataFrame(
            {
                "Quando": [data_hora(linha["criado_em"]) for linha in linhas],
                "Quem": [linha["usuario"] or "" for linha in linhas],
                "Ação": [linha["acao"] for linha in linhas],
                "Item": [linha["entidade_id"] or "" for linha in linhas],
            }
        ),
        "auditoria.csv",
        key="tabela_auditoria",
    )


def _aba_tags() -> None:
    """The tag catalogue: create, rename and recolour (students keep their tags)."""
    with UnidadeDeTrabalho() as uow:
        catalogo = alunos.catalogo_tags(uow.session)
        por_tag = alunos.alunos_por_tag(uow.session)
    if catalogo:
        tabela_com_csv(
            pd.DataFrame(
                {
                    "Tag": [t.nome or "" for t in catalogo],
                    "Cor": [t.cor_hex or "" for t in catalogo],
                    "Alunos": [inteiro(por_tag.get(t.id, 0)) for t in catalogo],
                }
            ),
            "tags.csv",
            key="tabela_tags",
        )
    else:
        st.info("O catálogo de tags está vazio: crie a primeira abaixo.")
    esquerda, direita = st.columns(2)
    with esquerda, st.form("form_criar_tag", clear_on_submit=True):
        st.markdown("**Nova tag**")
        nome = st.text_input("Nome", max_chars=alunos.TAMANHO_MAXIMO_TAG, key="tag_nova_nome")
        cor = st.color_picker("Cor", "#0F766E", key="tag_nova_cor")
        criar = st.form_submit_button("Criar tag")
    editar = False
    if catalogo:
        nomes = {t.id: t.nome or f"Tag {t.id}" for t in catalogo}
        with direita:
            st.markdown("**Editar tag**")
            st.caption(
                "Os alunos mantêm a tag. Um novo nome também renomeia a label no Chatwoot "
                "na próxima sincronização."
            )
            if "_tag_renomeada" in st.session_state:
                # Set through the state, the selector shows the new name: with the same id
                # selected, Streamlit's frontend would keep the old label on screen.
                st.session_state["tag_editar_alvo"] = st.session_state.pop("_tag_renomeada")
            alvo = st.selectbox("Tag", list(nomes), format_func=nomes.get, key="tag_editar_alvo")
            atual = next(t for t in catalogo if t.id == alvo)
            with st.form("form_editar_tag"):
                # Keys per tag: choosing another tag shows that tag's current values.
                novo_nome = st.text_input(
                    "Novo nome",
                    value=atual.nome or "",
                    max_chars=alunos.TAMANHO_MAXIMO_TAG,
                    key=f"tag_editar_nome_{alvo}",
                )
                nova_cor = st.color_picker(
                    "Nova cor", (atual.cor_hex or "#0F766E").upper(), key=f"tag_editar_cor_{alvo}"
                )
                editar = st.form_submit_button("Salvar tag")
    try:
        if criar:
            with UnidadeDeTrabalho() as uow:
                criada = alunos.criar_tag(
                    uow.session, nome=nome, cor_hex=cor, usuario=usuario.username
                )
                uow.commit()
            _avisar_e_recarregar(f"Tag {literal(criada.nome)} criada.")
        if editar:
            with UnidadeDeTrabalho() as uow:
                mudou = alunos.editar_tag(
                    uow.session,
                    tag_id=alvo,
                    nome=novo_nome,
                    cor_hex=nova_cor,
                    usuario=usuario.username,
                )
                uow.commit()
            if mudou:
                st.session_state["_tag_renomeada"] = alvo
                _avisar_e_recarregar(f"Tag {literal(novo_nome.strip())} atualizada.")
            st.info("Nenhum valor foi alterado.")
    except alunos.AlunoInvalido as exc:
        st.error(literal(exc))


abas = st.tabs(
    [
        "Hotmart",
        "Meta WhatsApp",
        "Chatwoot",
        "Freio de disparo",
        "Usuários",
        "Auditoria",
        "Geral",
        "Tags",
    ]
)
with abas[0]:
    _aba_provedor("hotmart")
with abas[1]:
    _aba_provedor("meta")
with abas[2]:
    _aba_provedor("chatwoot")
with abas[3]:
    _aba_freio()
with abas[4]:
    _aba_usuarios()
with abas[5]:
    _aba_auditoria()
with abas[6]:
    _aba_geral()
with abas[7]:
    _aba_tags()
