package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/eventsub"
	"github.com/twitchauth/twitchauth/provider"
	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/twitchtest"
)

const testESSecret eventsub.Secret = "broker-eventsub-secret-0123456789"

// revokeBound is issue 20's bound: a verified revoke stops the grant within
// 2 seconds.
const revokeBound = 2 * time.Second

// esEnv is a broker with EventSub wired to its sandbox, running.
func newESEnv(t *testing.T, opts ...envOption) (*env, *atomic.Int32) {
	t.Helper()
	var hooks atomic.Int32
	e := newEnv(t, append([]envOption{func(c *Config) {
		c.EventSubSecret = testESSecret
		c.Hooks.OnRevoked = func(provider.Subject) { hooks.Add(1) }
	}}, opts...)...)
	e.run()
	return e, &hooks
}

// subsAt returns the sandbox's subscriptions of the broker's client by type,
// for those at callback with status.
func subsAt(sb *twitchtest.Server, clientID, callback, status string) map[string]int {
	out := map[string]int{}
	for _, s := range sb.EventSubSubscriptions(clientID) {
		if s.Callback == callback && s.Status == status {
			out[s.Type]++
		}
	}
	return out
}

func (e *env) waitSubscribed(t *testing.T) {
	t.Helper()
	cb := e.srv.URL + EventSubPath
	within(t, "subscriptions enabled", func() bool {
		m := subsAt(e.sb, e.client.ID, cb, "enabled")
		return m[eventsub.TypeUserAuthorizationRevoke] == 1 && m[eventsub.TypeUserAuthorizationGrant] == 1
	})
}

func (e *env) get(path, key string, hdr ...string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(body, &m)
	return resp.StatusCode, m
}

// TestEventSubRevokeStopsGrant: the broker subscribes by itself; a user
// disconnecting the app in the sandbox stops the grant within 2 s (token
// API and Helix proxy 410 grant_revoked, /v1/users and the accounts page
// say revoked, OnRevoked and the eventsub metric fire) without a call to
// /validate; other users keep working; a later grant on Twitch does not
// bring the tokens back, and only a new sign-in does.
func TestEventSubRevokeStopsGrant(t *testing.T) {
	e, hooks := newESEnv(t)
	e.waitSubscribed(t)
	u, other := sandboxUser(t, e.sb, 0), sandboxUser(t, e.sb, 1)
	e.connect(e.browser(), u.Login).Body.Close()
	e.connect(e.browser(), other.Login).Body.Close()
	tokenPath := "/v1/token/user/" + u.ID
	if code, body := e.get(tokenPath, e.keys[PermTokenUser]); code != 200 {
		t.Fatalf("before the revoke: %d %v", code, body)
	}
	validates := e.sb.Requests("validate")

	if _, ok := e.sb.Disconnect(e.client.ID, u.ID); !ok {
		t.Fatal("the sandbox knows no grant to disconnect")
	}
	start := time.Now()
	var code int
	var body map[string]any
	for {
		if code, body = e.get(tokenPath, e.keys[PermTokenUser]); code != 200 {
			break
		}
		if time.Since(start) > revokeBound {
			t.Fatalf("the grant is still served %v after the user disconnected the app", revokeBound)
		}
		time.Sleep(5 * time.Millisecond)
	}
	latency := time.Since(start)
	t.Logf("revoke latency (disconnect → token API refuses): %v", latency)
	if code != http.StatusGone || body["error"] != "grant_revoked" || !strings.Contains(fmt.Sprint(body["message"]), "revoked the app's access") {
		t.Fatalf("token API after the revoke: %d %v; want 410 grant_revoked", code, body)
	}
	if code, body := e.get("/helix/users", e.keys[PermHelix], SubjectHeader, "user:"+u.ID); code != http.StatusGone || body["error"] != "grant_revoked" {
		t.Fatalf("Helix proxy after the revoke: %d %v; want 410 grant_revoked", code, body)
	}
	if code, _ := e.get("/v1/token/user/"+other.ID, e.keys[PermTokenUser]); code != 200 {
		t.Fatalf("another user's grant: %d", code)
	}
	if n := e.sb.Requests("validate"); n != validates {
		t.Fatalf("the revoke took %d calls to /validate; want none", n-validates)
	}
	_, users := e.get("/v1/users", e.keys[PermUsersRead])
	if !strings.Contains(fmt.Sprint(users["users"]), "status:revoked") {
		t.Fatalf("/v1/users does not say revoked: %v", users)
	}
	rec, err := e.store.Load(context.Background(), store.GrantKey(e.client.ID, store.UserKey(u.ID)))
	if err != nil || rec.Status != store.StatusRevoked {
		t.Fatalf("stored status %q (%v), want revoked", rec.Status, err)
	}
	if hooks.Load() != 1 {
		t.Fatalf("OnRevoked fired %d times, want 1", hooks.Load())
	}
	if v := e.metric(`twitchauth_revocations_total{source="eventsub"}`); v != "1" {
		t.Fatalf("revocations metric (eventsub) = %s, want 1", v)
	}
	if v := e.metric(`twitchauth_eventsub_messages_total{result="revoked",type="user.authorization.revoke"}`); v != "1" {
		t.Fatalf("eventsub messages metric = %s, want 1", v)
	}
	home := e.pageAs(e.operatorBrowser(), "/")
	if !strings.Contains(home, "status-revoked") {
		t.Fatalf("the accounts page does not show the revoked status")
	}

	// The user authorizes the app again on Twitch (another program's
	// sign-in): user.authorization.grant arrives, the broker's grant stays
	// revoked and the accounts page says so.
	const grantedMetric = `twitchauth_eventsub_messages_total{result="granted",type="user.authorization.grant"}`
	before := e.metric(grantedMetric) // each connect above was a grant too
	if _, _, err := e.sb.MintUserToken(e.client.ID, u.Login, []string{"chat:read"}); err != nil {
		t.Fatal(err)
	}
	within(t, "grant event", func() bool { return e.metric(grantedMetric) != before })
	if code, body := e.get(tokenPath, e.keys[PermTokenUser]); code != http.StatusGone {
		t.Fatalf("a grant event resurrected the tokens: %d %v", code, body)
	}
	if home := e.pageAs(e.operatorBrowser(), "/"); !strings.Contains(home, "authorized the app again") {
		t.Fatalf("the accounts page does not show the new authorization")
	}
	// Connecting again is what makes the user active.
	e.connect(e.browser(), u.Login).Body.Close()
	if code, body := e.get(tokenPath, e.keys[PermTokenUser]); code != 200 {
		t.Fatalf("after connecting again: %d %v", code, body)
	}
}

// pageAs fetches path with browser c.
func (e *env) pageAs(c *http.Client, path string) string {
	e.t.Helper()
	resp, err := c.Get(e.srv.URL + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// esPost sends a notification of typ with event ev, signed with secret.
func (e *env) esPost(secret eventsub.Secret, id string, ts time.Time, typ string, ev any) (int, string) {
	e.t.Helper()
	evJSON, _ := json.Marshal(ev)
	body := fmt.Sprintf(`{"subscription":{"id":"sub-1","status":"enabled","type":%q,"version":"1","condition":{"client_id":%q},"transport":{"method":"webhook","callback":%q},"created_at":"2026-01-01T00:00:00Z","cost":0},"event":%s}`,
		typ, e.client.ID, e.srv.URL+EventSubPath, evJSON)
	req, _ := http.NewRequest("POST", e.srv.URL+EventSubPath, bytes.NewBufferString(body))
	stamp := ts.UTC().Format(time.RFC3339Nano)
	req.Header.Set(eventsub.HeaderMessageID, id)
	req.Header.Set(eventsub.HeaderMessageTimestamp, stamp)
	req.Header.Set(eventsub.HeaderMessageType, "notification")
	req.Header.Set(eventsub.HeaderMessageRetry, "0")
	req.Header.Set(eventsub.HeaderSubscriptionType, typ)
	req.Header.Set(eventsub.HeaderSubscriptionVersion, "1")
	req.Header.Set(eventsub.HeaderMessageSignature, eventsub.Sign(secret, id, stamp, []byte(body)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestEventSubCallbackChecks: a revoke for another client ID is
// acknowledged and ignored; a bad signature (403) or a stale message (400)
// stops nothing; a revoke with user_login null is applied by user ID; a
// broker without a secret has no callback.
func TestEventSubCallbackChecks(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.EventSubSecret = testESSecret })
	u := sandboxUser(t, e.sb, 0)
	e.connect(e.browser(), u.Login).Body.Close()
	tokenPath := "/v1/token/user/" + u.ID
	served := func() bool { code, _ := e.get(tokenPath, e.keys[PermTokenUser]); return code == 200 }
	now := time.Now()
	revoke := eventsub.TypeUserAuthorizationRevoke

	if code, _ := e.esPost(testESSecret, "m-other", now, revoke, map[string]any{"client_id": "someoneelse", "user_id": u.ID, "user_login": u.Login}); code/100 != 2 || !served() {
		t.Fatalf("revoke for another client ID: %d, served %v; want 2xx and still served", code, served())
	}
	if code, _ := e.esPost("wrong-secret-0123456789", "m-bad", now, revoke, map[string]any{"client_id": e.client.ID, "user_id": u.ID}); code != 403 || !served() {
		t.Fatalf("wrong signature: %d, served %v; want 403 and still served", code, served())
	}
	if code, _ := e.esPost(testESSecret, "m-stale", now.Add(-11*time.Minute), revoke, map[string]any{"client_id": e.client.ID, "user_id": u.ID}); code != 400 || !served() {
		t.Fatalf("stale message: %d, served %v; want 400 and still served", code, served())
	}
	if code, _ := e.esPost(testESSecret, "m-unknown", now, revoke, map[string]any{"client_id": e.client.ID, "user_id": "987654321", "user_login": nil}); code/100 != 2 {
		t.Fatalf("revoke for a user not held: %d, want 2xx", code)
	}
	if code, b := e.esPost(testESSecret, "m-ok", now, revoke, map[string]any{"client_id": e.client.ID, "user_id": u.ID, "user_login": nil, "user_name": nil}); code/100 != 2 || served() {
		t.Fatalf("revoke with user_login null: %d %s, served %v; want 2xx and the grant stopped", code, b, served())
	}

	plain := newEnv(t)
	if resp, _ := plain.do("POST", EventSubPath, ""); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("without EventSubSecret, POST /eventsub answers %d, want 404", resp.StatusCode)
	}
}

// failingTransport fails every EventSub subscriptions request while on.
type failingTransport struct {
	on   atomic.Bool
	base http.RoundTripper
}

func (f *failingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.on.Load() && strings.Contains(r.URL.Path, "/eventsub/subscriptions") {
		return nil, errors.New("test: EventSub API unreachable")
	}
	return f.base.RoundTrip(r)
}

// TestEventSubSubscriptionsKept: the broker removes its app's revoke/grant
// subscriptions pointing elsewhere, creates its own; a failure is retried
// and shown on /readyz (degraded, never the secret); a secret change
// replaces the subscriptions, and deliveries signed with the new secret
// are accepted.
func TestEventSubSubscriptionsKept(t *testing.T) {
	ft := &failingTransport{base: http.DefaultTransport}
	ft.on.Store(true)
	e := newEnv(t, func(c *Config) {
		c.EventSubSecret = testESSecret
		c.HelixTransport = ft
	})
	// Another receiver of the app's revokes, elsewhere, that answers its
	// challenge.
	v, _ := eventsub.NewVerifier(eventsub.VerifierConfig{Secrets: []eventsub.Secret{"elsewhere-secret-0123"}})
	h, _ := eventsub.NewHandler(eventsub.HandlerConfig{Verifier: v})
	elsewhere := httptest.NewServer(h)
	t.Cleanup(elsewhere.Close)
	app, err := e.sb.MintAppToken(e.client.ID)
	if err != nil {
		t.Fatal(err)
	}
	subs := eventsub.NewClient(twitchauth.NewHelix(twitchauth.NewTransport(twitchauth.TransportConfig{Config: &twitchauth.Config{ClientID: e.client.ID, Endpoints: twitchauth.Endpoints{APIURL: e.sb.APIURL()}}, Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: app, TokenType: "bearer"})})))
	if _, _, err := subs.Create(context.Background(), eventsub.AuthorizationRevoke(e.client.ID, eventsub.Webhook(elsewhere.URL, "elsewhere-secret-0123"))); err != nil {
		t.Fatal(err)
	}
	within(t, "the other subscription enabled", func() bool {
		return subsAt(e.sb, e.client.ID, elsewhere.URL, "enabled")[eventsub.TypeUserAuthorizationRevoke] == 1
	})

	e.run()
	within(t, "the failure shown on /readyz", func() bool {
		_, body := e.readyz()
		return strings.Contains(fmt.Sprint(body["problems"]), "EventSub subscriptions")
	})
	_, body := e.readyz()
	if s := fmt.Sprint(body); strings.Contains(s, string(testESSecret)) || body["status"] != "degraded" {
		t.Fatalf("/readyz: %v (want degraded, never the secret)", body)
	}
	ft.on.Store(false)
	e.waitSubscribed(t)
	if n := len(e.sb.EventSubSubscriptions(e.client.ID)); n != 2 {
		t.Fatalf("%d subscriptions remain; want the broker's 2 (the one elsewhere removed): %+v", n, e.sb.EventSubSubscriptions(e.client.ID))
	}
	within(t, "the problem gone", func() bool { _, body := e.readyz(); return body["status"] == "ready" })
	old := e.sb.EventSubSubscriptions(e.client.ID)

	// Secret change: the subscriptions are replaced; a delivery signed with
	// the new secret stops the grant.
	const next eventsub.Secret = "next-eventsub-secret-abcdefgh"
	if err := e.b.SetEventSubSecret(next); err != nil {
		t.Fatal(err)
	}
	within(t, "subscriptions replaced", func() bool {
		cur := subsAt(e.sb, e.client.ID, e.srv.URL+EventSubPath, "enabled")
		if cur[eventsub.TypeUserAuthorizationRevoke] != 1 || cur[eventsub.TypeUserAuthorizationGrant] != 1 {
			return false
		}
		for _, s := range e.sb.EventSubSubscriptions(e.client.ID) {
			for _, o := range old {
				if s.ID == o.ID {
					return false
				}
			}
		}
		return true
	})
	u := sandboxUser(t, e.sb, 2)
	e.connect(e.browser(), u.Login).Body.Close()
	e.sb.Disconnect(e.client.ID, u.ID)
	within(t, "revoke signed with the new secret applied", func() bool {
		code, _ := e.get("/v1/token/user/"+u.ID, e.keys[PermTokenUser])
		return code == http.StatusGone
	})
	if err := e.b.SetEventSubSecret("short"); err == nil {
		t.Fatal("a secret Twitch would refuse was accepted")
	}
}
