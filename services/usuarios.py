"""Back-office logins (``usuarios``): bcrypt hashes, roles, the first admin."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

import bcrypt
from sqlalchemy import text
from sqlalchemy.orm import Session

from services.auditoria import registrar

PAPEIS = {"cs": "CS", "gestor": "Gestor", "admin": "Administrador"}
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,49}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SENHA_MINIMA = 8


class UsuarioInvalido(ValueError):
    """Bad input for a user operation (message in pt-BR)."""


@dataclass(frozen=True)
class Usuario:
    """A login as the app sees it (never the hash)."""

    id: int
    username: str
    nome: str
    email: str | None
    papel: str
    ativo: bool


def gerar_hash(senha: str) -> str:
    """bcrypt hash of a password (bcrypt refuses more than 72 bytes, so we check first)."""
    _validar_senha(senha)
    return bcrypt.hashpw(senha.encode("utf-8"), bcrypt.gensalt(rounds=12)).decode("ascii")


def _validar_senha(senha: str) -> None:
    if len(senha) < SENHA_MINIMA:
        raise UsuarioInvalido(f"A senha precisa ter pelo menos {SENHA_MINIMA} caracteres.")
    if len(senha.encode("utf-8")) > 72:
        raise UsuarioInvalido("A senha pode ter no máximo 72 bytes.")


def _linha_para_usuario(linha) -> Usuario:
    return Usuario(linha.id, linha.username, linha.nome, linha.email, linha.papel, linha.ativo)


_COLUNAS = "id, username, nome, email, papel, ativo"


def listar(session: Session) -> list[Usuario]:
    """Every login, active first, by username."""
    linhas = session.execute(
        text(f"SELECT {_COLUNAS} FROM usuarios ORDER BY ativo DESC, username")
    ).all()
    return [_linha_para_usuario(linha) for linha in linhas]


def buscar(session: Session, username: str) -> Usuario | None:
    """One login by username."""
    linha = session.execute(
        text(f"SELECT {_COLUNAS} FROM usuarios WHERE username = :u"), {"u": username}
    ).first()
    return _linha_para_usuario(linha) if linha else None


def criar(
    session: Session,
    *,
    username: str,
    nome: str,
    email: str | None,
    papel: str,
    senha: str,
    por: str | None = None,
) -> Usuario:
    """Create a login after validating every field."""
    username = (username or "").strip().lower()
    nome = (nome or "").strip()
    email = (email or "").strip() or None
    if not _USERNAME.match(username):
        raise UsuarioInvalido(
            "Usuário: de 3 a 50 caracteres, letras minúsculas, dígitos, ponto, hífen ou sublinhado."
        )
    if not nome:
        raise UsuarioInvalido("Informe o nome.")
    if email and not _EMAIL.match(email):
        raise UsuarioInvalido("E-mail inválido.")
    if papel not in PAPEIS:
        raise UsuarioInvalido("Papel inválido: use cs, gestor ou admin.")
    if buscar(session, username):
        raise UsuarioInvalido(f"Já existe o usuário {username!r}.")
    linha = session.execute(
        text(
            "INSERT INTO usuarios (username, nome, email, senha_hash, papel) "
            f"VALUES (:u, :n, :e, :h, :p) RETURNING {_COLUNAS}"
        ),
        {"u": username, "n": nome, "e": email, "h": gerar_hash(senha), "p": papel},
    ).one()
    registrar(
        session,
        usuario=por,
        acao="usuario_criado",
        entidade="usuarios",
        entidade_id=username,
        detalhes={"papel": papel},
    )
    return _linha_para_usuario(linha)


def _admins_ativos(session: Session) -> int:
    return session.execute(
        text("SELECT count(*) FROM usuarios WHERE papel = 'admin' AND ativo")
    ).scalar_one()


def definir_ativo(session: Session, username: str, ativo: bool, *, por: str | None = None) -> None:
    """Deactivate or reactivate a login; the last active admin cannot be deactivated."""
    usuario = buscar(session, username)
    if usuario is None:
        raise UsuarioInvalido(f"Usuário {username!r} não encontrado.")
    if not ativo and username == por:
        raise UsuarioInvalido("Você não pode desativar o próprio usuário.")
    if not ativo and usuario.papel == "admin" and usuario.ativo and _admins_ativos(session) <= 1:
        raise UsuarioInvalido("Não é possível desativar o último administrador ativo.")
    session.execute(
        text("UPDATE usuarios SET ativo = :a, atualizado_em = now() WHERE username = :u"),
        {"a": ativo, "u": username},
    )
    registrar(
        session,
        usuario=por,
        acao="usuario_ativado" if ativo else "usuario_desativado",
        entidade="usuarios",
        entidade_id=username,
    )


def redefinir_senha(session: Session, username: str, senha: str, *, por: str | None = None) -> None:
    """Replace a login's password."""
    if buscar(session, username) is None:
        raise UsuarioInvalido(f"Usuário {username!r} não encontrado.")
    session.execute(
        text("UPDATE usuarios SET senha_hash = :h, atualizado_em = now() WHERE username = :u"),
        {"h": gerar_hash(senha), "u": username},
    )
    registrar(
        session, usuario=por, acao="senha_redefinida", entidade="usuarios", entidade_id=username
    )


def credenciais_authenticator(session: Session) -> dict:
    """A fresh credentials dict for streamlit-authenticator (active users only)."""
    linhas = session.execute(
        text("SELECT username, nome, email, senha_hash, papel FROM usuarios WHERE ativo")
    ).all()
    return {
        "usernames": {
            linha.username: {
                "name": linha.nome,
                "email": linha.email or "",
                "password": linha.senha_hash,
                "roles": [linha.papel],
                "failed_login_attempts": 0,
                "logged_in": False,
            }
            for linha in linhas
        }
    }


def garantir_admin_inicial(session: Session, senha: str | None) -> str | None:
    """Create ``admin`` when there is no login at all; return the generated password, if any.

    With ``senha`` (TERCEIRIZA_ADMIN_PASSWORD) that password is used and None is returned.
    """
    # The lock makes two processes starting together create one admin, not a conflict.
    session.execute(text("SELECT pg_advisory_xact_lock(7310002)"))
    if session.execute(text("SELECT count(*) FROM usuarios")).scalar_one():
        return None
    gerada = None
    if not senha:
        gerada = senha = secrets.token_urlsafe(12)
    criar(
        session,
        username="admin",
        nome="Administrador",
        email=None,
        papel="admin",
        senha=senha,
        por="sistema",
    )
    return gerada
