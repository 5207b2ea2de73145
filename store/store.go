package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Store persists Records. Every method is safe for concurrent use, and every
// Record passed in or returned is a deep copy.
type Store interface {
	// Load returns the record for key, or an error wrapping ErrNotFound.
	Load(ctx context.Context, key string) (Record, error)

	// Save writes rec if the stored version of rec.Key equals expectVersion
	// (0 = the key must not exist yet) and returns the saved record, in
	// normalized form (see Record.Normalize), with its new Version and
	// UpdatedAt. rec.Version and rec.UpdatedAt are ignored.
	//
	// If the stored version differs, Save writes nothing and returns a
	// *ConflictError (which matches ErrConflict with errors.Is) carrying the
	// current version. Save is atomic, and durable when it returns nil: the
	// record survives a crash or power loss from then on. Callers rely on
	// this to save a rotated refresh token before handing out the new access
	// token.
	Save(ctx context.Context, rec Record, expectVersion int64) (Record, error)

	// Delete removes key. Deleting an absent key is not an error.
	Delete(ctx context.Context, key string) error

	// List returns every record, sorted by key (byte order). If some
	// records cannot be read (their tokens are corrupt or sealed with a key
	// the store lacks), List returns all the others together with an
	// *UnreadableError naming those it skipped: one bad row must not hide
	// the rest. Any other error returns no records.
	List(ctx context.Context) ([]Record, error)
}

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

// CheckSave validates Save's arguments for implementations of Store: the
// record (see Record.Validate) and a non-negative expectVersion.
func CheckSave(rec Record, expectVersion int64) error {
	if err := rec.Validate(); err != nil {
		return err
	}
	if expectVersion < 0 {
		return fmt.Errorf("%w: expected version %d of %q is negative", ErrInvalidRecord, expectVersion, rec.Key)
	}
	return nil
}
