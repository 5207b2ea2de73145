package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/twitchauth/twitchauth/internal/pgtest"
	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/postgres"
	"github.com/twitchauth/twitchauth/store/storetest"
)

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// The token columns hold only sealed values: no plaintext token reaches the
// server.
func TestNoPlaintextTokenInTheTable(t *testing.T) {
	url := pgtest.Start(t)
	s := open(t, url)
	rec := storetest.Sample(store.UserKey("141981764"))
	rec.AccessToken = "plain-access-token-0123456789"
	rec.RefreshToken = "plain-refresh-token-0123456789"
	if _, err := s.Save(t.Context(), rec, 0); err != nil {
		t.Fatal(err)
	}
	conn := connect(t, url)
	var access, refresh []byte
	var dump string
	if err := conn.QueryRow(t.Context(), `SELECT access_token, refresh_token, t::text FROM tokens t WHERE key = $1`, rec.Key).
		Scan(&access, &refresh, &dump); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{rec.AccessToken, rec.RefreshToken} {
		if bytes.Contains(access, []byte(secret)) || bytes.Contains(refresh, []byte(secret)) || strings.Contains(dump, secret) {
			t.Fatalf("a plaintext token is stored in the row")
		}
	}
	if len(access) != len(rec.AccessToken)+store.SealOverhead || access[0] != 0x01 {
		t.Errorf("access_token column is %d bytes starting %#x, want a sealed value of %d bytes",
			len(access), access[0], len(rec.AccessToken)+store.SealOverhead)
	}
	// The sealed values are bound to their row: swapped columns fail to open.
	if _, err := conn.Exec(t.Context(), `UPDATE tokens SET access_token = refresh_token WHERE key = $1`, rec.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(t.Context(), rec.Key); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("Load of a swapped column = %v, want ErrCorrupt", err)
	}
}

func TestOpenRequiresAKey(t *testing.T) {
	url := pgtest.Start(t)
	t.Setenv(store.EnvEncryptionKey, "")
	_, err := postgres.Open(t.Context(), url, postgres.Config{Logger: discard()})
	if !errors.Is(err, postgres.ErrNoKey) || !strings.Contains(err.Error(), store.EnvEncryptionKey) {
		t.Fatalf("Open without a key = %v, want ErrNoKey naming %s", err, store.EnvEncryptionKey)
	}
	// The environment variable is used when no option is given.
	t.Setenv(store.EnvEncryptionKey, store.EncodeKey(testKey))
	s, err := postgres.Open(t.Context(), url, postgres.Config{Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	saved, err := s.Save(t.Context(), storetest.Sample("c/app"), 0)
	if err != nil {
		t.Fatal(err)
	}
	// Another key, which opens none of the tokens, is refused at Open, with
	// what to do and without quoting anything secret.
	_, err = postgres.Open(t.Context(), url, postgres.Config{Key: store.KeyConfig{Key: bytes.Repeat([]byte{7}, 32)}, Logger: discard()})
	if !errors.Is(err, store.ErrKeyMismatch) || strings.Contains(err.Error(), saved.AccessToken) || !strings.Contains(err.Error(), "backup") {
		t.Fatalf("Open with another key = %v, want ErrKeyMismatch", err)
	}
	// With the other key as the primary and the first as a previous one,
	// it opens; a record sealed with a key it lacks is isolated.
	both := open(t, url, withKey(bytes.Repeat([]byte{7}, 32), testKey))
	if _, err := both.Save(t.Context(), storetest.Sample("c/user:9"), 0); err != nil {
		t.Fatal(err)
	}
	old := open(t, url, withKey(testKey))
	if _, err := old.Load(t.Context(), "c/user:9"); !errors.Is(err, store.ErrWrongKey) {
		t.Fatalf("Load of the record sealed with a key the store lacks = %v, want ErrWrongKey", err)
	}
	recs, err := old.List(t.Context())
	var ue *store.UnreadableError
	if !errors.As(err, &ue) || len(ue.Records) != 1 || ue.Records[0].Key != "c/user:9" || len(recs) != 1 || recs[0].Key != "c/app" {
		t.Fatalf("List = %v, %v; want the readable record and c/user:9 named unreadable", recs, err)
	}
}

// Records under the keys of the older form move to their client's grant
// keys when a store opens, sealed again; an unreadable one stays.
func TestLegacyKeysMoveToGrantKeys(t *testing.T) {
	url := pgtest.Start(t)
	open(t, url) // the schema
	conn := connect(t, url)
	seal := func(key []byte, rec store.Record) {
		c, err := store.NewCipher(key)
		if err != nil {
			t.Fatal(err)
		}
		access, refresh, err := c.SealTokens(rec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(t.Context(), `INSERT INTO tokens (key, version, client_id, user_id, login, access_token, refresh_token,
	token_type, scopes, intents, status, updated_at) VALUES ($1, nextval('version_seq'), $2, '', '', $3, $4, 'bearer', '{}', '{}', 'active', now())`,
			rec.Key, rec.ClientID, access, refresh); err != nil {
			t.Fatal(err)
		}
	}
	rec := func(key, client string) store.Record {
		return store.Record{Key: key, ClientID: client, AccessToken: "access-" + key, RefreshToken: "refresh-" + key}
	}
	seal(testKey, rec("app", "clientA"))
	seal(testKey, rec("user:1", "clientA"))
	seal(testKey, rec("user:2", "clientB"))
	seal(bytes.Repeat([]byte{9}, 32), rec("user:3", "clientA"))

	s := open(t, url)
	recs, err := s.List(t.Context())
	var ue *store.UnreadableError
	if !errors.As(err, &ue) || len(ue.Records) != 1 || ue.Records[0].Key != "user:3" {
		t.Fatalf("List: %v; want user:3 unreadable and left in place", err)
	}
	var keys []string
	for _, r := range recs {
		keys = append(keys, r.Key)
		if _, subject, _ := store.SplitGrantKey(r.Key); r.RefreshToken != "refresh-"+subject {
			t.Errorf("%s: refresh token %q did not survive the move", r.Key, r.RefreshToken)
		}
	}
	if want := "clientA/app,clientA/user:1,clientB/user:2"; strings.Join(keys, ",") != want {
		t.Fatalf("keys after Open: %v, want %s", keys, want)
	}
	again, _ := open(t, url).List(t.Context())
	if len(again) != 3 || again[0].Version != recs[0].Version {
		t.Fatalf("a second Open changed the records: %v", again)
	}
}

func TestOpenRefusesABadURLWithoutQuotingIt(t *testing.T) {
	_, err := postgres.Open(t.Context(), "postgres://u:s3cretpass@127.0.0.1:notaport/db", postgres.Config{Key: store.KeyConfig{Key: testKey}})
	if err == nil || strings.Contains(err.Error(), "s3cretpass") {
		t.Fatalf("Open with a bad URL = %v, want an error without the password", err)
	}
}

// Five replicas opening a new database at once apply each migration once.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	url := pgtest.Start(t)
	var wg sync.WaitGroup
	stores := make([]*postgres.Store, 5)
	errs := make([]error, 5)
	start := make(chan struct{})
	for i := range stores {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = postgres.Open(t.Context(), url, postgres.Config{Key: store.KeyConfig{Key: testKey}, Logger: discard()})
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	conn := connect(t, url)
	var n, distinct int
	if err := conn.QueryRow(t.Context(), `SELECT count(*), count(DISTINCT version) FROM schema_migrations`).Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	files, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	if n != len(files) || distinct != len(files) {
		t.Fatalf("schema_migrations has %d rows (%d versions), want each of the %d migrations once", n, distinct, len(files))
	}
	// Every handle works on the one schema.
	for i, s := range stores {
		if _, err := s.Save(t.Context(), storetest.Sample(fmt.Sprintf("user:%d", i)), 0); err != nil {
			t.Fatalf("store %d: %v", i, err)
		}
	}
	if list, err := stores[0].List(t.Context()); err != nil || len(list) != len(stores) {
		t.Fatalf("List = %d records, %v; want %d", len(list), err, len(stores))
	}
}

func TestSchemaTooNew(t *testing.T) {
	url := pgtest.Start(t)
	open(t, url)
	if _, err := connect(t, url).Exec(t.Context(), `INSERT INTO schema_migrations (version, name) VALUES (999, 'future')`); err != nil {
		t.Fatal(err)
	}
	_, err := postgres.Open(t.Context(), url, postgres.Config{Key: store.KeyConfig{Key: testKey}, Logger: discard()})
	if !errors.Is(err, postgres.ErrSchemaTooNew) {
		t.Fatalf("Open = %v, want ErrSchemaTooNew", err)
	}
}

// 20 goroutines on each of two store handles (two replicas) take the same
// lease over and over: never two holders at once, and everyone gets it.
func TestLeaseExclusiveUnderContention(t *testing.T) {
	url := pgtest.Start(t)
	a, b := open(t, url), open(t, url)
	const perHandle, rounds = 20, 3
	var (
		holders  atomic.Int32
		maxSeen  atomic.Int32
		acquired atomic.Int32
		wg       sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for _, s := range []*postgres.Store{a, b} {
		for range perHandle {
			wg.Go(func() {
				for range rounds {
					release, err := s.Lease(ctx, "user:contended", 10*time.Second)
					if err != nil {
						t.Errorf("Lease: %v", err)
						return
					}
					n := holders.Add(1)
					if n > maxSeen.Load() {
						maxSeen.Store(n)
					}
					time.Sleep(time.Millisecond) // hold it a little
					holders.Add(-1)
					acquired.Add(1)
					release()
				}
			})
		}
	}
	wg.Wait()
	if m := maxSeen.Load(); m != 1 {
		t.Fatalf("%d holders at once, want 1", m)
	}
	if got, want := acquired.Load(), int32(2*perHandle*rounds); got != want {
		t.Fatalf("%d leases taken, want %d", got, want)
	}
	// Leases on other keys are independent.
	r1, err := a.Lease(ctx, "user:x", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer r1()
	r2, err := b.Lease(ctx, "user:y", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	r2()
}

// A holder that dies without releasing (here: a handle whose lease is never
// released) blocks the others only until the ttl lapses.
func TestLeaseLapsesWhenTheHolderDies(t *testing.T) {
	url := pgtest.Start(t)
	dead, alive := open(t, url), open(t, url, withLeasePoll(50*time.Millisecond))
	const ttl = 700 * time.Millisecond
	if _, err := dead.Lease(t.Context(), "user:1", ttl); err != nil {
		t.Fatal(err)
	}
	taken := time.Now()
	dead.Close() // never released

	// While it is held, a waiter gives up when its context ends.
	short, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := alive.Lease(short, "user:1", ttl); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lease on a held key = %v, want context.DeadlineExceeded", err)
	}
	release, err := alive.Lease(t.Context(), "user:1", ttl)
	if err != nil {
		t.Fatal(err)
	}
	waited := time.Since(taken)
	t.Logf("lease taken over %v after the dead holder took it (ttl %v)", waited.Round(time.Millisecond), ttl)
	if waited < ttl-50*time.Millisecond { // the database's clock and ours may differ by a little
		t.Fatalf("lease taken over after %v, before the ttl %v lapsed", waited, ttl)
	}
	// A late release by a former holder does not free the new holder's lease.
	conn := connect(t, url)
	var holders int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM leases WHERE key = 'user:1' AND expires_at > clock_timestamp()`).Scan(&holders); err != nil || holders != 1 {
		t.Fatalf("%d live leases (%v), want 1", holders, err)
	}
	release()
	release() // idempotent
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM leases`).Scan(&holders); err != nil || holders != 0 {
		t.Fatalf("%d lease rows after release (%v), want 0", holders, err)
	}
}

// A released lease wakes a waiter at once (NOTIFY), long before its poll.
func TestLeaseReleaseWakesWaiter(t *testing.T) {
	url := pgtest.Start(t)
	a, b := open(t, url), open(t, url, withLeasePoll(time.Hour))
	release, err := a.Lease(t.Context(), "app", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan time.Duration, 1)
	go func() {
		r, err := b.Lease(t.Context(), "app", time.Hour)
		if err != nil {
			t.Error(err)
			got <- -1
			return
		}
		r()
		got <- 0
	}()
	time.Sleep(300 * time.Millisecond) // b is waiting (and listening) by now
	released := time.Now()
	release()
	select {
	case <-got:
		t.Logf("waiter woken %v after the release", time.Since(released).Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		t.Fatal("the waiter was not woken by the release (its poll is an hour)")
	}
}

// Watch reports the keys saved and deleted through another handle (another
// replica), and by hand with SQL.
func TestWatchSeesOtherHandlesChanges(t *testing.T) {
	url := pgtest.Start(t)
	watcher, writer := open(t, url), open(t, url)
	keys := make(chan string, 16)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- watcher.Watch(ctx, func(k string) { keys <- k }) }()

	expect := func(want string) {
		t.Helper()
		select {
		case k := <-keys:
			if k != want {
				t.Fatalf("Watch reported %q, want %q", k, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Watch did not report %q", want)
		}
	}
	// Watch listens asynchronously and says "" once the LISTEN is live
	// (store.Watcher): from then on no change is missed.
	expect("")
	first := storetest.Sample("user:1")
	saved, err := writer.Save(t.Context(), first, 0)
	if err != nil {
		t.Fatal(err)
	}
	expect("user:1")
	if _, err := writer.Save(t.Context(), storetest.Sample("user:ünïcode 2"), 0); err != nil {
		t.Fatal(err)
	}
	expect("user:ünïcode 2")
	// A conflicting save changes nothing and reports nothing.
	if _, err := writer.Save(t.Context(), first, saved.Version-1); !errors.Is(err, store.ErrConflict) {
		t.Fatal(err)
	}
	if err := writer.Delete(t.Context(), "user:1"); err != nil {
		t.Fatal(err)
	}
	expect("user:1")
	if err := writer.Delete(t.Context(), "user:absent"); err != nil {
		t.Fatal(err)
	}
	if _, err := connect(t, url).Exec(t.Context(), `DELETE FROM tokens WHERE key = 'user:ünïcode 2'`); err != nil {
		t.Fatal(err)
	}
	expect("user:ünïcode 2")
	select {
	case k := <-keys:
		t.Fatalf("unexpected report %q", k)
	case <-time.After(100 * time.Millisecond):
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Watch returned %v after cancel, want context.Canceled", err)
	}
}

// Watch returns an error when its connection is killed, and ErrClosed when
// the store is closed.
func TestWatchEndsWhenTheConnectionBreaks(t *testing.T) {
	url := pgtest.Start(t)
	s := open(t, url)
	done := make(chan error, 1)
	go func() { done <- s.Watch(t.Context(), func(string) {}) }()
	conn := connect(t, url)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var killed int
		err := conn.QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN%'`).Scan(&killed)
		if err != nil {
			t.Fatal(err)
		}
		if killed > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no listening session found")
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case err := <-done:
		if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, store.ErrClosed) {
			t.Fatalf("Watch returned %v after its connection was killed, want a connection error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return after its connection was killed")
	}

	go func() { done <- s.Watch(context.Background(), func(string) {}) }()
	time.Sleep(100 * time.Millisecond)
	s.Close()
	select {
	case err := <-done:
		if !errors.Is(err, store.ErrClosed) {
			t.Fatalf("Watch returned %v after Close, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return after Close")
	}
}

// Versions come from one sequence: interleaved saves of different keys on
// different handles get distinct, increasing versions.
func TestVersionsAreStoreWide(t *testing.T) {
	url := pgtest.Start(t)
	a, b := open(t, url), open(t, url)
	var versions []int64
	for i := range 6 {
		s := a
		if i%2 == 1 {
			s = b
		}
		r, err := s.Save(t.Context(), storetest.Sample(fmt.Sprintf("user:%d", i)), 0)
		if err != nil {
			t.Fatal(err)
		}
		versions = append(versions, r.Version)
	}
	if !slices.IsSorted(versions) || len(slices.Compact(slices.Clone(versions))) != len(versions) {
		t.Fatalf("versions %v are not distinct and increasing", versions)
	}
}
