-- One row per store.Record. Token columns hold values sealed by store.Cipher
-- (format byte, key id, nonce, AES-256-GCM ciphertext and tag); no plaintext
-- token is ever written. The key collates as "C" (byte order), the order List
-- returns. NULL times stand for the zero time.
CREATE TABLE tokens (
	key            text COLLATE "C" NOT NULL PRIMARY KEY,
	version        bigint      NOT NULL CHECK (version > 0),
	client_id      text        NOT NULL,
	user_id        text        NOT NULL,
	login          text        NOT NULL,
	access_token   bytea       NOT NULL,
	refresh_token  bytea       NOT NULL,
	token_type     text        NOT NULL,
	scopes         text[]      NOT NULL,
	expiry         timestamptz,
	intents        text[]      NOT NULL,
	status         text        NOT NULL CHECK (status IN ('', 'active', 'revoked', 'dead')),
	last_validated timestamptz,
	updated_at     timestamptz NOT NULL
);

-- The store-wide version counter: every successful Save takes the next value,
-- so a key that is deleted and created again never repeats a version that a
-- stale reader may still hold. (A failed Save may use up a value: versions
-- increase, they need not be consecutive.)
CREATE SEQUENCE version_seq AS bigint MINVALUE 1;

-- Every committed insert, update or delete of a record notifies the channel
-- twitchauth_records with the record's key, in the writing transaction, so
-- that the other replicas reload it (store.Watcher). Being a trigger, it also
-- reports changes made by hand with psql.
CREATE FUNCTION twitchauth_notify_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		PERFORM pg_notify('twitchauth_records', OLD.key);
	ELSE
		PERFORM pg_notify('twitchauth_records', NEW.key);
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER tokens_notify AFTER INSERT OR UPDATE OR DELETE ON tokens
	FOR EACH ROW EXECUTE FUNCTION twitchauth_notify_record();

-- Refresh leases (store.Leaser): at most one row per key, naming the holder
-- (a random token per Lease call) and when the lease lapses, by the
-- database's clock. A lease whose expires_at has passed may be taken over.
CREATE TABLE leases (
	key        text COLLATE "C" NOT NULL PRIMARY KEY,
	holder     text        NOT NULL,
	expires_at timestamptz NOT NULL
);
