"""Credentials and settings over the ``configuracoes`` table (secrets encrypted at rest)."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlparse

from sqlalchemy import event, text
from sqlalchemy.orm import Session

from services import cripto
from services.auditoria import registrar


class ValorInvalido(ValueError):
    """A value rejected by validation (message in pt-BR, safe to show)."""


@dataclass(frozen=True)
class Chave:
    """One known setting: who it belongs to, how it is validated, whether it is secret."""

    nome: str
    grupo: str  # hotmart | meta | chatwoot | disparo
    rotulo: str
    descricao: str
    tipo: str = "texto"  # texto | numerico | url | inteiro | booleano | hora | versao
    secreta: bool = False
    padrao: str | None = None
    minimo: int | None = None
    maximo: int | None = None


CHAVES: dict[str, Chave] = {
    c.nome: c
    for c in [
        Chave("hotmart_client_id", "hotmart", "Client ID", "Client ID da credencial Hotmart"),
        Chave("hotmart_client_secret", "hotmart", "Client Secret", "Client Secret", secreta=True),
        Chave("hotmart_basic_token", "hotmart", "Basic", "Token Basic do painel", secreta=True),
        Chave("hotmart_hottok", "hotmart", "Hottok", "Hottok dos webhooks", secreta=True),
        Chave(
            "hotmart_api_base",
            "hotmart",
            "URL da API",
            "Base REST da Hotmart",
            tipo="url",
            padrao="https://developers.hotmart.com",
        ),
        Chave(
            "hotmart_auth_url",
            "hotmart",
            "URL do token",
            "Endpoint OAuth da Hotmart",
            tipo="url",
            padrao="https://api-sec-vlc.hotmart.com/security/oauth/token",
        ),
        Chave("meta_access_token", "meta", "Access token", "Token do sistema", secreta=True),
        Chave(
            "meta_phone_number_id",
            "meta",
            "Phone number ID",
            "ID do número no WhatsApp",
            tipo="numerico",
        ),
        Chave("meta_waba_id", "meta", "WABA ID", "ID da conta WhatsApp Business", tipo="numerico"),
        Chave("meta_app_secret", "meta", "App secret", "Assina os webhooks", secreta=True),
        Chave("meta_verify_token", "meta", "Verify token", "Handshake do webhook", secreta=True),
        Chave(
            "meta_api_base",
            "meta",
            "URL da API",
            "Base da Graph API",
            tipo="url",
            padrao="https://graph.facebook.com",
        ),
        Chave(
            "meta_api_versao",
            "meta",
            "Versão da Graph API",
            "Versão usada nas chamadas (ex.: v25.0)",
            tipo="versao",
            padrao="v25.0",
        ),
        Chave("chatwoot_base_url", "chatwoot", "URL do Chatwoot", "Instância", tipo="url"),
        Chave("chatwoot_api_token", "chatwoot", "API token", "Token de acesso", secreta=True),
        Chave("chatwoot_account_id", "chatwoot", "Account ID", "ID da conta", tipo="numerico"),
        Chave(
            "disparo_pausado",
            "disparo",
            "Disparos pausados",
            "Freio geral: nada é enviado enquanto ligado",
            tipo="booleano",
            padrao="false",
        ),
        Chave(
            "disparo_max_por_segundo",
            "disparo",
            "Mensagens por segundo",
            "Limite de envio para a Meta",
            tipo="inteiro",
            padrao="20",
            minimo=1,
            maximo=80,
        ),
        Chave(
            "disparo_janela_inicio",
            "disparo",
            "Início da janela",
            "Horário de São Paulo a partir do qual se envia",
            tipo="hora",
            padrao="09:00",
        ),
        Chave(
            "disparo_janela_fim",
            "disparo",
            "Fim da janela",
            "Horário de São Paulo até o qual se envia",
            tipo="hora",
            padrao="21:00",
        ),
        Chave(
            "disparo_max_por_aluno_dia",
            "disparo",
            "Mensagens por aluno por dia",
            "Teto por aluno em 24 horas",
            tipo="inteiro",
            padrao="1",
            minimo=1,
            maximo=10,
        ),
        Chave(
            "disparo_max_automatico_por_execucao",
            "disparo",
            "Envios automáticos por execução",
            "Teto de itens aprovados pelo sistema em cada execução das regras",
            tipo="inteiro",
            padrao="200",
            minimo=0,
            maximo=10000,
        ),
        Chave(
            "ticket_alto_minimo",
            "geral",
            "Ticket alto a partir de (R$)",
            "Ofertas com preço igual ou acima deste valor são 'Alto ticket'",
            tipo="inteiro",
            padrao="500",
            minimo=1,
            maximo=1000000,
        ),
        Chave(
            "optout_palavras",
            "geral",
            "Palavras de descadastro",
            "Respostas no WhatsApp que revogam o consentimento (separadas por vírgula)",
            padrao="SAIR,PARAR,STOP,CANCELAR",
        ),
        Chave(
            "primeiro_acesso_janela_horas",
            "geral",
            "Janela do primeiro acesso (horas)",
            "Primeiro acesso até N horas após uma mensagem nossa entregue conta como "
            "'zap_terceiriza'",
            tipo="inteiro",
            padrao="72",
            minimo=1,
            maximo=720,
        ),
    ]
}

GRUPOS = {
    "hotmart": "Hotmart",
    "meta": "Meta WhatsApp",
    "chatwoot": "Chatwoot",
    "disparo": "Freio",
    "geral": "Geral",
}

_HORA = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")  # ASCII digits: compared as text


@dataclass(frozen=True)
class ValorExibido:
    """A setting as the UI and CLI may show it: secrets masked."""

    chave: Chave
    exibicao: str
    definido: bool
    atualizado_em: datetime | None


def chave(nome: str) -> Chave:
    """The definition of a known key; unknown keys are a ValorInvalido."""
    try:
        return CHAVES[nome]
    except KeyError:
        raise ValorInvalido(f"Chave desconhecida: {nome!r}.") from None


def validar(nome: str, valor: str) -> str:
    """Check a new value for ``nome``; return it normalised or raise ValorInvalido (pt-BR)."""
    c = chave(nome)
    if valor is None or valor == "":
        raise ValorInvalido(f"{c.rotulo}: o valor não pode ficar vazio.")
    if valor != valor.strip():
        raise ValorInvalido(f"{c.rotulo}: remova os espaços no início ou no fim.")
    if any(ord(ch) < 32 for ch in valor):
        raise ValorInvalido(f"{c.rotulo}: o valor contém caracteres de controle.")
    # isascii: str.isdigit also takes "１２３" and "²", which no provider id is made of.
    if c.tipo == "numerico" and not (valor.isascii() and valor.isdigit()):
        raise ValorInvalido(f"{c.rotulo}: use apenas dígitos (ex.: 123456789012345).")
    if c.tipo == "url":
        partes = urlparse(valor)
        if partes.scheme not in ("http", "https") or not partes.netloc:
            raise ValorInvalido(f"{c.rotulo}: informe uma URL completa (ex.: https://exemplo.com).")
        return valor.rstrip("/")
    if c.tipo == "inteiro":
        if not re.fullmatch(r"-?[0-9]+", valor):
            raise ValorInvalido(f"{c.rotulo}: informe um número inteiro.")
        numero = int(valor)
        if (c.minimo is not None and numero < c.minimo) or (
            c.maximo is not None and numero > c.maximo
        ):
            raise ValorInvalido(f"{c.rotulo}: use um valor entre {c.minimo} e {c.maximo}.")
        return str(numero)
    if c.tipo == "booleano":
        normal = valor.lower()
        if normal in ("true", "1", "sim", "on"):
            return "true"
        if normal in ("false", "0", "nao", "não", "off"):
            return "false"
        raise ValorInvalido(f"{c.rotulo}: use true ou false.")
    if c.tipo == "versao" and not re.fullmatch(r"v[0-9]{1,2}\.[0-9]", valor):
        raise ValorInvalido(f"{c.rotulo}: use o formato v25.0.")
    if c.tipo == "hora" and not _HORA.match(valor):
        raise ValorInvalido(f"{c.rotulo}: use o formato HH:MM (ex.: 09:00).")
    return valor


def definir(session: Session, nome: str, valor: str, *, usuario: str | None = None) -> None:
    """Validate and store one setting (encrypted when secret), audited, in the caller's session."""
    definir_varios(session, {nome: valor}, usuario=usuario)


def definir_varios(
    session: Session, valores: dict[str, str], *, usuario: str | None = None
) -> None:
    """Validate every value first, then store all of them: all or nothing."""
    normalizados = {nome: validar(nome, valor) for nome, valor in valores.items()}
    _validar_janela(session, normalizados)
    # A webhook of this process must not keep the old credential for RECENTE_S seconds.
    esquecer_recentes()
    event.listen(session, "after_commit", lambda _s: esquecer_recentes(), once=True)
    for nome, valor in normalizados.items():
        c = CHAVES[nome]
        armazenado = cripto.cifrar(valor) if c.secreta else valor
        session.execute(
            text(
                """
                INSERT INTO configuracoes (chave, valor, descricao, ativo, atualizado_em)
                VALUES (:chave, :valor, :descricao, true, now())
                ON CONFLICT (chave) DO UPDATE
                   SET valor = EXCLUDED.valor, ativo = true, atualizado_em = now()
                """
            ),
            {"chave": nome, "valor": armazenado, "descricao": c.descricao},
        )
        # The audit row names the key, never the value.
        registrar(
            session,
            usuario=usuario,
            acao="config_alterada",
            entidade="configuracoes",
            entidade_id=nome,
            detalhes={"secreta": c.secreta},
        )


def _validar_janela(session: Session, novos: dict[str, str]) -> None:
    if "disparo_janela_inicio" not in novos and "disparo_janela_fim" not in novos:
        return
    inicio = novos.get("disparo_janela_inicio") or obter(session, "disparo_janela_inicio")
    fim = novos.get("disparo_janela_fim") or obter(session, "disparo_janela_fim")
    if inicio and fim and inicio >= fim:
        raise ValorInvalido("A janela de envio precisa começar antes de terminar.")


def obter(session: Session, nome: str) -> str | None:
    """The plaintext value of a setting (decrypted), its default when unset, else None."""
    c = chave(nome)
    armazenado = session.execute(
        text("SELECT valor FROM configuracoes WHERE chave = :c AND ativo IS NOT false"), {"c": nome}
    ).scalar()
    if armazenado is None:
        return c.padrao
    return cripto.decifrar(armazenado) if c.secreta else armazenado


RECENTE_S = 30.0  # how long a webhook may go on using a setting read before
_recentes: dict[str, tuple[float, str | None]] = {}
_trava_recentes = threading.Lock()
_geracao = [0]  # bumped by esquecer_recentes: a read that started before is not kept


def obter_recente(session: Session, nome: str) -> str | None:
    """``obter`` read at most RECENTE_S seconds ago by this process (the webhooks' hot path:
    every request needs the app secret or the hottok, and they rarely change).

    A change saved through ``definir``/``definir_varios`` in this process takes effect at once;
    one saved by another process (the CLI, another replica) within RECENTE_S seconds.
    """
    achado, valor = em_cache(nome)
    if achado:
        return valor
    agora, geracao = time.monotonic(), _geracao[0]
    valor = obter(session, nome)
    with _trava_recentes:
        if geracao == _geracao[0]:
            _recentes[nome] = (agora + RECENTE_S, valor)
    return valor


def em_cache(nome: str) -> tuple[bool, str | None]:
    """(True, value) when ``obter_recente`` has a fresh value for ``nome``, else (False, None):
    a reader on the event loop takes it without touching the database."""
    guardado = _recentes.get(nome)
    if guardado is not None and guardado[0] > time.monotonic():
        return True, guardado[1]
    return False, None


def esquecer_recentes() -> None:
    """Drop every value ``obter_recente`` keeps (after a change, a restore, a test's cleanup)."""
    with _trava_recentes:
        _geracao[0] += 1
        _recentes.clear()


def obter_inteiro(session: Session, nome: str) -> int:
    """An integer setting (falls back to its default)."""
    return int(obter(session, nome) or chave(nome).padrao or 0)


def obter_booleano(session: Session, nome: str) -> bool:
    """A boolean setting (falls back to its default)."""
    return (obter(session, nome) or chave(nome).padrao or "false") == "true"


def listar(session: Session, grupo: str | None = None) -> list[ValorExibido]:
    """Every known setting (of one group) as it may be shown: secrets masked to 4 characters."""
    linhas = session.execute(
        text("SELECT chave, valor, atualizado_em FROM configuracoes WHERE ativo IS NOT false")
    ).all()
    salvos = {linha.chave: linha for linha in linhas}
    resultado = []
    for c in CHAVES.values():
        if grupo and c.grupo != grupo:
            continue
        linha = salvos.get(c.nome)
        if linha is None:
            resultado.append(ValorExibido(c, c.padrao or "", False, None))
            continue
        exibicao = cripto.mascarar(cripto.decifrar(linha.valor)) if c.secreta else linha.valor
        resultado.append(ValorExibido(c, exibicao, True, linha.atualizado_em))
    return resultado


def exibir(session: Session, nome: str) -> ValorExibido:
    """One setting as it may be shown (secrets masked)."""
    chave(nome)
    return next(v for v in listar(session) if v.chave.nome == nome)
