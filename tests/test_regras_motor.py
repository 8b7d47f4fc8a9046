"""The automation engine on crafted data: who each trigger takes, who it leaves out and why."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from db.uow import UnidadeDeTrabalho
from services import consentimento, fila, regras, saude
from services.regras_condicoes import CondicaoInvalida
from tests.fabrica_motor import Fabrica

MAPA = {
    "1": {"campo": "primeiro_nome", "padrao": "aluno(a)"},
    "2": {"campo": "valor", "padrao": ""},
    "3": {"campo": "link_boleto", "padrao": "(link indisponível)"},
}
GERAL = {
    "1": {"campo": "primeiro_nome", "padrao": ""},
    "2": {"campo": "produto", "padrao": ""},
    "3": {"campo": "progresso", "padrao": ""},
}


@pytest.fixture
def fab(banco):
    f = Fabrica(banco)
    f.produto("Curso")
    f.produto("Outro", monitorado=False)
    f.template()
    return f


def _prever(gatilho, condicao=None, mapeamento=None, template="cobranca", fab=None):
    padrao = MAPA if gatilho == "boleto_pendente" else GERAL
    with UnidadeDeTrabalho() as uow:
        return regras.prever(
            uow.session,
            gatilho=gatilho,
            condicao=condicao or {},
            template_id=fab.ids[template],
            mapeamento=mapeamento or padrao,
        )


def _nomes(previa):
    return sorted(e["aluno"] for e in previa.exemplos)


def _excluidos(previa):
    return {e["aluno"]: e["motivo"] for e in previa.excluidos}


def test_boleto_pendente_takes_the_unpaid_in_the_window_and_says_why_others_are_out(fab):
    for nome in ("Ana Souza", "Bia Lima", "Caio Reis", "Duda Melo", "Fabi Rocha"):
        fab.aluno(nome)
    fab.aluno("Edu Sem", celular=None)
    link = "https://pay.hotmart.com/boleto/1"
    fab.transacao("Ana Souza", "Curso", "WAITING_PAYMENT", horas=20, link_boleto=link)
    fab.transacao("Bia Lima", "Curso", "WAITING_PAYMENT", horas=2, link_boleto=link)  # too new
    fab.transacao("Caio Reis", "Curso", "WAITING_PAYMENT", horas=200, link_boleto=link)  # expired
    fab.transacao("Duda Melo", "Curso", "WAITING_PAYMENT", horas=20, link_boleto=link)
    fab.transacao("Edu Sem", "Curso", "WAITING_PAYMENT", horas=20, link_boleto=link)
    fab.transacao("Fabi Rocha", "Outro", "WAITING_PAYMENT", horas=20, link_boleto=link)
    with UnidadeDeTrabalho() as uow:
        consentimento.registrar(
            uow.session, aluno_ids=[fab.ids["Duda Melo"]], concedido=False, origem="teste"
        )
        uow.commit()
    previa = _prever("boleto_pendente", fab=fab)
    assert previa.total == 3 and previa.elegiveis == 1
    assert _nomes(previa) == ["Ana Souza"]
    assert previa.exemplos[0]["texto"] == f"Oi Ana, seu pagamento de R$ 197,00 está em {link}"
    assert _excluidos(previa) == {"Duda Melo": "sem consentimento", "Edu Sem": "sem celular"}


def test_pix_pendente_uses_the_pix_code(fab):
    fab.aluno("Gabi Dias")
    fab.transacao("Gabi Dias", "Curso", "WAITING_PAYMENT", horas=5, codigo_pix="00020101PIX")
    mapa = {**GERAL, "3": {"campo": "codigo_pix", "padrao": ""}}
    previa = _prever("pix_pendente", mapeamento=mapa, fab=fab)
    assert _nomes(previa) == ["Gabi Dias"] and previa.exemplos[0]["texto"].endswith("00020101PIX")


def test_compra_aprovada_and_its_window(fab):
    fab.aluno("Hugo Alves")
    fab.aluno("Iris Luz")
    fab.transacao("Hugo Alves", "Curso", "APPROVED", horas=2)
    fab.transacao("Iris Luz", "Curso", "APPROVED", horas=50)
    previa = _prever("compra_aprovada", {"janela_horas": 24}, fab=fab)
    assert _nomes(previa) == ["Hugo Alves"]


def test_sem_primeiro_acesso(fab):
    fab.aluno("Joao Pe")
    fab.aluno("Kika Lu")
    fab.matricula("Joao Pe", "Curso", dias=5, primeiro_acesso=False)
    fab.matricula("Kika Lu", "Curso", dias=5, primeiro_acesso=True)
    assert _nomes(_prever("sem_primeiro_acesso", {"dias": 3}, fab=fab)) == ["Joao Pe"]


def test_progresso_estagnado_with_module_and_progress_ceiling(fab):
    fab.aula("Curso", "Aula 1")
    fab.aula("Curso", "Aula 2")
    fab.aula("Curso", "Aula 3", modulo="Módulo 2")
    for nome in ("Lia Parada", "Max Ativo", "Nina Final"):
        fab.aluno(nome)
        fab.matricula(nome, "Curso", dias=60)
    fab.concluir("Lia Parada", "Curso", "Aula 1", dias=10)
    fab.concluir("Max Ativo", "Curso", "Aula 1", dias=1)
    for aula in ("Aula 1", "Aula 2", "Aula 3"):
        fab.concluir("Nina Final", "Curso", aula, dias=10)
    mapa = {
        "1": {"campo": "primeiro_nome", "padrao": ""},
        "2": {"campo": "aula", "padrao": ""},
        "3": {"campo": "progresso", "padrao": ""},
    }
    previa = _prever(
        "progresso_estagnado", {"dias_sem_acesso": 7, "progresso_max": 90}, mapa, fab=fab
    )
    assert _nomes(previa) == ["Lia Parada"]
    assert previa.exemplos[0]["texto"] == "Oi Lia, seu pagamento de Aula 1 está em 33%"
    modulo2 = fab.sql("SELECT id FROM modulos WHERE nome = 'Módulo 2'")
    assert (
        _prever(
            "progresso_estagnado", {"dias_sem_acesso": 7, "modulo_id": str(modulo2)}, mapa, fab=fab
        ).elegiveis
        == 1
    )  # Nina stopped in module 2 (at 100%)


def test_aula_liberada_today_by_drip_days(fab):
    fab.aula("Curso", "Aula bonus", dias=7)
    hoje_sp = datetime.now(ZoneInfo("America/Sao_Paulo")).replace(hour=12, minute=0)
    fab.aluno("Olga Hoje")
    fab.aluno("Paulo Ontem")
    fab.matricula("Olga Hoje", "Curso", inicio=hoje_sp - timedelta(days=7))
    fab.matricula("Paulo Ontem", "Curso", inicio=hoje_sp - timedelta(days=8))
    assert _nomes(_prever("aula_liberada", fab=fab)) == ["Olga Hoje"]


def test_risco_reembolso_and_renovacao_proxima(fab):
    fab.aula("Curso", "Aula 1")
    fab.aluno("Rita Risco")
    fab.aluno("Sara Segura")
    fab.matricula("Rita Risco", "Curso", dias=5)
    fab.matricula("Sara Segura", "Curso", dias=5)
    fab.concluir("Sara Segura", "Curso", "Aula 1", dias=1)
    fab.transacao("Rita Risco", "Curso", "APPROVED", horas=120, garantia_dias=7)
    fab.transacao("Sara Segura", "Curso", "APPROVED", horas=120, garantia_dias=7)
    assert _nomes(_prever("risco_reembolso", {"dias": 3, "progresso_max": 20}, fab=fab)) == [
        "Rita Risco"
    ]
    fab.aluno("Teo Renova")
    fab.matricula("Teo Renova", "Outro", renovacao_dias=2, assinatura="ACTIVE")
    fab.aluno("Ugo Renova")
    fab.matricula("Ugo Renova", "Curso", renovacao_dias=2, assinatura="ACTIVE")
    assert _nomes(_prever("renovacao_proxima", {"dias": 3}, fab=fab)) == ["Ugo Renova"]


def test_aniversario_compra_every_n_months(fab):
    hoje_sp = datetime.now(ZoneInfo("America/Sao_Paulo")).replace(hour=12, minute=0)
    fab.aluno("Vera Ano")
    fab.aluno("Wal Quase")
    fab.matricula("Vera Ano", "Curso", inicio=hoje_sp.replace(year=hoje_sp.year - 1))
    fab.matricula(
        "Wal Quase", "Curso", inicio=hoje_sp.replace(year=hoje_sp.year - 1) + timedelta(days=1)
    )
    assert _nomes(_prever("aniversario_compra", {"meses": 12}, fab=fab)) == ["Vera Ano"]


def test_carrinho_abandonado_until_the_purchase(fab):
    fab.aluno("Xico Carrinho")
    fab.sql(
        "INSERT INTO carrinhos_abandonados (produto_id, aluno_id, email, criado_em) "
        "VALUES (:p, :a, 'x@ex.com', now() - interval '3 hours')",
        p=fab.ids["Curso"],
        a=fab.ids["Xico Carrinho"],
    )
    assert _nomes(_prever("carrinho_abandonado", fab=fab)) == ["Xico Carrinho"]
    fab.transacao("Xico Carrinho", "Curso", "APPROVED", horas=1)
    assert _prever("carrinho_abandonado", fab=fab).total == 0


def test_filters_tags_ltv_and_template_product(fab):
    fab.aluno("Ana Vip")
    fab.aluno("Bea Comum")
    for nome in ("Ana Vip", "Bea Comum"):
        fab.transacao(nome, "Curso", "WAITING_PAYMENT", horas=20, link_boleto="l")
    tag = fab.sql("INSERT INTO tags (nome) VALUES ('vip') RETURNING id")
    fab.sql("INSERT INTO alunos_tags VALUES (:a, :t)", a=fab.ids["Ana Vip"], t=tag)
    fab.sql("UPDATE alunos SET ltv_total = 5000 WHERE nome = 'Ana Vip'")
    assert _nomes(_prever("boleto_pendente", {"filtros": {"tags_incluir": [tag]}}, fab=fab)) == [
        "Ana Vip"
    ]
    assert _nomes(_prever("boleto_pendente", {"filtros": {"tags_excluir": [tag]}}, fab=fab)) == [
        "Bea Comum"
    ]
    assert _nomes(_prever("boleto_pendente", {"filtros": {"ltv_min": 1000}}, fab=fab)) == [
        "Ana Vip"
    ]
    fab.template("de_outro", produto="Outro")
    previa = _prever("boleto_pendente", template="de_outro", fab=fab)
    assert set(_excluidos(previa).values()) == {"template de outro produto"}


def test_health_score_filter_takes_the_candidates_in_the_score_range(fab):
    for i in range(1, 10):
        fab.aula("Curso", f"Aula {i}")
    fab.aluno("Ana Sumida")
    fab.aluno("Bia Nova")
    fab.aluno("Caio Bloqueado")
    # 20 days, no access, 0 of floor(9 × 20 / 90) = 2 expected: 0 + 0 + 5 + 0 + 10 + 10 + 10
    fab.matricula("Ana Sumida", "Curso", dias=20, primeiro_acesso=False)
    # 5 days, no access, nothing expected yet: 0 + 0 + 15 + 20 + 10 + 10 + 10
    fab.matricula("Bia Nova", "Curso", dias=5, primeiro_acesso=False)
    fab.matricula("Caio Bloqueado", "Curso", dias=20, primeiro_acesso=False, status="BLOQUEADO")
    with UnidadeDeTrabalho() as uow:
        scores = [
            saude.pontuacao_matricula(uow.session, fab.ids[f"m:{nome}:Curso"]).score
            for nome in ("Ana Sumida", "Bia Nova")
        ]
    assert scores == [35, 65]

    def nomes(**filtros):
        condicao = {"dias": 3, "filtros": filtros}
        return _nomes(_prever("sem_primeiro_acesso", condicao, fab=fab))

    assert nomes() == ["Ana Sumida", "Bia Nova"]  # BLOQUEADO is not in this trigger
    assert nomes(saude_max=40) == ["Ana Sumida"]
    assert nomes(saude_min=41) == ["Bia Nova"]
    assert nomes(saude_min=35, saude_max=65) == ["Ana Sumida", "Bia Nova"]
    assert nomes(saude_min=36, saude_max=64) == []


def test_health_score_filter_leaves_out_candidates_without_an_active_enrolment(fab):
    fab.aluno("Duda Matriculada")
    fab.aluno("Edu Sem Matricula")
    fab.matricula("Duda Matriculada", "Curso", dias=1)
    for nome in ("Duda Matriculada", "Edu Sem Matricula"):
        fab.transacao(nome, "Curso", "WAITING_PAYMENT", horas=20, link_boleto="L")
    assert _nomes(_prever("boleto_pendente", fab=fab)) == ["Duda Matriculada", "Edu Sem Matricula"]
    assert _nomes(_prever("boleto_pendente", {"filtros": {"saude_min": 0}}, fab=fab)) == [
        "Duda Matriculada"
    ]


@pytest.mark.parametrize(
    ("condicao", "mensagem"),
    [
        ('{"horas": ', "JSON inválido"),
        ('{"horas": "doze"}', "inteiro"),
        ('{"horas": 0}', "entre"),
        ('{"horas": 30, "max_horas": 10}', "maior que o mínimo"),
        ('{"desconhecido": 1}', "desconhecidos"),
        ('{"filtros": {"ticket": "Médio"}}', "Alto ou Baixo"),
        ('{"filtros": {"saude_min": "dez"}}', "Saúde mínima: informe um número inteiro"),
        ('{"filtros": {"saude_max": 101}}', "Saúde máxima: use um valor entre 0 e 100"),
        ('{"filtros": {"saude_min": -1}}', "Saúde mínima: use um valor entre 0 e 100"),
        ('{"filtros": {"saude_min": 70, "saude_max": 40}}', "saúde mínima não pode passar"),
        ("[1, 2]", "objeto JSON"),
    ],
)
def test_bad_conditions_are_refused_in_portuguese(fab, condicao, mensagem):
    with UnidadeDeTrabalho() as uow, pytest.raises(CondicaoInvalida, match=mensagem):
        regras.salvar(
            uow.session,
            nome="x",
            gatilho="boleto_pendente",
            condicao=condicao,
            template_id=fab.ids["cobranca"],
            mapeamento=MAPA,
            usuario="g",
        )


def test_mapping_must_match_the_template_parameter_count(fab):
    with UnidadeDeTrabalho() as uow, pytest.raises(CondicaoInvalida, match="3 variáveis"):
        regras.salvar(
            uow.session,
            nome="x",
            gatilho="boleto_pendente",
            condicao={},
            template_id=fab.ids["cobranca"],
            mapeamento={"1": "primeiro_nome"},
            usuario="g",
        )
    with UnidadeDeTrabalho() as uow, pytest.raises(CondicaoInvalida, match="escolha um campo"):
        regras.salvar(
            uow.session,
            nome="x",
            gatilho="boleto_pendente",
            condicao={},
            template_id=fab.ids["cobranca"],
            mapeamento={**MAPA, "3": {"campo": "codigo_pix"}},
            usuario="g",
        )


def _salvar(fab, **kw):
    dados = {
        "nome": "Boleto",
        "gatilho": "boleto_pendente",
        "condicao": {},
        "template_id": fab.ids["cobranca"],
        "mapeamento": MAPA,
        "usuario": "gestora",
    } | kw
    with UnidadeDeTrabalho() as uow:
        regra_id = regras.salvar(uow.session, **dados)
        uow.commit()
    return regra_id


def _avaliar(restantes=200, **kw):
    with UnidadeDeTrabalho() as uow:
        regra = next(r for r in regras.listar(uow.session) if r.ativo)
        resultado = regras.avaliar(uow.session, regra, automaticos_restantes=restantes, **kw)
        uow.commit()
    return resultado


def test_evaluating_twice_never_queues_twice_and_snapshots_the_text(fab, banco):
    for i in range(3):
        fab.aluno(f"Pessoa {i}")
        fab.transacao(f"Pessoa {i}", "Curso", "WAITING_PAYMENT", horas=20, link_boleto="L")
    _salvar(fab)
    assert _avaliar() == {"inseridos": 3, "aprovados": 0, "adiados": 0}
    assert _avaliar() == {"inseridos": 0, "aprovados": 0, "adiados": 0}
    with banco.connect() as conn:
        linhas = conn.execute(
            text("SELECT status, texto_renderizado, variaveis FROM filas_disparo ORDER BY id")
        ).all()
    assert [r.status for r in linhas] == ["pendente"] * 3
    assert linhas[0].texto_renderizado == "Oi Pessoa, seu pagamento de R$ 197,00 está em L"
    assert linhas[0].variaveis == ["Pessoa", "R$ 197,00", "L"]


def test_automatic_mode_approves_at_most_the_run_budget(fab, banco):
    for i in range(5):
        fab.aluno(f"Auto {i}")
        fab.transacao(f"Auto {i}", "Curso", "WAITING_PAYMENT", horas=20, link_boleto="L")
    _salvar(fab, modo="AUTOMATICO")
    assert _avaliar(restantes=2) == {"inseridos": 5, "aprovados": 2, "adiados": 0}
    with banco.connect() as conn:
        aprovados = (
            conn.execute(text("SELECT decidido_por FROM filas_disparo WHERE status = 'aprovado'"))
            .scalars()
            .all()
        )
    assert aprovados == ["sistema", "sistema"]


def test_a_run_queues_at_most_its_maximum_and_the_next_runs_queue_the_rest(fab, banco):
    nomes = ["Ana", "Bia", "Caio", "Duda", "Enzo"]
    for nome in nomes:
        fab.aluno(nome)
        fab.transacao(nome, "Curso", "WAITING_PAYMENT", horas=20, link_boleto="L")
    _salvar(fab)
    assert _avaliar(maximo=2) == {"inseridos": 2, "aprovados": 0, "adiados": 3}
    assert _avaliar(maximo=2) == {"inseridos": 2, "aprovados": 0, "adiados": 1}
    assert _avaliar(maximo=2) == {"inseridos": 1, "aprovados": 0, "adiados": 0}
    assert _avaliar(maximo=2) == {"inseridos": 0, "aprovados": 0, "adiados": 0}
    with banco.connect() as conn:
        na_fila = (
            conn.execute(
                text(
                    "SELECT a.nome FROM filas_disparo f JOIN alunos a ON a.id = f.aluno_id "
                    "ORDER BY f.id"
                )
            )
            .scalars()
            .all()
        )
    # In the queue's order (by name), each student once.
    assert na_fila == nomes


def test_rule_edits_are_audited(fab, banco):
    regra_id = _salvar(fab)
    _salvar(fab, regra_id=regra_id, nome="Boleto (editada)")
    with UnidadeDeTrabalho() as uow:
        regras.definir_ativa(uow.session, regra_id, False, usuario="gestora")
        uow.commit()
    with banco.connect() as conn:
        acoes = (
            conn.execute(
                text("SELECT acao FROM auditoria WHERE entidade = 'regras_automacao' ORDER BY id")
            )
            .scalars()
            .all()
        )
    assert acoes == ["regra_criada", "regra_editada", "regra_desativada"]


def test_approve_and_reject_need_a_reason_and_record_who(fab, banco):
    for i in range(3):
        fab.aluno(f"Fila {i}")
        fab.transacao(f"Fila {i}", "Curso", "WAITING_PAYMENT", horas=20, link_boleto="L")
    _salvar(fab)
    _avaliar()
    with UnidadeDeTrabalho() as uow:
        itens, total = fila.listar(uow.session)
    assert total == 3 and itens[0].texto.startswith("Oi Fila")
    ids = [i.id for i in itens]
    with UnidadeDeTrabalho() as uow:
        assert fila.aprovar(uow.session, ids[:2], usuario="ana.cs") == 2
        with pytest.raises(fila.DecisaoInvalida, match="motivo"):
            fila.rejeitar(uow.session, ids[2:], motivo=" ", usuario="ana.cs")
        assert (
            fila.rejeitar(
                uow.session, ids[2:], motivo="aluno pediu contato por e-mail", usuario="ana.cs"
            )
            == 1
        )
        uow.commit()
    with banco.connect() as conn:
        linhas = conn.execute(
            text(
                "SELECT status, decidido_por, decidido_em, motivo_rejeicao "
                "FROM filas_disparo ORDER BY id"
            )
        ).all()
    assert [(r.status, r.decidido_por) for r in linhas] == [
        ("aprovado", "ana.cs"),
        ("aprovado", "ana.cs"),
        ("rejeitado", "ana.cs"),
    ]
    assert linhas[2].motivo_rejeicao == "aluno pediu contato por e-mail"
    assert all(r.decidido_em for r in linhas)


def test_a_rule_whose_template_lost_its_approval_queues_nothing(fab, banco):
    fab.aluno("Zeca")
    fab.transacao("Zeca", "Curso", "WAITING_PAYMENT", horas=20, link_boleto="L")
    _salvar(fab)
    fab.sql("UPDATE templates SET status_meta = 'PAUSED'")
    resultado = regras.avaliar_todas()
    assert (resultado["inseridos"], resultado["erros"]) == (0, 1)
    with banco.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM filas_disparo")).scalar() == 0
