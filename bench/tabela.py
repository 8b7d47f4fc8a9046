"""The results table (Markdown, pt-BR numbers), from results.json's structure."""

from __future__ import annotations

from bench.ambiente import linha_maquina

TITULOS = {
    "ingest": "Ingestão",
    "webhooks": "Webhooks",
    "regras": "Regras",
    "disparo": "Disparo",
    "consultas": "Consultas",
    "paginas": "Páginas",
}


def numero(valor: float | None, casas: int = 1) -> str:
    """1234.5 → '1.234,5' (pt-BR)."""
    if valor is None:
        return "—"
    if abs(valor) >= 100 and casas:
        casas = 0
    texto = f"{valor:,.{casas}f}"
    return texto.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def formatar_tabela(resultados: dict) -> str:
    """| Seção | Medida | Valor | Alvo | Veredito | — one row per figure, then the notes."""
    linhas = []
    if resultados.get("maquina"):
        linhas.append(f"Máquina: {linha_maquina(resultados['maquina'])}")
    linhas.append(f"Escala: {resultados['escala']}")
    linhas.append("")
    linhas.append("| Seção | Medida | Valor | Alvo | Veredito |")
    linhas.append("|---|---|---:|---|---|")
    notas = []
    for nome, secao in resultados.get("secoes", {}).items():
        for f in secao["figuras"]:
            casas = 2 if f["unidade"] in ("s", "× COPY") else 1
            valor = f"{numero(f['valor'], casas)} {f['unidade']}".strip()
            if f["ok"] is None:
                veredito = "info"
            else:
                veredito = "OK" if f["ok"] else "**FALHOU**"
            linhas.append(
                f"| {TITULOS.get(nome, nome)} | {f['nome']} | {valor} | {f['alvo']} | {veredito} |"
            )
            if f.get("nota"):
                notas.append(f"- {TITULOS.get(nome, nome)} / {f['nome']}: {f['nota']}")
    if notas:
        linhas.append("")
        linhas.append("Notas:")
        linhas += notas
    return "\n".join(linhas)
