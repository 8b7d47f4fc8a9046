"""Full Hotmart sync from the sandbox (real HTTP on 127.0.0.1) into the real database."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import text

from db.uow import UnidadeDeTrabalho
from services.demo_data import gerar_dataset, resumo
from services.hotmart_client import HotmartClient
from services.hotmart_normalizar import normalizar_status
from services.hotmart_sync import Sincronizacao
from services.sandbox.hotmart import criar_app
from services.sandbox.server import servir

AGORA = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def dataset():
    return gerar_dataset(alunos=120, seed=7, agora=AGORA)


@pytest.fixture(scope="module")
def sandbox(dataset):
    app = criar_app(dataset, client_id="cid", client_secret="csecret")
    with servir(app) as url:
        yield url


def _cliente(url: str) -> HotmartClient:
    return HotmartClient(
        client_id="cid",
        client_secret="csecret",
        api_base=url,
        auth_url=url + "/security/oauth/token",
        sleep=lambda _s: None,
    )


def _subdominios(banco, dataset) -> None:
    with banco.begin() as conn:
        for pid, sub in dataset.subdominios.items():
            conn.execute(
                text("UPDATE produtos SET hotmart_subdomain = :s WHERE hotmart_product_id = :p"),
                {"s": sub, "p": pid},
            )


def _sincronizar(url: str, **kwargs) -> dict:
    with _cliente(url) as cliente:
        return Sincronizacao(cliente, **kwargs).executar()


def _contagens(banco) -> dict:
    with banco.connect() as conn:
        return {
            t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()
            for t in (
                "produtos",
                "ofertas",
                "modulos",
                "aulas",
                "alunos",
                "transacoes",
                "matriculas",
                "progresso_aulas",
            )
        }


@pytest.fixture
def espelhado(banco, dataset, sandbox):
    """Catalogue first (to learn the products), subdomains set as a CS user would, then a full
    sync."""
    _sincronizar(sandbox)
    _subdominios(banco, dataset)
    _sincronizar(sandbox)
    return banco


def test_full_sync_counts_equal_the_data_set(espelhado, dataset):
    esperado = resumo(dataset)
    obtido = _contagens(espelhado)
    assert obtido["produtos"] == esperado["produtos"]
    assert obtido["ofertas"] == esperado["ofertas"]
    assert obtido["modulos"] == esperado["modulos"]
    assert obtido["transacoes"] == esperado["transacoes"]
    assert obtido["alunos"] >= esperado["compradores"]
    with espelhado.connect() as conn:
        por_status = dict(
            conn.execute(text("SELECT status, count(*) FROM transacoes GROUP BY status")).all()
        )
    esperado_status = Counter()
    for status, n in esperado["transacoes_por_status"].items():
        esperado_status[normalizar_status(status)] += n
    assert por_status == dict(esperado_status)


def test_every_status_not_only_approved_is_mirrored(espelhado):
    with espelhado.connect() as conn:
        status = set(conn.execute(text("SELECT DISTINCT status FROM transacoes")).scalars())
    assert {"APPROVED", "COMPLETE", "WAITING_PAYMENT", "REFUNDED", "CHARGEBACK"} <= status


def test_students_have_cpf_and_whatsapp_mobile(espelhado, dataset):
    with espelhado.connect() as conn:
        linhas = conn.execute(text("SELECT email, cpf, celular FROM alunos")).all()
    compradores = {c["email"] for c in dataset.compradores}
    com_dados = [r for r in linhas if r.email in compradores]
    assert com_dados
    assert all(r.cpf and len(r.cpf) == 11 for r in com_dados)
    assert all(
        r.celular.startswith("55") and len(r.celular) == 13 and r.celular[4] == "9"
        for r in com_dados
        if r.celular
    )


def test_ltv_is_the_sum_of_approved_and_complete(espelhado, dataset):
    esperado: dict[str, Decimal] = {}
    for venda in dataset.vendas:
        if venda["purchase"]["status"] in ("APPROVED", "COMPLETE"):
            email = venda["buyer"]["email"]
            esperado[email] = esperado.get(email, Decimal(0)) + Decimal(
                str(venda["purchase"]["price"]["value"])
            ).quantize(Decimal("0.01"))
    with espelhado.connect() as conn:
        obtido = dict(conn.execute(text("SELECT email, ltv_total FROM alunos")).all())
    for email, ltv in esperado.items():
        assert obtido[email] == ltv


def test_club_progress_is_mirrored(espelhado, dataset):
    esperado = resumo(dataset)
    obtido = _contagens(espelhado)
    assert obtido["progresso_aulas"] == esperado["aulas_concluidas"]
    assert obtido["aulas"] > 0


def test_a_second_sync_changes_no_row(espelhado, sandbox):
    def fotografia():
        with espelhado.connect() as conn:
            return {
                t: conn.execute(
                    text(f"SELECT md5(string_agg(x::text, ',' ORDER BY x::text)) FROM {t} x")
                ).scalar()
                for t in (
                    "produtos",
                    "ofertas",
                    "modulos",
                    "aulas",
                    "alunos",
                    "transacoes",
                    "matriculas",
                    "progresso_aulas",
                )
            }

    antes = fotografia()
    contagens = _sincronizar(sandbox)
    assert fotografia() == antes
    assert contagens.get("transacoes_gravadas", 0) == 0


def test_monitoring_flag_and_subdomain_are_never_overwritten(espelhado, sandbox):
    with espelhado.begin() as conn:
        conn.execute(text("UPDATE produtos SET ativo_monitoramento = true, capa_url = 'x'"))
    _sincronizar(sandbox)
    with espelhado.connect() as conn:
        linhas = conn.execute(
            text("SELECT ativo_monitoramento, hotmart_subdomain, capa_url FROM produtos")
        ).all()
    assert all(r.ativo_monitoramento and r.hotmart_subdomain and r.capa_url == "x" for r in linhas)


def test_sync_resumes_after_a_failure_without_duplicates(banco, dataset, sandbox):
    cursor: dict = {}

    class Falha(RuntimeError):
        pass

    def progresso(_p, mensagem):
        if mensagem.startswith("Vendas (REFUNDED)"):
            raise Falha("queda no meio")

    with _cliente(sandbox) as cliente, pytest.raises(Falha):
        Sincronizacao(
            cliente, progresso=progresso, salvar_cursor=lambda c: cursor.update(c)
        ).executar()
    assert "vendas:APPROVED" in cursor["feitas"] and "vendas:REFUNDED" not in cursor["feitas"]
    etapas = []
    with _cliente(sandbox) as cliente:
        Sincronizacao(cliente, cursor=cursor, progresso=lambda _p, m: etapas.append(m)).executar()
    assert "Vendas (APPROVED)" not in etapas and "Vendas (REFUNDED)" in etapas
    assert _contagens(banco)["transacoes"] == resumo(dataset)["transacoes"]


def test_a_buyer_missing_from_the_buyers_list_is_created_from_the_sales(banco):
    """The sales step creates a buyer the buyers list left out (known buyers are left as the
    buyers step wrote them), with enrolments and LTV."""
    ds = gerar_dataset(alunos=40, seed=11, agora=AGORA)
    email = ds.vendas[0]["buyer"]["email"]
    for venda, participante in zip(ds.vendas, ds.participantes, strict=True):
        if venda["buyer"]["email"] == email:
            participante["users"] = [u for u in participante["users"] if u["role"] != "BUYER"]
    vendas = [v for v in ds.vendas if v["buyer"]["email"] == email]
    pagas = sum(
        Decimal(str(v["purchase"]["price"]["value"]))
        for v in vendas
        if v["purchase"]["status"] in ("APPROVED", "COMPLETE")
    )
    with servir(criar_app(ds, client_id="cid", client_secret="csecret")) as url:
        _sincronizar(url)
    with banco.connect() as conn:
        aluno = conn.execute(
            text("SELECT id, nome, cpf, ltv_total FROM alunos WHERE email = :e"), {"e": email}
        ).one()
        transacoes = conn.execute(
            text("SELECT count(*) FROM transacoes WHERE aluno_id = :a"), {"a": aluno.id}
        ).scalar()
        matriculas = conn.execute(
            text("SELECT count(*) FROM matriculas WHERE aluno_id = :a"), {"a": aluno.id}
        ).scalar()
    assert aluno.nome == vendas[0]["buyer"]["name"]
    assert aluno.cpf is None  # only the buyers list carries the CPF
    assert transacoes == len(vendas)
    assert aluno.ltv_total == pagas
    assert matriculas >= (1 if pagas else 0)


def test_enrolment_status_follows_the_latest_transaction(espelhado):
    with espelhado.connect() as conn:
        linhas = conn.execute(
            text(
                """
            SELECT m.status_acesso, t.status
              FROM matriculas m
              JOIN LATERAL (SELECT status FROM transacoes t
                             WHERE t.aluno_id = m.aluno_id AND t.produto_id = m.produto_id
                               AND t.status IN ('REFUNDED', 'CHARGEBACK')
                             ORDER BY data_compra DESC LIMIT 1) t ON true
             WHERE NOT EXISTS (SELECT 1 FROM transacoes o
                                WHERE o.aluno_id = m.aluno_id AND o.produto_id = m.produto_id
                                  AND o.data_compra > (SELECT max(data_compra) FROM transacoes x
                                        WHERE x.aluno_id = m.aluno_id
                                          AND x.produto_id = m.produto_id
                                          AND x.status IN ('REFUNDED', 'CHARGEBACK')))
            """
            )
        ).all()
    assert linhas, "the data set should have refunded students"
    assert {r.status_acesso for r in linhas} == {"BLOQUEADO"}


def test_incremental_window_only_asks_for_recent_sales(espelhado, sandbox):
    from services.hotmart_sync import desde_texto

    _sincronizar(sandbox, desde=desde_texto("2d"))
    with UnidadeDeTrabalho() as uow:
        assert uow.session.execute(text("SELECT count(*) FROM transacoes")).scalar() > 0
