"""Crafted rows for the Produtos/Alunos tests, inserted with plain SQL (no service involved)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine, text


def _um(banco: Engine, sql: str, **valores):
    with banco.begin() as conn:
        return conn.execute(text(sql), valores).scalar()


def produto(banco: Engine, nome: str, *, hotmart_id: int | None = None, **extra) -> uuid.UUID:
    return _um(
        banco,
        "INSERT INTO produtos (nome, hotmart_product_id, hotmart_subdomain, ativo_monitoramento) "
        "VALUES (:n, :h, :s, :m) RETURNING id",
        n=nome,
        h=hotmart_id,
        s=extra.get("subdominio"),
        m=extra.get("monitorado", False),
    )


def oferta(banco: Engine, produto_id, nome: str, preco, codigo: str | None = None) -> uuid.UUID:
    return _um(
        banco,
        "INSERT INTO ofertas (produto_id, hotmart_offer_code, nome, preco) "
        "VALUES (:p, :c, :n, :v) RETURNING id",
        p=produto_id,
        c=codigo or nome.lower()[:8],
        n=nome,
        v=None if preco is None else Decimal(str(preco)),
    )


def modulo(banco: Engine, produto_id, nome: str, ordem: int) -> uuid.UUID:
    return _um(
        banco,
        "INSERT INTO modulos (produto_id, hotmart_module_id, nome, ordem) "
        "VALUES (:p, :h, :n, :o) RETURNING id",
        p=produto_id,
        h=f"mod-{uuid.uuid4().hex[:8]}",
        n=nome,
        o=ordem,
    )


def aula(banco: Engine, modulo_id, nome: str, ordem: int, dias: int | None = 0) -> uuid.UUID:
    return _um(
        banco,
        "INSERT INTO aulas (modulo_id, hotmart_page_hash, nome, ordem, dias_liberacao) "
        "VALUES (:m, :h, :n, :o, :d) RETURNING id",
        m=modulo_id,
        h=f"pg-{uuid.uuid4().hex[:8]}",
        n=nome,
        o=ordem,
        d=dias,
    )


def aluno(
    banco: Engine,
    nome: str,
    email: str,
    *,
    cpf: str | None = None,
    celular: str | None = None,
    ltv=0,
) -> uuid.UUID:
    return _um(
        banco,
        "INSERT INTO alunos (nome, email, cpf, celular, ltv_total) "
        "VALUES (:n, :e, :c, :t, :l) RETURNING id",
        n=nome,
        e=email,
        c=cpf,
        t=celular,
        l=Decimal(str(ltv)),
    )


def transacao(banco: Engine, codigo: str, aluno_id, produto_id, **extra) -> str:
    _um(
        banco,
        "INSERT INTO transacoes (id, aluno_id, produto_id, oferta_id, status, valor_pago, "
        "data_compra, data_garantia_fim, link_boleto, codigo_pix, origem_src) "
        "VALUES (:id, :a, :p, :o, :s, :v, :dc, :dg, :lb, :px, :src) RETURNING id",
        id=codigo,
        a=aluno_id,
        p=produto_id,
        o=extra.get("oferta_id"),
        s=extra.get("status", "APPROVED"),
        v=Decimal(str(extra.get("valor", "0"))),
        dc=extra.get("data_compra", datetime.now(UTC)),
        dg=extra.get("data_garantia_fim"),
        lb=extra.get("link_boleto"),
        px=extra.get("codigo_pix"),
        src=extra.get("origem_src"),
    )
    return codigo


def matricula(banco: Engine, aluno_id, produto_id, status: str = "ATIVO", **extra) -> uuid.UUID:
    return _um(
        banco,
        "INSERT INTO matriculas (aluno_id, produto_id, status_acesso, data_inicio, "
        "data_renovacao, origem_primeiro_acesso, transacao_origem_id) "
        "VALUES (:a, :p, :s, :di, :dr, :o, :t) RETURNING id",
        a=aluno_id,
        p=produto_id,
        s=status,
        di=extra.get("data_inicio", datetime.now(UTC) - timedelta(days=30)),
        dr=extra.get("data_renovacao"),
        o=extra.get("origem"),
        t=extra.get("transacao_id"),
    )


def concluir(banco: Engine, matricula_id, aula_id, *, ha_dias: float = 0) -> None:
    _um(
        banco,
        "INSERT INTO progresso_aulas (matricula_id, aula_id, data_conclusao) "
        "VALUES (:m, :a, now() - make_interval(secs => :s)) RETURNING id",
        m=matricula_id,
        a=aula_id,
        s=ha_dias * 86400,
    )


def tag(banco: Engine, nome: str, cor: str = "#0F766E") -> int:
    return _um(
        banco, "INSERT INTO tags (nome, cor_hex) VALUES (:n, :c) RETURNING id", n=nome, c=cor
    )


def template(banco: Engine, nome_meta: str, produto_id=None) -> int:
    return _um(
        banco,
        "INSERT INTO templates (nome_meta, produto_id, status_meta) "
        "VALUES (:n, :p, 'APPROVED') RETURNING id",
        n=nome_meta,
        p=produto_id,
    )


def mensagem(banco: Engine, aluno_id, template_id, *, ha_dias: float, status="delivered") -> int:
    return _um(
        banco,
        "INSERT INTO logs_disparo (aluno_id, template_id, mensagem_id_whatsapp, status_entrega, "
        "data_envio) VALUES (:a, :t, :w, :s, now() - make_interval(secs => :d)) RETURNING id",
        a=aluno_id,
        t=template_id,
        w=f"wamid.{uuid.uuid4().hex}",
        s=status,
        d=ha_dias * 86400,
    )


def contar(banco: Engine, sql: str, **valores) -> int:
    with banco.connect() as conn:
        return conn.execute(text(sql), valores).scalar()


def curso_com_funil(banco: Engine) -> dict:
    """A product with 2 modules × 2 lessons, 4 enrolments and a known completion funnel.

    Lessons in course order: Boas-vindas, Fórmulas simples, PROCV, Tabelas dinâmicas; completed
    by 4, 3, 1 and 0 of the 4 enrolments (3 ATIVO, 1 EXPIRADO): 100 %, 75 %, 25 %, 0 %.
    """
    p = produto(banco, "Curso de Excel", hotmart_id=3526906, subdominio="excel-pro")
    m2 = modulo(banco, p, "Módulo 2 — Fórmulas", 2)  # inserted first: order must come from ordem
    m1 = modulo(banco, p, "Módulo 1 — Básico", 1)
    a21 = aula(banco, m2, "PROCV", 1, dias=7)
    a22 = aula(banco, m2, "Tabelas dinâmicas", 2, dias=14)
    a12 = aula(banco, m1, "Fórmulas simples", 2)
    a11 = aula(banco, m1, "Boas-vindas", 1)
    alunos_ = [aluno(banco, f"Aluno {i}", f"aluno{i}@exemplo.com") for i in range(4)]
    mats = [matricula(banco, a, p, "ATIVO" if i < 3 else "EXPIRADO") for i, a in enumerate(alunos_)]
    for mat in mats:
        concluir(banco, mat, a11)
    for mat in mats[:3]:
        concluir(banco, mat, a12)
    concluir(banco, mats[0], a21)
    # another product with its own progress must not count
    outro = produto(banco, "Outro curso")
    intruso = matricula(banco, alunos_[0], outro)
    concluir(banco, intruso, aula(banco, modulo(banco, outro, "Outro módulo", 1), "Outra aula", 1))
    return {"produto": p, "aulas": [a11, a12, a21, a22], "modulos": [m1, m2], "outro": outro}
