"""The synthetic Hotmart data set: deterministic, Brazilian, complete and consistent."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime

import phonenumbers
import pytest
from validate_docbr import CPF

from services.demo_data import DIA_MS, gerar_dataset, resumo

AGORA = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
AGORA_MS = int(AGORA.timestamp() * 1000)
STATUS_OBRIGATORIOS = {
    "APPROVED",
    "COMPLETE",
    "WAITING_PAYMENT",
    "PRINTED_BILLET",
    "EXPIRED",
    "CANCELLED",
    "REFUNDED",
    "PARTIALLY_REFUNDED",
    "CHARGEBACK",
    "PROTESTED",
    "OVERDUE",
}


@pytest.fixture(scope="module")
def ds():
    return gerar_dataset(300, 42, agora=AGORA)


def test_mesma_semente_gera_os_mesmos_dados(ds):
    assert gerar_dataset(300, 42, agora=AGORA) == ds
    assert gerar_dataset(300, 42, agora=AGORA_MS) == ds  # agora as ms or datetime: same set


def test_semente_diferente_gera_outros_dados(ds):
    outro = gerar_dataset(300, 43, agora=AGORA)
    assert outro.compradores != ds.compradores
    assert {v["purchase"]["transaction"] for v in outro.vendas} != {
        v["purchase"]["transaction"] for v in ds.vendas
    }


def test_agora_precisa_de_fuso():
    with pytest.raises(ValueError):
        gerar_dataset(10, agora=datetime(2026, 1, 1))


def test_cpfs_validos_e_unicos(ds):
    validador = CPF()
    cpfs = [c["cpf"] for c in ds.compradores]
    assert all(re.fullmatch(r"\d{11}", c) for c in cpfs)
    assert all(validador.validate(c) for c in cpfs)
    assert len(set(cpfs)) == len(cpfs) == 300


def test_emails_unicos_e_sem_espacos(ds):
    emails = [c["email"] for c in ds.compradores]
    assert len(set(emails)) == len(emails)
    assert all(re.fullmatch(r"[a-z0-9._]+@[a-z.]+", e) for e in emails)


def test_celulares_sao_whatsapp_brasileiros(ds):
    for c in ds.compradores:
        assert re.fullmatch(r"[1-9]{2}", c["ddd"]) and re.fullmatch(r"9\d{8}", c["celular"])
        numero = phonenumbers.parse(f"+55{c['ddd']}{c['celular']}")
        assert phonenumbers.is_valid_number(numero)
        assert phonenumbers.number_type(numero) == phonenumbers.PhoneNumberType.MOBILE


def test_participantes_trazem_cpf_e_celular_alinhados_as_vendas(ds):
    assert len(ds.participantes) == len(ds.vendas)
    for venda, participante in zip(ds.vendas, ds.participantes, strict=True):
        assert participante["transaction"] == venda["purchase"]["transaction"]
        comprador = next(u["user"] for u in participante["users"] if u["role"] == "BUYER")
        registro = ds.comprador(comprador["email"])
        assert comprador["cellphone"] == registro["ddd"] + registro["celular"]
        assert comprador["documents"] == [{"type": "CPF", "value": registro["cpf"]}]


def test_todos_os_status_de_venda_e_assinatura(ds):
    assert STATUS_OBRIGATORIOS <= {v["purchase"]["status"] for v in ds.vendas}
    assert {"ACTIVE", "DELAYED", "OVERDUE", "CANCELLED_BY_CUSTOMER"} <= {
        a["status"] for a in ds.assinaturas
    }


def test_codigos_hp_datas_e_garantia(ds):
    codigos = [v["purchase"]["transaction"] for v in ds.vendas]
    assert all(re.fullmatch(r"HP\d{14}", c) for c in codigos)
    assert len(set(codigos)) == len(codigos)
    for v in ds.vendas:
        compra = v["purchase"]
        assert AGORA_MS - 560 * DIA_MS < compra["order_date"] < AGORA_MS
        garantia = compra["warranty_expire_date"] - compra["order_date"]
        assert garantia in (7 * DIA_MS, 30 * DIA_MS)
        if compra["status"] == "APPROVED":
            assert compra["warranty_expire_date"] > AGORA_MS
        if compra["status"] == "COMPLETE":
            assert compra["warranty_expire_date"] <= AGORA_MS
    assert any(v["purchase"]["tracking"].get("source") for v in ds.vendas)


def test_pendentes_tem_boleto_ou_pix(ds):
    for v in ds.vendas:
        compra = v["purchase"]
        extras = ds.pagamentos.get(compra["transaction"], {})
        if compra["status"] == "PRINTED_BILLET":
            assert compra["payment"]["type"] == "BILLET" and extras["billet_url"]
        if compra["status"] == "WAITING_PAYMENT":
            assert compra["payment"]["type"] == "PIX" and extras["pix_code"].startswith("000201")
        if compra["status"] in ("PRINTED_BILLET", "WAITING_PAYMENT"):
            assert "approved_date" not in compra
            assert AGORA_MS - compra["order_date"] < 3 * DIA_MS


def test_renovacoes_atrasadas_e_ltv(ds):
    atrasadas = [v for v in ds.vendas if v["purchase"]["status"] == "OVERDUE"]
    assert atrasadas and all(v["purchase"]["recurrency_number"] > 1 for v in atrasadas)
    assert any(v["purchase"].get("recurrency_number", 1) > 2 for v in ds.vendas)
    for a in ds.assinaturas:
        if a["status"] == "ACTIVE":
            assert a["date_next_charge"] > AGORA_MS
        if a["status"] in ("DELAYED", "OVERDUE"):
            assert a["date_next_charge"] < AGORA_MS
    assert resumo(ds)["compradores_com_2_ou_mais_produtos"] > 30


def test_catalogo_com_ofertas_de_47_a_4997(ds):
    assert len(ds.produtos) == 4 and any(p["is_subscription"] for p in ds.produtos)
    precos = [o["price"]["value"] for lista in ds.ofertas.values() for o in lista]
    assert min(precos) == 47 and max(precos) == 4997
    assert all(2 <= len(lista) <= 3 for lista in ds.ofertas.values())
    assert set(ds.subdominios) == {p["id"] for p in ds.produtos}


def test_modulos_e_paginas_em_ordem_com_liberacao(ds):
    for modulos in ds.modulos.values():
        assert [m["sequence"] for m in modulos] == list(range(1, len(modulos) + 1))
        for m in modulos:
            paginas = ds.paginas[m["module_id"]]
            assert [p["page_order"] for p in paginas] == list(range(1, len(paginas) + 1))
            assert m["total_pages"] == len(paginas)
    liberacoes = [
        regra["liberation"]
        for paginas in ds.paginas.values()
        for p in paginas
        for regra in p["dripping_configs"]
    ]
    assert liberacoes and all(
        r["type"] == "BY_DAYS" and r["liberation_days"] > 0 for r in liberacoes
    )


def test_progresso_realista(ds):
    perfis = Counter()
    for subdominio, usuarios in ds.usuarios_club.items():
        tamanho_modulo_1 = ds.modulos[subdominio][0]["total_pages"]
        for u in usuarios:
            aulas = ds.aulas_usuario[subdominio][u["user_id"]]
            feitas = [a for a in aulas if a["is_completed"]]
            assert u["progress"]["completed"] == len(feitas)
            assert all(a["is_completed"] for a in aulas[: len(feitas)])  # a prefix
            for a in feitas:
                assert u["first_access_date"] <= a["completed_date"] < AGORA_MS
            if u["role"] != "STUDENT":
                continue
            if "first_access_date" not in u:
                perfis["nunca_acessou"] += 1
            elif len(feitas) == len(aulas) or u["progress"]["completed_percentage"] >= 80:
                perfis["concluiu"] += 1
            elif len(feitas) < tamanho_modulo_1:
                perfis["parou_no_modulo_1"] += 1
    assert perfis["nunca_acessou"] > 20
    assert perfis["concluiu"] > 10
    assert perfis["parou_no_modulo_1"] > perfis["concluiu"]


def test_resumo_confere_com_os_dados(ds):
    r = resumo(ds)
    assert r["compradores"] == 300
    assert r["transacoes"] == len(ds.vendas) == sum(r["transacoes_por_status"].values())
    assert r["assinaturas"] == len(ds.assinaturas)
    concluidas = sum(
        a["is_completed"] for d in ds.aulas_usuario.values() for lista in d.values() for a in lista
    )
    assert r["aulas_concluidas"] == concluidas
    assert r["usuarios_club"] == sum(len(v) for v in ds.usuarios_club.values())


def test_unicidade_em_escala_maior():
    grande = gerar_dataset(6000, 7, agora=AGORA)
    assert len({c["cpf"] for c in grande.compradores}) == 6000
    assert len({c["email"] for c in grande.compradores}) == 6000
    codigos = {v["purchase"]["transaction"] for v in grande.vendas}
    assert len(codigos) == len(grande.vendas)
    usuarios = [u["user_id"] for v in grande.usuarios_club.values() for u in v]
    assert len(set(usuarios)) == len(usuarios)
