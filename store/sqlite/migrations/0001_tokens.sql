-- One row per store.Record. Token columns hold values sealed by store.Cipher
-- (format byte, key id, nonce, AES-256-GCM ciphertext and tag); no plaintext
-- token is ever written. Times are Unix microseconds (UTC); NULL = zero time.
CREATE TABLE tokens (
	key            TEXT    NOT NULL PRIMARY KEY,
	version        INTEGER NOT NULL CHECK (version > 0),
	client_id      TEXT    NOT NULL,
	user_id        TEXT    NOT NULL,
	login          TEXT    NOT NULL,
	access_token   BLOB    NOT NULL,
	refresh_token  BLOB    NOT NULL,
	token_type     TEXT    NOT NULL,
	scopes         TEXT    NOT NULL CHECK (json_type(scopes) = 'array'),
	expiry         INTEGER,
	intents        TEXT    NOT NULL CHECK (json_type(intents) = 'array'),
	status         TEXT    NOT NULL CHECK (status IN ('', 'active', 'revoked', 'dead')),
	last_validated INTEGER,
	updated_at     INTEGER NOT NULL
) STRICT;

-- The store-wide version counter: every successful Save takes the next value,
-- so a key that is deleted and created again never repeats a version that a
-- stale reader may still hold.
CREATE TABLE version_seq (
	id    INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	value INTEGER NOT NULL
) STRICT;

INSERT INTO version_seq (id, value) VALUES (1, 0);
