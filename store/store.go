package store

import (
	"context"
	"fmt"
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
