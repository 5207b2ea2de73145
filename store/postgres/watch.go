package postgres

import (
	"context"

	"github.com/twitchauth/twitchauth/store"
)

// Watch implements store.Watcher: it listens on RecordsChannel on a
// dedicated connection and calls changed with the key of every record saved
// or deleted by any process — this one included, and changes made by hand
// with SQL too (a trigger sends the notifications, in the writing
// transaction, so they arrive only once the change is committed). Calls to
// changed are made one at a time, in commit order; a slow changed delays the
// following ones but loses none while the connection lasts.
//
// Once the LISTEN took effect, Watch calls changed with "" (as
// store.Watcher says): changes committed before that moment are not
// reported, so reload the records then, and again when Watch returns. Watch
// returns when ctx ends (ctx's error), when the store is closed
// (store.ErrClosed), or when the connection fails (an error saying so); the
// caller should then reload everything and call Watch again.
func (s *Store) Watch(ctx context.Context, changed func(key string)) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.done:
			cancel()
		case <-lctx.Done():
		}
	}()
	err := s.listen(lctx, RecordsChannel, changed)
	if s.closed.Load() {
		return store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.wrap("watching records", err)
}
