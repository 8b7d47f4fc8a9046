"""Health score on crafted students: every component's points computed by hand."""

from __future__ import annotations

import json

import pytest

from db.uow import UnidadeDeTrabalho
from services import consentimento, saude
from tests.fabrica_motor import Fabrica

CHAVES = [chave for chave, _, _ in saude.COMPONENTES]


@pytest.fixture
def fab(banco):
    f = Fabrica(banco)
    f.produto("Curso")  # 10 lessons, all released on day 0
    for i in range(1, 11):
        f.aula("Curso", f"Aula {i}")
    f.produto("Gotejado")  # 6 lessons released on days 0, 0, 7, 14, 30, 60
    for i, dias in enumerate((0, 0, 7, 14, 30, 60), start=1):
        f.aula("Gotejado", f"Gota {i}", dias=dias)
    return f


def _aluno_perfeito(fab, nome: str) -> None:
    """45 days in, 6 of 10 lessons (2 in the last 3 days), paid, guarantee over."""
    fab.aluno(nome)
    fab.matricula(nome, "Curso", dias=45)
    fab.transacao(nome, "Curso", "APPROVED", horas=45 * 24, garantia_dias=7)
    for i, dias in enumerate((40, 30, 25, 20, 3, 1), start=1):
        fab.concluir(nome, "Curso", f"Aula {i}", dias=dias)


def _saude(fab, nome: str, produto: str = "Curso") -> saude.Saude | None:
    with UnidadeDeTrabalho() as uow:
        return saude.pontuacao_matricula(uow.session, fab.ids[f"m:{nome}:{produto}"])


def _pontos(s: saude.Saude) -> dict[str, int]:
    return {c.chave: c.pontos for c in s.componentes}


def _detalhe(s: saude.Saude, chave: str) -> str:
    return next(c.detalhe for c in s.componentes if c.chave == chave)


def test_the_points_add_up_to_100_with_a_portuguese_label_each():
    assert sum(maximo for _, _, maximo in saude.COMPONENTES) == 100
    assert [rotulo for _, rotulo, _ in saude.COMPONENTES] == [
        "Primeiro acesso feito",
        "Aulas nos últimos 14 dias",
        "Dias desde a última aula",
        "Conclusão em dia com o esperado",
        "Pagamento em dia",
        "Garantia sem risco",
        "Consentimento ativo",
    ]


def test_a_perfect_student_scores_100(fab):
    _aluno_perfeito(fab, "Ana Perfeita")
    s = _saude(fab, "Ana Perfeita")
    # expected at 45 days: min(10 released, floor(10 × 45 / 90) = 5) = 5; 6 done
    assert s.score == 100
    assert _pontos(s) == {c: m for c, _, m in saude.COMPONENTES}
    assert s.produto == "Curso" and s.motivo_principal is None and not s.em_risco
    assert _detalhe(s, "aulas_recentes") == "2 aulas nos últimos 14 dias"
    assert _detalhe(s, "dias_sem_aula") == "última aula há 1 dia"
    assert _detalhe(s, "conclusao") == "6 aulas concluídas de 5 esperadas até agora (curso com 10)"


def test_no_first_access(fab):
    fab.aluno("Bia Sumida")
    fab.matricula("Bia Sumida", "Curso", dias=20, primeiro_acesso=False)
    s = _saude(fab, "Bia Sumida")
    esperado = {
        "primeiro_acesso": 0,
        "aulas_recentes": 0,
        "dias_sem_aula": 5,  # 20 days since the start: 15–30 days band
        "conclusao": 0,  # 0 of min(10, floor(10 × 20 / 90) = 2) expected
        "pagamento": 10,
        "garantia": 10,
        "consentimento": 10,
    }
    assert _pontos(s) == esperado and s.score == 35 and s.em_risco
    assert _detalhe(s, "primeiro_acesso") == "ainda não acessou o curso"
    assert _detalhe(s, "dias_sem_aula") == "nenhuma aula concluída; matrícula há 20 dias"
    assert s.motivo_principal == "ainda não acessou o curso"  # ties: the table's order


def test_no_lesson_in_the_last_14_days(fab):
    fab.aluno("Caio Parado")
    fab.matricula("Caio Parado", "Curso", dias=60)
    for i in (1, 2, 3):
        fab.concluir("Caio Parado", "Curso", f"Aula {i}", dias=20)
    s = _saude(fab, "Caio Parado")
    # expected min(10, floor(10 × 60 / 90) = 6) = 6, 3 done: 20 × 3 / 6 = 10
    assert _pontos(s) == {
        "primeiro_acesso": 15,
        "aulas_recentes": 0,
        "dias_sem_aula": 5,
        "conclusao": 10,
        "pagamento": 10,
        "garantia": 10,
        "consentimento": 10,
    }
    assert s.score == 60
    assert _detalhe(s, "dias_sem_aula") == "última aula há 20 dias"
    assert _detalhe(s, "aulas_recentes") == "nenhuma aula nos últimos 14 dias"


def test_overdue_payment(fab):
    _aluno_perfeito(fab, "Duda Devendo")
    fab.transacao("Duda Devendo", "Curso", "WAITING_PAYMENT", horas=5 * 24, link_boleto="L")
    s = _saude(fab, "Duda Devendo")
    assert s.score == 90 and _pontos(s)["pagamento"] == 0
    assert _detalhe(s, "pagamento").startswith("pagamento pendente desde ")

    _aluno_perfeito(fab, "Edu Recente")  # a boleto issued yesterday is not overdue yet
    fab.transacao("Edu Recente", "Curso", "WAITING_PAYMENT", horas=24, link_boleto="L")
    assert _saude(fab, "Edu Recente").score == 100

    _aluno_perfeito(fab, "Fabi Pagou")  # an old pending charge superseded by a later purchase
    fab.transacao("Fabi Pagou", "Curso", "WAITING_PAYMENT", horas=10 * 24, link_boleto="L")
    fab.transacao("Fabi Pagou", "Curso", "APPROVED", horas=48)
    assert _saude(fab, "Fabi Pagou").score == 100

    _aluno_perfeito(fab, "Gil Atrasado")  # the subscription itself is late
    fab.sql(
        "UPDATE matriculas SET status_assinatura = 'DELAYED' WHERE id = :m",
        m=fab.ids["m:Gil Atrasado:Curso"],
    )
    s = _saude(fab, "Gil Atrasado")
    assert s.score == 90 and _detalhe(s, "pagamento") == "assinatura em atraso (DELAYED)"


def test_open_guarantee_with_low_progress(fab):
    fab.aluno("Hugo Garantia")
    fab.matricula("Hugo Garantia", "Curso", dias=3)
    fab.transacao("Hugo Garantia", "Curso", "APPROVED", horas=72, garantia_dias=7)
    fab.concluir("Hugo Garantia", "Curso", "Aula 1", dias=0)
    s = _saude(fab, "Hugo Garantia")
    # 1 of 10 lessons = 10 % < 20 % with the guarantee open; nothing expected yet at 3 days
    assert _pontos(s) == {
        "primeiro_acesso": 15,
        "aulas_recentes": 10,
        "dias_sem_aula": 15,
        "conclusao": 20,
        "pagamento": 10,
        "garantia": 0,
        "consentimento": 10,
    }
    assert s.score == 80
    assert "com 10% do curso (abaixo de 20%)" in _detalhe(s, "garantia")
    assert s.motivo_principal.startswith("garantia até ")  # all of its points lost

    fab.concluir("Hugo Garantia", "Curso", "Aula 2", dias=0)  # 20 %: no longer a risk
    assert _saude(fab, "Hugo Garantia").score == 100


def test_revoked_consent_and_the_newest_ledger_row_wins(fab):
    _aluno_perfeito(fab, "Iris Saiu")
    with UnidadeDeTrabalho() as uow:
        consentimento.registrar(
            uow.session, aluno_ids=[fab.ids["Iris Saiu"]], concedido=False, origem="teste"
        )
        uow.commit()
    s = _saude(fab, "Iris Saiu")
    assert s.score == 90 and s.motivo_principal == "consentimento de WhatsApp revogado"
    with UnidadeDeTrabalho() as uow:
        consentimento.registrar(
            uow.session, aluno_ids=[fab.ids["Iris Saiu"]], concedido=True, origem="admin"
        )
        uow.commit()
    assert _saude(fab, "Iris Saiu").score == 100


def test_a_mix_on_a_dripped_course(fab):
    fab.aluno("Joana Mista")
    fab.matricula("Joana Mista", "Gotejado", dias=20)
    fab.concluir("Joana Mista", "Gotejado", "Gota 1", dias=15)
    fab.concluir("Joana Mista", "Gotejado", "Gota 2", dias=10)
    fab.transacao("Joana Mista", "Gotejado", "APPROVED", horas=20 * 24, garantia_dias=30)
    fab.transacao("Joana Mista", "Gotejado", "WAITING_PAYMENT", horas=4 * 24, link_boleto="L")
    with UnidadeDeTrabalho() as uow:
        consentimento.registrar(
            uow.session, aluno_ids=[fab.ids["Joana Mista"]], concedido=False, origem="teste"
        )
        uow.commit()
    s = _saude(fab, "Joana Mista", "Gotejado")
    # at 20 days the drip released 4 lessons (days 0, 0, 7, 14); expected min(4, floor(6 × 20 /
    # 90) = 1) = 1, 2 done → 20; 1 lesson in 14 days → 10; last lesson 10 days ago → 10; the
    # guarantee is open but 2/6 = 33 % ≥ 20 % → 10; a 4-day-old boleto → 0; revoked → 0
    assert _pontos(s) == {
        "primeiro_acesso": 15,
        "aulas_recentes": 10,
        "dias_sem_aula": 10,
        "conclusao": 20,
        "pagamento": 0,
        "garantia": 10,
        "consentimento": 0,
    }
    assert s.score == 65 and s.faixa == "61–80"
    assert _detalhe(s, "garantia").endswith("33,3% do curso concluído")


def test_caught_up_with_the_released_lessons_is_not_penalised(fab):
    fab.aluno("Kika Em Dia")
    fab.matricula("Kika Em Dia", "Gotejado", dias=29)  # released: Gotas 1–4 (days 0, 0, 7, 14)
    for i, dias in ((1, 25), (2, 25), (3, 20), (4, 15)):
        fab.concluir("Kika Em Dia", "Gotejado", f"Gota {i}", dias=dias)
    s = _saude(fab, "Kika Em Dia", "Gotejado")
    assert s.score == 100
    assert _detalhe(s, "aulas_recentes") == "todas as aulas liberadas já concluídas"
    assert _detalhe(s, "dias_sem_aula") == (
        "última aula há 15 dias (todas as aulas liberadas já concluídas)"
    )
    fab.aula("Gotejado", "Gota nova", dias=5)  # a released lesson she has not done
    s = _saude(fab, "Kika Em Dia", "Gotejado")
    # expected min(5, floor(7 × 29 / 90) = 2) = 2, 4 done → 20; no lesson in 14 days → 0;
    # 15 days since the last one → 5
    assert _pontos(s)["aulas_recentes"] == 0 and _pontos(s)["dias_sem_aula"] == 5
    assert s.score == 70


def test_only_active_enrolments_are_scored(fab):
    fab.aluno("Leo Bloqueado")
    fab.matricula("Leo Bloqueado", "Curso", status="BLOQUEADO")
    fab.matricula("Leo Bloqueado", "Gotejado", dias=1)
    assert _saude(fab, "Leo Bloqueado", "Curso") is None
    with UnidadeDeTrabalho() as uow:
        do_aluno = saude.saude_do_aluno(uow.session, fab.ids["Leo Bloqueado"])
        assert saude.pontuacao_matricula(uow.session, fab.ids["Curso"]) is None  # not an enrolment
    assert [s.produto for s in do_aluno] == ["Gotejado"]
    assert [c.chave for c in do_aluno[0].componentes] == CHAVES


def test_distribution_and_the_at_risk_list(fab):
    _aluno_perfeito(fab, "Ana Perfeita")  # 100
    fab.aluno("Bia Sumida")
    fab.matricula("Bia Sumida", "Curso", dias=20, primeiro_acesso=False)  # 35
    fab.aluno("Caio Nunca")
    fab.matricula("Caio Nunca", "Curso", dias=60, primeiro_acesso=False)  # 0+0+0+0+30 = 30
    fab.aluno("Dani Drip")
    fab.matricula("Dani Drip", "Gotejado", dias=40, primeiro_acesso=False)
    # 40 days: 0+0+0+ (expected min(5, floor(6 × 40 / 90) = 2) = 2, none done) 0 + 30 = 30
    fab.aluno("Eva Fora")
    fab.matricula("Eva Fora", "Curso", status="EXPIRADO", primeiro_acesso=False)
    with UnidadeDeTrabalho() as uow:
        todos = saude.distribuicao(uow.session)
        so_curso = saude.distribuicao(uow.session, produto_ids=(fab.ids["Curso"],))
        risco = saude.em_risco(uow.session)
        um = saude.em_risco(uow.session, quantidade=1)
        ate_30 = saude.em_risco(uow.session, limite=30, produto_ids=[fab.ids["Gotejado"]])
        junto = saude.painel(uow.session, quantidade=2)
    assert todos == [("0–20", 0), ("21–40", 3), ("41–60", 0), ("61–80", 0), ("81–100", 1)]
    assert so_curso == [("0–20", 0), ("21–40", 2), ("41–60", 0), ("61–80", 0), ("81–100", 1)]
    assert [(r.aluno, r.produto, r.score) for r in risco] == [
        ("Caio Nunca", "Curso", 30),
        ("Dani Drip", "Gotejado", 30),
        ("Bia Sumida", "Curso", 35),
    ]
    assert risco[0].motivo == "ainda não acessou o curso"
    assert len(um) == 1 and um[0].score == 30
    assert [r.aluno for r in ate_30] == ["Dani Drip"]
    assert (junto.faixas, junto.total, junto.total_em_risco) == (todos, 4, 3)
    assert junto.em_risco == risco[:2]


def test_bad_inputs_are_refused_in_portuguese(fab):
    with UnidadeDeTrabalho() as uow:
        with pytest.raises(saude.SaudeInvalida, match="entre 0 e 100"):
            saude.em_risco(uow.session, limite=101)
        with pytest.raises(saude.SaudeInvalida, match="a partir de 1"):
            saude.painel(uow.session, quantidade=0)
        with pytest.raises(saude.SaudeInvalida, match="identificador inválido"):
            saude.distribuicao(uow.session, produto_ids=["não-é-uuid"])
        assert saude.distribuicao(uow.session) == [(f, 0) for f, _, _ in saude.FAIXAS]
        assert saude.em_risco(uow.session) == []
        assert saude.painel(uow.session).total == 0


def _painel_home(produto_ids: tuple = ()):
    from streamlit.testing.v1 import AppTest

    script = (
        "import uuid\n"
        "from ui import painel_saude\n"
        f"painel_saude.desenhar(tuple(uuid.UUID(p) for p in {[str(p) for p in produto_ids]!r}))\n"
    )
    return AppTest.from_string(script, default_timeout=30).run()


def test_home_panel_draws_the_distribution_and_the_at_risk_table(fab):
    at = _painel_home()
    assert not at.exception
    assert "Nenhuma matrícula ativa para pontuar ainda" in at.info[0].value

    _aluno_perfeito(fab, "Ana Perfeita")  # 100
    fab.aluno("Bia Sumida")
    fab.matricula("Bia Sumida", "Curso", dias=20, primeiro_acesso=False)  # 35
    fab.aluno("Dani Drip")
    fab.matricula("Dani Drip", "Gotejado", dias=40, primeiro_acesso=False)  # 30
    at = _painel_home()
    assert not at.exception
    grafico = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert grafico["layout"]["title"]["text"] == "Distribuição do score de saúde"
    assert grafico["layout"]["xaxis"]["title"]["text"] == "Faixa de score"
    assert grafico["data"][0]["x"] == ["0–20", "21–40", "41–60", "61–80", "81–100"]
    assert grafico["data"][0]["y"] == [0, 2, 0, 0, 1]
    tabela = at.dataframe[0].value
    assert tabela[["Aluno", "Produto", "Score"]].values.tolist() == [
        ["Dani Drip", "Gotejado", 30],
        ["Bia Sumida", "Curso", 35],
    ]
    assert tabela.iloc[0]["Motivo principal"] == "ainda não acessou o curso"
    assert "Alunos em risco** — 2 matrícula(s)" in " ".join(m.value for m in at.markdown)
    assert len(at.get("download_button")) == 1

    at = _painel_home((fab.ids["Curso"],))  # the products chosen on Home
    assert json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]["y"] == [0, 1, 0, 0, 1]
    assert list(at.dataframe[0].value["Aluno"]) == ["Bia Sumida"]


def test_home_panel_says_when_nobody_is_at_risk(fab):
    _aluno_perfeito(fab, "Ana Perfeita")
    at = _painel_home()
    assert not at.exception
    assert "Nenhum aluno em risco" in at.success[0].value
    assert len(at.dataframe) == 0


def _cenario_misto(fab) -> None:
    _aluno_perfeito(fab, "Ana Perfeita")  # 100
    fab.aluno("Bia Sumida")
    fab.matricula("Bia Sumida", "Curso", dias=20, primeiro_acesso=False)  # 35
    fab.aluno("Dani Drip")
    fab.matricula("Dani Drip", "Gotejado", dias=40, primeiro_acesso=False)  # 30


def test_home_reads_the_snapshot_once_a_job_computed_it(fab, banco):
    from services import saude_instantaneo

    _cenario_misto(fab)
    with UnidadeDeTrabalho() as uow:
        ao_vivo = saude.painel(uow.session)
    assert ao_vivo.calculado_em is None  # no snapshot yet: scored live
    job = saude_instantaneo.executar_atualizacao(iniciado_por="teste")
    assert job.status == "concluido"
    assert job.resultado == {"pontuadas": 3, "alteradas": 3, "removidas": 0}
    with UnidadeDeTrabalho() as uow:
        instantaneo = saude.painel(uow.session)
    assert instantaneo.calculado_em == job.terminado_em
    assert (instantaneo.faixas, instantaneo.total_em_risco) == (
        ao_vivo.faixas,
        ao_vivo.total_em_risco,
    )
    assert [r.aluno for r in instantaneo.em_risco] == ["Dani Drip", "Bia Sumida"]

    # A new at-risk student and an expired one: Home keeps the snapshot until the next job.
    fab.aluno("Caio Nunca")
    fab.matricula("Caio Nunca", "Curso", dias=60, primeiro_acesso=False)  # 30
    fab.sql(
        "UPDATE matriculas SET status_acesso = 'EXPIRADO' WHERE id = :m",
        m=fab.ids["m:Ana Perfeita:Curso"],
    )
    with UnidadeDeTrabalho() as uow:
        assert saude.distribuicao(uow.session) == ao_vivo.faixas
    job = saude_instantaneo.executar_atualizacao(iniciado_por="teste")
    assert job.resultado == {"pontuadas": 3, "alteradas": 1, "removidas": 1}
    with UnidadeDeTrabalho() as uow:
        depois = saude.painel(uow.session)
        so_gotejado = saude.em_risco(uow.session, produto_ids=[fab.ids["Gotejado"]])
    assert depois.faixas == [("0–20", 0), ("21–40", 3), ("41–60", 0), ("61–80", 0), ("81–100", 0)]
    assert [r.aluno for r in depois.em_risco] == ["Caio Nunca", "Dani Drip", "Bia Sumida"]
    assert [r.aluno for r in so_gotejado] == ["Dani Drip"]
    # A second refresh right away changes nothing; the rules job skips a fresh snapshot.
    assert saude_instantaneo.executar_atualizacao(iniciado_por="teste").resultado == {
        "pontuadas": 3,
        "alteradas": 0,
        "removidas": 0,
    }
    assert saude_instantaneo.atualizar_se_antigo(iniciado_por="teste") is False
    assert saude_instantaneo.atualizar_se_antigo(iniciado_por="teste", idade_maxima_min=None)


def test_home_panel_says_when_the_snapshot_was_computed(fab):
    from services import saude_instantaneo

    _cenario_misto(fab)
    at = _painel_home()
    assert not any("Calculado em" in c.value for c in at.caption)
    job = saude_instantaneo.executar_atualizacao(iniciado_por="teste")
    at = _painel_home()
    assert not at.exception
    quando = job.terminado_em.astimezone(saude.FUSO).strftime("%d/%m/%Y %H:%M")
    assert any(f"Calculado em {quando}" in c.value for c in at.caption)


def test_the_cli_and_the_rules_job_refresh_the_snapshot(fab, banco):
    from sqlalchemy import text

    from services import cli, regras

    _cenario_misto(fab)
    assert cli.main(["saude"]) == 0
    regras.executar_avaliacao(iniciado_por="cron")  # fresh snapshot: not recomputed
    with banco.connect() as conn:
        tipos = conn.execute(text("SELECT tipo FROM jobs ORDER BY id")).scalars().all()
        linhas = conn.execute(text("SELECT count(*) FROM saude_instantaneo")).scalar()
    assert tipos == ["saude", "regras"] and linhas == 3
    banco_antigo = "UPDATE jobs SET terminado_em = now() - interval '2 hours' WHERE tipo = 'saude'"
    fab.sql(banco_antigo)
    regras.executar_avaliacao(iniciado_por="cron")
    with banco.connect() as conn:
        tipos = conn.execute(text("SELECT tipo FROM jobs ORDER BY id")).scalars().all()
    assert tipos == ["saude", "regras", "regras", "saude"]
