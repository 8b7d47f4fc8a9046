"""Configurações as an admin: rotate credentials, the brake, users (AppTest, real database)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from db.uow import UnidadeDeTrabalho
from services import config
from tests.arvore import texto_completo

RAIZ = Path(__file__).resolve().parent.parent
PAGINA = str(RAIZ / "pages" / "Configuracoes.py")
NOVO_TOKEN = "novo-client-secret-XYZ9"


def _abrir(username: str) -> AppTest:
    at = AppTest.from_file(PAGINA, default_timeout=30)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = username
    return at.run()


def _textos(at: AppTest) -> str:
    return "\n".join(str(e.value) for e in (*at.error, *at.warning, *at.info, *at.success))


def _valor_na_tabela(at: AppTest, chave: str, aba: int = 0) -> str:
    df = at.tabs[aba].dataframe[0].value
    return df.loc[df["Chave"] == chave, "Valor atual"].item()


def test_admin_rotates_a_hotmart_secret_and_sees_it_masked(criar_usuario, banco):
    username, _ = criar_usuario("admin")
    at = _abrir(username)
    assert not at.exception
    at.text_input(key="in_hotmart_client_secret").input(NOVO_TOKEN)
    at.checkbox(key="ok_hotmart").check()
    at.tabs[0].button[0].click().run()
    assert not at.exception
    assert "Alterações salvas" in _textos(at)
    assert _valor_na_tabela(at, "hotmart_client_secret") == "••••XYZ9"
    assert NOVO_TOKEN not in texto_completo(at)  # never rendered back
    # The field is emptied after the save: the typed secret does not stay in the browser page.
    assert at.text_input(key="in_hotmart_client_secret").value == ""
    assert at.checkbox(key="ok_hotmart").value is False
    with UnidadeDeTrabalho() as uow:
        assert config.obter(uow.session, "hotmart_client_secret") == NOVO_TOKEN
    with banco.connect() as conn:
        assert NOVO_TOKEN not in conn.execute(text("SELECT valor FROM configuracoes")).scalar()


def test_rotation_needs_confirmation(criar_usuario, banco):
    username, _ = criar_usuario("admin")
    at = _abrir(username)
    at.text_input(key="in_meta_access_token").input("EAAG-token-0001")
    at.tabs[1].button[0].click().run()
    assert "Marque a confirmação" in _textos(at)
    with banco.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM configuracoes")).scalar() == 0


def test_bad_values_are_refused_and_nothing_is_written(criar_usuario, banco):
    username, _ = criar_usuario("admin")
    at = _abrir(username)
    at.text_input(key="in_meta_phone_number_id").input("12ab")
    at.text_input(key="in_meta_access_token").input("EAAG-valido-1234")
    at.checkbox(key="ok_meta").check()
    at.tabs[1].button[0].click().run()
    assert "use apenas dígitos" in _textos(at)
    with banco.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM configuracoes")).scalar() == 0


def test_a_url_must_parse(criar_usuario, banco):
    username, _ = criar_usuario("admin")
    at = _abrir(username)
    at.text_input(key="in_chatwoot_base_url").input("chatwoot sem esquema")
    at.checkbox(key="ok_chatwoot").check()
    at.tabs[2].button[0].click().run()
    assert "URL completa" in _textos(at)


def test_admin_tunes_the_dispatch_brake(criar_usuario):
    username, _ = criar_usuario("admin")
    at = _abrir(username)
    freio = at.tabs[3]
    freio.toggle[0].set_value(True)
    freio.number_input[0].set_value(35)
    freio.button[0].click().run()
    assert "Alterações salvas" in _textos(at)
    with UnidadeDeTrabalho() as uow:
        assert config.obter_booleano(uow.session, "disparo_pausado") is True
        assert config.obter_inteiro(uow.session, "disparo_max_por_segundo") == 35
        assert config.obter(uow.session, "disparo_janela_inicio") == "09:00"


def test_admin_creates_deactivates_and_resets_users(criar_usuario, banco):
    username, _ = criar_usuario("admin")
    at = _abrir(username)
    usuarios_aba = at.tabs[4]
    usuarios_aba.text_input[0].input("ana.cs")
    usuarios_aba.text_input[1].input("Ana Souza")
    usuarios_aba.text_input[2].input("ana@exemplo.com.br")
    usuarios_aba.selectbox[0].set_value("cs")
    usuarios_aba.text_input[3].input("uma-senha-boa")
    usuarios_aba.button[0].click().run()
    assert "Usuário ana.cs criado." in _textos(at)

    at.selectbox(key="alvo_usuario").set_value("ana.cs")
    at.tabs[4].radio[0].set_value("Desativar")
    at.tabs[4].button[1].click().run()
    assert "Desativar: ana.cs" in _textos(at)
    with banco.connect() as conn:
        ativo = conn.execute(text("SELECT ativo FROM usuarios WHERE username = 'ana.cs'")).scalar()
    assert ativo is False

    at.selectbox(key="alvo_usuario").set_value(username)
    at.tabs[4].radio[0].set_value("Desativar")
    at.tabs[4].button[1].click().run()
    assert "não pode desativar o próprio usuário" in _textos(at)


def test_short_password_is_refused(criar_usuario, banco):
    username, _ = criar_usuario("admin")
    at = _abrir(username)
    aba = at.tabs[4]
    aba.text_input[0].input("bia")
    aba.text_input[1].input("Bia")
    aba.text_input[3].input("curta")
    aba.button[0].click().run()
    assert "pelo menos 8 caracteres" in _textos(at)
    with banco.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM usuarios")).scalar() == 1


def test_admin_sets_the_ticket_threshold_and_first_access_window(criar_usuario):
    username, _ = criar_usuario("admin")
    at = _abrir(username)
    geral = at.tabs[6]
    geral.number_input[0].set_value(997)
    geral.number_input[1].set_value(48)
    geral.button[0].click().run()
    assert "Alterações salvas" in _textos(at)
    with UnidadeDeTrabalho() as uow:
        assert config.obter_inteiro(uow.session, "ticket_alto_minimo") == 997
        assert config.obter_inteiro(uow.session, "primeiro_acesso_janela_horas") == 48
