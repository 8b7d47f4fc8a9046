"""Health score 0–100 of each active enrolment, with the visible points behind it.

One set-based SQL (``sql_saude``, built in services/saude_sql.py) scores every ATIVO enrolment
(BLOQUEADO and EXPIRADO ones are not scored: their problem is access, not engagement). Seven
components add up to 100:

| component                       | points | full when                                           |
|---------------------------------|-------:|-----------------------------------------------------|
| Primeiro acesso feito           |     15 | a first Club access is known, or a lesson was done  |
| Aulas nos últimos 14 dias       |     20 | 2+ lessons in 14 days (1 lesson: 10), or caught up  |
| Dias desde a última aula        |     15 | ≤ 7 days (≤ 14: 10, ≤ 30: 5, more: 0), or caught up |
| Conclusão em dia com o esperado |     20 | lessons done ≥ expected; else 20 × done ÷ expected  |
| Pagamento em dia                |     10 | no DELAYED/OVERDUE subscription, no unpaid charge   |
| Garantia sem risco              |     10 | no open guarantee, or progress ≥ 20 % while open    |
| Consentimento ativo             |     10 | the current WhatsApp consent is not revoked         |

"Caught up" = first access done and every lesson the drip has released is completed (a student
who finished the released content is not penalised for not watching more). "Expected" lessons at
an enrolment's age A days = min(lessons released by the drip — ``dias_liberacao <= A`` —,
floor(lessons × A ÷ 90)): a linear pace over 90 days that never expects an unreleased lesson.
Days since the last lesson count from the first access, else from the start, when no lesson was
done. An unpaid charge is a WAITING_PAYMENT/DELAYED/OVERDUE transaction of the same student and
product older than 3 days (a boleto's usual due) with no later approved purchase. A guarantee is
open while an APPROVED transaction's ``data_garantia_fim`` is in the future. Days are São Paulo
calendar days.

Home's whole-base views (``distribuicao``, ``em_risco``, ``painel``) read the snapshot kept by
services/saude_instantaneo.py once one exists; the rest scores live.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session

from services.saude_sql import (
    AULAS_RECENTES_META,
    COMPONENTES,
    DIAS_SEM_AULA_FAIXAS,
    FAIXA_RISCO,
    FAIXAS,
    JANELA_AULAS_RECENTES_DIAS,
    PROGRESSO_MINIMO_GARANTIA,
    SQL_SAUDE,
    sql_saude,
)

__all__ = [
    "COMPONENTES",
    "FAIXA_RISCO",
    "FAIXAS",
    "SQL_SAUDE",
    "AlunoEmRisco",
    "Componente",
    "PainelSaude",
    "Saude",
    "SaudeInvalida",
    "distribuicao",
    "em_risco",
    "faixa_do_score",
    "painel",
    "pontuacao_matricula",
    "saude_do_aluno",
    "sql_saude",
]

FUSO = ZoneInfo("America/Sao_Paulo")
LIMITE_EM_RISCO = 500  # at most this many lines in an at-risk list


class SaudeInvalida(ValueError):
    """Bad input for a health-score query (message in pt-BR, safe to show)."""


@dataclass(frozen=True)
class Componente:
    """One visible part of the score."""

    chave: str
    rotulo: str
    pontos: int
    maximo: int
    detalhe: str


@dataclass(frozen=True)
class Saude:
    """The health score of one active enrolment and its breakdown."""

    matricula_id: uuid.UUID
    aluno_id: uuid.UUID
    produto_id: uuid.UUID | None
    produto: str | None
    score: int
    componentes: tuple[Componente, ...]

    @property
    def faixa(self) -> str:
        """The distribution band of the score ("0–20" … "81–100")."""
        return faixa_do_score(self.score)

    @property
    def em_risco(self) -> bool:
        """True when the score is at most FAIXA_RISCO."""
        return self.score <= FAIXA_RISCO

    @property
    def motivo_principal(self) -> str | None:
        """Why the score is low, in one line (None at 100).

        The component that lost the largest share of its points; ties go to the table's order,
        so a missing first access (which explains the other losses) comes first.
        """
        perdas = [c for c in self.componentes if c.pontos < c.maximo]
        if not perdas:
            return None
        return max(perdas, key=lambda c: (c.maximo - c.pontos) / c.maximo).detalhe


@dataclass(frozen=True)
class AlunoEmRisco:
    """A line of the "Alunos em risco" list."""

    matricula_id: uuid.UUID
    aluno_id: uuid.UUID
    aluno: str | None
    produto_id: uuid.UUID | None
    produto: str | None
    score: int
    motivo: str


def faixa_do_score(score: int) -> str:
    """The band of a score: "0–20", "21–40", "41–60", "61–80" or "81–100"."""
    for faixa, de, ate in FAIXAS:
        if de <= score <= ate:
            return faixa
    raise ValueError(f"score fora de 0–100: {score}")


def _data(valor: datetime | None) -> str:
    return valor.astimezone(FUSO).strftime("%d/%m/%Y") if valor else ""


def _percentual(concluidas: int, total: int) -> str:
    """Share of the course done, "33,3%" (as the guarantee component compares it)."""
    valor = Decimal(100 * min(concluidas, total)) / total if total else Decimal(0)
    return f"{valor:.1f}".replace(".", ",").removesuffix(",0") + "%"


def _dias(n: int) -> str:
    if n == 0:
        return "hoje"
    if n == 1:
        return "há 1 dia"
    return f"há {n} dias"


def _detalhes(r: Any) -> dict[str, str]:
    """The short pt-BR explanation of each component, from the facts of one score row."""
    detalhes: dict[str, str] = {}
    if r.data_primeiro_acesso is not None:
        detalhes["primeiro_acesso"] = f"primeiro acesso em {_data(r.data_primeiro_acesso)}"
    elif r.concluidas:
        detalhes["primeiro_acesso"] = "aulas concluídas (primeiro acesso sem data registrada)"
    else:
        detalhes["primeiro_acesso"] = "ainda não acessou o curso"

    janela = f"nos últimos {JANELA_AULAS_RECENTES_DIAS} dias"
    if r.recentes < AULAS_RECENTES_META and r.em_dia:
        detalhes["aulas_recentes"] = "todas as aulas liberadas já concluídas"
    elif r.recentes == 0:
        detalhes["aulas_recentes"] = f"nenhuma aula {janela}"
    else:
        detalhes["aulas_recentes"] = f"{r.recentes} aula{'s' if r.recentes > 1 else ''} {janela}"

    if r.ultima_aula is not None:
        texto = f"última aula {_dias(r.dias_sem_aula)}"
    elif r.dias_sem_aula is None:
        texto = "nenhuma aula concluída; sem data de matrícula nem de acesso"
    elif r.data_primeiro_acesso is not None:
        texto = f"nenhuma aula concluída; primeiro acesso {_dias(r.dias_sem_aula)}"
    else:
        texto = f"nenhuma aula concluída; matrícula {_dias(r.dias_sem_aula)}"
    ate_cheio = DIAS_SEM_AULA_FAIXAS[0][0]  # beyond it, full points only because caught up
    if r.em_dia and (r.dias_sem_aula or 0) > ate_cheio:
        texto += " (todas as aulas liberadas já concluídas)"
    detalhes["dias_sem_aula"] = texto

    if r.aulas_total == 0:
        detalhes["conclusao"] = "produto sem aulas cadastradas"
    elif r.esperado <= 0:
        detalhes["conclusao"] = (
            f"nenhuma aula esperada ainda ({r.concluidas} de {r.aulas_total} concluídas)"
        )
    else:
        detalhes["conclusao"] = (
            f"{r.concluidas} aula{'s' if r.concluidas != 1 else ''} concluída"
            f"{'s' if r.concluidas != 1 else ''} de {r.esperado} esperada"
            f"{'s' if r.esperado != 1 else ''} até agora (curso com {r.aulas_total})"
        )

    if r.assinatura_atrasada:
        detalhes["pagamento"] = f"assinatura em atraso ({r.status_assinatura})"
    elif r.pendente_desde is not None:
        detalhes["pagamento"] = f"pagamento pendente desde {_data(r.pendente_desde)}"
    else:
        detalhes["pagamento"] = "nenhum pagamento em atraso"

    feito = _percentual(r.concluidas, r.aulas_total)
    if r.garantia_ate is None:
        detalhes["garantia"] = "nenhuma garantia aberta"
    elif r.pts_garantia == 0:
        detalhes["garantia"] = (
            f"garantia até {_data(r.garantia_ate)} com {feito} do curso "
            f"(abaixo de {PROGRESSO_MINIMO_GARANTIA}%)"
        )
    else:
        detalhes["garantia"] = f"garantia até {_data(r.garantia_ate)}, {feito} do curso concluído"

    detalhes["consentimento"] = (
        "consentimento de WhatsApp revogado"
        if r.consentimento_revogado
        else "consentimento de WhatsApp ativo"
    )
    return detalhes


def _saude(r: Any) -> Saude:
    detalhes = _detalhes(r)
    return Saude(
        matricula_id=r.matricula_id,
        aluno_id=r.aluno_id,
        produto_id=r.produto_id,
        produto=r.produto,
        score=r.score,
        componentes=tuple(
            Componente(chave, rotulo, getattr(r, f"pts_{chave}"), maximo, detalhes[chave])
            for chave, rotulo, maximo in COMPONENTES
        ),
    )


def _com_nomes(sql: str) -> str:
    return f"""
        SELECT s.*, a.nome AS aluno, p.nome AS produto
          FROM ({sql}) s
          JOIN alunos a ON a.id = s.aluno_id
          LEFT JOIN produtos p ON p.id = s.produto_id
    """


def _produtos(produto_ids: Iterable[Any]) -> list[uuid.UUID]:
    try:
        return list(dict.fromkeys(uuid.UUID(str(p)) for p in produto_ids or ()))
    except ValueError:
        raise SaudeInvalida("Produtos: identificador inválido.") from None


def instantaneo_em(session: Session) -> datetime | None:
    """When the last 'saude' job finished (the snapshot Home reads), or None if it never ran."""
    return session.execute(
        text(
            "SELECT terminado_em FROM jobs WHERE tipo = 'saude' AND status = 'concluido' "
            "ORDER BY iniciado_em DESC LIMIT 1"
        )
    ).scalar()


def _fonte(session: Session, filtro: str | None) -> tuple[str, datetime | None]:
    """Where the whole-base views read scores from: the snapshot when one was computed, else
    the live score (a new installation, or a database that no job has scored yet)."""
    em = instantaneo_em(session)
    if em is None:
        return f"({sql_saude(filtro)})", None
    return (
        "(SELECT m.matricula_id, m.aluno_id, m.produto_id, m.score "
        f"FROM saude_instantaneo m WHERE {filtro or 'true'})",
        em,
    )


def _filtro_produtos(produto_ids: Iterable[Any]) -> tuple[str | None, dict[str, Any]]:
    produtos = _produtos(produto_ids)
    if not produtos:
        return None, {}
    return "m.produto_id = ANY(CAST(:saude_produtos AS uuid[]))", {"saude_produtos": produtos}


def pontuacao_matricula(session: Session, matricula_id: uuid.UUID) -> Saude | None:
    """The score of one enrolment with its breakdown; None when it is missing or not ATIVO."""
    linha = session.execute(
        text(_com_nomes(sql_saude("m.id = :saude_matricula"))),
        {"saude_matricula": matricula_id},
    ).first()
    return _saude(linha) if linha else None


def saude_do_aluno(session: Session, aluno_id: uuid.UUID) -> list[Saude]:
    """The score of each ATIVO enrolment of a student, by product name."""
    linhas = session.execute(
        text(
            _com_nomes(sql_saude("m.aluno_id = :saude_aluno"))
            + " ORDER BY lower(p.nome), s.matricula_id"
        ),
        {"saude_aluno": aluno_id},
    ).all()
    return [_saude(linha) for linha in linhas]


_FAIXA_SQL = (
    "CASE " + " ".join(f"WHEN s.score <= {ate} THEN '{faixa}'" for faixa, _, ate in FAIXAS) + " END"
)
_PIORES_SQL = """
    SELECT s.matricula_id FROM {fonte} s JOIN alunos a ON a.id = s.aluno_id
     WHERE s.score <= :limite
     ORDER BY s.score, lower(a.nome), s.matricula_id
     LIMIT :quantidade
"""


@dataclass(frozen=True)
class PainelSaude:
    """What Home draws: the distribution by band, the lowest scores and how many are at risk."""

    faixas: list[tuple[str, int]]
    em_risco: list[AlunoEmRisco]
    total_em_risco: int
    calculado_em: datetime | None = None  # the snapshot's time; None: scored just now

    @property
    def total(self) -> int:
        """Scored (ATIVO) enrolments."""
        return sum(n for _, n in self.faixas)


def _faixas(contagem: dict[str, int]) -> list[tuple[str, int]]:
    return [(faixa, int(contagem.get(faixa, 0))) for faixa, _, _ in FAIXAS]


def _limites(limite: Any, quantidade: Any) -> dict[str, int]:
    if isinstance(limite, bool) or not isinstance(limite, int) or not 0 <= limite <= 100:
        raise SaudeInvalida("Limite de risco: use um número inteiro entre 0 e 100.")
    if isinstance(quantidade, bool) or not isinstance(quantidade, int) or quantidade < 1:
        raise SaudeInvalida("Quantidade: use um número inteiro a partir de 1.")
    return {"limite": limite, "quantidade": min(quantidade, LIMITE_EM_RISCO)}


def _lista_em_risco(session: Session, matricula_ids: list[uuid.UUID]) -> list[AlunoEmRisco]:
    """The chosen enrolments with names and their main reason, lowest score first."""
    if not matricula_ids:
        return []
    linhas = session.execute(
        text(
            _com_nomes(sql_saude("m.id = ANY(CAST(:saude_ids AS uuid[]))"))
            + " ORDER BY s.score, lower(a.nome), s.matricula_id"
        ),
        {"saude_ids": list(matricula_ids)},
    ).all()
    saida = []
    for linha in linhas:
        saude = _saude(linha)
        saida.append(
            AlunoEmRisco(
                matricula_id=saude.matricula_id,
                aluno_id=saude.aluno_id,
                aluno=linha.aluno,
                produto_id=saude.produto_id,
                produto=saude.produto,
                score=saude.score,
                motivo=saude.motivo_principal or "",
            )
        )
    return saida


def distribuicao(session: Session, produto_ids: Iterable[Any] = ()) -> list[tuple[str, int]]:
    """How many ATIVO enrolments fall in each band (every band listed, zeros included)."""
    filtro, params = _filtro_produtos(produto_ids)
    fonte, _em = _fonte(session, filtro)
    linhas = session.execute(
        text(f"SELECT {_FAIXA_SQL} AS faixa, count(*) AS n FROM {fonte} s GROUP BY 1"),
        params,
    ).all()
    return _faixas({linha.faixa: linha.n for linha in linhas})


def em_risco(
    session: Session,
    limite: int = FAIXA_RISCO,
    produto_ids: Iterable[Any] = (),
    quantidade: int = 50,
) -> list[AlunoEmRisco]:
    """ATIVO enrolments scoring at most ``limite``, lowest first, with their main reason.

    One pass over the base picks the ids (score, then name); only those are detailed.
    """
    limites = _limites(limite, quantidade)
    filtro, params = _filtro_produtos(produto_ids)
    fonte, _em = _fonte(session, filtro)
    ids = session.execute(
        text(f"SELECT array({_PIORES_SQL.format(fonte=fonte)})"), {**params, **limites}
    ).scalar()
    return _lista_em_risco(session, ids or [])


def painel(
    session: Session,
    produto_ids: Iterable[Any] = (),
    limite: int = FAIXA_RISCO,
    quantidade: int = 50,
) -> PainelSaude:
    """distribuicao() and em_risco() in one statement (what Home draws): from the snapshot's
    indexes, or, live, from a single scoring pass over the base."""
    limites = _limites(limite, quantidade)
    filtro, params = _filtro_produtos(produto_ids)
    fonte, calculado_em = _fonte(session, filtro)
    # Live scoring is done once and shared; the snapshot is cheaper read three times through
    # its indexes than copied whole into a materialized CTE.
    materializar = "NOT MATERIALIZED" if calculado_em is not None else "MATERIALIZED"
    linha = session.execute(
        text(
            f"""
            WITH pontuadas AS {materializar} (
                SELECT matricula_id, aluno_id, score FROM {fonte} x)
            SELECT (SELECT coalesce(jsonb_object_agg(faixa, n), '{{}}')
                      FROM (SELECT {_FAIXA_SQL} AS faixa, count(*) AS n
                              FROM pontuadas s GROUP BY 1) f) AS faixas,
                   (SELECT count(*) FROM pontuadas WHERE score <= :limite) AS total_em_risco,
                   array({_PIORES_SQL.format(fonte="pontuadas")}) AS ids
            """
        ),
        {**params, **limites},
    ).one()
    return PainelSaude(
        faixas=_faixas(linha.faixas),
        em_risco=_lista_em_risco(session, linha.ids or []),
        total_em_risco=linha.total_em_risco,
        calculado_em=calculado_em,
    )
