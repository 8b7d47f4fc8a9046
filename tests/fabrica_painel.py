"""Crafted data for the manager dashboards, with every answer worked out by hand below.

Times are UTC; São Paulo is UTC-3. The period under test is 01/01–31/03/2026 (São Paulo).
Progress and the 7-day messages are relative to now (November 2026 and later: far from it).

Sales (T = transaction; value; São Paulo payment day):
  T1  Ana    Excel    Excel à vista    APPROVED         197  10/01
  T2  Ana    Mentoria Mentoria anual   COMPLETE        1500  05/02
  T3  Bruno  Excel    Excel parcelado  APPROVED          97  31/01 23:30 (02:30 UTC on 01/02)
  T4  Carla  Excel    Excel à vista    REFUNDED         197  10/02
  T5  Davi   Mentoria Mentoria anual   CHARGEBACK      1500  03/03
  T6  Eva    Excel    Excel à vista    WAITING_PAYMENT  197  (never paid)
  T7  Eva    Excel    Excel à vista    APPROVED         197  04/03 (boleto of 01/03)
  T8  Bruno  Mentoria Mentoria anual   APPROVED        1500  21/03
  T9  Ana    Excel    Excel à vista    APPROVED         197  31/12/2025 23:30 (outside)
  T10 Carla  Ebook    (no offer)       APPROVED          47  31/03 23:00 (inside)
  T11 Davi   Excel    Excel à vista    APPROVED         197  01/04 00:30 (outside)
LTV (lifetime paid): Ana 1894, Bruno 1597, Carla 47, Davi 197, Eva 197, Fábio 0.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine, text

from tests import fabrica_cs as f

INICIO, FIM = date(2026, 1, 1), date(2026, 3, 31)


def utc(mes: int, dia: int, hora: int = 12, minuto: int = 0, ano: int = 2026) -> datetime:
    return datetime(ano, mes, dia, hora, minuto, tzinfo=UTC)


def _sql(banco: Engine, consulta: str, **valores):
    with banco.begin() as conn:
        resultado = conn.execute(text(consulta), valores)
        return resultado.scalar() if resultado.returns_rows else None


def venda(
    banco: Engine,
    codigo: str,
    aluno_id,
    produto_id,
    oferta_id,
    status: str,
    valor: str,
    pago_em: datetime | None,
    *,
    compra: datetime | None = None,
) -> str:
    _sql(
        banco,
        "INSERT INTO transacoes (id, aluno_id, produto_id, oferta_id, status, valor_pago, "
        "data_compra, data_aprovacao) VALUES (:i, :a, :p, :o, :s, :v, :c, :ap)",
        i=codigo,
        a=aluno_id,
        p=produto_id,
        o=oferta_id,
        s=status,
        v=Decimal(valor),
        c=compra or pago_em,
        ap=pago_em,
    )
    return codigo


def matricula(banco: Engine, aluno_id, produto_id, status: str = "ATIVO", **extra) -> uuid.UUID:
    return _sql(
        banco,
        "INSERT INTO matriculas (aluno_id, produto_id, status_acesso, data_inicio, "
        "data_primeiro_acesso, origem_primeiro_acesso) VALUES (:a, :p, :s, :i, :pa, :o) "
        "RETURNING id",
        a=aluno_id,
        p=produto_id,
        s=status,
        i=extra.get("inicio", datetime.now(UTC) - timedelta(days=60)),
        pa=extra.get("primeiro_acesso"),
        o=extra.get("origem"),
    )


def concluir(banco: Engine, matricula_id, aula_id, *, dias: float) -> None:
    _sql(
        banco,
        "INSERT INTO progresso_aulas (matricula_id, aula_id, data_conclusao) "
        "VALUES (:m, :a, now() - make_interval(secs => :s))",
        m=matricula_id,
        a=aula_id,
        s=dias * 86400,
    )


def regra(banco: Engine, nome: str, gatilho: str) -> int:
    return _sql(
        banco,
        "INSERT INTO regras_automacao (nome, gatilho, condicao_json) "
        "VALUES (:n, :g, '{}'::jsonb) RETURNING id",
        n=nome,
        g=gatilho,
    )


def item_fila(
    banco: Engine, regra_id, aluno_id, produto_id, *, transacao: str | None, status: str
) -> int:
    return _sql(
        banco,
        "INSERT INTO filas_disparo (regra_id, aluno_id, produto_id, status, chave_dedupe, "
        "contexto) VALUES (:r, :a, :p, :s, :k, CAST(:c AS jsonb)) RETURNING id",
        r=regra_id,
        a=aluno_id,
        p=produto_id,
        s=status,
        k=uuid.uuid4().hex,
        c=json.dumps({"transacao_id": transacao} if transacao else {}),
    )


def mensagem(
    banco: Engine,
    aluno_id,
    envio: datetime,
    estado: str,
    *,
    produto_id=None,
    fila_id: int | None = None,
) -> int:
    """A message whose per-status times follow ``estado`` (sent, delivered, read, failed)."""
    passos = {"sent": 1, "delivered": 2, "read": 3, "failed": 0}[estado]

    def depois(minutos: int, ligado: bool):
        return envio + timedelta(minutes=minutos) if ligado else None

    return _sql(
        banco,
        "INSERT INTO logs_disparo (aluno_id, mensagem_id_whatsapp, status_entrega, data_envio, "
        "enviado_em, entregue_em, lido_em, falhou_em, produto_id, fila_id) "
        "VALUES (:a, :w, :s, :d, :e1, :e2, :e3, :e4, :p, :f) RETURNING id",
        a=aluno_id,
        w=f"wamid.{uuid.uuid4().hex}",
        s=estado,
        d=envio,
        e1=depois(1, passos >= 1),
        e2=depois(2, passos >= 2),
        e3=depois(3, passos >= 3),
        e4=depois(4, estado == "failed"),
        p=produto_id,
        f=fila_id,
    )


def conjunto(banco: Engine) -> dict:
    """The whole data set of the module docstring, plus progress, queue and messages."""
    excel = f.produto(banco, "Curso de Excel")
    mentoria = f.produto(banco, "Mentoria")
    ebook = f.produto(banco, "Ebook")  # no lessons: left out of every completion figure
    a_vista = f.oferta(banco, excel, "Excel à vista", "197.00", "avista")
    parcelado = f.oferta(banco, excel, "Excel parcelado", None, "parcel")  # no price
    anual = f.oferta(banco, mentoria, "Mentoria anual", "1500.00", "anual")
    fundamentos = f.modulo(banco, excel, "Fundamentos", 1)
    formulas = f.modulo(banco, excel, "Fórmulas", 2)
    encontros = f.modulo(banco, mentoria, "Encontros", 1)
    a1, a2 = (f.aula(banco, fundamentos, n, i) for i, n in enumerate(("A1", "A2"), 1))
    a3, a4, a5 = (f.aula(banco, formulas, n, i) for i, n in enumerate(("A3", "A4", "A5"), 1))
    b1, b2 = (f.aula(banco, encontros, n, i) for i, n in enumerate(("B1", "B2"), 1))

    ana = f.aluno(banco, "Ana", "ana@ex.com", ltv="1894.00")
    bruno = f.aluno(banco, "Bruno", "bruno@ex.com", ltv="1597.00")
    carla = f.aluno(banco, "Carla", "carla@ex.com", ltv="47.00")
    davi = f.aluno(banco, "Davi", "davi@ex.com", ltv="197.00")
    eva = f.aluno(banco, "Eva", "eva@ex.com", ltv="197.00")
    fabio = f.aluno(banco, "Fábio", "fabio@ex.com")

    venda(banco, "T1", ana, excel, a_vista, "APPROVED", "197.00", utc(1, 10))
    venda(banco, "T2", ana, mentoria, anual, "COMPLETE", "1500.00", utc(2, 5))
    venda(banco, "T3", bruno, excel, parcelado, "APPROVED", "97.00", utc(2, 1, 2, 30))
    venda(banco, "T4", carla, excel, a_vista, "REFUNDED", "197.00", utc(2, 10))
    venda(banco, "T5", davi, mentoria, anual, "CHARGEBACK", "1500.00", utc(3, 3))
    venda(banco, "T6", eva, excel, a_vista, "WAITING_PAYMENT", "197.00", None, compra=utc(3, 10))
    venda(banco, "T7", eva, excel, a_vista, "APPROVED", "197.00", utc(3, 4), compra=utc(3, 1))
    venda(banco, "T8", bruno, mentoria, anual, "APPROVED", "1500.00", utc(3, 21))
    venda(banco, "T9", ana, excel, a_vista, "APPROVED", "197.00", utc(1, 1, 2, 30))
    venda(banco, "T10", carla, ebook, None, "APPROVED", "47.00", utc(4, 1, 2, 0))
    venda(banco, "T11", davi, excel, a_vista, "APPROVED", "197.00", utc(4, 1, 3, 30))

    # Enrolments, first accesses (São Paulo months) and progress.
    hoje = datetime.now(UTC)
    m = {
        "ana_excel": matricula(
            banco, ana, excel, primeiro_acesso=utc(1, 15), origem="zap_terceiriza"
        ),
        "ana_mentoria": matricula(
            banco, ana, mentoria, primeiro_acesso=utc(2, 6), origem="email_hotmart"
        ),
        # 31/01 23:00 in São Paulo: January.
        "bruno_excel": matricula(
            banco, bruno, excel, primeiro_acesso=utc(2, 1, 2, 0), origem="zap_terceiriza"
        ),
        "bruno_mentoria": matricula(
            banco,
            bruno,
            mentoria,
            inicio=hoje - timedelta(days=40),
            primeiro_acesso=utc(3, 22),
            origem="zap_terceiriza",
        ),
        "carla_excel": matricula(
            banco, carla, excel, "BLOQUEADO", primeiro_acesso=utc(2, 11), origem="email_hotmart"
        ),
        # 01/04 01:00 in São Paulo: outside the period.
        "carla_ebook": matricula(
            banco, carla, ebook, primeiro_acesso=utc(4, 1, 4, 0), origem="zap_terceiriza"
        ),
        "davi_excel": matricula(banco, davi, excel, primeiro_acesso=utc(3, 5)),  # no origin
        "davi_mentoria": matricula(banco, davi, mentoria, "BLOQUEADO"),
        "eva_excel": matricula(
            banco, eva, excel, primeiro_acesso=utc(3, 5), origem="zap_terceiriza"
        ),
        "fabio_excel": matricula(banco, fabio, excel, inicio=hoje - timedelta(days=3)),
    }
    progresso = {
        "ana_excel": [(a1, 60), (a2, 50), (a3, 40), (a4, 30), (a5, 20)],  # 100 %
        "ana_mentoria": [(b1, 2)],  # 50 %, recent
        "bruno_excel": [(a1, 30)],  # 20 %
        "carla_excel": [(a1, 50), (a2, 45), (a3, 40)],  # 60 %, blocked
        "davi_excel": [(a3, 25), (a1, 20)],  # 40 %; last in time is A1 (Fundamentos)
        "davi_mentoria": [(b1, 9), (b2, 8)],  # 100 %, blocked
        "eva_excel": [(a1, 40), (a2, 30), (a3, 20), (a4, 16)],  # 80 %
    }
    for chave, aulas in progresso.items():
        for aula, dias in aulas:
            concluir(banco, m[chave], aula, dias=dias)

    # Rules, queue items and the messages they sent.
    boleto = regra(banco, "Boleto pendente", "boleto_pendente")
    pix = regra(banco, "PIX pendente", "pix_pendente")
    boas_vindas = regra(banco, "Boas-vindas", "compra_aprovada")
    fila_t7 = item_fila(banco, boleto, eva, excel, transacao="T7", status="enviado")
    fila_t7_pix = item_fila(banco, pix, eva, excel, transacao="T7", status="enviado")
    fila_t8_boleto = item_fila(banco, boleto, bruno, mentoria, transacao="T8", status="enviado")
    fila_t8_pix = item_fila(banco, pix, bruno, mentoria, transacao="T8", status="enviado")
    fila_t8_boas = item_fila(banco, boas_vindas, bruno, mentoria, transacao="T8", status="enviado")
    fila_t11 = item_fila(banco, boleto, davi, excel, transacao="T11", status="enviado")
    fila_t6 = item_fila(banco, boleto, eva, excel, transacao="T6", status="enviado")
    item_fila(banco, boleto, bruno, excel, transacao="T3", status="aprovado")  # never sent
    item_fila(banco, boleto, eva, excel, transacao="T6", status="pendente")
    item_fila(banco, pix, ana, mentoria, transacao=None, status="pendente")

    # In the period (by send time): 8 messages, 7 sent, 5 delivered, 2 read, 1 failed.
    # Recovered: T7 by "Boleto pendente" (the later PIX message failed), T8 by "PIX pendente"
    # (the last message before the approval); T11 is approved after the period, T6 never.
    mensagem(banco, eva, utc(3, 2), "read", produto_id=excel, fila_id=fila_t7)
    mensagem(banco, eva, utc(3, 3), "delivered", produto_id=excel, fila_id=fila_t7)
    mensagem(banco, eva, utc(3, 3, 18), "failed", produto_id=excel, fila_id=fila_t7_pix)
    mensagem(banco, bruno, utc(3, 20, 14), "sent", produto_id=mentoria, fila_id=fila_t8_boleto)
    mensagem(banco, bruno, utc(3, 21, 10), "delivered", produto_id=mentoria, fila_id=fila_t8_pix)
    mensagem(banco, bruno, utc(3, 21, 13), "read", produto_id=mentoria, fila_id=fila_t8_boas)
    mensagem(banco, davi, utc(3, 31), "delivered", produto_id=excel, fila_id=fila_t11)
    mensagem(banco, eva, utc(3, 12), "sent", produto_id=excel, fila_id=fila_t6)
    # Just outside: 31/12/2025 23:00 and 01/04 01:00 in São Paulo.
    mensagem(banco, ana, utc(1, 1, 2, 0), "read", produto_id=excel)
    mensagem(banco, ana, utc(4, 1, 4, 0), "read", produto_id=excel)
    # The last 7 days: 3 sent, 1 read (33,3 %); the 10-day-old read one is outside.
    mensagem(banco, ana, hoje - timedelta(days=2), "read", produto_id=excel)
    mensagem(banco, ana, hoje - timedelta(days=1), "delivered", produto_id=mentoria)
    mensagem(banco, bruno, hoje - timedelta(hours=3), "sent", produto_id=excel)
    mensagem(banco, bruno, hoje - timedelta(days=1), "failed", produto_id=excel)
    mensagem(banco, carla, hoje - timedelta(days=10), "read", produto_id=excel)
    return {
        "produtos": {"excel": excel, "mentoria": mentoria, "ebook": ebook},
        "modulos": {"fundamentos": fundamentos, "formulas": formulas, "encontros": encontros},
        "regras": {"boleto": boleto, "pix": pix, "boas_vindas": boas_vindas},
    }
