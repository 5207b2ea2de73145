// Package postgres is the store.Store for several processes — replicas of a
// broker — sharing one PostgreSQL database, through github.com/jackc/pgx/v5.
// Besides the Store contract it implements store.Leaser (one refresh per
// grant across replicas) and store.Watcher (replicas' caches follow each
// other's changes).
//
// It owns its tables (tokens, leases, schema_migrations), the sequence
// version_seq, the trigger that notifies changes, their migrations and the
// mapping of store.Record to rows. It must not decide anything about
// tokens: validation rules, the canonical form and encryption come from
// package store, and the refresh logic from the Provider. See
// docs/scale-out.md for a deployment recipe.
//
// # Encryption
//
// AccessToken and RefreshToken are sealed with a store.Cipher (AES-256-GCM,
// bound to the record key and field) before they reach the database; no
// plaintext token is sent to the server, written to its WAL or its backups.
// A key is required — from Config.Key (a store.KeyConfig) or the
// TWITCHAUTH_ENCRYPTION_KEY environment variable — and Open fails with
// ErrNoKey without one: unlike the SQLite store there is no key file created
// beside a server database, since every replica must use the same key.
//
// # Versions, durability and notifications
//
// Save is one statement: UPDATE … WHERE key = $1 AND version = $2, or an
// INSERT … ON CONFLICT DO NOTHING for version 0, the new version coming from
// the sequence version_seq (store-wide, never reused; see package store). A
// Save that finds another version returns a *store.ConflictError with the
// current one. Connections run with synchronous_commit on (switched on if
// the server or role default is off), so a Save that returned nil survives a
// server crash. A trigger on tokens sends NOTIFY twitchauth_records with the
// key of every inserted, updated or deleted row, in the writing transaction:
// listeners hear of a change only once it is committed.
//
// # Leases
//
// Lease takes a row in the leases table (key, holder, expires_at) with
// INSERT … ON CONFLICT DO UPDATE … WHERE leases.expires_at < clock_timestamp():
// it wins when no lease exists or the existing one lapsed. Expiry is by the
// database's clock, so replicas' clocks need not agree. Release deletes the
// row only if this holder (a random token per Lease call) still holds it, and
// notifies twitchauth_leases; waiters listen on that channel (one shared
// connection per Store) and also poll every DefaultLeasePoll, which is how a
// dead holder's lapse is noticed.
//
// A lease row with an expiry was chosen over a session advisory lock held on
// a dedicated connection: an advisory lock is released when its session
// ends, which covers a holder that crashed, but never while the holder's
// connection stays open — a holder that hangs while alive (a stuck
// upstream request, a paused VM, a deadlock) would block every replica's
// refresh of that grant forever. A lease row lapses after its ttl whatever
// the holder does, and needs no connection per lease. The cost is that ttl
// must exceed the work done under the lease, with a margin for the round
// trip between the database granting the lease and the holder hearing of
// it: the Provider bounds a renewal by its renew timeout (plus a quarter
// for the save) and passes one and a half times it as ttl.
//
// # Migrations
//
// The schema is SQL files embedded in the binary and recorded in
// schema_migrations. Open applies the pending ones in one transaction under
// pg_advisory_xact_lock, so replicas starting at once migrate exactly once.
// Opening a database migrated by a newer version fails with ErrSchemaTooNew.
//
// The tables live in the connection's default schema: give twitchauth a
// database of its own, or a schema of its own through the search_path
// parameter of the URL.
package postgres
