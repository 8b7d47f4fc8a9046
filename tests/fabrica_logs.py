"""Crafted logs_disparo rows with per-status times, and a data set with known delivery answers."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, text

from tests import fabrica_cs as f

# Every time below is UTC; São Paulo is UTC-3 (no daylight saving since 2019).
BASE = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
INICIO, FIM = date(2026, 11, 1), date(2026, 11, 7)


def template(banco: Engine, nome: str, produto_id=None, idioma: str = "pt_BR") -> int:
    with banco.begin() as conn:
        return conn.execute(
            text(
                "INSERT INTO templates (nome_meta, produto_id, idioma, status_meta) "
                "VALUES (:n, :p, :i, 'APPROVED') RETURNING id"
            ),
            {"n": nome, "p": produto_id, "i": idioma},
        ).scalar()


def mensagem(
    banco: Engine,
    aluno_id,
    template_id,
    *,
    envio: datetime,
    status: str,
    enviado: bool = False,
    entregue: bool = False,
    lido: bool = False,
    falhou: bool = False,
    erro: tuple[int, str] | None = None,
    produto_id=None,
    texto: str | None = None,
    telefone: str | None = None,
) -> int:
    """One message; each per-status time is a few minutes after the send when its flag is on."""

    def depois(minutos: int, ligado: bool):
        return envio + timedelta(minutes=minutos) if ligado else None

    with banco.begin() as conn:
        return conn.execute(
            text(
                """
                INSERT INTO logs_disparo (aluno_id, template_id, mensagem_id_whatsapp,
                    status_entrega, data_envio, enviado_em, entregue_em, lido_em, falhou_em,
                    erro_codigo, erro_titulo, produto_id, texto_renderizado, telefone)
                VALUES (:a, :t, :w, :s, :d, :e1, :e2, :e3, :e4, :ec, :et, :p, :x, :tel)
                RETURNING id
                """
            ),
            {
                "a": aluno_id,
                "t": template_id,
                "w": f"wamid.{uuid.uuid4().hex}",
                "s": status,
                "d": envio,
                "e1": depois(1, enviado),
                "e2": depois(2, entregue),
                "e3": depois(3, lido),
                "e4": depois(4, falhou),
                "ec": erro[0] if erro else None,
                "et": erro[1] if erro else None,
                "p": produto_id,
                "x": texto,
                "tel": telefone,
            },
        ).scalar()


def conjunto(banco: Engine) -> dict:
    """Eleven messages inside 01–07/11/2026 (São Paulo) and two just outside it.

    Funnel: 11 disparadas, 8 enviadas, 5 entregues, 3 lidas, 3 falhas (131026 ×2, 131049 ×1),
    1 aguardando. Read rate: boas_vindas 3/4 = 75 %, lembrete_aula 0/1 = 0 %, oferta_mentoria
    has nothing delivered (None).
    """
    excel = f.produto(banco, "Curso de Excel")
    mentoria = f.produto(banco, "Mentoria")
    boas = template(banco, "boas_vindas", excel)
    lembrete = template(banco, "lembrete_aula", excel)
    oferta = template(banco, "oferta_mentoria", mentoria)
    maria = f.aluno(banco, "Maria José", "maria@exemplo.com", celular="5511987654321")
    joao = f.aluno(banco, "João Silva", "joao@exemplo.com", celular="5521998765432")
    ana = f.aluno(banco, "Ana Prado", "ana@exemplo.com", celular="5531997654321")
    h = [BASE + timedelta(hours=i) for i in range(12)]
    ids = {
        "lida": mensagem(
            banco,
            maria,
            boas,
            envio=h[0],
            status="read",
            enviado=True,
            entregue=True,
            lido=True,
            produto_id=excel,
            texto="Olá Maria, bem-vinda ao <b>Curso de Excel</b>!",
        ),
        "lida_sem_entregue": mensagem(
            banco, joao, boas, envio=h[1], status="read", enviado=True, lido=True, produto_id=excel
        ),
        "entregue": mensagem(
            banco, ana, boas, envio=h[2], status="delivered", enviado=True, entregue=True
        ),
        "enviada": mensagem(banco, maria, boas, envio=h[3], status="sent", enviado=True),
        "falhou_depois_de_sair": mensagem(
            banco,
            joao,
            lembrete,
            envio=h[4],
            status="failed",
            enviado=True,
            falhou=True,
            erro=(131026, "Message undeliverable"),
        ),
        "falhou": mensagem(
            banco,
            ana,
            lembrete,
            envio=h[5],
            status="failed",
            falhou=True,
            erro=(131026, "Message undeliverable"),
        ),
        "falhou_mentoria": mensagem(
            banco,
            maria,
            oferta,
            envio=h[6],
            status="failed",
            falhou=True,
            erro=(131049, "Meta chose not to deliver"),
            produto_id=mentoria,
        ),
        # Logged without produto_id: the product comes from its template.
        "aceita": mensagem(banco, joao, oferta, envio=h[7], status="accepted"),
        # failed, then delivered: the later delivered wins and it is not a failure any more.
        "falhou_e_entregou": mensagem(
            banco,
            ana,
            lembrete,
            envio=h[8],
            status="delivered",
            entregue=True,
            falhou=True,
            erro=(131000, "Something went wrong"),
        ),
        # Written before the per-status columns existed: only status_entrega says it was read.
        "lida_antiga": mensagem(banco, ana, boas, envio=h[9], status="read"),
        # 07/11 23:00 in São Paulo: still inside the period.
        "ultima_hora": mensagem(
            banco,
            maria,
            lembrete,
            envio=datetime(2026, 11, 8, 2, 0, tzinfo=UTC),
            status="sent",
            enviado=True,
        ),
    }
    fora = [
        # 31/10 23:30 and 08/11 00:30 in São Paulo.
        mensagem(
            banco,
            maria,
            boas,
            envio=datetime(2026, 11, 1, 2, 30, tzinfo=UTC),
            status="read",
            lido=True,
        ),
        mensagem(
            banco,
            joao,
            boas,
            envio=datetime(2026, 11, 8, 3, 30, tzinfo=UTC),
            status="read",
            lido=True,
        ),
    ]
    return {
        "produtos": {"excel": excel, "mentoria": mentoria},
        "templates": {"boas_vindas": boas, "lembrete_aula": lembrete, "oferta_mentoria": oferta},
        "alunos": {"maria": maria, "joao": joao, "ana": ana},
        "mensagens": ids,
        "fora": fora,
    }
