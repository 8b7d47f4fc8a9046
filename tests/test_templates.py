"""Templates bound to a product (service and the Produtos page's tab)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from db.uow import UnidadeDeTrabalho
from services import templates

PAGINA = str(Path(__file__).resolve().parent.parent / "pages" / "Produtos.py")


@pytest.fixture
def catalogo(banco):
    with banco.begin() as conn:
        produto = conn.execute(
            text(
                "INSERT INTO produtos (nome, hotmart_product_id) VALUES ('Curso A', 1) RETURNING id"
            )
        ).scalar()
        tpl = conn.execute(
            text(
                "INSERT INTO templates (nome_meta, idioma, status_meta, "
                "conteudo_texto, qtd_parametros) VALUES ('boas_vindas', 'pt_BR', "
                "'APPROVED', 'Olá {{1}}', 1) RETURNING id"
            )
        ).scalar()
    return produto, tpl


def test_binding_a_template_to_a_product_is_audited_once(catalogo, banco):
    produto, tpl = catalogo
    with UnidadeDeTrabalho() as uow:
        assert templates.vincular(uow.session, template_id=tpl, produto_id=produto, usuario="g")
        assert not templates.vincular(uow.session, template_id=tpl, produto_id=produto, usuario="g")
        uow.commit()
    with banco.connect() as conn:
        assert conn.execute(text("SELECT produto_id FROM templates")).scalar() == produto
        assert (
            conn.execute(
                text("SELECT count(*) FROM auditoria WHERE acao = 'template_vinculado'")
            ).scalar()
            == 1
        )
    with UnidadeDeTrabalho() as uow:
        assert [t.nome for t in templates.listar(uow.session, produto_id=produto)] == [
            "boas_vindas"
        ]


def test_binding_to_an_unknown_product_is_refused(catalogo):
    _, tpl = catalogo
    with UnidadeDeTrabalho() as uow, pytest.raises(templates.TemplateInvalido):
        templates.vincular(uow.session, template_id=tpl, produto_id=uuid.uuid4(), usuario="g")


def _abrir(username: str) -> AppTest:
    at = AppTest.from_file(PAGINA, default_timeout=30)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = username
    return at.run()


def test_a_manager_binds_a_template_on_the_produtos_page(catalogo, criar_usuario, banco):
    produto, tpl = catalogo
    username, _ = criar_usuario("gestor")
    at = _abrir(username)
    assert not at.exception
    aba = at.tabs[3]
    assert any("Nenhum template vinculado" in i.value for i in aba.info)
    aba.selectbox[0].set_value(tpl)
    aba.button[0].click().run()
    with banco.connect() as conn:
        assert conn.execute(text("SELECT produto_id FROM templates")).scalar() == produto
    assert "boas_vindas" in at.tabs[3].dataframe[0].value["Template"].tolist()


def test_cs_sees_templates_but_cannot_bind(catalogo, criar_usuario):
    username, _ = criar_usuario("cs")
    at = _abrir(username)
    assert len(at.tabs[3].button) == 0
