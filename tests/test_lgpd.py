"""LGPD: the export of everything about a student and the anonymisation on request."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from db.uow import UnidadeDeTrabalho
from services import consentimento, lgpd
from services.demo_data import gerar_dataset
from services.disparo import CLASSE_LOCK
from services.sandbox.hotmart import criar_app
from services.sandbox.server import servir
from tests import fabrica_cs as f
from tests.test_cli import cli
from tests.test_hotmart_sync import _sincronizar

RAIZ = Path(__file__).resolve().parent.parent
PAGINA = str(RAIZ / "pages" / "Alunos.py")

NOME = "Maria José"
EMAIL = "maria.jose@exemplo.com"
CPF = "529.982.247-25"
CPF_DIGITOS = "52998224725"
CELULAR = "5511987654321"
CELULAR_LOCAL = "987654321"
BOLETO = "https://pay.hotmart.com/boleto/HP1000000002?email=maria.jose@exemplo.com"
PIX = "00020126580014BR.GOV.BCB.PIX0136MARIA JOSE SILVA"
VESTIGIOS = (EMAIL, NOME, CELULAR, CELULAR_LOCAL, CPF, CPF_DIGITOS, "pay.hotmart.com/boleto")

OUTRA_NOME = "Joana Prado"
OUTRA_EMAIL = "joana.prado@exemplo.com"
OUTRA_CELULAR = "5521912345678"
OUTRA_CPF = "11144477735"


def _sql(banco, sql: str, **valores):
    with banco.begin() as conn:
        resultado = conn.execute(text(sql), valores)
        return resultado.scalar() if resultado.returns_rows else None


def _evento(banco, origem: str, evento_id: str | None, tipo, payload, corpo=None) -> int:
    return _sql(
        banco,
        "INSERT INTO eventos_webhook (origem, evento_id, tipo, payload, corpo_bruto, "
        "processado_em) VALUES (:o, :e, :t, CAST(:p AS jsonb), :c, now()) RETURNING id",
        o=origem,
        e=evento_id,
        t=tipo,
        p=None if payload is None else json.dumps(payload),
        c=corpo,
    )


def _compra(evento_id: str, transacao: str, email: str, nome: str, doc: str, fone: str) -> dict:
    return {
        "id": evento_id,
        "event": "PURCHASE_APPROVED",
        "version": "2.0.0",
        "data": {
            "product": {"id": 9990001, "name": "Curso de Excel"},
            "buyer": {
                "email": email,
                "name": nome,
                "document": doc,
                "checkout_phone_code": fone[2:4],
                "checkout_phone": fone[4:],
                "address": {"city": "São Paulo", "zipcode": "01310100"},
            },
            "producer": {"name": "Escola Exemplo"},
            "purchase": {
                "transaction": transacao,
                "status": "APPROVED",
                "price": {"value": 997.0},
                "payment": {
                    "type": "BILLET",
                    "billet_url": BOLETO if "maria" in email.lower() else None,
                },
            },
        },
    }


def _item_fila(banco, aluno_id, regra, template, status: str, **extra) -> int:
    return _sql(
        banco,
        "INSERT INTO filas_disparo (regra_id, aluno_id, template_id, status, chave_dedupe, "
        "variaveis, texto_renderizado, motivo_rejeicao, reservado_por) VALUES "
        "(:r, :a, :t, :s, :k, CAST(:v AS jsonb), :txt, :mot, :res) RETURNING id",
        r=regra,
        a=aluno_id,
        t=template,
        s=status,
        k=f"{regra}:{aluno_id}:{status}:{uuid.uuid4().hex[:6]}",
        v=json.dumps([extra.get("primeiro_nome", "Maria")]),
        txt=extra.get("texto", "Olá Maria, seu boleto vence amanhã."),
        mot=extra.get("motivo"),
        res=extra.get("reservado_por"),
    )


@pytest.fixture
def titular(banco):
    """Maria (every kind of record) and Joana (some of the same kinds), crafted with SQL."""
    maria = f.aluno(banco, NOME, EMAIL, cpf=CPF, celular=CELULAR, ltv="997.00")
    _sql(
        banco,
        "UPDATE alunos SET foto_url = 'https://fotos.exemplo/maria.jpg' WHERE id = :a",
        a=maria,
    )
    joana = f.aluno(banco, OUTRA_NOME, OUTRA_EMAIL, cpf=OUTRA_CPF, celular=OUTRA_CELULAR)
    p = f.produto(banco, "Curso de Excel", hotmart_id=9990001)
    oferta = f.oferta(banco, p, "Oferta anual", "997.00", codigo="anual001")
    m = f.modulo(banco, p, "Módulo 1 — Básico", 1)
    a1 = f.aula(banco, m, "Boas-vindas", 1)
    compra = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    f.transacao(
        banco, "HP1000000001", maria, p, valor="997.00", data_compra=compra, oferta_id=oferta
    )
    f.transacao(
        banco,
        "HP1000000002",
        maria,
        p,
        status="WAITING_PAYMENT",
        valor="237.56",
        data_compra=compra + timedelta(days=30),
        link_boleto=BOLETO,
        codigo_pix=PIX,
    )
    f.transacao(banco, "HP2000000001", joana, p, valor="497.00", data_compra=compra)
    for aluno in (maria, joana):
        mat = f.matricula(banco, aluno, p)
        f.concluir(banco, mat, a1, ha_dias=2)
    vip = f.tag(banco, "vip")
    for aluno in (maria, joana):
        _sql(banco, "INSERT INTO alunos_tags VALUES (:a, :t) RETURNING 1", a=aluno, t=vip)
    _sql(
        banco,
        "INSERT INTO consentimentos (aluno_id, finalidade, concedido, origem, detalhes, "
        "registrado_em) VALUES (:a, 'whatsapp', false, 'optout_whatsapp', "
        "'Resposta no WhatsApp: SAIR — sou a Maria José', now() - interval '2 days'), "
        "(:a, 'whatsapp', true, 'admin', NULL, now() - interval '1 day') RETURNING 1",
        a=maria,
    )
    template = f.template(banco, "lembrete_boleto")
    regra = _sql(
        banco,
        "INSERT INTO regras_automacao (nome, gatilho, template_id) "
        "VALUES ('Boleto', 'boleto_pendente', :t) RETURNING id",
        t=template,
    )
    itens = {
        s: _item_fila(banco, maria, regra, template, s)
        for s in ("pendente", "aprovado", "verificar", "enviado")
    }
    itens["rejeitado"] = _item_fila(
        banco, maria, regra, template, "rejeitado", motivo="Maria José pediu para não receber"
    )
    itens["enviando"] = _item_fila(banco, maria, regra, template, "enviando", reservado_por=424242)
    _item_fila(banco, joana, regra, template, "pendente", primeiro_nome="Joana", texto="Olá Joana!")
    for aluno, fone, texto in (
        (maria, CELULAR, "Olá Maria, seu boleto vence amanhã."),
        (joana, OUTRA_CELULAR, "Olá Joana!"),
    ):
        _sql(
            banco,
            "INSERT INTO logs_disparo (aluno_id, template_id, mensagem_id_whatsapp, "
            "status_entrega, telefone, wa_id, variaveis, texto_renderizado, erro_titulo) "
            "VALUES (:a, :t, :w, 'read', :f, :f, CAST(:v AS jsonb), :txt, :erro) RETURNING id",
            a=aluno,
            t=template,
            w=f"wamid.{uuid.uuid4().hex}",
            f=fone,
            v=json.dumps([texto.split()[1].rstrip(",!")]),
            txt=texto,
            erro=f"Número {fone} fora da janela" if aluno == maria else None,
        )
    _sql(
        banco,
        "INSERT INTO chatwoot_contatos (aluno_id, contato_id) VALUES (:a, 77) RETURNING 1",
        a=maria,
    )
    for nome, email, fone, evento in (
        (NOME, EMAIL, CELULAR, "cart-maria"),
        (OUTRA_NOME, OUTRA_EMAIL, OUTRA_CELULAR, "cart-joana"),
    ):
        _sql(
            banco,
            "INSERT INTO carrinhos_abandonados (evento_id, produto_id, nome, email, celular) "
            "VALUES (:e, :p, :n, :m, :c) RETURNING id",
            e=evento,
            p=p,
            n=nome,
            m=email,
            c=fone,
        )
    eventos = {
        "compra": _evento(
            banco,
            "hotmart",
            "evt-maria-1",
            "PURCHASE_APPROVED",
            # e-mail case as Hotmart sent it: matched case-insensitively
            _compra(
                "evt-maria-1", "HP1000000001", "Maria.Jose@Exemplo.com", NOME, CPF_DIGITOS, CELULAR
            ),
        ),
        "carrinho": _evento(
            banco,
            "hotmart",
            "cart-maria",
            "PURCHASE_OUT_OF_SHOPPING_CART",
            {"data": {"buyer": {"email": EMAIL, "name": NOME, "phone": CELULAR_LOCAL}}},
        ),
        "club": _evento(
            banco,
            "hotmart",
            "club-maria",
            "CLUB_FIRST_ACCESS",
            {"data": {"user": {"email": EMAIL, "name": NOME}, "product": {"id": 9990001}}},
        ),
        "lote_meta": _evento(
            banco,
            "meta",
            "meta-1",
            "messages",
            {
                "entry": [
                    {
                        "changes": [
                            {
                                "field": "messages",
                                "value": {
                                    "contacts": [
                                        {"profile": {"name": "Maria"}, "wa_id": CELULAR},
                                        {"profile": {"name": "Joana"}, "wa_id": OUTRA_CELULAR},
                                    ],
                                    "messages": [
                                        {"from": CELULAR, "type": "text", "text": {"body": "SAIR"}},
                                        {
                                            "from": OUTRA_CELULAR,
                                            "type": "text",
                                            "text": {"body": "Oi"},
                                        },
                                    ],
                                },
                            }
                        ]
                    }
                ]
            },
        ),
        "status_meta": _evento(
            banco,
            "meta",
            "meta-2",
            "statuses",
            {"statuses": [{"id": "wamid.x", "status": "read", "recipient_id": CELULAR}]},
        ),
        "malformado": _evento(
            banco,
            "hotmart",
            None,
            None,
            None,
            corpo='{"data": {"buyer": {"email": "maria.jose@exemplo.com", "name": "Maria José"',
        ),
        "joana": _evento(
            banco,
            "hotmart",
            "evt-joana-1",
            "PURCHASE_APPROVED",
            _compra(
                "evt-joana-1", "HP2000000001", OUTRA_EMAIL, OUTRA_NOME, OUTRA_CPF, OUTRA_CELULAR
            ),
        ),
        "alheio": _evento(banco, "hotmart", "evt-x", "PRODUCT_UPDATE", {"data": {"id": 1}}),
    }
    return {"maria": maria, "joana": joana, "itens": itens, "eventos": eventos, "produto": p}


def _exportar(aluno_id, usuario="admin1") -> dict:
    with UnidadeDeTrabalho() as uow:
        dados = lgpd.exportar_aluno(uow.session, aluno_id, usuario=usuario)
        uow.commit()
    return dados


def _anonimizar(aluno_id, motivo="Pedido da titular por e-mail, protocolo 42", usuario="admin1"):
    with UnidadeDeTrabalho() as uow:
        resumo = lgpd.anonimizar_aluno(uow.session, aluno_id, usuario=usuario, motivo=motivo)
        uow.commit()
    return resumo


def _tabelas(banco) -> list[str]:
    with banco.connect() as conn:
        return list(
            conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
            ).scalars()
        )


def _fotografia(banco) -> dict[str, list[str]]:
    """Every row of every table as text: equal snapshots mean nothing changed."""
    with banco.connect() as conn:
        return {
            t: list(conn.execute(text(f"SELECT x::text FROM {t} x ORDER BY 1")).scalars())
            for t in _tabelas(banco)
        }


def _onde_aparece(banco, valor: str) -> dict[str, int]:
    """Tables whose rows (as text) contain ``valor``, case-insensitive, with the row count."""
    achados = {}
    with banco.connect() as conn:
        for t in _tabelas(banco):
            n = conn.execute(
                text(f"SELECT count(*) FROM {t} x WHERE x::text ILIKE '%' || :v || '%' ESCAPE '!'"),
                {"v": valor.replace("!", "!!").replace("%", "!%").replace("_", "!_")},
            ).scalar()
            if n:
                achados[t] = n
    return achados


# ---- export ----------------------------------------------------------------------------------


def test_export_holds_every_kind_of_record_and_nothing_of_another_student(titular, banco):
    dados = _exportar(titular["maria"])
    assert dados["versao_formato"] == 1
    assert datetime.fromisoformat(dados["gerado_em"]).tzinfo is not None
    assert dados["aluno"]["email"] == EMAIL and dados["aluno"]["cpf"] == CPF
    assert dados["aluno"]["ltv_total"] == "997.00"  # decimals as strings
    assert dados["aluno"]["foto_url"] == "https://fotos.exemplo/maria.jpg"
    transacoes = {t["id"]: t for t in dados["transacoes"]}
    assert set(transacoes) == {"HP1000000001", "HP1000000002"}
    assert transacoes["HP1000000001"]["valor_pago"] == "997.00"
    assert transacoes["HP1000000001"]["oferta"] == "Oferta anual"
    assert datetime.fromisoformat(transacoes["HP1000000001"]["data_compra"]) == datetime(
        2026, 3, 1, 12, 0, tzinfo=UTC
    )
    assert transacoes["HP1000000002"]["link_boleto"] == BOLETO
    assert [m["produto"] for m in dados["matriculas"]] == ["Curso de Excel"]
    [progresso] = dados["progresso_aulas"]
    assert (progresso["aula"], progresso["modulo"], progresso["produto"]) == (
        "Boas-vindas",
        "Módulo 1 — Básico",
        "Curso de Excel",
    )
    assert [t["nome"] for t in dados["alunos_tags"]] == ["vip"]
    assert [c["origem"] for c in dados["consentimentos"]] == ["optout_whatsapp", "admin"]
    [log] = dados["logs_disparo"]
    assert log["texto_renderizado"].startswith("Olá Maria") and log["telefone"] == CELULAR
    assert log["template"] == "lembrete_boleto"
    assert sorted(i["status"] for i in dados["filas_disparo"]) == sorted(titular["itens"])
    assert dados["chatwoot_contatos"]["contato_id"] == 77
    assert [c["evento_id"] for c in dados["carrinhos_abandonados"]] == ["cart-maria"]
    eventos = {e["id"] for e in dados["eventos_webhook"]}
    esperados = {"compra", "carrinho", "club", "lote_meta", "status_meta", "malformado"}
    assert eventos == {titular["eventos"][k] for k in esperados}
    assert dados["eventos_webhook_truncado"] is False
    # newest first
    assert [e["id"] for e in dados["eventos_webhook"]] == sorted(eventos, reverse=True)
    lote = next(e for e in dados["eventos_webhook"] if e["id"] == titular["eventos"]["lote_meta"])
    valor = lote["payload"]["entry"][0]["changes"][0]["value"]
    assert [c["wa_id"] for c in valor["contacts"]] == [CELULAR]  # Joana's part of the batch: out
    assert [m["from"] for m in valor["messages"]] == [CELULAR]

    texto = json.dumps(dados, ensure_ascii=False)  # JSON-serialisable as returned
    for alheio in (OUTRA_NOME, OUTRA_EMAIL, OUTRA_CELULAR, OUTRA_CPF, "HP2000000001", "Joana"):
        assert alheio not in texto
    assert str(titular["joana"]) not in texto


def test_export_is_audited_without_its_content(titular, banco):
    _exportar(titular["maria"], usuario="ana.admin")
    with banco.connect() as conn:
        linha = conn.execute(
            text("SELECT usuario, acao, entidade, entidade_id, detalhes::text AS d FROM auditoria")
        ).one()
    assert (linha.usuario, linha.acao, linha.entidade, linha.entidade_id) == (
        "ana.admin",
        "lgpd_exportado",
        "alunos",
        str(titular["maria"]),
    )
    for vestigio in VESTIGIOS:
        assert vestigio.lower() not in linha.d.lower()
    assert json.loads(linha.d)["registros"]["transacoes"] == 2


def test_export_bounds_the_raw_events_newest_first(titular, banco, monkeypatch):
    monkeypatch.setattr(lgpd, "LIMITE_EVENTOS_EXPORTADOS", 2)
    dados = _exportar(titular["maria"])
    assert dados["eventos_webhook_truncado"] is True
    assert [e["id"] for e in dados["eventos_webhook"]] == [
        titular["eventos"]["malformado"],
        titular["eventos"]["status_meta"],
    ]


def test_export_search_is_literal_not_a_pattern_or_sql(banco):
    """An e-mail full of regex and SQL metacharacters matches only itself."""
    estranho = "a.b+c*(x)|'; drop table alunos; --@ex.com"
    aluno = f.aluno(banco, "Estranho", estranho)
    _evento(banco, "hotmart", "e1", "X", {"buyer": {"email": estranho}})
    _evento(
        banco,
        "hotmart",
        "e2",
        "X",
        {"buyer": {"email": "aXb+c*(x)|'; drop table alunos; --@ex.com"}},
    )
    _evento(banco, "hotmart", "e3", "X", {"buyer": {"email": "zz" + estranho}})
    dados = _exportar(aluno)
    assert [e["evento_id"] for e in dados["eventos_webhook"]] == ["e1"]
    assert f.contar(banco, "SELECT count(*) FROM alunos") == 1


def test_export_of_an_unknown_or_malformed_id_is_a_portuguese_error(banco):
    with pytest.raises(lgpd.LgpdInvalido, match="Aluno não encontrado"):
        _exportar(uuid.uuid4())
    with pytest.raises(lgpd.LgpdInvalido, match="inválido"):
        _exportar("nao-e-um-uuid")
    assert f.contar(banco, "SELECT count(*) FROM auditoria") == 0


# ---- anonymisation ---------------------------------------------------------------------------


def test_anonymisation_keeps_the_money_and_removes_the_person_everywhere(titular, banco):
    maria, joana = titular["maria"], titular["joana"]
    with banco.connect() as conn:
        transacoes_antes = conn.execute(
            text(
                "SELECT id, aluno_id, produto_id, oferta_id, status, valor_pago, data_compra "
                "FROM transacoes ORDER BY id"
            )
        ).all()
        joana_antes = conn.execute(text("SELECT * FROM alunos WHERE id = :a"), {"a": joana}).one()
    resumo = _anonimizar(maria, motivo=f"Pedido de {NOME} por e-mail ({EMAIL}), protocolo 42")
    assert resumo.ja_anonimizado is False
    assert resumo.nome.startswith("Titular anonimizado ")
    assert resumo.chatwoot_contato_id == 77

    with banco.connect() as conn:
        # money: every transaction kept with its value, status and dates, on the same student
        depois = conn.execute(
            text(
                "SELECT id, aluno_id, produto_id, oferta_id, status, valor_pago, data_compra "
                "FROM transacoes ORDER BY id"
            )
        ).all()
        assert depois == transacoes_antes
        assert (
            conn.execute(
                text(
                    "SELECT count(*) FROM transacoes "
                    "WHERE link_boleto IS NOT NULL OR codigo_pix IS NOT NULL"
                )
            ).scalar()
            == 0
        )
        aluno = conn.execute(text("SELECT * FROM alunos WHERE id = :a"), {"a": maria}).one()
        assert aluno.nome == resumo.nome
        assert aluno.email.startswith("anonimizado+") and aluno.email.endswith("@invalid")
        assert (aluno.celular, aluno.cpf, aluno.foto_url) == (None, None, None)
        assert aluno.ltv_total == Decimal("997.00") and aluno.anonimizado_em is not None
        assert (
            conn.execute(text("SELECT * FROM alunos WHERE id = :a"), {"a": joana}).one()
            == joana_antes
        )

        log = conn.execute(
            text(
                "SELECT telefone, wa_id, variaveis, texto_renderizado, erro_titulo "
                "FROM logs_disparo WHERE aluno_id = :a"
            ),
            {"a": maria},
        ).one()
        assert (log.telefone, log.wa_id, log.variaveis) == (None, None, None)
        assert log.texto_renderizado == lgpd.TEXTO_REMOVIDO
        assert log.erro_titulo == f"Número {lgpd.MARCADOR} fora da janela"

        fila = dict(
            conn.execute(
                text("SELECT id, status FROM filas_disparo WHERE aluno_id = :a"), {"a": maria}
            ).all()
        )
        itens = titular["itens"]
        for status in ("pendente", "aprovado", "verificar", "enviando"):
            assert fila[itens[status]] == "cancelado", status
        assert (fila[itens["enviado"]], fila[itens["rejeitado"]]) == ("enviado", "rejeitado")
        assert (
            conn.execute(
                text(
                    "SELECT count(*) FROM filas_disparo WHERE aluno_id = :a "
                    "AND status = 'cancelado' AND motivo_cancelamento = :m"
                ),
                {"a": maria, "m": lgpd.MOTIVO_CANCELAMENTO},
            ).scalar()
            == 4
        )
        assert conn.execute(
            text(
                "SELECT DISTINCT texto_renderizado || coalesce(variaveis::text, '') "
                "FROM filas_disparo WHERE aluno_id = :a"
            ),
            {"a": maria},
        ).scalars().all() == [lgpd.TEXTO_REMOVIDO]
        assert (
            conn.execute(
                text("SELECT motivo_rejeicao FROM filas_disparo WHERE id = :i"),
                {"i": itens["rejeitado"]},
            ).scalar()
            == f"{lgpd.MARCADOR} pediu para não receber"
        )
        # Joana's queue item and message are untouched
        assert (
            conn.execute(
                text("SELECT status || texto_renderizado FROM filas_disparo WHERE aluno_id = :a"),
                {"a": joana},
            ).scalar()
            == "pendenteOlá Joana!"
        )

        ultimo = conn.execute(
            text(
                "SELECT concedido, origem FROM consentimentos WHERE aluno_id = :a "
                "ORDER BY registrado_em DESC, id DESC LIMIT 1"
            ),
            {"a": maria},
        ).one()
        assert tuple(ultimo) == (False, "lgpd")
        assert (
            conn.execute(
                text("SELECT count(*) FROM alunos_tags WHERE aluno_id = :a"), {"a": maria}
            ).scalar()
            == 0
        )
        assert conn.execute(text("SELECT count(*) FROM alunos_tags")).scalar() == 1  # Joana's
        assert (
            conn.execute(
                text("SELECT contato_id FROM chatwoot_contatos WHERE aluno_id = :a"), {"a": maria}
            ).scalar()
            == 77
        )
        carrinhos = dict(
            conn.execute(
                text(
                    "SELECT evento_id, concat_ws('|', nome, email, celular) "
                    "FROM carrinhos_abandonados"
                )
            ).all()
        )
        assert carrinhos == {
            "cart-maria": "",
            "cart-joana": f"{OUTRA_NOME}|{OUTRA_EMAIL}|{OUTRA_CELULAR}",
        }
        eventos = dict(conn.execute(text("SELECT id, payload FROM eventos_webhook")).all())
        compra = eventos[titular["eventos"]["compra"]]["data"]
        assert compra["buyer"]["email"] == lgpd.MARCADOR
        assert compra["buyer"]["address"] == {"city": lgpd.MARCADOR, "zipcode": lgpd.MARCADOR}
        assert compra["purchase"]["transaction"] == "HP1000000001"  # the money trail stays
        assert compra["purchase"]["price"] == {"value": 997.0}
        assert compra["purchase"]["payment"]["billet_url"] == lgpd.MARCADOR
        assert compra["producer"] == {"name": "Escola Exemplo"}
        assert compra["product"] == {"id": 9990001, "name": "Curso de Excel"}
        valor = eventos[titular["eventos"]["lote_meta"]]["entry"][0]["changes"][0]["value"]
        assert valor["contacts"] == [
            {"profile": {"name": lgpd.MARCADOR}, "wa_id": lgpd.MARCADOR},
            {"profile": {"name": "Joana"}, "wa_id": OUTRA_CELULAR},
        ]
        assert valor["messages"][0] == {
            "from": lgpd.MARCADOR,
            "type": "text",
            "text": {"body": lgpd.MARCADOR},
        }
        assert valor["messages"][1]["text"] == {"body": "Oi"}
        corpo = conn.execute(
            text("SELECT corpo_bruto FROM eventos_webhook WHERE id = :i"),
            {"i": titular["eventos"]["malformado"]},
        ).scalar()
        assert corpo == lgpd.CORPO_REMOVIDO
        assert eventos[titular["eventos"]["joana"]]["data"]["buyer"]["email"] == OUTRA_EMAIL
        assert eventos[titular["eventos"]["alheio"]] == {"data": {"id": 1}}

        negados = conn.execute(text("SELECT hash_email, hash_cpf FROM lgpd_anonimizados")).one()
        assert negados.hash_email == hashlib.sha256(EMAIL.encode()).hexdigest()
        assert negados.hash_cpf == hashlib.sha256(CPF_DIGITOS.encode()).hexdigest()

    # Nothing of the old identity anywhere in the database (the audit row included) ...
    for vestigio in VESTIGIOS:
        assert _onde_aparece(banco, vestigio) == {}, vestigio
    # ... while the other student's data is all still there.
    assert set(_onde_aparece(banco, OUTRA_EMAIL)) == {
        "alunos",
        "carrinhos_abandonados",
        "eventos_webhook",
    }
    assert "eventos_webhook" in _onde_aparece(banco, OUTRA_CELULAR)


def test_anonymisation_is_audited_with_the_reason_never_the_old_values(titular, banco):
    _anonimizar(titular["maria"], motivo=f"Pedido de {NOME} ({CPF}) por e-mail", usuario="bia")
    with banco.connect() as conn:
        linha = conn.execute(
            text("SELECT usuario, acao, entidade_id, detalhes FROM auditoria")
        ).one()
    assert (linha.usuario, linha.acao, linha.entidade_id) == (
        "bia",
        "lgpd_anonimizado",
        str(titular["maria"]),
    )
    assert linha.detalhes["motivo"] == f"Pedido de {lgpd.MARCADOR} ({lgpd.MARCADOR}) por e-mail"
    assert linha.detalhes["alteracoes"]["filas_disparo_cancelados"] == 4
    assert linha.detalhes["alteracoes"]["eventos_webhook"] == 6


def test_anonymisation_is_idempotent(titular, banco):
    primeiro = _anonimizar(titular["maria"])
    antes = _fotografia(banco)
    segundo = _anonimizar(titular["maria"])
    assert segundo.ja_anonimizado is True
    assert segundo.nome == primeiro.nome and segundo.anonimizado_em == primeiro.anonimizado_em
    assert _fotografia(banco) == antes  # not even an audit row
    with UnidadeDeTrabalho() as uow:
        assert not consentimento.tem_consentimento(uow.session, titular["maria"])


@pytest.mark.parametrize("motivo", [None, "", "   ", "abc ", "a  b"])
def test_anonymisation_requires_a_reason(titular, banco, motivo):
    antes = _fotografia(banco)
    with pytest.raises(lgpd.LgpdInvalido, match="Informe o motivo"):
        _anonimizar(titular["maria"], motivo=motivo)
    assert _fotografia(banco) == antes


def test_anonymisation_of_an_unknown_student_is_refused(banco):
    with pytest.raises(lgpd.LgpdInvalido, match="Aluno não encontrado"):
        _anonimizar(uuid.uuid4())
    with pytest.raises(lgpd.LgpdInvalido, match="inválido"):
        _anonimizar("1234")


def test_a_failure_half_way_rolls_everything_back(titular, banco, monkeypatch):
    antes = _fotografia(banco)

    def falhar(*_args, **_kwargs):
        raise RuntimeError("falha injetada")

    # runs after the queue, events, carts, transactions and messages were already rewritten
    monkeypatch.setattr(lgpd, "_limpar_textos", falhar)
    with UnidadeDeTrabalho() as uow:
        with pytest.raises(RuntimeError, match="falha injetada"):
            lgpd.anonimizar_aluno(uow.session, titular["maria"], usuario="x", motivo="pedido ok")
        uow.commit()  # even a caller that commits after the failure commits nothing of it
    assert _fotografia(banco) == antes


def test_a_message_being_sent_right_now_postpones_the_anonymisation(titular, banco):
    chave = 515151
    _sql(
        banco,
        "UPDATE filas_disparo SET reservado_por = :k WHERE id = :i RETURNING 1",
        k=chave,
        i=titular["itens"]["enviando"],
    )
    antes = _fotografia(banco)
    with banco.connect() as trava:  # a live dispatch worker holds its key
        trava.execute(text("SELECT pg_advisory_lock(:c, :k)"), {"c": CLASSE_LOCK, "k": chave})
        with pytest.raises(lgpd.LgpdInvalido, match="sendo enviada agora"):
            _anonimizar(titular["maria"])
        trava.execute(text("SELECT pg_advisory_unlock(:c, :k)"), {"c": CLASSE_LOCK, "k": chave})
    assert _fotografia(banco) == antes
    assert _anonimizar(titular["maria"]).ja_anonimizado is False  # the worker is gone: it goes


def test_export_after_anonymisation_has_no_personal_data(titular):
    _anonimizar(titular["maria"])
    texto = json.dumps(_exportar(titular["maria"]), ensure_ascii=False).lower()
    for vestigio in VESTIGIOS:
        assert vestigio.lower() not in texto
    assert "hp1000000001" in texto  # the purchases are still there


# ---- a later Hotmart sync ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox_hotmart():
    dataset = gerar_dataset(alunos=30, seed=11, agora=datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    with servir(criar_app(dataset, client_id="cid", client_secret="csecret")) as url:
        yield url


def test_a_hotmart_sync_after_the_anonymisation_does_not_recreate_the_person(
    banco, sandbox_hotmart
):
    _sincronizar(sandbox_hotmart)
    with banco.connect() as conn:
        pessoa = conn.execute(
            text(
                "SELECT a.id, a.email, a.cpf, a.celular FROM alunos a WHERE a.cpf IS NOT NULL "
                "AND a.celular IS NOT NULL "
                "AND (SELECT count(*) FROM transacoes t WHERE t.aluno_id = a.id) >= 1 "
                "ORDER BY a.email LIMIT 1"
            )
        ).one()
        compras = conn.execute(
            text("SELECT id, status, valor_pago FROM transacoes WHERE aluno_id = :a ORDER BY id"),
            {"a": pessoa.id},
        ).all()
        alunos_antes = conn.execute(text("SELECT count(*) FROM alunos")).scalar()
    _anonimizar(pessoa.id)
    _sincronizar(sandbox_hotmart)  # Hotmart still sends the buyer's e-mail, CPF and phone
    with banco.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alunos")).scalar() == alunos_antes
        assert (
            conn.execute(
                text("SELECT count(*) FROM alunos WHERE lower(email) = :e OR cpf = :c"),
                {"e": pessoa.email, "c": pessoa.cpf},
            ).scalar()
            == 0
        )
        assert (
            conn.execute(
                text(
                    "SELECT id, status, valor_pago FROM transacoes WHERE aluno_id = :a ORDER BY id"
                ),
                {"a": pessoa.id},
            ).all()
            == compras
        )
        assert (
            conn.execute(
                text("SELECT celular FROM alunos WHERE id = :a"), {"a": pessoa.id}
            ).scalar()
            is None
        )
    for vestigio in (pessoa.email, pessoa.cpf, pessoa.celular):
        assert _onde_aparece(banco, vestigio) == {}, vestigio


def test_a_cart_abandoned_after_the_anonymisation_keeps_no_name_email_or_phone(
    titular, banco, cliente_app
):
    from services import config

    _anonimizar(titular["maria"])
    with UnidadeDeTrabalho() as uow:
        config.definir(uow.session, "hotmart_hottok", "hottok-lgpd-teste")
        uow.commit()

    def carrinho(evento_id: str, email: str, nome: str, fone: str) -> None:
        evento = {
            "id": evento_id,
            "event": "PURCHASE_OUT_OF_SHOPPING_CART",
            "version": "2.0.0",
            "data": {
                "product": {"id": 9990001, "name": "Curso de Excel"},
                "buyer": {"email": email, "name": nome, "phone": fone},
                "offer": {"code": "oferta1"},
            },
        }
        r = cliente_app.post(
            "/webhooks/hotmart", headers={"X-HOTMART-HOTTOK": "hottok-lgpd-teste"}, json=evento
        )
        assert r.status_code == 200, r.text

    # Hotmart still knows her: e-mail as she typed it at checkout.
    carrinho("cart-maria-depois", "Maria.Jose@Exemplo.com", NOME, CELULAR[2:])
    carrinho("cart-joana-depois", OUTRA_EMAIL, OUTRA_NOME, OUTRA_CELULAR[2:])
    with banco.connect() as conn:
        linhas = {
            r.evento_id: r
            for r in conn.execute(
                text(
                    "SELECT c.evento_id, c.nome, c.email, c.celular, p.hotmart_product_id "
                    "FROM carrinhos_abandonados c JOIN produtos p ON p.id = c.produto_id "
                    "WHERE c.evento_id LIKE '%-depois'"
                )
            )
        }
    maria, joana = linhas["cart-maria-depois"], linhas["cart-joana-depois"]
    assert (maria.nome, maria.email, maria.celular) == (None, None, None)
    assert maria.hotmart_product_id == 9990001  # still counted for the product
    assert (joana.nome, joana.email) == (OUTRA_NOME, OUTRA_EMAIL)
    assert joana.celular == OUTRA_CELULAR


# ---- page ------------------------------------------------------------------------------------


def _abrir(username: str) -> AppTest:
    at = AppTest.from_file(PAGINA, default_timeout=30)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = username
    at.run()
    return at.text_input(key="busca_aluno").input("maria").run()


def _secao_lgpd(at: AppTest) -> bool:
    rotulos = {e.label for e in at.expander}
    chaves = {getattr(w, "key", None) for w in at.get("download_button")}
    return "LGPD" in rotulos or "lgpd_exportar" in chaves


@pytest.mark.parametrize("papel", ["cs", "gestor"])
def test_the_lgpd_section_is_not_shown_to_cs_or_gestor(criar_usuario, titular, papel):
    username, _ = criar_usuario(papel)
    at = _abrir(username)
    assert not at.exception
    assert NOME in [s.value for s in at.subheader]  # the profile is open
    assert not _secao_lgpd(at)
    assert not any(str(w.key).startswith("lgpd_") for w in [*at.text_input, *at.text_area])


def test_admin_downloads_the_export_built_and_audited_on_click(
    criar_usuario, titular, banco, monkeypatch
):
    geradores = []
    original = MediaFileManager.add_deferred

    def espiar(self, gerador, *args, **kwargs):
        geradores.append(gerador)
        return original(self, gerador, *args, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", espiar)
    username, _ = criar_usuario("admin")
    at = _abrir(username)
    assert not at.exception
    assert _secao_lgpd(at)
    botao = next(b for b in at.get("download_button") if b.proto.deferred_file_id)
    assert botao.proto.label == "Baixar dados do aluno (JSON)"
    exportacoes = "SELECT count(*) FROM auditoria WHERE acao = 'lgpd_exportado'"
    assert f.contar(banco, exportacoes) == 0  # nothing built yet
    dados = json.load(io.BytesIO(geradores[-1]()))
    assert dados["aluno"]["email"] == EMAIL
    assert (
        f.contar(
            banco,
            "SELECT count(*) FROM auditoria WHERE acao = 'lgpd_exportado' AND usuario = :u",
            u=username,
        )
        == 1
    )


def test_admin_anonymises_with_reason_and_typed_confirmation(criar_usuario, titular, banco):
    username, _ = criar_usuario("admin")
    at = _abrir(username)
    enviar = "FormSubmitter:form_lgpd_anonimizar-Anonimizar aluno"

    at.text_area(key="lgpd_motivo").input("Pedido do titular, protocolo 9")
    at.checkbox(key="lgpd_ciente").check()
    at.text_input(key="lgpd_confirmacao").input("anonimiza")
    at.button(key=enviar).click().run()
    assert "digite ANONIMIZAR" in " ".join(e.value for e in at.error)
    assert (
        f.contar(banco, "SELECT anonimizado_em FROM alunos WHERE id = :a", a=titular["maria"])
        is None
    )

    at.text_area(key="lgpd_motivo").input("ok")
    at.checkbox(key="lgpd_ciente").check()
    at.text_input(key="lgpd_confirmacao").input("ANONIMIZAR")
    at.button(key=enviar).click().run()
    assert "Informe o motivo" in " ".join(e.value for e in at.error)
    assert (
        f.contar(banco, "SELECT anonimizado_em FROM alunos WHERE id = :a", a=titular["maria"])
        is None
    )

    at.text_area(key="lgpd_motivo").input("Pedido do titular, protocolo 9")
    at.checkbox(key="lgpd_ciente").check()
    at.text_input(key="lgpd_confirmacao").input("ANONIMIZAR")
    at.button(key=enviar).click().run()
    assert not at.exception
    sucesso = " ".join(s.value for s in at.success)
    assert "Aluno anonimizado: agora aparece como Titular anonimizado" in sucesso
    assert "contato 77 no Chatwoot" in sucesso
    assert f.contar(banco, "SELECT cpf FROM alunos WHERE id = :a", a=titular["maria"]) is None
    assert (
        f.contar(
            banco,
            "SELECT count(*) FROM auditoria WHERE acao = 'lgpd_anonimizado' AND usuario = :u",
            u=username,
        )
        == 1
    )

    # the anonymised profile: export still offered, the form is gone
    at = at.text_input(key="busca_aluno").input("Titular anonimizado").run()
    assert _secao_lgpd(at)
    assert "Aluno anonimizado em" in " ".join(i.value for i in at.info)
    assert not any(str(w.key) == "lgpd_motivo" for w in at.text_area)


# ---- CLI -------------------------------------------------------------------------------------


def test_cli_exports_to_a_private_file_and_to_stdout(titular, banco, tmp_path):
    saida = tmp_path / "maria.json"
    r = cli("lgpd", "exportar", str(titular["maria"]), "--saida", str(saida))
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(os.stat(saida).st_mode) == 0o600
    assert json.loads(saida.read_text(encoding="utf-8"))["aluno"]["email"] == EMAIL
    assert EMAIL not in r.stdout + r.stderr
    r = cli("lgpd", "exportar", str(titular["maria"]))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["aluno"]["cpf"] == CPF
    assert (
        f.contar(
            banco,
            "SELECT count(*) FROM auditoria WHERE acao = 'lgpd_exportado' AND usuario = 'cli'",
        )
        == 2
    )


def test_cli_refuses_a_bad_id_an_unknown_student_and_a_missing_reason(titular, banco, tmp_path):
    antes = _fotografia(banco)
    for args, mensagem in (
        (("exportar", "nao-e-uuid"), "Identificador de aluno inválido"),
        (("exportar", str(uuid.uuid4())), "Aluno não encontrado"),
        (
            ("anonimizar", str(uuid.uuid4()), "--motivo", "pedido do titular"),
            "Aluno não encontrado",
        ),
        (("anonimizar", str(titular["maria"])), "Informe o motivo"),
        (("anonimizar", str(titular["maria"]), "--motivo", "ab"), "Informe o motivo"),
        (
            ("exportar", str(titular["maria"]), "--saida", str(tmp_path / "nao" / "existe.json")),
            "não foi possível gravar",
        ),
    ):
        r = cli("lgpd", *args)
        assert r.returncode == 2, (args, r.stderr)
        assert mensagem in r.stderr and "Traceback" not in r.stderr
    assert _fotografia(banco) == antes  # not even an audit row of the failed export


def test_cli_anonymises_once_and_then_says_it_was_done(titular, banco):
    r = cli(
        "lgpd", "anonimizar", str(titular["maria"]), "--motivo", "pedido do titular, protocolo 7"
    )
    assert r.returncode == 0, r.stderr
    assert "anonimizado: agora aparece como Titular anonimizado" in r.stdout
    assert "contato 77 no Chatwoot" in r.stdout
    r = cli(
        "lgpd", "anonimizar", str(titular["maria"]), "--motivo", "pedido do titular, protocolo 7"
    )
    assert r.returncode == 0, r.stderr
    assert "já estava anonimizado" in r.stdout
    assert f.contar(banco, "SELECT count(*) FROM auditoria WHERE acao = 'lgpd_anonimizado'") == 1
