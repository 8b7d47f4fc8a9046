"""Login, navigation by role and the role guard of every page (streamlit AppTest)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui.navegacao import PAGINAS

RAIZ = Path(__file__).resolve().parent.parent
HOME = str(RAIZ / "Home.py")
ARQUIVOS_PAGINAS = sorted((RAIZ / "pages").glob("*.py"))
PAPEIS = ("cs", "gestor", "admin")


def _textos(at: AppTest) -> str:
    partes = [e.value for e in (*at.markdown, *at.error, *at.warning, *at.info, *at.success)]
    partes += [e.value for e in at.title]
    return "\n".join(str(p) for p in partes)


def entrar(username: str, senha: str) -> AppTest:
    at = AppTest.from_file(HOME, default_timeout=30).run()
    at.text_input[0].input(username)
    at.text_input[1].input(senha)
    at.button[0].click().run()
    return at


def test_not_logged_in_shows_only_the_login_form(banco):
    at = AppTest.from_file(HOME, default_timeout=30).run()
    assert not at.exception
    assert [t.label for t in at.text_input] == ["Usuário", "Senha"]
    assert len(at.metric) == 0 and len(at.dataframe) == 0
    assert "Terceiriza CS" not in [t.value for t in at.title]


def test_wrong_password_is_refused_in_portuguese(criar_usuario):
    username, _ = criar_usuario("gestor")
    at = entrar(username, "senha-errada-000")
    assert "Usuário ou senha incorretos." in _textos(at)
    assert len(at.metric) == 0


def test_inactive_user_cannot_log_in(criar_usuario):
    from db.uow import UnidadeDeTrabalho
    from services import usuarios

    criar_usuario("admin", "chefe")
    username, senha = criar_usuario("cs")
    with UnidadeDeTrabalho() as uow:
        usuarios.definir_ativo(uow.session, username, False, por="chefe")
        uow.commit()
    at = entrar(username, senha)
    assert len(at.metric) == 0
    assert "incorretos" in _textos(at)


@pytest.mark.parametrize("papel", PAPEIS)
def test_each_role_logs_in_and_sees_only_its_pages(criar_usuario, papel):
    username, senha = criar_usuario(papel)
    at = entrar(username, senha)
    assert not at.exception
    # The landing page of the role: the day's queue for CS, the dashboards for the others.
    if papel == "cs":
        assert [t.value for t in at.title] == ["Minha fila de hoje"]
        assert len(at.metric) == 4
    else:
        assert "Painel do gestor" in [t.value for t in at.subheader]
        assert len(at.metric) >= 7
    navegacao = {info.get("url_pathname") for info in at._registered_pages.values()}
    esperadas = {p.chave for p in PAGINAS.values() if papel in p.papeis}
    assert navegacao - {""} == esperadas
    assert ("configuracoes" in navegacao) == (papel == "admin")
    acoes = ["Sincronizar", "Gerar sugestões", "Disparar aprovados"]
    esperados = ["Sair"] + (acoes if papel in ("gestor", "admin") else [])
    assert [b.label for b in at.sidebar.button] == esperados


def test_logout_returns_to_the_login_form(criar_usuario):
    username, senha = criar_usuario("cs")
    at = entrar(username, senha)
    at.sidebar.button[0].click().run()
    assert [t.label for t in at.text_input] == ["Usuário", "Senha"]
    assert at.session_state["authentication_status"] is None


def _pagina(arquivo: Path, username: str | None) -> AppTest:
    at = AppTest.from_file(str(arquivo), default_timeout=30)
    if username:
        at.session_state["authentication_status"] = True
        at.session_state["username"] = username
    return at.run()


@pytest.mark.parametrize("arquivo", ARQUIVOS_PAGINAS, ids=lambda p: p.stem)
def test_every_page_run_directly_without_a_session_shows_no_data(banco, arquivo):
    at = _pagina(arquivo, None)
    assert not at.exception
    assert "Sessão não iniciada" in _textos(at)
    assert len(at.dataframe) == 0 and len(at.text_input) == 0 and len(at.metric) == 0


@pytest.mark.parametrize("arquivo", ARQUIVOS_PAGINAS, ids=lambda p: p.stem)
@pytest.mark.parametrize("papel", PAPEIS)
def test_every_page_refuses_the_roles_it_does_not_serve(criar_usuario, arquivo, papel):
    pagina = next(p for p in PAGINAS.values() if Path(p.arquivo).name == arquivo.name)
    username, _ = criar_usuario(papel)
    at = _pagina(arquivo, username)
    assert not at.exception
    if papel in pagina.papeis:
        assert "Sem permissão" not in _textos(at)
    else:
        assert "Sem permissão" in _textos(at)
        assert len(at.dataframe) == 0 and len(at.text_input) == 0 and len(at.metric) == 0


def test_every_page_file_is_registered_with_its_roles():
    registrados = {Path(p.arquivo).name for p in PAGINAS.values()}
    assert registrados == {a.name for a in ARQUIVOS_PAGINAS}


def test_a_deactivated_user_with_a_live_session_is_refused(criar_usuario):
    from db.uow import UnidadeDeTrabalho
    from services import usuarios

    criar_usuario("admin", "chefe")
    username, _ = criar_usuario("admin", "outro")
    with UnidadeDeTrabalho() as uow:
        usuarios.definir_ativo(uow.session, username, False, por="chefe")
        uow.commit()
    at = _pagina(RAIZ / "pages" / "Configuracoes.py", username)
    assert "Sessão não iniciada" in _textos(at)
    assert len(at.text_input) == 0
