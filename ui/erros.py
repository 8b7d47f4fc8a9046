"""The last net under every page: an unexpected error becomes a pt-BR message, never a traceback.

The details go to the server log (without the exception's text on screen: it may carry data);
``st.stop``/``st.rerun`` pass through (they are BaseException, not Exception).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import streamlit as st
from sqlalchemy.exc import OperationalError

from db.engine import DatabaseIndisponivel

_log = logging.getLogger("terceiriza.paginas")

MENSAGEM_BANCO = "Banco de dados indisponível no momento. Tente novamente em instantes."
MENSAGEM_GERAL = (
    "Algo deu errado ao montar esta página. Tente novamente; se continuar, avise um "
    "administrador (o erro ficou registrado no log do servidor)."
)


def com_erro_amigavel(funcao: Callable[[], object]) -> None:
    """Run a page; show a pt-BR message instead of an unexpected exception."""
    try:
        funcao()
    except (DatabaseIndisponivel, OperationalError):
        _log.warning("Página sem banco de dados", exc_info=False)
        st.error(MENSAGEM_BANCO, icon=":material/cloud_off:")
    except Exception:  # noqa: BLE001 - the user sees a message; the log keeps the traceback
        _log.exception("Erro inesperado ao montar uma página")
        st.error(MENSAGEM_GERAL, icon=":material/error:")
