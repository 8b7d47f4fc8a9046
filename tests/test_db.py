"""Engine, unit of work and reconnection against the real PostgreSQL."""

from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from db.models import Produto
from db.uow import UnidadeDeTrabalho


def _produtos(engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT nome FROM produtos ORDER BY nome")).scalars())


def test_rolls_back_uncommitted_work_by_default(banco):
    with UnidadeDeTrabalho() as uow:
        uow.session.add(Produto(nome="Curso sem commit"))
        uow.session.flush()
    assert _produtos(banco) == []


def test_rolls_back_when_the_action_fails_midway(banco):
    try:
        with UnidadeDeTrabalho() as uow:
            uow.session.add(Produto(nome="Primeiro passo"))
            uow.session.flush()
            raise RuntimeError("falha no meio da ação")
    except RuntimeError:
        pass
    assert _produtos(banco) == []


def test_commit_makes_the_work_durable(banco):
    with UnidadeDeTrabalho() as uow:
        uow.session.add_all([Produto(nome="Curso A"), Produto(nome="Curso B")])
        uow.commit()
    assert _produtos(banco) == ["Curso A", "Curso B"]


def test_models_read_the_spec_defaults(banco):
    with UnidadeDeTrabalho() as uow:
        produto = Produto(nome="Curso C", hotmart_product_id=3526906)
        uow.session.add(produto)
        uow.commit()
        uow.session.refresh(produto)
        assert produto.ativo_monitoramento is False
        assert produto.id is not None


def test_a_killed_connection_is_replaced_transparently(banco):
    """pool_pre_ping: a pooled connection killed server-side is not handed out again."""
    with banco.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    # The connection is back in the pool; kill it from outside the pool.
    fora = create_engine(banco.url, poolclass=NullPool)
    with fora.connect() as outra:
        outra.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    fora.dispose()
    with banco.connect() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar() != pid
