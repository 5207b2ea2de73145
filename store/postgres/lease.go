package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/twitchauth/twitchauth/store"
)

// releaseTimeout bounds the statement that releases a lease (release has no
// context); a lease that could not be released lapses at its expiry.
const releaseTimeout = 5 * time.Second

// Lease implements store.Leaser: it blocks until this process holds the
// lease on key, or ctx ends, and returns the function that releases it.
//
// The lease is a row in the leases table naming a random holder token and an
// expiry ttl from now by the database's clock (so replicas' clocks need not
// agree). It is taken with one INSERT … ON CONFLICT DO UPDATE … WHERE
// leases.expires_at < clock_timestamp(): it succeeds when no lease exists or
// the existing one has lapsed. A waiter is woken at once when the holder
// releases (release deletes the row, if still held by this holder, and
// notifies LeasesChannel) and otherwise checks again every lease poll
// interval (Config.LeasePoll), which is how it notices a holder that died.
//
// ttl must be longer than the work done under the lease: after ttl another
// process may take the lease although this one still runs. ttl counts from
// when the database granted the lease, a round trip before Lease returns,
// so leave a margin: the Provider bounds a renewal by its renew timeout
// (plus a quarter for the save) and asks for one and a half times it.
func (s *Store) Lease(ctx context.Context, key string, ttl time.Duration) (release func(), err error) {
	if err := store.ValidateKey(key); err != nil {
		return nil, err
	}
	if ttl < time.Millisecond {
		return nil, fmt.Errorf("postgres: lease ttl %v is too short", ttl)
	}
	holder := newHolder()
	var wake chan struct{}
	defer func() {
		if wake != nil {
			s.unwait(key, wake)
		}
	}()
	for {
		if err := s.usable(ctx); err != nil {
			return nil, err
		}
		ok, err := s.tryLease(ctx, key, holder, ttl)
		if err != nil {
			return nil, s.wrap(fmt.Sprintf("taking the lease on %q", key), err)
		}
		if ok {
			var once sync.Once
			return func() { once.Do(func() { s.release(key, holder) }) }, nil
		}
		if wake == nil {
			// Register before trying again, so that a release between our
			// try and our wait is not missed.
			wake = s.wait(key)
			continue
		}
		t := time.NewTimer(s.leasePoll)
		select {
		case <-wake:
		case <-t.C:
		case <-s.done:
		case <-ctx.Done():
		}
		t.Stop()
	}
}

func (s *Store) tryLease(ctx context.Context, key, holder string, ttl time.Duration) (bool, error) {
	var got string
	err := s.pool.QueryRow(ctx, `INSERT INTO leases (key, holder, expires_at)
VALUES ($1, $2, clock_timestamp() + $3 * interval '1 microsecond')
ON CONFLICT (key) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
	WHERE leases.expires_at < clock_timestamp()
RETURNING holder`, key, holder, ttl.Microseconds()).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return got == holder, nil
}

func (s *Store) release(key, holder string) {
	if s.closed.Load() {
		return // the lease lapses by itself
	}
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	_, err := s.pool.Exec(ctx, `WITH released AS (
	DELETE FROM leases WHERE key = $1 AND holder = $2 RETURNING key
)
SELECT pg_notify('`+LeasesChannel+`', key) FROM released`, key, holder)
	if err != nil && !s.closed.Load() {
		s.log.Warn("postgres store: could not release a lease; it lapses at its expiry", "key", key, "database", s.target, "err", err)
	}
}

func newHolder() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// wait registers a waiter for key's release and starts the listener if
// needed.
func (s *Store) wait(key string) chan struct{} {
	ch := make(chan struct{}, 1)
	s.lmu.Lock()
	defer s.lmu.Unlock()
	if s.waiters[key] == nil {
		s.waiters[key] = map[chan struct{}]struct{}{}
	}
	s.waiters[key][ch] = struct{}{}
	if !s.lstarted && !s.closed.Load() {
		s.lstarted = true
		s.bg.Add(1)
		go s.listenLeases()
	}
	return ch
}

func (s *Store) unwait(key string, ch chan struct{}) {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	delete(s.waiters[key], ch)
	if len(s.waiters[key]) == 0 {
		delete(s.waiters, key)
	}
}

// wakeAll wakes the waiters of key, or every waiter when key is "" (after
// the listener reconnected and may have missed releases).
func (s *Store) wakeAll(key string) {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	for k, ws := range s.waiters {
		if key != "" && k != key {
			continue
		}
		for ch := range ws {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

// listenLeases keeps one connection listening on LeasesChannel and wakes the
// waiters of each released key, until Close. When the connection fails it
// reconnects after a pause; meanwhile waiters fall back to polling.
func (s *Store) listenLeases() {
	defer s.bg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	for ctx.Err() == nil {
		err := s.listen(ctx, LeasesChannel, func(key string) { s.wakeAll(key) })
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("postgres store: lease listener failed; waiters poll until it reconnects", "database", s.target, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// listen runs LISTEN channel on a dedicated connection (outside the pool,
// which must not hold a listening session) and calls fn with each
// notification's payload until ctx ends or the connection fails. It calls fn
// with "" once it is listening, so that the caller can catch up on anything
// missed before.
func (s *Store) listen(ctx context.Context, channel string, fn func(payload string)) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("connecting to listen on %s: %w", channel, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return fmt.Errorf("LISTEN %s: %w", channel, err)
	}
	fn("")
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("waiting for notifications on %s: %w", channel, err)
		}
		if n.Channel == channel {
			fn(n.Payload)
		}
	}
}
