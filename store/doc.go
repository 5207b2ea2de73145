// Package store persists Twitch credentials: the app access token and each
// user's grant, as Records behind the small Store interface (Load, a
// compare-and-swap Save, Delete, List). It also owns the encryption of tokens
// at rest (Cipher, key parsing and key files) and the in-memory store
// (NewMemory). Database-backed stores live in sub-packages (store/sqlite;
// store/postgres to follow), and every implementation must pass the contract
// suite in store/storetest.
//
// This package must not know about OAuth flows, refreshing or Twitch's HTTP
// API: it stores what the Provider (package twitchauth) gives it and returns
// it unchanged. It must not log, and its errors never contain a token or a
// key.
//
// # Keys
//
// A record's key holds the application's client ID and the subject:
// GrantKey(clientID, AppKey()) is "<client id>/app", GrantKey(clientID,
// UserKey(id)) is "<client id>/user:<id>" — GrantKey is the one place keys
// are made. Two applications sharing a store therefore keep their grants
// apart. Records written under the older keys ("app", "user:<id>") are
// moved to their client's keys by the database stores when they open
// (LegacyKeyTarget).
//
// # One bad record
//
// List returns every record it can read; those it cannot (corrupt, or
// sealed with a key the store lacks) are named by an *UnreadableError
// returned with them (ErrUnreadable), so that one bad row never hides the
// others. Nothing is deleted: an operator restores the key or removes the
// record. A database store refuses to open with a key that opens none of
// its tokens (ErrKeyMismatch), and never creates a key file for a database
// that already holds tokens (ErrKeyFileMissing).
//
// # Versions and compare-and-swap
//
// Every successful Save gives the record a new Version, and Save only writes
// when the caller names the version it last read (0 for "does not exist
// yet"); otherwise it returns a *ConflictError (errors.Is(err, ErrConflict))
// carrying the current version, and writes nothing. Several goroutines or
// processes can therefore share a store: when a refresh races another, the
// loser reloads and uses the winner's rotated tokens instead of overwriting
// them. Save is durable when it returns nil, so a rotated refresh token can be
// saved before the new access token is handed out.
//
// Deviation from the first sketch of this interface, deliberately: versions
// come from a store-wide counter instead of counting per key. They still
// increase on every Save of a key, and additionally a key that is deleted and
// created again never repeats a version an older reader may still hold. With
// per-key counters, a Provider that loaded version 3, was slow, and saved with
// expectVersion 3 after the user's grant had been deleted and re-created
// (and saved twice more) would silently overwrite the new grant (the ABA
// problem).
//
// Other additions to the sketch, each for a reason: ConflictError (the
// current version, via errors.As, without a second Load); ErrInvalidRecord and
// Record.Validate (one rule set for every store, including PostgreSQL's limits
// on text: no NUL bytes, valid UTF-8); ErrClosed (stores are io.Closers);
// Record's String, GoString and LogValue methods redact tokens, so printing
// or logging a Record never leaks one. The store does not enforce that an
// intent names a single subject; the Provider owns that rule.
//
// # Canonical form
//
// Every store returns records in the form Record.Normalize produces: times in
// UTC, without monotonic clock reading, truncated to microseconds
// (TimePrecision, what PostgreSQL keeps); empty Scopes and Intents as nil (nil
// and empty mean the same, so test with len). Records are deep-copied in and
// out: changing a returned slice never changes the store. Record.Validate
// lists what a store refuses (ErrInvalidRecord).
//
// # Encryption at rest
//
// Database stores seal AccessToken and RefreshToken with a Cipher:
// AES-256-GCM, a random 96-bit nonce per value, and associated data binding
// each value to its record key and field name, so a ciphertext copied to
// another row or column fails to open (ErrCorrupt) instead of yielding
// another user's token. The sealed format is
//
//	0x01 | key id (4) | nonce (12) | ciphertext | tag (16)
//
// The first byte versions the format; the key id (the first 4 bytes of a
// SHA-256 of the key, which reveals nothing about it) selects the key, so a
// Cipher can hold a new primary key and the previous ones during a rotation:
// values are re-sealed with the primary key on their next Save. A value
// sealed with a key the Cipher lacks fails with ErrWrongKey, never with
// garbage.
//
// Keys are 32 random bytes, given as raw bytes (NewCipher), as base64 or hex
// text (ParseEncryptionKey), in the environment variable
// TWITCHAUTH_ENCRYPTION_KEY (CipherFromEnv; "new,old" for a rotation), or in a
// key file created on first use with mode 0600 (LoadOrCreateKeyFile). A key
// file readable by group or others is refused (ErrInsecureKeyFile) with the
// chmod command that fixes it.
//
// Encryption protects copies of the database (backups, a stolen disk image,
// a support bundle); it cannot protect against someone who can read both the
// database and the key, so keep the key file beside the database only when
// that suits your threat model, and use the environment variable or a secret
// manager otherwise.
package store
