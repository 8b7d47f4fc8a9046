"""Synthetic catalogue (producer, products, offers, plans) and Brazilian buyers for the demo set."""

from __future__ import annotations

import bisect
import operator
import random
import string
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from faker import Faker

DIA_MS = 86_400_000
ALFANUM = string.ascii_letters + string.digits
MINUSCULAS = string.ascii_lowercase + string.digits
MAIUSCULAS = string.ascii_uppercase + string.digits

# Kinds of product, cycled over the catalogue index; "sub" products are subscriptions.
TIPOS = ("low", "sub", "mid", "high", "sub", "mid")
PRECOS = {
    "low": (47, 67, 97, 147, 197),
    "mid": (197, 297, 397, 497, 697, 997),
    "high": (1497, 1997, 2997, 3997, 4997),
}
PREFIXOS = {
    "low": ("Guia", "Minicurso"),
    "mid": ("Método", "Curso"),
    "high": ("Mentoria", "Formação"),
    "sub": ("Comunidade", "Clube"),
}
TEMAS = (
    "Confeitaria Lucrativa",
    "Inglês Fluente",
    "Excel Descomplicado",
    "Finanças Pessoais",
    "Marketing Digital",
    "Fotografia com Celular",
    "Violão do Zero",
    "Maquiagem Profissional",
    "Programação Python",
    "Yoga em Casa",
    "Oratória Sem Medo",
    "Concurso Público",
    "Marcenaria Criativa",
    "Nutrição Esportiva",
    "Desenho Realista",
    "Investimentos Inteligentes",
)
# (name, recurrency_period in days, price multiplier over the monthly price, max_charge_cycles)
PLANOS = (
    ("Plano Mensal", 30, 1, None),
    ("Plano Trimestral", 90, 2.7, 4),
    ("Plano Anual", 360, 9, None),
)
# Area codes weighted roughly by population (São Paulo, Rio, BH, Porto Alegre, Salvador, ...).
DDDS = ("11",) * 6 + ("21",) * 3 + ("31",) * 2 + ("41", "51", "61", "71", "81", "85", "19")
DDDS += ("12", "13", "15", "17", "27", "48", "62", "65", "67", "79", "83", "84", "91", "92", "98")
PESOS_CPF = (11, 10, 9, 8, 7, 6, 5, 4, 3, 2)
DOMINIOS = ("gmail.com",) * 11 + ("hotmail.com",) * 4 + ("outlook.com",) * 2
DOMINIOS += ("yahoo.com.br", "icloud.com", "uol.com.br", "bol.com.br")


class Sorteio(random.Random):
    """random.Random with float-based randint/choice, several times faster on hot loops.

    The stdlib versions draw exact integers bit by bit; a demo data set of 200,000 buyers makes
    millions of draws, and the tiny bias of scaling random() is irrelevant here.
    """

    def randint(self, a: int, b: int) -> int:
        """Integer in [a, b]."""
        return a + int(self.random() * (b - a + 1))

    def choice(self, seq: Any) -> Any:
        """One element of a non-empty sequence."""
        return seq[int(self.random() * len(seq))]

    def ponderado(self, seq: Sequence[Any], acumulados: Sequence[float]) -> Any:
        """One element drawn with cumulative weights (what choices(k=1) does, minus overhead)."""
        return seq[bisect.bisect_right(acumulados, self.random() * acumulados[-1])]


@dataclass
class Catalogo:
    """Products, their offers and Club subdomains, plus popularity weights for sales."""

    produtor: dict[str, Any]
    produtos: list[dict[str, Any]]
    ofertas: dict[int, list[dict[str, Any]]]
    subdominios: dict[int, str]
    tipos: dict[int, str]
    pesos: list[float]


def ms_de(valor: datetime | int) -> int:
    """Epoch milliseconds of a timezone-aware datetime (ints pass through)."""
    if isinstance(valor, int):
        return valor
    if valor.tzinfo is None:
        raise ValueError("agora precisa de fuso horário (tzinfo)")
    return int(valor.timestamp() * 1000)


def id_opaco(rng: random.Random, tamanho: int = 10, alfabeto: str = ALFANUM) -> str:
    """A Hotmart-like opaque id (10 alphanumeric characters by default)."""
    return "".join(rng.choices(alfabeto, k=tamanho))


def uuid_de(rng: random.Random) -> str:
    """A deterministic version-4 UUID string (same bits as uuid.UUID(int=..., version=4))."""
    n = rng.getrandbits(128) & ~(0xC000 << 48) | (0x8000 << 48)
    h = "%032x" % (n & ~(0xF000 << 64) | (4 << 76))
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def sem_acento(texto: str) -> str:
    """ASCII, lower-case slug material from a pt-BR text."""
    normal = unicodedata.normalize("NFKD", texto)
    return "".join(c for c in normal if not unicodedata.combining(c)).lower()


def cpf_com_digitos(base: str) -> str:
    """Append the two CPF check digits to 9 base digits.

    Hand-written (10 lines) because validate-docbr's generate() draws from the global `random`
    module, which would break the seeded determinism and could repeat CPFs; the tests still
    validate every CPF with validate-docbr.
    """
    digitos = [ord(c) - 48 for c in base]
    primeiro = sum(map(operator.mul, digitos, PESOS_CPF[1:])) * 10 % 11 % 10
    segundo = (sum(map(operator.mul, digitos, PESOS_CPF[:9])) + 2 * primeiro) * 10 % 11 % 10
    return f"{base}{primeiro}{segundo}"


def gerar_catalogo(rng: random.Random, quantidade: int, agora_ms: int) -> Catalogo:
    """Products (numeric ids like 3526906), 2-3 offers each from R$ 47 to R$ 4.997, subdomains."""
    produtor = {"name": "Terceiriza Cursos Online", "ucode": uuid_de(rng)}
    produtos: list[dict[str, Any]] = []
    ofertas: dict[int, list[dict[str, Any]]] = {}
    subdominios: dict[int, str] = {}
    tipos: dict[int, str] = {}
    ids = rng.sample(range(1_000_000, 6_000_000), quantidade)
    planos_ids = iter(rng.sample(range(100_000, 999_999), quantidade * 3))
    codigos: set[str] = set()
    for i, produto_id in enumerate(ids):
        tipo = TIPOS[i % len(TIPOS)]
        tema = TEMAS[i % len(TEMAS)]
        turma = i // len(TEMAS)
        nome = f"{rng.choice(PREFIXOS[tipo])} {tema}" + (f" - Turma {turma + 1}" if turma else "")
        subdominio = sem_acento(tema).replace(" ", "-") + (f"-{turma + 1}" if turma else "")
        produtos.append(
            {
                "id": produto_id,
                "name": nome,
                "ucode": uuid_de(rng),
                "status": "ACTIVE",
                "created_at": agora_ms - (600 + rng.randint(0, 400)) * DIA_MS,
                "format": "COMMUNITY" if tipo == "sub" else "ONLINE_COURSE",
                "is_subscription": tipo == "sub",
                "warranty_period": rng.choice((7, 7, 30)),
            }
        )
        subdominios[produto_id] = subdominio
        tipos[produto_id] = tipo
        ofertas[produto_id] = _ofertas(rng, tipo, i, codigos, planos_ids)
    pesos = [1 / (i + 1) ** 0.6 for i in range(quantidade)]
    return Catalogo(produtor, produtos, ofertas, subdominios, tipos, pesos)


def _ofertas(
    rng: random.Random, tipo: str, indice: int, codigos: set[str], planos_ids: Any
) -> list[dict[str, Any]]:
    """Two or three offers of one product; the catalogue always spans R$ 47 .. R$ 4.997."""
    quantidade = rng.choice((2, 3))
    if tipo == "sub":
        mensal = rng.choice((47, 67, 97))
        escolhidos = [PLANOS[0], PLANOS[2]] if quantidade == 2 else list(PLANOS)
        itens = []
        for nome, periodo, fator, ciclos in escolhidos:
            preco = mensal if fator == 1 else round(mensal * fator / 10) * 10 - 3
            plano = {"id": next(planos_ids), "name": nome, "recurrency_period": periodo}
            if ciclos:
                plano["max_charge_cycles"] = ciclos
            itens.append((nome, preco, "SUBSCRIPTION", plano))
    else:
        precos = sorted(rng.sample(PRECOS[tipo], quantidade))
        if indice == 0:
            precos[0] = 47
        if indice == 3:
            precos[-1] = 4997
        nomes = ("Oferta Lançamento", "Oferta Principal", "Oferta VIP")[-quantidade:]
        modos = ["UNIQUE_PAYMENT"] * quantidade
        if tipo == "high":
            modos[-1] = "SMART_INSTALLMENT"
        itens = [(n, p, m, None) for n, p, m in zip(nomes, precos, modos, strict=True)]
    resultado = []
    for j, (nome, preco, modo, plano) in enumerate(itens):
        codigo = id_opaco(rng, 8, MINUSCULAS)
        while codigo in codigos:
            codigo = id_opaco(rng, 8, MINUSCULAS)
        codigos.add(codigo)
        oferta = {
            "code": codigo,
            "name": nome,
            "is_main_offer": j == 0 if tipo == "sub" else nome == "Oferta Principal",
            "price": {"value": float(preco), "currency_code": "BRL"},
            "payment_mode": modo,
        }
        if plano:
            oferta["plan"] = plano
        resultado.append(oferta)
    return resultado


def gerar_compradores(rng: random.Random, quantidade: int, seed: int) -> list[dict[str, Any]]:
    """Buyers with pt-BR names, unique e-mails and CPFs, WhatsApp mobiles and addresses."""
    fake = Faker("pt_BR")
    fake.seed_instance(seed)
    # Faker per row is slow at 200k buyers: draw pools once, then combine them with our rng.
    primeiros = [(n, sem_acento(n.split()[0])) for n in (fake.first_name() for _ in range(600))]
    sobrenomes = [(n, sem_acento(n.split()[-1])) for n in (fake.last_name() for _ in range(400))]
    enderecos = [
        (fake.street_name(), fake.bairro(), fake.city(), fake.estado_sigla(), fake.postcode(False))
        for _ in range(300)
    ]
    bases = [f"{b:09d}" for b in rng.sample(range(1, 10**9), quantidade + 20)]
    cpfs = [cpf_com_digitos(b) for b in bases if len(set(b)) > 1][:quantidade]
    emails: set[str] = set()
    celulares: set[str] = set()
    compradores = []
    r = rng.random
    for cpf in cpfs:
        primeiro, slug_primeiro = rng.choice(primeiros)
        sobrenome, slug_ultimo = rng.choice(sobrenomes)
        if r() < 0.55:
            outro, slug_ultimo = rng.choice(sobrenomes)
            sobrenome = f"{sobrenome} {outro}"
        composto = f" {rng.choice(primeiros)[0]}" if r() < 0.12 else ""
        ddd = rng.choice(DDDS)
        celular = f"9{rng.randint(60_000_000, 99_999_999)}"
        while ddd + celular in celulares:
            celular = f"9{rng.randint(60_000_000, 99_999_999)}"
        celulares.add(ddd + celular)
        rua, bairro, cidade, uf, cep = rng.choice(enderecos)
        nome = f"{primeiro}{composto} {sobrenome}"
        primeiro_nome, _, resto = nome.partition(" ")
        compradores.append(
            {
                "ucode": uuid_de(rng),
                "name": nome,
                "first_name": primeiro_nome,
                "last_name": resto,
                "email": _email(rng, slug_primeiro, slug_ultimo, emails),
                "cpf": cpf,
                "ddd": ddd,
                "celular": celular,
                "address": {
                    "address": rua,
                    "number": str(rng.randint(1, 3000)),
                    "complement": f"Apto {rng.randint(11, 904)}" if r() < 0.3 else "",
                    "neighborhood": bairro,
                    "city": cidade,
                    "state": uf,
                    "country": "Brasil",
                    "zip_code": cep,
                },
            }
        )
    return compradores


def _email(rng: random.Random, nome: str, ultimo: str, usados: set[str]) -> str:
    """A unique, plausible e-mail address from ASCII first and last name slugs."""
    sorteio = rng.random()
    if sorteio < 0.4:
        local = f"{nome}.{ultimo}"
    elif sorteio < 0.7:
        local = f"{nome}.{ultimo}{rng.randint(1, 99)}"
    elif sorteio < 0.9:
        local = f"{nome}{ultimo}{rng.randint(1970, 2006)}"
    else:
        local = f"{nome}_{ultimo[:1]}{rng.randint(100, 999)}"
    email = f"{local}@{rng.choice(DOMINIOS)}"
    while email in usados:
        email = f"{local}{rng.randint(1, 9999)}@{rng.choice(DOMINIOS)}"
    usados.add(email)
    return email
