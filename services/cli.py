"""Command line for operators and cron.

``python -m services.cli {migrate, config, user, sync, rules, dispatch, saude, webhooks, demo,
lgpd}``.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from sqlalchemy.exc import OperationalError

from db.engine import DatabaseIndisponivel, motivo_seguro, obter_engine
from db.schema import aplicar_schema, garantir_schema
from db.uow import UnidadeDeTrabalho
from services import config
from services.chatwoot_client import ChatwootErro
from services.chatwoot_sync import ChatwootNaoConfigurado
from services.cripto import ChaveSecretaErro
from services.hotmart_client import HotmartErro
from services.hotmart_conexao import HotmartNaoConfigurada
from services.jobs import JobEmAndamento
from services.whatsapp import WhatsAppNaoConfigurado
from services.whatsapp_client import WhatsAppErro


def _migrate(_args: argparse.Namespace) -> int:
    versao = aplicar_schema(obter_engine())
    print(f"Schema aplicado (versão {versao}).")
    return 0


def _valor_de_config(args: argparse.Namespace) -> str:
    """The value: the argument, or for '-' (or none) standard input — a secret typed at a
    prompt or piped never shows in the process list or the shell history."""
    if args.valor not in (None, "-"):
        return args.valor
    if sys.stdin.isatty():
        return getpass.getpass(f"Valor de {args.chave}: ")
    return sys.stdin.read().strip()


def _config_set(args: argparse.Namespace) -> int:
    valor = _valor_de_config(args)
    with UnidadeDeTrabalho() as uow:
        config.definir(uow.session, args.chave, valor, usuario="cli")
        uow.commit()
    print(f"{args.chave} atualizado.")
    return 0


def _config_get(args: argparse.Namespace) -> int:
    with UnidadeDeTrabalho() as uow:
        valor = config.exibir(uow.session, args.chave)
    if not valor.definido and not valor.exibicao:
        print(f"{args.chave}: (não definido)")
        return 1
    print(valor.exibicao)
    return 0


def _config_list(_args: argparse.Namespace) -> int:
    with UnidadeDeTrabalho() as uow:
        valores = config.listar(uow.session)
    for v in valores:
        quando = v.atualizado_em.strftime("%Y-%m-%d %H:%M") if v.atualizado_em else "padrão"
        exibicao = v.exibicao if (v.definido or v.exibicao) else "(não definido)"
        print(f"{v.chave.nome:<40} {exibicao:<45} {quando}")
    return 0


class BarraTerminal:
    """A one-line progress bar on stderr for long commands."""

    def __init__(self) -> None:
        self._ultimo = ""

    def __call__(self, percentual: float, mensagem: str) -> None:
        cheio = int(percentual // 5)
        linha = f"\r[{'#' * cheio}{'.' * (20 - cheio)}] {percentual:5.1f}%  {mensagem[:50]:<50}"
        if linha != self._ultimo:
            print(linha, end="", file=sys.stderr, flush=True)
            self._ultimo = linha

    def fim(self) -> None:
        print(file=sys.stderr, flush=True)


def _resumo(resultado: dict | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted((resultado or {}).items()) if k != "parametros")


def _sync(args: argparse.Namespace) -> int:
    from services.hotmart_conexao import executar_sync
    from services.hotmart_sync import desde_texto

    desde = desde_texto(args.desde) if args.desde else None
    barra = BarraTerminal()
    try:
        job = executar_sync(iniciado_por="cli", desde=desde, observador=barra)
    finally:
        barra.fim()
    print(f"Sincronização concluída: {_resumo(job.resultado)}")
    return 0


def _sync_templates(_args: argparse.Namespace) -> int:
    from services import whatsapp

    barra = BarraTerminal()
    try:
        job = whatsapp.executar_sync_templates(iniciado_por="cli", observador=barra)
    finally:
        barra.fim()
    print(f"Templates sincronizados: {_resumo(job.resultado)}")
    return 0


def _sync_chatwoot(_args: argparse.Namespace) -> int:
    from services import chatwoot_sync

    barra = BarraTerminal()
    try:
        job = chatwoot_sync.executar_sync_chatwoot(iniciado_por="cli", observador=barra)
    finally:
        barra.fim()
    print(f"Chatwoot sincronizado: {_resumo(job.resultado)}")
    return 0


VARIAVEL_SENHA = "TERCEIRIZA_NOVA_SENHA"


def _senha_nova() -> str:
    """The new password from TERCEIRIZA_NOVA_SENHA, else typed twice (never an argument: the
    command line of a process is visible to every user of the machine)."""
    if senha := os.environ.get(VARIAVEL_SENHA):
        return senha
    if not sys.stdin.isatty():
        raise ValueError(f"defina {VARIAVEL_SENHA} ou rode o comando num terminal.")
    senha = getpass.getpass("Senha: ")
    if senha != getpass.getpass("Repita a senha: "):
        raise ValueError("as senhas não conferem.")
    return senha


def _user_add(args: argparse.Namespace) -> int:
    from services import usuarios

    with UnidadeDeTrabalho() as uow:
        novo = usuarios.criar(
            uow.session,
            username=args.username,
            nome=args.nome,
            email=args.email,
            papel=args.papel,
            senha=_senha_nova(),
            por="cli",
        )
        uow.commit()
    print(f"Usuário {novo.username} criado ({novo.papel}).")
    return 0


def _user_list(_args: argparse.Namespace) -> int:
    from services import usuarios

    with UnidadeDeTrabalho() as uow:
        lista = usuarios.listar(uow.session)
    for u in lista:
        print(f"{u.username:<30} {u.papel:<8} {'ativo' if u.ativo else 'inativo':<8} {u.nome}")
    return 0


def _rules(_args: argparse.Namespace) -> int:
    from services import regras

    barra = BarraTerminal()
    try:
        job = regras.executar_avaliacao(iniciado_por="cli", observador=barra)
    finally:
        barra.fim()
    print(f"Regras avaliadas: {_resumo(job.resultado)}")
    return 0


def _saude(_args: argparse.Namespace) -> int:
    from services import saude_instantaneo

    job = saude_instantaneo.executar_atualizacao(iniciado_por="cli")
    print(f"Saúde dos alunos calculada: {_resumo(job.resultado)}")
    return 0


def _dispatch(_args: argparse.Namespace) -> int:
    from services import disparo

    barra = BarraTerminal()
    try:
        job = disparo.executar_disparo(iniciado_por="cli", observador=barra)
    finally:
        barra.fim()
    print(f"Disparo concluído: {_resumo(job.resultado)}")
    return 0


def _limite_positivo(valor: str) -> int:
    """An argparse type: a whole number of at least 1 (pt-BR message otherwise)."""
    if not valor.isascii() or not valor.isdigit() or int(valor) < 1:
        raise argparse.ArgumentTypeError(
            f"use um número inteiro maior que zero (recebido: {valor!r})"
        )
    return int(valor)


def _webhooks_reprocessar(args: argparse.Namespace) -> int:
    from services import eventos_webhook

    barra = BarraTerminal()
    try:
        job = eventos_webhook.executar_reprocessamento(
            iniciado_por="cli", limite=args.limite, observador=barra
        )
    finally:
        barra.fim()
    with UnidadeDeTrabalho() as uow:
        restantes = eventos_webhook.contar_pendentes(uow.session)
    print(
        f"Webhooks reprocessados: {_resumo(job.resultado)}; "
        f"ainda prontos={restantes['prontos']}, aguardando nova tentativa={restantes['aguardando']}"
    )
    return 0


def _demo(args: argparse.Namespace) -> int:
    from services import demo

    barra = BarraTerminal()
    try:
        job = demo.executar(
            iniciado_por="cli",
            alunos=args.alunos,
            seed=args.seed,
            url_app=args.url_app,
            observador=barra,
        )
    finally:
        barra.fim()
    print(f"Demonstração carregada: {_resumo(job.resultado)}")
    return 0


def _gravar_privado(caminho: str, conteudo: bytes) -> None:
    """Write personal data readable by the owner only (0600), replacing the file if it exists."""
    try:
        descritor = os.open(caminho, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descritor, "wb") as arquivo:
            os.fchmod(arquivo.fileno(), 0o600)
            arquivo.write(conteudo)
    except OSError as exc:
        raise ValueError(f"não foi possível gravar {caminho}: {exc.strerror}.") from None


def _lgpd_exportar(args: argparse.Namespace) -> int:
    from services import lgpd

    with UnidadeDeTrabalho() as uow:
        conteudo = lgpd.exportar_aluno_json(uow.session, args.aluno_id, usuario="cli")
        # Written before the audit row commits: a failed write leaves no "exported" record.
        if args.saida:
            _gravar_privado(args.saida, conteudo)
        else:
            sys.stdout.buffer.write(conteudo + b"\n")
            sys.stdout.flush()
        uow.commit()
    if args.saida:
        print(f"Dados do aluno gravados em {args.saida} (somente o dono lê o arquivo).")
    return 0


def _lgpd_anonimizar(args: argparse.Namespace) -> int:
    from services import lgpd

    with UnidadeDeTrabalho() as uow:
        resumo = lgpd.anonimizar_aluno(
            uow.session, args.aluno_id, usuario="cli", motivo=args.motivo
        )
        uow.commit()
    if resumo.ja_anonimizado:
        print(
            f"Aluno {resumo.aluno_id} já estava anonimizado "
            f"(em {resumo.anonimizado_em:%Y-%m-%d %H:%M}); nada foi alterado."
        )
        return 0
    print(f"Aluno {resumo.aluno_id} anonimizado: agora aparece como {resumo.nome}.")
    print(f"Alterações: {_resumo(resumo.alteracoes)}")
    if resumo.chatwoot_contato_id is not None:
        print(
            f"Apague também o contato {resumo.chatwoot_contato_id} no Chatwoot: "
            "o telefone e as conversas dele ficam lá."
        )
    return 0


def construir_parser() -> argparse.ArgumentParser:
    """The argparse tree of every command."""
    parser = argparse.ArgumentParser(prog="python -m services.cli", description="Terceiriza CS")
    sub = parser.add_subparsers(dest="comando", required=True)

    sub.add_parser("migrate", help="aplica schema.sql (idempotente)").set_defaults(func=_migrate)

    cfg = sub.add_parser("config", help="credenciais e ajustes")
    cfg_sub = cfg.add_subparsers(dest="acao", required=True)
    p_set = cfg_sub.add_parser("set", help="grava um valor (segredos cifrados)")
    p_set.add_argument("chave")
    p_set.add_argument(
        "valor", nargs="?", help="omita ou use - para ler da entrada padrão (segredos)"
    )
    p_set.set_defaults(func=_config_set)
    p_get = cfg_sub.add_parser("get", help="mostra um valor (segredos mascarados)")
    p_get.add_argument("chave")
    p_get.set_defaults(func=_config_get)
    cfg_sub.add_parser("list", help="lista todos os valores").set_defaults(func=_config_list)

    from services.usuarios import PAPEIS

    user = sub.add_parser("user", help="logins do app")
    user_sub = user.add_subparsers(dest="acao", required=True)
    p_add = user_sub.add_parser(
        "add", help=f"cria um login (senha em {VARIAVEL_SENHA} ou digitada no terminal)"
    )
    p_add.add_argument("username")
    p_add.add_argument("--nome", required=True)
    p_add.add_argument("--papel", required=True, choices=sorted(PAPEIS))
    p_add.add_argument("--email")
    p_add.set_defaults(func=_user_add)
    user_sub.add_parser("list", help="lista os logins").set_defaults(func=_user_list)

    sync = sub.add_parser("sync", help="sincroniza um provedor")
    sync_sub = sync.add_subparsers(dest="provedor", required=True)
    p_hm = sync_sub.add_parser("hotmart", help="espelha a Hotmart no banco")
    p_hm.add_argument("--desde", help="janela incremental: 2d, 12h, 30m ou 2026-11-01")
    p_hm.set_defaults(func=_sync)
    sync_sub.add_parser("templates", help="espelha os templates do WhatsApp").set_defaults(
        func=_sync_templates
    )
    sync_sub.add_parser("chatwoot", help="contatos e etiquetas do Chatwoot").set_defaults(
        func=_sync_chatwoot
    )

    sub.add_parser("rules", help="avalia as regras ativas e enfileira sugestões").set_defaults(
        func=_rules
    )
    sub.add_parser("dispatch", help="envia os itens aprovados da fila").set_defaults(func=_dispatch)
    sub.add_parser(
        "saude", help="recalcula a saúde dos alunos que a Home mostra (também após cada sync)"
    ).set_defaults(func=_saude)

    wh = sub.add_parser("webhooks", help="eventos recebidos da Hotmart e da Meta")
    wh_sub = wh.add_subparsers(dest="acao", required=True)
    p_rep = wh_sub.add_parser(
        "reprocessar", help="aplica de novo os eventos cuja aplicação falhou (cron)"
    )
    p_rep.add_argument(
        "--limite",
        type=_limite_positivo,
        default=500,
        help="no máximo N eventos nesta execução (padrão 500)",
    )
    p_rep.set_defaults(func=_webhooks_reprocessar)

    p_demo = sub.add_parser("demo", help="carrega dados de demonstração pelo sandbox")
    p_demo.add_argument("--alunos", type=int, default=500)
    p_demo.add_argument("--seed", type=int, default=42)
    p_demo.add_argument(
        "--url-app",
        default="http://127.0.0.1:8501",
        help="onde o app serve /sandbox/hotmart para as próximas sincronizações",
    )
    p_demo.set_defaults(func=_demo)

    lgpd = sub.add_parser("lgpd", help="pedidos do titular (LGPD): exportar ou anonimizar")
    lgpd_sub = lgpd.add_subparsers(dest="acao", required=True)
    p_exportar = lgpd_sub.add_parser("exportar", help="tudo o que temos sobre um aluno (JSON)")
    p_exportar.add_argument("aluno_id", help="ID (UUID) do aluno")
    p_exportar.add_argument("--saida", help="arquivo .json (padrão: a saída padrão)")
    p_exportar.set_defaults(func=_lgpd_exportar)
    p_anonimizar = lgpd_sub.add_parser(
        "anonimizar", help="substitui os dados pessoais do aluno; mantém as compras"
    )
    p_anonimizar.add_argument("aluno_id", help="ID (UUID) do aluno")
    p_anonimizar.add_argument("--motivo", help="obrigatório: por que (pedido, protocolo…)")
    p_anonimizar.set_defaults(func=_lgpd_anonimizar)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; bad input and known failures print a pt-BR message and exit non-zero."""
    args = construir_parser().parse_args(argv)
    try:
        if args.comando != "migrate":
            garantir_schema(obter_engine())
        return args.func(args)
    except (config.ValorInvalido, ChaveSecretaErro, DatabaseIndisponivel, ValueError) as exc:
        print(f"Erro: {exc}", file=sys.stderr)
        return 2
    except (
        JobEmAndamento,
        HotmartNaoConfigurada,
        HotmartErro,
        WhatsAppNaoConfigurado,
        WhatsAppErro,
        ChatwootNaoConfigurado,
        ChatwootErro,
    ) as exc:
        print(f"Erro: {exc}", file=sys.stderr)
        return 4
    except OperationalError as exc:
        print(f"Erro: banco de dados indisponível ({motivo_seguro(exc)}).", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
