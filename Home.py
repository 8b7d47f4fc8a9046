"""Entry page: login gate, navigation by role, sidebar, landing page."""

import streamlit as st

from services.usuarios import PAPEIS
from ui import barra_lateral
from ui.avisos import banner_demo
from ui.erros import com_erro_amigavel
from ui.inicio import pagina_inicio
from ui.navegacao import paginas_do_papel
from ui.sessao import autenticar, botao_sair

st.set_page_config(page_title="Terceiriza CS", page_icon=":material/support_agent:", layout="wide")

usuario = autenticar()
navegacao = st.navigation(paginas_do_papel(usuario.papel, pagina_inicio))
with st.sidebar:
    st.caption(f"{usuario.nome} · {PAPEIS[usuario.papel]}")
botao_sair()
barra_lateral.desenhar(usuario)
banner_demo()
com_erro_amigavel(navegacao.run)
