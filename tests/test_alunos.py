"""services.alunos against the real PostgreSQL: search, profile sections, progress, tags."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from db.uow import UnidadeDeTrabalho
from services import alunos
from tests import fabrica_cs as f


@pytest.fixture
def turma(banco):
    """Three students with distinct names, e-mails, CPFs and WhatsApp numbers."""
    return {
        "maria": f.aluno(
            banco,
            "María José da Conceição",
            "Maria.Jose@Exemplo.com.br",
            cpf="123.456.789-09",
            celular="5511987654321",
            ltv="1234.56",
        ),
        "joao": f.aluno(
            banco,
            "João Silva",
            "joao_silva@exemplo.com",
            cpf="98765432100",
            celular="5521912345678",
        ),
        "mariana": f.aluno(banco, "Mariana Souza", "mari@outro.com", celular="5531900001111"),
    }


def _buscar(termo: str) -> list:
    with UnidadeDeTrabalho() as uow:
        return alunos.buscar_alunos(uow.session, termo=termo)


def _ids(resultado) -> list:
    return [a.id for a in resultado]


def test_search_by_name_is_case_and_accent_insensitive(turma):
    assert _ids(_buscar("maria jose")) == [turma["maria"]]
    assert _ids(_buscar("CONCEICAO")) == [turma["maria"]]
    assert _ids(_buscar("joão")) == [turma["joao"]]
    assert _ids(_buscar("joao")) == [turma["joao"]]
    assert _ids(_buscar("MARÍA JOSÉ DA CONCEIÇÃO")) == [turma["maria"]]
    assert _ids(_buscar("da conceiç")) == [turma["maria"]]
    assert _buscar("conceição%") == [] and _buscar("jo_o") == []  # LIKE wildcards are literal


def test_search_orders_name_prefix_matches_first_then_by_name(turma, banco):
    so_email = f.aluno(banco, "Abel Rocha", "amarilis@x.com")  # "mari" only inside the e-mail
    no_meio = f.aluno(banco, "Ana Marina", "ana@x.com")  # "mari" inside the name
    resultado = _ids(_buscar("mari"))
    assert set(resultado[:2]) == {turma["maria"], turma["mariana"]}  # names starting with it
    assert resultado[2:] == [so_email, no_meio]  # then by name
    assert _ids(_buscar("silva")) == [turma["joao"]]


def test_search_by_email_is_case_insensitive_and_exact_match_comes_first(turma, banco):
    f.aluno(banco, "Aaron Outro", "xmaria.jose@exemplo.com.br")
    resultado = _buscar("MARIA.JOSE@exemplo.COM.BR")
    assert resultado[0].id == turma["maria"]
    assert len(resultado) == 2


def test_search_by_cpf_with_or_without_punctuation(turma):
    for termo in ("12345678909", "123.456.789-09", " 123 456 789 09 ", "123.456"):
        assert _ids(_buscar(termo)) == [turma["maria"]], termo
    assert _ids(_buscar("987.654.321-00")) == [turma["joao"]]


def test_search_by_phone_matches_the_end_of_the_whatsapp_number(turma):
    assert _ids(_buscar("11987654321")) == [turma["maria"]]
    assert _ids(_buscar("(11) 98765-4321")) == [turma["maria"]]
    assert _ids(_buscar("+55 11 98765-4321")) == [turma["maria"]]
    # 9 digits: the end of Maria's number, and also the start of João's CPF (ranked after)
    assert _ids(_buscar("98765-4321")) == [turma["maria"], turma["joao"]]
    assert _ids(_buscar("1198765")) == []  # the middle of a number is not its end


@pytest.mark.parametrize(
    "termo",
    [
        "%",
        "%%",
        "_",
        "__",
        "'",
        "' OR '1'='1",
        "<script>alert(1)</script>",
        "%' OR 1=1 --",
        "\\",
        "a\x00b",
        "ma%a",
        "jo_o",
    ],
)
def test_hostile_search_strings_find_nothing_and_raise_nothing(turma, termo):
    assert _buscar(termo) == []


def test_like_wildcards_are_literal(banco):
    com_pct = f.aluno(banco, "Promo 100% Garantida", "promo@x.com")
    f.aluno(banco, "Promo 1000 Garantida", "outra@x.com")
    assert _ids(_buscar("100%")) == [com_pct]
    sublinhado = f.aluno(banco, "Ana", "ana_b@x.com")
    f.aluno(banco, "Ana C", "anaxb@x.com")
    assert _ids(_buscar("ana_b")) == [sublinhado]


def test_short_or_empty_search_returns_nothing_and_long_is_refused(turma):
    assert _buscar("") == [] and _buscar(" m ") == []
    with pytest.raises(alunos.AlunoInvalido, match="no máximo 200"):
        _buscar("a" * 201)


def test_search_is_limited_to_50(banco):
    with banco.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO alunos (nome, email) "
            "SELECT 'Pessoa ' || g, 'p' || g || '@x.com' FROM generate_series(1, 80) g"
        )
    assert len(_buscar("pessoa")) == 50


def test_profile_sections(banco, turma):
    maria = turma["maria"]
    p = f.produto(banco, "Curso de Excel")
    o = f.oferta(banco, p, "Anual", 997)
    agora = datetime.now(UTC)
    f.transacao(
        banco,
        "HP0001",
        maria,
        p,
        oferta_id=o,
        valor="997.00",
        data_compra=agora - timedelta(days=40),
        data_garantia_fim=agora - timedelta(days=33),
        origem_src="instagram",
    )
    f.transacao(
        banco,
        "HP0002",
        maria,
        p,
        status="PRINTED_BILLET",
        valor="237.56",
        data_compra=agora - timedelta(days=1),
        link_boleto="https://pay.hotmart.com/boleto/HP0002",
        codigo_pix=None,
    )
    f.matricula(banco, maria, p, origem="zap_terceiriza", transacao_id="HP0001")
    t = f.template(banco, "boas_vindas_excel", p)
    f.mensagem(banco, maria, t, ha_dias=3, status="read")
    f.mensagem(banco, maria, t, ha_dias=1, status="delivered")
    f.mensagem(banco, turma["joao"], t, ha_dias=0)
    with UnidadeDeTrabalho() as uow:
        perfil = alunos.perfil(uow.session, aluno_id=maria)
        assert alunos.perfil(uow.session, aluno_id=uuid.uuid4()) is None
    assert perfil.aluno.ltv_total == Decimal("1234.56")
    assert perfil.aluno.celular == "5511987654321"
    assert [t.id for t in perfil.transacoes] == ["HP0002", "HP0001"]
    boleto, compra = perfil.transacoes
    assert boleto.link_boleto == "https://pay.hotmart.com/boleto/HP0002"
    assert (compra.produto, compra.oferta, compra.valor_pago) == (
        "Curso de Excel",
        "Anual",
        Decimal("997.00"),
    )
    assert compra.origem_src == "instagram"
    assert [(m.produto, m.status_acesso, m.origem_primeiro_acesso) for m in perfil.matriculas] == [
        ("Curso de Excel", "ATIVO", "zap_terceiriza")
    ]
    assert [(m.template, m.status_entrega) for m in perfil.mensagens] == [
        ("boas_vindas_excel", "delivered"),
        ("boas_vindas_excel", "read"),
    ]


def test_messages_are_limited_to_the_newest_100(banco, turma):
    t = f.template(banco, "lembrete")
    with banco.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO logs_disparo (aluno_id, template_id, status_entrega, data_envio) "
            f"SELECT '{turma['joao']}', {t}, 'sent', now() - g * interval '1 hour' "
            "FROM generate_series(1, 130) g"
        )
    with UnidadeDeTrabalho() as uow:
        mensagens = alunos.mensagens_do_aluno(uow.session, aluno_id=turma["joao"])
    assert len(mensagens) == 100
    assert mensagens[0].data_envio > mensagens[-1].data_envio


def test_progress_per_product_percent_last_lesson_and_days_since(banco):
    dados = f.curso_com_funil(banco)
    a11, a12, a21, _ = dados["aulas"]
    aluno = f.aluno(banco, "Bia", "bia@x.com")
    mat = f.matricula(banco, aluno, dados["produto"])
    f.concluir(banco, mat, a11, ha_dias=10)
    f.concluir(banco, mat, a21, ha_dias=5)  # latest completion, though earlier in the course
    f.concluir(banco, mat, a12, ha_dias=8)
    vazio = f.produto(banco, "Zeta sem aulas")  # a second product, without lessons
    f.matricula(banco, aluno, vazio)
    with UnidadeDeTrabalho() as uow:
        progresso = alunos.progresso_do_aluno(uow.session, aluno_id=aluno)
    assert [p.produto for p in progresso] == ["Curso de Excel", "Zeta sem aulas"]
    excel, zeta = progresso
    assert (excel.aulas_total, excel.aulas_concluidas, excel.percentual) == (4, 3, Decimal("75.0"))
    assert excel.ultima_aula == "PROCV"
    assert excel.dias_desde_ultima == 5
    assert (zeta.aulas_total, zeta.aulas_concluidas, zeta.percentual) == (0, 0, Decimal(0))
    assert zeta.ultima_aula is None and zeta.dias_desde_ultima is None


def test_progress_rounds_to_one_decimal(banco):
    p = f.produto(banco, "Curso")
    m = f.modulo(banco, p, "M", 1)
    aulas_ = [f.aula(banco, m, f"A{i}", i) for i in range(3)]
    aluno = f.aluno(banco, "Caio", "caio@x.com")
    mat = f.matricula(banco, aluno, p)
    f.concluir(banco, mat, aulas_[0])
    with UnidadeDeTrabalho() as uow:
        (progresso,) = alunos.progresso_do_aluno(uow.session, aluno_id=aluno)
    assert progresso.percentual == Decimal("33.3")
    assert progresso.dias_desde_ultima == 0


def _tags(aluno_id) -> list[str]:
    with UnidadeDeTrabalho() as uow:
        return [t.nome for t in alunos.tags_do_aluno(uow.session, aluno_id=aluno_id)]


def test_tags_add_and_remove_are_idempotent_and_audited(banco, turma):
    vip = f.tag(banco, "vip")
    risco = f.tag(banco, "churn_risk", "#B91C1C")
    maria = turma["maria"]
    with UnidadeDeTrabalho() as uow:
        assert alunos.adicionar_tag(uow.session, aluno_id=maria, tag_id=vip, usuario="cs1")
        assert not alunos.adicionar_tag(uow.session, aluno_id=maria, tag_id=vip, usuario="cs1")
        assert alunos.adicionar_tag(uow.session, aluno_id=maria, tag_id=risco, usuario="cs1")
        uow.commit()
    assert _tags(maria) == ["churn_risk", "vip"]
    assert _tags(turma["joao"]) == []
    with UnidadeDeTrabalho() as uow:
        assert alunos.remover_tag(uow.session, aluno_id=maria, tag_id=vip, usuario="cs1")
        assert not alunos.remover_tag(uow.session, aluno_id=maria, tag_id=vip, usuario="cs1")
        uow.commit()
    assert _tags(maria) == ["churn_risk"]
    assert f.contar(banco, "SELECT count(*) FROM auditoria WHERE acao = 'tag_adicionada'") == 2
    assert f.contar(banco, "SELECT count(*) FROM auditoria WHERE acao = 'tag_removida'") == 1


def test_tagging_an_unknown_student_or_tag_is_a_portuguese_error(banco, turma):
    vip = f.tag(banco, "vip")
    with UnidadeDeTrabalho() as uow:
        with pytest.raises(alunos.AlunoInvalido, match="Aluno não encontrado"):
            alunos.adicionar_tag(uow.session, aluno_id=uuid.uuid4(), tag_id=vip, usuario="x")
        with pytest.raises(alunos.AlunoInvalido, match="Tag não encontrada"):
            alunos.adicionar_tag(uow.session, aluno_id=turma["maria"], tag_id=999, usuario="x")


def test_create_catalogue_tag_validates_name_and_color(banco):
    with UnidadeDeTrabalho() as uow:
        criada = alunos.criar_tag(uow.session, nome="  Super Fã ", cor_hex="#0f766e", usuario="a")
        uow.commit()
    assert (criada.nome, criada.cor_hex) == ("Super Fã", "#0F766E")
    casos = [
        ("", "#000000", "vazio"),
        ("x" * 51, "#000000", "no máximo 50"),
        ("super fã", "#000000", "Já existe"),
        ("ok", "red", "#RRGGBB"),
        ("ok", "#12345", "#RRGGBB"),
        ("ok", "#1234567", "#RRGGBB"),
        ("linha\nnova", "#000000", "controle"),
    ]
    for nome, cor, erro in casos:
        with UnidadeDeTrabalho() as uow, pytest.raises(alunos.AlunoInvalido, match=erro):
            alunos.criar_tag(uow.session, nome=nome, cor_hex=cor, usuario="a")
    assert f.contar(banco, "SELECT count(*) FROM tags") == 1
    with UnidadeDeTrabalho() as uow:
        assert [t.nome for t in alunos.catalogo_tags(uow.session)] == ["Super Fã"]
