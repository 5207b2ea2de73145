// Package sqlite is the embedded default store.Store: one SQLite database
// file, through modernc.org/sqlite (pure Go, no cgo).
//
// It owns the database file, its schema and migrations, and the mapping of
// store.Record to rows. It must not decide anything about tokens: validation
// rules, the canonical form and encryption come from package store, and the
// refresh logic from the Provider.
//
// # Durability and concurrency
//
// The database runs in WAL mode with synchronous=FULL: a Save that returns nil
// has been committed and fsynced (with F_FULLFSYNC on macOS, where a plain
// fsync does not flush the drive's cache), so a rotated refresh token
// survives a crash or power loss. On a local SSD a Save costs about as much as one fsync (see
// BenchmarkSave). Transactions begin IMMEDIATE and wait up to the busy timeout
// for the write lock, so several goroutines and several processes can share
// the file; Save is one compare-and-swap UPDATE ... WHERE key = ? AND
// version = ? (or an INSERT for version 0) in a transaction, and a loser gets
// a *store.ConflictError with the current version. Do not put the file on a
// network file system: SQLite's locking is unreliable there, and Open fails if
// WAL mode cannot be enabled.
//
// # Files
//
// Open creates the parent directory (mode 0700) if missing and the database
// file with mode 0600; SQLite gives its -wal and -shm files the same mode. A
// database file found accessible to group or others is restricted to 0600
// (and a warning is logged). AccessToken and RefreshToken are sealed with a
// store.Cipher before they reach SQLite, so no plaintext token is ever written
// to the database, its WAL or its free pages. The key comes from an option,
// the TWITCHAUTH_ENCRYPTION_KEY environment variable, or by default the key
// file <database>.key, created on first use; without that key the tokens
// cannot be read, so back it up with the database.
//
// # Schema
//
// Two tables: tokens (one row per record; Scopes and Intents as JSON arrays,
// times as Unix microseconds, NULL for the zero time) and version_seq (the
// store-wide version counter, see package store). Migrations are SQL files
// embedded in the binary and recorded in schema_migrations; each is applied
// once, in its own transaction, also when several processes open a new file
// at once. Opening a database migrated by a newer version of this package
// fails with ErrSchemaTooNew instead of guessing.
package sqlite
