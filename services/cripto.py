"""Encryption at rest of credential values (Fernet under TERCEIRIZA_SECRET_KEY)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from db.embedded import diretorio_dados
from db.engine import usando_embutido

PREFIXO = "fernet:"
NOME_ARQUIVO_CHAVE = "secret.key"


class ChaveSecretaErro(RuntimeError):
    """The secret key is missing or does not decrypt the stored values (message in pt-BR)."""


def _arquivo_chave() -> Path:
    return diretorio_dados() / NOME_ARQUIVO_CHAVE


def _gerar_arquivo_chave(arquivo: Path) -> bytes:
    """Create the key file once with mode 0600 (O_EXCL: a concurrent creator wins, we read)."""
    chave = Fernet.generate_key()
    try:
        fd = os.open(arquivo, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return arquivo.read_bytes().strip()
    with os.fdopen(fd, "wb") as f:
        f.write(chave)
    return chave


@lru_cache(maxsize=4)
def _fernet(chave: bytes) -> Fernet:
    try:
        return Fernet(chave)
    except (ValueError, TypeError) as exc:
        raise ChaveSecretaErro(
            "TERCEIRIZA_SECRET_KEY inválida: use uma chave Fernet (32 bytes em base64 urlsafe), "
            'gerada com `python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())"`.'
        ) from exc


def chave_atual() -> bytes:
    """The key in force: TERCEIRIZA_SECRET_KEY, else (embedded default) the data-dir key file."""
    valor = os.environ.get("TERCEIRIZA_SECRET_KEY", "").strip()
    if valor:
        return valor.encode()
    if not usando_embutido():
        raise ChaveSecretaErro(
            "TERCEIRIZA_SECRET_KEY não está definida. Com DATABASE_URL, defina a chave que "
            "cifra as credenciais (a mesma em todas as réplicas)."
        )
    arquivo = _arquivo_chave()
    if arquivo.exists():
        return arquivo.read_bytes().strip()
    return _gerar_arquivo_chave(arquivo)


def cifrar(texto: str) -> str:
    """Encrypt a secret for storage (prefixed so stored ciphertext is recognisable)."""
    return PREFIXO + _fernet(chave_atual()).encrypt(texto.encode("utf-8")).decode("ascii")


def decifrar(armazenado: str) -> str:
    """Decrypt a stored secret; a wrong key is a ChaveSecretaErro, never a traceback."""
    if not armazenado.startswith(PREFIXO):
        raise ChaveSecretaErro("Valor armazenado sem cifra: grave a credencial de novo.")
    try:
        return _fernet(chave_atual()).decrypt(armazenado.removeprefix(PREFIXO)).decode("utf-8")
    except InvalidToken as exc:
        raise ChaveSecretaErro(
            "A chave TERCEIRIZA_SECRET_KEY não decifra as credenciais salvas: ela mudou desde que "
            "foram gravadas. Restaure a chave anterior ou grave as credenciais de novo."
        ) from exc


def mascarar(valor: str | None) -> str:
    """Show only the last four characters of a secret."""
    if not valor:
        return ""
    return "••••" + valor[-4:] if len(valor) > 4 else "••••"
