-- Initial schema. Timestamps are RFC 3339 text in UTC so that the same queries
-- run on SQLite and PostgreSQL through sqlx's Any driver; integers are 64-bit.

-- A customer brokerage: one Google Workspace, one service-account key at a time.
CREATE TABLE brokerages (
    id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    -- JSON array of lower-case mail domains.
    domains TEXT NOT NULL,
    test_user TEXT NOT NULL,
    -- Contacts scope chosen for this brokerage; NULL means the configured default.
    contacts_scope TEXT,
    -- none | unverified | verified | verification_failed | revoked
    credential_status TEXT NOT NULL DEFAULT 'none',
    last_verified_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Uploaded service-account keys, sealed with AES-256-GCM. Only metadata is clear.
CREATE TABLE credentials (
    brokerage_id TEXT NOT NULL REFERENCES brokerages (id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    -- active | pending | retired | revoked
    state TEXT NOT NULL,
    client_email TEXT NOT NULL,
    client_id TEXT NOT NULL,
    private_key_id TEXT NOT NULL,
    project_id TEXT,
    token_uri TEXT NOT NULL,
    public_key_fingerprint TEXT NOT NULL,
    master_key_id TEXT NOT NULL,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    uploaded_at TEXT NOT NULL,
    uploaded_by TEXT,
    activated_at TEXT,
    PRIMARY KEY (brokerage_id, version)
);

-- Enrolled agent mailboxes.
CREATE TABLE users (
    brokerage_id TEXT NOT NULL REFERENCES brokerages (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (brokerage_id, email)
);

-- API keys: only an HMAC-SHA256 of the secret is stored.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    -- admin | support | service
    role TEXT NOT NULL,
    brokerage_id TEXT REFERENCES brokerages (id) ON DELETE CASCADE,
    secret_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);

-- Mail sends, keyed for idempotent retries.
CREATE TABLE messages (
    brokerage_id TEXT NOT NULL,
    user_email TEXT NOT NULL,
    id TEXT NOT NULL,
    idempotency_key TEXT,
    -- SHA-256 of the canonical request body, to detect a reused key with another body.
    request_hash TEXT NOT NULL,
    -- sending | sent | failed (nothing sent) | unknown (Gmail may have sent it)
    status TEXT NOT NULL,
    gmail_message_id TEXT,
    gmail_thread_id TEXT,
    error_code TEXT,
    error_detail TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (brokerage_id, id),
    FOREIGN KEY (brokerage_id, user_email) REFERENCES users (brokerage_id, email) ON DELETE CASCADE
);

CREATE UNIQUE INDEX messages_idempotency_key
    ON messages (brokerage_id, user_email, idempotency_key);

-- Credential verification reports; `report` is the JSON report.
CREATE TABLE verifications (
    brokerage_id TEXT NOT NULL REFERENCES brokerages (id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    credential_version INTEGER,
    test_user TEXT NOT NULL,
    -- verified | verification_failed
    outcome TEXT NOT NULL,
    api_key_id TEXT,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    report TEXT NOT NULL,
    PRIMARY KEY (brokerage_id, id)
);

CREATE INDEX verifications_newest ON verifications (brokerage_id, started_at);

-- Credential events. Kept when a brokerage is deleted, so no foreign key.
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    brokerage_id TEXT NOT NULL,
    at TEXT NOT NULL,
    api_key_id TEXT,
    -- upload | verify | rotate | revoke | reencrypt
    action TEXT NOT NULL,
    outcome TEXT NOT NULL,
    -- JSON object with non-secret details such as the credential version.
    detail TEXT NOT NULL
);

CREATE INDEX audit_log_brokerage ON audit_log (brokerage_id, at);
