"""Crafted data for the automation engine tests (plain SQL, known answers)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import Engine, text

CORPO = "Oi {{1}}, seu pagamento de {{2}} está em {{3}}"


class Fabrica:
    """Inserts rows and remembers their ids by a short name."""

    def __init__(self, banco: Engine) -> None:
        self.banco = banco
        self.ids: dict[str, object] = {}
        self._n = 0

    def sql(self, consulta: str, **params):
        with self.banco.begin() as conn:
            resultado = conn.execute(text(consulta), params)
            return resultado.scalar() if resultado.returns_rows else None

    def produto(self, nome: str, *, monitorado: bool = True) -> uuid.UUID:
        self._n += 1
        self.ids[nome] = self.sql(
            "INSERT INTO produtos (nome, hotmart_product_id, hotmart_subdomain, "
            "ativo_monitoramento) VALUES (:n, :h, :s, :m) RETURNING id",
            n=nome,
            h=9000 + self._n,
            s=nome.lower(),
            m=monitorado,
        )
        return self.ids[nome]

    def aula(self, produto: str, nome: str, *, modulo: str = "Módulo 1", dias: int = 0):
        mod = self.sql(
            "SELECT id FROM modulos WHERE produto_id = :p AND nome = :n",
            p=self.ids[produto],
            n=modulo,
        ) or self.sql(
            "INSERT INTO modulos (produto_id, hotmart_module_id, nome, ordem) "
            "VALUES (:p, :h, :n, 1) RETURNING id",
            p=self.ids[produto],
            h=modulo,
            n=modulo,
        )
        self.ids[nome] = self.sql(
            "INSERT INTO aulas (modulo_id, hotmart_page_hash, nome, ordem, dias_liberacao) "
            "VALUES (:m, :h, :n, 1, :d) RETURNING id",
            m=mod,
            h=nome,
            n=nome,
            d=dias,
        )
        return self.ids[nome]

    def aluno(self, nome: str, *, celular: str | None = "auto") -> uuid.UUID:
        self._n += 1
        if celular == "auto":
            celular = f"55119{self._n:08d}"
        self.ids[nome] = self.sql(
            "INSERT INTO alunos (nome, email, celular) VALUES (:n, :e, :c) RETURNING id",
            n=nome,
            e=f"{nome.lower().replace(' ', '.')}@ex.com",
            c=celular,
        )
        return self.ids[nome]

    def transacao(
        self,
        aluno: str,
        produto: str,
        status: str,
        *,
        horas: float = 0,
        link_boleto: str | None = None,
        codigo_pix: str | None = None,
        valor: str = "197.00",
        garantia_dias: float | None = None,
    ) -> str:
        self._n += 1
        ident = f"HP{self._n:014d}"
        quando = datetime.now().astimezone() - timedelta(hours=horas)
        garantia = quando + timedelta(days=garantia_dias) if garantia_dias is not None else None
        self.sql(
            "INSERT INTO transacoes (id, aluno_id, produto_id, status, valor_pago, data_compra, "
            "data_aprovacao, link_boleto, codigo_pix, data_garantia_fim) "
            "VALUES (:i, :a, :p, :s, CAST(:v AS numeric), :q, :ap, :b, :x, :g)",
            i=ident,
            a=self.ids[aluno],
            p=self.ids[produto],
            s=status,
            v=valor,
            q=quando,
            ap=quando if status in ("APPROVED", "COMPLETE") else None,
            b=link_boleto,
            x=codigo_pix,
            g=garantia,
        )
        return ident

    def matricula(
        self,
        aluno: str,
        produto: str,
        *,
        dias: float = 30,
        primeiro_acesso=True,
        status: str = "ATIVO",
        renovacao_dias: float | None = None,
        assinatura: str | None = None,
        inicio: datetime | None = None,
    ) -> uuid.UUID:
        inicio = inicio or datetime.now().astimezone() - timedelta(days=dias)
        chave = f"m:{aluno}:{produto}"
        self.ids[chave] = self.sql(
            "INSERT INTO matriculas (aluno_id, produto_id, status_acesso, data_inicio, "
            "data_primeiro_acesso, data_renovacao, status_assinatura) "
            "VALUES (:a, :p, :s, :i, :f, :r, :st) RETURNING id",
            a=self.ids[aluno],
            p=self.ids[produto],
            s=status,
            i=inicio,
            f=inicio + timedelta(hours=1) if primeiro_acesso else None,
            r=(
                datetime.now().astimezone() + timedelta(days=renovacao_dias)
                if renovacao_dias is not None
                else None
            ),
            st=assinatura,
        )
        return self.ids[chave]

    def concluir(self, aluno: str, produto: str, aula: str, *, dias: float) -> None:
        self.sql(
            "INSERT INTO progresso_aulas (matricula_id, aula_id, data_conclusao) "
            "VALUES (:m, :a, now() - make_interval(secs => :s))",
            m=self.ids[f"m:{aluno}:{produto}"],
            a=self.ids[aula],
            s=dias * 86400,
        )

    def template(
        self,
        nome: str = "cobranca",
        *,
        corpo: str = CORPO,
        status: str = "APPROVED",
        produto: str | None = None,
    ) -> int:
        qtd = corpo.count("{{")
        self.ids[nome] = self.sql(
            "INSERT INTO templates (nome_meta, idioma, status_meta, conteudo_texto, "
            "qtd_parametros, produto_id) VALUES (:n, 'pt_BR', :s, :c, :q, :p) RETURNING id",
            n=nome,
            s=status,
            c=corpo,
            q=qtd,
            p=self.ids.get(produto) if produto else None,
        )
        return self.ids[nome]
