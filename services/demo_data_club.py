"""Synthetic Hotmart Club content (modules, pages with dripping) and student progress."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from math import log
from typing import Any

from services.demo_data_catalogo import DIA_MS, Catalogo, id_opaco
from services.demo_data_vendas import Vendas

NOMES_MODULOS = (
    "Boas-vindas",
    "Fundamentos",
    "Primeiros Passos",
    "Técnicas Essenciais",
    "Prática Guiada",
    "Aprofundamento",
    "Estudos de Caso",
    "Plano de Ação",
)
TOPICOS = (
    "Introdução",
    "Conceitos básicos",
    "Passo a passo",
    "Exercício prático",
    "Erros comuns",
    "Dicas avançadas",
    "Revisão",
)
ENGAJAMENTO = ((25, "LOW"), (50, "MEDIUM"), (80, "HIGH"), (101, "VERY_HIGH"))
EMAIL_PRODUTOR = "contato@terceirizacursos.example"


@dataclass
class Club:
    """Club data by subdomain: modules, pages by module_id, users and their lessons."""

    modulos: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    paginas: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    usuarios: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    aulas: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)


@dataclass
class _Curso:
    """One product's lesson order, for progress generation."""

    subdominio: str
    class_id: str
    principais: list[tuple[dict[str, Any], int]]  # (completed-lesson template, liberation ms)
    extras: list[dict[str, Any]]  # completed-lesson templates of the extra module
    primeiro_modulo: int
    modelo: list[dict[str, Any]]  # every lesson, none completed (shared)


def gerar_club(
    rng: random.Random,
    catalogo: Catalogo,
    compradores: list[dict[str, Any]],
    vendas: Vendas,
    agora_ms: int,
) -> Club:
    """Modules, pages and one Club user per buyer with access, with realistic progress."""
    club, usados, cursos = Club(), set(), {}
    for i, produto in enumerate(catalogo.produtos):
        cursos[produto["id"]] = _conteudo(rng, club, catalogo.subdominios[produto["id"]], i, usados)
    por_produto: dict[int, list[tuple[int, int, str]]] = {}
    for idx, produto_id, quando, acesso in vendas.acessos:
        por_produto.setdefault(produto_id, []).append((quando, idx, acesso))
    for produto in catalogo.produtos:
        curso = cursos[produto["id"]]
        usuarios: list[dict[str, Any]] = []
        aulas: dict[str, list[dict[str, Any]]] = {}
        dono = _id_unico(rng, usados)
        usuarios.append(
            {
                "user_id": dono,
                "name": catalogo.produtor["name"],
                "email": EMAIL_PRODUTOR,
                "role": "OWNER",
                "status": "ACTIVE",
                "type": "OWNER",
                "engagement": "NONE",
                "access_count": 0,
                "locale": "pt_BR",
                "plus_access": "WITHOUT_PLUS_ACCESS",
                "class_id": curso.class_id,
                "is_deletable": False,
                "progress": {"completed_percentage": 0, "total": len(curso.modelo), "completed": 0},
            }
        )
        aulas[dono] = curso.modelo
        for quando, idx, acesso in sorted(por_produto.get(produto["id"], [])):
            usuario, lista = _aluno(rng, curso, compradores[idx], quando, acesso, agora_ms)
            usuario["user_id"] = _id_unico(rng, usados)
            usuarios.append(usuario)
            aulas[usuario["user_id"]] = lista
        club.usuarios[curso.subdominio] = usuarios
        club.aulas[curso.subdominio] = aulas
    return club


def _id_unico(rng: random.Random, usados: set[str]) -> str:
    """A 10-character opaque id not used before in this data set."""
    novo = id_opaco(rng)
    while novo in usados:
        novo = id_opaco(rng)
    usados.add(novo)
    return novo


def _conteudo(
    rng: random.Random, club: Club, subdominio: str, indice: int, usados: set[str]
) -> _Curso:
    """Modules (sequence) and pages (page_order); odd products drip modules 3+ BY_DAYS."""
    class_id = _id_unico(rng, usados)
    gotejamento = indice % 2 == 1
    quantidade = rng.randint(4, 7)
    modulos, principais, extras, modelo, modelo_extras = [], [], [], [], []
    primeiro_modulo = 0
    for seq in range(1, quantidade + 2 if indice % 2 == 0 else quantidade + 1):
        extra = seq > quantidade
        nome = (
            "Bônus: Materiais Complementares"
            if extra
            else f"Módulo {seq} - {NOMES_MODULOS[seq - 1]}"
        )
        module_id = _id_unico(rng, usados)
        dias = 7 * (seq - 2) if gotejamento and seq >= 3 and not extra else 0
        paginas = []
        for ordem in range(1, rng.randint(2, 3) + 1 if extra else rng.randint(3, 6) + 1):
            quiz = not extra and ordem > 3 and rng.random() < 0.25
            pagina = {
                "page_id": _id_unico(rng, usados),
                "name": "Quiz do módulo" if quiz else f"Aula {ordem}: {rng.choice(TOPICOS)}",
                "type": "QUIZ" if quiz else "CONTENT",
                "page_order": ordem,
                "published": True,
                "has_media": not quiz,
                "total_comments": rng.randint(0, 40),
                "rates_average": round(rng.uniform(4.0, 5.0), 1),
                "rates": [
                    {"rate": 5, "total": rng.randint(0, 30)},
                    {"rate": 4, "total": rng.randint(0, 8)},
                ],
                "dripping_configs": [],
            }
            if dias:
                regra: dict[str, Any] = {"liberation": {"type": "BY_DAYS", "liberation_days": dias}}
                if rng.random() < 0.3:
                    regra["expiration"] = {"type": "BY_DAYS", "duration_days": 365}
                regra["classes"] = []
                pagina["dripping_configs"] = [regra]
            paginas.append(pagina)
            aula = {
                "page_id": pagina["page_id"],
                "page_name": pagina["name"],
                "module_name": nome,
                "is_module_extra": extra,
                "is_completed": False,
            }
            feita = {**aula, "is_completed": True}
            (extras if extra else principais).append(feita if extra else (feita, dias * DIA_MS))
            (modelo_extras if extra else modelo).append(aula)
        if seq == 1:
            primeiro_modulo = len(paginas)
        club.paginas[module_id] = paginas
        modulos.append(
            {
                "module_id": module_id,
                "name": nome,
                "sequence": seq,
                "is_extra": extra,
                "is_extra_paid": False,
                "is_public": seq == 1 and rng.random() < 0.3,
                "classes": [class_id],
                "total_pages": len(paginas),
            }
        )
    club.modulos[subdominio] = modulos
    return _Curso(subdominio, class_id, principais, extras, primeiro_modulo, modelo + modelo_extras)


def _aluno(
    rng: random.Random,
    curso: _Curso,
    comprador: dict[str, Any],
    compra: int,
    acesso: str,
    agora: int,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A Club student and their lessons: many stall in module 1, some finish everything."""
    r, total = rng.random, len(curso.modelo)
    primeiro = compra + int(-log(1.0 - r()) * 0.8 * DIA_MS)
    if r() < (0.45 if acesso == "BLOCKED" else 0.18) or primeiro >= agora:
        return _usuario(comprador, acesso, curso, compra, "NONE", 0, 0), curso.modelo
    n_principais, sorteio = len(curso.principais), r()
    if sorteio < 0.45:
        alvo = rng.randint(0, curso.primeiro_modulo - 1)
    elif sorteio < 0.75:
        alvo = rng.randint(curso.primeiro_modulo, n_principais - 1)
    elif sorteio < 0.9:
        alvo = n_principais
    else:
        alvo = rng.randint(0, n_principais)
    feitas: list[dict[str, Any]] = []
    momento = primeiro
    for feita, liberacao in curso.principais[:alvo]:
        momento = max(momento + int(-log(1.0 - r()) * 1.2 * DIA_MS), compra + liberacao)
        if momento >= agora:
            break
        feitas.append(feita.copy())
        feitas[-1]["completed_date"] = momento
    if len(feitas) == n_principais and r() < 0.3:
        for feita in curso.extras:
            momento += int(-log(1.0 - r()) * 2 * DIA_MS)
            if momento >= agora:
                break
            feitas.append(feita.copy())
            feitas[-1]["completed_date"] = momento
    concluidas = len(feitas)
    pct = round(100 * concluidas / total)
    engajamento = next(n for limite, n in ENGAJAMENTO if pct < limite)
    acessos = concluidas + rng.randint(1, 6)
    usuario = _usuario(comprador, acesso, curso, compra, engajamento, acessos, concluidas)
    usuario["first_access_date"] = primeiro
    ultimo = min(max(momento, primeiro) + int(r() * 3 * DIA_MS), agora - 60_000)
    usuario["last_access_date"] = max(ultimo, primeiro)
    # Completed lessons are always a prefix of the course order, so the rest is a plain slice.
    return usuario, (feitas + curso.modelo[concluidas:]) if feitas else curso.modelo


def _usuario(
    comprador: dict[str, Any],
    acesso: str,
    curso: _Curso,
    compra: int,
    engajamento: str,
    acessos: int,
    concluidas: int,
) -> dict[str, Any]:
    """A Club student item (first/last access dates are added by the caller when any)."""
    total = len(curso.modelo)
    return {
        "user_id": "",
        "name": comprador["name"],
        "email": comprador["email"],
        "role": "STUDENT",
        "status": acesso,
        "type": "BUYER",
        "engagement": engajamento,
        "purchase_date": compra,
        "access_count": acessos,
        "locale": "pt_BR",
        "plus_access": "WITHOUT_PLUS_ACCESS",
        "class_id": curso.class_id,
        "is_deletable": False,
        "progress": {
            "completed_percentage": round(100 * concluidas / total),
            "total": total,
            "completed": concluidas,
        },
    }
