"""Provider faults injected from the sandboxes over real HTTP on 127.0.0.1 (issue #8, item 2).

Hotmart: 429 storms (the sandbox's rate limit), 5xx bursts, slow answers against a shorter client
timeout, pages with broken JSON or without ``items``, connections dropped mid-answer, and a fault
that outlasts the retries. Every sync under faults must end with exactly the rows of a clean sync
(same keys, same values: nothing lost, nothing doubled); a failed sync is a failed job with a
persisted cursor, and the next run fetches only the steps that were not finished (checked on the
sandbox's request log).

Meta: 429 storms, 5xx bursts with Meta's error body, bare 5xx from a gateway (before or after
Meta accepted the send), answers slower than the client timeout and connections dropped after
the send was accepted. Dispatch must back off (items stay ``aprovado`` with
``proxima_tentativa_em``, or end ``erro`` with Meta's code after the bounded retries), leave an
item whose send may have gone out as ``verificar``, and never send twice: the sandbox's accepted
sends are counted against ``logs_disparo``.

No test waits for a real backoff: the clients get a sleep that only records (and, for the rate
limit, opens the sandbox's next window). Long variants (more data, more faults) run under
``longo``.
"""

from __future__ import annotations

import random
from collections import Counter
from contextlib import contextmanager
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import text

from db.uow import UnidadeDeTrabalho
from services import config, disparo, jobs
from services import hotmart_conexao as conexao
from services.demo_data import gerar_dataset
from services.hotmart_client import HotmartClient, HotmartErro
from services.hotmart_sync import Sincronizacao
from services.sandbox import hotmart as sandbox_hotmart
from services.sandbox import meta as sandbox_meta
from services.sandbox.server import servir
from services.whatsapp_client import WhatsAppClient
from tests.fuzz_apoio import limpar, tabelas

AGORA = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PAGINA = 20  # small pages: faults land in the middle of paginated steps
ESPELHO = (
    "produtos",
    "ofertas",
    "modulos",
    "aulas",
    "alunos",
    "transacoes",
    "matriculas",
    "progresso_aulas",
)


# ---- Hotmart: sandbox, client, clean reference ---------------------------------------------


class Referencia:
    """A data set and what a clean sync of it leaves (computed once per data set)."""

    def __init__(self, alunos: int, seed: int) -> None:
        self.ds = gerar_dataset(alunos=alunos, seed=seed, agora=AGORA)
        self.espelho: dict | None = None
        self.requisicoes: list[str] = []


REF = Referencia(alunos=60, seed=17)
REF_GRANDE = Referencia(alunos=600, seed=29)


@contextmanager
def _sandbox_hotmart(ref: Referencia, **opcoes):
    app = sandbox_hotmart.criar_app(ref.ds, client_id="cid", client_secret="csecret", **opcoes)
    with servir(app) as url:
        app.state.url = url
        yield app


def _cliente(app, **opcoes) -> HotmartClient:
    """A client of the sandbox whose backoff never waits (it records, and a 429's wait opens
    the sandbox's next rate-limit window, as the real reset would)."""
    esperas = opcoes.pop("esperas", [])

    def dormir(segundos: float) -> None:
        esperas.append(segundos)
        app.state.limite.reiniciar()

    base = {"max_retries": 5, "tamanho_pagina": PAGINA, "timeout": 5.0}
    return HotmartClient(
        client_id="cid",
        client_secret="csecret",
        api_base=app.state.url,
        auth_url=app.state.url + "/security/oauth/token",
        sleep=dormir,
        **{**base, **opcoes},
    )


def _catalogo_com_subdominios(banco, app, ref: Referencia) -> None:
    """Products first (no fault), then the Club subdomains a CS user would set."""
    with _cliente(app) as cliente:
        Sincronizacao(cliente).sincronizar_catalogo()
    with banco.begin() as conn:
        for pid, sub in ref.ds.subdominios.items():
            conn.execute(
                text("UPDATE produtos SET hotmart_subdomain = :s WHERE hotmart_product_id = :p"),
                {"s": sub, "p": pid},
            )


def _espelho(banco) -> dict[str, list]:
    """The mirror by natural keys and values (surrogate ids and write times left out)."""
    consultas = {
        "produtos": "SELECT hotmart_product_id, nome, hotmart_subdomain FROM produtos",
        "ofertas": "SELECT p.hotmart_product_id, o.hotmart_offer_code, o.nome, o.preco::text "
        "FROM ofertas o JOIN produtos p ON p.id = o.produto_id",
        "modulos": "SELECT p.hotmart_product_id, m.hotmart_module_id, m.nome, m.ordem "
        "FROM modulos m JOIN produtos p ON p.id = m.produto_id",
        "aulas": "SELECT m.hotmart_module_id, a.hotmart_page_hash, a.nome, a.ordem "
        "FROM aulas a JOIN modulos m ON m.id = a.modulo_id",
        "alunos": "SELECT email, nome, cpf, celular, ltv_total::text FROM alunos",
        "transacoes": "SELECT t.id, a.email, p.hotmart_product_id, t.status, t.valor_pago::text, "
        "t.data_compra::text FROM transacoes t LEFT JOIN alunos a ON a.id = t.aluno_id "
        "LEFT JOIN produtos p ON p.id = t.produto_id",
        "matriculas": "SELECT a.email, p.hotmart_product_id, m.status_acesso, "
        "m.transacao_origem_id, m.data_inicio::text, m.data_primeiro_acesso::text "
        "FROM matriculas m JOIN alunos a ON a.id = m.aluno_id "
        "JOIN produtos p ON p.id = m.produto_id",
        "progresso_aulas": "SELECT a.email, au.hotmart_page_hash, pa.data_conclusao::text "
        "FROM progresso_aulas pa JOIN matriculas m ON m.id = pa.matricula_id "
        "JOIN alunos a ON a.id = m.aluno_id JOIN aulas au ON au.id = pa.aula_id",
    }
    with banco.connect() as conn:
        return {
            tabela: sorted(tuple(map(str, linha)) for linha in conn.execute(text(sql)).all())
            for tabela, sql in consultas.items()
        }


def _referencia(banco, ref: Referencia) -> dict:
    """The clean sync's mirror and request log (computed once, the tables emptied after)."""
    if ref.espelho is None:
        limpar(banco, tabelas(banco))
        with _sandbox_hotmart(ref) as app:
            _catalogo_com_subdominios(banco, app, ref)
            app.state.requisicoes.clear()
            with _cliente(app) as cliente:
                Sincronizacao(cliente).executar()
            ref.requisicoes = list(app.state.requisicoes)
        ref.espelho = _espelho(banco)
        assert all(ref.espelho[t] for t in ESPELHO), "the data set must fill every table"
        limpar(banco, tabelas(banco))
    return ref.espelho


def _diferencas(banco, esperado: dict) -> dict[str, str]:
    """Per table: how the mirror differs from the clean one (empty when equal)."""
    obtido = _espelho(banco)
    diferentes = {}
    for tabela, linhas in esperado.items():
        if obtido[tabela] != linhas:
            faltam = Counter(linhas) - Counter(obtido[tabela])
            sobram = Counter(obtido[tabela]) - Counter(linhas)
            diferentes[tabela] = (
                f"faltam {sum(faltam.values())}: {sorted(faltam)[:3]}, "
                f"sobram {sum(sobram.values())}: {sorted(sobram)[:3]}"
            )
    return diferentes


def _etapa(requisicao: str, ds) -> str:
    """The sync step (as in the job cursor) a logged sandbox request belongs to."""
    metodo, _, resto = requisicao.partition(" ")
    partes = urlsplit(resto)
    caminho, consulta = partes.path, parse_qs(partes.query)
    if caminho.endswith("/oauth/token"):
        return "token"
    if caminho.startswith("/products"):
        return "produtos"
    if caminho == "/payments/api/v1/sales/users":
        return f"participantes:{consulta['transaction_status'][0]}"
    if caminho == "/payments/api/v1/sales/history":
        return f"vendas:{consulta['transaction_status'][0]}"
    if caminho.startswith("/payments/api/v1/subscriptions"):
        return "assinaturas"
    produto = {sub: pid for pid, sub in ds.subdominios.items()}
    if "subdomain" in consulta:
        return f"club:{produto[consulta['subdomain'][0]]}"
    if "product_id" in consulta:
        return f"club:{consulta['product_id'][0]}"
    return f"? {metodo} {caminho}"


# ---- Hotmart: storms, bursts, slow answers, broken pages ------------------------------------


def _sync_sob_falhas(banco, ref: Referencia, armar, **opcoes_cliente) -> tuple:
    esperado = _referencia(banco, ref)
    with _sandbox_hotmart(ref, **opcoes_cliente.pop("sandbox", {})) as app:
        _catalogo_com_subdominios(banco, app, ref)
        app.state.respostas.clear()
        armar(app.state.falhas)
        esperas: list[float] = []
        with _cliente(app, esperas=esperas, **opcoes_cliente) as cliente:
            Sincronizacao(cliente).executar()
        return esperado, app, esperas


def test_a_429_storm_and_5xx_bursts_end_with_the_rows_of_a_clean_sync(banco):
    def armar(falhas):
        # Bursts of at most 3 consecutive 5xx: with the storm's 429s they stay within the
        # client's 6 tries.
        falhas.adicionar("/products", status=504, vezes=2)
        falhas.adicionar("/payments/api/v1/sales/history", status=503, vezes=3, depois=3)
        falhas.adicionar("/payments/api/v1/sales/users", status=500, vezes=3, depois=10)
        falhas.adicionar("/payments/api/v1/sales/history", status=502, vezes=3, depois=20)
        falhas.adicionar("/payments/api/v1/subscriptions", status=503, vezes=2)
        falhas.adicionar("/club", status=500, vezes=3, depois=7)

    # The sandbox's rate limit: every 5th request of a window is a 429 (a storm all sync long).
    esperado, app, esperas = _sync_sob_falhas(banco, REF, armar, sandbox={"rate_limit_per_min": 4})
    assert app.state.falhas.pendentes() == 0  # every scripted 5xx was answered
    respostas = app.state.respostas
    assert respostas[429] >= 25
    assert [respostas[s] for s in (500, 502, 503, 504)] == [6, 3, 5, 2]
    assert len(esperas) == sum(respostas[s] for s in (429, 500, 502, 503, 504))
    assert _diferencas(banco, esperado) == {}


def test_slow_answers_past_the_client_timeout_are_retried_and_the_sync_ends_clean(banco):
    def armar(falhas):
        falhas.adicionar("/payments/api/v1/sales/users", status=None, atraso_s=0.8, vezes=2)
        falhas.adicionar("/club/api/v1/users", status=None, atraso_s=0.8, vezes=1, depois=2)

    esperado, app, esperas = _sync_sob_falhas(banco, REF, armar, timeout=0.3)
    assert app.state.falhas.pendentes() == 0 and len(esperas) == 3
    assert _diferencas(banco, esperado) == {}


def test_broken_pages_and_dropped_connections_are_retried_and_nothing_is_lost(banco):
    def armar(falhas):
        # A page without `items`: taken as an empty page (as the client once did), it silently
        # loses the APPROVED sales, their enrolments and LTV.
        falhas.adicionar_malformada("/payments/api/v1/sales/history", modo="sem_items")
        falhas.adicionar_malformada("/payments/api/v1/sales/users", modo="json", depois=2)
        falhas.adicionar_corte("/payments/api/v1/sales/history", vezes=2, depois=6)
        falhas.adicionar_corte("/club/api/v1/users", depois=1)
        falhas.adicionar_malformada("/club/api/v1/modules", modo="json")

    esperado, app, esperas = _sync_sob_falhas(banco, REF, armar)
    respostas = app.state.respostas
    assert app.state.falhas.pendentes() == 0
    assert (respostas["sem_items"], respostas["json"], respostas["cortada"]) == (1, 2, 3)
    assert len(esperas) == 6
    assert _diferencas(banco, esperado) == {}


@pytest.mark.parametrize(
    ("armar", "mensagem"),
    [
        (
            lambda f: f.adicionar("/products", status=None, atraso_s=0.6, vezes=3),
            "Falha de conexão com a Hotmart em /products/api/v1/products (ReadTimeout)",
        ),
        (
            lambda f: f.adicionar_malformada("/products", modo="sem_items", vezes=3),
            "Hotmart respondeu 200 em /products/api/v1/products com uma página sem a lista items",
        ),
        (
            lambda f: f.adicionar_corte("/products", vezes=3),
            "Falha de conexão com a Hotmart em /products/api/v1/products (RemoteProtocolError)",
        ),
        (
            lambda f: f.adicionar("/products", status=503, vezes=3),
            "Hotmart respondeu 503 em /products/api/v1/products: internal_server_error",
        ),
    ],
)
def test_a_fault_that_outlasts_the_retries_is_a_failed_job_with_a_portuguese_error(
    banco, monkeypatch, armar, mensagem
):
    with _sandbox_hotmart(REF) as app:
        _configurar_hotmart(app, monkeypatch, max_retries=2, timeout=0.25)
        armar(app.state.falhas)
        with pytest.raises(HotmartErro, match=mensagem.replace("(", r"\(").replace(")", r"\)")):
            conexao.executar_sync(iniciado_por="teste")
    job = jobs.ultimo("sync_hotmart")
    assert job.status == "erro" and job.erro.startswith(mensagem)
    assert "csecret" not in job.erro


# ---- Hotmart: a failed job resumes where it stopped -----------------------------------------


def _configurar_hotmart(app, monkeypatch, **opcoes) -> None:
    """Configurações pointing at the sandbox; the job's client gets the test's no-wait sleep."""
    with UnidadeDeTrabalho() as uow:
        config.definir_varios(
            uow.session,
            {
                "hotmart_client_id": "cid",
                "hotmart_client_secret": "csecret",
                "hotmart_api_base": app.state.url,
                "hotmart_auth_url": app.state.url + "/security/oauth/token",
            },
        )
        uow.commit()
    monkeypatch.setattr(conexao, "HotmartClient", lambda **_kw: _cliente(app, **opcoes))


def _resumir(banco, monkeypatch, ref: Referencia, armar) -> dict:
    """Run the sync job until it fails, then again; return what each run asked for."""
    esperado = _referencia(banco, ref)
    with _sandbox_hotmart(ref) as app:
        _catalogo_com_subdominios(banco, app, ref)
        _configurar_hotmart(app, monkeypatch, max_retries=2)
        armar(app.state.falhas)
        app.state.requisicoes.clear()
        with pytest.raises(HotmartErro):
            conexao.executar_sync(iniciado_por="teste")
        falho = jobs.ultimo("sync_hotmart")
        primeira = list(app.state.requisicoes)
        meio = _espelho(banco)
        app.state.falhas.limpar()
        app.state.requisicoes.clear()
        job = conexao.executar_sync(iniciado_por="teste")
        segunda = list(app.state.requisicoes)
    return {
        "esperado": esperado,
        "falho": falho,
        "job": job,
        "primeira": primeira,
        "segunda": segunda,
        "meio": meio,
    }


def _verificar_retomada(banco, ref: Referencia, r: dict) -> None:
    falho, feitas = r["falho"], set(r["falho"].cursor["feitas"])
    assert falho.status == "erro" and "Hotmart respondeu 503" in falho.erro
    assert feitas and r["job"].status == "concluido"
    # Nothing a finished step fetched is asked for again...
    etapas_segunda = Counter(_etapa(x, ref.ds) for x in r["segunda"])
    assert not feitas & set(etapas_segunda), feitas & set(etapas_segunda)
    # ...and every other step is fetched exactly as a clean run fetches it (the step that
    # failed starts over from its first page: resumption is per step).
    limpa = Counter(_etapa(x, ref.ds) for x in ref.requisicoes if _etapa(x, ref.ds) not in feitas)
    assert etapas_segunda == limpa
    # The partial mirror of the failed run had no duplicate either, and the end is clean.
    for tabela, linhas in r["meio"].items():
        assert len(set(linhas)) == len(linhas) <= len(r["esperado"][tabela])
    assert _diferencas(banco, r["esperado"]) == {}


def test_a_sync_killed_mid_sales_resumes_the_remaining_steps_and_ends_clean(banco, monkeypatch):
    # The 9th sales-history request and its 2 retries fail: some statuses are done by then.
    r = _resumir(
        banco,
        monkeypatch,
        REF,
        lambda f: f.adicionar("/payments/api/v1/sales/history", status=503, vezes=3, depois=8),
    )
    assert "vendas:APPROVED" in r["falho"].cursor["feitas"]
    assert "matriculas" not in r["falho"].cursor["feitas"]
    _verificar_retomada(banco, REF, r)


def test_a_sync_killed_in_the_club_resumes_there_and_ends_clean(banco, monkeypatch):
    r = _resumir(
        banco,
        monkeypatch,
        REF,
        lambda f: f.adicionar("/club/api/v1/users", status=503, vezes=3, depois=3),
    )
    assert "matriculas" in r["falho"].cursor["feitas"]
    _verificar_retomada(banco, REF, r)


# ---- Meta: dispatch under faults ------------------------------------------------------------

TOKEN = "tok-falhas"
MEIO_DIA = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # 12:00 in São Paulo: inside the window


@pytest.fixture
def meta(banco):
    from services.sandbox.meta_templates import _modelo

    app = sandbox_meta.criar_app(
        access_token=TOKEN,
        app_secret="s",
        phone_number_id="111",
        waba_id="222",
        templates=[_modelo("91", "aviso", "UTILITY", "Oi {{1}}", ["Ana"])],
    )
    with servir(app) as url:
        app.state.url = url
        with UnidadeDeTrabalho() as uow:
            config.definir_varios(
                uow.session,
                {"disparo_max_por_segundo": "80", "disparo_max_por_aluno_dia": "5"},
            )
            uow.commit()
        yield app


def _fila(banco, n: int) -> list[int]:
    """n approved items, one per student, of an approved template with one variable."""
    with banco.begin() as conn:
        template = conn.execute(
            text(
                "INSERT INTO templates (nome_meta, idioma, status_meta, conteudo_texto, "
                "qtd_parametros) VALUES ('aviso', 'pt_BR', 'APPROVED', 'Oi {{1}}', 1) RETURNING id"
            )
        ).scalar()
        ids = []
        for i in range(n):
            aluno = conn.execute(
                text("INSERT INTO alunos (nome, email, celular) VALUES (:n, :e, :c) RETURNING id"),
                {"n": f"Aluno {i}", "e": f"a{i}@x.com", "c": f"55119{i:08d}"},
            ).scalar()
            ids.append(
                conn.execute(
                    text(
                        "INSERT INTO filas_disparo (aluno_id, template_id, status, variaveis, "
                        "chave_dedupe) VALUES (:a, :t, 'aprovado', '[\"Ana\"]', :k) RETURNING id"
                    ),
                    {"a": aluno, "t": template, "k": f"k{i}"},
                ).scalar()
            )
    return ids


def _despachar(meta, paralelos: int = 1, **opcoes) -> dict:
    """Dispatch with a no-wait client. Scripted faults hit "the next N requests", so these tests
    send one at a time (``paralelos=1``) to know which item a fault lands on; the long random
    run keeps the default concurrency and checks only what holds for any order."""

    def fabrica():
        return WhatsAppClient(
            access_token=TOKEN,
            phone_number_id="111",
            waba_id="222",
            api_base=meta.state.url,
            sleep=lambda _s: None,
            **{"max_retries": 2, "timeout": 5.0, **opcoes},
        )

    return disparo.despachar(cliente_fabrica=fabrica, agora=lambda: MEIO_DIA, paralelos=paralelos)


def _itens(banco) -> list:
    with banco.connect() as conn:
        return conn.execute(
            text(
                "SELECT f.id, f.status, f.erro_codigo, f.tentativas, f.proxima_tentativa_em, "
                "a.celular FROM filas_disparo f JOIN alunos a ON a.id = f.aluno_id ORDER BY f.id"
            )
        ).all()


def _vencer_esperas(banco) -> None:
    with banco.begin() as conn:
        conn.execute(
            text(
                "UPDATE filas_disparo SET proxima_tentativa_em = now() - interval '1 second' "
                "WHERE proxima_tentativa_em IS NOT NULL"
            )
        )


def _nunca_em_dobro(banco, meta) -> None:
    """Every accepted send is logged once, or its item is left to a person ('verificar');
    no student got the message twice."""
    envios = Counter(e["to"] for e in meta.state.envios)
    assert all(n == 1 for n in envios.values()), [t for t, n in envios.items() if n > 1]
    with banco.connect() as conn:
        logados = (
            conn.execute(
                text("SELECT a.celular FROM logs_disparo l JOIN alunos a ON a.id = l.aluno_id")
            )
            .scalars()
            .all()
        )
        verificar = set(
            conn.execute(
                text(
                    "SELECT a.celular FROM filas_disparo f JOIN alunos a ON a.id = f.aluno_id "
                    "WHERE f.status = 'verificar'"
                )
            ).scalars()
        )
        enviados = conn.execute(
            text("SELECT count(*) FROM filas_disparo WHERE status = 'enviado'")
        ).scalar()
    assert len(logados) == len(set(logados)) == enviados
    assert set(envios) == set(logados) | (verificar & set(envios))
    assert not set(logados) & verificar


def test_a_429_storm_backs_off_then_ends_in_error_with_metas_code(banco, meta):
    _fila(banco, 5)
    meta.state.falhas.adicionar("/messages", codigo=130429, status=429, vezes=10_000)
    resultado = _despachar(meta)
    assert resultado["adiados"] == 5 and resultado["enviados"] == 0
    agora = datetime.now(UTC)
    itens = _itens(banco)
    assert {(i.status, i.erro_codigo, i.tentativas) for i in itens} == {("aprovado", 130429, 1)}
    assert all(i.proxima_tentativa_em > agora for i in itens)  # backed off, not hammering
    pedidos = len(meta.state.requisicoes)
    assert pedidos == 5 * 3  # each item: 1 try + 2 retries inside the client
    assert _despachar(meta)["enviados"] == 0
    assert len(meta.state.requisicoes) == pedidos  # nothing is due yet: Meta is not asked
    for _ in range(2):
        _vencer_esperas(banco)
        _despachar(meta)
    assert {(i.status, i.erro_codigo) for i in _itens(banco)} == {("erro", 130429)}
    assert len(meta.state.envios) == 0
    _nunca_em_dobro(banco, meta)


def test_5xx_bursts_shorter_than_the_retries_send_every_item_exactly_once(banco, meta):
    _fila(banco, 20)
    falhas = meta.state.falhas
    falhas.adicionar("/messages", codigo=131000, status=500, vezes=2)
    falhas.adicionar("/messages", codigo=2, status=502, vezes=2, depois=5)  # Meta's own body
    falhas.adicionar("/messages", codigo=131016, status=503, vezes=1, depois=12)
    falhas.adicionar("/messages", codigo=130429, status=429, vezes=2, depois=15)
    resultado = _despachar(meta)
    assert resultado["enviados"] == 20 and falhas.pendentes() == 0
    assert {i.status for i in _itens(banco)} == {"enviado"}
    assert len(meta.state.envios) == 20
    _nunca_em_dobro(banco, meta)


def test_a_5xx_burst_longer_than_the_retries_backs_off_and_a_later_run_sends_once(banco, meta):
    _fila(banco, 3)
    meta.state.falhas.adicionar("/messages", codigo=131000, status=500, vezes=3)
    resultado = _despachar(meta)
    assert (resultado["adiados"], resultado["enviados"]) == (1, 2)
    adiado = next(i for i in _itens(banco) if i.status == "aprovado")
    assert adiado.erro_codigo == 131000 and adiado.proxima_tentativa_em > datetime.now(UTC)
    _vencer_esperas(banco)
    assert _despachar(meta)["enviados"] == 1
    assert {i.status for i in _itens(banco)} == {"enviado"} and len(meta.state.envios) == 3
    _nunca_em_dobro(banco, meta)


def test_a_send_answered_after_the_client_timeout_is_left_to_verify_never_resent(banco, meta):
    _fila(banco, 6)
    meta.state.falhas.adicionar_lentidao("/messages", atraso_s=1.0, vezes=2, depois=1)
    resultado = _despachar(meta, timeout=0.3)
    assert (resultado["enviados"], resultado["verificar"]) == (4, 2)
    assert len(meta.state.envios) == 6  # Meta did accept the two slow ones
    for _ in range(2):
        _vencer_esperas(banco)
        assert _despachar(meta)["enviados"] == 0
    assert len(meta.state.envios) == 6
    assert Counter(i.status for i in _itens(banco)) == {"enviado": 4, "verificar": 2}
    _nunca_em_dobro(banco, meta)


def test_a_connection_dropped_after_acceptance_is_left_to_verify_never_resent(banco, meta):
    _fila(banco, 6)
    meta.state.falhas.adicionar_corte("/messages", vezes=2, depois=2)
    resultado = _despachar(meta)
    assert (resultado["enviados"], resultado["verificar"]) == (4, 2)
    _vencer_esperas(banco)
    assert _despachar(meta)["enviados"] == 0
    assert len(meta.state.envios) == 6
    _nunca_em_dobro(banco, meta)


@pytest.mark.parametrize(
    ("aceito", "status"), [(True, 502), (True, 504), (False, 502), (False, 503)]
)
def test_a_bare_5xx_on_a_send_is_left_to_verify_never_resent(banco, meta, aceito, status):
    """A 5xx without Meta's error body comes from a gateway: whether Meta had accepted the send
    (first two cases) or never saw it, the client cannot tell, so it does not retry."""
    _fila(banco, 2)
    if aceito:
        meta.state.falhas.adicionar_aceite_com_erro("/messages", status=status)
    else:
        meta.state.falhas.adicionar("/messages", codigo=None, status=status)
    resultado = _despachar(meta)
    assert (resultado["enviados"], resultado["verificar"]) == (1, 1)
    assert len(meta.state.envios) == 1 + aceito
    for _ in range(2):
        _vencer_esperas(banco)
        assert _despachar(meta)["enviados"] == 0
    assert len(meta.state.envios) == 1 + aceito  # nothing was sent again
    verificar = next(i for i in _itens(banco) if i.status == "verificar")
    assert verificar.proxima_tentativa_em is None
    with banco.connect() as conn:
        motivo = conn.execute(
            text("SELECT erro_mensagem FROM filas_disparo WHERE id = :i"), {"i": verificar.id}
        ).scalar()
    assert motivo.startswith(f"envio não confirmado: Meta respondeu {status}")
    assert "sem o corpo de erro da Meta" in motivo
    _nunca_em_dobro(banco, meta)


def test_a_timeout_before_meta_is_reached_is_retried_and_sent_once(banco, meta):
    """A refused connection (Meta never reached) is safe to retry: it is not a 'verificar'."""
    _fila(banco, 2)
    tentativas = []
    original = meta.state.url

    def fabrica():
        # The first client points at a closed port: every try is a ConnectError.
        tentativas.append(1)
        url = "http://127.0.0.1:9" if len(tentativas) == 1 else original
        return WhatsAppClient(
            access_token=TOKEN,
            phone_number_id="111",
            waba_id="222",
            api_base=url,
            sleep=lambda _s: None,
            max_retries=1,
            timeout=0.5,
        )

    primeira = disparo.despachar(cliente_fabrica=fabrica, agora=lambda: MEIO_DIA)
    assert primeira["adiados"] == 2 and primeira["verificar"] == 0
    _vencer_esperas(banco)
    segunda = disparo.despachar(cliente_fabrica=fabrica, agora=lambda: MEIO_DIA)
    assert segunda["enviados"] == 2 and len(meta.state.envios) == 2
    _nunca_em_dobro(banco, meta)


# ---- long variants --------------------------------------------------------------------------


def _falhas_aleatorias(falhas, sorteio: random.Random, *, max_consecutivas: int) -> None:
    caminhos = [
        "/products",
        "/payments/api/v1/sales/history",
        "/payments/api/v1/sales/users",
        "/payments/api/v1/subscriptions",
        "/club/api/v1/modules",
        "/club/api/v2/modules",
        "/club/api/v1/users",
    ]
    for _ in range(sorteio.randint(15, 30)):
        caminho, depois = sorteio.choice(caminhos), sorteio.randint(0, 40)
        tipo = sorteio.choice(["5xx", "5xx", "lento", "json", "sem_items", "corte"])
        if tipo == "5xx":
            status = sorteio.choice([500, 502, 503, 504])
            vezes = sorteio.randint(1, max_consecutivas)
            falhas.adicionar(caminho, status=status, vezes=vezes, depois=depois)
        elif tipo == "lento":
            falhas.adicionar(caminho, status=None, atraso_s=0.5, vezes=1, depois=depois)
        elif tipo == "corte":
            falhas.adicionar_corte(caminho, depois=depois)
        elif caminho.startswith(("/products", "/payments", "/club/api/v1/users")):
            falhas.adicionar_malformada(caminho, modo=tipo, depois=depois)


@pytest.mark.longo
@pytest.mark.parametrize("semente", range(10))
def test_long_random_fault_storms_end_with_the_clean_rows(banco, semente):
    sorteio = random.Random(semente)

    def armar(falhas):
        # Bursts stay within the client's 6 tries: every fault here is survivable.
        _falhas_aleatorias(falhas, sorteio, max_consecutivas=2)

    esperado, app, _ = _sync_sob_falhas(
        banco,
        REF_GRANDE,
        armar,
        timeout=0.25,
        sandbox={"rate_limit_per_min": sorteio.randint(5, 40)},
    )
    assert app.state.respostas[429] > 0
    assert _diferencas(banco, esperado) == {}


@pytest.mark.longo
@pytest.mark.parametrize("semente", range(8))
def test_long_a_sync_killed_again_and_again_resumes_until_clean(banco, monkeypatch, semente):
    sorteio = random.Random(100 + semente)
    esperado = _referencia(banco, REF_GRANDE)
    with _sandbox_hotmart(REF_GRANDE) as app:
        _catalogo_com_subdominios(banco, app, REF_GRANDE)
        _configurar_hotmart(app, monkeypatch, max_retries=1, timeout=0.25)
        feitas_antes: set[str] = set()
        falhas = 0
        for rodada in range(60):
            app.state.falhas.limpar()
            if rodada < 8:  # then the faults stop and the job must finish
                _falhas_aleatorias(app.state.falhas, sorteio, max_consecutivas=4)
            app.state.requisicoes.clear()
            try:
                job = conexao.executar_sync(iniciado_por="teste")
            except HotmartErro:
                job = jobs.ultimo("sync_hotmart")
            pedidas = {_etapa(x, REF_GRANDE.ds) for x in app.state.requisicoes}
            assert not feitas_antes & pedidas  # a finished step is never fetched again
            if job.status == "concluido":
                break
            falhas += 1
            assert set(job.cursor["feitas"]) >= feitas_antes
            feitas_antes = set(job.cursor["feitas"])
        assert job.status == "concluido" and falhas >= 2
    assert _diferencas(banco, esperado) == {}


@pytest.mark.longo
@pytest.mark.parametrize("semente", range(5))
def test_long_dispatch_under_random_faults_never_sends_twice(banco, meta, semente):
    sorteio = random.Random(semente)
    _fila(banco, 300)
    falhas = meta.state.falhas
    for _ in range(80):
        depois = sorteio.randint(0, 300)
        tipo = sorteio.choice(["429", "5xx", "502", "lento", "corte"])
        if tipo == "429":
            falhas.adicionar("/messages", codigo=130429, status=429, vezes=3, depois=depois)
        elif tipo == "5xx":
            falhas.adicionar("/messages", codigo=131000, status=500, vezes=2, depois=depois)
        elif tipo == "502":
            falhas.adicionar("/messages", codigo=None, status=502, vezes=1, depois=depois)
        elif tipo == "lento":
            falhas.adicionar_lentidao("/messages", atraso_s=0.6, depois=depois)
        else:
            falhas.adicionar_corte("/messages", depois=depois)
    for _ in range(12):
        _despachar(meta, paralelos=disparo.PARALELOS, timeout=0.3)
        _vencer_esperas(banco)
        if not any(i.status == "aprovado" for i in _itens(banco)):
            break
    estados = Counter(i.status for i in _itens(banco))
    assert set(estados) <= {"enviado", "verificar", "erro"}
    assert estados["enviado"] >= 200
    _nunca_em_dobro(banco, meta)
