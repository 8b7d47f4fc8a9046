"""services.logs against the real PostgreSQL: funnel, failures, read rates, filters, bounds."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from db.uow import UnidadeDeTrabalho
from services import logs
from tests import fabrica_logs as fl
from tests.fabrica_logs import FIM, INICIO


@pytest.fixture
def dados(banco):
    return fl.conjunto(banco)


def _filtro(**extra) -> logs.FiltroLogs:
    return logs.FiltroLogs(inicio=INICIO, fim=FIM, **extra)


def _ids(filtro: logs.FiltroLogs, **kw) -> list[int]:
    with UnidadeDeTrabalho() as uow:
        return [m.id for m in logs.listar_mensagens(uow.session, filtro, **kw).mensagens]


def test_funnel_counts_from_the_per_status_times(dados):
    with UnidadeDeTrabalho() as uow:
        funil = logs.funil(uow.session, _filtro())
    # A read message without a delivered time counts as delivered (and sent); a failure
    # followed by delivered is not a failure; a legacy row counts by its status_entrega.
    assert funil == logs.Funil(
        disparadas=11, enviadas=8, entregues=5, lidas=3, falhas=3, aguardando=1
    )


def test_failures_are_broken_down_by_meta_error_code(dados):
    with UnidadeDeTrabalho() as uow:
        falhas = logs.falhas_por_codigo(uow.session, _filtro())
    assert falhas == [
        logs.FalhaPorCodigo(131026, "Message undeliverable", 2),
        logs.FalhaPorCodigo(131049, "Meta chose not to deliver", 1),
    ]


def test_read_rate_per_template_is_read_over_delivered(dados):
    with UnidadeDeTrabalho() as uow:
        leitura = logs.leitura_por_template(uow.session, _filtro())
    resumo = [(t.template, t.disparadas, t.entregues, t.lidas, t.taxa_leitura) for t in leitura]
    assert resumo == [
        ("boas_vindas (pt_BR)", 5, 4, 3, Decimal("75.0")),
        ("lembrete_aula (pt_BR)", 4, 1, 0, Decimal("0.0")),
        ("oferta_mentoria (pt_BR)", 2, 0, 0, None),
    ]
    assert leitura[0].template_id == dados["templates"]["boas_vindas"]


def test_period_is_a_range_of_sao_paulo_calendar_days(dados):
    m = dados["mensagens"]
    ids = _ids(_filtro())
    assert len(ids) == 11
    assert ids[0] == m["ultima_hora"]  # 07/11 23:00 in São Paulo, newest first
    assert not set(dados["fora"]) & set(ids)
    with UnidadeDeTrabalho() as uow:
        um_dia = logs.funil(uow.session, logs.FiltroLogs(inicio=FIM, fim=FIM))
        antes = logs.funil(uow.session, logs.FiltroLogs(inicio=date(2026, 10, 31), fim=INICIO))
    assert um_dia.disparadas == 1
    assert antes.disparadas == 1  # the 31/10 23:30 message only


def test_table_rows_carry_the_status_times_text_and_product(dados):
    m = dados["mensagens"]
    with UnidadeDeTrabalho() as uow:
        pagina = logs.listar_mensagens(uow.session, _filtro())
    por_id = {x.id: x for x in pagina.mensagens}
    lida = por_id[m["lida_sem_entregue"]]
    assert (lida.estado, lida.entregue_em, lida.lido_em is not None) == ("read", None, True)
    assert lida.aluno == "João Silva" and lida.telefone == "5521998765432"
    assert lida.template == "boas_vindas (pt_BR)" and lida.produto == "Curso de Excel"
    primeira = por_id[m["lida"]]
    assert primeira.texto_renderizado == "Olá Maria, bem-vinda ao <b>Curso de Excel</b>!"
    falhou = por_id[m["falhou"]]
    assert (falhou.estado, falhou.erro_codigo, falhou.erro_titulo) == (
        "failed",
        131026,
        "Message undeliverable",
    )
    assert por_id[m["falhou_e_entregou"]].estado == "delivered"
    assert por_id[m["lida_antiga"]].estado == "read"
    assert por_id[m["aceita"]].estado == "accepted"
    assert por_id[m["aceita"]].produto == "Mentoria"  # from its template
    assert pagina.total == 11


@pytest.mark.parametrize(
    ("status", "chaves"),
    [
        (("failed",), {"falhou", "falhou_depois_de_sair", "falhou_mentoria"}),
        (("accepted",), {"aceita"}),
        (("sent",), {"enviada", "ultima_hora"}),
        (
            ("read", "delivered"),
            {"lida", "lida_sem_entregue", "lida_antiga", "entregue", "falhou_e_entregou"},
        ),
    ],
)
def test_status_filter_uses_the_current_state(dados, status, chaves):
    m = dados["mensagens"]
    assert set(_ids(_filtro(status=status))) == {m[c] for c in chaves}


def test_status_filter_does_not_cut_the_funnel(dados):
    with UnidadeDeTrabalho() as uow:
        funil = logs.funil(uow.session, _filtro(status=("failed",)))
    assert funil.disparadas == 11


def test_template_product_and_student_filters(dados):
    m, t, p = dados["mensagens"], dados["templates"], dados["produtos"]
    assert len(_ids(_filtro(template_id=t["lembrete_aula"]))) == 4
    assert set(_ids(_filtro(produto_id=p["mentoria"]))) == {m["falhou_mentoria"], m["aceita"]}
    assert len(_ids(_filtro(produto_id=p["excel"]))) == 9
    # accent- and case-insensitive name, part of the e-mail
    joao = {m["lida_sem_entregue"], m["falhou_depois_de_sair"], m["aceita"]}
    assert set(_ids(_filtro(aluno="joao"))) == joao
    maria = {m["lida"], m["enviada"], m["falhou_mentoria"], m["ultima_hora"]}
    assert set(_ids(_filtro(aluno="MARIA@exemplo"))) == maria
    with UnidadeDeTrabalho() as uow:
        funil = logs.funil(uow.session, _filtro(template_id=t["boas_vindas"], aluno="ana"))
    assert (funil.disparadas, funil.entregues, funil.lidas) == (2, 2, 1)


@pytest.mark.parametrize("termo", ["' OR '1'='1", "%", "_", "\\", "[a-z]*", "<script>"])
def test_hostile_student_terms_match_nothing(dados, termo):
    assert _ids(_filtro(aluno=termo)) == []


def test_table_is_bounded_and_reports_the_total(dados):
    with UnidadeDeTrabalho() as uow:
        pagina = logs.listar_mensagens(uow.session, _filtro(), limite=3)
    assert len(pagina.mensagens) == 3 and pagina.total == 11
    assert pagina.mensagens[0].id == dados["mensagens"]["ultima_hora"]


def test_empty_period_gives_zeros(dados):
    filtro = logs.FiltroLogs(inicio=date(2025, 1, 1), fim=date(2025, 1, 7))
    with UnidadeDeTrabalho() as uow:
        assert logs.funil(uow.session, filtro) == logs.Funil(0, 0, 0, 0, 0, 0)
        assert logs.listar_mensagens(uow.session, filtro) == logs.PaginaMensagens([], 0)
        assert logs.falhas_por_codigo(uow.session, filtro) == []
        assert logs.leitura_por_template(uow.session, filtro) == []


@pytest.mark.parametrize(
    ("filtro", "erro"),
    [
        (logs.FiltroLogs(inicio=FIM, fim=INICIO), "data inicial"),
        (logs.FiltroLogs(inicio=date(2024, 1, 1), fim=FIM), "no máximo 366 dias"),
        (logs.FiltroLogs(inicio=INICIO, fim=FIM, status=("lido",)), "Status desconhecido"),
        (logs.FiltroLogs(inicio=INICIO, fim=FIM, aluno="x" * 201), "no máximo 200"),
    ],
)
def test_bad_filters_are_refused_in_portuguese(banco, filtro, erro):
    with UnidadeDeTrabalho() as uow, pytest.raises(logs.FiltroInvalido, match=erro):
        logs.funil(uow.session, filtro)


def test_default_period_is_the_last_seven_sao_paulo_days():
    # 01:00 UTC on 07/11 is still 06/11 in São Paulo.
    agora = datetime(2026, 11, 7, 1, 0, tzinfo=UTC)
    assert logs.periodo_padrao(agora) == (date(2026, 10, 31), date(2026, 11, 6))


def test_filter_options_list_templates_and_products(dados):
    with UnidadeDeTrabalho() as uow:
        opcoes = logs.opcoes_filtro(uow.session)
    assert [o.rotulo for o in opcoes.templates] == [
        "boas_vindas (pt_BR)",
        "lembrete_aula (pt_BR)",
        "oferta_mentoria (pt_BR)",
    ]
    assert [o.rotulo for o in opcoes.produtos] == ["Curso de Excel", "Mentoria"]
