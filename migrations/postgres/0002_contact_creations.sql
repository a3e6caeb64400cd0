-- Contact creates keyed by the caller's Idempotency-Key, so a retried request
-- never creates a contact twice. Requests without a key store no row.
CREATE TABLE contact_creations (
    brokerage_id TEXT NOT NULL,
    user_email TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    -- SHA-256 of the canonical request body, to detect a reused key with another body.
    request_hash TEXT NOT NULL,
    -- creating | created | failed (nothing created) | unknown (Google may have created it)
    status TEXT NOT NULL,
    -- People resource name (`people/c...`) once created.
    resource_name TEXT,
    error_code TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (brokerage_id, user_email, idempotency_key),
    FOREIGN KEY (brokerage_id, user_email) REFERENCES users (brokerage_id, email) ON DELETE CASCADE
);
