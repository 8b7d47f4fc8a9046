"""Hostile text into every input that reaches SQL (issue #8): student search, the Logs filter,
the queue search and rejection reason, tag names, rule names/conditions/mappings, settings.

Properties: only the service's documented pt-BR ValueError subclass may be raised; the tables
are intact afterwards (fingerprint of every table, or only the rows the call is meant to write);
a search never matches more than the text it was given (no wildcard, regex or SQL leak); what is
stored is the text as typed. A few AppTest checks show such stored values literally on Alunos,
Fila and Logs, and the CLI refuses hostile values with exit 2 and a pt-BR message.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from db.uow import UnidadeDeTrabalho
from services import alunos, config, fila, logs, regras
from services.alunos import AlunoInvalido
from services.config import ValorInvalido
from services.fila import DecisaoInvalida
from services.logs import FiltroInvalido
from services.regras_condicoes import GATILHOS, CondicaoInvalida
from tests import fabrica_cs as f
from tests import fabrica_logs as fl
from tests.fuzz_apoio import (
    HTML_MARKDOWN,
    LONGO,
    POUCOS,
    RAPIDO,
    SQL_HOSTIL,
    alteradas,
    fotografia,
    hostil,
    limpar,
    tabelas,
)
from ui.saida import literal

RAIZ = Path(__file__).resolve().parent.parent
CANARIOS = ["Ana Souza", "Bruno Lima", "Carla Dias", "Davi Rocha"]
HOSTIL_FIXO = "<img src=x onerror=alert(1)> **negrito** [clique](javascript:alert(1)) :red[x] $y$"


def _sem_acentos(texto: str) -> str:
    return alunos.sem_acentos(texto)


@pytest.fixture
def dados(banco):
    """Canary students (plain names), one of them with a queue item and a logged message."""
    produto = f.produto(banco, "Curso Canário")
    template = fl.template(banco, "boas_vindas", produto)
    ids = {
        nome: f.aluno(banco, nome, f"{nome.split()[0].lower()}@canario.com") for nome in CANARIOS
    }
    fl.mensagem(
        banco,
        ids["Ana Souza"],
        template,
        envio=datetime.now(UTC) - timedelta(hours=1),
        status="delivered",
        entregue=True,
    )
    with banco.begin() as conn:
        regra = conn.execute(
            text(
                "INSERT INTO regras_automacao (nome, gatilho) VALUES ('r', 'aula_liberada') "
                "RETURNING id"
            )
        ).scalar()
        conn.execute(
            text(
                "INSERT INTO filas_disparo (regra_id, aluno_id, template_id, status, "
                "chave_dedupe, produto_id, texto_renderizado) VALUES "
                "(:r, :a, :t, 'pendente', 'k1', :p, 'Oi Ana')"
            ),
            {"r": regra, "a": ids["Ana Souza"], "t": template, "p": produto},
        )
    return {"banco": banco, "alunos": ids, "produto": produto, "template": template}


def _intacto(banco, antes) -> None:
    assert not alteradas(antes, fotografia(banco)), "a read-only call changed a table"


# ---- student search -------------------------------------------------------------------------


def _casa(termo: str, nome: str, email: str) -> bool:
    """Could ``termo`` match this student as literal text (accent- and case-insensitively)?"""
    limpo = re.sub(r"[\x00-\x1f\x7f]", "", termo).strip()
    return _sem_acentos(limpo) in _sem_acentos(nome) or limpo.lower() in email.lower()


def _busca(banco, termo: str) -> list:
    antes = fotografia(banco)
    try:
        with UnidadeDeTrabalho() as uow:
            achados = alunos.buscar_alunos(uow.session, termo=termo)
    except AlunoInvalido as exc:
        assert "no máximo" in str(exc)
        achados = None
    _intacto(banco, antes)
    return achados


@RAPIDO
@given(termo=hostil())
def test_student_search_takes_any_text_and_never_matches_beyond_it(dados, termo):
    achados = _busca(dados["banco"], termo)
    if achados is None:
        return
    documento = alunos._SO_DOCUMENTO.match(termo.strip() or "x")
    for aluno in achados:
        if not documento:  # a CPF/phone search compares digits, not text
            assert _casa(termo, aluno.nome or "", aluno.email or ""), (termo, aluno.nome)


@POUCOS
@given(
    nome=st.text(
        alphabet=st.sampled_from(list("abcdeçãéíóúâêôàüñ ABCÇÃÉ'%_\\.*+?()[]{}|^$<>&;:-\"/!#")),
        min_size=3,
        max_size=30,
    )
)
def test_a_student_with_a_hostile_name_is_found_by_exactly_that_name(dados, nome):
    nome = nome.strip()
    assume(len(nome) >= 2 and not alunos._SO_DOCUMENTO.match(nome))
    banco = dados["banco"]
    with banco.begin() as conn:
        conn.execute(text("DELETE FROM alunos WHERE email = 'hostil@x.com'"))
        conn.execute(
            text("INSERT INTO alunos (nome, email) VALUES (:n, 'hostil@x.com')"), {"n": nome}
        )
    achados = _busca(banco, nome)
    assert "hostil@x.com" in [a.email for a in achados]
    for aluno in achados:
        assert _casa(nome, aluno.nome or "", aluno.email or ""), (nome, aluno.nome)


@pytest.mark.parametrize("termo", SQL_HOSTIL + HTML_MARKDOWN)
def test_fixed_hostile_searches_return_no_canary(dados, termo):
    achados = _busca(dados["banco"], termo) or []
    assert not [a for a in achados if a.email.endswith("@canario.com")]


# ---- Logs filter, queue search and rejection reason ----------------------------------------


@RAPIDO
@given(termo=hostil())
def test_logs_student_filter_takes_any_text(dados, termo):
    banco = dados["banco"]
    hoje = datetime.now(UTC).date()
    filtro = logs.FiltroLogs(
        inicio=hoje - timedelta(days=3), fim=hoje + timedelta(days=1), aluno=termo
    )
    antes = fotografia(banco)
    try:
        with UnidadeDeTrabalho() as uow:
            pagina = logs.listar_mensagens(uow.session, filtro)
            logs.funil(uow.session, filtro)
            logs.falhas_por_codigo(uow.session, filtro)
            logs.leitura_por_template(uow.session, filtro)
    except FiltroInvalido as exc:
        assert "no máximo" in str(exc)
        return
    finally:
        _intacto(banco, antes)
    for mensagem in pagina.mensagens:
        assert _casa(termo, mensagem.aluno or "", mensagem.email or ""), (termo, mensagem.aluno)


@RAPIDO
@given(termo=hostil())
def test_queue_search_takes_any_text_and_never_matches_beyond_it(dados, termo):
    banco = dados["banco"]
    antes = fotografia(banco)
    with UnidadeDeTrabalho() as uow:
        itens, total = fila.listar(uow.session, status=None, busca=termo)
    _intacto(banco, antes)
    assert total == len(itens)
    for item in itens:
        with banco.connect() as conn:
            email = conn.execute(
                text("SELECT email FROM alunos WHERE id = :a"), {"a": item.aluno_id}
            ).scalar()
        assert _casa(termo, item.aluno or "", email), termo


@RAPIDO
@given(motivo=hostil())
def test_a_rejection_reason_is_stored_as_typed_or_refused(dados, motivo):
    banco = dados["banco"]
    with banco.begin() as conn:
        conn.execute(
            text(
                "UPDATE filas_disparo SET status = 'pendente', motivo_rejeicao = NULL, "
                "decidido_por = NULL, decidido_em = NULL"
            )
        )
        item = conn.execute(text("SELECT id FROM filas_disparo")).scalar()
    antes = fotografia(banco)
    try:
        with UnidadeDeTrabalho() as uow:
            assert fila.rejeitar(uow.session, [item], motivo=motivo, usuario="cs1") == 1
            uow.commit()
    except DecisaoInvalida as exc:
        assert str(exc)
        assert fotografia(banco) == antes
        return
    assert alteradas(antes, fotografia(banco)) == {"filas_disparo", "auditoria"}
    with banco.connect() as conn:
        guardado = conn.execute(text("SELECT motivo_rejeicao FROM filas_disparo")).scalar()
    assert guardado == motivo.replace("\x00", "").strip()[:1000]


# ---- tags -----------------------------------------------------------------------------------


@RAPIDO
@given(nome=hostil(), cor=st.one_of(st.just("#0F766E"), hostil()))
def test_a_tag_name_is_stored_as_typed_or_refused_in_portuguese(dados, nome, cor):
    banco = dados["banco"]
    limpar(banco, ["tags", "auditoria"])
    antes = fotografia(banco)
    try:
        with UnidadeDeTrabalho() as uow:
            tag = alunos.criar_tag(uow.session, nome=nome, cor_hex=cor, usuario="admin1")
            uow.commit()
    except AlunoInvalido as exc:
        assert str(exc)
        assert fotografia(banco) == antes
        return
    assert alteradas(antes, fotografia(banco)) == {"tags", "auditoria"}
    with banco.connect() as conn:
        assert conn.execute(
            text("SELECT nome FROM tags WHERE id = :i"), {"i": tag.id}
        ).scalar() == (nome.strip())
    novo = nome[::-1] + "x"
    try:
        with UnidadeDeTrabalho() as uow:
            alunos.editar_tag(uow.session, tag_id=tag.id, nome=novo, cor_hex="#000000", usuario="a")
            uow.commit()
    except AlunoInvalido:
        pass


# ---- rules ----------------------------------------------------------------------------------

_json_hostil = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        hostil(),
        st.sampled_from(["\ud800", "a\udfffb", "x\u0000y"]),  # JSON escapes PostgreSQL refuses
    ),
    lambda filhos: st.one_of(
        st.lists(filhos, max_size=3), st.dictionaries(st.text(max_size=12), filhos, max_size=3)
    ),
    max_leaves=6,
)
_chaves_validas = st.sampled_from(
    [
        "dias",
        "horas",
        "max_horas",
        "janela_horas",
        "dias_sem_acesso",
        "progresso_max",
        "meses",
        "modulo_id",
        "filtros",
    ]
)
_filtros = st.dictionaries(
    st.sampled_from(
        [
            "produtos",
            "tags_incluir",
            "tags_excluir",
            "ltv_min",
            "ltv_max",
            "ticket",
            "status_acesso",
            "saude_min",
            "saude_max",
        ]
    ),
    _json_hostil,
    max_size=4,
)
condicoes = st.one_of(
    st.dictionaries(_chaves_validas, st.integers(min_value=-5, max_value=800), max_size=3).map(
        json.dumps
    ),
    _json_hostil.map(json.dumps),
    st.dictionaries(_chaves_validas, st.one_of(_json_hostil, _filtros), max_size=4).map(json.dumps),
    st.builds(lambda f: json.dumps({"filtros": f}), _filtros),
    st.sampled_from(
        [
            '{"dias": Infinity}',
            '{"dias": NaN}',
            '{"dias": 1e400}',
            '{"dias": -Infinity}',
            '{"filtros": {"tags_incluir": [99999999999999999999]}}',
            '{"filtros": {"ltv_min": 1e308}}',
            "[" * 3000,
            '{"a":' * 3000 + "1" + "}" * 3000,
            '{"dias": 3}',
        ]
    ),
)
_MAPA_VALIDO = json.dumps({"1": "primeiro_nome"})
mapeamentos = st.one_of(
    st.just(_MAPA_VALIDO),
    st.just(_MAPA_VALIDO),
    st.just(_MAPA_VALIDO),
    hostil(),
    _json_hostil.map(json.dumps),
    st.builds(
        lambda campo, padrao: json.dumps({"1": {"campo": campo, "padrao": padrao}}),
        st.sampled_from(["primeiro_nome", "nome", "produto", "x"]),
        _json_hostil,
    ),
)


@pytest.fixture
def regra_base(banco):
    """An approved template with one variable (rules are validated against it)."""
    with banco.begin() as conn:
        template = conn.execute(
            text(
                "INSERT INTO templates (nome_meta, idioma, status_meta, conteudo_texto, "
                "qtd_parametros) VALUES ('aviso', 'pt_BR', 'APPROVED', 'Oi {{1}}', 1) RETURNING id"
            )
        ).scalar()
    return {"banco": banco, "template": template}


@RAPIDO
@given(
    nome=hostil(),
    gatilho=st.one_of(st.sampled_from(sorted(GATILHOS)), hostil()),
    condicao=condicoes,
    mapeamento=mapeamentos,
)
def test_a_rule_is_saved_as_typed_or_refused_in_portuguese(
    regra_base, nome, gatilho, condicao, mapeamento
):
    banco = regra_base["banco"]
    limpar(banco, ["regras_automacao", "auditoria"])
    antes = fotografia(banco)
    argumentos = {
        "gatilho": gatilho,
        "condicao": condicao,
        "template_id": regra_base["template"],
        "mapeamento": mapeamento,
    }
    try:
        with UnidadeDeTrabalho() as uow:
            regras.validar(uow.session, **argumentos)
            # The audience preview runs the condition as SQL.
            regras.prever(uow.session, **argumentos)
            regra_id = regras.salvar(uow.session, nome=nome, usuario="gestor1", **argumentos)
            uow.commit()
    except CondicaoInvalida as exc:
        assert str(exc)
        assert fotografia(banco) == antes
        return
    assert alteradas(antes, fotografia(banco)) == {"regras_automacao", "auditoria"}
    with banco.connect() as conn:
        guardado = conn.execute(
            text("SELECT nome FROM regras_automacao WHERE id = :i"), {"i": regra_id}
        ).scalar()
    assert guardado == nome.strip()


@pytest.mark.parametrize("gatilho", ["progresso_estagnado", "boleto_pendente", "risco_reembolso"])
@pytest.mark.parametrize(
    "condicao",
    [
        '{"filtros": {"tags_incluir": [99999999999999999999]}}',
        '{"filtros": {"tags_excluir": [-99999999999999999999, 1]}}',
        '{"filtros": {"produtos": ["00000000-0000-0000-0000-000000000000"]}}',
        '{"filtros": {"ltv_min": 10000000, "saude_max": 0}}',
        '{"dias": Infinity}',
        '{"filtros": {"status_acesso": [["ATIVO"]]}}',
        '{"modulo_id": "\'; DROP TABLE alunos; --"}',
    ],
)
def test_edge_conditions_run_as_sql_or_are_refused(regra_base, gatilho, condicao):
    antes = fotografia(regra_base["banco"])
    try:
        with UnidadeDeTrabalho() as uow:
            regras.prever(
                uow.session,
                gatilho=gatilho,
                condicao=condicao,
                template_id=regra_base["template"],
                mapeamento=_MAPA_VALIDO,
            )
    except CondicaoInvalida as exc:
        assert str(exc)
    assert fotografia(regra_base["banco"]) == antes


@POUCOS
@given(condicao=st.sampled_from(['{"filtros": {"tags_incluir": [1, 2]}}', '{"dias": 3}']))
def test_a_valid_condition_still_saves(regra_base, condicao):
    banco = regra_base["banco"]
    limpar(banco, ["regras_automacao", "auditoria"])
    with UnidadeDeTrabalho() as uow:
        regras.salvar(
            uow.session,
            nome="Boas-vindas <b>",
            gatilho="sem_primeiro_acesso",
            condicao=condicao,
            template_id=regra_base["template"],
            mapeamento='{"1": "primeiro_nome"}',
            usuario="g",
        )
        uow.commit()


# ---- settings -------------------------------------------------------------------------------

_CHAVES = sorted(config.CHAVES)


@RAPIDO
@given(chave=st.one_of(st.sampled_from(_CHAVES), hostil()), valor=hostil())
def test_a_setting_is_stored_as_validated_or_refused_in_portuguese(banco, chave, valor):
    limpar(banco, ["configuracoes", "auditoria"])
    antes = fotografia(banco)
    try:
        with UnidadeDeTrabalho() as uow:
            config.definir(uow.session, chave, valor, usuario="admin1")
            uow.commit()
    except ValorInvalido as exc:
        assert str(exc)
        assert fotografia(banco) == antes
        return
    assert alteradas(antes, fotografia(banco)) == {"configuracoes", "auditoria"}
    with UnidadeDeTrabalho() as uow:
        lido = config.obter(uow.session, chave)
    assert lido == config.validar(chave, valor)
    definicao = config.CHAVES[chave]
    if definicao.tipo == "numerico":
        assert lido.isascii() and lido.isdigit()  # ids the provider reads as digits


# ---- what the pages show --------------------------------------------------------------------

_ESPECIAIS = re.compile(r"(?<!\\)[<>*_\[\]`$]")


def test_literal_escapes_every_markup_character():
    @RAPIDO
    @given(texto=hostil())
    def propriedade(texto):
        saida = literal(texto)
        assert not _ESPECIAIS.search(re.sub(r"\\\\", "", saida))
        assert re.sub(r"\\(.)", r"\1", saida) == str(texto).replace("\n", " ")

    propriedade()


def _abrir(pagina: str, username: str) -> AppTest:
    at = AppTest.from_file(str(RAIZ / "pages" / pagina), default_timeout=30)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = username
    return at.run()


def _mostrado_literalmente(at: AppTest, original: str) -> None:
    """The stored text reaches the page only escaped: never as markup."""
    assert not at.exception
    fontes = [
        str(e.value)
        for e in (*at.markdown, *at.caption, *at.subheader, *at.error, *at.info, *at.success)
    ]
    assert any(literal(original) in fonte for fonte in fontes), fontes
    for fonte in fontes:  # no markup character of the data is left unescaped
        assert not re.search(r"(?<!\\)(<img|\]\(javascript|:red\[|\*\*negrito)", fonte), fonte


@pytest.fixture
def hostil_no_banco(banco):
    produto = f.produto(banco, HOSTIL_FIXO[:200])
    aluno = f.aluno(banco, HOSTIL_FIXO, "hostil@x.com", celular="5511987654321")
    template = fl.template(banco, "aviso_<b>", produto)
    fl.mensagem(
        banco,
        aluno,
        template,
        envio=datetime.now(UTC) - timedelta(hours=1),
        status="read",
        lido=True,
        produto_id=produto,
        texto=HOSTIL_FIXO,
    )
    with banco.begin() as conn:
        regra = conn.execute(
            text(
                "INSERT INTO regras_automacao (nome, gatilho) VALUES (:n, 'aula_liberada') "
                "RETURNING id"
            ),
            {"n": HOSTIL_FIXO[:100]},
        ).scalar()
        conn.execute(
            text(
                "INSERT INTO filas_disparo (regra_id, aluno_id, template_id, status, "
                "chave_dedupe, produto_id, texto_renderizado, motivo_rejeicao, decidido_por) "
                "VALUES (:r, :a, :t, 'pendente', :k, :p, :x, :m, '_eu_')"
            ),
            {
                "r": regra,
                "a": aluno,
                "t": template,
                "k": uuid.uuid4().hex,
                "p": produto,
                "x": HOSTIL_FIXO,
                "m": HOSTIL_FIXO,
            },
        )
    return banco


def test_alunos_shows_a_hostile_name_literally(criar_usuario, hostil_no_banco):
    username, _ = criar_usuario("cs")
    at = _abrir("Alunos.py", username)
    at.text_input[0].input("hostil@x.com").run()
    _mostrado_literalmente(at, HOSTIL_FIXO)


def test_fila_shows_hostile_rule_and_reason_literally(criar_usuario, hostil_no_banco):
    username, _ = criar_usuario("cs")
    at = _abrir("Fila.py", username)
    _mostrado_literalmente(at, HOSTIL_FIXO[:100])
    assert at.code[0].value == HOSTIL_FIXO  # the message text: a code block, never markdown


def test_logs_with_a_hostile_filter_shows_the_stored_text_as_plain_cells(
    criar_usuario, hostil_no_banco
):
    username, _ = criar_usuario("gestor")
    at = _abrir("Logs.py", username)
    at.text_input(key="logs_aluno").input("<img src=x").run()
    assert not at.exception
    tabela = next(d.value for d in at.dataframe if "Aluno" in d.value.columns)
    assert list(tabela["Aluno"]) == [HOSTIL_FIXO]
    assert list(tabela["Texto enviado"]) == [HOSTIL_FIXO]  # st.dataframe cells are plain text
    for termo in ("' OR '1'='1", "%", "\\", "a" * 300):
        at.text_input(key="logs_aluno").input(termo).run()
        assert not at.exception
        for erro in at.error:
            assert "no máximo" in erro.value


# ---- CLI ------------------------------------------------------------------------------------


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        cwd=RAIZ,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("chave", "valor", "mensagem"),
    [
        ("meta_phone_number_id", "1; DROP TABLE alunos; --", "use apenas dígitos"),
        ("meta_phone_number_id", "１２３", "use apenas dígitos"),  # full-width digits
        ("hotmart_api_base", "javascript:alert(1)", "URL completa"),
        ("disparo_max_por_segundo", "20 OR 1=1", "número inteiro"),
        ("disparo_janela_inicio", "09:00'--", "HH:MM"),
        ("hotmart_hottok", "a\x1b[31mb", "caracteres de controle"),
        ("'; DROP TABLE configuracoes; --", "x", "Chave desconhecida"),
        ("meta_app_secret", " espaço", "espaços"),
    ],
)
def test_cli_config_set_refuses_hostile_values(banco, chave, valor, mensagem):
    antes = fotografia(banco)
    r = _cli("config", "set", chave, valor)
    assert r.returncode == 2, r.stderr
    assert mensagem in r.stderr and r.stderr.startswith("Erro:")
    assert "Traceback" not in r.stderr + r.stdout
    assert fotografia(banco) == antes


@pytest.mark.parametrize(
    ("args", "mensagem"),
    [
        (["'; DROP TABLE usuarios; --", "--nome", "X", "--papel", "cs"], "Usuário:"),
        (["ana<script>", "--nome", "Ana", "--papel", "cs"], "Usuário:"),
        (["ana.ok", "--nome", "Ana", "--papel", "cs", "--email", "a@b'; --"], "E-mail"),
        (["ana.ok", "--nome", "   ", "--papel", "cs"], "nome"),
        pytest.param(["ana.ok", "--nome", "N" * 300, "--papel", "cs"], "Nome:"),
        pytest.param(
            ["ana.ok", "--nome", "Ana", "--papel", "cs", "--email", "a@b.co" + "m" * 300],
            "E-mail",
        ),
    ],
)
def test_cli_user_add_refuses_hostile_values(banco, args, mensagem):
    antes = fotografia(banco, [t for t in tabelas(banco) if t != "schema_versao"])
    r = _cli("user", "add", *args, env={"TERCEIRIZA_NOVA_SENHA": "senha-forte-123"})
    assert r.returncode == 2, (r.returncode, r.stderr[-500:])
    assert mensagem in r.stderr and r.stderr.startswith("Erro:")
    assert "Traceback" not in r.stderr + r.stdout
    assert fotografia(banco) == antes


# ---- long variants --------------------------------------------------------------------------


@pytest.mark.longo
@LONGO
@given(termo=hostil())
def test_student_search_long(dados, termo):
    test_student_search_takes_any_text_and_never_matches_beyond_it.hypothesis.inner_test(
        dados, termo
    )


@pytest.mark.longo
@LONGO
@given(
    nome=hostil(),
    gatilho=st.one_of(st.sampled_from(sorted(GATILHOS)), hostil()),
    condicao=condicoes,
    mapeamento=mapeamentos,
)
def test_rules_long(regra_base, nome, gatilho, condicao, mapeamento):
    test_a_rule_is_saved_as_typed_or_refused_in_portuguese.hypothesis.inner_test(
        regra_base, nome, gatilho, condicao, mapeamento
    )


@pytest.mark.longo
@LONGO
@given(chave=st.one_of(st.sampled_from(_CHAVES), hostil()), valor=hostil())
def test_settings_long(banco, chave, valor):
    test_a_setting_is_stored_as_validated_or_refused_in_portuguese.hypothesis.inner_test(
        banco, chave, valor
    )


@pytest.mark.longo
@LONGO
@given(termo=hostil())
def test_queue_and_logs_long(dados, termo):
    test_queue_search_takes_any_text_and_never_matches_beyond_it.hypothesis.inner_test(dados, termo)
    test_logs_student_filter_takes_any_text.hypothesis.inner_test(dados, termo)
