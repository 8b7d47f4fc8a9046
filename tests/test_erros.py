"""An unexpected error on a page is a pt-BR message, never a traceback or the error's text."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.arvore import texto_completo


def _pagina_que_quebra():
    import streamlit as st

    from ui.erros import com_erro_amigavel

    def pagina():
        st.write("antes do erro")
        raise RuntimeError("token=EAAG-segredo-que-nao-aparece")

    com_erro_amigavel(pagina)
    st.write("a barra lateral e o resto continuam")


def _pagina_sem_banco():
    from sqlalchemy.exc import OperationalError

    from ui.erros import com_erro_amigavel

    def pagina():
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    com_erro_amigavel(pagina)


def _pagina_que_para():
    import streamlit as st

    from ui.erros import com_erro_amigavel

    def pagina():
        st.write("parou aqui")
        st.stop()

    com_erro_amigavel(pagina)
    st.write("nunca chega")


def test_unexpected_error_is_a_portuguese_message_without_details():
    at = AppTest.from_function(_pagina_que_quebra).run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "Algo deu errado ao montar esta página. Tente novamente; se continuar, avise um "
        "administrador (o erro ficou registrado no log do servidor)."
    ]
    assert "EAAG-segredo" not in texto_completo(at)
    assert "a barra lateral e o resto continuam" in [m.value for m in at.markdown]


def test_database_down_is_its_own_message():
    at = AppTest.from_function(_pagina_sem_banco).run()
    assert not at.exception
    assert "Banco de dados indisponível" in at.error[0].value
    assert "connection refused" not in texto_completo(at)


def test_st_stop_still_stops_the_page():
    at = AppTest.from_function(_pagina_que_para).run()
    assert not at.exception and not at.error
    textos = [m.value for m in at.markdown]
    assert "parou aqui" in textos and "nunca chega" not in textos
