package store

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// Errors returned by stores; match them with errors.Is.
var (
	// ErrNotFound: no record has the key.
	ErrNotFound = errors.New("store: record not found")
	// ErrConflict: Save's expected version is not the stored one. The error
	// is a *ConflictError carrying the current version.
	ErrConflict = errors.New("store: version conflict")
	// ErrInvalidRecord: the key or a field of the record cannot be stored.
	ErrInvalidRecord = errors.New("store: invalid record")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store: closed")
	// ErrUnreadable: List skipped records it could not read. The error is
	// an *UnreadableError naming them.
	ErrUnreadable = errors.New("store: some stored records cannot be read")
)

// UnreadableRecord is a stored record that could not be read.
type UnreadableRecord struct {
	// Key is the record's key, which is stored in plain text.
	Key string
	// Err says why: it wraps ErrWrongKey (sealed with a key the store does
	// not hold), ErrCorrupt (damaged or tampered with), or a database error.
	Err error
}

// UnreadableError is returned by List, together with every record it
// could read, when some records could not be read. Nothing is deleted: an
// operator decides whether to restore the right key or remove the records.
// errors.Is(err, ErrUnreadable) reports true for it, and so does
// errors.Is(err, ErrWrongKey) or ErrCorrupt when a record failed that way.
type UnreadableError struct {
	Records []UnreadableRecord
}

// Error names the unreadable records and why.
func (e *UnreadableError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "store: %d stored record(s) cannot be read and were skipped (left in place)", len(e.Records))
	for i, r := range e.Records {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Records)-i)
			break
		}
		fmt.Fprintf(&b, "; %q: %v", r.Key, r.Err)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrUnreadable) true.
func (e *UnreadableError) Is(target error) bool { return target == ErrUnreadable }

// Unwrap returns the errors of the unreadable records.
func (e *UnreadableError) Unwrap() []error {
	out := make([]error, 0, len(e.Records))
	for _, r := range e.Records {
		out = append(out, r.Err)
	}
	return out
}

// ConflictError is returned by Save when the stored version is not the
// expected one. errors.Is(err, ErrConflict) reports true for it.
type ConflictError struct {
	Key      string // the record's key
	Expected int64  // the version Save was told to expect (0 = absent)
	Current  int64  // the version stored now (0 = absent)
}

// Error describes the conflict and what to do about it.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("store: version conflict on %q: expected version %d, current version is %d (reload and retry)",
		e.Key, e.Expected, e.Current)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// NotFoundError returns an error wrapping ErrNotFound that names key. Store
// implementations use it so that every store words the error alike.
func NotFoundError(key string) error {
	return fmt.Errorf("%w: %q", ErrNotFound, key)
}

// Encryption errors; match them with errors.Is. Their messages never include
// a plaintext or a key.
var (
	// ErrWrongKey: the value was sealed with a key this Cipher does not hold.
	ErrWrongKey = errors.New("store: value was encrypted with a different key")
	// ErrCorrupt: the value is malformed, was tampered with, or belongs to
	// another record or field.
	ErrCorrupt = errors.New("store: encrypted value is corrupt or was tampered with")
	// ErrInvalidKey: an encryption key is not 32 bytes or cannot be parsed.
	ErrInvalidKey = errors.New("store: invalid encryption key")
	// ErrInsecureKeyFile: a key file can be read or written by group or
	// others.
	ErrInsecureKeyFile = errors.New("store: insecure key file")
)

// Errors about the key of an existing database; match them with errors.Is.
var (
	// ErrKeyMismatch: a database holds encrypted tokens, but none was
	// sealed with a key the Cipher holds — the configured key is not this
	// database's.
	ErrKeyMismatch = errors.New("store: the encryption key is not this database's key")
	// ErrKeyFileMissing: the key file is gone while the database still
	// holds tokens sealed with its key. No new key is created for such a
	// database: it could not read them.
	ErrKeyFileMissing = errors.New("store: the encryption key file is missing")
)

// MissingKeyFileError is the error a store returns when the key file at
// keyPath does not exist but the database db already holds n encrypted
// tokens. It wraps ErrKeyFileMissing and fs.ErrNotExist.
func MissingKeyFileError(keyPath, db string, n int) error {
	return fmt.Errorf("%w: %s does not exist, but the database %s holds %d tokens encrypted with the key it held. "+
		"Restore that file from your backup (or set %s to the key); no new key was created, since it could not read them: %w",
		ErrKeyFileMissing, keyPath, db, n, EnvEncryptionKey, fs.ErrNotExist)
}

// ErrKeyConfig: a KeyConfig sets more than one source, or PreviousKeys
// without Key.
var ErrKeyConfig = errors.New("store: KeyConfig sets more than one key source (Cipher, Key, File, FromEnv)")
