"""Database access: engine (server or embedded PostgreSQL), schema, models, unit of work."""

from db.engine import DatabaseIndisponivel, obter_engine, url_do_banco
from db.uow import UnidadeDeTrabalho

__all__ = ["DatabaseIndisponivel", "UnidadeDeTrabalho", "obter_engine", "url_do_banco"]
