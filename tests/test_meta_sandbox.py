"""The WhatsApp Cloud API sandbox over real loopback HTTP: sends, errors, templates, webhooks."""

from __future__ import annotations

import hmac
import json
from collections import Counter
from contextlib import contextmanager

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from services.sandbox.meta import (
    DEMO_TELEFONE,
    assinar,
    corpo_inbound,
    corpo_status,
    corpo_status_template,
    criar_app,
)
from services.sandbox.meta_templates import TEMPLATES_DEMO, placeholders
from services.sandbox.meta_webhooks import CENARIOS, desafiar_callback, planejar_statuses
from services.sandbox.server import servir

TOKEN, SEGREDO, TELEFONE_ID, WABA = "tok-sandbox-0123456789", "segredo-do-app", "1111", "2222"
MENSAGENS, TEMPLATES = f"/v25.0/{TELEFONE_ID}/messages", f"/v25.0/{WABA}/message_templates"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ALUNA = "5511987654321"
PARAMS_BOAS_VINDAS = ["Maria", "Marketing Digital Pro", "maria@example.com"]


class Relogio:
    """A fake clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Receptor:
    """A tiny callback app recording raw bodies and signatures; can answer 500 a few times."""

    def __init__(self, falhar_primeiras: int = 0) -> None:
        self.recebidos: list[tuple[str, bytes]] = []
        self.falhar = falhar_primeiras
        self.app = Starlette(
            routes=[Route("/webhooks/meta", self._receber, methods=["GET", "POST"])]
        )

    async def _receber(self, request: Request) -> Response:
        if request.method == "GET":
            q = request.query_params
            if q.get("hub.mode") == "subscribe" and q.get("hub.verify_token") == "verificar":
                return PlainTextResponse(q["hub.challenge"])
            return PlainTextResponse("proibido", status_code=403)
        self.recebidos.append(
            (request.headers.get("x-hub-signature-256", ""), await request.body())
        )
        if self.falhar:
            self.falhar -= 1
            return PlainTextResponse("erro", status_code=500)
        return PlainTextResponse("ok")

    def corpos(self) -> list[dict]:
        return [json.loads(bruto) for _, bruto in self.recebidos]

    def statuses(self) -> list[dict]:
        return [
            s
            for c in self.corpos()
            for e in c["entry"]
            for m in e["changes"]
            if m["field"] == "messages"
            for s in m["value"].get("statuses", [])
        ]


@contextmanager
def sandbox(*, callback: bool = True, receptor: Receptor | None = None, **opcoes):
    """A served receiver (optional) and a served sandbox posting to it, plus an httpx client."""
    receptor = receptor or Receptor()
    with servir(receptor.app) as base_cb:
        url_cb = base_cb + "/webhooks/meta" if callback else None
        opcoes.setdefault("atraso_status_s", 0.001)
        app = criar_app(
            access_token=TOKEN,
            app_secret=SEGREDO,
            phone_number_id=TELEFONE_ID,
            waba_id=WABA,
            callback_url=url_cb,
            **opcoes,
        )
        with servir(app) as base, httpx.Client(base_url=base, timeout=10) as http:
            yield app, http, receptor


def _envio(para: str = ALUNA, nome: str = "boas_vindas_acesso", idioma: str = "pt_BR", params=None):
    params = PARAMS_BOAS_VINDAS if params is None else params
    template = {"name": nome, "language": {"code": idioma}}
    if params:
        parametros = [{"type": "text", "text": p} for p in params]
        template["components"] = [{"type": "body", "parameters": parametros}]
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": para,
        "type": "template",
        "template": template,
    }


def _assinatura_ok(cabecalho: str, bruto: bytes) -> bool:
    return hmac.compare_digest(cabecalho, assinar(bruto, SEGREDO))


def test_envio_devolve_wamid_e_statuses_assinados():
    with sandbox(seed=0, cenarios_por_numero={ALUNA: "lido"}) as (app, http, receptor):
        resposta = http.post(MENSAGENS, json=_envio(), headers=AUTH)
        segunda = http.post(MENSAGENS, json=_envio(), headers=AUTH)
        assert app.state.aguardar_entregas(5)
    assert resposta.status_code == 200
    corpo = resposta.json()
    wamid = corpo["messages"][0]["id"]
    assert corpo["messaging_product"] == "whatsapp"
    assert corpo["contacts"] == [{"input": ALUNA, "wa_id": ALUNA}]
    assert wamid.startswith("wamid.HBg") and wamid != segunda.json()["messages"][0]["id"]
    assert app.state.envios[0]["texto"].startswith("Olá, Maria! Seja bem-vindo(a)")
    assert all(_assinatura_ok(cab, bruto) for cab, bruto in receptor.recebidos)
    statuses = [s for s in receptor.statuses() if s["id"] == wamid]
    assert [s["status"] for s in statuses] == ["sent", "delivered", "read"]
    enviado = statuses[0]
    assert enviado["recipient_id"] == ALUNA and enviado["timestamp"].isdigit()
    assert enviado["pricing"] == {
        "billable": True,
        "pricing_model": "PMP",
        "category": "utility",
        "type": "regular",
    }
    assert enviado["conversation"]["origin"] == {"type": "utility"}
    assert "expiration_timestamp" in enviado["conversation"]
    assert "pricing" not in statuses[2]  # read carries no pricing
    primeiro = receptor.corpos()[0]
    assert primeiro["object"] == "whatsapp_business_account"
    assert primeiro["entry"][0]["id"] == WABA
    valor = primeiro["entry"][0]["changes"][0]["value"]
    assert valor["metadata"] == {"display_phone_number": DEMO_TELEFONE, "phone_number_id": "1111"}
    assert int(statuses[0]["timestamp"]) <= int(statuses[1]["timestamp"])


def test_sem_callback_nada_e_postado():
    with sandbox(callback=False) as (app, http, receptor):
        assert http.post(MENSAGENS, json=_envio(), headers=AUTH).status_code == 200
        assert app.state.aguardar_entregas(1)
    assert receptor.recebidos == [] and app.state.postados == []
    assert app.state.envios[0]["cenario"] in CENARIOS


def test_mistura_deterministica_de_entregas_por_seed():
    numeros = [f"55119{n:08d}" for n in range(20)]
    with sandbox(seed=0) as (app, http, receptor):
        wamids = [
            http.post(MENSAGENS, json=_envio(n), headers=AUTH).json()["messages"][0]["id"]
            for n in numeros
        ]
        assert app.state.aguardar_entregas(10)
    cenarios = [e["cenario"] for e in app.state.envios]
    assert set(cenarios) == set(CENARIOS)  # every scenario happens with seed 0 in 20 sends
    assert cenarios == [planejar_statuses(0, i)[0] for i in range(1, 21)]
    assert all(_assinatura_ok(cab, bruto) for cab, bruto in receptor.recebidos)
    por_wamid: dict[str, list[dict]] = {}
    for s in receptor.statuses():
        por_wamid.setdefault(s["id"], []).append(s)
    for wamid, envio in zip(wamids, app.state.envios, strict=True):
        recebidos = [s["status"] for s in por_wamid[wamid]]
        assert recebidos == envio["statuses"], envio["cenario"]
        cenario = envio["cenario"]
        if cenario == "fora_de_ordem":
            assert recebidos.index("read") < recebidos.index("delivered")
        if cenario == "sem_delivered":
            assert "read" in recebidos and "delivered" not in recebidos
        if cenario == "duplicado":
            assert max(Counter(recebidos).values()) == 2
            repetidos = [s for s in por_wamid[wamid] if recebidos.count(s["status"]) == 2]
            assert repetidos[0] == repetidos[1]  # an exact redelivery
        if cenario.startswith("falha_"):
            (falha,) = por_wamid[wamid]
            erro = falha["errors"][0]
            assert falha["status"] == "failed" and erro["code"] == int(cenario[-6:])
            assert erro["title"] and erro["message"] and erro["error_data"]["details"]
            assert "pricing" not in falha
    with sandbox(seed=0, callback=False) as (outro, http, _):
        for n in numeros:
            http.post(MENSAGENS, json=_envio(n), headers=AUTH)
    assert [e["cenario"] for e in outro.state.envios] == cenarios
    assert [e["wamid"] for e in outro.state.envios] == wamids
    assert [planejar_statuses(1, i)[0] for i in range(1, 21)] != cenarios


def test_planejar_statuses_cenario_forcado():
    assert planejar_statuses(0, 1, cenario="sem_delivered")[1][1].status == "read"
    cenario, passos = planejar_statuses(5, 3, cenario="falha_131047")
    assert [(p.status, p.codigo_erro) for p in passos] == [("failed", 131047)]
    with pytest.raises(ValueError):
        planejar_statuses(0, 1, cenario="inexistente")


def _erro(resposta: httpx.Response) -> dict:
    corpo = resposta.json()["error"]
    assert corpo["fbtrace_id"] and corpo["type"] and corpo["message"]
    return corpo


ERRADO = {"Authorization": "Bearer outro-token"}


@pytest.fixture(scope="module")
def validador():
    """One sandbox shared by the validation cases (none of them is accepted)."""
    with sandbox(callback=False, erros_por_numero={"+5521999990000": 131026}) as servido:
        yield servido


@pytest.mark.parametrize(
    ("caso", "caminho", "corpo", "cabecalhos", "status", "codigo"),
    [
        ("token errado", MENSAGENS, _envio(), ERRADO, 401, 190),
        ("sem token", MENSAGENS, _envio(), {}, 401, 190),
        ("telefone de outro", "/v25.0/999/messages", _envio(), AUTH, 400, 100),
        ("versão inválida", f"/25/{TELEFONE_ID}/messages", _envio(), AUTH, 400, 2500),
        ("produto errado", MENSAGENS, {**_envio(), "messaging_product": "sms"}, AUTH, 400, 100),
        ("to inválido", MENSAGENS, _envio("abc"), AUTH, 400, 100),
        ("tipo text", MENSAGENS, {**_envio(), "type": "text"}, AUTH, 400, 100),
        ("sem nome", MENSAGENS, {**_envio(), "template": {}}, AUTH, 400, 131008),
        ("inexistente", MENSAGENS, _envio(nome="nao_existe"), AUTH, 400, 132001),
        ("idioma errado", MENSAGENS, _envio(idioma="pt_PT"), AUTH, 400, 132001),
        (
            "pendente",
            MENSAGENS,
            _envio(nome="risco_reembolso", params=["a", "b"]),
            AUTH,
            400,
            132001,
        ),
        (
            "rejeitado",
            MENSAGENS,
            _envio(nome="renovacao_proxima", params=["a", "b", "c"]),
            AUTH,
            400,
            132001,
        ),
        ("parâmetros a menos", MENSAGENS, _envio(params=["Maria"]), AUTH, 400, 132000),
        ("sem parâmetros", MENSAGENS, _envio(params=[]), AUTH, 400, 132000),
        ("quebra de linha", MENSAGENS, _envio(params=["a\nb", "c", "d"]), AUTH, 400, 132007),
        ("espaços demais", MENSAGENS, _envio(params=["a     b", "c", "d"]), AUTH, 400, 132007),
        ("longo demais", MENSAGENS, _envio(params=["x" * 1000, "c", "d"]), AUTH, 400, 132005),
        ("para si mesmo", MENSAGENS, _envio(DEMO_TELEFONE), AUTH, 400, 131021),
        ("número recusado", MENSAGENS, _envio("5521999990000"), AUTH, 400, 131026),
    ],
)
def test_erros_de_validacao_do_envio(validador, caso, caminho, corpo, cabecalhos, status, codigo):
    app, http, _ = validador
    resposta = http.post(caminho, json=corpo, headers=cabecalhos)
    assert app.state.envios == []
    assert resposta.status_code == status, caso
    erro = _erro(resposta)
    assert erro["code"] == codigo, (caso, erro)
    if codigo == 190:
        assert erro["type"] == "OAuthException"
    if caso == "telefone de outro":
        assert erro["error_subcode"] == 33 and erro["type"] == "GraphMethodException"
    if codigo == 132001:
        assert erro["message"] == "(#132001) Template name does not exist in the translation"
        assert "does not exist in" in erro["error_data"]["details"]
    if caso == "to inválido":
        assert "'to'" in erro["error_data"]["details"]


def test_parametro_de_tipo_errado_e_json_invalido():
    corpo = _envio()
    corpo["template"]["components"][0]["parameters"][0] = {"type": "image", "image": {"link": "x"}}
    with sandbox(callback=False) as (_, http, _r):
        tipo = http.post(MENSAGENS, json=corpo, headers=AUTH)
        invalido = http.post(MENSAGENS, content=b"{nao json", headers=AUTH)
        desconhecido = http.get("/v25.0/qualquer/coisa", headers=AUTH)
    assert _erro(tipo)["code"] == 132012
    assert invalido.status_code == 400 and _erro(invalido)["code"] == 100
    assert desconhecido.status_code == 400 and _erro(desconhecido)["code"] == 2500


def test_template_pausado_desativado_e_token_expirado():
    with sandbox() as (app, http, receptor):
        app.state.mudar_status_template("boas_vindas_acesso", "PAUSED")
        pausado = http.post(MENSAGENS, json=_envio(), headers=AUTH)
        app.state.mudar_status_template("boas_vindas_acesso", "DISABLED")
        desativado = http.post(MENSAGENS, json=_envio(), headers=AUTH)
        app.state.mudar_status_template("boas_vindas_acesso", "APPROVED")
        de_volta = http.post(MENSAGENS, json=_envio(), headers=AUTH)
        app.state.expirar_token()
        expirado = http.post(MENSAGENS, json=_envio(), headers=AUTH)
        assert app.state.aguardar_entregas(5)
    assert _erro(pausado)["code"] == 132015 and _erro(desativado)["code"] == 132016
    assert de_volta.status_code == 200
    assert expirado.status_code == 401
    assert _erro(expirado)["code"] == 190 and _erro(expirado)["error_subcode"] == 463
    atualizacoes = [
        c["entry"][0]
        for c in receptor.corpos()
        if c["entry"][0]["changes"][0]["field"] != "messages"
    ]
    assert [e["changes"][0]["value"]["event"] for e in atualizacoes] == [
        "PAUSED",
        "DISABLED",
        "APPROVED",
    ]
    valor = atualizacoes[1]["changes"][0]["value"]
    assert valor["message_template_id"] == 1180000000000001
    assert valor["message_template_name"] == "boas_vindas_acesso"
    assert valor["message_template_language"] == "pt_BR"
    assert valor["message_template_category"] == "UTILITY"
    assert valor["reason"] == "NONE" and "disable_date" in valor["disable_info"]
    assert all(_assinatura_ok(cab, bruto) for cab, bruto in receptor.recebidos)


def test_limite_de_vazao_130429_com_relogio_falso():
    relogio = Relogio()
    with sandbox(callback=False, msg_por_segundo=2, relogio=relogio) as (app, http, _):
        codigos = [http.post(MENSAGENS, json=_envio(), headers=AUTH).status_code for _ in range(3)]
        limitado = http.post(MENSAGENS, json=_envio(), headers=AUTH)
        relogio.t += 1.0
        depois = http.post(MENSAGENS, json=_envio(), headers=AUTH)
    assert codigos == [200, 200, 400]
    assert _erro(limitado)["code"] == 130429 and limitado.status_code == 400
    assert depois.status_code == 200 and len(app.state.envios) == 3
    with sandbox(callback=False, msg_por_segundo=1, relogio=Relogio(), http_limite=429) as (
        _,
        http,
        _r,
    ):
        http.post(MENSAGENS, json=_envio(), headers=AUTH)
        assert http.post(MENSAGENS, json=_envio(), headers=AUTH).status_code == 429


def _todas_as_paginas(http: httpx.Client, **params) -> tuple[list[dict], list[dict]]:
    """Follow paging.next (absolute URLs) to the end; return items and the paging objects."""
    itens, pagings = [], []
    resposta = http.get(TEMPLATES, params=params, headers=AUTH)
    while True:
        corpo = resposta.json()
        itens += corpo["data"]
        pagings.append(corpo.get("paging"))
        proxima = (corpo.get("paging") or {}).get("next")
        if not proxima:
            return itens, pagings
        resposta = http.get(proxima, headers=AUTH)


def test_listagem_de_templates_em_paginas():
    with sandbox(callback=False) as (app, http, _):
        itens, pagings = _todas_as_paginas(http, limit=2)
        anterior = http.get(pagings[-1]["previous"], headers=AUTH).json()
        por_before = http.get(
            TEMPLATES, params={"limit": 2, "before": pagings[1]["cursors"]["before"]}, headers=AUTH
        ).json()
        aprovados, _p = _todas_as_paginas(http, status="APPROVED", fields="name,status", limit=3)
        invalido = http.get(TEMPLATES, params={"after": "lixo"}, headers=AUTH)
        outra_waba = http.get("/v25.0/9999/message_templates", headers=AUTH)
        sem_token = http.get(TEMPLATES)
    assert [t["name"] for t in itens] == [t["name"] for t in TEMPLATES_DEMO]
    assert len(pagings) == 4 and "next" not in pagings[-1] and "previous" not in pagings[0]
    assert all(set(p["cursors"]) == {"before", "after"} for p in pagings)
    assert anterior["data"] == itens[4:6] and por_before["data"] == itens[0:2]
    assert {t["status"] for t in itens} == {"APPROVED", "PENDING", "REJECTED"}
    assert Counter(t["status"] for t in itens) == {"APPROVED": 5, "PENDING": 1, "REJECTED": 1}
    assert all(set(t) == {"id", "name", "status"} for t in aprovados) and len(aprovados) == 5
    assert _erro(invalido)["code"] == 100
    assert _erro(outra_waba)["error_subcode"] == 33
    assert sem_token.status_code == 401
    for template in itens:
        assert template["language"] == "pt_BR" and template["parameter_format"] == "POSITIONAL"
        corpo = next(c for c in template["components"] if c["type"] == "BODY")
        n = len(placeholders(template))
        assert n >= 2 and len(corpo["example"]["body_text"][0]) == n
        assert [f"{{{{{i}}}}}" in corpo["text"] for i in range(1, n + 1)] == [True] * n
    assert app.state.requisicoes[0] == f"GET {TEMPLATES}"


def test_template_removido_some_da_listagem_e_do_envio():
    with sandbox() as (app, http, receptor):
        antes, _ = _todas_as_paginas(http)
        removidos = app.state.remover_template("pix_pendente", notificar=True)
        depois, _ = _todas_as_paginas(http)
        envio = http.post(
            MENSAGENS, json=_envio(nome="pix_pendente", params=["a", "b", "c"]), headers=AUTH
        )
        app.state.catalogo.adicionar(
            {
                "name": "pix_pendente",
                "language": "pt_BR",
                "status": "APPROVED",
                "category": "UTILITY",
                "components": [{"type": "BODY", "text": "Oi {{1}}"}],
            }
        )
        de_novo = http.post(
            MENSAGENS, json=_envio(nome="pix_pendente", params=["Ana"]), headers=AUTH
        )
        assert app.state.aguardar_entregas(5)
    assert len(removidos) == 1 and len(depois) == len(antes) - 1
    assert "pix_pendente" not in {t["name"] for t in depois}
    assert _erro(envio)["code"] == 132001 and de_novo.status_code == 200
    evento = receptor.corpos()[0]["entry"][0]["changes"][0]
    assert evento["field"] == "message_template_status_update"
    assert evento["value"]["event"] == "PENDING_DELETION"


def test_template_nomeado_exige_parameter_name():
    nomeado = {
        "name": "lembrete_nomeado",
        "language": "pt_BR",
        "status": "APPROVED",
        "category": "UTILITY",
        "parameter_format": "NAMED",
        "components": [{"type": "BODY", "text": "Oi {{primeiro_nome}}, aula {{aula}}."}],
    }
    corpo = _envio(nome="lembrete_nomeado", params=["Ana", "Funil"])
    with sandbox(callback=False, templates=[nomeado]) as (app, http, _):
        sem_nome = http.post(MENSAGENS, json=corpo, headers=AUTH)
        parametros = corpo["template"]["components"][0]["parameters"]
        parametros[0]["parameter_name"], parametros[1]["parameter_name"] = "primeiro_nome", "aula"
        com_nome = http.post(MENSAGENS, json=corpo, headers=AUTH)
    assert _erro(sem_nome)["code"] == 132012
    assert com_nome.status_code == 200 and app.state.envios[0]["texto"] == "Oi Ana, aula Funil."


def test_inbound_sair_assinado():
    with sandbox() as (app, http, receptor):
        wamid = http.post(MENSAGENS, json=_envio(), headers=AUTH).json()["messages"][0]["id"]
        assert app.state.aguardar_entregas(5)
        receptor.recebidos.clear()
        app.state.enviar_inbound(ALUNA, "SAIR", nome="João Araújo")
        app.state.enviar_inbound(ALUNA, "Parar", botao_payload="SAIR", responde_a=wamid)
        assert app.state.aguardar_entregas(5)
    (cab1, bruto1), (cab2, bruto2) = receptor.recebidos
    assert _assinatura_ok(cab1, bruto1) and _assinatura_ok(cab2, bruto2)
    assert b"Jo\\u00e3o Ara\\u00fajo" in bruto1  # escaped like Meta: verify the raw bytes
    valor = json.loads(bruto1)["entry"][0]["changes"][0]["value"]
    assert valor["contacts"] == [{"profile": {"name": "João Araújo"}, "wa_id": ALUNA}]
    (mensagem,) = valor["messages"]
    assert mensagem["from"] == ALUNA and mensagem["type"] == "text"
    assert mensagem["text"] == {"body": "SAIR"} and mensagem["timestamp"].isdigit()
    assert mensagem["id"].startswith("wamid.") and mensagem["id"] != wamid
    botao = json.loads(bruto2)["entry"][0]["changes"][0]["value"]["messages"][0]
    assert botao["type"] == "button" and botao["button"] == {"payload": "SAIR", "text": "Parar"}
    assert botao["context"] == {"from": DEMO_TELEFONE, "id": wamid}


def test_assinatura_e_do_corpo_bruto_nao_do_json_reserializado():
    corpo = corpo_status(
        waba_id=WABA,
        phone_number_id=TELEFONE_ID,
        telefone_exibicao=DEMO_TELEFONE,
        wamid="wamid.X",
        status="failed",
        timestamp=1750000000,
        recipient_id=ALUNA,
        codigo_erro=131026,
    )
    with sandbox() as (app, _, receptor):
        bruto = app.state.meta.entregador.agendar(app.state.meta.callback_url, corpo)
        assert app.state.aguardar_entregas(5)
    ((cabecalho, recebido),) = receptor.recebidos
    assert recebido == bruto and b"\\/" in bruto  # the href's slashes are escaped
    assert cabecalho == assinar(bruto, SEGREDO)
    reserializado = json.dumps(json.loads(bruto)).encode()
    assert not hmac.compare_digest(cabecalho, assinar(reserializado, SEGREDO))
    assert cabecalho.startswith("sha256=") and len(cabecalho) == 7 + 64


def test_construtores_de_webhook():
    inbound = corpo_inbound(
        waba_id=WABA,
        phone_number_id=TELEFONE_ID,
        telefone_exibicao=DEMO_TELEFONE,
        de=ALUNA,
        texto="SAIR",
        wamid="wamid.Y",
        timestamp=1750000000,
    )
    assert inbound["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] == "1750000000"
    template = corpo_status_template(
        waba_id=WABA, template=TEMPLATES_DEMO[5], evento="REJECTED", timestamp=1750000000
    )
    valor = template["entry"][0]["changes"][0]["value"]
    assert valor["reason"] == "PROMOTIONAL" and template["entry"][0]["time"] == 1750000000


def test_webhook_recusado_e_reentregue():
    receptor = Receptor(falhar_primeiras=2)
    with sandbox(receptor=receptor) as (app, _, _r):
        app.state.enviar_inbound(ALUNA, "SAIR")
        assert app.state.aguardar_entregas(5)
    assert [e.status_http for e in app.state.postados] == [500, 500, 200]
    assert [e.tentativa for e in app.state.postados] == [1, 2, 3]
    assert len({bruto for _, bruto in receptor.recebidos}) == 1


def test_wa_id_sem_o_nono_digito_e_falhas_roteirizadas():
    with sandbox(callback=False, fracao_wa_id_sem_nove=1.0) as (app, http, _):
        mineiro = http.post(MENSAGENS, json=_envio("5531987654321"), headers=AUTH).json()
        paulista = http.post(MENSAGENS, json=_envio(ALUNA), headers=AUTH).json()
        app.state.falhas.adicionar("/messages", codigo=None, status=502)
        app.state.falhas.adicionar("/messages", codigo=131000)
        bruto = http.post(MENSAGENS, json=_envio(), headers=AUTH)
        generico = http.post(MENSAGENS, json=_envio(), headers=AUTH)
    assert mineiro["contacts"][0] == {"input": "5531987654321", "wa_id": "553187654321"}
    assert paulista["contacts"][0]["wa_id"] == ALUNA  # DDD 11 never lost the ninth digit
    assert bruto.status_code == 502 and bruto.headers["content-type"].startswith("text/plain")
    assert generico.status_code == 500 and _erro(generico)["code"] == 131000


def test_desafio_de_verificacao_do_callback():
    receptor = Receptor()
    with servir(receptor.app) as base:
        ok = desafiar_callback(base + "/webhooks/meta", "verificar", challenge="42")
        recusado = desafiar_callback(base + "/webhooks/meta", "outro")
    assert ok.status_code == 200 and ok.text == "42"
    assert recusado.status_code == 403


def test_templates_demo_coerentes():
    nomes = [t["name"] for t in TEMPLATES_DEMO]
    assert len(set(nomes)) == len(nomes) == 7
    assert all(t["category"] in ("UTILITY", "MARKETING") for t in TEMPLATES_DEMO)
    boleto = next(t for t in TEMPLATES_DEMO if t["name"] == "boleto_pendente")
    assert placeholders(boleto) == ["1", "2", "3", "4"]
