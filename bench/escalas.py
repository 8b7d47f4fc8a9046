"""The two profiles of the benchmark: L (issue #7) and small (every count ÷ 100, sensible minimums).

Besides the table counts of the issue, each profile says how much work each measurement does
(sales ingested, webhooks sent, items dispatched), so ``small`` stays a few minutes long.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Escala:
    """Row counts of the profile and the size of each measurement."""

    nome: str
    # ---- profile (issue #7) -----------------------------------------------------------------
    alunos: int
    matriculas: int
    transacoes: int
    produtos: int
    ofertas: int
    modulos: int
    aulas: int
    progresso_aulas: int
    regras: int
    filas_disparo: int
    logs_disparo: int
    # ---- extras the profile needs so every trigger and page has work ------------------------
    carrinhos: int
    tags: int
    # ---- measurements -------------------------------------------------------------------------
    vendas_ingest: int  # sales the Hotmart sandbox should serve
    alunos_ingest: int  # demo buyers that make about that many sales (seed 42)
    webhooks_meta: int  # Meta status callbacks
    webhooks_hotmart: int  # Hotmart postbacks (boletos paid)
    disparo_livre: int  # items sent with the rate limit off
    disparo_80: int  # items sent at 80/s
    execucoes_consulta: int  # timed runs of each query (after one warm-up)

    def perfil(self) -> dict[str, int]:
        """The issue's table counts only."""
        chaves = (
            "alunos matriculas transacoes produtos ofertas modulos aulas progresso_aulas "
            "regras filas_disparo logs_disparo"
        ).split()
        return {k: getattr(self, k) for k in chaves}

    def como_dict(self) -> dict:
        return asdict(self)


ESCALAS = {
    "L": Escala(
        nome="L",
        alunos=200_000,
        matriculas=260_000,
        transacoes=320_000,
        produtos=40,
        ofertas=120,
        modulos=400,
        aulas=4_000,
        progresso_aulas=5_000_000,
        regras=30,
        filas_disparo=100_000,
        logs_disparo=600_000,
        carrinhos=2_000,
        tags=12,
        vendas_ingest=320_000,
        alunos_ingest=103_190,  # seed 42 → ~320,000 sales (the run reports the exact count)
        webhooks_meta=20_000,
        webhooks_hotmart=2_000,
        disparo_livre=5_000,
        disparo_80=2_400,  # 30 s at 80/s
        execucoes_consulta=20,
    ),
    "small": Escala(
        nome="small",
        alunos=2_000,
        matriculas=2_600,
        transacoes=3_200,
        produtos=4,
        ofertas=12,
        modulos=20,  # 5 per product
        aulas=200,  # 50 lessons per product, so "stalling early" still means something
        progresso_aulas=50_000,
        regras=10,  # one per trigger
        filas_disparo=1_000,
        logs_disparo=6_000,
        carrinhos=20,
        tags=4,
        vendas_ingest=3_200,
        alunos_ingest=1_205,
        webhooks_meta=600,
        webhooks_hotmart=50,
        disparo_livre=300,
        disparo_80=400,  # 5 s at 80/s
        execucoes_consulta=20,
    ),
}
