"""Deterministic synthetic Hotmart data set, in the API shapes of shared/reference/hotmart.md."""

from __future__ import annotations

import gc
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from services.demo_data_catalogo import DIA_MS, Sorteio, gerar_catalogo, gerar_compradores, ms_de
from services.demo_data_club import gerar_club
from services.demo_data_vendas import gerar_vendas


@dataclass
class Dataset:
    """A synthetic Hotmart account: every list/dict is read-only and served verbatim by the sandbox.

    Shapes follow the reference: `produtos` = /products items, `vendas` = /sales/history items,
    `participantes` = /sales/users items, `assinaturas` = /subscriptions items, `modulos` by Club
    subdomain, `paginas` by module_id, `usuarios_club` by subdomain, `aulas_usuario` by subdomain
    then user_id. `ofertas` (by product id) and `compradores` are our own records; `pagamentos`
    keeps what only postbacks carry (billet_url, pix_code, refusal_reason) by transaction.
    Lesson dicts of unfinished lessons are shared between users: never mutate them.
    """

    agora_ms: int
    produtor: dict[str, Any]
    produtos: list[dict[str, Any]]
    ofertas: dict[int, list[dict[str, Any]]]
    subdominios: dict[int, str]
    compradores: list[dict[str, Any]]
    vendas: list[dict[str, Any]]
    participantes: list[dict[str, Any]]
    assinaturas: list[dict[str, Any]]
    pagamentos: dict[str, dict[str, Any]]
    modulos: dict[str, list[dict[str, Any]]]
    paginas: dict[str, list[dict[str, Any]]]
    usuarios_club: dict[str, list[dict[str, Any]]]
    aulas_usuario: dict[str, dict[str, list[dict[str, Any]]]]
    _indices: dict[str, dict[Any, Any]] = field(default_factory=dict, repr=False, compare=False)

    def _indice(self, nome: str) -> dict[Any, Any]:
        """Build a lookup table once, on first use."""
        if nome not in self._indices:
            if nome == "venda":
                tabela = {v["purchase"]["transaction"]: v for v in self.vendas}
            elif nome == "comprador":
                tabela = {c["email"]: c for c in self.compradores}
            elif nome == "produto":
                tabela = {p["id"]: p for p in self.produtos}
            elif nome == "oferta":
                tabela = {o["code"]: o for lista in self.ofertas.values() for o in lista}
            elif nome == "assinatura":
                tabela = {a["subscriber_code"]: a for a in self.assinaturas}
            elif nome == "assinatura_por_compra":
                tabela = {
                    (a["subscriber"]["email"], a["product"]["id"]): a for a in self.assinaturas
                }
            else:
                raise KeyError(nome)
            self._indices[nome] = tabela
        return self._indices[nome]

    def venda(self, transaction: str) -> dict[str, Any]:
        """Sales-history item of a transaction code (HP…)."""
        return self._indice("venda")[transaction]

    def comprador(self, email: str) -> dict[str, Any]:
        """Buyer record (name, email, cpf, ddd, celular, address) by e-mail."""
        return self._indice("comprador")[email]

    def produto(self, product_id: int) -> dict[str, Any]:
        """Product item by numeric Hotmart id."""
        return self._indice("produto")[int(product_id)]

    def oferta(self, code: str) -> dict[str, Any]:
        """Offer by offer code."""
        return self._indice("oferta")[code]

    def assinatura(self, subscriber_code: str) -> dict[str, Any]:
        """Subscription item by subscriber_code."""
        return self._indice("assinatura")[subscriber_code]

    def assinatura_de(self, email: str, product_id: int) -> dict[str, Any] | None:
        """Subscription of a buyer to a product, if any."""
        return self._indice("assinatura_por_compra").get((email, int(product_id)))


def gerar_dataset(
    alunos: int = 300, seed: int = 42, agora: datetime | int | None = None
) -> Dataset:
    """Generate the data set: a pure function of (alunos, seed, agora); agora defaults to now."""
    if alunos < 1:
        raise ValueError("alunos deve ser ao menos 1")
    agora_ms = ms_de(agora if agora is not None else datetime.now(UTC))
    rng = Sorteio(seed)
    # Millions of acyclic dicts: the cyclic GC would rescan them again and again while they grow.
    gc_ligado = gc.isenabled()
    gc.disable()
    try:
        catalogo = gerar_catalogo(rng, max(4, alunos // 5000), agora_ms)
        compradores = gerar_compradores(rng, alunos, seed)
        vendas = gerar_vendas(rng, catalogo, compradores, agora_ms)
        club = gerar_club(rng, catalogo, compradores, vendas, agora_ms)
    finally:
        if gc_ligado:
            gc.enable()
    if alunos >= 20_000:
        # The set is read-only and acyclic: take it out of the collector's generations, or each
        # later full collection rescans millions of containers (seconds each at 200k alunos).
        gc.freeze()
    return Dataset(
        agora_ms=agora_ms,
        produtor=catalogo.produtor,
        produtos=catalogo.produtos,
        ofertas=catalogo.ofertas,
        subdominios=catalogo.subdominios,
        compradores=compradores,
        vendas=vendas.vendas,
        participantes=vendas.participantes,
        assinaturas=vendas.assinaturas,
        pagamentos=vendas.pagamentos,
        modulos=club.modulos,
        paginas=club.paginas,
        usuarios_club=club.usuarios,
        aulas_usuario=club.aulas,
    )


def resumo(dataset: Dataset) -> dict[str, Any]:
    """Counts of everything in the data set, for comparing a sync's result against."""
    por_status = Counter(v["purchase"]["status"] for v in dataset.vendas)
    usuarios = [u for lista in dataset.usuarios_club.values() for u in lista]
    alunos_club = [u for u in usuarios if u["role"] == "STUDENT"]
    return {
        "produtos": len(dataset.produtos),
        "produtos_assinatura": sum(1 for p in dataset.produtos if p["is_subscription"]),
        "ofertas": sum(len(v) for v in dataset.ofertas.values()),
        "modulos": sum(len(v) for v in dataset.modulos.values()),
        "modulos_extras": sum(m["is_extra"] for v in dataset.modulos.values() for m in v),
        "paginas": sum(len(v) for v in dataset.paginas.values()),
        "paginas_com_liberacao": sum(
            1 for v in dataset.paginas.values() for p in v if p["dripping_configs"]
        ),
        "compradores": len(dataset.compradores),
        "compradores_com_2_ou_mais_produtos": _compradores_multiproduto(dataset),
        "transacoes": len(dataset.vendas),
        "transacoes_por_status": dict(sorted(por_status.items())),
        "transacoes_aprovadas_ou_completas": por_status["APPROVED"] + por_status["COMPLETE"],
        "assinaturas": len(dataset.assinaturas),
        "assinaturas_por_status": dict(
            sorted(Counter(a["status"] for a in dataset.assinaturas).items())
        ),
        "usuarios_club": len(usuarios),
        "alunos_club": len(alunos_club),
        "alunos_sem_acesso": sum(1 for u in alunos_club if "first_access_date" not in u),
        "aulas_concluidas": sum(u["progress"]["completed"] for u in usuarios),
    }


def _compradores_multiproduto(dataset: Dataset) -> int:
    """Buyers with purchases of two or more distinct products (the LTV story)."""
    produtos_por_email: dict[str, set[int]] = {}
    for v in dataset.vendas:
        produtos_por_email.setdefault(v["buyer"]["email"], set()).add(v["product"]["id"])
    return sum(1 for s in produtos_por_email.values() if len(s) >= 2)


__all__ = ["DIA_MS", "Dataset", "gerar_dataset", "resumo"]
