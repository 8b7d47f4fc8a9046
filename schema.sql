-- Terceiriza CS — database schema.
-- Every table of the spec (shared/spec/especificacao-banco-de-dados.md) exactly as its DDL writes it,
-- then the additions, each with a one-line reason. Idempotent: applying it again changes nothing.
-- Applied by db.schema.aplicar_schema() at start-up and by `python -m services.cli migrate`.

-- ============================================================================================
-- Spec tables (unchanged)
-- ============================================================================================

CREATE TABLE IF NOT EXISTS configuracoes (
    chave VARCHAR(100) PRIMARY KEY, -- Ex: 'hotmart_access_token'
    valor TEXT NOT NULL,
    descricao TEXT,
    ativo BOOLEAN DEFAULT true,
    atualizado_em TIMESTAMPTZ DEFAULT NOW()
);

CREATE TABLE IF NOT EXISTS produtos (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    nome VARCHAR(255) NOT NULL,
    hotmart_product_id INTEGER UNIQUE, -- ID Unico Hotmart (ex: 3526906)
    hotmart_subdomain VARCHAR(100), -- (Novo) Subdominio do Club para puxar aulas
    capa_url TEXT,
    ativo_monitoramento BOOLEAN DEFAULT false -- Botão ON/OFF do CS
);

CREATE TABLE IF NOT EXISTS ofertas (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    produto_id UUID REFERENCES produtos(id),
    hotmart_offer_code VARCHAR(50), -- Código da Oferta (ex: n82b9jqz)
    nome VARCHAR(255),
    preco DECIMAL(10, 2),
    moeda VARCHAR(3) DEFAULT 'BRL'
);

CREATE TABLE IF NOT EXISTS modulos (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    produto_id UUID REFERENCES produtos(id),
    hotmart_module_id VARCHAR(50), -- ID Alfanumerico
    nome VARCHAR(255),
    ordem INTEGER,
    UNIQUE(produto_id, hotmart_module_id)
);

CREATE TABLE IF NOT EXISTS aulas (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    modulo_id UUID REFERENCES modulos(id),
    hotmart_page_hash VARCHAR(50), -- Hash da pagina na Hotmart
    nome VARCHAR(255),
    ordem INTEGER,
    dias_liberacao INTEGER, -- Dripping (Libera em X dias)
    UNIQUE(modulo_id, hotmart_page_hash)
);

CREATE TABLE IF NOT EXISTS alunos (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    nome VARCHAR(255),
    email VARCHAR(255) UNIQUE,
    celular VARCHAR(50), -- Formatado para WhatsApp (55...)
    cpf VARCHAR(20),     -- Chave de unicidade opcional
    foto_url TEXT,
    ltv_total DECIMAL(10, 2) DEFAULT 0, -- Campo calculado
    criado_em TIMESTAMPTZ DEFAULT NOW()
);

CREATE TABLE IF NOT EXISTS transacoes (
    id VARCHAR(50) PRIMARY KEY, -- Transaction Code (HP...)
    aluno_id UUID REFERENCES alunos(id),
    produto_id UUID REFERENCES produtos(id),
    oferta_id UUID REFERENCES ofertas(id),
    status VARCHAR(50), -- APPROVED, REFUNDED, WAITING_PAYMENT
    valor_pago DECIMAL(10, 2),
    data_compra TIMESTAMPTZ,
    data_garantia_fim TIMESTAMPTZ, -- Para automação de "Risco de Reembolso"
    link_boleto TEXT, -- Para recuperação
    codigo_pix TEXT,  -- Para recuperação
    origem_src VARCHAR(100) -- Rastreamento
);

CREATE TABLE IF NOT EXISTS matriculas (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    aluno_id UUID REFERENCES alunos(id),
    produto_id UUID REFERENCES produtos(id),
    transacao_origem_id VARCHAR(50) REFERENCES transacoes(id),
    status_acesso VARCHAR(20), -- ATIVO, BLOQUEADO, EXPIRADO
    data_inicio TIMESTAMPTZ,
    data_renovacao TIMESTAMPTZ, -- Para cobrar renovação
    origem_primeiro_acesso VARCHAR(50) -- KPI: 'zap_terceiriza' ou 'email_hotmart'
);

CREATE TABLE IF NOT EXISTS progresso_aulas (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    matricula_id UUID REFERENCES matriculas(id),
    aula_id UUID REFERENCES aulas(id),
    data_conclusao TIMESTAMPTZ DEFAULT NOW(),
    UNIQUE(matricula_id, aula_id)
);

CREATE TABLE IF NOT EXISTS tags (
    id SERIAL PRIMARY KEY,
    nome VARCHAR(50) UNIQUE, -- Ex: "vip", "churn_risk"
    cor_hex VARCHAR(10)
);

CREATE TABLE IF NOT EXISTS alunos_tags (
    aluno_id UUID REFERENCES alunos(id),
    tag_id INTEGER REFERENCES tags(id),
    PRIMARY KEY (aluno_id, tag_id)
);

CREATE TABLE IF NOT EXISTS templates (
    id SERIAL PRIMARY KEY,
    nome_meta VARCHAR(255), -- Nome exato na Meta
    produto_id UUID REFERENCES produtos(id), -- Template exclusivo de um produto
    conteudo_texto TEXT,
    namespace VARCHAR(100),
    status_meta VARCHAR(50) -- APPROVED, REJECTED
);

CREATE TABLE IF NOT EXISTS regras_automacao (
    id SERIAL PRIMARY KEY,
    nome VARCHAR(100),
    gatilho VARCHAR(50), -- 'compra_aprovada', 'progresso_estagnado', 'aniversario_compra'
    condicao_json JSONB, -- { "dias_sem_acesso": 7, "modulo_id": "uuid..." }
    template_id INTEGER REFERENCES templates(id),
    modo_execucao VARCHAR(20) DEFAULT 'SUGERIR', -- 'SUGERIR' (Fila) ou 'AUTOMATICO' (Direto)
    ativo BOOLEAN DEFAULT true
);

CREATE TABLE IF NOT EXISTS filas_disparo (
    id BIGSERIAL PRIMARY KEY,
    regra_id INTEGER REFERENCES regras_automacao(id),
    aluno_id UUID REFERENCES alunos(id),
    template_id INTEGER REFERENCES templates(id),
    status VARCHAR(20) DEFAULT 'pendente', -- pendente, aprovado, rejeitado, erro
    data_criacao TIMESTAMPTZ DEFAULT NOW(),
    motivo_rejeicao TEXT
);

CREATE TABLE IF NOT EXISTS logs_disparo (
    id BIGSERIAL PRIMARY KEY,
    aluno_id UUID REFERENCES alunos(id),
    template_id INTEGER REFERENCES templates(id),
    mensagem_id_whatsapp VARCHAR(100), -- WAMID
    status_entrega VARCHAR(50), -- sent, delivered, read (Via Webhook Meta)
    data_envio TIMESTAMPTZ DEFAULT NOW()
);

-- ============================================================================================
-- Additions (additive only: indexes, new tables, nullable columns)
-- ============================================================================================

-- Schema version reported by /healthz; one row per applied version.
CREATE TABLE IF NOT EXISTS schema_versao (
    versao INTEGER PRIMARY KEY,
    aplicado_em TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

-- Logins of the back-office: streamlit-authenticator reads its credentials from here.
CREATE TABLE IF NOT EXISTS usuarios (
    id SERIAL PRIMARY KEY,
    username VARCHAR(50) NOT NULL UNIQUE,
    nome VARCHAR(255) NOT NULL,
    email VARCHAR(255),
    senha_hash VARCHAR(100) NOT NULL,
    papel VARCHAR(20) NOT NULL CHECK (papel IN ('cs', 'gestor', 'admin')),
    ativo BOOLEAN NOT NULL DEFAULT true,
    criado_em TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    atualizado_em TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

-- Raw inbound webhook events, stored before processing so nothing a provider sends is ever lost.
CREATE TABLE IF NOT EXISTS eventos_webhook (
    id BIGSERIAL PRIMARY KEY,
    origem VARCHAR(20) NOT NULL,          -- 'hotmart' | 'meta'
    evento_id VARCHAR(200),               -- the provider's event id; NULL when the body was unreadable
    tipo VARCHAR(100),                    -- e.g. PURCHASE_APPROVED, statuses, messages
    payload JSONB,                        -- parsed body; NULL when the JSON was malformed
    corpo_bruto TEXT,                     -- raw body kept only when it could not be parsed
    recebido_em TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    processado_em TIMESTAMPTZ,
    erro TEXT,
    UNIQUE (origem, evento_id)
);

-- Who did what: credential rotations, user management and (later) queue decisions and rule edits.
CREATE TABLE IF NOT EXISTS auditoria (
    id BIGSERIAL PRIMARY KEY,
    usuario VARCHAR(50),
    acao VARCHAR(50) NOT NULL,
    entidade VARCHAR(50),
    entidade_id VARCHAR(100),
    detalhes JSONB,
    criado_em TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

DROP INDEX IF EXISTS ix_logs_disparo_wamid; -- superseded by the unique ux_logs_disparo_wamid below

-- ---- Indexes for every foreign key (joins and ON DELETE checks) ----------------------------
-- modulos.produto_id, aulas.modulo_id, progresso_aulas.matricula_id and alunos_tags.aluno_id are
-- the leading columns of their spec UNIQUE/PK indexes, which already serve them.
CREATE INDEX IF NOT EXISTS ix_ofertas_produto_id ON ofertas (produto_id); -- FK
CREATE INDEX IF NOT EXISTS ix_transacoes_aluno_id ON transacoes (aluno_id); -- FK; LTV per student
CREATE INDEX IF NOT EXISTS ix_transacoes_produto_id ON transacoes (produto_id); -- FK; revenue per product
CREATE INDEX IF NOT EXISTS ix_transacoes_oferta_id ON transacoes (oferta_id); -- FK; LTV per offer
CREATE INDEX IF NOT EXISTS ix_matriculas_aluno_id ON matriculas (aluno_id); -- FK; student profile
CREATE INDEX IF NOT EXISTS ix_matriculas_produto_id ON matriculas (produto_id); -- FK; per-product progress
CREATE INDEX IF NOT EXISTS ix_matriculas_transacao_origem_id ON matriculas (transacao_origem_id); -- FK
CREATE INDEX IF NOT EXISTS ix_progresso_aulas_aula_id ON progresso_aulas (aula_id); -- FK; lesson funnel
CREATE INDEX IF NOT EXISTS ix_alunos_tags_tag_id ON alunos_tags (tag_id); -- FK; students by tag
CREATE INDEX IF NOT EXISTS ix_templates_produto_id ON templates (produto_id); -- FK; templates of a product
CREATE INDEX IF NOT EXISTS ix_regras_automacao_template_id ON regras_automacao (template_id); -- FK
CREATE INDEX IF NOT EXISTS ix_filas_disparo_regra_id ON filas_disparo (regra_id); -- FK
CREATE INDEX IF NOT EXISTS ix_filas_disparo_aluno_id ON filas_disparo (aluno_id); -- FK; student context
CREATE INDEX IF NOT EXISTS ix_filas_disparo_template_id ON filas_disparo (template_id); -- FK
CREATE INDEX IF NOT EXISTS ix_logs_disparo_aluno_id ON logs_disparo (aluno_id); -- FK; messages of a student
CREATE INDEX IF NOT EXISTS ix_logs_disparo_template_id ON logs_disparo (template_id); -- FK

-- ---- Indexes for the filters the app runs ---------------------------------------------------
CREATE INDEX IF NOT EXISTS ix_alunos_email_lower ON alunos (lower(email)); -- case-insensitive match/search
CREATE UNIQUE INDEX IF NOT EXISTS ux_alunos_cpf ON alunos (cpf) WHERE cpf IS NOT NULL; -- one person, one row (CPF is the master key)
CREATE INDEX IF NOT EXISTS ix_alunos_celular ON alunos (celular); -- search by phone, inbound WhatsApp
CREATE INDEX IF NOT EXISTS ix_transacoes_status ON transacoes (status); -- boleto/PIX recovery, rates
CREATE INDEX IF NOT EXISTS ix_transacoes_data_compra ON transacoes (data_compra); -- period filters
CREATE INDEX IF NOT EXISTS ix_transacoes_data_garantia_fim ON transacoes (data_garantia_fim); -- refund risk
CREATE INDEX IF NOT EXISTS ix_matriculas_status_acesso ON matriculas (status_acesso); -- active students
CREATE INDEX IF NOT EXISTS ix_matriculas_data_renovacao ON matriculas (data_renovacao); -- renewals due
CREATE INDEX IF NOT EXISTS ix_progresso_aulas_data_conclusao ON progresso_aulas (data_conclusao); -- stalls
CREATE INDEX IF NOT EXISTS ix_filas_disparo_status ON filas_disparo (status, data_criacao); -- the queue
CREATE UNIQUE INDEX IF NOT EXISTS ux_logs_disparo_wamid ON logs_disparo (mensagem_id_whatsapp)
    WHERE mensagem_id_whatsapp IS NOT NULL; -- status webhooks find a message by its wamid
CREATE INDEX IF NOT EXISTS ix_logs_disparo_data_envio ON logs_disparo (data_envio); -- Logs page period
CREATE INDEX IF NOT EXISTS ix_logs_disparo_status_entrega ON logs_disparo (status_entrega); -- funnel
CREATE INDEX IF NOT EXISTS ix_eventos_webhook_pendentes ON eventos_webhook (recebido_em)
    WHERE processado_em IS NULL; -- find events still to (re)process
CREATE INDEX IF NOT EXISTS ix_auditoria_criado_em ON auditoria (criado_em); -- recent activity

-- ---- Version 2: Hotmart mirror --------------------------------------------------------------

CREATE UNIQUE INDEX IF NOT EXISTS ux_ofertas_produto_codigo
    ON ofertas (produto_id, hotmart_offer_code); -- upsert key: one offer per product and code
CREATE UNIQUE INDEX IF NOT EXISTS ux_matriculas_aluno_produto
    ON matriculas (aluno_id, produto_id); -- upsert key: one enrolment per student and product

-- Transaction details the spec's columns do not hold, for ordering states and recovery rules.
ALTER TABLE transacoes ADD COLUMN IF NOT EXISTS status_hotmart VARCHAR(50); -- spelling as received
ALTER TABLE transacoes ADD COLUMN IF NOT EXISTS tipo_pagamento VARCHAR(30); -- BILLET, PIX, CREDIT_CARD…
ALTER TABLE transacoes ADD COLUMN IF NOT EXISTS data_aprovacao TIMESTAMPTZ; -- approved_date
ALTER TABLE transacoes ADD COLUMN IF NOT EXISTS recorrencia INTEGER; -- renewal number (1 = first charge)
ALTER TABLE transacoes ADD COLUMN IF NOT EXISTS hotmart_subscriber_code VARCHAR(50); -- subscription link
ALTER TABLE transacoes ADD COLUMN IF NOT EXISTS evento_em TIMESTAMPTZ; -- time of the newest applied event
ALTER TABLE transacoes ADD COLUMN IF NOT EXISTS atualizado_em TIMESTAMPTZ DEFAULT NOW(); -- last write
CREATE INDEX IF NOT EXISTS ix_transacoes_aluno_produto ON transacoes (aluno_id, produto_id, data_compra); -- enrolment status from the latest transaction

-- Club and subscription facts of an enrolment (first-access KPI, renewals, access status).
ALTER TABLE matriculas ADD COLUMN IF NOT EXISTS hotmart_club_user_id VARCHAR(50); -- Club user_id
ALTER TABLE matriculas ADD COLUMN IF NOT EXISTS data_primeiro_acesso TIMESTAMPTZ; -- Club first access
ALTER TABLE matriculas ADD COLUMN IF NOT EXISTS data_ultimo_acesso TIMESTAMPTZ; -- Club last access
ALTER TABLE matriculas ADD COLUMN IF NOT EXISTS hotmart_subscriber_code VARCHAR(50); -- subscription
ALTER TABLE matriculas ADD COLUMN IF NOT EXISTS status_assinatura VARCHAR(30); -- ACTIVE, DELAYED, CANCELLED_BY_…
ALTER TABLE matriculas ADD COLUMN IF NOT EXISTS data_cancelamento TIMESTAMPTZ; -- access lasts until data_renovacao
ALTER TABLE matriculas ADD COLUMN IF NOT EXISTS atualizado_em TIMESTAMPTZ DEFAULT NOW(); -- last write

CREATE INDEX IF NOT EXISTS ix_matriculas_club_user
    ON matriculas (produto_id, hotmart_club_user_id); -- progress rows arrive by Club user id

-- Cart abandonment (PURCHASE_OUT_OF_SHOPPING_CART), kept for the recovery rules.
CREATE TABLE IF NOT EXISTS carrinhos_abandonados (
    id BIGSERIAL PRIMARY KEY,
    evento_id VARCHAR(200) UNIQUE,
    produto_id UUID REFERENCES produtos(id),
    aluno_id UUID REFERENCES alunos(id),
    nome VARCHAR(255),
    email VARCHAR(255),
    celular VARCHAR(50),
    hotmart_offer_code VARCHAR(50),
    criado_em TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS ix_carrinhos_produto_id ON carrinhos_abandonados (produto_id); -- FK
CREATE INDEX IF NOT EXISTS ix_carrinhos_aluno_id ON carrinhos_abandonados (aluno_id); -- FK
CREATE INDEX IF NOT EXISTS ix_carrinhos_criado_em ON carrinhos_abandonados (criado_em); -- recovery window

-- Background jobs (sync, rules, dispatch): progress polled by every page, one per kind at a time.
CREATE TABLE IF NOT EXISTS jobs (
    id BIGSERIAL PRIMARY KEY,
    tipo VARCHAR(30) NOT NULL,            -- sync_hotmart, regras, disparo, demo
    status VARCHAR(20) NOT NULL DEFAULT 'executando', -- executando, concluido, erro
    progresso INTEGER NOT NULL DEFAULT 0, -- 0..100
    mensagem TEXT,                        -- current step, pt-BR
    iniciado_por VARCHAR(50),
    iniciado_em TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    terminado_em TIMESTAMPTZ,
    parametros JSONB,                     -- e.g. the date window of a sync
    resultado JSONB,                      -- counts
    cursor JSONB,                         -- where to resume after a failure
    erro TEXT
);
CREATE INDEX IF NOT EXISTS ix_jobs_tipo_iniciado ON jobs (tipo, iniciado_em DESC); -- latest job of a kind

-- Student search (Alunos page): substring/accent-insensitive name, e-mail part, CPF, phone end.
CREATE EXTENSION IF NOT EXISTS pg_trgm; -- trigram indexes for substring search
CREATE INDEX IF NOT EXISTS ix_alunos_nome_trgm ON alunos USING gin (nome gin_trgm_ops); -- search by name
CREATE INDEX IF NOT EXISTS ix_alunos_email_trgm
    ON alunos USING gin (lower(email) gin_trgm_ops); -- search by part of the e-mail
CREATE INDEX IF NOT EXISTS ix_alunos_cpf_digitos
    ON alunos (regexp_replace(cpf, '\D', '', 'g') text_pattern_ops); -- CPF search whatever punctuation
CREATE INDEX IF NOT EXISTS ix_alunos_celular_final
    ON alunos (reverse(regexp_replace(celular, '\D', '', 'g')) text_pattern_ops); -- phone by its end

-- Lifecycle order of a transaction status: a late event never moves a transaction back.
CREATE OR REPLACE FUNCTION status_transacao_ordem(status TEXT) RETURNS INTEGER
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE status
        WHEN 'STARTED' THEN 10 WHEN 'PROCESSING_TRANSACTION' THEN 10 WHEN 'PRE_ORDER' THEN 10
        WHEN 'WAITING_PAYMENT' THEN 20 WHEN 'UNDER_ANALISYS' THEN 20
        WHEN 'CANCELLED' THEN 30 WHEN 'EXPIRED' THEN 30 WHEN 'NO_FUNDS' THEN 30
        WHEN 'BLOCKED' THEN 30 WHEN 'OVERDUE' THEN 30 WHEN 'DELAYED' THEN 30
        WHEN 'APPROVED' THEN 40
        WHEN 'COMPLETE' THEN 50
        WHEN 'PROTESTED' THEN 60
        WHEN 'PARTIALLY_REFUNDED' THEN 70
        WHEN 'REFUNDED' THEN 80 WHEN 'CHARGEBACK' THEN 80
        ELSE 25
    END
$$;

-- ---- Version 3: WhatsApp Cloud API and Chatwoot -------------------------------------------

-- Template mirror: Meta's identity and shape of each template (the spec keeps name/body/status).
ALTER TABLE templates ADD COLUMN IF NOT EXISTS idioma VARCHAR(20); -- language code, e.g. pt_BR
ALTER TABLE templates ADD COLUMN IF NOT EXISTS categoria VARCHAR(30); -- MARKETING, UTILITY, AUTHENTICATION
ALTER TABLE templates ADD COLUMN IF NOT EXISTS meta_template_id VARCHAR(50); -- Meta's template id
ALTER TABLE templates ADD COLUMN IF NOT EXISTS formato_parametros VARCHAR(20); -- POSITIONAL or NAMED
ALTER TABLE templates ADD COLUMN IF NOT EXISTS qtd_parametros INTEGER; -- placeholders in the BODY
ALTER TABLE templates ADD COLUMN IF NOT EXISTS parametros_nomes JSONB; -- names of NAMED placeholders
ALTER TABLE templates ADD COLUMN IF NOT EXISTS componentes JSONB; -- Meta's components as received
ALTER TABLE templates ADD COLUMN IF NOT EXISTS sincronizado_em TIMESTAMPTZ; -- last seen at Meta
ALTER TABLE templates ADD COLUMN IF NOT EXISTS removido_na_meta_em TIMESTAMPTZ; -- gone at Meta; kept for the logs
CREATE UNIQUE INDEX IF NOT EXISTS ux_templates_nome_idioma
    ON templates (nome_meta, idioma); -- mirror key: one row per (name, language)

-- Delivery of each message: per-status times, Meta's error, what exactly was sent.
ALTER TABLE logs_disparo ADD COLUMN IF NOT EXISTS enviado_em TIMESTAMPTZ; -- 'sent' status time
ALTER TABLE logs_disparo ADD COLUMN IF NOT EXISTS entregue_em TIMESTAMPTZ; -- 'delivered' status time
ALTER TABLE logs_disparo ADD COLUMN IF NOT EXISTS lido_em TIMESTAMPTZ; -- 'read' status time
ALTER TABLE logs_disparo ADD COLUMN IF NOT EXISTS falhou_em TIMESTAMPTZ; -- 'failed' status time
ALTER TABLE logs_disparo ADD COLUMN IF NOT EXISTS erro_codigo INTEGER; -- Meta error code of a failure
ALTER TABLE logs_disparo ADD COLUMN IF NOT EXISTS erro_titulo TEXT; -- Meta error title/message
ALTER TABLE logs_disparo ADD COLUMN IF NOT EXISTS telefone VARCHAR(20); -- the number we sent to
ALTER TABLE logs_disparo ADD COLUMN IF NOT EXISTS wa_id VARCHAR(20); -- Meta's id for the recipient
ALTER TABLE logs_disparo ADD COLUMN IF NOT EXISTS variaveis JSONB; -- parameters sent, in order
ALTER TABLE logs_disparo ADD COLUMN IF NOT EXISTS texto_renderizado TEXT; -- the text the student got
ALTER TABLE logs_disparo ADD COLUMN IF NOT EXISTS produto_id UUID REFERENCES produtos(id); -- product of the message
ALTER TABLE logs_disparo ADD COLUMN IF NOT EXISTS fila_id BIGINT REFERENCES filas_disparo(id); -- queue item sent
CREATE INDEX IF NOT EXISTS ix_logs_disparo_produto_id ON logs_disparo (produto_id); -- FK; Logs filter
CREATE INDEX IF NOT EXISTS ix_logs_disparo_fila_id ON logs_disparo (fila_id); -- FK

-- A status that beats our own insert of the send is parked here and applied when the row appears.
CREATE TABLE IF NOT EXISTS status_pendentes (
    mensagem_id_whatsapp VARCHAR(100) NOT NULL,
    status VARCHAR(20) NOT NULL,
    ocorrido_em TIMESTAMPTZ NOT NULL,
    erro_codigo INTEGER,
    erro_titulo TEXT,
    recebido_em TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (mensagem_id_whatsapp, status)
);

-- Consent ledger (LGPD): every grant and revocation, newest row per (aluno, finalidade) wins.
CREATE TABLE IF NOT EXISTS consentimentos (
    id BIGSERIAL PRIMARY KEY,
    aluno_id UUID NOT NULL REFERENCES alunos(id),
    finalidade VARCHAR(30) NOT NULL,      -- whatsapp
    concedido BOOLEAN NOT NULL,
    origem VARCHAR(50) NOT NULL,          -- compra, optout_whatsapp, admin, …
    detalhes TEXT,
    registrado_em TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS ix_consentimentos_aluno
    ON consentimentos (aluno_id, finalidade, registrado_em DESC); -- FK; current consent lookup

-- Chatwoot: the contact of each student and the label set agreed at the last sync (3-way merge).
CREATE TABLE IF NOT EXISTS chatwoot_contatos (
    aluno_id UUID PRIMARY KEY REFERENCES alunos(id),
    contato_id BIGINT NOT NULL UNIQUE,
    labels_sincronizadas TEXT[] NOT NULL DEFAULT '{}',
    sincronizado_em TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

-- ---- Version 4: automation engine -----------------------------------------------------------

-- Rules: the template's variables mapped to fields, and who edited the rule when.
ALTER TABLE regras_automacao ADD COLUMN IF NOT EXISTS mapeamento_json JSONB; -- {{n}} → field + fallback
ALTER TABLE regras_automacao ADD COLUMN IF NOT EXISTS criado_em TIMESTAMPTZ DEFAULT NOW(); -- creation
ALTER TABLE regras_automacao ADD COLUMN IF NOT EXISTS atualizado_em TIMESTAMPTZ; -- last edit
ALTER TABLE regras_automacao ADD COLUMN IF NOT EXISTS atualizado_por VARCHAR(50); -- who edited last

-- Queue items: dedupe per rule × student × occasion, the snapshot sent, decisions and dispatch.
-- Statuses beyond the spec's: enviando (claimed by a worker), enviado, cancelado (reason gone),
-- verificar (claimed but never confirmed: a person decides; never re-sent automatically).
ALTER TABLE filas_disparo ADD COLUMN IF NOT EXISTS chave_dedupe VARCHAR(250); -- regra:aluno:ocasião
ALTER TABLE filas_disparo ADD COLUMN IF NOT EXISTS produto_id UUID REFERENCES produtos(id); -- product of the occasion
ALTER TABLE filas_disparo ADD COLUMN IF NOT EXISTS ocasiao VARCHAR(200); -- what triggered it
ALTER TABLE filas_disparo ADD COLUMN IF NOT EXISTS contexto JSONB; -- ids for the goal-based exit
ALTER TABLE filas_disparo ADD COLUMN IF NOT EXISTS variaveis JSONB; -- rendered variables (snapshot)
ALTER TABLE filas_disparo ADD COLUMN IF NOT EXISTS texto_renderizado TEXT; -- exact text to be sent
ALTER TABLE filas_disparo ADD COLUMN IF NOT EXISTS decidido_por VARCHAR(50); -- who approved/rejected
ALTER TABLE filas_disparo ADD COLUMN IF NOT EXISTS decidido_em TIMESTAMPTZ; -- when
ALTER TABLE filas_disparo ADD COLUMN IF NOT EXISTS tentativas INTEGER DEFAULT 0; -- send attempts
ALTER TABLE filas_disparo ADD COLUMN IF NOT EXISTS proxima_tentativa_em TIMESTAMPTZ; -- backoff
ALTER TABLE filas_disparo ADD COLUMN IF NOT EXISTS reservado_em TIMESTAMPTZ; -- claimed by a worker
ALTER TABLE filas_disparo ADD COLUMN IF NOT EXISTS reservado_por BIGINT; -- the worker's lock key
ALTER TABLE filas_disparo ADD COLUMN IF NOT EXISTS enviado_em TIMESTAMPTZ; -- confirmed sent
ALTER TABLE filas_disparo ADD COLUMN IF NOT EXISTS erro_codigo INTEGER; -- Meta error code
ALTER TABLE filas_disparo ADD COLUMN IF NOT EXISTS erro_mensagem TEXT; -- Meta error / guard reason
ALTER TABLE filas_disparo ADD COLUMN IF NOT EXISTS motivo_cancelamento TEXT; -- goal-based exit reason
CREATE UNIQUE INDEX IF NOT EXISTS ux_filas_disparo_dedupe
    ON filas_disparo (chave_dedupe); -- evaluating twice never queues twice
CREATE INDEX IF NOT EXISTS ix_filas_disparo_produto_id ON filas_disparo (produto_id); -- FK
CREATE INDEX IF NOT EXISTS ix_filas_disparo_aprovados
    ON filas_disparo (data_criacao) WHERE status = 'aprovado'; -- the dispatcher's claim

-- ---- Version 5: health score ------------------------------------------------------------

-- Progress per enrolment (count, latest, last 14 days) read from the index alone: the health
-- score of every active enrolment is one index-only pass instead of a heap scan per enrolment.
CREATE INDEX IF NOT EXISTS ix_progresso_aulas_matricula_data
    ON progresso_aulas (matricula_id, data_conclusao);


-- ---- Version 6: login throttling ------------------------------------------------------------

-- Failed logins per submitted username (existing or not), shared by every replica: 5 failures in
-- 15 minutes lock that username for a while (policy in services/usuarios.py).
CREATE TABLE IF NOT EXISTS login_tentativas (
    username VARCHAR(100) PRIMARY KEY,    -- as submitted (lower-cased, cut to 100); may not exist
    falhas INTEGER NOT NULL DEFAULT 0,    -- failures in the current 15-minute window
    janela_inicio TIMESTAMPTZ NOT NULL DEFAULT NOW(), -- first failure of that window
    bloqueios INTEGER NOT NULL DEFAULT 0, -- lockouts in a row: each one lasts twice the last
    bloqueado_ate TIMESTAMPTZ,            -- attempts are refused until then
    atualizado_em TIMESTAMPTZ NOT NULL DEFAULT NOW() -- last failure (stale rows are purged)
);
CREATE INDEX IF NOT EXISTS ix_login_tentativas_atualizado_em
    ON login_tentativas (atualizado_em); -- purge of stale rows

-- ---- Version 7: LGPD ------------------------------------------------------------------------

ALTER TABLE alunos ADD COLUMN IF NOT EXISTS anonimizado_em TIMESTAMPTZ; -- when anonymised (LGPD)
-- Denylist of anonymised people (SHA-256 hex of the normalised e-mail / CPF digits, never the
-- values): the Hotmart upsert of students skips them, so a sync never re-creates the person.
CREATE TABLE IF NOT EXISTS lgpd_anonimizados (
    id BIGSERIAL PRIMARY KEY,
    hash_email VARCHAR(64),               -- sha256(lower(btrim(e-mail)))
    hash_cpf VARCHAR(64),                 -- sha256(digits of the CPF)
    anonimizado_em TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS ix_lgpd_anonimizados_email ON lgpd_anonimizados (hash_email); -- sync lookup
CREATE INDEX IF NOT EXISTS ix_lgpd_anonimizados_cpf ON lgpd_anonimizados (hash_cpf); -- sync lookup

-- ---- Version 8: progress summary per enrolment ----------------------------------------------

-- Completed lessons, the latest completion and its lesson, per enrolment: dashboards, the health
-- score, rule triggers and the queue read these instead of aggregating 5M progresso_aulas rows.
-- Kept by statement triggers on progresso_aulas, so every writer (sync, postback, COPY) keeps them.
ALTER TABLE matriculas ADD COLUMN IF NOT EXISTS aulas_concluidas INTEGER NOT NULL DEFAULT 0; -- summary
ALTER TABLE matriculas ADD COLUMN IF NOT EXISTS ultima_conclusao TIMESTAMPTZ; -- summary: latest
ALTER TABLE matriculas ADD COLUMN IF NOT EXISTS ultima_aula_id UUID; -- summary: lesson of the latest

-- Recompute the summary of the given enrolments from progresso_aulas (set-based).
CREATE OR REPLACE FUNCTION resumir_progresso(ids UUID[]) RETURNS void LANGUAGE sql AS $$
    WITH alvo AS (SELECT DISTINCT unnest(ids) AS id),
    agregado AS (
        SELECT DISTINCT ON (pa.matricula_id) pa.matricula_id,
               count(*) OVER (PARTITION BY pa.matricula_id) AS n,
               pa.data_conclusao AS ultima, pa.aula_id AS aula
          FROM progresso_aulas pa JOIN alvo ON alvo.id = pa.matricula_id
         ORDER BY pa.matricula_id, pa.data_conclusao DESC NULLS LAST, pa.aula_id DESC)
    UPDATE matriculas m
       SET aulas_concluidas = coalesce(a.n, 0), ultima_conclusao = a.ultima,
           ultima_aula_id = a.aula
      FROM alvo LEFT JOIN agregado a ON a.matricula_id = alvo.id
     WHERE m.id = alvo.id
       AND (m.aulas_concluidas, m.ultima_conclusao, m.ultima_aula_id)
           IS DISTINCT FROM (coalesce(a.n, 0), a.ultima, a.aula);
$$;

-- Statement triggers (transition tables): one recomputation per statement, not per row.
CREATE OR REPLACE FUNCTION progresso_resumo_novas() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM resumir_progresso(ARRAY(SELECT DISTINCT matricula_id FROM novas));
    RETURN NULL;
END $$;
-- The same for deleted rows (an enrolment losing a lesson).
CREATE OR REPLACE FUNCTION progresso_resumo_antigas() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM resumir_progresso(ARRAY(SELECT DISTINCT matricula_id FROM antigas));
    RETURN NULL;
END $$;
-- Inserted lessons (sync, postback, COPY).
CREATE OR REPLACE TRIGGER tg_progresso_resumo_insert AFTER INSERT ON progresso_aulas
    REFERENCING NEW TABLE AS novas FOR EACH STATEMENT EXECUTE FUNCTION progresso_resumo_novas();
-- Changed completion dates (the sync's upsert).
CREATE OR REPLACE TRIGGER tg_progresso_resumo_update AFTER UPDATE ON progresso_aulas
    REFERENCING NEW TABLE AS novas FOR EACH STATEMENT EXECUTE FUNCTION progresso_resumo_novas();
-- Deleted lessons.
CREATE OR REPLACE TRIGGER tg_progresso_resumo_delete AFTER DELETE ON progresso_aulas
    REFERENCING OLD TABLE AS antigas FOR EACH STATEMENT EXECUTE FUNCTION progresso_resumo_antigas();

-- Once, when this version arrives on a database that already has progress: fill the summary.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM schema_versao WHERE versao = 8) THEN
        PERFORM resumir_progresso(ARRAY(SELECT DISTINCT matricula_id FROM progresso_aulas));
    END IF;
END $$;

-- Stalled enrolments: active ones by their latest completion (dashboards, triggers).
CREATE INDEX IF NOT EXISTS ix_matriculas_ultima_conclusao ON matriculas (ultima_conclusao);
-- aula_liberada: enrolments of a product that started on a given day (a range per lesson).
CREATE INDEX IF NOT EXISTS ix_matriculas_produto_inicio ON matriculas (produto_id, data_inicio);

-- ---- Version 9: health-score snapshot and per-module progress -------------------------------
-- The score of every ATIVO enrolment as the last 'saude' job computed it (after each Hotmart
-- sync, hourly with the rules job, or `python -m services.cli saude`). Home's distribution and
-- at-risk list read it instead of scoring 200,000+ enrolments per view; a student's profile and
-- the rule filter still score live. The job's end time (jobs) is the snapshot's time.
CREATE TABLE IF NOT EXISTS saude_instantaneo (
    matricula_id UUID PRIMARY KEY REFERENCES matriculas(id) ON DELETE CASCADE,
    aluno_id UUID NOT NULL REFERENCES alunos(id) ON DELETE CASCADE,
    produto_id UUID NOT NULL REFERENCES produtos(id) ON DELETE CASCADE,
    score SMALLINT NOT NULL CHECK (score BETWEEN 0 AND 100),
    calculado_em TIMESTAMPTZ NOT NULL DEFAULT NOW() -- when this row's score last changed
);
CREATE INDEX IF NOT EXISTS ix_saude_instantaneo_score ON saude_instantaneo (score); -- lowest first
CREATE INDEX IF NOT EXISTS ix_saude_instantaneo_produto ON saude_instantaneo (produto_id, score); -- Home's products
CREATE INDEX IF NOT EXISTS ix_saude_instantaneo_aluno_id ON saude_instantaneo (aluno_id); -- FK

-- Completed lessons per enrolment and module: the module funnel (Home, Progresso) reads these
-- instead of grouping a product's ~800,000 progresso_aulas rows. Kept like the v8 summary.
CREATE TABLE IF NOT EXISTS progresso_modulos (
    modulo_id UUID NOT NULL REFERENCES modulos(id) ON DELETE CASCADE,
    matricula_id UUID NOT NULL REFERENCES matriculas(id) ON DELETE CASCADE,
    aulas_concluidas INTEGER NOT NULL, -- lessons of this module the enrolment completed (> 0)
    PRIMARY KEY (modulo_id, matricula_id)
);
CREATE INDEX IF NOT EXISTS ix_progresso_modulos_matricula_id ON progresso_modulos (matricula_id); -- FK

-- Recompute the per-module counts of the given enrolments from progresso_aulas (set-based).
CREATE OR REPLACE FUNCTION resumir_modulos(ids UUID[]) RETURNS void LANGUAGE sql AS $$
    WITH alvo AS (SELECT DISTINCT unnest(ids) AS id),
    atual AS (
        SELECT a.modulo_id, pa.matricula_id, count(*)::int AS n
          FROM progresso_aulas pa
          JOIN alvo ON alvo.id = pa.matricula_id
          JOIN aulas a ON a.id = pa.aula_id
         GROUP BY 1, 2),
    removidas AS (
        DELETE FROM progresso_modulos pm USING alvo
         WHERE pm.matricula_id = alvo.id
           AND NOT EXISTS (SELECT 1 FROM atual
                            WHERE atual.modulo_id = pm.modulo_id
                              AND atual.matricula_id = pm.matricula_id))
    INSERT INTO progresso_modulos AS pm (modulo_id, matricula_id, aulas_concluidas)
    SELECT modulo_id, matricula_id, n FROM atual
    ON CONFLICT (modulo_id, matricula_id) DO UPDATE SET aulas_concluidas = EXCLUDED.aulas_concluidas
     WHERE pm.aulas_concluidas <> EXCLUDED.aulas_concluidas;
$$;

-- The v8 trigger functions, now keeping both summaries (same triggers, replaced bodies). New
-- and changed rows must complete a lesson of the enrolment's own product (the mirror joins them
-- by product): with that invariant the funnels count a lesson's rows without joining matriculas.
CREATE OR REPLACE FUNCTION progresso_resumo_novas() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ids UUID[] := ARRAY(SELECT DISTINCT matricula_id FROM novas);
BEGIN
    IF EXISTS (SELECT 1 FROM novas n
                 JOIN matriculas m ON m.id = n.matricula_id
                 JOIN aulas a ON a.id = n.aula_id
                 JOIN modulos mo ON mo.id = a.modulo_id
                WHERE mo.produto_id <> m.produto_id) THEN
        RAISE EXCEPTION 'progresso_aulas: a aula não é do produto da matrícula'
            USING ERRCODE = 'check_violation';
    END IF;
    PERFORM resumir_progresso(ids);
    PERFORM resumir_modulos(ids);
    RETURN NULL;
END $$;
-- The same for deleted rows.
CREATE OR REPLACE FUNCTION progresso_resumo_antigas() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ids UUID[] := ARRAY(SELECT DISTINCT matricula_id FROM antigas);
BEGIN
    PERFORM resumir_progresso(ids);
    PERFORM resumir_modulos(ids);
    RETURN NULL;
END $$;

-- A lesson moved to another module (the sync's upsert of aulas): recount its enrolments.
CREATE OR REPLACE FUNCTION aulas_modulo_alterado() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM resumir_modulos(ARRAY(
        SELECT DISTINCT pa.matricula_id
          FROM novas n JOIN antigas o ON o.id = n.id
          JOIN progresso_aulas pa ON pa.aula_id = n.id
         WHERE n.modulo_id IS DISTINCT FROM o.modulo_id));
    RETURN NULL;
END $$;
-- Statement trigger on aulas (transition tables: one pass per statement).
CREATE OR REPLACE TRIGGER tg_aulas_modulo_alterado AFTER UPDATE ON aulas
    REFERENCING OLD TABLE AS antigas NEW TABLE AS novas
    FOR EACH STATEMENT EXECUTE FUNCTION aulas_modulo_alterado();

-- Once, when this version arrives on a database that already has progress: fill the counts.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM schema_versao WHERE versao = 9) THEN
        PERFORM resumir_modulos(ARRAY(SELECT DISTINCT matricula_id FROM progresso_aulas));
    END IF;
END $$;

-- Student search by name, whatever the accents and case: the trigram index on the folded name
-- selects a few rows ("maria conceição" used to recheck 36,000 rows of a regex with accent classes).
CREATE OR REPLACE FUNCTION texto_busca(valor TEXT) RETURNS TEXT
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT lower(translate(valor,
        'áàâãäÁÀÂÃÄéèêëÉÈÊËíìîïÍÌÎÏóòôõöÓÒÔÕÖúùûüÚÙÛÜçÇñÑ',
        'aaaaaAAAAAeeeeEEEEiiiiIIIIoooooOOOOOuuuuUUUUcCnN'))
$$;
CREATE INDEX IF NOT EXISTS ix_alunos_nome_busca
    ON alunos USING gin (texto_busca(nome) gin_trgm_ops); -- search by name without accents

-- ---- Version 10: reprocessing of webhook events ----------------------------------------------

-- Processing attempts of a raw event: the first at delivery, then one per reprocessing run.
ALTER TABLE eventos_webhook ADD COLUMN IF NOT EXISTS tentativas INTEGER NOT NULL DEFAULT 0;
-- When an event that failed for a transient reason is tried again; NULL = nothing to retry
-- (applied, invalid payload, or given up after the last attempt).
ALTER TABLE eventos_webhook ADD COLUMN IF NOT EXISTS reprocessar_em TIMESTAMPTZ;
CREATE INDEX IF NOT EXISTS ix_eventos_webhook_reprocessar ON eventos_webhook (reprocessar_em)
    WHERE reprocessar_em IS NOT NULL; -- the reprocessing job's queue
-- Once: events that failed before this version with an internal error ("OperationalError: ...";
-- invalid payloads are stored with a pt-BR reason instead) are queued for reprocessing.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM schema_versao WHERE versao = 10) THEN
        UPDATE eventos_webhook SET reprocessar_em = now(), tentativas = 1
         WHERE processado_em IS NOT NULL AND payload IS NOT NULL
           AND erro ~ '^[A-Z][A-Za-z0-9_.]*: ';
    END IF;
END $$;

-- ---- Version 11: tag renames carried to Chatwoot ---------------------------------------------

-- The label key of a tag's former name (services.alunos.editar_tag). The Chatwoot sync renames
-- that account label (pendente) and reads the old title on contacts as the renamed tag, so the
-- old name never comes back from Chatwoot as a new tag (services.chatwoot_labels).
CREATE TABLE IF NOT EXISTS chatwoot_tags_renomeadas (
    chave_antiga TEXT PRIMARY KEY,
    tag_id INTEGER NOT NULL REFERENCES tags(id) ON DELETE CASCADE,
    pendente BOOLEAN NOT NULL DEFAULT true, -- the old account label is still to be renamed
    criado_em TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS ix_chatwoot_tags_renomeadas_tag_id
    ON chatwoot_tags_renomeadas (tag_id); -- FK

-- Current schema version (bump when an addition lands).
INSERT INTO schema_versao (versao) VALUES (1), (2), (3), (4), (5), (6), (7), (8), (9), (10), (11)
    ON CONFLICT (versao) DO NOTHING;
