"""Credentials over ``configuracoes``: encryption at rest, validation, masking, rotation."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from db.uow import UnidadeDeTrabalho
from services import config
from services.cripto import ChaveSecretaErro

SEGREDO = "tok-hotmart-abcdef-9876"


def _armazenado(engine, chave: str) -> tuple[str, bool, object] | None:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT valor, ativo, atualizado_em FROM configuracoes WHERE chave = :c"),
            {"c": chave},
        ).first()


def _definir(chave: str, valor: str) -> None:
    with UnidadeDeTrabalho() as uow:
        config.definir(uow.session, chave, valor, usuario="teste")
        uow.commit()


def test_a_secret_is_stored_encrypted_and_read_back(banco):
    _definir("hotmart_client_secret", SEGREDO)
    valor, ativo, atualizado = _armazenado(banco, "hotmart_client_secret")
    assert SEGREDO not in valor
    assert valor.startswith("fernet:")
    assert ativo is True and atualizado is not None
    with UnidadeDeTrabalho() as uow:
        assert config.obter(uow.session, "hotmart_client_secret") == SEGREDO


def test_a_plain_setting_is_stored_as_is(banco):
    _definir("meta_phone_number_id", "106540352242922")
    assert _armazenado(banco, "meta_phone_number_id")[0] == "106540352242922"


def test_rotation_replaces_the_value_and_moves_the_timestamp(banco):
    _definir("meta_access_token", "EAAG-primeiro-1111")
    primeiro, _, quando1 = _armazenado(banco, "meta_access_token")
    _definir("meta_access_token", "EAAG-segundo-2222")
    segundo, _, quando2 = _armazenado(banco, "meta_access_token")
    assert primeiro != segundo and quando2 >= quando1
    with UnidadeDeTrabalho() as uow:
        assert config.obter(uow.session, "meta_access_token") == "EAAG-segundo-2222"
        assert config.exibir(uow.session, "meta_access_token").exibicao == "••••2222"


def test_listing_masks_secrets_to_the_last_four_characters(banco):
    _definir("hotmart_hottok", SEGREDO)
    with UnidadeDeTrabalho() as uow:
        valores = {v.chave.nome: v for v in config.listar(uow.session)}
    assert valores["hotmart_hottok"].exibicao == "••••9876"
    assert SEGREDO not in repr(valores)
    assert valores["disparo_max_por_segundo"].exibicao == "20"  # default shown until set
    assert valores["disparo_max_por_segundo"].definido is False


def test_a_wrong_key_is_a_clear_error_not_a_traceback(banco, monkeypatch):
    _definir("chatwoot_api_token", SEGREDO)
    monkeypatch.setenv("TERCEIRIZA_SECRET_KEY", Fernet.generate_key().decode())
    with UnidadeDeTrabalho() as uow, pytest.raises(ChaveSecretaErro, match="não decifra"):
        config.obter(uow.session, "chatwoot_api_token")


def test_a_malformed_key_is_a_clear_error(banco, monkeypatch):
    monkeypatch.setenv("TERCEIRIZA_SECRET_KEY", "curta-demais")
    with UnidadeDeTrabalho() as uow, pytest.raises(ChaveSecretaErro, match="inválida"):
        config.definir(uow.session, "meta_app_secret", SEGREDO)


def test_a_missing_key_with_a_server_database_is_a_clear_error(banco, monkeypatch):
    monkeypatch.delenv("TERCEIRIZA_SECRET_KEY")
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://x@127.0.0.1/x")
    from services import cripto

    with pytest.raises(ChaveSecretaErro, match="não está definida"):
        cripto.cifrar("x")


def test_embedded_default_generates_a_private_key_file_once(tmp_path, monkeypatch):
    from services import cripto

    monkeypatch.delenv("TERCEIRIZA_SECRET_KEY")
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.setenv("TERCEIRIZA_DATA_DIR", str(tmp_path))
    cifrado = cripto.cifrar(SEGREDO)
    arquivo = tmp_path / "secret.key"
    assert arquivo.stat().st_mode & 0o777 == 0o600
    conteudo = arquivo.read_bytes()
    assert cripto.decifrar(cifrado) == SEGREDO
    assert arquivo.read_bytes() == conteudo


@pytest.mark.parametrize(
    ("chave", "valor", "mensagem"),
    [
        ("hotmart_client_id", "", "vazio"),
        ("hotmart_client_id", " abc", "espaços"),
        ("hotmart_client_secret", "abc ", "espaços"),
        ("meta_phone_number_id", "12a45", "dígitos"),
        ("chatwoot_account_id", "-3", "dígitos"),
        ("chatwoot_base_url", "chatwoot.local", "URL"),
        ("hotmart_api_base", "ftp://x.y", "URL"),
        ("disparo_max_por_segundo", "0", "entre 1 e 80"),
        ("disparo_max_por_segundo", "81", "entre 1 e 80"),
        ("disparo_max_por_segundo", "dez", "inteiro"),
        ("disparo_janela_inicio", "25:00", "HH:MM"),
        ("disparo_pausado", "talvez", "true ou false"),
        ("chave_inexistente", "x", "desconhecida"),
    ],
)
def test_bad_values_are_refused_in_portuguese_and_nothing_is_written(banco, chave, valor, mensagem):
    with UnidadeDeTrabalho() as uow, pytest.raises(config.ValorInvalido, match=mensagem):
        config.definir(uow.session, chave, valor)
    with banco.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM configuracoes")).scalar() == 0


def test_several_values_are_all_or_nothing(banco):
    with UnidadeDeTrabalho() as uow, pytest.raises(config.ValorInvalido):
        config.definir_varios(
            uow.session, {"hotmart_client_id": "abc", "hotmart_api_base": "não é url"}
        )
        uow.commit()
    assert _armazenado(banco, "hotmart_client_id") is None


def test_the_dispatch_window_must_start_before_it_ends(banco):
    with UnidadeDeTrabalho() as uow, pytest.raises(config.ValorInvalido, match="janela"):
        config.definir(uow.session, "disparo_janela_inicio", "22:00")


def test_brake_defaults_are_the_documented_ones(banco):
    with UnidadeDeTrabalho() as uow:
        s = uow.session
        assert config.obter_booleano(s, "disparo_pausado") is False
        assert config.obter_inteiro(s, "disparo_max_por_segundo") == 20
        assert config.obter(s, "disparo_janela_inicio") == "09:00"
        assert config.obter(s, "disparo_janela_fim") == "21:00"
        assert config.obter_inteiro(s, "disparo_max_por_aluno_dia") == 1
        assert config.obter_inteiro(s, "disparo_max_automatico_por_execucao") == 200


def test_every_change_is_audited_without_the_value(banco):
    _definir("meta_app_secret", SEGREDO)
    with banco.connect() as conn:
        linha = conn.execute(
            text("SELECT usuario, acao, entidade_id, detalhes::text AS d FROM auditoria")
        ).one()
    assert (linha.usuario, linha.acao, linha.entidade_id) == (
        "teste",
        "config_alterada",
        "meta_app_secret",
    )
    assert SEGREDO not in linha.d
