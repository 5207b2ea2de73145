package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/sqlite"
	"github.com/twitchauth/twitchauth/store/storetest"
)

// rawDB opens the database file directly, bypassing the store, as an
// attacker with a copy of the file (or a buggy tool) would.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func readAll(t *testing.T, path string) []byte {
	t.Helper()
	var all []byte
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		b, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

func TestNoPlaintextTokensOnDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.db")
	s := open(t, path)
	const (
		access  = "ACCESSTOKEN-plaintext-marker-8f2b1c"
		refresh = "REFRESHTOKEN-plaintext-marker-4d9e7a"
	)
	var saved []store.Record
	for i := range 20 {
		rec := storetest.Sample(store.GrantKey(sampleClient, store.UserKey(fmt.Sprint(i))))
		rec.AccessToken = fmt.Sprintf("%s-%d", access, i)
		rec.RefreshToken = fmt.Sprintf("%s-%d", refresh, i)
		saved = append(saved, mustSave(t, s, rec, 0))
	}
	// Rotate: the old tokens must not linger in plain text either.
	for i, rec := range saved {
		rec.AccessToken = fmt.Sprintf("%s-rotated-%d", access, i)
		rec.RefreshToken = fmt.Sprintf("%s-rotated-%d", refresh, i)
		mustSave(t, s, rec, rec.Version)
	}
	check := func(when string) {
		raw := readAll(t, path)
		if len(raw) == 0 {
			t.Fatalf("%s: read no bytes", when)
		}
		for _, marker := range []string{access, refresh, "ACCESSTOKEN", "REFRESHTOKEN"} {
			if bytes.Contains(raw, []byte(marker)) {
				t.Fatalf("%s: the database files contain the plaintext %q", when, marker)
			}
		}
		// The scan works: non-secret fields are there in the clear.
		if !bytes.Contains(raw, []byte("twitchdev")) {
			t.Fatalf("%s: login not found in the raw bytes; is the scan reading the right files?", when)
		}
	}
	check("with the WAL")
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Fatalf("no -wal file while open (is WAL mode on?): %v", err)
	}
	s.Close()
	check("after close (checkpointed)")
}

func TestFileModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes do not describe access on Windows")
	}
	dir := filepath.Join(t.TempDir(), "state", "twitchauth")
	path := filepath.Join(dir, "tokens.db")
	t.Setenv(store.EnvEncryptionKey, "") // use the default key file
	s, err := sqlite.Open(t.Context(), path, sqlite.Config{Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustSave(t, s, storetest.Sample(kApp), 0)
	checkMode(t, dir, 0o700)
	for _, p := range []string{path, path + "-wal", path + "-shm", path + ".key"} {
		checkMode(t, p, 0o600)
	}
}

func TestLooseDatabaseModeIsTightened(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes do not describe access on Windows")
	}
	path := filepath.Join(t.TempDir(), "tokens.db")
	s := open(t, path)
	mustSave(t, s, storetest.Sample(kApp), 0)
	s.Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	s = open(t, path, withLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	checkMode(t, path, 0o600)
	if !strings.Contains(logs.String(), "restricted database file mode") {
		t.Errorf("tightening the mode was not logged; logs:\n%s", logs.String())
	}
	mustLoad(t, s, kApp)
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %04o, want %04o", filepath.Base(path), got, want)
	}
}

func TestReopenKeepsDataAndMigratesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.db")
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	s := open(t, path, withLogger(logger))
	if !strings.Contains(logs.String(), "applied schema migration") {
		t.Fatalf("first Open logged no migration:\n%s", logs.String())
	}
	saved := mustSave(t, s, storetest.Sample(k1), 0)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	migrationRows := func() []string {
		rows, err := rawDB(t, path).Query(`SELECT version || ':' || name || ':' || applied_at FROM schema_migrations ORDER BY version`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			rows.Scan(&s)
			out = append(out, s)
		}
		return out
	}
	before := migrationRows()
	if len(before) == 0 {
		t.Fatal("schema_migrations is empty")
	}

	for i := range 3 {
		logs.Reset()
		s = open(t, path, withLogger(logger))
		if strings.Contains(logs.String(), "applied schema migration") {
			t.Fatalf("reopen %d applied a migration again:\n%s", i, logs.String())
		}
		got := mustLoad(t, s, k1)
		if got.Version != saved.Version || got.RefreshToken != saved.RefreshToken {
			t.Fatalf("reopen %d: record = version %d, want %d with the same refresh token", i, got.Version, saved.Version)
		}
		// The version counter survives too: no version is reused.
		next := mustSave(t, s, got, got.Version)
		if next.Version <= got.Version {
			t.Fatalf("version after reopen went from %d to %d", got.Version, next.Version)
		}
		saved = next
		s.Close()
	}
	if after := migrationRows(); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("schema_migrations changed on reopen: %q → %q", before, after)
	}
}

func TestConcurrentOpenOfNewFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.db")
	const n = 6
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			s, err := sqlite.Open(t.Context(), path, sqlite.Config{Key: store.KeyConfig{Key: testKey}, Logger: discard()})
			if err != nil {
				errs <- err
				return
			}
			_, err = s.List(t.Context())
			errs <- errors.Join(err, s.Close())
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Open: %v", err)
		}
	}
	var count, distinct int
	if err := rawDB(t, path).QueryRow(`SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_migrations`).Scan(&count, &distinct); err != nil {
		t.Fatal(err)
	}
	if count == 0 || count != distinct {
		t.Fatalf("schema_migrations has %d rows for %d versions", count, distinct)
	}
}

func TestSchemaTooNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.db")
	open(t, path).Close()
	if _, err := rawDB(t, path).Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)`); err != nil {
		t.Fatal(err)
	}
	_, err := sqlite.Open(t.Context(), path, sqlite.Config{Key: store.KeyConfig{Key: testKey}})
	if !errors.Is(err, sqlite.ErrSchemaTooNew) || !strings.Contains(err.Error(), "upgrade") {
		t.Fatalf("Open = %v, want ErrSchemaTooNew telling to upgrade", err)
	}
}

func TestWrongKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.db")
	s := open(t, path)
	mustSave(t, s, storetest.Sample(k1), 0)
	s.Close()

	// A key that opens none of the database's tokens is refused at Open,
	// with the key ids and what to do.
	other := []byte("ffffffffffffffffffffffffffffffff")
	_, err := sqlite.Open(t.Context(), path, sqlite.Config{Key: store.KeyConfig{Key: other}, Logger: discard()})
	if !errors.Is(err, store.ErrKeyMismatch) {
		t.Fatalf("Open with the wrong key = %v, want ErrKeyMismatch", err)
	}
	msg := err.Error()
	for _, leak := range []string{string(testKey), string(other), store.EncodeKey(testKey), store.EncodeKey(other), "refresh-"} {
		if strings.Contains(msg, leak) {
			t.Fatalf("error %q leaks a secret", msg)
		}
	}
	oc, _ := store.NewCipher(other)
	tc, _ := store.NewCipher(testKey)
	for _, want := range []string{oc.KeyID(), tc.KeyID(), "backup", "1 encrypted tokens"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}

	// Rotation: the new key as primary and the old one as previous reads the
	// old record and re-encrypts it with the new key on the next Save.
	s = open(t, path, withKey(other, testKey))
	rec := mustLoad(t, s, k1)
	mustSave(t, s, rec, rec.Version)
	s.Close()
	s = open(t, path, withKey(other))
	if got := mustLoad(t, s, k1); got.RefreshToken != rec.RefreshToken {
		t.Fatalf("after rotation the record reads %q", got.RefreshToken)
	}
}

// One record sealed with a foreign key, among records that open, is
// isolated: Load of it fails with ErrWrongKey naming it, List returns the
// others with an *UnreadableError naming it, and nothing is deleted.
func TestForeignKeyRowIsIsolated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.db")
	other := []byte("ffffffffffffffffffffffffffffffff")
	s := open(t, path)
	mustSave(t, s, storetest.Sample(k1), 0)
	mustSave(t, s, storetest.Sample(k3), 0)
	s.Close()
	s = open(t, path, withKey(other, testKey)) // seals with other
	mustSave(t, s, storetest.Sample(k2), 0)
	s.Close()

	s = open(t, path) // testKey only: k2 does not open
	if _, err := s.Load(t.Context(), k2); !errors.Is(err, store.ErrWrongKey) || !strings.Contains(err.Error(), k2) {
		t.Fatalf("Load of the foreign row = %v, want ErrWrongKey naming it", err)
	}
	recs, err := s.List(t.Context())
	var ue *store.UnreadableError
	if !errors.As(err, &ue) || !errors.Is(err, store.ErrUnreadable) || !errors.Is(err, store.ErrWrongKey) {
		t.Fatalf("List = %v, want an *UnreadableError matching ErrUnreadable and ErrWrongKey", err)
	}
	if len(ue.Records) != 1 || ue.Records[0].Key != k2 {
		t.Fatalf("unreadable records %+v, want just %s", ue.Records, k2)
	}
	if len(recs) != 2 || recs[0].Key != k1 || recs[1].Key != k3 {
		t.Fatalf("List returned %d records %v, want the two readable ones", len(recs), recs)
	}
	mustLoad(t, s, k1)
	var n int
	if err := rawDB(t, path).QueryRow(`SELECT count(*) FROM tokens`).Scan(&n); err != nil || n != 3 {
		t.Fatalf("%d rows (%v): something was deleted", n, err)
	}
}

// A row whose content no Save writes (a list column that is not JSON, say)
// is isolated the same way, as ErrCorrupt.
func TestCorruptRowIsIsolated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.db")
	s := open(t, path)
	mustSave(t, s, storetest.Sample(k1), 0)
	mustSave(t, s, storetest.Sample(k2), 0)
	if _, err := rawDB(t, path).Exec(`UPDATE tokens SET intents = '["chat"' WHERE key = ?`, k2); err == nil {
		t.Fatal("the CHECK constraint let broken JSON in") // STRICT + json_type: expected to refuse
	}
	// Bytes that are not a sealed value at all.
	if _, err := rawDB(t, path).Exec(`UPDATE tokens SET refresh_token = x'00' WHERE key = ?`, k2); err != nil {
		t.Fatal(err)
	}
	recs, err := s.List(t.Context())
	if !errors.Is(err, store.ErrCorrupt) || len(recs) != 1 || recs[0].Key != k1 {
		t.Fatalf("List = %d records, %v; want k1 and ErrCorrupt for k2", len(recs), err)
	}
	s.Close()
	// The database still opens (one token of k1 opens with the key).
	s = open(t, path)
	mustLoad(t, s, k1)
}

// A key file deleted beside a database that holds tokens: Open names the
// missing file, says to restore it from backup, and creates no new key.
func TestMissingKeyFileIsNotReplaced(t *testing.T) {
	t.Setenv(store.EnvEncryptionKey, "")
	dir := t.TempDir()
	path := filepath.Join(dir, "broker.db")
	s, err := sqlite.Open(t.Context(), path, sqlite.Config{Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	mustSave(t, s, storetest.Sample(k1), 0)
	s.Close()
	if err := os.Remove(path + ".key"); err != nil {
		t.Fatal(err)
	}
	for attempt := range 2 { // the second start says the same: nothing was created
		_, err := sqlite.Open(t.Context(), path, sqlite.Config{Logger: discard()})
		if !errors.Is(err, store.ErrKeyFileMissing) || !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("attempt %d: Open = %v, want ErrKeyFileMissing", attempt, err)
		}
		for _, want := range []string{path + ".key", "backup", "1 tokens"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("attempt %d: error %q does not say %q", attempt, err, want)
			}
		}
		if _, serr := os.Stat(path + ".key"); !errors.Is(serr, fs.ErrNotExist) {
			t.Fatalf("attempt %d: a new key file was created beside a database holding tokens", attempt)
		}
	}
	// An explicit key file path behaves alike.
	_, err = sqlite.Open(t.Context(), path, sqlite.Config{Key: store.KeyConfig{File: filepath.Join(dir, "elsewhere.key")}, Logger: discard()})
	if !errors.Is(err, store.ErrKeyFileMissing) || !strings.Contains(err.Error(), "elsewhere.key") {
		t.Fatalf("Open with a missing explicit key file = %v", err)
	}
	// An empty database may still get a new key.
	empty := filepath.Join(dir, "empty.db")
	if s, err := sqlite.Open(t.Context(), empty, sqlite.Config{Logger: discard()}); err != nil {
		t.Fatalf("a new database could not create its key: %v", err)
	} else {
		s.Close()
	}
}

// Records stored under the keys of the older form ("app", "user:<id>")
// move to their client's grant keys when the store opens, tokens sealed
// again under the new key; one that cannot be read stays where it is.
func TestLegacyKeysMoveToGrantKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.db")
	// A database as version 1 of the schema left it.
	writeLegacy(t, path, testKey, []store.Record{
		legacyRecord("app", "clientA"),
		legacyRecord("user:1", "clientA"),
		legacyRecord("user:2", "clientB"),
	})
	// One more, sealed with a key the store will not hold.
	writeLegacy(t, path, []byte("ffffffffffffffffffffffffffffffff"), []store.Record{legacyRecord("user:3", "clientA")})

	var logs bytes.Buffer
	s := open(t, path, withLogger(slog.New(slog.NewTextHandler(&logs, nil))))
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
	want := []string{"clientA/app", "clientA/user:1", "clientB/user:2"}
	if strings.Join(keys, ",") != strings.Join(want, ",") {
		t.Fatalf("keys after Open: %v, want %v", keys, want)
	}
	if !strings.Contains(logs.String(), "moved records") || !strings.Contains(logs.String(), "cannot be read and was not moved") {
		t.Errorf("the move was not logged:\n%s", logs.String())
	}
	var schema int
	if err := rawDB(t, path).QueryRow(`SELECT max(version) FROM schema_migrations`).Scan(&schema); err != nil || schema < 2 {
		t.Fatalf("schema version %d (%v), want 2 or more: older programs must refuse the moved keys", schema, err)
	}
	s.Close()
	// Idempotent: a second Open moves nothing more and reads the same.
	s = open(t, path)
	again, _ := s.List(t.Context())
	if len(again) != 3 || again[1].Version != recs[1].Version {
		t.Fatalf("second Open changed the records: %v", again)
	}
}

func legacyRecord(key, clientID string) store.Record {
	r := storetest.Sample(key)
	r.ClientID = clientID
	r.AccessToken, r.RefreshToken = "access-"+key, "refresh-"+key
	return r
}

// writeLegacy writes recs into path as schema version 1 stored them: keys
// without the client ID, tokens sealed with key under those keys.
func writeLegacy(t *testing.T, path string, key []byte, recs []store.Record) {
	t.Helper()
	c, err := store.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	v1, err := os.ReadFile("migrations/0001_tokens.sql")
	if err != nil {
		t.Fatal(err)
	}
	var exists int
	db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'tokens'`).Scan(&exists)
	if exists == 0 {
		if _, err := db.Exec(string(v1)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT;
			INSERT INTO schema_migrations VALUES (1, 'tokens', 0)`); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range recs {
		access, refresh, err := c.SealTokens(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`UPDATE version_seq SET value = value + 1`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO tokens (key, version, client_id, user_id, login, access_token, refresh_token, token_type,
			scopes, expiry, intents, status, last_validated, updated_at)
			VALUES (?, (SELECT value FROM version_seq), ?, ?, ?, ?, ?, 'bearer', '[]', NULL, '[]', 'active', NULL, 1)`,
			r.Key, r.ClientID, r.UserID, r.Login, access, refresh); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTamperedCiphertext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.db")
	s := open(t, path)
	mustSave(t, s, storetest.Sample(k1), 0)
	mustSave(t, s, storetest.Sample(k2), 0)
	mustSave(t, s, storetest.Sample(k3), 0)
	raw := rawDB(t, path)

	// Flip one bit of the ciphertext.
	var blob []byte
	if err := raw.QueryRow(`SELECT access_token FROM tokens WHERE key = ?`, k1).Scan(&blob); err != nil {
		t.Fatal(err)
	}
	blob[len(blob)/2] ^= 0x10
	if _, err := raw.Exec(`UPDATE tokens SET access_token = ? WHERE key = ?`, blob, k1); err != nil {
		t.Fatal(err)
	}
	// Move a token to another row.
	if _, err := raw.Exec(`UPDATE tokens SET refresh_token = (SELECT refresh_token FROM tokens WHERE key = ?) WHERE key = ?`, k3, k2); err != nil {
		t.Fatal(err)
	}
	// Swap the two token columns of a row.
	if _, err := raw.Exec(`UPDATE tokens SET access_token = refresh_token, refresh_token = access_token WHERE key = ?`, k3); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{k1, k2, k3} {
		_, err := s.Load(t.Context(), key)
		if !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("Load(%s) of a tampered record = %v, want ErrCorrupt", key, err)
		}
	}
}

// Two handles on one file behave as two processes would: each sees the
// other's writes, and compare-and-swap holds across them.
func TestTwoHandlesCAS(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.db")
	a, b := open(t, path), open(t, path)
	ctx := t.Context()

	v1 := mustSave(t, a, storetest.Sample(k1), 0)
	if _, err := b.Save(ctx, storetest.Sample(k1), 0); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second create through another handle = %v, want ErrConflict", err)
	}
	fromB := mustLoad(t, b, k1)
	fromB.RefreshToken = "rotated-by-b"
	v2 := mustSave(t, b, fromB, v1.Version)
	stale := v1
	stale.RefreshToken = "stale-from-a"
	_, err := a.Save(ctx, stale, v1.Version)
	var ce *store.ConflictError
	if !errors.As(err, &ce) || ce.Current != v2.Version {
		t.Fatalf("stale save through a = %v, want a conflict naming version %d", err, v2.Version)
	}
	if got := mustLoad(t, a, k1); got.RefreshToken != "rotated-by-b" || got.Version != v2.Version {
		t.Fatalf("a reads %q version %d, want b's rotation", got.RefreshToken, got.Version)
	}

	// Race both handles: each round exactly one writer wins.
	cur := v2
	for round := range 4 {
		var wins, conflicts int
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := make(chan struct{})
		for w := range 20 {
			h := a
			if w%2 == 1 {
				h = b
			}
			wg.Go(func() {
				rec := cur.Clone()
				rec.AccessToken = fmt.Sprintf("r%d-w%d", round, w)
				<-start
				_, err := h.Save(ctx, rec, cur.Version)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, store.ErrConflict):
					conflicts++
				default:
					t.Errorf("round %d: %v", round, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if wins != 1 || conflicts != 19 {
			t.Fatalf("round %d: %d wins and %d conflicts, want 1 and 19", round, wins, conflicts)
		}
		cur = mustLoad(t, a, k1)
		if fromB := mustLoad(t, b, k1); fromB.Version != cur.Version || fromB.AccessToken != cur.AccessToken {
			t.Fatalf("round %d: handles disagree", round)
		}
	}
}

func TestCommittedBeforeReturn(t *testing.T) {
	// A Save that returned is visible to an independent connection at once:
	// it was committed, not buffered in the store.
	path := filepath.Join(t.TempDir(), "tokens.db")
	s := open(t, path)
	raw := rawDB(t, path)
	for i := range 5 {
		rec := mustSave(t, s, storetest.Sample(store.GrantKey(sampleClient, fmt.Sprintf("user:%d", i))), 0)
		var v int64
		if err := raw.QueryRow(`SELECT version FROM tokens WHERE key = ?`, rec.Key).Scan(&v); err != nil || v != rec.Version {
			t.Fatalf("independent reader sees version %d (%v), want %d", v, err, rec.Version)
		}
	}
}

func TestKeySources(t *testing.T) {
	ctx := t.Context()
	t.Run("env by default", func(t *testing.T) {
		t.Setenv(store.EnvEncryptionKey, store.EncodeKey(testKey))
		path := filepath.Join(t.TempDir(), "tokens.db")
		s, err := sqlite.Open(ctx, path, sqlite.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := os.Stat(path + ".key"); !os.IsNotExist(err) {
			t.Errorf("a key file was created although %s is set", store.EnvEncryptionKey)
		}
		want, _ := store.NewCipher(testKey)
		if s.KeyID() != want.KeyID() {
			t.Errorf("store does not use the key from the environment")
		}
	})
	t.Run("key file by default", func(t *testing.T) {
		t.Setenv(store.EnvEncryptionKey, "")
		path := filepath.Join(t.TempDir(), "tokens.db")
		var logs bytes.Buffer
		s, err := sqlite.Open(ctx, path, sqlite.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		mustSave(t, s, storetest.Sample(kApp), 0)
		s.Close()
		if !strings.Contains(logs.String(), "back it up") {
			t.Errorf("creating the key file was not logged with advice:\n%s", logs.String())
		}
		key, err := store.ReadKeyFile(path + ".key")
		if err != nil {
			t.Fatal(err)
		}
		s = open(t, path, withKey(key)) // the same key, given explicitly
		mustLoad(t, s, kApp)
	})
	t.Run("explicit key file", func(t *testing.T) {
		t.Setenv(store.EnvEncryptionKey, store.EncodeKey(testKey))
		dir := t.TempDir()
		kf := filepath.Join(dir, "secrets", "k")
		s, err := sqlite.Open(ctx, filepath.Join(dir, "db"), sqlite.Config{Key: store.KeyConfig{File: kf}, Logger: discard()})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		if _, err := os.Stat(kf); err != nil {
			t.Fatalf("WithKeyFile did not create %s: %v", kf, err)
		}
	})
	t.Run("insecure key file", func(t *testing.T) {
		if runtime.GOOS == "windows" {
			t.Skip("file modes do not describe access on Windows")
		}
		t.Setenv(store.EnvEncryptionKey, "")
		path := filepath.Join(t.TempDir(), "tokens.db")
		os.WriteFile(path+".key", []byte(store.EncodeKey(testKey)), 0o600)
		os.Chmod(path+".key", 0o644)
		_, err := sqlite.Open(ctx, path, sqlite.Config{})
		if !errors.Is(err, store.ErrInsecureKeyFile) || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("Open with a world-readable key file = %v, want ErrInsecureKeyFile with the fix", err)
		}
	})
	t.Run("env required but unset", func(t *testing.T) {
		t.Setenv(store.EnvEncryptionKey, "")
		_, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"), sqlite.Config{Key: store.KeyConfig{FromEnv: true}})
		if !errors.Is(err, store.ErrInvalidKey) || !strings.Contains(err.Error(), store.EnvEncryptionKey) {
			t.Fatalf("Open = %v, want an error naming %s", err, store.EnvEncryptionKey)
		}
	})
	t.Run("bad explicit key", func(t *testing.T) {
		_, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"), sqlite.Config{Key: store.KeyConfig{Key: []byte("short")}})
		if !errors.Is(err, store.ErrInvalidKey) {
			t.Fatalf("Open = %v, want ErrInvalidKey", err)
		}
	})
}

func TestOpenRejectsNonFilePaths(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db?mode=memory"} {
		if _, err := sqlite.Open(t.Context(), p, sqlite.Config{Key: store.KeyConfig{Key: testKey}}); err == nil {
			t.Errorf("Open(%q) succeeded, want an error", p)
		}
	}
}

func TestPathWithSpecialCharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dir with spaces & ?#%", "tök€ns.db")
	s := open(t, path)
	mustSave(t, s, storetest.Sample(kApp), 0)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not created at the literal path: %v", err)
	}
	if s.Path() != path {
		t.Errorf("Path() = %q, want %q", s.Path(), path)
	}
}

// sampleClient is storetest.Sample's client ID; the keys below are its
// grant keys, the form every store key takes.
const sampleClient = "hof5gwx0su6owfnys0yan9c87zr6t"

var (
	kApp = store.GrantKey(sampleClient, store.AppKey())
	k1   = store.GrantKey(sampleClient, store.UserKey("1"))
	k2   = store.GrantKey(sampleClient, store.UserKey("2"))
	k3   = store.GrantKey(sampleClient, store.UserKey("3"))
)

func mustSave(t testing.TB, s store.Store, rec store.Record, expect int64) store.Record {
	t.Helper()
	got, err := s.Save(context.Background(), rec, expect)
	if err != nil {
		t.Fatalf("Save(%q, %d): %v", rec.Key, expect, err)
	}
	return got
}

func mustLoad(t testing.TB, s store.Store, key string) store.Record {
	t.Helper()
	got, err := s.Load(context.Background(), key)
	if err != nil {
		t.Fatalf("Load(%q): %v", key, err)
	}
	return got
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
