"""The landing page: dashboards for managers and admins, the day's queue for CS agents."""

from __future__ import annotations

from ui.sessao import exigir_papel


def pagina_inicio() -> None:
    """Draw the landing page of the logged-in user's role."""
    usuario = exigir_papel("cs", "gestor", "admin")
    if usuario.papel == "cs":
        from ui import painel_cs

        painel_cs.desenhar(usuario)
        return
    from ui import painel_gestor

    painel_gestor.desenhar()
