"""Chatwoot ⇄ app: the label catalogue, one contact per student, and each contact's labels ⇄
``alunos_tags`` by a three-way merge (policy and tag ⇄ label mapping: services.chatwoot_labels).

Students synced: those with a tag, an enrolment in a monitored product or a Chatwoot contact
already; ``aluno_ids`` narrows that set. Each batch of students is read in one short transaction,
sent to Chatwoot one contact at a time (read, merge, write: the labels POST replaces the whole
set), and written in one transaction (``chatwoot_contatos``, then ``alunos_tags`` set-based).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.orm import Session

from db.engine import obter_engine
from db.uow import UnidadeDeTrabalho
from services import config, jobs
from services.chatwoot_client import (
    ChatwootClient,
    ChatwootConflito,
    ChatwootErro,
    telefone_e164,
    titulo_valido,
)
from services.chatwoot_labels import Catalogo, mesclar_labels, sincronizar_catalogo

LOTE = 200  # students per read → Chatwoot → write round; each batch commits on its own
MAX_FALHAS_LISTADAS = 50  # per-student failures kept in the result (the count is exact)
# Advisory lock of one label sync run; jobs.py keys live in 7_320_000–7_419_999.
_TRAVA_SYNC = 7_450_001
_EMAIL = re.compile(r"\A[^@\s]+@[^@\s]+\Z")  # Devise.email_regexp, which Chatwoot enforces

Progresso = Callable[[float, str], None]

CONTAGENS = (
    "alunos_processados",
    "contatos_criados",
    "contatos_atualizados",
    "labels_criadas",
    "labels_renomeadas",
    "labels_removidas",
    "tags_criadas",
    "alunos_tags_adicionadas",
    "alunos_tags_removidas",
    "contatos_escritos_no_chatwoot",
    "conflitos",
    "contatos_com_erro",
    "labels_ignoradas",
)


class ChatwootNaoConfigurado(RuntimeError):
    """Chatwoot settings missing (message in pt-BR)."""


def cliente_configurado(session: Session) -> ChatwootClient:
    """A client from Configurações; a clear pt-BR error when a setting is missing."""
    base_url = config.obter(session, "chatwoot_base_url")
    token = config.obter(session, "chatwoot_api_token")
    conta = config.obter(session, "chatwoot_account_id")
    if not base_url or not token or not conta:
        raise ChatwootNaoConfigurado(
            "Configure a URL, o token e o ID da conta do Chatwoot em Configurações."
        )
    return ChatwootClient(base_url=base_url, api_token=token, account_id=conta)


# --- contacts and their labels -----------------------------------------------------------------

_FILTRO_ALUNOS = """
    (CAST(:ids AS uuid[]) IS NULL OR a.id = ANY(CAST(:ids AS uuid[])))
    AND (EXISTS (SELECT 1 FROM alunos_tags t WHERE t.aluno_id = a.id)
         OR EXISTS (SELECT 1 FROM chatwoot_contatos c WHERE c.aluno_id = a.id)
         OR EXISTS (SELECT 1 FROM matriculas m JOIN produtos p ON p.id = m.produto_id
                    WHERE m.aluno_id = a.id AND p.ativo_monitoramento))
"""


def _lotes_de_alunos(ids: list[uuid.UUID] | None) -> Iterator[tuple[int, list[Row]]]:
    """(total, batch) of the students to sync, by id, each batch read in a short transaction."""
    ultimo = uuid.UUID(int=0)
    with UnidadeDeTrabalho() as uow:
        total = uow.session.execute(
            text(f"SELECT count(*) FROM alunos a WHERE {_FILTRO_ALUNOS}"), {"ids": ids}
        ).scalar_one()
    while True:
        with UnidadeDeTrabalho() as uow:
            lote = uow.session.execute(
                text(
                    "SELECT a.id, a.nome, a.email, a.celular, c.contato_id, "
                    "c.labels_sincronizadas, "
                    "ARRAY(SELECT t.tag_id FROM alunos_tags t WHERE t.aluno_id = a.id) AS tag_ids "
                    "FROM alunos a LEFT JOIN chatwoot_contatos c ON c.aluno_id = a.id "
                    f"WHERE a.id > :ultimo AND {_FILTRO_ALUNOS} ORDER BY a.id LIMIT :n"
                ),
                {"ultimo": ultimo, "ids": ids, "n": LOTE},
            ).all()
        if not lote:
            return
        yield total, lote
        ultimo = lote[-1].id


class _AlunoPulado(Exception):
    """This student is skipped in this run (the reason goes to the result's `falhas`)."""


@dataclass
class _Feito:
    """What one student's round decided, written with its batch."""

    aluno_id: uuid.UUID
    contato_id: int
    novo: bool  # first link of this student (or a contact recreated in Chatwoot)
    base: list[str]
    adicionar: list[int]
    remover: list[int]


def _identidade(aluno: Row) -> dict[str, Any]:
    email = (aluno.email or "").strip().lower()
    return {
        "identifier": str(aluno.id),
        "nome": (aluno.nome or "").strip() or email or "Aluno",
        "email": email if _EMAIL.match(email) else None,  # Chatwoot 422s anything else
        "telefone_e164": telefone_e164(aluno.celular),
    }


def _mudancas(contato: dict[str, Any], identidade: dict[str, Any]) -> dict[str, Any]:
    """Identity fields that differ; a missing e-mail/phone on our side never clears Chatwoot's."""
    mudancas = {}
    if contato.get("identifier") != identidade["identifier"]:
        mudancas["identifier"] = identidade["identifier"]
    if contato.get("name") != identidade["nome"]:
        mudancas["nome"] = identidade["nome"]
    if identidade["email"] and (contato.get("email") or "").lower() != identidade["email"]:
        mudancas["email"] = identidade["email"]
    telefone = identidade["telefone_e164"]
    if telefone and contato.get("phone_number") != telefone:
        mudancas["telefone_e164"] = telefone
    return mudancas


class _Sincronizacao:
    """One run: the catalogue, then each batch of students read → Chatwoot → written."""

    def __init__(self, cliente: ChatwootClient, progresso: Progresso | None) -> None:
        self.cliente = cliente
        self.progresso = progresso or (lambda _p, _m: None)
        self.contagem: dict[str, Any] = dict.fromkeys(CONTAGENS, 0)
        self.contagem["falhas"] = []
        self.catalogo: Catalogo

    def executar(self, ids: list[uuid.UUID] | None) -> dict[str, Any]:
        self.progresso(0, "Chatwoot: labels da conta e catálogo de tags")
        self.catalogo = sincronizar_catalogo(self.cliente, self.contagem)
        self.progresso(10, "Chatwoot: contatos e labels dos alunos")
        feitos = 0
        for total, lote in _lotes_de_alunos(ids):
            self._lote(lote)
            feitos += len(lote)
            self.progresso(
                10 + 90 * feitos / max(total, 1), f"Chatwoot: {feitos} de {total} alunos"
            )
        return self.contagem

    def _falha(self, aluno: Row, chave: str, erro: Exception) -> None:
        self.contagem[chave] += 1
        if len(self.contagem["falhas"]) < MAX_FALHAS_LISTADAS:
            self.contagem["falhas"].append({"aluno_id": str(aluno.id), "motivo": str(erro)[:300]})

    def _lote(self, lote: list[Row]) -> None:
        """Each student in turn; what was done is written even when a later one fails."""
        feitos: list[_Feito] = []
        try:
            for aluno in lote:
                try:
                    feito = self._aluno(aluno)
                except ChatwootConflito as erro:
                    self._falha(aluno, "conflitos", erro)
                    continue
                except ChatwootErro as erro:
                    if erro.status not in (404, 422):  # the student's data, not the service
                        raise
                    self._falha(aluno, "contatos_com_erro", erro)
                    continue
                except _AlunoPulado as erro:
                    self._falha(aluno, "contatos_com_erro", erro)
                    continue
                feitos.append(feito)
        finally:
            if feitos:
                self._gravar(feitos)

    def _contato(self, aluno: Row) -> tuple[int, bool]:
        """(contact id, first link?) of this student, created or brought up to date."""
        identidade = _identidade(aluno)
        if aluno.contato_id is not None:
            try:
                contato = self.cliente.contato(aluno.contato_id)
            except ChatwootErro as erro:
                if erro.status != 404:
                    raise
                contato = None  # deleted or merged away in Chatwoot: find or create it again
            if contato is not None and contato.get("identifier") in (None, "", str(aluno.id)):
                mudancas = _mudancas(contato, identidade)
                if mudancas:
                    try:
                        self.cliente.atualizar_contato(contato["id"], **mudancas)
                        self.contagem["contatos_atualizados"] += 1
                    except ChatwootErro as erro:
                        if erro.status != 422:
                            raise
                        self._falha(aluno, "conflitos", erro)  # e.g. e-mail of another contact
                return int(contato["id"]), False
        contato = self.cliente.upsert_contato(**identidade)
        return int(contato["id"]), int(contato["id"]) != aluno.contato_id

    def _aluno(self, aluno: Row) -> _Feito:
        """Read, merge, write one contact's labels (POST replaces the whole set)."""
        contato_id, novo = self._contato(aluno)
        catalogo = self.catalogo
        atuais = self.cliente.labels_do_contato(contato_id)
        base = set() if novo else catalogo.chaves(aluno.labels_sincronizadas)
        nossas = {catalogo.chave_da_tag[t] for t in aluno.tag_ids if t in catalogo.chave_da_tag}
        deles = catalogo.chaves(atuais)
        resultado = mesclar_labels(base, nossas, deles)
        finais = atuais
        # A renamed tag's former title is rewritten as its title now (Chatwoot's own re-tagging
        # after the label rename runs in the background, maybe after this read).
        antigas = {t for t in atuais if catalogo.antiga(t)}
        if resultado != deles or antigas:
            # Titles no tag stands for pass through untouched; managed ones follow the merge.
            mantidas = [
                t
                for t in atuais
                if t not in antigas and ((k := catalogo.gerenciada(t)) is None or k in resultado)
            ]
            novas = [
                catalogo.titulo_da_chave.get(k, k)
                for k in sorted(resultado - catalogo.chaves(mantidas))
            ]
            invalidas = [t for t in mantidas if not titulo_valido(t) or t != t.lower()]
            if invalidas:  # the client refuses to post them, and dropping them would lose them
                raise _AlunoPulado(f"labels que não podemos regravar no contato: {invalidas}")
            finais = self.cliente.definir_labels_do_contato(contato_id, mantidas + novas)
            self.contagem["contatos_escritos_no_chatwoot"] += 1
        removidas = nossas - resultado
        # The new base is what Chatwoot holds now: a title it dropped is offered again next time.
        return _Feito(
            aluno_id=aluno.id,
            contato_id=contato_id,
            novo=novo,
            base=sorted(t for t in set(finais) if catalogo.gerenciada(t)),
            adicionar=[catalogo.tag_da_chave[k] for k in sorted(resultado - nossas)],
            remover=[t for t in aluno.tag_ids if catalogo.chave_da_tag.get(t) in removidas],
        )

    def _gravar(self, feitos: list[_Feito]) -> None:
        """One transaction for the batch: links and bases, then tags added and removed."""
        links = json.dumps(
            [
                {"aluno_id": str(f.aluno_id), "contato_id": f.contato_id, "labels": f.base}
                for f in feitos
            ]
        )
        adicionar = [(f.aluno_id, t) for f in feitos for t in f.adicionar]
        remover = [(f.aluno_id, t) for f in feitos for t in f.remover]
        recordset = (
            "jsonb_to_recordset(CAST(:links AS jsonb)) "
            "AS r(aluno_id uuid, contato_id bigint, labels jsonb)"
        )
        with UnidadeDeTrabalho() as uow:
            s = uow.session
            # A contact now proven (by its identifier) to be this student's is nobody else's.
            s.execute(
                text(
                    f"DELETE FROM chatwoot_contatos c USING {recordset} "
                    "WHERE c.contato_id = r.contato_id AND c.aluno_id <> r.aluno_id"
                ),
                {"links": links},
            )
            s.execute(
                text(
                    "INSERT INTO chatwoot_contatos (aluno_id, contato_id, labels_sincronizadas) "
                    "SELECT r.aluno_id, r.contato_id, "
                    "ARRAY(SELECT jsonb_array_elements_text(r.labels)) "
                    f"FROM {recordset} "
                    "ON CONFLICT (aluno_id) DO UPDATE SET contato_id = EXCLUDED.contato_id, "
                    "labels_sincronizadas = EXCLUDED.labels_sincronizadas, sincronizado_em = now() "
                    "WHERE (chatwoot_contatos.contato_id, chatwoot_contatos.labels_sincronizadas) "
                    "IS DISTINCT FROM (EXCLUDED.contato_id, EXCLUDED.labels_sincronizadas)"
                ),
                {"links": links},
            )
            adicionadas = removidas = 0
            if adicionar:
                adicionadas = len(
                    s.execute(
                        text(
                            "INSERT INTO alunos_tags (aluno_id, tag_id) SELECT p.a, p.t "
                            "FROM unnest(CAST(:a AS uuid[]), CAST(:t AS int[])) AS p(a, t) "
                            "JOIN tags ON tags.id = p.t JOIN alunos ON alunos.id = p.a "
                            "ON CONFLICT DO NOTHING RETURNING 1"
                        ),
                        {"a": [a for a, _ in adicionar], "t": [t for _, t in adicionar]},
                    ).all()
                )
            if remover:
                removidas = len(
                    s.execute(
                        text(
                            "DELETE FROM alunos_tags x "
                            "USING unnest(CAST(:a AS uuid[]), CAST(:t AS int[])) AS p(a, t) "
                            "WHERE x.aluno_id = p.a AND x.tag_id = p.t RETURNING 1"
                        ),
                        {"a": [a for a, _ in remover], "t": [t for _, t in remover]},
                    ).all()
                )
            uow.commit()
        self.contagem["alunos_processados"] += len(feitos)
        self.contagem["contatos_criados"] += sum(f.novo for f in feitos)
        self.contagem["alunos_tags_adicionadas"] += adicionadas
        self.contagem["alunos_tags_removidas"] += removidas


@contextmanager
def _execucao_exclusiva() -> Iterator[None]:
    """One label sync at a time (job or direct call): two runs would race on the same POSTs."""
    conn = obter_engine().connect()
    try:
        livre = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _TRAVA_SYNC}).scalar()
        conn.commit()
        if not livre:
            raise jobs.JobEmAndamento("Sincronização com o Chatwoot já está em andamento.")
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _TRAVA_SYNC})
            conn.commit()
    finally:
        conn.close()


def sincronizar_chatwoot(
    cliente: ChatwootClient,
    *,
    aluno_ids: Iterable[uuid.UUID | str] | None = None,
    progresso: Progresso | None = None,
) -> dict[str, Any]:
    """Sync the label catalogue, then contacts and their labels (three-way merge); the counts.

    Students: those with a tag, an enrolment in a monitored product or an existing contact;
    ``aluno_ids`` narrows that set. A contact conflict (ChatwootConflito) or a 404/422 about one
    student is counted, listed in ``falhas`` and skipped; any other Chatwoot error stops the run
    after writing what its batch had done. Nothing is audited per row.
    """
    ids = None if aluno_ids is None else [uuid.UUID(str(a)) for a in aluno_ids]
    with _execucao_exclusiva():
        return _Sincronizacao(cliente, progresso).executar(ids)


def executar_sync_chatwoot(
    *, iniciado_por: str | None, observador: Callable[[float, str], None] | None = None
) -> jobs.Job:
    """The whole sync as the 'sync_chatwoot' job (one at a time; progress in ``jobs``)."""

    def funcao(execucao: jobs.ExecucaoJob) -> dict[str, Any]:
        with UnidadeDeTrabalho() as uow:
            cliente = cliente_configurado(uow.session)
        with cliente:
            return sincronizar_chatwoot(cliente, progresso=execucao.progresso)

    return jobs.executar("sync_chatwoot", funcao, iniciado_por=iniciado_por, observador=observador)


def nota_privada_envio(
    cliente: ChatwootClient, session: Session, *, aluno_id: uuid.UUID | str, texto: str
) -> bool:
    """A private note on the student's latest Chatwoot conversation; False when there is none.

    The contact is the linked one, else one found by identifier/e-mail/phone that belongs to
    nobody else (a student who wrote on WhatsApp before the first sync).
    """
    if not texto or not texto.strip():
        raise ValueError("texto da nota vazio")
    aluno = session.execute(
        text(
            "SELECT a.id, a.nome, a.email, a.celular, c.contato_id FROM alunos a "
            "LEFT JOIN chatwoot_contatos c ON c.aluno_id = a.id WHERE a.id = :a"
        ),
        {"a": uuid.UUID(str(aluno_id))},
    ).first()
    if aluno is None:
        return False
    contato_id = aluno.contato_id
    if contato_id is None:
        identidade = _identidade(aluno)
        contato = cliente.buscar_contato(
            identifier=identidade["identifier"],
            email=identidade["email"],
            telefone=identidade["telefone_e164"],
        )
        if contato is None or contato.get("identifier") not in (None, "", str(aluno.id)):
            return False
        contato_id = contato["id"]
    try:
        conversa = cliente.ultima_conversa(contato_id)
    except ChatwootErro as erro:
        if erro.status == 404:
            return False
        raise
    if conversa is None:
        return False
    cliente.nota_privada(conversa["id"], texto)
    return True
