"""``python -m services.cli`` in a real subprocess, against the test database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text

RAIZ = Path(__file__).resolve().parent.parent
SEGREDO = "hottok-super-secreto-7Q2z"


def cli(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        cwd=RAIZ,
        env=env or os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_config_set_get_list_masks_secrets(banco):
    r = cli("config", "set", "hotmart_hottok", SEGREDO)
    assert r.returncode == 0, r.stderr
    assert SEGREDO not in r.stdout + r.stderr

    r = cli("config", "get", "hotmart_hottok")
    assert r.returncode == 0
    assert r.stdout.strip() == "••••7Q2z"

    cli("config", "set", "meta_waba_id", "102290129340398")
    r = cli("config", "list")
    assert r.returncode == 0
    assert SEGREDO not in r.stdout
    linhas = {linha.split()[0]: linha for linha in r.stdout.splitlines()}
    assert "••••7Q2z" in linhas["hotmart_hottok"]
    assert "102290129340398" in linhas["meta_waba_id"]
    assert "(não definido)" in linhas["chatwoot_api_token"]
    with banco.connect() as conn:
        armazenado = conn.execute(
            text("SELECT valor FROM configuracoes WHERE chave = 'hotmart_hottok'")
        ).scalar()
    assert SEGREDO not in armazenado


def test_config_bad_input_is_a_portuguese_error_and_writes_nothing(banco):
    r = cli("config", "set", "meta_phone_number_id", "abc")
    assert r.returncode == 2
    assert "use apenas dígitos" in r.stderr
    assert "Traceback" not in r.stderr
    r = cli("config", "set", "nao_existe", "1")
    assert r.returncode == 2 and "Chave desconhecida" in r.stderr
    with banco.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM configuracoes")).scalar() == 0


def test_user_add_takes_the_password_from_the_environment_and_logs_in(banco):
    from services import usuarios

    senha = "senha-da-agente-9x"
    env = {**os.environ, "TERCEIRIZA_NOVA_SENHA": senha}
    r = cli("user", "add", "ana.cs", "--nome", "Ana Souza", "--papel", "cs", env=env)
    assert r.returncode == 0, r.stderr
    assert senha not in r.stdout + r.stderr
    with banco.connect() as conn:
        linha = conn.execute(
            text("SELECT nome, papel, senha_hash FROM usuarios WHERE username = 'ana.cs'")
        ).one()
    assert (linha.nome, linha.papel) == ("Ana Souza", "cs")
    assert usuarios.bcrypt.checkpw(senha.encode(), linha.senha_hash.encode())
    r = cli("user", "list")
    assert "ana.cs" in r.stdout and senha not in r.stdout


def test_user_add_refuses_bad_input_and_writes_nothing(banco):
    env = {**os.environ, "TERCEIRIZA_NOVA_SENHA": "curta"}
    r = cli("user", "add", "bia", "--nome", "Bia", "--papel", "gestor", env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "Erro:" in r.stderr
    sem_senha = {k: v for k, v in os.environ.items() if k != "TERCEIRIZA_NOVA_SENHA"}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.cli",
            "user",
            "add",
            "bia.ok",
            "--nome",
            "Bia",
            "--papel",
            "gestor",
        ],
        cwd=RAIZ,
        env=sem_senha,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 2 and "TERCEIRIZA_NOVA_SENHA" in r.stderr
    r = cli("user", "add", "carla", "--nome", "Carla", "--papel", "dono", env=env)
    assert r.returncode == 2  # argparse: invalid choice
    with banco.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM usuarios")).scalar() == 0


def test_config_set_reads_a_secret_from_stdin(banco):
    r = subprocess.run(
        [sys.executable, "-m", "services.cli", "config", "set", "meta_access_token", "-"],
        cwd=RAIZ,
        input="EAAG-token-pela-entrada-9Wq1\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert cli("config", "get", "meta_access_token").stdout.strip() == "••••9Wq1"


def test_config_get_unset_key_says_so(banco):
    r = cli("config", "get", "chatwoot_api_token")
    assert r.returncode == 1 and "não definido" in r.stdout


def test_unknown_command_is_refused_by_argparse():
    r = cli("voar")
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_unreachable_database_is_a_clear_error():
    env = os.environ.copy()
    env["DATABASE_URL"] = "postgresql+psycopg://postgres@127.0.0.1:9/nada"
    r = cli("migrate", env=env)
    assert r.returncode == 3
    assert "banco de dados indisponível" in r.stderr
    assert "Traceback" not in r.stderr


def test_embedded_server_is_started_and_shared_by_a_second_process(tmp_path):
    """Without DATABASE_URL: migrate starts the embedded server; a second process reuses it."""
    env = os.environ.copy()
    env.pop("DATABASE_URL", None)
    env.pop("TERCEIRIZA_SECRET_KEY", None)
    env["TERCEIRIZA_DATA_DIR"] = str(tmp_path / "dados")
    segurador = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from db.engine import obter_engine; from sqlalchemy import text;"
            "e = obter_engine();"
            "print(e.connect().execute(text('SELECT pg_postmaster_start_time()')).scalar(),"
            " flush=True); sys.stdin.read()",
        ],
        cwd=RAIZ,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        inicio_servidor = segurador.stdout.readline().strip()
        assert inicio_servidor
        r = cli("migrate", env=env)
        assert r.returncode == 0, r.stderr
        assert "Schema aplicado" in r.stdout
        r = cli("config", "set", "hotmart_client_secret", "abc123", env=env)
        assert r.returncode == 0, r.stderr
        chave = Path(env["TERCEIRIZA_DATA_DIR"]) / "secret.key"
        assert chave.exists() and chave.stat().st_mode & 0o777 == 0o600
        postmaster = Path(env["TERCEIRIZA_DATA_DIR"]) / "pg" / "postmaster.pid"
        assert postmaster.exists()  # still running: the holder is alive
    finally:
        segurador.stdin.close()
        segurador.wait(timeout=30)
    # The last process out stops the server.
    for _ in range(50):
        if not postmaster.exists():
            break
        time.sleep(0.1)
    assert not postmaster.exists()


def test_a_command_runs_while_the_app_holds_its_tables(banco):
    """The app's writers keep tables locked in open transactions; a command must not need table
    locks to start (re-running the schema's DDL did, and deadlocked against them in CI)."""
    with banco.connect() as escritor:
        escritor.execute(
            text("LOCK TABLE alunos, progresso_aulas, configuracoes IN ROW EXCLUSIVE MODE")
        )
        # Waiting for a SHARE lock would fail after 3 s instead of hanging the test.
        env = {**os.environ, "PGOPTIONS": "-c lock_timeout=3000"}
        r = cli("config", "set", "disparo_max_por_aluno_dia", "10", env=env)
        escritor.rollback()
    assert r.returncode == 0, r.stderr
    r = cli("config", "get", "disparo_max_por_aluno_dia")
    assert r.stdout.strip() == "10"
