"""Which pages exist and which roles each one serves (the guard and st.navigation read this)."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from ui.sessao import exigir_papel


@dataclass(frozen=True)
class Pagina:
    """A page file, its title and the roles allowed to open it."""

    chave: str
    arquivo: str
    titulo: str
    icone: str
    papeis: tuple[str, ...]


PAGINAS: dict[str, Pagina] = {
    p.chave: p
    for p in [
        Pagina(
            "produtos",
            "pages/Produtos.py",
            "Produtos",
            ":material/inventory_2:",
            ("cs", "gestor", "admin"),
        ),
        Pagina(
            "alunos",
            "pages/Alunos.py",
            "Alunos",
            ":material/school:",
            ("cs", "gestor", "admin"),
        ),
        Pagina(
            "fila",
            "pages/Fila.py",
            "Fila de Aprovação",
            ":material/fact_check:",
            ("cs", "gestor", "admin"),
        ),
        Pagina(
            "regras",
            "pages/Regras.py",
            "Regras",
            ":material/rule:",
            ("gestor", "admin"),
        ),
        Pagina(
            "logs",
            "pages/Logs.py",
            "Logs de disparo",
            ":material/mark_chat_read:",
            ("cs", "gestor", "admin"),
        ),
        Pagina(
            "configuracoes",
            "pages/Configuracoes.py",
            "Configurações",
            ":material/settings:",
            ("admin",),
        ),
    ]
}


def exigir_acesso(chave: str):
    """The guard each page file calls first: the role list comes from PAGINAS."""
    return exigir_papel(*PAGINAS[chave].papeis)


def paginas_do_papel(papel: str, inicio) -> list:
    """st.Page objects the role may see, the landing page first."""
    paginas = [st.Page(inicio, title="Início", icon=":material/home:", default=True)]
    for p in PAGINAS.values():
        if papel in p.papeis:
            paginas.append(st.Page(p.arquivo, title=p.titulo, icon=p.icone, url_path=p.chave))
    return paginas
