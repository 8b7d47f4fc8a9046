"""SQLAlchemy 2 typed models of the spec's tables and our additions (schema.sql is the DDL)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

_UUID_PK = {"primary_key": True, "server_default": text("gen_random_uuid()")}


class Base(DeclarativeBase):
    """Declarative base; the tables are created by schema.sql, never by create_all()."""


class Configuracao(Base):
    __tablename__ = "configuracoes"
    chave: Mapped[str] = mapped_column(String(100), primary_key=True)
    valor: Mapped[str] = mapped_column(Text)
    descricao: Mapped[str | None] = mapped_column(Text)
    ativo: Mapped[bool | None] = mapped_column(Boolean, server_default=text("true"))
    atualizado_em: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Produto(Base):
    __tablename__ = "produtos"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), **_UUID_PK)
    nome: Mapped[str] = mapped_column(String(255))
    hotmart_product_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    hotmart_subdomain: Mapped[str | None] = mapped_column(String(100))
    capa_url: Mapped[str | None] = mapped_column(Text)
    ativo_monitoramento: Mapped[bool | None] = mapped_column(Boolean, server_default=text("false"))


class Oferta(Base):
    __tablename__ = "ofertas"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), **_UUID_PK)
    produto_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("produtos.id"))
    hotmart_offer_code: Mapped[str | None] = mapped_column(String(50))
    nome: Mapped[str | None] = mapped_column(String(255))
    preco: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    moeda: Mapped[str | None] = mapped_column(String(3), server_default=text("'BRL'"))


class Modulo(Base):
    __tablename__ = "modulos"
    __table_args__ = (UniqueConstraint("produto_id", "hotmart_module_id"),)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), **_UUID_PK)
    produto_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("produtos.id"))
    hotmart_module_id: Mapped[str | None] = mapped_column(String(50))
    nome: Mapped[str | None] = mapped_column(String(255))
    ordem: Mapped[int | None] = mapped_column(Integer)


class Aula(Base):
    __tablename__ = "aulas"
    __table_args__ = (UniqueConstraint("modulo_id", "hotmart_page_hash"),)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), **_UUID_PK)
    modulo_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("modulos.id"))
    hotmart_page_hash: Mapped[str | None] = mapped_column(String(50))
    nome: Mapped[str | None] = mapped_column(String(255))
    ordem: Mapped[int | None] = mapped_column(Integer)
    dias_liberacao: Mapped[int | None] = mapped_column(Integer)


class Aluno(Base):
    __tablename__ = "alunos"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), **_UUID_PK)
    nome: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(255), unique=True)
    celular: Mapped[str | None] = mapped_column(String(50))
    cpf: Mapped[str | None] = mapped_column(String(20))
    foto_url: Mapped[str | None] = mapped_column(Text)
    ltv_total: Mapped[Decimal | None] = mapped_column(Numeric(10, 2), server_default=text("0"))
    criado_em: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Transacao(Base):
    __tablename__ = "transacoes"
    id: Mapped[str] = mapped_column(String(50), primary_key=True)
    aluno_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("alunos.id"))
    produto_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("produtos.id"))
    oferta_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ofertas.id"))
    status: Mapped[str | None] = mapped_column(String(50))
    valor_pago: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    data_compra: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    data_garantia_fim: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    link_boleto: Mapped[str | None] = mapped_column(Text)
    codigo_pix: Mapped[str | None] = mapped_column(Text)
    origem_src: Mapped[str | None] = mapped_column(String(100))


class Matricula(Base):
    __tablename__ = "matriculas"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), **_UUID_PK)
    aluno_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("alunos.id"))
    produto_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("produtos.id"))
    transacao_origem_id: Mapped[str | None] = mapped_column(ForeignKey("transacoes.id"))
    status_acesso: Mapped[str | None] = mapped_column(String(20))
    data_inicio: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    data_renovacao: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    origem_primeiro_acesso: Mapped[str | None] = mapped_column(String(50))


class ProgressoAula(Base):
    __tablename__ = "progresso_aulas"
    __table_args__ = (UniqueConstraint("matricula_id", "aula_id"),)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), **_UUID_PK)
    matricula_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("matriculas.id"))
    aula_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("aulas.id"))
    data_conclusao: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Tag(Base):
    __tablename__ = "tags"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    nome: Mapped[str | None] = mapped_column(String(50), unique=True)
    cor_hex: Mapped[str | None] = mapped_column(String(10))


class AlunoTag(Base):
    __tablename__ = "alunos_tags"
    aluno_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alunos.id"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id"), primary_key=True)


class Template(Base):
    __tablename__ = "templates"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    nome_meta: Mapped[str | None] = mapped_column(String(255))
    produto_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("produtos.id"))
    conteudo_texto: Mapped[str | None] = mapped_column(Text)
    namespace: Mapped[str | None] = mapped_column(String(100))
    status_meta: Mapped[str | None] = mapped_column(String(50))


class RegraAutomacao(Base):
    __tablename__ = "regras_automacao"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    nome: Mapped[str | None] = mapped_column(String(100))
    gatilho: Mapped[str | None] = mapped_column(String(50))
    condicao_json: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    template_id: Mapped[int | None] = mapped_column(ForeignKey("templates.id"))
    modo_execucao: Mapped[str | None] = mapped_column(String(20), server_default=text("'SUGERIR'"))
    ativo: Mapped[bool | None] = mapped_column(Boolean, server_default=text("true"))


class FilaDisparo(Base):
    __tablename__ = "filas_disparo"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    regra_id: Mapped[int | None] = mapped_column(ForeignKey("regras_automacao.id"))
    aluno_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("alunos.id"))
    template_id: Mapped[int | None] = mapped_column(ForeignKey("templates.id"))
    status: Mapped[str | None] = mapped_column(String(20), server_default=text("'pendente'"))
    data_criacao: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    motivo_rejeicao: Mapped[str | None] = mapped_column(Text)


class LogDisparo(Base):
    __tablename__ = "logs_disparo"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    aluno_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("alunos.id"))
    template_id: Mapped[int | None] = mapped_column(ForeignKey("templates.id"))
    mensagem_id_whatsapp: Mapped[str | None] = mapped_column(String(100))
    status_entrega: Mapped[str | None] = mapped_column(String(50))
    data_envio: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


# ---- additions -------------------------------------------------------------------------------


class Usuario(Base):
    __tablename__ = "usuarios"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(50), unique=True)
    nome: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(255))
    senha_hash: Mapped[str] = mapped_column(String(100))
    papel: Mapped[str] = mapped_column(String(20))
    ativo: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    criado_em: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    atualizado_em: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class EventoWebhook(Base):
    __tablename__ = "eventos_webhook"
    __table_args__ = (UniqueConstraint("origem", "evento_id"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    origem: Mapped[str] = mapped_column(String(20))
    evento_id: Mapped[str | None] = mapped_column(String(200))
    tipo: Mapped[str | None] = mapped_column(String(100))
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    corpo_bruto: Mapped[str | None] = mapped_column(Text)
    recebido_em: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    processado_em: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    erro: Mapped[str | None] = mapped_column(Text)


class Auditoria(Base):
    __tablename__ = "auditoria"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    usuario: Mapped[str | None] = mapped_column(String(50))
    acao: Mapped[str] = mapped_column(String(50))
    entidade: Mapped[str | None] = mapped_column(String(50))
    entidade_id: Mapped[str | None] = mapped_column(String(100))
    detalhes: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    criado_em: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
