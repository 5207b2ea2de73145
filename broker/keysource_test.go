package broker

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// revocationBound is the bound issue 23 sets: a key change takes effect in
// a running broker within 5 seconds.
const revocationBound = 5 * time.Second

// within polls cond until it holds, failing the test after the 5 s bound.
func within(t testing.TB, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > revocationBound {
			t.Fatalf("%s: not within %v", what, revocationBound)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// run runs the broker's background work (the key reloads among it) until
// the test ends.
func (e *env) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.b.Run(ctx) }()
	e.t.Cleanup(func() { cancel(); <-done })
}

func (e *env) status(method, path, key string) int {
	resp, _ := e.do(method, path, key)
	return resp.StatusCode
}

// TestKeysFileFollowedWithoutRestart: a running broker applies a key
// created, changed and deleted in its keys file within 5 s, keeps the
// keys it has while the file is broken, and refuses them all once the file
// is gone.
func TestKeysFileFollowedWithoutRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	ka, kb := GenerateKey(), GenerateKey()
	a := APIKey{Name: "a", SHA256: HashKey(ka), Perms: []Perm{PermTokenApp}}
	b := APIKey{Name: "b", SHA256: HashKey(kb), Perms: []Perm{PermTokenApp}}
	if err := WriteKeysFile(path, []APIKey{a}); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *Config) { c.KeysFile = path; c.KeysReloadInterval = 100 * time.Millisecond })
	e.run()
	if got := e.status("GET", "/v1/token/app", ka); got != 200 {
		t.Fatalf("key from the file at start: %d", got)
	}
	if got := e.status("GET", "/v1/token/app", kb); got != 401 {
		t.Fatalf("key not yet created: %d", got)
	}

	WriteKeysFile(path, []APIKey{a, b})
	d := within(t, "created key accepted", func() bool { return e.status("GET", "/v1/token/app", kb) == 200 })
	t.Logf("created key accepted after %v", d.Round(time.Millisecond))

	a.Perms = []Perm{PermUsersRead}
	WriteKeysFile(path, []APIKey{a, b})
	within(t, "changed key's permission withdrawn", func() bool { return e.status("GET", "/v1/token/app", ka) == 403 })

	WriteKeysFile(path, []APIKey{b})
	d = within(t, "deleted key refused", func() bool { return e.status("GET", "/v1/users", ka) == 401 })
	t.Logf("deleted key refused after %v", d.Round(time.Millisecond))

	// A broken file keeps the keys it gave, and says so.
	os.WriteFile(path, []byte(`{"keys": [`), 0o600)
	within(t, "broken file noticed", func() bool { return metricValue(t, e.b.metrics.keysReloadOK) == 0 })
	if got := e.status("GET", "/v1/token/app", kb); got != 200 {
		t.Errorf("a broken file locked key b out: %d", got)
	}
	os.Remove(path)
	within(t, "removed file's keys refused", func() bool { return e.status("GET", "/v1/token/app", kb) == 401 })
	if metricValue(t, e.b.metrics.keysReloadOK) != 1 {
		t.Error("a missing keys file (no keys) counts as a failed reload")
	}
	if got := e.status("GET", "/v1/token/app", e.keys[PermTokenApp]); got != 200 {
		t.Errorf("the configured keys were dropped with the file's: %d", got)
	}
}

// TestStoreKeysFollowedByEveryReplica: two brokers of one application
// sharing a store (and no file) both apply a key created, then deleted, in
// the store within 5 s; a broker of another application sharing the store
// never accepts it.
func TestStoreKeysFollowedByEveryReplica(t *testing.T) {
	shared := store.NewMemory()
	app := twitchtest.Client{ID: "fleetclient000000000000000001", Secret: "fleet-secret", Name: "fleet", Type: twitchtest.Confidential,
		RedirectURIs: []string{"http://127.0.0.1/callback"}}
	var replicas []*env
	for range 2 {
		e := newEnvSandbox(t, []twitchtest.Option{twitchtest.WithClient(app)}, func(c *Config) {
			c.Store = shared
			c.KeysReloadInterval = 100 * time.Millisecond
			c.Twitch.ClientID, c.Twitch.ClientSecret = app.ID, app.Secret
		})
		e.run()
		replicas = append(replicas, e)
	}
	other := newEnv(t, func(c *Config) { c.Store = shared; c.KeysReloadInterval = 100 * time.Millisecond })
	other.run()
	k := GenerateKey()
	err := UpdateStoreKeys(t.Context(), shared, app.ID, func(keys []APIKey) ([]APIKey, error) {
		return append(keys, APIKey{Name: "fleet", SHA256: HashKey(k), Perms: []Perm{PermTokenApp}, Subjects: []string{"app"}}), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range replicas {
		within(t, "replica "+string(rune('0'+i))+" accepts the store's key", func() bool { return e.status("GET", "/v1/token/app", k) == 200 })
	}
	if err := other.b.ReloadKeys(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := other.status("GET", "/v1/token/app", k); got != 401 {
		t.Errorf("another application's broker on the same store accepted the key: %d", got)
	}
	if err := UpdateStoreKeys(t.Context(), shared, app.ID, func([]APIKey) ([]APIKey, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	for i, e := range replicas {
		d := within(t, "replica "+string(rune('0'+i))+" refuses the deleted key", func() bool { return e.status("GET", "/v1/token/app", k) == 401 })
		t.Logf("replica %d refused the deleted key after %v", i, d.Round(time.Millisecond))
	}
	rec, err := shared.Load(t.Context(), KeysRecord(app.ID))
	if err != nil || rec.TokenType != "api-keys" || rec.Key != app.ID+"/broker:api-keys" {
		t.Fatalf("the keys record: %+v %v", rec, err)
	}
}

// TestUpdateStoreKeysConcurrent: concurrent updates (operators at once)
// lose nothing: all eight read the keys before any writes, and the
// compare-and-swap makes seven of them read again.
func TestUpdateStoreKeysConcurrent(t *testing.T) {
	st := store.NewMemory()
	var wg, read sync.WaitGroup
	read.Add(8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := true
			err := UpdateStoreKeys(t.Context(), st, "client", func(keys []APIKey) ([]APIKey, error) {
				if first {
					first = false
					read.Done()
					read.Wait()
				}
				return append(keys, APIKey{Name: "k" + string(rune('a'+i)), SHA256: HashKey(GenerateKey()), Perms: []Perm{PermHelix}}), nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	keys, _, err := LoadStoreKeys(t.Context(), st, "client")
	if err != nil || len(keys) != 8 {
		t.Fatalf("%d keys after 8 concurrent creations: %v", len(keys), err)
	}
}

// clock is a settable time for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestExpiredKeyRefused: a key with an expiry works until then, and is
// refused from then on with 401 key_expired naming it; an expired admin key
// neither signs in nor keeps its session.
func TestExpiredKeyRefused(t *testing.T) {
	clk := &clock{t: time.Now()}
	e := newEnv(t, func(c *Config) { c.Now = clk.now })
	k, admin := GenerateKey(), GenerateKey()
	e.b.keys.Replace("file", []APIKey{
		{Name: "temp", SHA256: HashKey(k), Perms: []Perm{PermTokenApp}, Expires: clk.now().Add(time.Hour)},
		{Name: "tempadmin", SHA256: HashKey(admin), Perms: []Perm{PermAdmin}, Expires: clk.now().Add(time.Hour)},
	})
	if got := e.status("GET", "/v1/token/app", k); got != 200 {
		t.Fatalf("before expiry: %d", got)
	}
	browser := e.browser()
	resp, err := browser.PostForm(e.srv.URL+"/login", url.Values{"key": {admin}})
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in before expiry: %v %v", resp, err)
	}
	resp.Body.Close()
	if !e.isOperator(browser) {
		t.Fatal("no operator session before expiry")
	}
	clk.add(time.Hour)
	resp, body := e.do("GET", "/v1/token/app", k)
	got := decode[errorResponse](t, body)
	if resp.StatusCode != 401 || got.Error != "key_expired" || !strings.Contains(got.Message, `"temp"`) {
		t.Fatalf("after expiry: %d %s", resp.StatusCode, body)
	}
	if e.isOperator(browser) {
		t.Error("the expired admin key's session still works")
	}
	resp, err = e.browser().PostForm(e.srv.URL+"/login", url.Values{"key": {admin}})
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("sign-in with an expired admin key: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
}

// isOperator reports whether browser c sees the operator's accounts page.
func (e *env) isOperator(c *http.Client) bool {
	e.t.Helper()
	resp, err := c.Get(e.srv.URL + "/")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(page), "<h1>Connected accounts</h1>")
}

// TestRotationGrace: after a rotation both values work during the grace
// period (the previous one marked in the audit entry); after it the
// previous value gets 401 key_rotated and the new one still works.
func TestRotationGrace(t *testing.T) {
	clk := &clock{t: time.Now()}
	al, _ := newTestAuditLog(t)
	e := newEnv(t, func(c *Config) { c.Now = clk.now; c.Audit = al })
	oldKey, newKey := GenerateKey(), GenerateKey()
	k := APIKey{Name: "svc", SHA256: HashKey(oldKey), Perms: []Perm{PermTokenApp}}
	e.b.keys.Replace("file", []APIKey{k})
	k.Rotate(HashKey(newKey), clk.now(), time.Hour)
	if len(k.Previous) != 1 || k.Previous[0].SHA256 != HashKey(oldKey) {
		t.Fatalf("rotated key: %+v", k)
	}
	e.b.keys.Replace("file", []APIKey{k})
	for name, key := range map[string]string{"old": oldKey, "new": newKey} {
		if got := e.status("GET", "/v1/token/app", key); got != 200 {
			t.Errorf("%s key during the grace period: %d", name, got)
		}
	}
	clk.add(59 * time.Minute)
	if got := e.status("GET", "/v1/token/app", oldKey); got != 200 {
		t.Errorf("old key a minute before the end of the grace period: %d", got)
	}
	clk.add(time.Minute)
	resp, body := e.do("GET", "/v1/token/app", oldKey)
	if got := decode[errorResponse](t, body); resp.StatusCode != 401 || got.Error != "key_rotated" || !strings.Contains(got.Message, `"svc"`) {
		t.Errorf("old key after the grace period: %d %s", resp.StatusCode, body)
	}
	if got := e.status("GET", "/v1/token/app", newKey); got != 200 {
		t.Errorf("new key after the grace period: %d", got)
	}
	// A second rotation drops the previous value whose grace ended.
	k.Rotate(HashKey(GenerateKey()), clk.now(), 0)
	if len(k.Previous) != 0 {
		t.Errorf("after a rotation without grace: %+v", k.Previous)
	}
	entries := readAudit(t, al)
	var prev, cur int
	for _, en := range entries {
		if en.Key == "svc" && en.Status == 200 {
			if en.KeyPrevious {
				prev++
			} else {
				cur++
			}
		}
	}
	if prev != 2 || cur != 2 {
		t.Errorf("audit: %d requests marked key_previous (want 2), %d not (want 2)", prev, cur)
	}
}

// TestDeletedAdminKeyEndsItsSessions: an operator session lasts only as
// long as the admin key it was opened with — deleting the key ends it, and
// so does replacing it by a key of the same name.
func TestDeletedAdminKeyEndsItsSessions(t *testing.T) {
	e := newEnv(t)
	admin := GenerateKey()
	e.b.keys.Replace("file", []APIKey{{Name: "ops", SHA256: HashKey(admin), Perms: []Perm{PermAdmin}}})
	signIn := func() *http.Client {
		c := e.browser()
		resp, err := c.PostForm(e.srv.URL+"/login", url.Values{"key": {admin}})
		if err != nil || resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in: %v %v", resp, err)
		}
		resp.Body.Close()
		return c
	}
	c := signIn()
	if !e.isOperator(c) {
		t.Fatal("no session")
	}
	e.b.keys.Replace("file", nil)
	if e.isOperator(c) {
		t.Error("the session outlived its deleted admin key")
	}
	e.b.keys.Replace("file", []APIKey{{Name: "ops", SHA256: HashKey(admin), Perms: []Perm{PermAdmin}}})
	c = signIn()
	e.b.keys.Replace("file", []APIKey{{Name: "ops", SHA256: HashKey(GenerateKey()), Perms: []Perm{PermAdmin}}})
	if e.isOperator(c) {
		t.Error("the session outlived its key, replaced by another of the same name")
	}
}
