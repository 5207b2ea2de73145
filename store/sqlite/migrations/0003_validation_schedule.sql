-- The validation schedule (store.ValidationClaimer): for each record, when it
-- was last validated by any process (Unix microseconds; the smallest integer,
-- -9223372036854775808, = never: NOT NULL, so that "due" is one range of the
-- index below) and the
-- claim of the process validating it now, if any (claimed_by, lapsing at
-- claim_until). A narrow table beside tokens, so that claiming and marking
-- do not rewrite the sealed token rows.
CREATE TABLE validation_schedule (
	key          TEXT NOT NULL PRIMARY KEY,
	validated_at INTEGER NOT NULL,
	claimed_by   TEXT,
	claim_until  INTEGER
) STRICT;

CREATE INDEX validation_schedule_due ON validation_schedule (validated_at, key);

INSERT INTO validation_schedule (key, validated_at) SELECT key, COALESCE(last_validated, -9223372036854775808) FROM tokens;

-- A record created by Save starts its schedule with its last_validated; a
-- deleted record takes its schedule with it, a moved one takes it along.
CREATE TRIGGER tokens_schedule_insert AFTER INSERT ON tokens BEGIN
	INSERT OR IGNORE INTO validation_schedule (key, validated_at) VALUES (NEW.key, COALESCE(NEW.last_validated, -9223372036854775808));
END;

CREATE TRIGGER tokens_schedule_delete AFTER DELETE ON tokens BEGIN
	DELETE FROM validation_schedule WHERE key = OLD.key;
END;

-- A record moved to another key (rekey.go) takes its schedule along.
CREATE TRIGGER tokens_schedule_rekey AFTER UPDATE OF key ON tokens BEGIN
	UPDATE validation_schedule SET key = NEW.key WHERE key = OLD.key;
END;
