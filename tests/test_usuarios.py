"""Logins: the first admin, hashes, the last-admin rule."""

from __future__ import annotations

import bcrypt
import pytest
from sqlalchemy import text

from db.uow import UnidadeDeTrabalho
from services import bootstrap, usuarios


def _hash(engine, username: str) -> str:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT senha_hash FROM usuarios WHERE username = :u"), {"u": username}
        ).scalar()


def test_first_start_creates_admin_with_the_configured_password(banco):
    with UnidadeDeTrabalho() as uow:
        assert usuarios.garantir_admin_inicial(uow.session, "senha-do-ambiente") is None
        uow.commit()
    assert bcrypt.checkpw(b"senha-do-ambiente", _hash(banco, "admin").encode())


def test_first_start_without_password_generates_one_and_only_once(banco):
    with UnidadeDeTrabalho() as uow:
        gerada = usuarios.garantir_admin_inicial(uow.session, None)
        uow.commit()
    assert gerada and len(gerada) >= 12
    assert bcrypt.checkpw(gerada.encode(), _hash(banco, "admin").encode())
    with UnidadeDeTrabalho() as uow:
        assert usuarios.garantir_admin_inicial(uow.session, None) is None
    with banco.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM usuarios")).scalar() == 1


def test_bootstrap_prints_the_generated_password_once(banco, capsys):
    bootstrap.esquecer()
    try:
        bootstrap.preparar()
        saida = capsys.readouterr().err
        assert "Senha gerada" in saida
        bootstrap.esquecer()
        bootstrap.preparar()
        assert "Senha gerada" not in capsys.readouterr().err
    finally:
        bootstrap.esquecer()


def test_the_last_active_admin_cannot_be_deactivated(banco):
    with UnidadeDeTrabalho() as uow:
        usuarios.criar(
            uow.session,
            username="chefe",
            nome="Chefe",
            email=None,
            papel="admin",
            senha="senha-longa-1",
        )
        uow.commit()
    with UnidadeDeTrabalho() as uow, pytest.raises(usuarios.UsuarioInvalido, match="último"):
        usuarios.definir_ativo(uow.session, "chefe", False, por="sistema")


def test_password_reset_replaces_the_hash(banco):
    with UnidadeDeTrabalho() as uow:
        usuarios.criar(
            uow.session,
            username="ana",
            nome="Ana",
            email="ana@x.com.br",
            papel="cs",
            senha="primeira-senha",
        )
        uow.commit()
    with UnidadeDeTrabalho() as uow:
        usuarios.redefinir_senha(uow.session, "ana", "segunda-senha", por="chefe")
        uow.commit()
    assert bcrypt.checkpw(b"segunda-senha", _hash(banco, "ana").encode())


@pytest.mark.parametrize(
    ("campos", "mensagem"),
    [
        ({"username": "a"}, "de 3 a 50"),
        ({"username": "Com Espaco"}, "de 3 a 50"),
        ({"nome": " "}, "Informe o nome"),
        ({"email": "sem-arroba"}, "E-mail inválido"),
        ({"papel": "root"}, "Papel inválido"),
        ({"senha": "x" * 73}, "72 bytes"),
    ],
)
def test_bad_user_input_is_refused(banco, campos, mensagem):
    dados = {
        "username": "novo",
        "nome": "Novo",
        "email": None,
        "papel": "cs",
        "senha": "senha-boa-123",
    } | campos
    with UnidadeDeTrabalho() as uow, pytest.raises(usuarios.UsuarioInvalido, match=mensagem):
        usuarios.criar(uow.session, **dados)
