package store

import (
	"context"
	"time"
)

// Leaser is implemented by stores shared by several processes (replicas of
// a broker) that can grant a short exclusive lease on a key. The Provider
// takes the lease of a subject before renewing its token, so that exactly one
// process refreshes a grant at a time: the others wait for the lease, then
// find the renewed token in the store and adopt it. This matters because
// refresh tokens rotate and, for public clients, are single-use: two
// processes refreshing the same grant at once can revoke it.
//
// A lease expires after ttl even if its holder dies without releasing it, so
// that another process can take over.
type Leaser interface {
	// Lease blocks until it holds the lease on key (or ctx ends) and returns
	// a function that releases it. The lease lapses by itself after ttl.
	Lease(ctx context.Context, key string, ttl time.Duration) (release func(), err error)
}

// Watcher is implemented by stores that tell their clients when another
// process changed or deleted a record, so that caches stay coherent: no
// replica keeps serving a token that another one replaced or revoked.
type Watcher interface {
	// Watch calls changed with the key of every record saved or deleted by
	// any process (possibly including this one) until ctx ends. Once the
	// notification channel is live, Watch calls changed with "" (once per
	// call): changes committed before that moment are not reported, so the
	// caller reloads everything then. Watch returns when ctx ends or the
	// notification channel fails; the caller should then reload everything,
	// since changes may have been missed.
	Watch(ctx context.Context, changed func(key string)) error
}
