"""Profile L (or small) built with COPY from generated rows: deterministic for a seed.

Distributions, all relative to the start of the run ("agora"):

- products: Zipf-like popularity, prices R$ 47–1,997 (three offers each), 7- or 30-day guarantee,
  one in five a monthly subscription, half of them with drip (module k released on day 7(k-1)).
- enrolments start over the last two years, more of them recently; 78 % of students ever opened
  the course; of those, about a third stall within the first lessons, few finish; a quarter of
  the unfinished are still active (a lesson in the last ten days). Completed lessons are rescaled
  to the exact profile count and never exceed what the drip has released.
- sales: one paying sale per enrolment (APPROVED inside the guarantee, mostly COMPLETE after it,
  5 % refunded, 1 % chargeback, some disputes), plus monthly renewals of subscriptions, pending
  boletos and PIX of the last five days (``WAITING_PAYMENT`` with a link or a PIX code), expired
  and refused ones over the two years.
- students: pt-BR names with accents, unique e-mails, 85 % with a valid CPF, 92 % with a WhatsApp
  number ``55DDD9XXXXXXXX``; 3 % revoked consent; 15 % tagged.
- templates as the template sync mirrors them (the Meta sandbox's APPROVED set plus products'
  own), 30 rules saved through ``services.regras.salvar``, queue items in every status (12 %
  pending), messages over two years with every delivery outcome and Meta's error codes.

Row ids are UUIDs drawn from the seeded generator (progress rows take the table default). Bulk
rows go in with ``COPY`` in text format while secondary indexes are dropped and foreign-key
triggers are off for the loading session; ``schema.sql`` is then applied again, which recreates
every index; what the schema's own triggers derive (the per-enrolment progress summary of
``resumir_progresso``, when the schema has it) is computed once, a trigger this loader does not
know is reported; then the tables are vacuumed and analysed.
"""

from __future__ import annotations

import bisect
import itertools
import json
import random
import time
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text

from bench.escalas import Escala

DIA = 86_400
HORA = 3_600

PRIMEIROS = (
    "Maria Ana Francisca Antônia Adriana Juliana Márcia Fernanda Patrícia Aline Sandra Camila "
    "Amanda Bruna Jéssica Letícia Júlia Luciana Vanessa Mariana Gabriela Conceição Beatriz "
    "Larissa Débora Cláudia Rafaela Tatiane Simone Érica José João Antônio Francisco Carlos "
    "Paulo Pedro Lucas Luiz Marcos Luís Gabriel Rafael Daniel Marcelo Bruno Eduardo Felipe "
    "Raimundo Rodrigo Thiago Sérgio Fábio André Leonardo Gustavo Vinícius Mateus Caio Otávio"
).split()
SOBRENOMES = (
    "Silva Santos Oliveira Souza Rodrigues Ferreira Alves Pereira Lima Gomes Costa Ribeiro "
    "Martins Carvalho Araújo Melo Barbosa Rocha Dias Nascimento Andrade Moreira Nunes Marques "
    "Machado Mendes Freitas Cardoso Ramos Gonçalves Santana Teixeira Conceição Azevedo Brandão "
    "Magalhães Guimarães Simões Falcão Peixoto Sá Leão Assunção Vieira Monteiro Moura Correia"
).split()
DOMINIOS = ("gmail.com",) * 6 + ("hotmail.com",) * 2 + ("yahoo.com.br", "outlook.com", "uol.com.br")
DDDS = (11, 11, 11, 21, 21, 31, 41, 51, 61, 71, 81, 85, 62, 27, 48, 19, 47, 91, 98, 84)
TEMAS = (
    "Marketing Digital",
    "Excel Avançado",
    "Inglês Fluente",
    "Confeitaria Lucrativa",
    "Fotografia com Celular",
    "Finanças Pessoais",
    "Tráfego Pago",
    "Maquiagem Profissional",
    "Violão do Zero",
    "Concursos Públicos",
    "Programação Python",
    "Design no Canva",
    "Corte e Costura",
    "Yoga em Casa",
    "Oratória",
    "Copywriting",
)
PRECOS = (47, 97, 147, 197, 297, 397, 497, 697, 997, 1497, 1997)
ORIGENS = (None,) * 5 + ("ig_bio", "yt_aula_gratis", "email_lancamento", "fb_ads_lal", "wpp_vip")
ERROS_META = ((131026, "Message undeliverable"), (131047, "Re-engagement message"))
ERROS_META += ((131049, "Meta chose not to deliver"), (131050, "User stopped marketing messages"))
TAGS = (
    ("vip", "#7C3AED"),
    ("churn_risk", "#DC2626"),
    ("aluno_engajado", "#059669"),
    ("lancamento_2025", "#2563EB"),
    ("indicou_amigo", "#D97706"),
    ("suporte_ativo", "#0891B2"),
    ("boleto_recorrente", "#9333EA"),
    ("mentoria", "#BE185D"),
    ("comunidade", "#4D7C0F"),
    ("pediu_reembolso", "#B91C1C"),
    ("depoimento", "#0F766E"),
    ("evento_presencial", "#A16207"),
)


def _slug(texto: str) -> str:
    sem = unicodedata.normalize("NFKD", texto).encode("ascii", "ignore").decode()
    return sem.lower().replace(" ", "")


def _cpf(base: int) -> str:
    """A valid CPF (11 digits) from a 9-digit base."""
    digitos = [int(c) for c in f"{base:09d}"]
    for peso_inicial in (10, 11):
        soma = sum(d * p for d, p in zip(digitos, range(peso_inicial, 1, -1), strict=False))
        resto = soma * 10 % 11
        digitos.append(0 if resto == 10 else resto)
    return "".join(map(str, digitos))


class Relogio:
    """Fast ``timestamptz`` text for epoch seconds (5 million of them have to be formatted)."""

    def __init__(self, agora: int) -> None:
        self.base = agora // DIA - 3 * 366
        inicio = datetime.fromtimestamp(self.base * DIA, UTC)
        self.dias = [(inicio + timedelta(days=d)).strftime("%Y-%m-%d ") for d in range(4 * 366)]
        self.horas = [
            f"{h:02d}:{m:02d}:{s:02d}+00" for h in range(24) for m in range(60) for s in range(60)
        ]

    def __call__(self, ts: float) -> str:
        dia, seg = divmod(int(ts), DIA)
        return self.dias[dia - self.base] + self.horas[seg]


NULO = "\\N"


def _n(valor) -> str:
    """COPY text NULL or the value."""
    return NULO if valor is None else str(valor)


@dataclass
class Produto:
    id: str
    indice: int
    nome: str
    hotmart_id: int
    subdominio: str
    monitorado: bool
    preco: int
    garantia_dias: int
    assinatura: bool
    gotejamento: bool
    ofertas: list[tuple[str, float]] = field(default_factory=list)  # (id, price)
    modulos: list[str] = field(default_factory=list)
    aulas: list[str] = field(default_factory=list)  # course order
    aulas_nomes: list[str] = field(default_factory=list)
    liberacao: list[int] = field(default_factory=list)  # release day of each lesson


class Gerador:
    """Generates and COPYs the profile; keeps what later sections need (ids, samples)."""

    def __init__(self, engine: Engine, escala: Escala, seed: int = 42) -> None:
        self.engine, self.escala = engine, escala
        self.rng = random.Random(seed)
        self.agora = int(time.time())
        self.ts = Relogio(self.agora)
        self.contagens: dict[str, int] = {}
        self.tempos: dict[str, float] = {}

    # ---- helpers ---------------------------------------------------------------------------
    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _dias_atras(self, maximo: float = 730, vies: float = 1.3) -> float:
        """Days before now, skewed towards recent (vies > 1)."""
        return maximo * self.rng.random() ** vies

    def _copiar(self, pg, tabela: str, colunas: str, linhas) -> int:
        n = 0
        bloco: list[str] = []
        with pg.cursor() as cur, cur.copy(f"COPY {tabela} ({colunas}) FROM STDIN") as copia:
            for linha in linhas:
                bloco.append(linha)
                n += 1
                if len(bloco) >= 20_000:
                    copia.write("".join(bloco))
                    bloco.clear()
            if bloco:
                copia.write("".join(bloco))
        self.contagens[tabela] = self.contagens.get(tabela, 0) + n
        return n

    # ---- the whole profile -----------------------------------------------------------------
    def construir(self, progresso=print) -> dict:
        """Generate every table; return counts and timings."""
        from db.schema import aplicar_schema

        inicio = time.perf_counter()
        bruta = self.engine.raw_connection()
        try:
            pg = bruta.driver_connection
            pg.autocommit = False
            with pg.cursor() as cur:
                cur.execute(
                    "SET session_replication_role = replica"
                )  # no FK triggers while loading
                cur.execute("SET synchronous_commit = off")
                cur.execute("SET maintenance_work_mem = '256MB'")
                removidos = self._remover_indices(cur)
            pg.commit()
            etapas = (
                ("catálogo", self._catalogo),
                ("matrículas (plano)", self._planejar_matriculas),
                ("transações", self._transacoes),
                ("alunos", self._alunos),
                ("matrículas", self._matriculas),
                ("progresso das aulas", self._progresso),
                ("templates, tags, consentimento, carrinhos", self._apoio),
            )
            for nome, etapa in etapas:
                t = time.perf_counter()
                etapa(pg)
                pg.commit()
                self.tempos[nome] = round(time.perf_counter() - t, 2)
                progresso(f"  perfil: {nome} ({self.tempos[nome]} s)")
        finally:
            bruta.close()
        t = time.perf_counter()
        self._regras()
        self.tempos["regras"] = round(time.perf_counter() - t, 2)
        bruta = self.engine.raw_connection()
        try:
            pg = bruta.driver_connection
            with pg.cursor() as cur:
                cur.execute("SET session_replication_role = replica")
                cur.execute("SET synchronous_commit = off")
            for nome, etapa in (("fila de disparo", self._filas), ("logs de disparo", self._logs)):
                t = time.perf_counter()
                etapa(pg)
                pg.commit()
                self.tempos[nome] = round(time.perf_counter() - t, 2)
                progresso(f"  perfil: {nome} ({self.tempos[nome]} s)")
        finally:
            bruta.close()
        t = time.perf_counter()
        aplicar_schema(self.engine)  # recreates the dropped indexes exactly as schema.sql says
        self.tempos["índices (schema.sql)"] = round(time.perf_counter() - t, 2)
        progresso(
            f"  perfil: {removidos} índices recriados ({self.tempos['índices (schema.sql)']} s)"
        )
        t = time.perf_counter()
        self._finalizar()
        self.tempos["derivados, LTV, sequências, VACUUM ANALYZE"] = round(
            time.perf_counter() - t, 2
        )
        progresso(
            "  perfil: resumo de progresso, LTV, VACUUM ANALYZE "
            f"({self.tempos['derivados, LTV, sequências, VACUUM ANALYZE']} s)"
        )
        if self.gatilhos_desconhecidos:
            progresso(
                "  perfil: ATENÇÃO — gatilhos que não dispararam na carga (dados derivados "
                f"ausentes): {', '.join(self.gatilhos_desconhecidos)}"
            )
        total = round(time.perf_counter() - inicio, 1)
        return {
            "contagens": self.contar(),
            "tempos_s": self.tempos,
            "total_s": total,
            "gatilhos_nao_disparados": self.gatilhos_desconhecidos,
        }

    def _remover_indices(self, cur) -> int:
        """Drop the secondary indexes of the bulk tables (not those backing constraints)."""
        cur.execute(
            """
            SELECT i.indexrelid::regclass::text
              FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
             WHERE t.relname = ANY(%s) AND t.relnamespace = 'public'::regnamespace
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
            """,
            (
                [
                    "alunos",
                    "transacoes",
                    "matriculas",
                    "progresso_aulas",
                    "filas_disparo",
                    "logs_disparo",
                    "consentimentos",
                    "alunos_tags",
                ],
            ),
        )
        nomes = [r[0] for r in cur.fetchall()]
        for nome in nomes:
            cur.execute(f"DROP INDEX {nome}")
        return len(nomes)

    def contar(self) -> dict[str, int]:
        tabelas = (
            "alunos matriculas transacoes produtos ofertas modulos aulas progresso_aulas "
            "regras_automacao filas_disparo logs_disparo templates tags alunos_tags "
            "consentimentos carrinhos_abandonados"
        ).split()
        sql = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in tabelas)
        with self.engine.connect() as conn:
            return {t: n for t, n in conn.execute(text(sql)).all()}

    # ---- catalogue -------------------------------------------------------------------------
    def _catalogo(self, pg) -> None:
        e, rng = self.escala, self.rng
        self.produtos: list[Produto] = []
        mods_por_produto = max(1, e.modulos // e.produtos)
        aulas_por_modulo = max(1, e.aulas // (mods_por_produto * e.produtos))
        for i in range(e.produtos):
            # One in five is a monthly subscription (the last one too in a small catalogue).
            assinatura = i % 5 == 4 or (e.produtos < 5 and i == e.produtos - 1)
            tema = TEMAS[i % len(TEMAS)]
            sufixo = "" if i < len(TEMAS) else f" {i // len(TEMAS) + 1}.0"
            nome = ("Clube " if assinatura else "Curso ") + tema + sufixo
            self.produtos.append(
                Produto(
                    id=self._uuid(),
                    indice=i,
                    nome=nome,
                    hotmart_id=3_500_000 + i * 7919,
                    subdominio=f"{_slug(tema)}{i}",
                    monitorado=i % 10 != 9,
                    preco=rng.choice((29, 49, 79, 99)) if assinatura else rng.choice(PRECOS),
                    garantia_dias=rng.choice((7, 7, 30)),
                    assinatura=assinatura,
                    gotejamento=i % 2 == 0,
                )
            )
        # Popularity: Zipf-like, so a few products hold most students.
        pesos = [1 / (i + 1) ** 0.8 for i in range(e.produtos)]
        self.pesos_acumulados = list(itertools.accumulate(pesos))
        ofertas, modulos, aulas = [], [], []
        for p in self.produtos:
            for rotulo, fator in (
                ("Oferta padrão", 1.0),
                ("Lançamento", 0.7),
                ("Parcelado 12x", 1.2),
            ):
                if len(ofertas) >= e.ofertas:
                    break
                oid = self._uuid()
                preco = round(p.preco * fator, 2)
                codigo = "".join(rng.choices("abcdefghijkmnpqrstuvwxyz23456789", k=8))
                p.ofertas.append((oid, preco))
                ofertas.append(f"{oid}\t{p.id}\t{codigo}\t{rotulo}\t{preco:.2f}\tBRL\n")
            for m in range(mods_por_produto):
                mid = self._uuid()
                p.modulos.append(mid)
                codigo = "".join(rng.choices("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", k=10))
                modulos.append(f"{mid}\t{p.id}\t{codigo}\tMódulo {m + 1}\t{m + 1}\n")
                for a in range(aulas_por_modulo):
                    aid = self._uuid()
                    libera = 7 * m if p.gotejamento else 0
                    nome_aula = f"Aula {m + 1}.{a + 1}"
                    p.aulas.append(aid)
                    p.aulas_nomes.append(nome_aula)
                    p.liberacao.append(libera)
                    hash_ = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=10))
                    aulas.append(f"{aid}\t{mid}\t{hash_}\t{nome_aula}\t{a + 1}\t{libera}\n")
        self._copiar(
            pg,
            "produtos",
            "id, nome, hotmart_product_id, hotmart_subdomain, capa_url, ativo_monitoramento",
            (
                f"{p.id}\t{p.nome}\t{p.hotmart_id}\t{p.subdominio}\t\\N\t{str(p.monitorado).lower()}\n"
                for p in self.produtos
            ),
        )
        self._copiar(
            pg, "ofertas", "id, produto_id, hotmart_offer_code, nome, preco, moeda", ofertas
        )
        self._copiar(pg, "modulos", "id, produto_id, hotmart_module_id, nome, ordem", modulos)
        self._copiar(
            pg, "aulas", "id, modulo_id, hotmart_page_hash, nome, ordem, dias_liberacao", aulas
        )

    def _produto_sorteado(self) -> Produto:
        x = self.rng.random() * self.pesos_acumulados[-1]
        return self.produtos[bisect.bisect_left(self.pesos_acumulados, x)]

    # ---- enrolments, sales, students -------------------------------------------------------
    def _planejar_matriculas(self, _pg) -> None:
        e, rng = self.escala, self.rng
        A, M = e.alunos, max(e.matriculas, e.alunos)
        self.m_aluno: list[int] = []
        self.m_prod: list[Produto] = []
        self.m_inicio: list[int] = []
        possui: dict[int, set[int]] = {}
        for j in range(M):
            if j < A:
                aluno = j
            else:
                aluno = rng.randrange(A)
                while len(possui[aluno]) >= min(4, e.produtos):
                    aluno = rng.randrange(A)
            prod = self._produto_sorteado()
            while prod.indice in possui.get(aluno, ()):
                prod = self._produto_sorteado()
            possui.setdefault(aluno, set()).add(prod.indice)
            self.m_aluno.append(aluno)
            self.m_prod.append(prod)
            self.m_inicio.append(self.agora - int(self._dias_atras() * DIA) - rng.randrange(HORA))
        ordem = sorted(range(M), key=self.m_inicio.__getitem__)  # inserted as they happened
        self.m_aluno = [self.m_aluno[j] for j in ordem]
        self.m_prod = [self.m_prod[j] for j in ordem]
        self.m_inicio = [self.m_inicio[j] for j in ordem]
        self.m_id = [self._uuid() for _ in range(M)]
        self.possui = possui
        self.aluno_id = [self._uuid() for _ in range(A)]

    def _status_pago(self, compra: int, garantia_dias: int) -> str:
        r = self.rng.random()
        if r < 0.05:
            return "REFUNDED"
        if r < 0.06:
            return "CHARGEBACK"
        if r < 0.063:
            return "PROTESTED"
        if r < 0.068:
            return "PARTIALLY_REFUNDED"
        if compra + garantia_dias * DIA > self.agora:
            return "APPROVED"
        return "COMPLETE" if r < 0.75 else "APPROVED"

    def _transacoes(self, pg) -> None:
        e, rng, ts = self.escala, self.rng, self.ts
        M = len(self.m_id)
        extras = max(0, e.transacoes - M)
        linhas: list[tuple] = []  # (data_compra, line)
        self.m_origem: list[str] = []
        self.m_status_origem: list[str] = []
        self.m_assinatura: list[tuple | None] = []  # (code, status, renovacao, cancelamento)
        self.pendentes: list[tuple[str, int]] = []  # WAITING_PAYMENT (id, aluno)
        contador = itertools.count(1)

        def hp() -> str:
            return f"HP{(next(contador) * 7_919_333 + 1_234_567) % 10**14:014d}"

        def linha(tid, aluno, prod, oferta, status, valor, compra, aprov, extra) -> str:
            garantia = compra + prod.garantia_dias * DIA
            boleto, pix, tipo, hotmart, rec, sub = extra
            return (
                f"{tid}\t{self.aluno_id[aluno]}\t{prod.id}\t{oferta}\t{status}\t{valor:.2f}\t"
                f"{ts(compra)}\t{ts(garantia)}\t{_n(boleto)}\t{_n(pix)}\t"
                f"{_n(rng.choice(ORIGENS))}\t{hotmart}\t{tipo}\t{ts(aprov) if aprov else NULO}"
                f"\t{_n(rec)}\t{_n(sub)}\n"
            )

        renovacoes_possiveis = []
        for j in range(M):
            prod, aluno, inicio = self.m_prod[j], self.m_aluno[j], self.m_inicio[j]
            oferta, preco = rng.choice(prod.ofertas)
            tipo = rng.choices(("CREDIT_CARD", "BILLET", "PIX"), (70, 15, 15))[0]
            compra = inicio - (
                rng.randrange(2 * DIA) if tipo != "CREDIT_CARD" else rng.randrange(60)
            )
            status = self._status_pago(compra, prod.garantia_dias)
            tid = hp()
            assinatura = None
            sub = None
            if prod.assinatura:
                sub = "SUB" + "".join(rng.choices("ABCDEFGHJKLMNPQRSTUVWXYZ23456789", k=9))
                st = rng.choices(
                    ("ACTIVE", "CANCELLED_BY_CUSTOMER", "DELAYED", "INACTIVE"), (70, 15, 5, 10)
                )[0]
                meses = max(0, (self.agora - inicio) // (30 * DIA))
                renovacao = inicio + (meses + 1) * 30 * DIA
                cancel = None
                if st == "CANCELLED_BY_CUSTOMER":
                    cancel = inicio + rng.randrange(max(1, self.agora - inicio))
                    renovacao = inicio + ((cancel - inicio) // (30 * DIA) + 1) * 30 * DIA
                elif st == "INACTIVE":
                    renovacao = inicio + max(1, meses // 2) * 30 * DIA
                assinatura = (sub, st, renovacao, cancel)
                if st in ("ACTIVE", "DELAYED") and meses >= 1:
                    renovacoes_possiveis.append((j, min(meses, 24), oferta, preco, sub))
            self.m_assinatura.append(assinatura)
            self.m_origem.append(tid)
            self.m_status_origem.append(status)
            hotmart = status
            linhas.append(
                (
                    compra,
                    linha(
                        tid, aluno, prod, oferta, status, preco, compra, inicio,
                        (None, None, tipo, hotmart, 1 if prod.assinatura else None, sub),
                    ),
                )
            )  # fmt: skip
        # Renewals of active subscriptions, whole subscriptions at a time, newest first.
        orcamento = int(extras * 0.40)
        rng.shuffle(renovacoes_possiveis)
        for j, meses, oferta, preco, sub in renovacoes_possiveis:
            if orcamento <= 0:
                break
            for k in range(1, min(meses, orcamento) + 1):
                quando = self.m_inicio[j] + k * 30 * DIA
                status = "APPROVED" if quando + 7 * DIA > self.agora else "COMPLETE"
                linhas.append(
                    (
                        quando,
                        linha(
                            hp(), self.m_aluno[j], self.m_prod[j], oferta, status, preco, quando,
                            quando, (None, None, "CREDIT_CARD", status, k + 1, sub),
                        ),
                    )
                )  # fmt: skip
                orcamento -= 1
        restantes = e.transacoes - len(linhas)
        n_pend = int(restantes * 0.24)
        n_exp = int(restantes * 0.46)
        for k in range(max(0, restantes)):
            aluno = rng.randrange(e.alunos)
            prod = self._produto_sorteado()
            oferta, preco = rng.choice(prod.ofertas)
            tid = hp()
            if k < n_pend:  # issued in the last five days, still unpaid
                compra = self.agora - rng.randrange(5 * DIA)
                status = "WAITING_PAYMENT"
            else:
                compra = self.agora - int(self._dias_atras() * DIA)
                status = "EXPIRED" if k < n_pend + n_exp else "CANCELLED"
            if status == "CANCELLED":
                extra = (None, None, "CREDIT_CARD", "CANCELLED", None, None)
            elif rng.random() < 0.5:
                boleto = f"https://pay.hotmart.com/boleto/{tid}?codigo={rng.randrange(10**9)}"
                extra = (boleto, None, "BILLET", "BILLET_PRINTED", None, None)
            else:
                pix = f"00020126580014BR.GOV.BCB.PIX0136{uuid.UUID(int=rng.getrandbits(128))}"
                extra = (None, pix, "PIX", "WAITING_PAYMENT", None, None)
            if status == "WAITING_PAYMENT":
                self.pendentes.append((tid, aluno))
            linhas.append(
                (compra, linha(tid, aluno, prod, oferta, status, preco, compra, None, extra))
            )
        linhas.sort(key=lambda x: x[0])
        self._copiar(
            pg,
            "transacoes",
            "id, aluno_id, produto_id, oferta_id, status, valor_pago, data_compra, "
            "data_garantia_fim, link_boleto, codigo_pix, origem_src, status_hotmart, "
            "tipo_pagamento, data_aprovacao, recorrencia, hotmart_subscriber_code",
            (x[1] for x in linhas),
        )

    def _alunos(self, pg) -> None:
        e, rng, ts = self.escala, self.rng, self.ts
        primeiro = [self.agora] * e.alunos
        for j, aluno in enumerate(self.m_aluno):
            primeiro[aluno] = min(primeiro[aluno], self.m_inicio[j])
        self.aluno_nome: list[str] = []
        self.aluno_celular: list[str | None] = []
        self.aluno_email: list[str] = []
        self.aluno_cpf: list[str | None] = []

        def linhas():
            for i in range(e.alunos):
                nome1 = rng.choice(PRIMEIROS)
                sobre = rng.sample(SOBRENOMES, k=rng.choice((1, 2, 2)))
                nome = " ".join((nome1, *sobre))
                email = f"{_slug(nome1)}.{_slug(sobre[-1])}{i}@{rng.choice(DOMINIOS)}"
                cpf = _cpf((i * 7919 + 104_729) % 10**9) if rng.random() < 0.85 else None
                celular = None
                if rng.random() < 0.92:
                    celular = f"55{rng.choice(DDDS)}9{(i * 104_729 + 3571) % 10**8:08d}"
                self.aluno_nome.append(nome)
                self.aluno_celular.append(celular)
                self.aluno_email.append(email)
                self.aluno_cpf.append(cpf)
                criado = primeiro[i] - rng.randrange(600)
                yield (
                    f"{self.aluno_id[i]}\t{nome}\t{email}\t{_n(celular)}\t{_n(cpf)}\t{ts(criado)}\n"
                )

        self._copiar(pg, "alunos", "id, nome, email, celular, cpf, criado_em", linhas())

    def _matriculas(self, pg) -> None:
        rng = self.rng
        M = len(self.m_id)
        self.m_primeiro_acesso: list[int | None] = []
        self.m_status: list[str] = []
        for j in range(M):
            inicio = self.m_inicio[j]
            acesso = None
            if rng.random() < 0.78:
                acesso = min(self.agora - 60, inicio + int(rng.expovariate(1 / (1.5 * DIA))))
            status_origem = self.m_status_origem[j]
            assinatura = self.m_assinatura[j]
            status = "ATIVO"
            if status_origem in ("REFUNDED", "CHARGEBACK", "PROTESTED"):
                status = "BLOQUEADO"
            elif assinatura and assinatura[1] == "DELAYED":
                status = "BLOQUEADO"
            elif assinatura and assinatura[1] == "INACTIVE":
                status = "EXPIRADO"
            elif assinatura and assinatura[1].startswith("CANCEL") and assinatura[2] <= self.agora:
                status = "EXPIRADO"
            self.m_primeiro_acesso.append(acesso)
            self.m_status.append(status)
        # The last lesson date is known only after the progress is generated; written there.

    def _progresso(self, pg) -> None:
        e, rng, ts = self.escala, self.rng, self.ts
        M = len(self.m_id)
        tetos, quantos = [], []
        for j in range(M):
            prod, acesso = self.m_prod[j], self.m_primeiro_acesso[j]
            if acesso is None:
                tetos.append(0)
                quantos.append(0)
                continue
            idade = (self.agora - self.m_inicio[j]) / DIA
            teto = (
                bisect.bisect_right(prod.liberacao, idade) if prod.gotejamento else len(prod.aulas)
            )
            total = len(prod.aulas)
            r = rng.random()
            if r < 0.35:
                n = 1 + int(rng.expovariate(1 / 2.5))  # stall within the first lessons
            elif r < 0.65:
                n = rng.randint(max(1, total // 20), max(1, total // 4))
            elif r < 0.85:
                n = rng.randint(max(1, total // 4), max(1, int(total * 0.7)))
            elif r < 0.95:
                n = rng.randint(max(1, int(total * 0.7)), max(1, total - 1))
            else:
                n = total
            tetos.append(teto)
            quantos.append(min(n, teto))
        # Rescale to the exact profile count, never beyond what the drip has released.
        alvo = e.progresso_aulas
        soma = sum(quantos)
        if soma:
            fator = alvo / soma
            quantos = [
                min(t, max(1, round(q * fator))) if q else 0
                for q, t in zip(quantos, tetos, strict=True)
            ]
        diferenca = alvo - sum(quantos)
        indices = [j for j in range(M) if tetos[j] > 0]
        while diferenca and indices:
            rng.shuffle(indices)
            mudou = False
            for j in indices:
                if diferenca > 0 and quantos[j] < tetos[j]:
                    quantos[j] += 1
                    diferenca -= 1
                    mudou = True
                elif diferenca < 0 and quantos[j] > 1:
                    quantos[j] -= 1
                    diferenca += 1
                    mudou = True
                if not diferenca:
                    break
            if not mudou:
                break
        self.m_quantas = quantos
        self.m_ultima: list[int | None] = [None] * M
        self.m_ultima_aula: list[str | None] = [None] * M

        def linhas():
            for j in range(M):
                n = quantos[j]
                if not n:
                    continue
                prod, acesso, mid = self.m_prod[j], self.m_primeiro_acesso[j], self.m_id[j]
                lacunas = [rng.expovariate(1 / (2.0 * DIA)) for _ in range(n)]
                lacunas[0] = rng.randrange(3 * HORA)
                disponivel = self.agora - 300 - acesso
                ativo = n < len(prod.aulas) and rng.random() < 0.25
                soma_l = sum(lacunas)
                if ativo:  # still studying: the last lesson in the last ten days
                    alvo_fim = self.agora - rng.randrange(10 * DIA) - acesso
                    if alvo_fim > 0:
                        fator = alvo_fim / soma_l if soma_l else 1
                        lacunas = [x * fator for x in lacunas]
                elif soma_l > disponivel:
                    fator = disponivel / soma_l
                    lacunas = [x * fator for x in lacunas]
                t = float(acesso)
                partes = []
                for k in range(n):
                    t += lacunas[k]
                    partes.append(f"{mid}\t{prod.aulas[k]}\t{ts(min(t, self.agora - 60))}\n")
                self.m_ultima[j] = int(min(t, self.agora - 60))
                self.m_ultima_aula[j] = prod.aulas_nomes[n - 1]
                yield "".join(partes)

        # The primary key and the (matricula_id, aula_id) key are built after the load, in one
        # sorted pass, instead of 5 million random inserts into two B-trees.
        with pg.cursor() as cur:
            cur.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = 'progresso_aulas'::regclass AND contype IN ('p', 'u')"
            )
            restricoes = cur.fetchall()
            for nome, _ in restricoes:
                cur.execute(f"ALTER TABLE progresso_aulas DROP CONSTRAINT {nome}")
        # progresso_aulas.id keeps its default (gen_random_uuid()): nothing refers to it.
        n = self._copiar_blocos(
            pg, "progresso_aulas", "matricula_id, aula_id, data_conclusao", linhas()
        )
        self.contagens["progresso_aulas"] = n
        with pg.cursor() as cur:
            for nome, definicao in restricoes:
                cur.execute(f"ALTER TABLE progresso_aulas ADD CONSTRAINT {nome} {definicao}")

        # Now the enrolments themselves (last access = last lesson).
        def linhas_m():
            for j in range(M):
                prod = self.m_prod[j]
                acesso = self.m_primeiro_acesso[j]
                ultimo = self.m_ultima[j] or acesso
                assinatura = self.m_assinatura[j]
                sub = st = renov = cancel = None
                if assinatura:
                    sub, st, renov, cancel = assinatura
                origem = None
                if acesso is not None:
                    origem = "zap_terceiriza" if rng.random() < 0.12 else "email_hotmart"
                clube = f"{rng.getrandbits(40):010x}" if acesso is not None else None
                yield (
                    f"{self.m_id[j]}\t{self.aluno_id[self.m_aluno[j]]}\t{prod.id}\t"
                    f"{self.m_origem[j]}\t{self.m_status[j]}\t{ts(self.m_inicio[j])}\t"
                    f"{ts(renov) if renov else NULO}\t{_n(origem)}\t{_n(clube)}\t"
                    f"{ts(acesso) if acesso else NULO}\t"
                    f"{ts(ultimo) if ultimo else NULO}\t{_n(sub)}\t{_n(st)}\t"
                    f"{ts(cancel) if cancel else NULO}\n"
                )

        self._copiar(
            pg,
            "matriculas",
            "id, aluno_id, produto_id, transacao_origem_id, status_acesso, data_inicio, "
            "data_renovacao, origem_primeiro_acesso, hotmart_club_user_id, data_primeiro_acesso, "
            "data_ultimo_acesso, hotmart_subscriber_code, status_assinatura, data_cancelamento",
            linhas_m(),
        )

    def _copiar_blocos(self, pg, tabela: str, colunas: str, blocos) -> int:
        """COPY where each item is a block of lines; returns the number of lines."""
        n = 0
        buffer: list[str] = []
        tamanho = 0
        with pg.cursor() as cur, cur.copy(f"COPY {tabela} ({colunas}) FROM STDIN") as copia:
            for bloco in blocos:
                buffer.append(bloco)
                tamanho += len(bloco)
                n += bloco.count("\n")
                if tamanho > 1_000_000:
                    copia.write("".join(buffer))
                    buffer.clear()
                    tamanho = 0
            if buffer:
                copia.write("".join(buffer))
        return n

    # ---- templates, tags, consent, carts ---------------------------------------------------
    def _apoio(self, pg) -> None:
        from services.sandbox.meta_templates import TEMPLATES_DEMO
        from services.whatsapp import linha_template

        e, rng, ts = self.escala, self.rng, self.ts
        modelos = [dict(m) for m in TEMPLATES_DEMO] + templates_de_produto(self.produtos)
        self.templates: dict[str, dict] = {}
        with pg.cursor() as cur:
            for m in modelos:
                linha = linha_template(m)
                produto = m.get("_produto_id")
                cur.execute(
                    "INSERT INTO templates (nome_meta, idioma, conteudo_texto, status_meta, "
                    "categoria, meta_template_id, formato_parametros, qtd_parametros, "
                    "parametros_nomes, componentes, sincronizado_em, produto_id) "
                    "VALUES (%(nome_meta)s, %(idioma)s, %(conteudo_texto)s, %(status_meta)s, "
                    "%(categoria)s, %(meta_template_id)s, %(formato_parametros)s, "
                    "%(qtd_parametros)s, %(parametros_nomes)s::jsonb, %(componentes)s::jsonb, "
                    "now(), %(produto)s) RETURNING id",
                    {**linha, "produto": produto},
                )
                self.templates[linha["nome_meta"]] = {
                    "id": cur.fetchone()[0],
                    "status": linha["status_meta"],
                    "qtd": linha["qtd_parametros"],
                    "corpo": linha["conteudo_texto"],
                    "produto": produto,
                }
            self.contagens["templates"] = len(modelos)
            tags = TAGS[: e.tags]
            for nome, cor in tags:
                cur.execute("INSERT INTO tags (nome, cor_hex) VALUES (%s, %s)", (nome, cor))
        pares = set()
        for _ in range(int(e.alunos * 0.15)):
            aluno = rng.randrange(e.alunos)
            for _k in range(rng.choice((1, 1, 2))):
                pares.add((aluno, rng.randrange(1, len(tags) + 1)))
        self._copiar(
            pg,
            "alunos_tags",
            "aluno_id, tag_id",
            (f"{self.aluno_id[a]}\t{t}\n" for a, t in sorted(pares)),
        )
        consent = []
        for aluno in rng.sample(range(e.alunos), k=int(e.alunos * 0.04)):
            quando = self.agora - int(self._dias_atras(365) * DIA)
            consent.append(
                f"{self.aluno_id[aluno]}\twhatsapp\tfalse\toptout_whatsapp\t"
                f"Resposta no WhatsApp: SAIR\t{ts(quando)}\n"
            )
            if rng.random() < 0.25:  # came back: granted again later
                consent.append(
                    f"{self.aluno_id[aluno]}\twhatsapp\ttrue\tadmin\tPediu para voltar\t"
                    f"{ts(min(self.agora - 60, quando + rng.randrange(30 * DIA)))}\n"
                )
        self._copiar(
            pg,
            "consentimentos",
            "aluno_id, finalidade, concedido, origem, detalhes, registrado_em",
            consent,
        )
        carrinhos = []
        for k in range(e.carrinhos):
            aluno = rng.randrange(e.alunos)
            prod = self._produto_sorteado()
            quando = self.agora - rng.randrange(72 * HORA)
            carrinhos.append(
                f"bench-carrinho-{k}\t{prod.id}\t{self.aluno_id[aluno]}\t{self.aluno_nome[aluno]}\t"
                f"{self.aluno_email[aluno]}\t{_n(self.aluno_celular[aluno])}\t\\N\t{ts(quando)}\n"
            )
        self._copiar(
            pg,
            "carrinhos_abandonados",
            "evento_id, produto_id, aluno_id, nome, email, celular, hotmart_offer_code, criado_em",
            carrinhos,
        )

    # ---- rules (through the service, validated) --------------------------------------------
    def _regras(self) -> None:
        from db.uow import UnidadeDeTrabalho
        from services import regras

        self.regras: list[tuple[int, str, int]] = []  # (id, trigger, template id)
        variantes = condicoes_regras(self)
        with UnidadeDeTrabalho() as uow:
            for k, (gatilho, condicao) in enumerate(variantes[: self.escala.regras]):
                nome_tpl, mapa = template_da_regra(gatilho)
                tpl = self.templates[nome_tpl]
                rid = regras.salvar(
                    uow.session,
                    nome=f"{gatilho.replace('_', ' ').capitalize()} #{k // 10 + 1}",
                    gatilho=gatilho,
                    condicao=condicao,
                    template_id=tpl["id"],
                    mapeamento=mapa,
                    modo="AUTOMATICO" if k in (3, 14, 25) else "SUGERIR",
                    ativo=k % 8 != 7,
                    usuario="bench",
                )
                self.regras.append((rid, gatilho, tpl["id"]))
            uow.commit()

    # ---- queue and messages ----------------------------------------------------------------
    def _texto(self, tpl: dict, valores: list[str]) -> str:
        texto = tpl["corpo"]
        for k, v in enumerate(valores, 1):
            texto = texto.replace("{{" + str(k) + "}}", v)
        return texto.replace("\t", " ").replace("\n", " ")

    def _valores(self, tpl: dict, aluno: int, prod: Produto) -> list[str]:
        base = [self.aluno_nome[aluno].split()[0], prod.nome, "R$ 197,00", "3"]
        return (base + ["https://pay.hotmart.com/b/1"] * 4)[: tpl["qtd"]]

    def _filas(self, pg) -> None:
        e, rng, ts = self.escala, self.rng, self.ts
        M = len(self.m_id)
        estados = ("enviado", "pendente", "rejeitado", "cancelado", "erro", "verificar")
        pesos = (55, 12, 10, 15.8, 7, 0.2)
        self.fila_enviados: list[tuple[int, int, int, int, int]] = []  # id, aluno, tpl, prod, ts
        regras = self.regras
        linhas = []
        for i in range(1, e.filas_disparo + 1):
            j = rng.randrange(M)
            aluno, prod = self.m_aluno[j], self.m_prod[j]
            rid, gatilho, tid = regras[rng.randrange(len(regras))]
            tpl = next(t for t in self.templates.values() if t["id"] == tid)
            status = rng.choices(estados, pesos)[0]
            if status == "pendente":
                criado = self.agora - rng.randrange(7 * DIA)
            else:
                criado = self.agora - int(self._dias_atras(700) * DIA) - DIA
            valores = self._valores(tpl, aluno, prod)
            texto = self._texto(tpl, valores)
            decidido_por = decidido_em = enviado = motivo = erro_c = erro_m = cancel = None
            if status != "pendente":
                decidido_por = rng.choice(("ana.cs", "bruno.cs", "carla.gestor", "sistema"))
                decidido_em = criado + rng.randrange(1, 8 * HORA)
            if status == "enviado":
                enviado = decidido_em + rng.randrange(1, 600)
                self.fila_enviados.append((i, aluno, tid, prod.indice, enviado))
            elif status == "rejeitado":
                motivo = rng.choice(
                    ("Aluno já respondeu no suporte", "Texto inadequado", "Duplicado")
                )
            elif status == "erro":
                erro_c, erro_m = rng.choice(ERROS_META)
            elif status == "cancelado":
                cancel = rng.choice(("o boleto foi pago ou expirou", "o aluno já acessou o curso"))
            ocasiao = f"perfil:{i}"
            linhas.append(
                f"{i}\t{rid}\t{self.aluno_id[aluno]}\t{tid}\t{status}\t{ts(criado)}\t{_n(motivo)}\t"
                f"{rid}:{self.aluno_id[aluno]}:{ocasiao}\t{prod.id}\t{ocasiao}\t{{}}\t"
                f"{json.dumps(valores, ensure_ascii=False)}\t{texto}\t{_n(decidido_por)}\t"
                f"{ts(decidido_em) if decidido_em else NULO}\t"
                f"{1 if status in ('enviado', 'erro', 'verificar') else 0}\t"
                f"{ts(enviado) if enviado else NULO}\t{_n(erro_c)}\t{_n(erro_m)}\t{_n(cancel)}\n"
            )
        self._copiar(
            pg,
            "filas_disparo",
            "id, regra_id, aluno_id, template_id, status, data_criacao, motivo_rejeicao, "
            "chave_dedupe, produto_id, ocasiao, contexto, variaveis, texto_renderizado, "
            "decidido_por, decidido_em, tentativas, enviado_em, erro_codigo, erro_mensagem, "
            "motivo_cancelamento",
            linhas,
        )

    def _logs(self, pg) -> None:
        e, rng, ts = self.escala, self.rng, self.ts
        M = len(self.m_id)
        genericos = [
            t for t in self.templates.values() if t["status"] == "APPROVED" and not t["produto"]
        ]
        por_produto: dict[str, list[dict]] = {}
        for t in self.templates.values():
            if t["produto"] and t["status"] == "APPROVED":
                por_produto.setdefault(t["produto"], []).append(t)
        por_id = {t["id"]: t for t in self.templates.values()}
        enviados = list(self.fila_enviados)
        linhas = []
        for i in range(1, e.logs_disparo + 1):
            if enviados:
                fila_id, aluno, tid, prod_i, quando = enviados.pop()
                prod, tpl = self.produtos[prod_i], por_id[tid]
            else:
                fila_id = None
                j = rng.randrange(M)
                aluno, prod = self.m_aluno[j], self.m_prod[j]
                opcoes = por_produto.get(prod.id, []) + genericos
                tpl = rng.choice(opcoes)
                quando = self.agora - int(self._dias_atras(730, 1.5) * DIA) - rng.randrange(HORA)
            celular = self.aluno_celular[aluno] or f"55119{rng.randrange(10**8):08d}"
            valores = self._valores(tpl, aluno, prod)
            recente = self.agora - quando < 2 * DIA
            if recente:
                status = rng.choices(
                    ("read", "delivered", "sent", "accepted", "failed"), (30, 25, 25, 15, 5)
                )[0]
            else:
                status = rng.choices(
                    ("read", "delivered", "sent", "accepted", "failed"), (50, 25, 8, 5, 12)
                )[0]
            enviado = entregue = lido = falhou = erro_c = erro_t = None
            if status != "accepted":
                enviado = quando + rng.randrange(1, 5)
            if status in ("delivered", "read"):
                entregue = min(self.agora - 1, enviado + rng.randrange(1, 120))
            if status == "read":
                lido = entregue + int(rng.expovariate(1 / (3 * HORA)))
            if status == "failed":
                falhou = quando + rng.randrange(1, 30)
                erro_c, erro_t = rng.choice(ERROS_META)
            wamid = f"wamid.HBgN{celular}FQIAERgS{i:012X}{rng.getrandbits(32):08X}"
            linhas.append(
                (
                    quando,
                    f"{self.aluno_id[aluno]}\t{tpl['id']}\t{wamid}\t{status}\t{ts(quando)}\t"
                    f"{ts(enviado) if enviado else NULO}\t"
                    f"{ts(entregue) if entregue else NULO}\t"
                    f"{ts(min(lido, self.agora - 1)) if lido else NULO}\t"
                    f"{ts(falhou) if falhou else NULO}\t{_n(erro_c)}\t{_n(erro_t)}\t"
                    f"{celular}\t{celular}\t{json.dumps(valores, ensure_ascii=False)}\t"
                    f"{self._texto(tpl, valores)}\t{prod.id}\t{_n(fila_id)}\n",
                )
            )
        # The dispatcher appends messages as it sends them: ids and the table's physical order
        # follow data_envio, as in production (a period's rows sit together on disk).
        linhas.sort(key=lambda x: x[0])
        linhas = [f"{n}\t{linha}" for n, (_quando, linha) in enumerate(linhas, start=1)]
        self._copiar(
            pg,
            "logs_disparo",
            "id, aluno_id, template_id, mensagem_id_whatsapp, status_entrega, data_envio, "
            "enviado_em, entregue_em, lido_em, falhou_em, erro_codigo, erro_titulo, telefone, "
            "wa_id, variaveis, texto_renderizado, produto_id, fila_id",
            linhas,
        )

    # ---- closing ----------------------------------------------------------------------------
    def _derivados(self) -> list[str]:
        """The load ran with triggers off (session_replication_role = replica): fill what the
        schema's own triggers would have derived, and name any trigger this loader does not
        know (its derived data would be missing from the profile)."""
        conhecidos = {
            "tg_progresso_resumo_insert",
            "tg_progresso_resumo_update",
            "tg_progresso_resumo_delete",
            "tg_aulas_modulo_alterado",  # moves of lessons only; the loader moves none
        }
        with self.engine.begin() as conn:
            if conn.execute(text("SELECT to_regprocedure('resumir_progresso(uuid[])')")).scalar():
                # Per-enrolment progress summary (schema.sql, version 8), for every enrolment.
                conn.execute(
                    text(
                        "SELECT resumir_progresso(ARRAY(SELECT DISTINCT matricula_id "
                        "FROM progresso_aulas))"
                    )
                )
            if conn.execute(text("SELECT to_regprocedure('resumir_modulos(uuid[])')")).scalar():
                # Per-module counts (schema.sql, version 9).
                conn.execute(
                    text(
                        "SELECT resumir_modulos(ARRAY(SELECT DISTINCT matricula_id "
                        "FROM progresso_aulas))"
                    )
                )
            gatilhos = conn.execute(
                text(
                    "SELECT c.relname || '.' || t.tgname FROM pg_trigger t "
                    "JOIN pg_class c ON c.oid = t.tgrelid "
                    "WHERE NOT t.tgisinternal AND c.relnamespace = 'public'::regnamespace "
                    "AND t.tgname <> ALL(:conhecidos) ORDER BY 1"
                ),
                {"conhecidos": sorted(conhecidos)},
            ).scalars()
            return list(gatilhos)

    def _finalizar(self) -> None:
        from services.hotmart_normalizar import STATUS_PAGOS

        self.gatilhos_desconhecidos = self._derivados()
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    """
                    UPDATE alunos a SET ltv_total = n.ltv
                      FROM (SELECT aluno_id, sum(valor_pago) AS ltv FROM transacoes
                             WHERE status = ANY(:pagos) GROUP BY aluno_id) n
                     WHERE a.id = n.aluno_id
                    """
                ),
                {"pagos": list(STATUS_PAGOS)},
            )
            for tabela in ("filas_disparo", "logs_disparo"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{tabela}', 'id'), "
                        f"(SELECT max(id) FROM {tabela}))"
                    )
                )
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE)"))
        # What a sync ends with: the health-score snapshot Home reads (schema v9), timed apart.
        try:
            from services import saude_instantaneo
        except ImportError:  # an older checkout without the snapshot
            self._checkpoint()
            return
        t = time.perf_counter()
        saude_instantaneo.executar_atualizacao(iniciado_por="bench")
        self.tempos["instantâneo da saúde (job saude)"] = round(time.perf_counter() - t, 2)
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE) saude_instantaneo"))
        self._checkpoint()

    def _checkpoint(self) -> None:
        """Flush the load to disk before anything is measured: otherwise the checkpoint the
        load's WAL triggered is still writing (paced over checkpoint_completion_target) while
        the first section runs, and that section pays for the set-up's writes."""
        t = time.perf_counter()
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("CHECKPOINT"))
        self.tempos["CHECKPOINT"] = round(time.perf_counter() - t, 2)


def templates_de_produto(produtos: list[Produto]) -> list[dict]:
    """One APPROVED welcome template bound to each of the first products (as Meta lists them)."""
    from services.sandbox.meta_templates import _modelo

    saida = []
    for p in produtos[: max(1, len(produtos) // 3)]:
        modelo = _modelo(
            f"12{p.indice:014d}",
            f"boas_vindas_p{p.indice:02d}",
            "UTILITY",
            "Olá, {{1}}! Seu acesso ao {{2}} está liberado. Bons estudos!",
            ["Maria", p.nome],
        )
        modelo["_produto_id"] = p.id
        saida.append(modelo)
    return saida


def template_da_regra(gatilho: str) -> tuple[str, dict]:
    """The demo template that fits a trigger and a valid variable mapping for it."""

    def mapa(*campos: str) -> dict:
        return {str(i): {"campo": c, "padrao": "-"} for i, c in enumerate(campos, 1)}

    if gatilho == "boleto_pendente":
        return "boleto_pendente", mapa("primeiro_nome", "produto", "valor", "link_boleto")
    if gatilho == "pix_pendente":
        return "pix_pendente", mapa("primeiro_nome", "produto", "codigo_pix")
    if gatilho == "progresso_estagnado":
        return "progresso_estagnado", mapa("primeiro_nome", "aula", "produto", "progresso")
    if gatilho == "aula_liberada":
        return "aula_liberada", mapa("primeiro_nome", "aula", "produto")
    return "boas_vindas_acesso", mapa("primeiro_nome", "produto", "link_acesso")


def condicoes_regras(g: Gerador) -> list[tuple[str, dict]]:
    """Thirty rules: the ten triggers with their defaults first, then two variants each."""
    p0 = g.produtos[0].id
    goteja = next((p.id for p in g.produtos if p.gotejamento), p0)
    modulo = g.produtos[0].modulos[min(2, len(g.produtos[0].modulos) - 1)]
    primeiras = [
        ("compra_aprovada", {}),
        ("sem_primeiro_acesso", {}),
        ("progresso_estagnado", {}),
        ("aula_liberada", {}),
        ("boleto_pendente", {}),
        ("pix_pendente", {}),
        ("carrinho_abandonado", {}),
        ("risco_reembolso", {}),
        ("renovacao_proxima", {}),
        ("aniversario_compra", {}),
    ]
    segundas = [
        ("compra_aprovada", {"janela_horas": 72, "filtros": {"ticket": "Alto"}}),
        ("sem_primeiro_acesso", {"dias": 7, "filtros": {"status_acesso": ["ATIVO"]}}),
        ("progresso_estagnado", {"dias_sem_acesso": 14, "progresso_max": 50}),
        ("aula_liberada", {"filtros": {"produtos": [goteja]}}),
        ("boleto_pendente", {"horas": 24, "max_horas": 72}),
        ("pix_pendente", {"horas": 6, "max_horas": 48}),
        ("carrinho_abandonado", {"horas": 6, "max_horas": 48}),
        ("risco_reembolso", {"dias": 5, "progresso_max": 40}),
        ("renovacao_proxima", {"dias": 7}),
        ("aniversario_compra", {"meses": 6}),
    ]
    terceiras = [
        ("compra_aprovada", {"janela_horas": 48, "filtros": {"produtos": [p0]}}),
        ("sem_primeiro_acesso", {"dias": 14, "filtros": {"ltv_min": 500}}),
        ("progresso_estagnado", {"dias_sem_acesso": 30, "modulo_id": modulo}),
        ("aula_liberada", {"filtros": {"tags_excluir": [1]}}),
        ("boleto_pendente", {"horas": 48, "max_horas": 120}),
        ("pix_pendente", {"horas": 24, "max_horas": 96}),
        ("carrinho_abandonado", {"horas": 12, "max_horas": 72, "filtros": {"tags_incluir": [1]}}),
        ("risco_reembolso", {"dias": 2, "progresso_max": 10}),
        ("renovacao_proxima", {"dias": 1, "filtros": {"ltv_max": 5000}}),
        ("aniversario_compra", {"meses": 1}),
    ]
    return primeiras + segundas + terceiras
