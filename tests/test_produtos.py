"""services.produtos against the real PostgreSQL: counts, ticket class, course tree, funnel."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from db.uow import UnidadeDeTrabalho
from services import config, produtos
from tests import fabrica_cs as f


def test_product_list_counts_offers_modules_lessons_and_active_enrolments(banco):
    dados = f.curso_com_funil(banco)
    f.oferta(banco, dados["produto"], "Anual", 997)
    f.oferta(banco, dados["produto"], "Mensal", 97)
    vazio = f.produto(banco, "Aaa sem nada")
    with UnidadeDeTrabalho() as uow:
        lista = produtos.listar_produtos(uow.session)
    assert [p.nome for p in lista] == ["Aaa sem nada", "Curso de Excel", "Outro curso"]
    excel = lista[1]
    assert excel.hotmart_product_id == 3526906
    assert excel.hotmart_subdomain == "excel-pro"
    assert excel.ativo_monitoramento is False
    assert (excel.ofertas, excel.modulos, excel.aulas, excel.matriculas_ativas) == (2, 2, 4, 3)
    sem_nada = lista[0]
    assert sem_nada.id == vazio
    assert (sem_nada.ofertas, sem_nada.modulos, sem_nada.aulas, sem_nada.matriculas_ativas) == (
        0,
        0,
        0,
        0,
    )


def test_ticket_class_uses_the_configured_threshold_inclusively(banco):
    p = f.produto(banco, "Mentoria")
    f.oferta(banco, p, "Abaixo", "996.99")
    f.oferta(banco, p, "No limite", "997.00")
    f.oferta(banco, p, "Acima", "1500")
    f.oferta(banco, p, "Sem preço", None)
    with UnidadeDeTrabalho() as uow:
        config.definir(uow.session, "ticket_alto_minimo", "997", usuario="teste")
        uow.commit()
    with UnidadeDeTrabalho() as uow:
        ofertas = produtos.listar_ofertas(uow.session, produto_id=p)
    classes = {o.nome: (o.preco, o.classe_ticket) for o in ofertas}
    assert classes == {
        "Acima": (Decimal("1500.00"), "Alto"),
        "No limite": (Decimal("997.00"), "Alto"),
        "Abaixo": (Decimal("996.99"), "Baixo"),
        "Sem preço": (None, None),
    }
    assert [o.nome for o in ofertas] == ["Acima", "No limite", "Abaixo", "Sem preço"]


def test_ticket_threshold_defaults_to_500(banco):
    p = f.produto(banco, "Curso")
    f.oferta(banco, p, "Quinhentos", 500)
    f.oferta(banco, p, "Quase", "499.99")
    with UnidadeDeTrabalho() as uow:
        classes = {
            o.nome: o.classe_ticket for o in produtos.listar_ofertas(uow.session, produto_id=p)
        }
    assert classes == {"Quinhentos": "Alto", "Quase": "Baixo"}


def test_course_tree_follows_module_then_lesson_order_with_drip_days(banco):
    dados = f.curso_com_funil(banco)
    sem_aulas = f.modulo(banco, dados["produto"], "Módulo 3 — Bônus", 3)
    with UnidadeDeTrabalho() as uow:
        arvore = produtos.arvore_curso(uow.session, produto_id=dados["produto"])
    assert [(i.modulo_ordem, i.aula_ordem, i.aula_nome, i.dias_liberacao) for i in arvore] == [
        (1, 1, "Boas-vindas", 0),
        (1, 2, "Fórmulas simples", 0),
        (2, 1, "PROCV", 7),
        (2, 2, "Tabelas dinâmicas", 14),
        (3, None, None, None),
    ]
    assert arvore[-1].modulo_id == sem_aulas


def test_funnel_counts_and_percentages_per_lesson_in_course_order(banco):
    dados = f.curso_com_funil(banco)
    with UnidadeDeTrabalho() as uow:
        funil = produtos.funil_aulas(uow.session, produto_id=dados["produto"])
    assert [(e.posicao, e.aula_nome, e.concluintes, e.percentual) for e in funil] == [
        (1, "Boas-vindas", 4, Decimal("100.0")),
        (2, "Fórmulas simples", 3, Decimal("75.0")),
        (3, "PROCV", 1, Decimal("25.0")),
        (4, "Tabelas dinâmicas", 0, Decimal("0.0")),
    ]
    assert {e.matriculas for e in funil} == {4}
    assert [e.aula_id for e in funil] == dados["aulas"]
    anterior, etapa, perda = produtos.maior_queda(funil)
    assert (anterior.aula_nome, etapa.aula_nome, perda) == ("Fórmulas simples", "PROCV", 2)


def test_funnel_of_a_product_without_enrolments_is_all_zero(banco):
    p = f.produto(banco, "Novo")
    m = f.modulo(banco, p, "M1", 1)
    f.aula(banco, m, "Aula 1", 1)
    with UnidadeDeTrabalho() as uow:
        funil = produtos.funil_aulas(uow.session, produto_id=p)
        assert produtos.funil_aulas(uow.session, produto_id=uuid.uuid4()) == []
    assert [(e.concluintes, e.matriculas, e.percentual) for e in funil] == [(0, 0, Decimal(0))]
    assert produtos.maior_queda(funil) is None


def test_biggest_drop_can_be_before_the_first_lesson(banco):
    p = f.produto(banco, "Curso")
    m = f.modulo(banco, p, "M1", 1)
    a1 = f.aula(banco, m, "Aula 1", 1)
    f.aula(banco, m, "Aula 2", 2)
    mats = [f.matricula(banco, f.aluno(banco, f"A{i}", f"a{i}@x.com"), p) for i in range(5)]
    f.concluir(banco, mats[0], a1)
    with UnidadeDeTrabalho() as uow:
        funil = produtos.funil_aulas(uow.session, produto_id=p)
    anterior, etapa, perda = produtos.maior_queda(funil)
    assert anterior is None and etapa.aula_nome == "Aula 1" and perda == 4


def _auditoria(banco, acao):
    return f.contar(banco, "SELECT count(*) FROM auditoria WHERE acao = :a", a=acao)


def test_monitoring_toggle_is_stored_and_audited_once_per_change(banco):
    p = f.produto(banco, "Curso")
    with UnidadeDeTrabalho() as uow:
        assert produtos.definir_monitoramento(uow.session, p, True, usuario="gestor1") is True
        uow.commit()
    with UnidadeDeTrabalho() as uow:
        assert produtos.definir_monitoramento(uow.session, p, True, usuario="gestor1") is False
        uow.commit()
    assert f.contar(banco, "SELECT ativo_monitoramento::int FROM produtos WHERE id = :p", p=p) == 1
    assert _auditoria(banco, "monitoramento_alterado") == 1
    linha = f.contar(
        banco,
        "SELECT usuario || ':' || entidade_id || ':' || (detalhes->>'ativo') FROM auditoria",
    )
    assert linha == f"gestor1:{p}:true"


def test_monitoring_toggle_rolls_back_with_its_audit_row(banco):
    p = f.produto(banco, "Curso")
    with UnidadeDeTrabalho() as uow:
        produtos.definir_monitoramento(uow.session, p, True, usuario="gestor1")
        # no commit
    assert f.contar(banco, "SELECT ativo_monitoramento::int FROM produtos") == 0
    assert _auditoria(banco, "monitoramento_alterado") == 0


def test_unknown_product_is_a_portuguese_error(banco):
    with (
        UnidadeDeTrabalho() as uow,
        pytest.raises(produtos.ProdutoInvalido, match="não encontrado"),
    ):
        produtos.definir_monitoramento(uow.session, uuid.uuid4(), True, usuario="x")


def test_subdomain_is_normalised_stored_and_audited(banco):
    p = f.produto(banco, "Curso")
    with UnidadeDeTrabalho() as uow:
        assert produtos.definir_subdominio(uow.session, p, "  Meu-Curso2 ", usuario="adm") is True
        uow.commit()
    assert f.contar(banco, "SELECT hotmart_subdomain FROM produtos") == "meu-curso2"
    with UnidadeDeTrabalho() as uow:
        assert produtos.definir_subdominio(uow.session, p, "", usuario="adm") is True
        uow.commit()
    assert f.contar(banco, "SELECT hotmart_subdomain FROM produtos") is None
    assert _auditoria(banco, "subdominio_alterado") == 2


@pytest.mark.parametrize(
    "ruim",
    ["meu curso", "meu_curso", "curso.com", "-curso", "curso-", "cursó", "a" * 101, "x'; DROP"],
)
def test_bad_subdomain_is_refused_and_nothing_is_written(banco, ruim):
    p = f.produto(banco, "Curso", subdominio="original")
    with UnidadeDeTrabalho() as uow:
        with pytest.raises(produtos.ProdutoInvalido, match="Subdomínio"):
            produtos.definir_subdominio(uow.session, p, ruim, usuario="adm")
        uow.commit()
    assert f.contar(banco, "SELECT hotmart_subdomain FROM produtos") == "original"
    assert f.contar(banco, "SELECT count(*) FROM auditoria") == 0


def test_a_100_character_subdomain_is_accepted(banco):
    p = f.produto(banco, "Curso")
    with UnidadeDeTrabalho() as uow:
        produtos.definir_subdominio(uow.session, p, "a" * 100, usuario="adm")
        uow.commit()
    assert f.contar(banco, "SELECT length(hotmart_subdomain) FROM produtos") == 100
