package store_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/twitchauth/twitchauth/store"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	k, err := store.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newCipher(t *testing.T, primary []byte, previous ...[]byte) *store.Cipher {
	t.Helper()
	c, err := store.NewCipher(primary, previous...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const secret = "refresh-5b93chm6hdve3mycz05zfzatkfdenfspp1h1ar2xxdalen01"

func TestCipherRoundTrip(t *testing.T) {
	c := newCipher(t, newKey(t))
	for _, pt := range []string{"", "x", secret, strings.Repeat("☃", 5000)} {
		sealed, err := c.Seal("user:1", "refresh_token", []byte(pt))
		if err != nil {
			t.Fatal(err)
		}
		if len(sealed) != len(pt)+store.SealOverhead {
			t.Errorf("sealed %d bytes into %d, want overhead %d", len(pt), len(sealed), store.SealOverhead)
		}
		if len(pt) >= 8 && bytes.Contains(sealed, []byte(pt)) { // shorter ones can occur by chance
			t.Fatal("sealed value contains the plaintext")
		}
		got, err := c.Open("user:1", "refresh_token", sealed)
		if err != nil || string(got) != pt {
			t.Fatalf("Open = %q, %v; want the plaintext back", got, err)
		}
	}
}

func TestCipherFreshNoncePerValue(t *testing.T) {
	c := newCipher(t, newKey(t))
	a, _ := c.Seal("app", "access_token", []byte(secret))
	b, _ := c.Seal("app", "access_token", []byte(secret))
	if bytes.Equal(a, b) {
		t.Fatal("sealing the same value twice gave the same bytes: nonce reused")
	}
	if bytes.Equal(a[5:17], b[5:17]) {
		t.Fatal("nonce reused")
	}
}

func TestCipherFormat(t *testing.T) {
	c := newCipher(t, newKey(t))
	sealed, _ := c.Seal("app", "access_token", []byte(secret))
	if sealed[0] != 0x01 {
		t.Errorf("format byte = %#x, want 0x01", sealed[0])
	}
	if got := hex.EncodeToString(sealed[1:5]); got != c.KeyID() {
		t.Errorf("key id in value = %s, KeyID() = %s", got, c.KeyID())
	}
}

func TestCipherBindsRecordAndField(t *testing.T) {
	c := newCipher(t, newKey(t))
	sealed, _ := c.Seal("user:1", "access_token", []byte(secret))
	for _, tc := range []struct{ key, field string }{
		{"user:2", "access_token"},  // swapped between rows
		{"user:1", "refresh_token"}, // swapped between fields
		{"user:", "1access_token"},  // boundary shifted between key and field
	} {
		_, err := c.Open(tc.key, tc.field, sealed)
		if !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("Open as %s/%s = %v, want ErrCorrupt", tc.key, tc.field, err)
		}
	}
}

func TestCipherTampered(t *testing.T) {
	c := newCipher(t, newKey(t))
	sealed, _ := c.Seal("user:1", "access_token", []byte(secret))
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x01
		_, err := c.Open("user:1", "access_token", bad)
		if err == nil {
			t.Fatalf("flipping a bit of byte %d went unnoticed", i)
		}
		if !errors.Is(err, store.ErrCorrupt) && !errors.Is(err, store.ErrWrongKey) {
			t.Fatalf("byte %d: error %v is neither ErrCorrupt nor ErrWrongKey", i, err)
		}
		if strings.Contains(err.Error(), secret) {
			t.Fatal("error message contains the plaintext")
		}
	}
	for _, short := range [][]byte{nil, sealed[:store.SealOverhead-1]} {
		if _, err := c.Open("user:1", "access_token", short); !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("Open(%d bytes) = %v, want ErrCorrupt", len(short), err)
		}
	}
}

func TestCipherWrongKey(t *testing.T) {
	k1, k2 := newKey(t), newKey(t)
	sealed, _ := newCipher(t, k1).Seal("app", "access_token", []byte(secret))
	_, err := newCipher(t, k2).Open("app", "access_token", sealed)
	if !errors.Is(err, store.ErrWrongKey) {
		t.Fatalf("Open with another key = %v, want ErrWrongKey", err)
	}
	msg := err.Error()
	for _, leak := range []string{secret, string(k1), string(k2), base64.StdEncoding.EncodeToString(k1), base64.StdEncoding.EncodeToString(k2)} {
		if strings.Contains(msg, leak) {
			t.Fatalf("error %q leaks a secret", msg)
		}
	}
	if !strings.Contains(msg, store.EnvEncryptionKey) {
		t.Errorf("error %q does not say where the key comes from", msg)
	}
}

func TestCipherRotation(t *testing.T) {
	oldKey, newK := newKey(t), newKey(t)
	sealedOld, _ := newCipher(t, oldKey).Seal("app", "access_token", []byte("old"))
	rotated := newCipher(t, newK, oldKey)
	if got, err := rotated.Open("app", "access_token", sealedOld); err != nil || string(got) != "old" {
		t.Fatalf("rotated cipher cannot open a value sealed with the previous key: %q, %v", got, err)
	}
	sealedNew, _ := rotated.Seal("app", "access_token", []byte("new"))
	if _, err := newCipher(t, oldKey).Open("app", "access_token", sealedNew); !errors.Is(err, store.ErrWrongKey) {
		t.Fatalf("rotated cipher did not seal with the new primary key: %v", err)
	}
	// The same key listed twice is accepted.
	newCipher(t, newK, newK)
}

func TestNewCipherRejectsBadKeys(t *testing.T) {
	for _, k := range [][]byte{nil, make([]byte, 16), make([]byte, 31), make([]byte, 33)} {
		if _, err := store.NewCipher(k); !errors.Is(err, store.ErrInvalidKey) {
			t.Errorf("NewCipher(%d bytes) = %v, want ErrInvalidKey", len(k), err)
		}
	}
	if _, err := store.NewCipher(newKey(t), make([]byte, 5)); !errors.Is(err, store.ErrInvalidKey) {
		t.Errorf("a bad previous key was accepted: %v", err)
	}
}

func TestParseEncryptionKey(t *testing.T) {
	key := newKey(t)
	for name, s := range map[string]string{
		"base64":          base64.StdEncoding.EncodeToString(key),
		"raw base64":      base64.RawStdEncoding.EncodeToString(key),
		"url base64":      base64.URLEncoding.EncodeToString(key),
		"raw url base64":  base64.RawURLEncoding.EncodeToString(key),
		"hex":             hex.EncodeToString(key),
		"HEX":             strings.ToUpper(hex.EncodeToString(key)),
		"with whitespace": "  " + store.EncodeKey(key) + "\n",
	} {
		got, err := store.ParseEncryptionKey(s)
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("%s: ParseEncryptionKey = %x, %v; want %x", name, got, err, key)
		}
	}
	for name, s := range map[string]string{
		"empty":        "",
		"short base64": base64.StdEncoding.EncodeToString(key[:16]),
		"long hex":     hex.EncodeToString(append(key, 1)),
		"garbage":      "this is not a key but a passphrase-like secret!",
	} {
		_, err := store.ParseEncryptionKey(s)
		if !errors.Is(err, store.ErrInvalidKey) {
			t.Errorf("%s: ParseEncryptionKey error = %v, want ErrInvalidKey", name, err)
		}
		if s != "" && err != nil && strings.Contains(err.Error(), s) {
			t.Errorf("%s: error quotes the input", name)
		}
	}
}

func TestCipherFromEnv(t *testing.T) {
	t.Setenv(store.EnvEncryptionKey, "")
	if _, ok, err := store.CipherFromEnv(); ok || err != nil {
		t.Fatalf("unset variable: ok=%v err=%v", ok, err)
	}
	k1, k2 := newKey(t), newKey(t)
	sealedOld, _ := newCipher(t, k2).Seal("app", "f", []byte("v"))
	t.Setenv(store.EnvEncryptionKey, store.EncodeKey(k1)+","+hex.EncodeToString(k2))
	c, ok, err := store.CipherFromEnv()
	if !ok || err != nil {
		t.Fatalf("CipherFromEnv: ok=%v err=%v", ok, err)
	}
	if c.KeyID() != newCipher(t, k1).KeyID() {
		t.Error("the first key in the variable is not the primary key")
	}
	if _, err := c.Open("app", "f", sealedOld); err != nil {
		t.Errorf("the second key in the variable is not used to open: %v", err)
	}
	t.Setenv(store.EnvEncryptionKey, "not-a-key")
	if _, ok, err := store.CipherFromEnv(); !ok || !errors.Is(err, store.ErrInvalidKey) || !strings.Contains(err.Error(), store.EnvEncryptionKey) {
		t.Fatalf("bad variable: ok=%v err=%v; want ErrInvalidKey naming the variable", ok, err)
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new", "dir", "tokens.db.key")
	key, created, err := store.LoadOrCreateKeyFile(path)
	if err != nil || !created || len(key) != store.KeySize {
		t.Fatalf("LoadOrCreateKeyFile = %d bytes, created=%v, %v", len(key), created, err)
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("key file mode = %04o, want 0600", fi.Mode().Perm())
		}
		di, _ := os.Stat(filepath.Dir(path))
		if di.Mode().Perm() != 0o700 {
			t.Errorf("created directory mode = %04o, want 0700", di.Mode().Perm())
		}
	}
	again, created, err := store.LoadOrCreateKeyFile(path)
	if err != nil || created || !bytes.Equal(again, key) {
		t.Fatalf("second LoadOrCreateKeyFile: created=%v err=%v same=%v", created, err, bytes.Equal(again, key))
	}
	data, _ := os.ReadFile(path)
	if strings.TrimSpace(string(data)) != store.EncodeKey(key) {
		t.Errorf("key file is not the base64 key and a newline")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the key file (temporary files left behind?)", len(entries))
	}
}

func TestLoadOrCreateKeyFileConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	const n = 16
	keys := make([][]byte, n)
	var createdCount int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, created, err := store.LoadOrCreateKeyFile(path)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			keys[i] = k
			if created {
				createdCount++
			}
		})
	}
	wg.Wait()
	if createdCount != 1 {
		t.Errorf("%d callers created the file, want 1", createdCount)
	}
	for i := range keys {
		if !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("caller %d got a different key", i)
		}
	}
}

func TestKeyFileRefusesLooseMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes do not describe access on Windows")
	}
	path := filepath.Join(t.TempDir(), "k")
	key, _, err := store.LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, _, err := store.LoadOrCreateKeyFile(path)
		if !errors.Is(err, store.ErrInsecureKeyFile) {
			t.Fatalf("mode %04o: error = %v, want ErrInsecureKeyFile", mode, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, "chmod 600 "+path) {
			t.Errorf("error %q does not tell how to fix it", msg)
		}
		if strings.Contains(msg, store.EncodeKey(key)) {
			t.Errorf("error leaks the key")
		}
	}
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	if got, _, err := store.LoadOrCreateKeyFile(path); err != nil || !bytes.Equal(got, key) {
		t.Errorf("read-only 0400 key file refused: %v", err)
	}
}

func TestReadKeyFileFormats(t *testing.T) {
	dir := t.TempDir()
	key := newKey(t)
	for name, content := range map[string][]byte{
		"raw": key,
		"hex": []byte(hex.EncodeToString(key) + "\r\n"),
		"b64": []byte(store.EncodeKey(key)),
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := store.ReadKeyFile(p)
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("%s: ReadKeyFile = %v", name, err)
		}
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("hunter2-is-not-a-key"), 0o600)
	if _, err := store.ReadKeyFile(bad); !errors.Is(err, store.ErrInvalidKey) || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("bad key file: %v; want ErrInvalidKey without its content", err)
	}
	if _, err := store.ReadKeyFile(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing key file: %v, want fs.ErrNotExist", err)
	}
	if _, _, err := store.LoadOrCreateKeyFile(dir); !errors.Is(err, store.ErrInvalidKey) {
		t.Errorf("directory as key file: %v, want ErrInvalidKey", err)
	}
}

// OpenTokens opens both tokens of a row into one string (issue 21: a store
// walking 100,000 rows made eight allocations per row for them, now three:
// the string and one inside each AES-GCM Open), each token still bound to
// its record and field.
func TestOpenTokensAllocations(t *testing.T) {
	c := newCipher(t, newKey(t))
	const key = "client/user:1"
	access, err := c.Seal(key, "access_token", []byte("the-access-token"))
	if err != nil {
		t.Fatal(err)
	}
	refresh, err := c.Seal(key, "refresh_token", []byte("the-refresh-token"))
	if err != nil {
		t.Fatal(err)
	}
	rec := store.Record{Key: key}
	if err := c.OpenTokens(&rec, access, refresh); err != nil || rec.AccessToken != "the-access-token" || rec.RefreshToken != "the-refresh-token" {
		t.Fatalf("OpenTokens = %q, %q, %v", rec.AccessToken, rec.RefreshToken, err)
	}
	if err := c.OpenTokens(&rec, refresh, access); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("OpenTokens with the fields swapped = %v, want ErrCorrupt", err)
	}
	if raceEnabled {
		t.Skip("the race detector drops pooled scratch memory at random")
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := c.OpenTokens(&rec, access, refresh); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 3 {
		t.Errorf("OpenTokens allocates %.0f times per call, want 3", allocs)
	}
}

// KeyIDs lists every key a Cipher opens, primary first: the ids a store
// looks for to tell, without reading every token, that the key fits.
func TestCipherKeyIDs(t *testing.T) {
	primary, old1, old2 := newKey(t), newKey(t), newKey(t)
	c := newCipher(t, primary, old1, old2)
	ids := c.KeyIDs()
	if len(ids) != 3 || ids[0] != c.KeyID() {
		t.Fatalf("KeyIDs = %v, want 3 ids, the primary %s first", ids, c.KeyID())
	}
	for _, k := range [][]byte{old1, old2} {
		sealed, err := newCipher(t, k).Seal("k", "f", []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		if id := store.SealedKeyID(sealed); !slices.Contains(ids, id) {
			t.Errorf("KeyIDs = %v lacks %s, a previous key it opens", ids, id)
		}
	}
}
