-- The fleet's validation schedule (store.ValidationClaimer): for each record,
-- when the fleet last validated it ('-infinity' = never: NOT NULL, so that
-- "due" is one range of the index below) and the claim of the replica
-- validating it now, if any (claimed_by, lapsing at claim_until). A narrow
-- table beside tokens, so that claiming and marking neither rewrite the
-- sealed token rows nor fire the tokens_notify trigger (no reload on other
-- replicas), nor wait on a Save's row lock. Times are the replicas' clocks.
CREATE TABLE validation_schedule (
	key          text COLLATE "C" NOT NULL PRIMARY KEY REFERENCES tokens (key) ON DELETE CASCADE ON UPDATE CASCADE,
	validated_at timestamptz NOT NULL,
	claimed_by   text,
	claim_until  timestamptz
);

-- ClaimDue walks the due rows longest-unvalidated first, and stops after a
-- batch: one range scan of this index.
CREATE INDEX validation_schedule_due ON validation_schedule (validated_at, key);

INSERT INTO validation_schedule (key, validated_at) SELECT key, COALESCE(last_validated, '-infinity') FROM tokens;

-- A record created by Save starts its schedule with its last_validated.
CREATE FUNCTION twitchauth_schedule_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO validation_schedule (key, validated_at) VALUES (NEW.key, COALESCE(NEW.last_validated, '-infinity'))
		ON CONFLICT (key) DO NOTHING;
	RETURN NULL;
END
$$;

CREATE TRIGGER tokens_schedule AFTER INSERT ON tokens
	FOR EACH ROW EXECUTE FUNCTION twitchauth_schedule_record();

-- Statistics now, so that the planner walks validation_schedule_due from the
-- first claim on a large table, before autovacuum's first ANALYZE.
ANALYZE validation_schedule;
