"""Chatwoot sync against the real database and the Chatwoot sandbox over loopback HTTP."""

from __future__ import annotations

import uuid
from contextlib import contextmanager

import pytest
from sqlalchemy import text

from db.uow import UnidadeDeTrabalho
from services import alunos, config, jobs
from services import chatwoot_sync as sync
from services.chatwoot_client import (
    ChatwootClient,
    ChatwootErro,
    titulo_label_valido,
    titulo_valido,
)
from services.chatwoot_labels import mesclar_labels
from services.sandbox.chatwoot import criar_app, titulo_aceito
from services.sandbox.server import servir
from tests import fabrica_cs as fab
from tests.test_chatwoot_sandbox import AppTrocavel

TOKEN, CONTA = "cw-token-sync-4b1d", 5
PREFIXO = f"/api/v1/accounts/{CONTA}"


@pytest.fixture(scope="module")
def servidor():
    trocavel = AppTrocavel()
    with servir(trocavel) as base:
        yield trocavel, base


@pytest.fixture
def chatwoot(servidor, banco):
    """`with chatwoot(**opcoes) as (app, cw)`: a fresh sandbox account and a client of it."""
    trocavel, base = servidor

    @contextmanager
    def abrir(*, cliente=None, **opcoes):
        trocavel.app = criar_app(api_token=TOKEN, account_id=CONTA, **opcoes)
        parametros = {"sleep": lambda _s: None, "timeout": 5.0, **(cliente or {})}
        with ChatwootClient(base_url=base, api_token=TOKEN, account_id=CONTA, **parametros) as cw:
            yield trocavel.app, cw

    return abrir


# --- helpers -----------------------------------------------------------------------------------


def _marcar(aluno_id, tag_id) -> None:
    with UnidadeDeTrabalho() as uow:
        assert alunos.adicionar_tag(uow.session, aluno_id=aluno_id, tag_id=tag_id, usuario="cs1")
        uow.commit()


def _desmarcar(aluno_id, tag_id) -> None:
    with UnidadeDeTrabalho() as uow:
        assert alunos.remover_tag(uow.session, aluno_id=aluno_id, tag_id=tag_id, usuario="cs1")
        uow.commit()


def _tags_do_aluno(banco, aluno_id) -> set[str]:
    with banco.connect() as conn:
        return set(
            conn.execute(
                text(
                    "SELECT t.nome FROM alunos_tags x JOIN tags t ON t.id = x.tag_id "
                    "WHERE x.aluno_id = :a"
                ),
                {"a": aluno_id},
            ).scalars()
        )


def _catalogo(banco) -> dict[str, str]:
    with banco.connect() as conn:
        return dict(conn.execute(text("SELECT nome, cor_hex FROM tags")).all())


def _contato(app, aluno_id) -> dict:
    achados = [c for c in app.state.conta.contatos.values() if c["identifier"] == str(aluno_id)]
    assert len(achados) == 1, achados
    return achados[0]


def _labels(app, aluno_id) -> set[str]:
    return set(app.state.conta.labels_contato[_contato(app, aluno_id)["id"]])


def _definir_no_chatwoot(app, aluno_id, titulos) -> None:
    """An agent edits the contact's labels in Chatwoot's UI."""
    app.state.conta.definir_labels(_contato(app, aluno_id)["id"], list(titulos))


def _label_da_conta(app, titulo) -> dict | None:
    return next((r for r in app.state.conta.labels.values() if r["title"] == titulo), None)


def _base(banco, aluno_id) -> list[str] | None:
    with banco.connect() as conn:
        return conn.execute(
            text("SELECT labels_sincronizadas FROM chatwoot_contatos WHERE aluno_id = :a"),
            {"a": aluno_id},
        ).scalar()


def _posts_de_labels(app) -> list[str]:
    return [r for r in app.state.requisicoes if r.startswith("POST") and "labels" in r]


@pytest.fixture
def ana(banco):
    return fab.aluno(banco, "Ana Souza", "Ana.Souza@Example.com", celular="5511987654321")


@pytest.fixture
def bia(banco):
    return fab.aluno(banco, "Bia", "bia@example.com", celular="5511977776666")


# --- app → Chatwoot ----------------------------------------------------------------------------


@pytest.mark.parametrize("descartar", [False, True], ids=["bare-tags", "so-labels-da-conta"])
def test_tag_do_app_vira_label_no_contato_com_titulo_valido_e_cor(banco, chatwoot, ana, descartar):
    """Also against newer releases, which drop titles that are not account labels."""
    fa = fab.tag(banco, "Super Fã!", "#0F766E")
    _marcar(ana, fa)
    with chatwoot(descartar_labels_desconhecidas=descartar) as (app, cw):
        resultado = sync.sincronizar_chatwoot(cw)
        label = _label_da_conta(app, "super_fa")
        assert label is not None and label["color"].upper() == "#0F766E"
        assert titulo_valido(label["title"]) and titulo_aceito(label["title"])
        assert _labels(app, ana) == {"super_fa"}
    assert _base(banco, ana) == ["super_fa"]
    assert resultado["labels_criadas"] == 1 and resultado["contatos_criados"] == 1
    assert resultado["contatos_escritos_no_chatwoot"] == 1
    assert resultado["alunos_tags_adicionadas"] == resultado["alunos_tags_removidas"] == 0
    assert resultado["conflitos"] == 0 and resultado["falhas"] == []


def test_identidade_do_contato(banco, chatwoot, ana):
    bia = fab.aluno(banco, "Bia Lima", "sem-arroba", celular="(11) 98888-7777")
    caio = fab.aluno(banco, None, "caio@example.com", celular="123")
    vip = fab.tag(banco, "VIP")
    for aluno_id in (ana, bia, caio):
        _marcar(aluno_id, vip)
    with chatwoot() as (app, cw):
        sync.sincronizar_chatwoot(cw)
        contato_ana = _contato(app, ana)
        assert contato_ana["identifier"] == str(ana)
        assert contato_ana["name"] == "Ana Souza"
        assert contato_ana["email"] == "ana.souza@example.com"
        assert contato_ana["phone_number"] == "+5511987654321"
        contato_bia = _contato(app, bia)  # an e-mail Chatwoot would refuse is left out
        assert contato_bia["email"] is None and contato_bia["phone_number"] == "+5511988887777"
        contato_caio = _contato(app, caio)  # no name: the e-mail; an invalid phone: none
        assert contato_caio["name"] == "caio@example.com" and contato_caio["phone_number"] is None
    with banco.connect() as conn:
        ligados = dict(
            conn.execute(text("SELECT aluno_id, contato_id FROM chatwoot_contatos")).all()
        )
    contatos = (contato_ana, contato_bia, contato_caio)
    assert ligados == {a: c["id"] for a, c in zip((ana, bia, caio), contatos, strict=True)}


def test_dados_do_aluno_alterados_atualizam_o_contato(banco, chatwoot, ana):
    _marcar(ana, fab.tag(banco, "VIP"))
    with chatwoot() as (app, cw):
        sync.sincronizar_chatwoot(cw)
        with banco.begin() as conn:
            conn.execute(text("UPDATE alunos SET nome = 'Ana S. Lima', celular = '5521999998888'"))
        resultado = sync.sincronizar_chatwoot(cw)
        contato = _contato(app, ana)
    assert contato["name"] == "Ana S. Lima" and contato["phone_number"] == "+5521999998888"
    assert resultado["contatos_atualizados"] == 1 and resultado["contatos_criados"] == 0


# --- Chatwoot → app ----------------------------------------------------------------------------


def test_label_do_chatwoot_vira_tag_do_aluno_e_entra_no_catalogo(banco, chatwoot, ana):
    _marcar(ana, fab.tag(banco, "VIP", "#111111"))
    with chatwoot() as (app, cw):
        sync.sincronizar_chatwoot(cw)
        app.state.conta.criar_label({"title": "reclamação", "color": "#D03801"})
        app.state.adicionar_label_no_contato(_contato(app, ana)["id"], "reclamação")
        app.state.requisicoes.clear()
        resultado = sync.sincronizar_chatwoot(cw)
        assert _label_da_conta(app, "reclamacao") is None  # no twin label for the new tag
        assert _labels(app, ana) == {"vip", "reclamação"}
        assert _posts_de_labels(app) == []  # Chatwoot already holds the result
    assert _catalogo(banco)["reclamação"] == "#D03801"
    assert _tags_do_aluno(banco, ana) == {"VIP", "reclamação"}
    assert sorted(_base(banco, ana)) == ["reclamação", "vip"]
    assert resultado["tags_criadas"] == 1 and resultado["alunos_tags_adicionadas"] == 1
    assert resultado["labels_criadas"] == 0 and resultado["contatos_escritos_no_chatwoot"] == 0


def test_label_existente_de_um_contato_novo_e_somada_sem_remover_nada(banco, chatwoot, ana):
    """First link: empty base, so both sides are united (the agent's label arrives, ours goes)."""
    _marcar(ana, fab.tag(banco, "VIP"))
    with chatwoot(
        labels=[{"title": "lead", "color": "#123456"}],
        contatos=[{"name": "Ana", "email": "ana.souza@example.com", "labels": ["lead"]}],
    ) as (app, cw):
        resultado = sync.sincronizar_chatwoot(cw)
        assert len(app.state.conta.contatos) == 1  # found by e-mail, not duplicated
        assert _labels(app, ana) == {"lead", "vip"}
    assert _tags_do_aluno(banco, ana) == {"VIP", "lead"}
    assert resultado["contatos_criados"] == 1 and resultado["tags_criadas"] == 1


# --- removals and the merge policy -------------------------------------------------------------


def test_tag_removida_no_app_sai_do_contato(banco, chatwoot, ana):
    vip, lead = fab.tag(banco, "VIP"), fab.tag(banco, "Lead")
    _marcar(ana, vip)
    _marcar(ana, lead)
    with chatwoot() as (app, cw):
        sync.sincronizar_chatwoot(cw)
        assert _labels(app, ana) == {"vip", "lead"}
        _desmarcar(ana, vip)
        resultado = sync.sincronizar_chatwoot(cw)
        assert _labels(app, ana) == {"lead"}
        assert _label_da_conta(app, "vip") is not None  # the account label stays
    assert _tags_do_aluno(banco, ana) == {"Lead"} and _base(banco, ana) == ["lead"]
    assert resultado["contatos_escritos_no_chatwoot"] == 1
    assert resultado["alunos_tags_removidas"] == resultado["alunos_tags_adicionadas"] == 0


def test_label_removida_no_chatwoot_sai_do_aluno(banco, chatwoot, ana):
    vip, lead = fab.tag(banco, "VIP"), fab.tag(banco, "Lead")
    _marcar(ana, vip)
    _marcar(ana, lead)
    with chatwoot() as (app, cw):
        sync.sincronizar_chatwoot(cw)
        _definir_no_chatwoot(app, ana, ["lead"])
        app.state.requisicoes.clear()
        resultado = sync.sincronizar_chatwoot(cw)
        assert _labels(app, ana) == {"lead"} and _posts_de_labels(app) == []
    assert _tags_do_aluno(banco, ana) == {"Lead"} and _base(banco, ana) == ["lead"]
    assert _catalogo(banco).keys() == {"VIP", "Lead"}  # the tag stays in the catalogue
    assert resultado["alunos_tags_removidas"] == 1


def test_mudancas_dos_dois_lados_sao_somadas(banco, chatwoot, ana):
    vip, lead, ouro = fab.tag(banco, "VIP"), fab.tag(banco, "Lead"), fab.tag(banco, "Ouro")
    _marcar(ana, vip)
    _marcar(ana, lead)
    with chatwoot() as (app, cw):
        sync.sincronizar_chatwoot(cw)
        _desmarcar(ana, vip)  # app: −vip +ouro
        _marcar(ana, ouro)
        app.state.conta.criar_label({"title": "atencao"})
        _definir_no_chatwoot(app, ana, ["vip", "atencao"])  # Chatwoot: −lead +atencao
        sync.sincronizar_chatwoot(cw)
        assert _labels(app, ana) == {"ouro", "atencao"}
    assert _tags_do_aluno(banco, ana) == {"Ouro", "atencao"}
    assert sorted(_base(banco, ana)) == ["atencao", "ouro"]


def test_conflito_removida_no_app_e_readicionada_no_chatwoot(banco, chatwoot, ana):
    """The stated policy: an addition is never undone; a remove + re-add on one side between
    two syncs leaves no trace in Chatwoot's API, so there it reads as 'unchanged'."""
    vip = fab.tag(banco, "VIP")
    _marcar(ana, vip)
    with chatwoot() as (app, cw):
        sync.sincronizar_chatwoot(cw)
        # Same interval: removed in the app; the agent removes and re-adds it in Chatwoot.
        _desmarcar(ana, vip)
        _definir_no_chatwoot(app, ana, [])
        app.state.adicionar_label_no_contato(_contato(app, ana)["id"], "vip")
        sync.sincronizar_chatwoot(cw)
        assert _labels(app, ana) == set() and _tags_do_aluno(banco, ana) == set()
        # Re-added in Chatwoot after the removal was synced: the addition wins.
        app.state.adicionar_label_no_contato(_contato(app, ana)["id"], "vip")
        resultado = sync.sincronizar_chatwoot(cw)
        assert _labels(app, ana) == {"vip"}
    assert _tags_do_aluno(banco, ana) == {"VIP"} and _base(banco, ana) == ["vip"]
    assert resultado["alunos_tags_adicionadas"] == 1


def test_titulos_com_acento_e_longos_nao_viram_labels_gemeas(banco, chatwoot, ana):
    """ "Reclamação" (app) and "reclamação" (Chatwoot) share the key "reclamacao": one label."""
    _marcar(ana, fab.tag(banco, "Reclamação", "#AA0000"))
    longo = "curso_" + "a" * 60  # valid in Chatwoot, longer than a tag name
    semente = [{"title": "reclamação", "color": "#BB0000"}, {"title": longo}]
    with chatwoot(labels=semente) as (app, cw):
        primeira = sync.sincronizar_chatwoot(cw)
        assert sorted(r["title"] for r in app.state.conta.labels.values()) == sorted(
            ["reclamação", longo]
        )
        assert _labels(app, ana) == {"reclamação"}
        app.state.adicionar_label_no_contato(_contato(app, ana)["id"], longo)
        sync.sincronizar_chatwoot(cw)
        app.state.requisicoes.clear()
        terceira = sync.sincronizar_chatwoot(cw)
        assert _posts_de_labels(app) == [] and len(app.state.conta.labels) == 2
    nome_longo = titulo_label_valido(longo)
    assert len(nome_longo) <= 50 and nome_longo.startswith("curso_aaaa")
    assert _catalogo(banco) == {"Reclamação": "#AA0000", nome_longo: "#1F93FF"}
    assert _tags_do_aluno(banco, ana) == {"Reclamação", nome_longo}
    assert primeira["tags_criadas"] == 1 and primeira["labels_criadas"] == 0
    assert terceira["tags_criadas"] == terceira["alunos_tags_adicionadas"] == 0


def test_mesclar_labels_funcao_pura():
    base, nossas, deles = {"a", "b", "c"}, {"a", "b", "x"}, {"a", "c", "y"}
    assert mesclar_labels(base, nossas, deles) == {"a", "x", "y"}
    assert mesclar_labels(set(), {"a"}, {"b"}) == {"a", "b"}
    assert mesclar_labels({"a"}, {"a"}, {"a"}) == {"a"}


# --- idempotence, catalogue and selection ------------------------------------------------------


def test_segunda_sync_nao_muda_nada(banco, chatwoot, ana, bia):
    vip, lead = fab.tag(banco, "VIP"), fab.tag(banco, "Lead")
    _marcar(ana, vip)
    _marcar(bia, lead)
    with chatwoot() as (app, cw):
        sync.sincronizar_chatwoot(cw)
        app.state.requisicoes.clear()
        with banco.connect() as conn:
            antes = conn.execute(text("SELECT * FROM chatwoot_contatos ORDER BY aluno_id")).all()
        resultado = sync.sincronizar_chatwoot(cw)
        requisicoes = list(app.state.requisicoes)
        assert len(app.state.conta.contatos) == 2 and len(app.state.conta.labels) == 2
    assert [r for r in requisicoes if r.startswith(("POST", "PUT", "PATCH"))] == []
    with banco.connect() as conn:
        depois = conn.execute(text("SELECT * FROM chatwoot_contatos ORDER BY aluno_id")).all()
    assert depois == antes  # not even sincronizado_em is rewritten
    assert resultado["alunos_processados"] == 2
    for chave in sync.CONTAGENS:
        if chave != "alunos_processados":
            assert resultado[chave] == 0, chave


# --- tag renames -------------------------------------------------------------------------------


def _renomear(tag_id, nome) -> None:
    """An admin renames the tag in Configurações › Tags."""
    with UnidadeDeTrabalho() as uow:
        assert alunos.editar_tag(
            uow.session, tag_id=tag_id, nome=nome, cor_hex="#0F766E", usuario="admin1"
        )
        uow.commit()


def _titulos_da_conta(app) -> list[str]:
    return sorted(r["title"] for r in app.state.conta.labels.values())


@pytest.mark.parametrize("atraso", [False, True], ids=["retag-imediato", "retag-atrasado"])
def test_tag_renomeada_renomeia_a_label_e_o_nome_antigo_nao_volta_como_tag(
    banco, chatwoot, ana, atraso, bia
):
    """Chatwoot re-tags contacts after a label rename in a background job: the sync must not
    depend on it having run."""
    vip = fab.tag(banco, "VIP")
    _marcar(ana, vip)
    _marcar(bia, vip)
    with chatwoot() as (app, cw):
        sync.sincronizar_chatwoot(cw)
        vip_id = _label_da_conta(app, "vip")["id"]
        app.state.conta.adiar_tarefas = atraso
        _renomear(vip, "Cliente VIP")
        resultado = sync.sincronizar_chatwoot(cw)
        assert _titulos_da_conta(app) == ["cliente_vip"]
        assert _label_da_conta(app, "cliente_vip")["id"] == vip_id  # renamed, not recreated
        assert _labels(app, ana) == _labels(app, bia) == {"cliente_vip"}
        app.state.conta.executar_tarefas()
        assert _labels(app, ana) == _labels(app, bia) == {"cliente_vip"}
        app.state.requisicoes.clear()
        outra = sync.sincronizar_chatwoot(cw)
        assert [r for r in app.state.requisicoes if r.startswith(("POST", "PATCH", "DELETE"))] == []
    assert resultado["labels_renomeadas"] == 1 and resultado["tags_criadas"] == 0
    assert resultado["alunos_tags_removidas"] == 0
    assert _catalogo(banco) == {"Cliente VIP": "#0F766E"}
    assert _tags_do_aluno(banco, ana) == _tags_do_aluno(banco, bia) == {"Cliente VIP"}
    assert _base(banco, ana) == ["cliente_vip"]
    assert all(outra[chave] == 0 for chave in sync.CONTAGENS if chave != "alunos_processados")


def test_contato_ainda_com_o_titulo_antigo_continua_com_a_tag(banco, chatwoot, ana):
    """A contact (re)tagged with the former title after the rename, e.g. by an automation
    still using it, reads as holding the renamed tag and is rewritten with its title now."""
    vip = fab.tag(banco, "VIP")
    _marcar(ana, vip)
    with chatwoot() as (app, cw):
        sync.sincronizar_chatwoot(cw)
        _renomear(vip, "Cliente VIP")
        sync.sincronizar_chatwoot(cw)
        _definir_no_chatwoot(app, ana, ["vip"])  # a bare title now: no account label has it
        resultado = sync.sincronizar_chatwoot(cw)
        assert _labels(app, ana) == {"cliente_vip"}
    assert _tags_do_aluno(banco, ana) == {"Cliente VIP"}
    assert _catalogo(banco) == {"Cliente VIP": "#0F766E"}
    assert resultado["contatos_escritos_no_chatwoot"] == 1
    assert resultado["alunos_tags_removidas"] == resultado["tags_criadas"] == 0


def test_renomeada_para_o_nome_de_outra_label_apaga_a_antiga(banco, chatwoot, ana, bia):
    vip, premium = fab.tag(banco, "VIP"), fab.tag(banco, "Premium")
    _marcar(ana, vip)
    _marcar(bia, premium)
    with chatwoot() as (app, cw):
        sync.sincronizar_chatwoot(cw)
        app.state.conta.adiar_tarefas = True  # Chatwoot's label destroy job has not run yet
        _renomear(vip, "Premium!")  # same label key as Premium: one label
        resultado = sync.sincronizar_chatwoot(cw)
        assert _titulos_da_conta(app) == ["premium"]
        assert _labels(app, ana) == _labels(app, bia) == {"premium"}
        app.state.conta.executar_tarefas()
        assert _labels(app, ana) == {"premium"}
        sync.sincronizar_chatwoot(cw)
    assert resultado["labels_removidas"] == 1 and resultado["tags_criadas"] == 0
    assert set(_catalogo(banco)) == {"Premium!", "Premium"}
    assert _tags_do_aluno(banco, ana) == {"Premium!"}
    assert _tags_do_aluno(banco, bia) == {"Premium"}


def test_label_com_o_nome_antigo_criada_depois_no_chatwoot_vira_tag_nova(banco, chatwoot, ana, bia):
    vip, lead = fab.tag(banco, "VIP"), fab.tag(banco, "Lead")
    _marcar(ana, vip)
    _marcar(bia, lead)
    with chatwoot() as (app, cw):
        sync.sincronizar_chatwoot(cw)
        _renomear(vip, "Cliente VIP")
        sync.sincronizar_chatwoot(cw)
        sync.sincronizar_chatwoot(cw)
        # Weeks later an agent creates "vip" again, for another purpose, and tags Bia.
        cw.criar_label("vip", "#FF0000")
        _definir_no_chatwoot(app, bia, ["lead", "vip"])
        resultado = sync.sincronizar_chatwoot(cw)
        assert _labels(app, ana) == {"cliente_vip"}
    assert resultado["tags_criadas"] == 1 and resultado["labels_renomeadas"] == 0
    assert _catalogo(banco) == {"Cliente VIP": "#0F766E", "Lead": "#0F766E", "vip": "#FF0000"}
    assert _tags_do_aluno(banco, ana) == {"Cliente VIP"}
    assert _tags_do_aluno(banco, bia) == {"Lead", "vip"}


def test_tag_renomeada_durante_a_sync_e_levada_na_seguinte(banco, chatwoot, ana, monkeypatch):
    from services import chatwoot_labels

    vip = fab.tag(banco, "VIP")
    _marcar(ana, vip)
    original = chatwoot_labels._levar_renomeacoes

    def renomear_no_meio(*args):
        resultado = original(*args)
        _renomear(vip, "Cliente VIP")  # after the renames were read, before the tags are
        return resultado

    with chatwoot() as (app, cw):
        sync.sincronizar_chatwoot(cw)
        monkeypatch.setattr(chatwoot_labels, "_levar_renomeacoes", renomear_no_meio)
        durante = sync.sincronizar_chatwoot(cw)
        monkeypatch.setattr(chatwoot_labels, "_levar_renomeacoes", original)
        seguinte = sync.sincronizar_chatwoot(cw)
        assert _titulos_da_conta(app) == ["cliente_vip"] and _labels(app, ana) == {"cliente_vip"}
    # The run that saw the new name created its label, so the next one removes the former one.
    assert durante["tags_criadas"] == 0 and durante["labels_criadas"] == 1
    assert seguinte["labels_removidas"] == 1
    assert _catalogo(banco) == {"Cliente VIP": "#0F766E"}
    assert _tags_do_aluno(banco, ana) == {"Cliente VIP"}


def test_renomeada_e_desfeita_antes_da_sync_nao_mexe_no_chatwoot(banco, chatwoot, ana):
    vip = fab.tag(banco, "VIP")
    _marcar(ana, vip)
    with chatwoot() as (app, cw):
        sync.sincronizar_chatwoot(cw)
        _renomear(vip, "Cliente VIP")
        _renomear(vip, "VIP")
        app.state.requisicoes.clear()
        resultado = sync.sincronizar_chatwoot(cw)
        assert [r for r in app.state.requisicoes if r.startswith(("POST", "PATCH", "DELETE"))] == []
        assert _titulos_da_conta(app) == ["vip"] and _labels(app, ana) == {"vip"}
    assert resultado["labels_renomeadas"] == resultado["labels_removidas"] == 0
    assert _catalogo(banco) == {"VIP": "#0F766E"}


def test_duas_tags_com_o_mesmo_titulo_sao_uma_label(banco, chatwoot, ana):
    """Lowest tag id is canonical: its colour makes the label, a label from Chatwoot adds it."""
    vip = fab.tag(banco, "VIP", "#111111")
    vip2 = fab.tag(banco, "Vip!", "#222222")
    bia = fab.aluno(banco, "Bia", "bia@example.com")
    caio = fab.aluno(banco, "Caio", "caio@example.com")
    _marcar(ana, vip2)
    _marcar(bia, fab.tag(banco, "Outra"))
    _marcar(caio, vip)
    _marcar(caio, vip2)
    with chatwoot() as (app, cw):
        sync.sincronizar_chatwoot(cw)
        assert [r["title"] for r in app.state.conta.labels.values()].count("vip") == 1
        assert _label_da_conta(app, "vip")["color"] == "#111111"
        assert _labels(app, ana) == {"vip"}
        app.state.adicionar_label_no_contato(_contato(app, bia)["id"], "vip")
        _definir_no_chatwoot(app, caio, [])
        sync.sincronizar_chatwoot(cw)
    assert _tags_do_aluno(banco, bia) == {"Outra", "VIP"}  # the canonical tag
    assert _tags_do_aluno(banco, caio) == set()  # both removed with the one label
    assert _tags_do_aluno(banco, ana) == {"Vip!"}


def test_labels_sem_tag_no_contato_ficam_intactas(banco, chatwoot, ana):
    """A bare label (not an account label, older releases) is no tag of ours: never removed."""
    vip = fab.tag(banco, "VIP")
    with chatwoot() as (app, cw):
        _marcar(ana, fab.tag(banco, "Lead"))
        sync.sincronizar_chatwoot(cw)
        _definir_no_chatwoot(app, ana, ["lead", "interno_x"])
        app.state.conta.labels.pop(
            next(i for i, r in app.state.conta.labels.items() if r["title"] == "lead")
        )  # "lead" deleted as an account label: it comes back from our tag
        _marcar(ana, vip)
        sync.sincronizar_chatwoot(cw)
        assert _labels(app, ana) == {"lead", "interno_x", "vip"}
        assert _label_da_conta(app, "lead") is not None
    assert "interno_x" not in _catalogo(banco)
    assert _tags_do_aluno(banco, ana) == {"Lead", "VIP"}


def test_quem_e_sincronizado_e_aluno_ids_restringe(banco, chatwoot, ana):
    monitorado = fab.produto(banco, "Curso A", monitorado=True)
    parado = fab.produto(banco, "Curso B", monitorado=False)
    bia = fab.aluno(banco, "Bia", "bia@example.com")  # enrolled in a monitored product
    caio = fab.aluno(banco, "Caio", "caio@example.com")  # enrolled in an unmonitored one
    davi = fab.aluno(banco, "Davi", "davi@example.com")  # nothing at all
    fab.matricula(banco, bia, monitorado)
    fab.matricula(banco, caio, parado)
    _marcar(ana, fab.tag(banco, "VIP"))
    with chatwoot() as (app, cw):
        resultado = sync.sincronizar_chatwoot(cw, aluno_ids=[str(bia), davi])
        identificadores = {c["identifier"] for c in app.state.conta.contatos.values()}
        assert identificadores == {str(bia)} and resultado["alunos_processados"] == 1
        sync.sincronizar_chatwoot(cw)
        identificadores = {c["identifier"] for c in app.state.conta.contatos.values()}
    assert identificadores == {str(ana), str(bia)}
    assert str(caio) not in identificadores and str(davi) not in identificadores


def test_lotes_pequenos_sincronizam_todos(banco, chatwoot, monkeypatch):
    monkeypatch.setattr(sync, "LOTE", 2)
    vip = fab.tag(banco, "VIP")
    ids = [fab.aluno(banco, f"Aluno {i}", f"a{i}@example.com") for i in range(5)]
    for aluno_id in ids:
        _marcar(aluno_id, vip)
    relatos = []
    with chatwoot() as (app, cw):
        resultado = sync.sincronizar_chatwoot(cw, progresso=lambda p, m: relatos.append((p, m)))
        assert all(_labels(app, a) == {"vip"} for a in ids)
    assert resultado["alunos_processados"] == 5 and resultado["contatos_criados"] == 5
    assert [round(p) for p, _ in relatos] == [0, 10, 46, 82, 100]


# --- failures ----------------------------------------------------------------------------------


def test_conflito_de_contato_e_registrado_e_pulado(banco, chatwoot, ana):
    bia = fab.aluno(banco, "Bia", "bia@example.com")
    vip = fab.tag(banco, "VIP")
    _marcar(ana, vip)
    _marcar(bia, vip)
    outro = str(uuid.uuid4())
    with chatwoot(
        contatos=[{"name": "Outra Ana", "email": "ana.souza@example.com", "identifier": outro}]
    ) as (app, cw):
        resultado = sync.sincronizar_chatwoot(cw)
        dona = next(c for c in app.state.conta.contatos.values() if c["identifier"] == outro)
        assert app.state.conta.labels_contato[dona["id"]] == []  # never taken over
        assert _labels(app, bia) == {"vip"}
    assert resultado["conflitos"] == 1 and resultado["alunos_processados"] == 1
    assert resultado["falhas"][0]["aluno_id"] == str(ana)
    assert _base(banco, ana) is None and _tags_do_aluno(banco, ana) == {"VIP"}


def test_label_invalida_no_contato_pula_o_aluno_sem_perder_nada(banco, chatwoot, ana):
    """A bare upper-case label (older releases) cannot be posted back: skip, never drop it."""
    _marcar(ana, fab.tag(banco, "VIP"))
    semente = [{"name": "Ana", "email": "ana.souza@example.com", "labels": ["Legado"]}]
    with chatwoot(contatos=semente) as (app, cw):
        resultado = sync.sincronizar_chatwoot(cw)
        assert _labels(app, ana) == {"Legado"}
    assert resultado["contatos_com_erro"] == 1 and "Legado" in resultado["falhas"][0]["motivo"]
    assert _base(banco, ana) is None and _tags_do_aluno(banco, ana) == {"VIP"}


def test_contato_apagado_no_chatwoot_e_recriado_sem_perder_tags(banco, chatwoot, ana):
    _marcar(ana, fab.tag(banco, "VIP"))
    with chatwoot() as (app, cw):
        sync.sincronizar_chatwoot(cw)
        antigo = _contato(app, ana)["id"]
        del app.state.conta.contatos[antigo]
        resultado = sync.sincronizar_chatwoot(cw)
        novo = _contato(app, ana)["id"]
        assert novo != antigo and _labels(app, ana) == {"vip"}
    assert _tags_do_aluno(banco, ana) == {"VIP"} and resultado["contatos_criados"] == 1


def test_erro_do_chatwoot_para_a_sync_mas_grava_o_que_o_lote_fez(banco, chatwoot, ana):
    bia = fab.aluno(banco, "Bia", "bia@example.com")
    primeiro, segundo = sorted([ana, bia])
    vip = fab.tag(banco, "VIP")
    _marcar(ana, vip)
    _marcar(bia, vip)
    with chatwoot(cliente={"max_retries": 1}) as (app, cw):
        sync.sincronizar_chatwoot(cw, aluno_ids=[primeiro])  # creates the first contact only
        app.state.falhas.adicionar(f"{PREFIXO}/contacts/filter", status=503, vezes=2)
        with banco.begin() as conn:
            conn.execute(text("DELETE FROM alunos_tags WHERE aluno_id = :a"), {"a": primeiro})
        with pytest.raises(ChatwootErro) as erro:
            sync.sincronizar_chatwoot(cw)  # the second student's lookup fails for good
        assert erro.value.status == 503
        assert _labels(app, primeiro) == set()  # the first one was done and written
    assert _base(banco, primeiro) == [] and _base(banco, segundo) is None


def test_429_do_chatwoot_e_esperado_pelo_cliente(banco, chatwoot, ana):
    dormidas, apps = [], []

    def dormir(segundos):
        dormidas.append(segundos)
        apps[0].state.reiniciar_limite()  # as if the rate-limit window had passed

    vip = fab.tag(banco, "VIP")
    ids = [ana] + [fab.aluno(banco, f"Aluno {i}", f"a{i}@example.com") for i in range(3)]
    for aluno_id in ids:
        _marcar(aluno_id, vip)
    with chatwoot(limite_por_minuto=3, cliente={"sleep": dormir}) as (app, cw):
        apps.append(app)
        resultado = sync.sincronizar_chatwoot(cw)
        assert all(_labels(app, a) == {"vip"} for a in ids)
    assert len(dormidas) >= 5 and resultado["contatos_com_erro"] == 0
    assert resultado["contatos_criados"] == 4


# --- settings, job, private note ---------------------------------------------------------------


def test_sem_configuracao_erro_em_portugues(banco):
    with UnidadeDeTrabalho() as uow:
        with pytest.raises(sync.ChatwootNaoConfigurado) as erro:
            sync.cliente_configurado(uow.session)
    assert str(erro.value) == (
        "Configure a URL, o token e o ID da conta do Chatwoot em Configurações."
    )
    with pytest.raises(sync.ChatwootNaoConfigurado):
        sync.executar_sync_chatwoot(iniciado_por="admin1")
    job = jobs.ultimo("sync_chatwoot")
    assert job.status == "erro" and "Configure a URL" in job.erro


def test_job_com_configuracao_do_sandbox(banco, servidor, ana):
    trocavel, base = servidor
    trocavel.app = criar_app(api_token=TOKEN, account_id=CONTA)
    _marcar(ana, fab.tag(banco, "VIP"))
    with UnidadeDeTrabalho() as uow:
        config.definir_varios(
            uow.session,
            {
                "chatwoot_base_url": base,
                "chatwoot_api_token": TOKEN,
                "chatwoot_account_id": str(CONTA),
            },
            usuario="admin1",
        )
        uow.commit()
    relatos = []
    job = sync.executar_sync_chatwoot(
        iniciado_por="admin1", observador=lambda p, m: relatos.append(m)
    )
    assert job.tipo == "sync_chatwoot" and job.status == "concluido"
    assert job.resultado["contatos_criados"] == 1 and job.resultado["labels_criadas"] == 1
    assert relatos[0].startswith("Chatwoot")
    assert _labels(trocavel.app, ana) == {"vip"}


def test_uma_sync_por_vez(banco, chatwoot):
    with chatwoot() as (_, cw), sync._execucao_exclusiva():
        with pytest.raises(jobs.JobEmAndamento, match="Chatwoot já está em andamento"):
            sync.sincronizar_chatwoot(cw)


def test_nota_privada_na_ultima_conversa(banco, chatwoot, ana, bia):
    _marcar(ana, fab.tag(banco, "VIP"))
    with chatwoot() as (app, cw):
        sync.sincronizar_chatwoot(cw)
        with UnidadeDeTrabalho() as uow:
            assert not sync.nota_privada_envio(cw, uow.session, aluno_id=ana, texto="Oi")
            antiga = app.state.abrir_conversa(_contato(app, ana)["id"])
            recente = app.state.abrir_conversa(_contato(app, ana)["id"])
            assert sync.nota_privada_envio(
                cw, uow.session, aluno_id=ana, texto="Template boas_vindas enviado"
            )
            # Bia was never synced: found by phone (a contact Chatwoot made from WhatsApp).
            contato_bia = app.state.conta.criar_contato({"phone_number": "+5511977776666"})
            conversa_bia = app.state.abrir_conversa(contato_bia["id"])
            assert sync.nota_privada_envio(cw, uow.session, aluno_id=bia, texto="Enviado")
            assert not sync.nota_privada_envio(cw, uow.session, aluno_id=uuid.uuid4(), texto="x")
        conversas = app.state.conta.conversas
        assert conversas[antiga]["messages"] == []
        [nota] = conversas[recente]["messages"]
        assert nota["private"] and nota["content"] == "Template boas_vindas enviado"
        assert conversas[conversa_bia]["messages"][0]["private"]
