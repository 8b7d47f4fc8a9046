"""Tag catalogue (create, edit) and bulk tagging: services on the real database, pages (AppTest)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import event, text
from streamlit.testing.v1 import AppTest

from db.uow import UnidadeDeTrabalho
from services import alunos
from tests import fabrica_cs as f

RAIZ = Path(__file__).resolve().parent.parent
ALUNOS = str(RAIZ / "pages" / "Alunos.py")
CONFIGURACOES = str(RAIZ / "pages" / "Configuracoes.py")
ABA_TAGS = 7


def _auditoria(banco, acao: str) -> list[dict]:
    with banco.connect() as conn:
        return [
            dict(linha)
            for linha in conn.execute(
                text(
                    "SELECT usuario, entidade, entidade_id, detalhes FROM auditoria "
                    "WHERE acao = :a ORDER BY id"
                ),
                {"a": acao},
            ).mappings()
        ]


def _tags_de(banco, tag_id: int) -> set[uuid.UUID]:
    with banco.connect() as conn:
        return set(
            conn.execute(
                text("SELECT aluno_id FROM alunos_tags WHERE tag_id = :t"), {"t": tag_id}
            ).scalars()
        )


@pytest.fixture
def turma(banco):
    ids = [f.aluno(banco, f"Aluno {i}", f"aluno{i}@exemplo.com") for i in range(3)]
    vip = f.tag(banco, "vip")
    risco = f.tag(banco, "churn_risk", "#B91C1C")
    with banco.begin() as conn:
        conn.execute(
            text("INSERT INTO alunos_tags (aluno_id, tag_id) VALUES (:a, :t)"),
            {"a": ids[0], "t": vip},
        )
    return {"alunos": ids, "vip": vip, "risco": risco}


# --- create and edit ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nome", "cor", "erro"),
    [
        ("", "#0F766E", "Nome da tag: o valor não pode ficar vazio"),
        ("   ", "#0F766E", "Nome da tag: o valor não pode ficar vazio"),
        ("x" * 51, "#0F766E", "Nome da tag: use no máximo 50 caracteres"),
        ("linha\nnova", "#0F766E", "caracteres de controle"),
        ("ok", "#12345G", "Cor da tag: use o formato #RRGGBB"),
        ("ok", "0F766E", "Cor da tag: use o formato #RRGGBB"),
        ("ok", "#FFF", "Cor da tag: use o formato #RRGGBB"),
        ("ok", "", "Cor da tag: use o formato #RRGGBB"),
        ("VIP", "#0F766E", "Já existe uma tag chamada 'VIP'"),
    ],
)
def test_bad_tags_are_refused_in_portuguese_and_nothing_is_written(turma, banco, nome, cor, erro):
    with UnidadeDeTrabalho() as uow, pytest.raises(alunos.AlunoInvalido, match=erro):
        alunos.criar_tag(uow.session, nome=nome, cor_hex=cor, usuario="admin1")
    assert f.contar(banco, "SELECT count(*) FROM tags") == 2
    assert f.contar(banco, "SELECT count(*) FROM auditoria") == 0


def test_a_50_character_name_is_accepted(banco):
    with UnidadeDeTrabalho() as uow:
        criada = alunos.criar_tag(uow.session, nome="y" * 50, cor_hex="#abcdef", usuario="a")
        uow.commit()
    assert (len(criada.nome), criada.cor_hex) == (50, "#ABCDEF")


def test_editing_renames_and_recolours_audited_and_students_keep_the_tag(turma, banco):
    vip = turma["vip"]
    with UnidadeDeTrabalho() as uow:
        mudou = alunos.editar_tag(
            uow.session, tag_id=vip, nome=" Cliente VIP ", cor_hex="#b91c1c", usuario="admin1"
        )
        uow.commit()
    assert mudou is True
    assert f.contar(banco, "SELECT nome || ' ' || cor_hex FROM tags WHERE id = :t", t=vip) == (
        "Cliente VIP #B91C1C"
    )
    assert _tags_de(banco, vip) == {turma["alunos"][0]}
    [auditada] = _auditoria(banco, "tag_editada")
    assert auditada["usuario"] == "admin1" and auditada["entidade_id"] == str(vip)
    assert auditada["detalhes"] == {
        "antes": {"tag": "vip", "cor": "#0F766E"},
        "tag": "Cliente VIP",
        "cor": "#B91C1C",
    }
    with UnidadeDeTrabalho() as uow:  # same values: nothing to do, nothing audited
        assert not alunos.editar_tag(
            uow.session, tag_id=vip, nome="Cliente VIP", cor_hex="#B91C1C", usuario="admin1"
        )
        assert alunos.editar_tag(  # its own name in another case is not a duplicate
            uow.session, tag_id=vip, nome="cliente vip", cor_hex="#B91C1C", usuario="admin1"
        )
        uow.commit()
    assert len(_auditoria(banco, "tag_editada")) == 2
    # The former name's label key, for the next Chatwoot sync (a new case keeps the key).
    with banco.connect() as conn:
        renomeadas = conn.execute(
            text("SELECT chave_antiga, tag_id, pendente FROM chatwoot_tags_renomeadas")
        ).all()
    assert [tuple(r) for r in renomeadas] == [("vip", vip, True)]


@pytest.mark.parametrize(
    ("nome", "cor", "erro"),
    [
        ("CHURN_RISK", "#0F766E", "Já existe uma tag chamada 'CHURN_RISK'"),
        ("", "#0F766E", "não pode ficar vazio"),
        ("z" * 51, "#0F766E", "no máximo 50"),
        ("vip", "vermelho", "#RRGGBB"),
    ],
)
def test_bad_edits_are_refused_and_nothing_changes(turma, banco, nome, cor, erro):
    with UnidadeDeTrabalho() as uow, pytest.raises(alunos.AlunoInvalido, match=erro):
        alunos.editar_tag(uow.session, tag_id=turma["vip"], nome=nome, cor_hex=cor, usuario="a")
    assert f.contar(banco, "SELECT nome FROM tags WHERE id = :t", t=turma["vip"]) == "vip"
    assert f.contar(banco, "SELECT count(*) FROM auditoria") == 0


def test_editing_a_missing_tag_says_so(banco):
    with UnidadeDeTrabalho() as uow, pytest.raises(alunos.AlunoInvalido, match="não encontrada"):
        alunos.editar_tag(uow.session, tag_id=999, nome="x", cor_hex="#000000", usuario="a")


# --- bulk tagging --------------------------------------------------------------------------


def test_bulk_add_and_remove_are_idempotent_and_audited_once(turma, banco):
    a0, a1, a2 = turma["alunos"]
    vip = turma["vip"]
    with UnidadeDeTrabalho() as uow:
        n = alunos.aplicar_tag_em_massa(
            uow.session, aluno_ids=[a0, a1, a2, a1], tag_id=vip, adicionar=True, usuario="cs1"
        )
        uow.commit()
    assert n == 2  # a0 already had it; a1 listed twice counts once
    assert _tags_de(banco, vip) == {a0, a1, a2}
    with UnidadeDeTrabalho() as uow:
        assert not alunos.aplicar_tag_em_massa(
            uow.session, aluno_ids=[a0, a1, a2], tag_id=vip, adicionar=True, usuario="cs1"
        )
        uow.commit()
    [adicao] = _auditoria(banco, "tag_em_massa_adicionada")
    assert (adicao["usuario"], adicao["entidade"], adicao["entidade_id"]) == (
        "cs1",
        "tags",
        str(vip),
    )
    assert adicao["detalhes"] == {
        "tag": "vip",
        "selecionados": 3,
        "alterados": 2,
        "alunos": sorted([str(a1), str(a2)]),
    }

    with UnidadeDeTrabalho() as uow:
        n = alunos.aplicar_tag_em_massa(
            uow.session, aluno_ids=[a0, a1], tag_id=vip, adicionar=False, usuario="cs1"
        )
        uow.commit()
    assert n == 2
    assert _tags_de(banco, vip) == {a2}
    with UnidadeDeTrabalho() as uow:
        assert not alunos.aplicar_tag_em_massa(
            uow.session, aluno_ids=[a0, a1], tag_id=vip, adicionar=False, usuario="cs1"
        )
        uow.commit()
    assert len(_auditoria(banco, "tag_em_massa_removida")) == 1
    assert _tags_de(banco, turma["risco"]) == set()  # other tags untouched


def test_bulk_tagging_is_one_statement_whatever_the_number_of_students(banco):
    from db.engine import obter_engine

    ids = [f.aluno(banco, f"Pessoa {i}", f"p{i}@x.com") for i in range(40)]
    tag = f.tag(banco, "lote")
    comandos: list[str] = []

    def contar(conn, cursor, sql, *args):
        comandos.append(sql)

    event.listen(obter_engine(), "before_cursor_execute", contar)
    try:
        with UnidadeDeTrabalho() as uow:
            n = alunos.aplicar_tag_em_massa(
                uow.session, aluno_ids=ids, tag_id=tag, adicionar=True, usuario="cs1"
            )
            uow.commit()
    finally:
        event.remove(obter_engine(), "before_cursor_execute", contar)
    assert n == 40
    escritas = [c for c in comandos if "alunos_tags" in c]
    assert len(escritas) == 1 and escritas[0].lstrip().startswith("INSERT")


@pytest.mark.parametrize(
    ("quantos", "tag", "erro"),
    [
        (0, "vip", "Selecione pelo menos um aluno"),
        (51, "vip", "no máximo 50 alunos"),
        (2, None, "Tag não encontrada"),
    ],
)
def test_bulk_tagging_refuses_bad_input_and_writes_nothing(turma, banco, quantos, tag, erro):
    ids = (turma["alunos"] * 20)[:2] if quantos == 2 else [uuid.uuid4() for _ in range(quantos)]
    tag_id = turma["vip"] if tag else 999
    with UnidadeDeTrabalho() as uow, pytest.raises(alunos.AlunoInvalido, match=erro):
        alunos.aplicar_tag_em_massa(
            uow.session, aluno_ids=ids, tag_id=tag_id, adicionar=True, usuario="cs1"
        )
    assert f.contar(banco, "SELECT count(*) FROM alunos_tags") == 1
    assert f.contar(banco, "SELECT count(*) FROM auditoria") == 0


# --- pages ---------------------------------------------------------------------------------


def _abrir(pagina: str, username: str) -> AppTest:
    at = AppTest.from_file(pagina, default_timeout=30)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = username
    return at.run()


def _textos(at: AppTest) -> str:
    return "\n".join(
        str(e.value).replace("\\", "") for e in (*at.error, *at.warning, *at.info, *at.success)
    )


def _marcar(at: AppTest, linhas: list[int]) -> AppTest:
    """Tick the "Selecionar" checkbox of these result rows (streamlit-stack.md, trap 5).

    The editor's key carries a version that changes with each new result list.
    """
    at.session_state[f"selecao_alunos_{at.session_state['_selecao_versao']}"] = {
        "edited_rows": {i: {"Selecionar": True} for i in linhas},
        "added_rows": [],
        "deleted_rows": [],
    }
    return at.run()


def test_cs_tags_the_selected_search_results_in_bulk(criar_usuario, turma, banco):
    a0, a1, a2 = turma["alunos"]
    vip = turma["vip"]
    username, _ = criar_usuario("cs")
    at = _abrir(ALUNOS, username)
    at = at.text_input(key="busca_aluno").input("exemplo.com").run()
    assert list(at.dataframe[0].value["Nome"]) == ["Aluno 0", "Aluno 1", "Aluno 2"]
    assert at.button(key="botao_tag_massa").disabled  # nothing selected yet

    at = _marcar(at, [0, 2])
    assert not at.exception
    botao = at.button(key="botao_tag_massa")
    assert botao.label == "Aplicar a 2" and not botao.disabled
    at.selectbox(key="tag_massa").set_value(vip)
    at.radio(key="acao_massa").set_value("Adicionar")
    at.button(key="botao_tag_massa").click().run()
    assert not at.exception
    assert "Tag vip adicionada a 1 aluno(s). 1 já tinha(m) a tag." in _textos(at)
    assert _tags_de(banco, vip) == {a0, a2}
    assert len(_auditoria(banco, "tag_em_massa_adicionada")) == 1
    assert at.button(key="botao_tag_massa").label == "Aplicar a 0"  # selection cleared

    at = _marcar(at, [0, 1, 2])
    at.selectbox(key="tag_massa").set_value(vip)
    at.radio(key="acao_massa").set_value("Remover")
    at.button(key="botao_tag_massa").click().run()
    assert "Tag vip removida de 2 aluno(s). 1 já não tinha(m) a tag." in _textos(at)
    assert _tags_de(banco, vip) == set()


def test_a_new_search_clears_the_selection(criar_usuario, turma, banco):
    username, _ = criar_usuario("gestor")
    at = _abrir(ALUNOS, username)
    at = at.text_input(key="busca_aluno").input("exemplo.com").run()
    at = _marcar(at, [1])
    assert at.button(key="botao_tag_massa").label == "Aplicar a 1"
    at = at.text_input(key="busca_aluno").input("aluno2").run()
    assert list(at.dataframe[0].value["Nome"]) == ["Aluno 2"]
    assert at.button(key="botao_tag_massa").label == "Aplicar a 0"


def test_admin_creates_and_edits_tags_on_configuracoes(criar_usuario, banco):
    username, _ = criar_usuario("admin")
    at = _abrir(CONFIGURACOES, username)
    aba = at.tabs[ABA_TAGS]
    assert "O catálogo de tags está vazio" in _textos(at)
    aba.text_input(key="tag_nova_nome").input("Super Fã")
    aba.color_picker(key="tag_nova_cor").pick("#123456")
    at.button(key="FormSubmitter:form_criar_tag-Criar tag").click().run()
    assert not at.exception
    assert "Tag Super Fã criada." in _textos(at)
    tag_id = f.contar(banco, "SELECT id FROM tags WHERE nome = 'Super Fã'")
    assert f.contar(banco, "SELECT cor_hex FROM tags WHERE id = :t", t=tag_id) == "#123456"

    f.tag(banco, "vip")
    at.run()
    tabela = at.tabs[ABA_TAGS].dataframe[0].value
    assert tabela.values.tolist() == [["Super Fã", "#123456", "0"], ["vip", "#0F766E", "0"]]
    at.selectbox(key="tag_editar_alvo").set_value(tag_id).run()
    at.text_input(key=f"tag_editar_nome_{tag_id}").input("VIP")
    at.button(key="FormSubmitter:form_editar_tag-Salvar tag").click().run()
    assert "Já existe uma tag chamada 'VIP'." in _textos(at)
    assert f.contar(banco, "SELECT nome FROM tags WHERE id = :t", t=tag_id) == "Super Fã"

    at.text_input(key=f"tag_editar_nome_{tag_id}").input("Superfã")
    at.color_picker(key=f"tag_editar_cor_{tag_id}").pick("#B91C1C")
    at.button(key="FormSubmitter:form_editar_tag-Salvar tag").click().run()
    assert not at.exception
    assert "Tag Superfã atualizada." in _textos(at)
    assert f.contar(banco, "SELECT nome || ' ' || cor_hex FROM tags WHERE id = :t", t=tag_id) == (
        "Superfã #B91C1C"
    )
    assert [a["acao"] for a in _acoes(banco)] == ["tag_criada", "tag_editada"]


def _acoes(banco) -> list[dict]:
    with banco.connect() as conn:
        return [
            dict(linha)
            for linha in conn.execute(
                text("SELECT acao FROM auditoria WHERE entidade = 'tags' ORDER BY id")
            ).mappings()
        ]
