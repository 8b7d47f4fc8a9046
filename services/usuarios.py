"""Back-office logins (``usuarios``): bcrypt hashes, roles, the first admin."""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

import bcrypt
from sqlalchemy import text
from sqlalchemy.orm import Session

from services.auditoria import registrar

PAPEIS = {"cs": "CS", "gestor": "Gestor", "admin": "Administrador"}
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,49}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SENHA_MINIMA = 8
TAMANHO_MAXIMO = 255  # usuarios.nome and usuarios.email are VARCHAR(255)


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
    if len(nome) > TAMANHO_MAXIMO:
        raise UsuarioInvalido(f"Nome: no máximo {TAMANHO_MAXIMO} caracteres.")
    if email and len(email) > TAMANHO_MAXIMO:
        raise UsuarioInvalido(f"E-mail: no máximo {TAMANHO_MAXIMO} caracteres.")
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


# ---- Login throttling -----------------------------------------------------------------------
# Policy: MAX_FALHAS_LOGIN failures for one username within JANELA_FALHAS lock that username for
# BLOQUEIO_BASE; each further lockout in a row lasts twice the previous one (at most
# BLOQUEIO_MAXIMO). A successful login clears the record; a lockout history is forgotten once a
# lock ended more than ESQUECER_APOS ago. Usernames that do not exist get exactly the same
# treatment, so the answer never tells whether a login exists. The state lives in PostgreSQL
# (login_tentativas) so it holds across replicas and restarts; the database clock decides.
MAX_FALHAS_LOGIN = 5
JANELA_FALHAS = timedelta(minutes=15)
BLOQUEIO_BASE = timedelta(minutes=15)
BLOQUEIO_MAXIMO = timedelta(hours=24)
ESQUECER_APOS = timedelta(hours=24)
_TAMANHO_CHAVE_LOGIN = 100
# A bcrypt hash (cost 12) of no password anyone types: checking an unknown username against it
# takes as long as checking a real one, so timing does not tell whether the login exists either.
_HASH_FICTICIO = b"$2b$12$jVgDiKLe2U6hqe/U65KDQe/9cVCGJmGMs2RGP9NqMp8gxfkvgrGqu"


def chave_login(username: str | None) -> str:
    """The throttling key of a submitted username (lower-cased and trimmed as the login does)."""
    return (username or "").strip().lower()[:_TAMANHO_CHAVE_LOGIN]


def minutos_de_espera(segundos: float) -> int:
    """Whole minutes to show for a lock that ends in ``segundos`` (at least 1)."""
    return max(1, math.ceil(segundos / 60))


def mensagem_bloqueio(segundos: float) -> str:
    """The pt-BR message of a locked username (the same whether the login exists or not)."""
    minutos = minutos_de_espera(segundos)
    return (
        "Muitas tentativas para este usuário. "
        f"Tente de novo em {minutos} {'minuto' if minutos == 1 else 'minutos'}."
    )


def gastar_tempo_de_verificacao(senha: str | None) -> None:
    """Spend one bcrypt check on a fictitious hash (for usernames that do not exist)."""
    try:
        bcrypt.checkpw((senha or "").encode("utf-8")[:72], _HASH_FICTICIO)
    except ValueError:
        pass


def bloqueio_login(session: Session, username: str | None) -> float | None:
    """Seconds left of the lock on this username, or None when attempts are allowed."""
    restante = session.execute(
        text(
            "SELECT extract(epoch FROM bloqueado_ate - now()) FROM login_tentativas "
            "WHERE username = :u AND bloqueado_ate > now()"
        ),
        {"u": chave_login(username)},
    ).scalar()
    return float(restante) if restante is not None else None


def registrar_falha_login(session: Session, username: str | None) -> float | None:
    """Count one failed login for ``username``; return the lock's seconds when it is locked.

    Runs under a row lock, so concurrent failures on several replicas are all counted.
    A lockout is audited (``login_bloqueado``). Rows untouched for two days are purged here.
    """
    chave = chave_login(username)
    session.execute(
        text(
            "DELETE FROM login_tentativas WHERE atualizado_em < now() - interval '2 days' "
            "AND (bloqueado_ate IS NULL OR bloqueado_ate < now() - interval '2 days')"
        )
    )
    session.execute(
        text(
            "INSERT INTO login_tentativas (username) VALUES (:u) ON CONFLICT (username) DO NOTHING"
        ),
        {"u": chave},
    )
    linha = session.execute(
        text(
            "SELECT falhas, janela_inicio, bloqueios, bloqueado_ate, now() AS agora "
            "FROM login_tentativas WHERE username = :u FOR UPDATE"
        ),
        {"u": chave},
    ).one()
    agora = linha.agora
    if linha.bloqueado_ate is not None and linha.bloqueado_ate > agora:
        return (linha.bloqueado_ate - agora).total_seconds()  # locked: not counted again
    bloqueios = linha.bloqueios
    if linha.bloqueado_ate is not None and agora - linha.bloqueado_ate > ESQUECER_APOS:
        bloqueios = 0
    if linha.falhas == 0 or agora - linha.janela_inicio > JANELA_FALHAS:
        falhas, inicio = 1, agora
    else:
        falhas, inicio = linha.falhas + 1, linha.janela_inicio
    bloqueado_ate = linha.bloqueado_ate
    duracao = None
    if falhas >= MAX_FALHAS_LOGIN:
        bloqueios += 1
        duracao = min(BLOQUEIO_BASE * 2 ** (bloqueios - 1), BLOQUEIO_MAXIMO)
        bloqueado_ate, falhas = agora + duracao, 0
    session.execute(
        text(
            "UPDATE login_tentativas SET falhas = :f, janela_inicio = :i, bloqueios = :b, "
            "bloqueado_ate = :ate, atualizado_em = now() WHERE username = :u"
        ),
        {"f": falhas, "i": inicio, "b": bloqueios, "ate": bloqueado_ate, "u": chave},
    )
    if duracao is None:
        return None
    registrar(
        session,
        usuario=None,
        acao="login_bloqueado",
        entidade="usuarios",
        entidade_id=chave,
        detalhes={
            "falhas": MAX_FALHAS_LOGIN,
            "minutos": int(duracao.total_seconds() // 60),
            "bloqueio_seguido": bloqueios,
            "usuario_existe": buscar(session, chave) is not None,
        },
    )
    return duracao.total_seconds()


def registrar_sucesso_login(session: Session, username: str | None) -> None:
    """A successful login clears the username's failures and lockout history."""
    session.execute(
        text("DELETE FROM login_tentativas WHERE username = :u"), {"u": chave_login(username)}
    )
