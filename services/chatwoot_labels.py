"""Chatwoot labels ⇄ the tag catalogue, and the three-way merge of one contact's labels.

Tag ⇄ label. A tag and a label are the same thing when their *key* is equal: the key of a tag is
``titulo_label_valido(nome)`` ("Super Fã!" → "super_fa"), the key of a label is the same function
of its title ("promoção" → "promocao"). So a label an agent creates as "promoção" becomes a tag
named "promoção" (colour from Chatwoot) and no twin label "promocao" is ever created; an app tag
"Promoção" is written to contacts as that same "promoção" label.

- Several tags with one key ("VIP" and "Vip!") are one label. The tag with the lowest id is the
  canonical one: its colour creates the label, and a label arriving from Chatwoot adds that tag.
  A student holding any of them holds the label; removing the label removes all of them.
- Several labels with one key ("promoção" and "promocao") are one tag. The label titled exactly
  as the key, else the one with the lowest id, is the title written to contacts.
- A Chatwoot title longer than a tag name (50) makes a tag named by its key (cut with a hash).
- Colours are copied only when a label or tag is created; later edits stay on their side.

Merge policy (README text): labels sync both ways by a three-way merge per contact. The base is
the set agreed at the last sync (``chatwoot_contatos.labels_sincronizadas``); a title added on
either side since then is added on both, a title removed on either side since then is removed on
both, everything else stays. There is no per-title conflict: "added" means absent from the base
and "removed" means present in it, so one side cannot add what the other removed. A title removed
in the app and then re-added in Chatwoot comes back to the student at the next sync (a sync never
undoes an addition); Chatwoot keeps no label history, so a removal and a re-addition made on one
side between two syncs is indistinguishable from no change there, and the other side's removal
wins. A new contact (or one deleted and recreated in Chatwoot) starts from an empty base: both
sets are united and nothing is removed. Titles that stand for no tag are never touched.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from db.uow import UnidadeDeTrabalho
from services.chatwoot_client import ChatwootClient, ChatwootErro, titulo_label_valido

COR_PADRAO = "#1F93FF"  # Chatwoot's default label colour
TAMANHO_MAX_TAG = 50  # tags.nome VARCHAR(50)
_COR = re.compile(r"\A#[0-9A-Fa-f]{6}\Z")


@functools.lru_cache(maxsize=8192)
def chave_label(nome: str | None) -> str | None:
    """The label key of a tag name or a label title ("Promoção" → "promocao"); None if blank."""
    if not nome or not nome.strip():
        return None
    return titulo_label_valido(nome)


def _cor(valor: Any) -> str:
    """`#RRGGBB` in upper case (as services.alunos.criar_tag stores it), or Chatwoot's default."""
    return str(valor).upper() if isinstance(valor, str) and _COR.match(valor) else COR_PADRAO


def mesclar_labels(base: set[str], nossas: set[str], deles: set[str]) -> set[str]:
    """Three-way merge: base − (removed on either side) + (added on either side)."""
    return (base & nossas & deles) | (nossas - base) | (deles - base)


@dataclass
class Catalogo:
    """Which tag stands for which label key, and the title each key is written as."""

    chave_da_tag: dict[int, str] = field(default_factory=dict)  # tag id → key
    tag_da_chave: dict[str, int] = field(default_factory=dict)  # key → canonical tag (lowest id)
    titulo_da_chave: dict[str, str] = field(default_factory=dict)  # key → title on contacts
    apelidos: dict[str, str] = field(default_factory=dict)  # former key of a renamed tag → key

    def gerenciada(self, titulo: str) -> str | None:
        """The key of a title when a tag stands for it (under its name or a former one), else
        None (the title is left alone)."""
        chave = chave_label(titulo)
        if chave in self.tag_da_chave:
            return chave
        chave = self.apelidos.get(chave or "")
        return chave if chave in self.tag_da_chave else None

    def antiga(self, titulo: str) -> bool:
        """Whether a title names a renamed tag by its former name (rewritten on the contact)."""
        chave = chave_label(titulo)
        return chave not in self.tag_da_chave and self.gerenciada(titulo) is not None

    def chaves(self, titulos: Iterable[str]) -> set[str]:
        """The managed keys among these titles."""
        return {k for k in map(self.gerenciada, titulos) if k is not None}


def _representantes(labels: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """key → the label standing for it: titled exactly as the key, else the lowest id."""
    escolhidos: dict[str, dict[str, Any]] = {}
    for label in sorted(labels, key=lambda rotulo: rotulo.get("id") or 0):
        titulo = str(label.get("title") or "")
        chave = chave_label(titulo)
        if chave is None:
            continue
        atual = escolhidos.get(chave)
        if atual is None or (titulo == chave and atual["title"] != chave):
            escolhidos[chave] = label
    return escolhidos


def _criar_tags(representantes: dict[str, dict[str, Any]], contagem: dict[str, Any]) -> list:
    """Tags for the labels no tag stands for; every tag as (id, nome, cor_hex)."""
    with UnidadeDeTrabalho() as uow:
        # The lock of services.alunos.criar_tag: no "Promoção" slips in while we add "promoção".
        uow.session.execute(text("LOCK TABLE tags IN SHARE ROW EXCLUSIVE MODE"))
        tags = [tuple(t) for t in uow.session.execute(text("SELECT id, nome, cor_hex FROM tags"))]
        existentes = {chave_label(nome) for _, nome, _ in tags}
        # A tag renamed since this sync read the renames: its former label is carried next time.
        existentes |= set(
            uow.session.execute(text("SELECT chave_antiga FROM chatwoot_tags_renomeadas")).scalars()
        )
        novas = []
        for chave, label in sorted(representantes.items()):
            if chave in existentes:
                continue
            nome = label["title"] if len(label["title"]) <= TAMANHO_MAX_TAG else chave
            if chave_label(nome) != chave:  # pragma: no cover - titulo_label_valido is idempotent
                contagem["labels_ignoradas"] += 1
                continue
            novas.append({"nome": nome, "cor": _cor(label.get("color"))})
        if novas:
            inseridas = uow.session.execute(
                text(
                    "INSERT INTO tags (nome, cor_hex) SELECT r.nome, r.cor "
                    "FROM jsonb_to_recordset(CAST(:novas AS jsonb)) AS r(nome text, cor text) "
                    "ON CONFLICT (nome) DO NOTHING RETURNING id, nome, cor_hex"
                ),
                {"novas": json.dumps(novas)},
            ).all()
            tags += [tuple(t) for t in inseridas]
            contagem["tags_criadas"] += len(inseridas)
        uow.commit()
    return tags


def _levar_renomeacoes(
    cliente: ChatwootClient, labels: list[dict[str, Any]], contagem: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Carry tag renames (``chatwoot_tags_renomeadas``) to the account's labels.

    A pending rename renames the label of the former name to the new one (Chatwoot then re-tags
    its contacts and conversations in a background job), or deletes it when the new name has a
    label already. A rename stays on record as an alias, so a contact still holding the former
    title reads as holding the tag; it is dropped when a tag takes that name again, or when the
    label of the former name shows up again after it was carried (someone created it anew in
    Chatwoot: it becomes a tag of its own). Returns the labels now and the aliases
    {former key: tag id}.
    """
    with UnidadeDeTrabalho() as uow:
        renomeacoes = uow.session.execute(
            text(
                "SELECT r.chave_antiga, r.tag_id, r.pendente, r.criado_em, t.nome "
                "FROM chatwoot_tags_renomeadas r JOIN tags t ON t.id = r.tag_id "
                "ORDER BY r.criado_em, r.chave_antiga"
            )
        ).all()
        nomes = uow.session.execute(text("SELECT nome FROM tags")).scalars().all()
    if not renomeacoes:
        return labels, {}
    chaves_das_tags = {chave_label(nome) for nome in nomes} - {None}
    por_chave: dict[str | None, list[dict[str, Any]]] = {}
    for label in sorted(labels, key=lambda rotulo: rotulo.get("id") or 0):
        por_chave.setdefault(chave_label(str(label.get("title") or "")), []).append(label)
    for chave, grupo in por_chave.items():  # the representative first: the one renamed
        if chave is not None:
            primeiro = _representantes(grupo)[chave]
            grupo.remove(primeiro)
            grupo.insert(0, primeiro)
    apelidos: dict[str, int] = {}
    descartadas, levadas = [], []
    mudou = False
    for r in renomeacoes:
        antigas = por_chave.get(r.chave_antiga, [])
        nova = chave_label(r.nome)
        if nova is None or r.chave_antiga in chaves_das_tags or (not r.pendente and antigas):
            descartadas.append(r)
            continue
        if r.pendente:
            mudou = mudou or bool(antigas)
            for i, label in enumerate(antigas):
                if i == 0 and nova not in por_chave:
                    try:
                        por_chave[nova] = [cliente.renomear_label(label["id"], nova)]
                        contagem["labels_renomeadas"] += 1
                        continue
                    except ChatwootErro as erro:
                        if not erro.duplicado:  # else created meanwhile: this one goes
                            raise
                cliente.apagar_label(label["id"])
                contagem["labels_removidas"] += 1
            por_chave.pop(r.chave_antiga, None)
            levadas.append(r)
        apelidos[r.chave_antiga] = r.tag_id
    with UnidadeDeTrabalho() as uow:
        # Only the rows as read: a rename made meanwhile is carried by the next sync.
        for sql, linhas in (
            ("DELETE FROM chatwoot_tags_renomeadas", descartadas),
            ("UPDATE chatwoot_tags_renomeadas SET pendente = false", levadas),
        ):
            if linhas:
                uow.session.execute(
                    text(f"{sql} WHERE chave_antiga = :k AND criado_em = :c"),
                    [{"k": r.chave_antiga, "c": r.criado_em} for r in linhas],
                )
        uow.commit()
    if mudou:
        labels = cliente.listar_labels()  # after a rename or delete: as Chatwoot has them now
    return labels, apelidos


def sincronizar_catalogo(cliente: ChatwootClient, contagem: dict[str, Any]) -> Catalogo:
    """Tag renames carried to their labels, a tag for every Chatwoot label that has none, then
    a label for every tag that has none.

    Adds to ``contagem``'s ``labels_renomeadas``, ``labels_removidas``, ``tags_criadas`` and
    ``labels_criadas``.
    """
    labels, apelidos = _levar_renomeacoes(cliente, cliente.listar_labels(), contagem)
    representantes = {k: r for k, r in _representantes(labels).items() if k not in apelidos}
    tags = _criar_tags(representantes, contagem)
    catalogo = Catalogo(titulo_da_chave={k: r["title"] for k, r in representantes.items()})
    cores: dict[str, str] = {}
    for tag_id, nome, cor in sorted(tags, key=lambda t: t[0]):
        chave = chave_label(nome)
        if chave is None:  # a tag without a name (the spec allows NULL) is not synced
            continue
        catalogo.chave_da_tag[tag_id] = chave
        if chave not in catalogo.tag_da_chave:
            catalogo.tag_da_chave[chave] = tag_id
            cores[chave] = _cor(cor)
    relistar = False
    for chave in sorted(set(catalogo.tag_da_chave) - set(catalogo.titulo_da_chave)):
        try:
            label = cliente.criar_label(chave, cores[chave])
        except ChatwootErro as erro:
            if not erro.duplicado:
                raise
            relistar = True  # created meanwhile by someone else: read it below
            continue
        catalogo.titulo_da_chave[chave] = label["title"]
        contagem["labels_criadas"] += 1
    if relistar:
        for chave, label in _representantes(cliente.listar_labels()).items():
            catalogo.titulo_da_chave.setdefault(chave, label["title"])
    catalogo.apelidos = {
        antiga: catalogo.chave_da_tag[tag_id]
        for antiga, tag_id in apelidos.items()
        if tag_id in catalogo.chave_da_tag
    }
    return catalogo
