"""Login (streamlit-authenticator over ``usuarios``) and the role guard every page starts with."""

from __future__ import annotations

import hashlib
import hmac

import streamlit as st
import streamlit_authenticator as stauth
from sqlalchemy.exc import OperationalError

from db.engine import DatabaseIndisponivel
from db.uow import UnidadeDeTrabalho
from services import bootstrap, cripto, usuarios
from services.usuarios import Usuario

NOME_COOKIE = "terceiriza_cs_sessao"
MENSAGEM_BANCO = "Banco de dados indisponível no momento. Tente novamente em instantes."
CAMPOS_LOGIN = {
    "Form name": "Entrar no Terceiriza CS",
    "Username": "Usuário",
    "Password": "Senha",
    "Login": "Entrar",
    "Captcha": "Captcha",
}


def _sem_banco() -> None:
    """The database is down: a pt-BR message and a stop (never a traceback)."""
    st.error(MENSAGEM_BANCO)
    st.stop()


def preparar_banco() -> None:
    """Make sure the database is up and migrated; a failure is a pt-BR message and a stop."""
    try:
        bootstrap.preparar()
    except (DatabaseIndisponivel, OperationalError):
        _sem_banco()


def _chave_cookie() -> str:
    """Cookie signing key derived from the secret key (rotating that key logs everyone out)."""
    try:
        chave = cripto.chave_atual()
    except cripto.ChaveSecretaErro as exc:
        st.error(str(exc))
        st.stop()
    return hmac.new(chave, b"terceiriza-cs/cookie-login", hashlib.sha256).hexdigest()


class _LoginBloqueado(Exception):
    """The submitted username is locked after repeated failures (seconds left in ``segundos``)."""

    def __init__(self, segundos: float) -> None:
        super().__init__("login bloqueado")
        self.segundos = segundos


def _vigiar_tentativas(autenticador: stauth.Authenticate) -> dict:
    """Put the login throttling around the library's password check; return what it saw.

    streamlit-authenticator 0.4.2 reads the form itself and never reports the username of a
    failed attempt, but every form login goes through
    ``authentication_controller.authentication_model.check_credentials(username, password)``
    with the username lower-cased and trimmed (the cookie login does not: a valid cookie is a
    past successful login). Wrapping that one method on this instance is the narrowest seam:
    a locked username is refused before its password is checked, an unknown one costs the same
    bcrypt time as a real one, a failure is counted in PostgreSQL and a success clears the count.
    """
    modelo = autenticador.authentication_controller.authentication_model
    verificar_senha = modelo.check_credentials
    visto: dict = {}

    def verificar(username: str, password: str) -> bool:
        with UnidadeDeTrabalho() as uow:
            restante = usuarios.bloqueio_login(uow.session, username)
        if restante is not None:
            raise _LoginBloqueado(restante)
        if username in modelo.credentials["usernames"]:
            correta = bool(verificar_senha(username, password))
        else:
            usuarios.gastar_tempo_de_verificacao(password)
            correta = False
        with UnidadeDeTrabalho() as uow:
            if correta:
                usuarios.registrar_sucesso_login(uow.session, username)
            else:
                visto["bloqueio"] = usuarios.registrar_falha_login(uow.session, username)
            uow.commit()
        return correta

    modelo.check_credentials = verificar
    return visto


def autenticar() -> Usuario:
    """Home.py's gate: show the login form until a valid active user is in; return that user."""
    preparar_banco()
    try:
        with UnidadeDeTrabalho() as uow:
            credenciais = usuarios.credenciais_authenticator(uow.session)
    except (DatabaseIndisponivel, OperationalError):
        _sem_banco()
    autenticador = stauth.Authenticate(
        credenciais,
        NOME_COOKIE,
        _chave_cookie(),
        cookie_expiry_days=1,
        auto_hash=False,
        login_sleep_time=0,
    )
    st.session_state["_autenticador"] = autenticador
    visto = _vigiar_tentativas(autenticador)
    formulario = st.empty()
    try:
        with formulario.container():
            autenticador.login(location="main", fields=CAMPOS_LOGIN, key="login")
    except _LoginBloqueado as bloqueio:
        st.error(usuarios.mensagem_bloqueio(bloqueio.segundos))
        st.stop()
    except (DatabaseIndisponivel, OperationalError):
        _sem_banco()
    except Exception:  # noqa: BLE001 - the library raises generic errors on odd input
        st.error("Não foi possível entrar. Confira usuário e senha.")
        st.stop()
    status = st.session_state.get("authentication_status")
    if status is False:
        if visto.get("bloqueio"):
            st.error(usuarios.mensagem_bloqueio(visto["bloqueio"]))
        else:
            st.error("Usuário ou senha incorretos.")
    if not status:
        st.stop()
    formulario.empty()  # the form stays on screen otherwise in the run that logged in
    usuario = usuario_logado()
    if usuario is None:
        st.error("Usuário inativo ou removido. Fale com um administrador.")
        st.stop()
    return usuario


def usuario_logado() -> Usuario | None:
    """The logged-in user as the database sees it now (inactive users count as logged out)."""
    if not st.session_state.get("authentication_status"):
        return None
    username = st.session_state.get("username")
    if not username:
        return None
    with UnidadeDeTrabalho() as uow:
        usuario = usuarios.buscar(uow.session, username)
    return usuario if usuario and usuario.ativo else None


def exigir_papel(*papeis: str) -> Usuario:
    """First call of every page: stop with a pt-BR message unless a user with a role is in.

    Navigation is not a security boundary (a fresh server runs pages/*.py directly), so this
    check runs before any data is read.
    """
    preparar_banco()
    try:
        usuario = usuario_logado()
    except (DatabaseIndisponivel, OperationalError):
        _sem_banco()
    if usuario is None:
        st.warning("Sessão não iniciada. Entre pela página inicial.")
        st.markdown("[Ir para o login](/)")
        st.stop()
    if usuario.papel not in papeis:
        st.error("Sem permissão: seu perfil não tem acesso a esta página.")
        st.stop()
    return usuario


def botao_sair() -> None:
    """Logout button in the sidebar (clears the session and the cookie)."""
    autenticador = st.session_state.get("_autenticador")
    if st.sidebar.button("Sair", key="botao_sair", icon=":material/logout:"):
        if autenticador is not None:
            autenticador.logout(location="unrendered")
        st.session_state["authentication_status"] = None
        st.rerun()
