"""Unit of work: one transaction per user action, rolled back unless committed."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from db.engine import obter_engine


class UnidadeDeTrabalho:
    """``with UnidadeDeTrabalho() as uow: ...; uow.commit()`` — no commit means rollback."""

    def __init__(self, engine: Engine | None = None) -> None:
        self._engine = engine
        self.session: Session

    def __enter__(self) -> UnidadeDeTrabalho:
        self.session = Session(self._engine or obter_engine(), expire_on_commit=False)
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.session.rollback()  # a no-op after commit(); undoes everything otherwise
        finally:
            self.session.close()

    def commit(self) -> None:
        """Make this action's writes durable."""
        self.session.commit()

    def rollback(self) -> None:
        """Discard this action's writes."""
        self.session.rollback()
