-- 006_account.sql: the account lifecycle (spec §5b).
--
--   * users.tokens_valid_after: tokens issued before this instant (their
--     iat_ms claim, else iat) are refused. Set by a password change or
--     reset; every instance learns it through core/revocations.
--   * token_revocations.revoked_at: when a jti was revoked (logout), so
--     that every instance can fetch what is new since its last look.
--   * account_tokens: one-time tokens of the links sent by email (email
--     verification, password reset). Only a SHA-256 of each token is kept;
--     a token is bound to the address it was sent to, works once (using it
--     deletes it) and not after expires_at.

ALTER TABLE users ADD COLUMN tokens_valid_after timestamptz;
CREATE INDEX users_tokens_valid_after_idx ON users (tokens_valid_after)
    WHERE tokens_valid_after IS NOT NULL;

ALTER TABLE token_revocations ADD COLUMN revoked_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX token_revocations_revoked_at_idx ON token_revocations (revoked_at);

CREATE TABLE account_tokens (
    token_hash text PRIMARY KEY,          -- hex SHA-256 of the token
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text NOT NULL,
    email      text NOT NULL,             -- the address the link was sent to
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    CONSTRAINT account_tokens_purpose_check
        CHECK (purpose IN ('verify-email', 'reset-password')),
    CONSTRAINT account_tokens_hash_check CHECK (token_hash ~ '^[0-9a-f]{64}$')
);
CREATE INDEX account_tokens_user_id_idx ON account_tokens (user_id, purpose);
CREATE INDEX account_tokens_expires_at_idx ON account_tokens (expires_at);
