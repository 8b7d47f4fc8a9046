"""Hotmart → PostgreSQL sync: full mirror or incremental window, resumable by step."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import text

from db.uow import UnidadeDeTrabalho
from services import hotmart_espelho as espelho
from services import hotmart_matriculas as matriculas
from services import hotmart_normalizar as norm
from services.hotmart_client import HotmartErro

_log = logging.getLogger(__name__)

# Sales history and users answer only APPROVED/COMPLETE unless a status is given (the documented
# trap): a full mirror asks for every status, one at a time.
STATUS_TRANSACAO = (
    "APPROVED",
    "BLOCKED",
    "CANCELLED",
    "CHARGEBACK",
    "COMPLETE",
    "EXPIRED",
    "NO_FUNDS",
    "OVERDUE",
    "PARTIALLY_REFUNDED",
    "PRE_ORDER",
    "PRINTED_BILLET",
    "PROCESSING_TRANSACTION",
    "PROTESTED",
    "REFUNDED",
    "STARTED",
    "UNDER_ANALISYS",
    "WAITING_PAYMENT",
)
# Items per write batch (one transaction each). Bigger batches spread each statement's fixed
# cost over more rows; a failed step is re-run whole, so the size does not change resuming.
LOTE = 5000

# A batch's commit does not wait for its WAL flush (on this machine the flush cost more than
# the batch's writes). A crash can lose only the last batches of a step not yet marked done; the
# mark (the job's cursor, a normal commit) flushes every batch before it, and a resumed sync
# writes the step again (every write is an idempotent upsert).
_SEM_ESPERAR_DISCO = "SET LOCAL synchronous_commit = off"


def gravar_compradores(pessoas: list[dict]) -> list[UUID]:
    """The buyers step's write of one batch (participante_da_api rows), in its own transaction;
    returns the students touched."""
    with UnidadeDeTrabalho() as uow:
        uow.session.execute(text(_SEM_ESPERAR_DISCO))
        ids = espelho.upsert_alunos(uow.session, pessoas)
        uow.commit()
    return ids


def gravar_vendas(linhas: list[dict]) -> tuple[list[UUID], int]:
    """The sales step's write of one batch (venda_da_api rows), in its own transaction; returns
    the students touched and the transactions written."""
    with UnidadeDeTrabalho() as uow:
        uow.session.execute(text(_SEM_ESPERAR_DISCO))
        resultado = espelho.upsert_vendas(uow.session, linhas)
        uow.commit()
    return resultado


class ClienteHotmart(Protocol):
    """What the sync needs from services.hotmart_client.HotmartClient."""

    def produtos(self) -> Iterator[dict]: ...
    def ofertas(self, ucode: str) -> Iterator[dict]: ...
    def vendas(self, **filtros: Any) -> Iterator[dict]: ...
    def usuarios_vendas(self, **filtros: Any) -> Iterator[dict]: ...
    def assinaturas(self, **filtros: Any) -> Iterator[dict]: ...
    def modulos(self, subdomain: str, *, is_extra: bool = False) -> list[dict]: ...
    def paginas(self, module_id: str, product_id: int) -> list[dict]: ...
    def usuarios_club(self, subdomain: str) -> Iterator[dict]: ...
    def aulas_usuario(self, user_id: str, subdomain: str) -> list[dict]: ...


Progresso = Callable[[float, str], None]


def _lotes(itens: Iterable[dict], tamanho: int = LOTE) -> Iterator[list[dict]]:
    iterador = iter(itens)
    while lote := list(islice(iterador, tamanho)):
        yield lote


def _ms(instante: datetime) -> int:
    return int(instante.timestamp() * 1000)


class Sincronizacao:
    """One sync run. Each step commits its own batches; ``cursor['feitas']`` lists finished
    steps, so a run started with a failed run's cursor skips them (re-running a step is harmless:
    every write is an idempotent upsert)."""

    def __init__(
        self,
        cliente: ClienteHotmart,
        *,
        desde: datetime | None = None,
        progresso: Progresso | None = None,
        cursor: dict[str, Any] | None = None,
        salvar_cursor: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.cliente = cliente
        self.desde = desde
        self.agora = datetime.now(UTC)
        self._progresso = progresso or (lambda _p, _m: None)
        self.cursor = {"feitas": [], **(cursor or {})}
        # A resumed run did not see the students of the steps it skips (alunos_tocados is kept
        # in memory only), so its consolidation covers every student instead.
        self._retomada = bool(self.cursor["feitas"])
        self._salvar_cursor = salvar_cursor or (lambda _c: None)
        self.contagens: dict[str, int] = {}
        self.alunos_tocados: set = set()

    # ---- bookkeeping ----------------------------------------------------------------------
    def _contar(self, chave: str, n: int) -> None:
        self.contagens[chave] = self.contagens.get(chave, 0) + n

    def _etapa(self, nome: str, percentual: float, mensagem: str, funcao: Callable[[], None]):
        if nome in self.cursor["feitas"]:
            return
        self._progresso(percentual, mensagem)
        funcao()
        self.cursor["feitas"].append(nome)
        self._salvar_cursor(self.cursor)

    # ---- steps ----------------------------------------------------------------------------
    def executar(self) -> dict[str, Any]:
        """Run every step; return the counts."""
        self._etapa("produtos", 2, "Produtos", self._produtos)
        filtros_data = {}
        if self.desde is not None:
            filtros_data = {"start_date": _ms(self.desde), "end_date": _ms(self.agora)}
        n = len(STATUS_TRANSACAO)
        for i, status in enumerate(STATUS_TRANSACAO):
            self._etapa(
                f"participantes:{status}",
                5 + 30 * i / n,
                f"Compradores ({status})",
                lambda s=status: self._participantes(s, filtros_data),
            )
            self._etapa(
                f"vendas:{status}",
                5 + 30 * (i + 0.5) / n,
                f"Vendas ({status})",
                lambda s=status: self._vendas(s, filtros_data),
            )
        self._etapa("assinaturas", 40, "Assinaturas", self._assinaturas)
        self._etapa("matriculas", 50, "Matrículas e LTV", self._consolidar)
        with UnidadeDeTrabalho() as uow:
            produtos = uow.session.execute(
                text(
                    "SELECT hotmart_product_id, hotmart_subdomain FROM produtos "
                    "WHERE hotmart_subdomain IS NOT NULL AND hotmart_product_id IS NOT NULL "
                    "ORDER BY hotmart_product_id"
                )
            ).all()
        for i, (pid, subdominio) in enumerate(produtos):
            base = 55 + 45 * i / max(1, len(produtos))
            self._etapa(
                f"club:{pid}",
                base,
                f"Área de membros ({subdominio})",
                lambda p=pid, s=subdominio: self._club(p, s),
            )
        self._progresso(99, "Concluindo")
        return {**self.contagens, "alunos_tocados": len(self.alunos_tocados)}

    def sincronizar_catalogo(self) -> dict[str, Any]:
        """Only products and offers (to learn the products before setting their subdomains)."""
        self._produtos()
        return dict(self.contagens)

    def _produtos(self) -> None:
        brutos = list(self.cliente.produtos())
        ofertas = []
        for produto in brutos:
            if not produto.get("ucode"):
                continue
            try:
                itens = list(self.cliente.ofertas(produto["ucode"]))
            except HotmartErro as exc:
                if exc.status != 404:  # offers endpoint unverified: sales still carry the codes
                    raise
                continue
            ofertas += [norm.oferta_da_api(int(produto["id"]), o) for o in itens]
        with UnidadeDeTrabalho() as uow:
            produtos = [norm.produto_da_api(p) for p in brutos]
            self._contar("produtos", espelho.upsert_produtos(uow.session, produtos))
            self._contar("ofertas", espelho.upsert_ofertas(uow.session, ofertas))
            uow.commit()

    def _participantes(self, status: str, filtros_data: dict) -> None:
        itens = self.cliente.usuarios_vendas(transaction_status=status, **filtros_data)
        for lote in _lotes(itens):
            pessoas = [p for p in (norm.participante_da_api(x) for x in lote) if p]
            self.alunos_tocados.update(gravar_compradores(pessoas))
            self._contar("compradores_lidos", len(pessoas))

    def _vendas(self, status: str, filtros_data: dict) -> None:
        itens = self.cliente.vendas(transaction_status=status, **filtros_data)
        for lote in _lotes(itens):
            linhas = [norm.venda_da_api(x) for x in lote]
            ids, gravadas = gravar_vendas(linhas)
            self.alunos_tocados.update(ids)
            self._contar("transacoes_gravadas", gravadas)
            self._contar("transacoes_lidas", len(linhas))

    def _assinaturas(self) -> None:
        for lote in _lotes(self.cliente.assinaturas()):
            linhas = [norm.assinatura_da_api(x) for x in lote]
            for linha in linhas:
                linha["status"] = norm.normalizar_status_assinatura(linha["status"])
            with UnidadeDeTrabalho() as uow:
                self.alunos_tocados.update(matriculas.upsert_assinaturas(uow.session, linhas))
                uow.commit()
            self._contar("assinaturas_lidas", len(linhas))

    def _consolidar(self) -> None:
        with UnidadeDeTrabalho() as uow:
            s = uow.session
            if self._retomada:
                ids = list(s.execute(text("SELECT id FROM alunos")).scalars())
            else:
                ids = list(self.alunos_tocados)
            for inicio in range(0, len(ids), 20_000):
                matriculas.matriculas_das_transacoes(s, ids[inicio : inicio + 20_000])
            # Every enrolment: a cancelled subscription expires by the clock, not by an event.
            self._contar("matriculas_status_alterado", matriculas.recalcular_status_acesso(s))
            self._contar("ltv_alterado", espelho.recalcular_ltv(s, ids))
            uow.commit()

    def _club(self, pid: int, subdominio: str) -> None:
        # The default listing has only the main modules; extra modules hold lessons too.
        modulos = self.cliente.modulos(subdominio) + self.cliente.modulos(subdominio, is_extra=True)
        linhas_modulos = [norm.modulo_da_api(pid, m) for m in modulos]
        linhas_aulas = []
        for m in modulos:
            for pagina in self.cliente.paginas(m["module_id"], pid):
                linhas_aulas.append(norm.aula_da_api(pid, m["module_id"], pagina))
        with UnidadeDeTrabalho() as uow:
            self._contar("modulos", espelho.upsert_modulos(uow.session, linhas_modulos))
            self._contar("aulas", espelho.upsert_aulas(uow.session, linhas_aulas))
            uow.commit()
        for lote in _lotes(self.cliente.usuarios_club(subdominio), 200):
            usuarios, progresso = [], []
            for bruto in lote:
                usuario = norm.usuario_club_da_api(pid, bruto)
                if usuario is None:
                    continue
                usuarios.append(usuario)
                if not usuario["user_id"] or usuario["data_primeiro_acesso"] is None:
                    continue  # never accessed: nothing completed
                ultimo = usuario["data_ultimo_acesso"]
                if self.desde and (ultimo is None or ultimo < self.desde):
                    continue  # incremental: only students seen since the window opened
                for licao in self.cliente.aulas_usuario(usuario["user_id"], subdominio):
                    linha = norm.progresso_da_api(pid, usuario["user_id"], licao)
                    if linha:
                        progresso.append(linha)
            with UnidadeDeTrabalho() as uow:
                self.alunos_tocados.update(matriculas.upsert_usuarios_club(uow.session, usuarios))
                self._contar(
                    "aulas_concluidas_gravadas", matriculas.upsert_progresso(uow.session, progresso)
                )
                uow.commit()
            self._contar("usuarios_club_lidos", len(usuarios))


def desde_texto(valor: str) -> datetime:
    """'2d', '12h', '30m' or an ISO date → the start of the window (UTC)."""
    valor = (valor or "").strip().lower()
    unidades = {"d": "days", "h": "hours", "m": "minutes"}
    if len(valor) >= 2 and valor[:-1].isdigit() and valor[-1] in unidades:
        return datetime.now(UTC) - timedelta(**{unidades[valor[-1]]: int(valor[:-1])})
    try:
        data = datetime.fromisoformat(valor)
    except ValueError:
        raise ValueError("Use --desde como 2d, 12h, 30m ou uma data (2026-11-01).") from None
    return data if data.tzinfo else data.replace(tzinfo=UTC)
