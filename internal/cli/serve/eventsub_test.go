package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
	"github.com/twitchauth/twitchauth/internal/pgtest"
	"github.com/twitchauth/twitchauth/provider"
	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// brokerClientID returns the client the sandbox registered for the broker.
func brokerClientID(t *testing.T, sb *twitchtest.Server) string {
	t.Helper()
	for _, c := range sb.Clients() {
		if c.Name == "twitchauth broker (sandbox)" {
			return c.ID
		}
	}
	t.Fatal("the sandbox has no client for the broker")
	return ""
}

// waitESSubscribed waits until the sandbox holds the broker's enabled
// revoke and grant subscriptions at callback.
func waitESSubscribed(t *testing.T, sb *twitchtest.Server, clientID, callback string, not ...string) {
	t.Helper()
	within5s(t, "EventSub subscriptions enabled at "+callback, func() bool {
		n := 0
		for _, s := range sb.EventSubSubscriptions(clientID) {
			if s.Callback == callback && s.Status == "enabled" && !slices.Contains(not, s.ID) &&
				(s.Type == "user.authorization.revoke" || s.Type == "user.authorization.grant") {
				n++
			}
		}
		return n == 2
	})
}

// connectViaPages connects login through the broker's pages as a browser
// would: /authorize, the sandbox's consent, /callback.
func connectViaPages(t *testing.T, info Info, login string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(info.URL + "/authorize")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cb, err := info.Sandbox.Authorize(resp.Header.Get("Location"), login)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err = c.Get(cb.String()); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		t.Fatalf("callback: %d", resp.StatusCode)
	}
}

func getJSON(t *testing.T, url, key string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// TestSandboxRevokeEndToEnd: in `serve --sandbox` the broker subscribes to
// the in-process sandbox by itself; each user connected through the pages
// who then disconnects the app in the sandbox (POST
// /_sandbox/connections/revoke) is refused by the token API within 2 s
// (410 grant_revoked), and /v1/users says revoked. The latencies are
// logged.
func TestSandboxRevokeEndToEnd(t *testing.T) {
	info, logs := startSandboxBroker(t, nil)
	sb := info.Sandbox
	clientID := brokerClientID(t, sb)
	waitESSubscribed(t, sb, clientID, info.URL+"/eventsub")
	var lat []time.Duration
	for _, u := range sb.Users() {
		connectViaPages(t, info, u.Login)
		tokenURL := info.URL + "/v1/token/user/" + u.ID
		if code, body := getJSON(t, tokenURL, info.AdminKey); code != 200 {
			t.Fatalf("%s before the revoke: %d %v", u.Login, code, body)
		}
		body, _ := json.Marshal(map[string]string{"client_id": clientID, "user_id": u.ID})
		resp, err := http.Post(sb.URL()+"/_sandbox/connections/revoke", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("disconnect %s: %d", u.Login, resp.StatusCode)
		}
		start := time.Now()
		for {
			code, body := getJSON(t, tokenURL, info.AdminKey)
			if code != 200 {
				if code != http.StatusGone || body["error"] != "grant_revoked" {
					t.Fatalf("%s after the revoke: %d %v; want 410 grant_revoked", u.Login, code, body)
				}
				break
			}
			if time.Since(start) > 2*time.Second {
				t.Fatalf("%s: the grant is still served 2s after the user disconnected the app\n%s", u.Login, logs)
			}
			time.Sleep(2 * time.Millisecond)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	t.Logf("revoke latency over %d users (disconnect answered → token API refuses): min %v, median %v, max %v",
		len(lat), lat[0], lat[len(lat)/2], lat[len(lat)-1])
	_, users := getJSON(t, info.URL+"/v1/users", info.AdminKey)
	for _, u := range users["users"].([]any) {
		if st := u.(map[string]any)["status"]; st != "revoked" {
			t.Fatalf("/v1/users: %v, want every user revoked", users)
		}
	}
}

// TestEventSubSecretFileSetting: --eventsub-secret-file (and its
// environment and file spellings) must name a private file holding a
// secret Twitch accepts, else serve exits 2 without quoting the secret; a
// good one makes the broker subscribe, and SIGHUP after the file changed
// replaces the subscriptions.
func TestEventSubSecretFileSetting(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "open")
	os.WriteFile(open, []byte("an-open-secret-0123456789"), 0o644)
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("tiny-x"), 0o600)
	for name, flags := range map[string]map[string][]string{
		"readable by others": {"eventsub_secret_file": {open}},
		"too short":          {"eventsub_secret_file": {short}},
		"empty flag":         {"eventsub_secret_file": {""}},
		"missing file":       {"eventsub_secret_file": {filepath.Join(dir, "nope")}},
	} {
		t.Run(name, func(t *testing.T) {
			flags["listen"] = []string{"127.0.0.1:0"}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a broken check serves: stop it
			defer cancel()
			err := Run(ctx, &Options{Flags: flags, Sandbox: true, SandboxListen: "127.0.0.1:0",
				Getenv: func(string) string { return "" }, Stderr: io.Discard, Stdout: io.Discard})
			if exitCode(err) != cliutil.ExitUsage {
				t.Fatalf("err %v (exit %d), want exit %d", err, exitCode(err), cliutil.ExitUsage)
			}
			if err != nil && (strings.Contains(err.Error(), "tiny-x") || strings.Contains(err.Error(), "an-open-secret")) {
				t.Fatalf("the error quotes the secret: %v", err)
			}
		})
	}

	sb := twitchtest.NewServer(t)
	secretFile := filepath.Join(dir, "eventsub-secret")
	os.WriteFile(secretFile, []byte("first-eventsub-secret-0123\n"), 0o600)
	reload := make(chan struct{})
	info, logs := startServe(t, sb, map[string][]string{"store": {"memory"}, "eventsub_secret_file": {secretFile},
		"keys_file": {filepath.Join(dir, "keys.json")}}, reload)
	cb := info.URL + "/eventsub"
	clientID := sb.DefaultClient().ID
	waitESSubscribed(t, sb, clientID, cb)
	var first []string
	for _, s := range sb.EventSubSubscriptions(clientID) {
		first = append(first, s.ID)
	}
	os.WriteFile(secretFile, []byte("second-eventsub-secret-0123\n"), 0o600)
	reload <- struct{}{}
	waitESSubscribed(t, sb, clientID, cb, first...)
	if s := logs.String(); strings.Contains(s, "first-eventsub-secret") || strings.Contains(s, "second-eventsub-secret") {
		t.Fatalf("the logs hold the EventSub secret:\n%s", s)
	}
}

// TestReplicaSeesEventSubRevoke: two brokers share a PostgreSQL store
// behind one public URL; Twitch delivers the revoke to one of them, and the
// other refuses the grant too within 2 s (the revoked status is stored, and
// the store's watch tells the other replica).
func TestReplicaSeesEventSubRevoke(t *testing.T) {
	if os.Getenv(replicaChildEnv) != "" {
		t.Skip("running as a replica")
	}
	dbURL := pgtest.Start(t)
	sb := twitchtest.NewServer(t)
	cl := sb.DefaultClient()
	key, _ := store.GenerateKey()
	secretFile := filepath.Join(t.TempDir(), "eventsub-secret")
	os.WriteFile(secretFile, []byte("replica-eventsub-secret-0123"), 0o600)
	env := map[string]string{"TWITCH_CLIENT_ID": cl.ID, "TWITCH_CLIENT_SECRET": cl.Secret, "TWITCH_ID_URL": sb.IDURL(),
		"TWITCH_API_URL": sb.APIURL(), store.EnvEncryptionKey: store.EncodeKey(key)}
	start := func(publicURL string) Info {
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan Info, 1)
		done := make(chan error, 1)
		flags := map[string][]string{"listen": {"127.0.0.1:0"}, "store": {dbURL}, "eventsub_secret_file": {secretFile},
			"keys_file": {filepath.Join(t.TempDir(), "keys.json")}, "log_level": {"warn"}}
		if publicURL != "" {
			flags["public_url"] = []string{publicURL}
		}
		logs := &syncBuffer{}
		go func() {
			done <- Run(ctx, &Options{Flags: flags, Getenv: func(k string) string { return env[k] }, Stderr: logs, ready: func(i Info) { ready <- i }})
		}()
		t.Cleanup(func() { cancel(); <-done })
		select {
		case info := <-ready:
			info.Sandbox = sb
			return info
		case err := <-done:
			t.Fatalf("serve stopped: %v\n%s", err, logs)
		}
		panic("unreachable")
	}
	a := start("")
	b := start(a.URL) // the same public URL: Twitch delivers to a
	waitESSubscribed(t, sb, cl.ID, a.URL+"/eventsub")
	u := sb.Users()[0]
	p := b.Broker.Provider()
	// Connect the user through a until b's store watch reports it: b's
	// LISTEN starts a moment after b does, and a change committed before
	// it is not reported (store/postgres/watch.go).
	add := func() {
		access, refresh, err := sb.MintUserToken(cl.ID, u.Login, []string{"chat:read"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Broker.Provider().AddUserToken(context.Background(), &twitchauth.Token{AccessToken: access, RefreshToken: refresh}); err != nil {
			t.Fatal(err)
		}
	}
	last := time.Time{}
	within5s(t, "replica b's store watch reports a's grant", func() bool {
		if _, ok := p.User(u.ID); ok {
			return true
		}
		if time.Since(last) > 250*time.Millisecond {
			add()
			last = time.Now()
		}
		return false
	})
	if _, err := p.Token(context.Background(), provider.User(u.ID)); err != nil { // loaded from the store
		t.Fatalf("replica b before the revoke: %v", err)
	}
	sb.Disconnect(cl.ID, u.ID)
	t0 := time.Now()
	for {
		if _, err := p.Token(context.Background(), provider.User(u.ID)); errors.Is(err, provider.ErrGrantRevoked) {
			break
		}
		if time.Since(t0) > 2*time.Second {
			acct, _ := a.Broker.Provider().User(u.ID)
			t.Fatalf("replica b still serves the grant 2s after the revoke (replica a says %q; deliveries %+v)", acct.Status, sb.EventSubDeliveries())
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("replica b refuses the grant %v after the disconnect", time.Since(t0))
}
