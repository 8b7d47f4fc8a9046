"""One claimed batch of the dispatcher: guards for the whole batch, concurrent sends, and the
outcomes written set-based.

Statements per batch, whatever its size: one guard query; one update for the items cancelled or
postponed before any send; after the sends, one statement that inserts the log rows and sets
every item's status, and two for the delivery statuses parked for those wamids. An item stays
``enviando`` from its claim until that last statement commits, so a worker that dies with sends
in flight leaves them to ``recuperar_orfaos`` (→ ``verificar``), never to a resend.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from services import whatsapp, whatsapp_status
from services.consentimento import SQL_SEM_CONSENTIMENTO
from services.regras_sql import AINDA_VALIDO, SP
from services.whatsapp_client import Acao, EnvioTemplate, WhatsAppErro

MAX_TENTATIVAS = 3


def _texto_sql(valor: str) -> str:
    return "'" + valor.replace("'", "''") + "'"


_SAIDAS = " ".join(
    f"WHEN r.gatilho = {_texto_sql(gatilho)} AND NOT ({predicado}) THEN {_texto_sql(motivo)}"
    for gatilho, (predicado, motivo) in AINDA_VALIDO.items()
)

_SQL_GUARDAS = f"""
SELECT f.id, f.aluno_id, f.template_id, f.variaveis, f.tentativas, a.celular,
       t.nome_meta, t.idioma, t.conteudo_texto, t.qtd_parametros,
       CASE
         WHEN t.id IS NULL OR t.status_meta <> 'APPROVED' OR t.removido_na_meta_em IS NOT NULL
           THEN 'template não aprovado na Meta'
         WHEN t.produto_id IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM matriculas m WHERE m.aluno_id = f.aluno_id
                   AND m.produto_id = t.produto_id)
           THEN 'o aluno não está matriculado no produto do template'
         WHEN {SQL_SEM_CONSENTIMENTO.format(aluno="f.aluno_id")} THEN 'sem consentimento'
         WHEN a.celular IS NULL THEN 'sem celular'
       END AS bloqueio,
       (SELECT count(*) FROM logs_disparo l WHERE l.aluno_id = f.aluno_id
          AND l.data_envio >= (date_trunc('day', now() AT TIME ZONE {SP}) AT TIME ZONE {SP}))
           AS enviados_hoje,
       CASE {_SAIDAS} END AS saida
  FROM filas_disparo f
  LEFT JOIN templates t ON t.id = f.template_id
  LEFT JOIN alunos a ON a.id = f.aluno_id
  LEFT JOIN regras_automacao r ON r.id = f.regra_id
 WHERE f.id = ANY(:ids)
 ORDER BY f.id
"""

# Every outcome of a batch in one statement: the log rows of the accepted sends (with the
# occasion's product, else the template's) and the new status of each item.
_SQL_REGISTRAR = f"""
WITH x AS (
    SELECT * FROM jsonb_to_recordset(CAST(:r AS jsonb)) AS x(
        id bigint, status text, motivo text, codigo int, mensagem text, espera_s float8,
        desconta boolean, amanha boolean, wamid text, wa_id text, telefone text, texto text)
), novos_logs AS (
    INSERT INTO logs_disparo (aluno_id, template_id, mensagem_id_whatsapp, status_entrega,
                              telefone, wa_id, variaveis, texto_renderizado, produto_id, fila_id)
    SELECT f.aluno_id, f.template_id, x.wamid, 'accepted', x.telefone, x.wa_id,
           coalesce(f.variaveis, '[]'::jsonb), x.texto, coalesce(f.produto_id, t.produto_id),
           f.id
      FROM x JOIN filas_disparo f ON f.id = x.id
      LEFT JOIN templates t ON t.id = f.template_id
     WHERE x.wamid IS NOT NULL
    RETURNING id
)
UPDATE filas_disparo f
   SET status = x.status,
       motivo_cancelamento = CASE WHEN x.status = 'cancelado' THEN x.motivo
                                  ELSE f.motivo_cancelamento END,
       erro_codigo = CASE WHEN x.mensagem IS NOT NULL THEN x.codigo ELSE f.erro_codigo END,
       erro_mensagem = coalesce(x.mensagem, f.erro_mensagem),
       enviado_em = CASE WHEN x.status = 'enviado' THEN now() ELSE f.enviado_em END,
       tentativas = f.tentativas - CASE WHEN x.desconta THEN 1 ELSE 0 END,
       proxima_tentativa_em = CASE
           WHEN x.amanha THEN ((date_trunc('day', now() AT TIME ZONE {SP}) + interval '1 day')
                               AT TIME ZONE {SP})
           WHEN x.espera_s IS NOT NULL THEN now() + make_interval(secs => x.espera_s)
           ELSE f.proxima_tentativa_em END,
       reservado_em = CASE WHEN x.status = 'aprovado' THEN NULL ELSE f.reservado_em END,
       reservado_por = CASE WHEN x.status = 'aprovado' THEN NULL ELSE f.reservado_por END
  FROM x
 WHERE f.id = x.id
"""


@dataclass
class Item:
    """A claimed item that passed its guards, with what its send needs."""

    id: int
    aluno_id: Any
    celular: str
    nome_meta: str
    idioma: str
    conteudo: str
    parametros: list
    tentativas: int


@dataclass
class Desfecho:
    """What happened to one item; ``registrar`` writes it."""

    id: int
    status: str
    motivo: str | None = None
    codigo: int | None = None
    mensagem: str | None = None
    espera_s: float | None = None
    desconta: bool = False  # the claim's attempt did not count (postponed or handed back)
    amanha: bool = False  # the daily cap: next try when tomorrow's window opens
    envio: EnvioTemplate | None = None
    telefone: str | None = None
    texto: str | None = None

    def linha(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "motivo": self.motivo,
            "codigo": self.codigo,
            "mensagem": self.mensagem,
            "espera_s": self.espera_s,
            "desconta": self.desconta,
            "amanha": self.amanha,
            "wamid": self.envio.wamid if self.envio else None,
            "wa_id": self.envio.wa_id if self.envio else None,
            "telefone": self.telefone,
            "texto": self.texto,
        }


def triar(session, ids: list[int], limite_dia: int) -> tuple[list[Item], list[Desfecho]]:
    """Guards of the whole batch in one query: items to send, and those cancelled/postponed."""
    enviar: list[Item] = []
    decididos: list[Desfecho] = []
    restantes: dict[Any, int] = {}  # per student: sends still allowed today (batch included)
    for linha in session.execute(text(_SQL_GUARDAS), {"ids": ids}).all():
        parametros = list(linha.variaveis or [])
        if linha.bloqueio:
            decididos.append(Desfecho(linha.id, "cancelado", motivo=linha.bloqueio))
            continue
        if (linha.qtd_parametros or 0) != len(parametros):
            motivo = (
                f"O template {linha.nome_meta} espera {linha.qtd_parametros} variáveis; "
                f"foram informadas {len(parametros)}."
            )
            decididos.append(Desfecho(linha.id, "cancelado", motivo=motivo))
            continue
        restam = restantes.setdefault(linha.aluno_id, limite_dia - linha.enviados_hoje)
        if restam <= 0:
            # The daily cap postpones to tomorrow's window; it is not a failure.
            decididos.append(Desfecho(linha.id, "aprovado", desconta=True, amanha=True))
            continue
        if linha.saida:
            decididos.append(Desfecho(linha.id, "cancelado", motivo=linha.saida))
            continue
        restantes[linha.aluno_id] = restam - 1
        enviar.append(
            Item(
                linha.id,
                linha.aluno_id,
                linha.celular,
                linha.nome_meta,
                linha.idioma or "pt_BR",
                linha.conteudo_texto or "",
                parametros,
                linha.tentativas,
            )
        )
    return enviar, decididos


def registrar(session, desfechos: list[Desfecho]) -> None:
    """Write the outcomes (log rows, statuses) and apply statuses parked for the new wamids."""
    if not desfechos:
        return
    session.execute(text(_SQL_REGISTRAR), {"r": json.dumps([d.linha() for d in desfechos])})
    wamids = [d.envio.wamid for d in desfechos if d.envio]
    if wamids:
        whatsapp_status.aplicar_estacionados_varios(session, wamids)


class Envios:
    """Sends of one worker: at most ``paralelos`` in flight, each behind the shared bucket.

    After a stop (token, permission, account: Meta's ``stop_everything``) no further send
    starts; the items not tried are handed back as ``aprovado``.
    """

    def __init__(self, cliente, balde, paralelos: int) -> None:
        self._cliente, self._balde = cliente, balde
        self._pool = ThreadPoolExecutor(max_workers=max(1, paralelos), thread_name_prefix="envio")
        self.parada: str | None = None
        self._lock = threading.Lock()

    def fechar(self) -> None:
        self._pool.shutdown(wait=True)

    def enviar(self, itens: list[Item]) -> list[Desfecho]:
        """Send every item (concurrently); one outcome each, in the items' order."""
        return list(self._pool.map(self._enviar_um, itens))

    def _enviar_um(self, item: Item) -> Desfecho:
        try:
            return self._tentar(item)
        except Exception as exc:  # noqa: BLE001 - any other failure mid-send: maybe sent
            mensagem = f"envio não confirmado: falha inesperada ({type(exc).__name__})"
            return Desfecho(item.id, "verificar", mensagem=mensagem)

    def _tentar(self, item: Item) -> Desfecho:
        if self.parada:
            return Desfecho(item.id, "aprovado", desconta=True)
        self._balde.aguardar()
        if self.parada:
            return Desfecho(item.id, "aprovado", desconta=True)
        try:
            envio = self._cliente.enviar_template(
                item.celular, item.nome_meta, item.idioma, item.parametros
            )
        except WhatsAppErro as exc:
            return self._falha(item, exc)
        texto = whatsapp.renderizar(item.conteudo, item.parametros)
        return Desfecho(item.id, "enviado", envio=envio, telefone=item.celular, texto=texto)

    def _falha(self, item: Item, exc: WhatsAppErro) -> Desfecho:
        mensagem = (exc.title or exc.message or str(exc))[:1000]
        if exc.talvez_enviado:
            # Meta may have accepted it: a person decides (never an automatic resend).
            mensagem = f"envio não confirmado: {exc}"[:1000]
            return Desfecho(item.id, "verificar", codigo=exc.code, mensagem=mensagem)
        if exc.acao == Acao.STOP_EVERYTHING:
            with self._lock:
                if not self.parada:
                    self.parada = (
                        f"Meta recusou o envio (código {exc.code}): disparo interrompido — "
                        f"{mensagem}"
                    )
            return Desfecho(item.id, "aprovado", codigo=exc.code, mensagem=mensagem, desconta=True)
        if exc.acao == Acao.RETRY_LATER and item.tentativas < MAX_TENTATIVAS:
            espera = exc.espera_s or 30 * 2 ** (item.tentativas - 1)
            return Desfecho(
                item.id, "aprovado", codigo=exc.code, mensagem=mensagem, espera_s=float(espera)
            )
        return Desfecho(item.id, "erro", codigo=exc.code, mensagem=mensagem)
