"""Login throttling per username through Home.py's real login form (AppTest)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from db.uow import UnidadeDeTrabalho
from services import usuarios
from tests.test_paginas_acesso import _textos, entrar

BLOQUEADO = "Muitas tentativas para este usuário. Tente de novo em"


def _falhar(username: str, vezes: int) -> list[str]:
    """``vezes`` wrong passwords for ``username``; the messages each attempt showed."""
    return [_textos(entrar(username, f"senha-errada-{i:03d}")) for i in range(vezes)]


def _entrou(at) -> bool:
    return not at.exception and at.session_state["authentication_status"] is True


def _registro(banco, username: str):
    with banco.connect() as conn:
        return conn.execute(
            text("SELECT * FROM login_tentativas WHERE username = :u"), {"u": username}
        ).first()


def _vencer_bloqueio(banco, username: str) -> None:
    """The lock window has passed: move the stored timestamps back."""
    with banco.begin() as conn:
        conn.execute(
            text(
                "UPDATE login_tentativas SET bloqueado_ate = now() - interval '1 second', "
                "janela_inicio = janela_inicio - interval '16 minutes', "
                "atualizado_em = atualizado_em - interval '16 minutes' WHERE username = :u"
            ),
            {"u": username},
        )


def test_five_failures_lock_the_username_even_for_the_right_password(criar_usuario, banco):
    username, senha = criar_usuario("gestor")
    mensagens = _falhar(username, 5)
    assert all("Usuário ou senha incorretos." in m for m in mensagens[:4])
    # The fifth failure locks at once and says so.
    assert BLOQUEADO in mensagens[4] and "15 minutos." in mensagens[4]
    at = entrar(username, senha)
    assert not _entrou(at)
    assert f"{BLOQUEADO} 15 minutos." in _textos(at)
    assert "incorretos" not in _textos(at)
    assert len(at.metric) == 0
    # Attempts during the lock are refused without being counted or extending the lock.
    linha = _registro(banco, username)
    assert linha.bloqueios == 1 and linha.falhas == 0
    # The lockout is audited once, naming the username, never a password.
    with banco.connect() as conn:
        auditoria = conn.execute(
            text(
                "SELECT usuario, entidade_id, detalhes FROM auditoria "
                "WHERE acao = 'login_bloqueado'"
            )
        ).all()
    assert [(a.usuario, a.entidade_id) for a in auditoria] == [(None, username)]
    assert auditoria[0].detalhes["usuario_existe"] is True
    assert auditoria[0].detalhes["minutos"] == 15
    assert "senha" not in str(auditoria[0].detalhes)


def test_another_user_is_not_affected(criar_usuario):
    alvo, _ = criar_usuario("admin", "alvo")
    outro, senha_outro = criar_usuario("cs", "outro")
    _falhar(alvo, 5)
    at = entrar(outro, senha_outro)
    assert _entrou(at)
    assert BLOQUEADO not in _textos(at)


def test_after_the_window_the_right_password_works_and_resets_the_count(criar_usuario, banco):
    username, senha = criar_usuario("cs")
    _falhar(username, 5)
    assert BLOQUEADO in _textos(entrar(username, senha))
    _vencer_bloqueio(banco, username)
    at = entrar(username, senha)
    assert _entrou(at)
    assert _registro(banco, username) is None  # a success clears failures and lock history
    # After the reset, four failures do not lock again.
    assert all("incorretos" in m for m in _falhar(username, 4))
    assert _entrou(entrar(username, senha))


def test_failures_spread_beyond_the_window_do_not_lock(criar_usuario, banco):
    username, senha = criar_usuario("cs")
    _falhar(username, 4)
    with banco.begin() as conn:
        conn.execute(
            text(
                "UPDATE login_tentativas SET janela_inicio = now() - interval '16 minutes' "
                "WHERE username = :u"
            ),
            {"u": username},
        )
    assert all("incorretos" in m for m in _falhar(username, 4))  # a new window began
    assert _entrou(entrar(username, senha))


def test_unknown_usernames_get_the_same_treatment(banco, criar_usuario):
    criar_usuario("admin", "existe")
    desconhecido = "ninguem.aqui"
    mensagens = _falhar(desconhecido, 5)
    existente = _falhar("existe", 5)
    # Word for word the same answers: nothing tells whether the login exists.
    assert mensagens == existente
    assert BLOQUEADO in mensagens[4]
    assert f"{BLOQUEADO} 15 minutos." in _textos(entrar(desconhecido, "qualquer-coisa"))
    linha = _registro(banco, desconhecido)
    assert linha.bloqueios == 1


def test_an_unknown_username_costs_as_much_time_as_a_real_one(criar_usuario):
    """The bcrypt check is spent on unknown usernames too (no timing oracle)."""
    username, _ = criar_usuario("cs")

    def duracao(nome: str) -> float:
        inicio = time.perf_counter()
        with UnidadeDeTrabalho() as uow:
            credenciais = usuarios.credenciais_authenticator(uow.session)
        if nome in credenciais["usernames"]:
            import bcrypt

            bcrypt.checkpw(b"errada-000", credenciais["usernames"][nome]["password"].encode())
        else:
            usuarios.gastar_tempo_de_verificacao("errada-000")
        return time.perf_counter() - inicio

    real = min(duracao(username) for _ in range(3))
    falso = min(duracao("nao-existe") for _ in range(3))
    assert falso > real * 0.5


def test_mixed_case_and_spaces_count_for_the_same_username(criar_usuario):
    username, senha = criar_usuario("cs")
    for variante in (username.upper(), f" {username}", username.title(), username, username):
        entrar(variante, "senha-errada-xyz")
    assert BLOQUEADO in _textos(entrar(username, senha))


def test_repeated_lockouts_double_the_wait(criar_usuario, banco):
    username, senha = criar_usuario("cs")
    _falhar(username, 5)
    _vencer_bloqueio(banco, username)
    mensagens = _falhar(username, 5)
    assert "Tente de novo em 30 minutos." in mensagens[4]
    _vencer_bloqueio(banco, username)
    assert "Tente de novo em 60 minutos." in _falhar(username, 5)[4]
    _vencer_bloqueio(banco, username)
    assert _entrou(entrar(username, senha))


def test_the_lock_is_kept_in_postgresql_for_every_replica(criar_usuario, banco):
    """State lives in the database, not in the session: a fresh session (another browser,
    another replica) is refused too, and the services read it directly."""
    username, _ = criar_usuario("cs")
    _falhar(username, 5)
    with UnidadeDeTrabalho() as uow:
        restante = usuarios.bloqueio_login(uow.session, username)
    assert restante is not None and 14 * 60 < restante <= 15 * 60


@pytest.mark.parametrize(
    ("segundos", "texto"),
    [
        (1, "Tente de novo em 1 minuto."),
        (60, "Tente de novo em 1 minuto."),
        (61, "Tente de novo em 2 minutos."),
        (900, "Tente de novo em 15 minutos."),
    ],
)
def test_message_rounds_the_wait_up(segundos, texto):
    assert usuarios.mensagem_bloqueio(segundos).endswith(texto)
