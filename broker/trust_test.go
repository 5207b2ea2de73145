package broker

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth"
)

// TestSessionTableBounded: the operator-session table never grows past its
// bound; the oldest session makes room and the newest ones stay.
func TestSessionTableBounded(t *testing.T) {
	now := time.Now()
	tbl := newSessionTable(time.Hour, func() time.Time { now = now.Add(time.Millisecond); return now })
	tbl.max = 50
	var ids []string
	evictions := 0
	for i := range 120 {
		id, evicted := tbl.create(fmt.Sprint("k", i))
		ids = append(ids, id)
		if evicted != "" {
			evictions++
		}
	}
	if n := tbl.len(); n != 50 {
		t.Fatalf("%d sessions held, want the bound 50", n)
	}
	if evictions != 70 {
		t.Errorf("%d evictions reported, want 70", evictions)
	}
	for _, id := range ids[70:] {
		if _, ok := tbl.get(id); !ok {
			t.Fatal("a recent session was evicted")
		}
	}
	if _, ok := tbl.get(ids[0]); ok {
		t.Fatal("the oldest session survived a full table")
	}
}

// TestAdminIntentAPI: PUT and DELETE /v1/admin/intents/{name} with an admin
// key bind, move and unassign an intent; "expect" guards a move; other keys
// get 403; malformed bodies 400.
func TestAdminIntentAPI(t *testing.T) {
	e := newEnv(t)
	a, b := sandboxUser(t, e.sb, 0), sandboxUser(t, e.sb, 1)
	e.connect(e.browser(), a.Login).Body.Close()
	e.connect(e.browser(), b.Login).Body.Close()
	put := func(body, key string) (int, string) {
		resp, text := e.put("/v1/admin/intents/chat", body, key)
		return resp.StatusCode, string(text)
	}
	if st, _ := put(`{"user":"`+a.ID+`"}`, e.keys[PermTokenIntent]); st != http.StatusForbidden {
		t.Fatalf("PUT with a token:intent key: %d", st)
	}
	if st, text := put(`{"user":"`+a.ID+`"}`, e.admin); st != http.StatusOK || !strings.Contains(text, `"previous_user_id":""`) {
		t.Fatalf("bind: %d %s", st, text)
	}
	if st, text := put(`{"user":"login:`+b.Login+`","expect":""}`, e.admin); st != http.StatusConflict || !strings.Contains(text, "intent_changed") {
		t.Fatalf("move with a stale expect: %d %s", st, text)
	}
	if got := e.b.Provider().Intents()["chat"]; got != a.ID {
		t.Fatalf("a refused move changed the intent to %s", got)
	}
	if st, text := put(`{"user":"login:`+b.Login+`","expect":"`+a.ID+`"}`, e.admin); st != http.StatusOK || !strings.Contains(text, `"user_id":"`+b.ID+`"`) {
		t.Fatalf("move: %d %s", st, text)
	}
	for _, bad := range []string{``, `{}`, `{"user":"x y"}`, `{"user":"` + b.ID + `"} {}`, `{"user":"` + b.ID + `","who":1}`} {
		if st, _ := put(bad, e.admin); st != http.StatusBadRequest {
			t.Errorf("PUT %q: %d, want 400", bad, st)
		}
	}
	if st, _ := put(`{"user":"999999"}`, e.admin); st != http.StatusNotFound {
		t.Errorf("PUT an unknown user: %d, want 404", st)
	}
	resp, _ := e.do(http.MethodDelete, "/v1/admin/intents/chat", e.admin)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	if _, ok := e.b.Provider().Intents()["chat"]; ok {
		t.Fatal("the intent is still assigned after DELETE")
	}
	if resp, _ := e.do(http.MethodDelete, "/v1/admin/intents/chat", e.admin); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("DELETE an unassigned intent: %d", resp.StatusCode)
	}
	if len(e.b.intents.snapshot()) != 3 {
		t.Errorf("%d intent changes recorded, want 3", len(e.b.intents.snapshot()))
	}
}

// TestIntentNotFoundWordedOnce: an intent that points at nobody is worded
// the same by the token API and the Helix proxy.
func TestIntentNotFoundWordedOnce(t *testing.T) {
	e := newEnv(t)
	_, tokBody := e.do(http.MethodGet, "/v1/token/intent/chat", e.admin)
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/helix/users", nil)
	req.Header.Set("Authorization", "Bearer "+e.admin)
	req.Header.Set(SubjectHeader, "intent:chat")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	helixBody := body(t, resp)
	want := `"message":"` + noIntentUser("chat") + `"`
	if !strings.Contains(string(tokBody), want) || !strings.Contains(helixBody, want) {
		t.Fatalf("intent 404s worded differently:\n%s\n%s", tokBody, helixBody)
	}
}

// TestHomeLinksReadyz: the refused-credentials banner and flash link to
// /readyz.
func TestHomeLinksReadyz(t *testing.T) {
	e := newEnv(t)
	e.b.noteRenewal(fmt.Errorf("renewing: %w", twitchauth.ErrInvalidClientSecret))
	op := e.operatorBrowser()
	resp, err := op.Get(e.srv.URL + "/?done=credentials")
	if err != nil {
		t.Fatal(err)
	}
	text := body(t, resp)
	if strings.Count(text, `<a href="/readyz">/readyz</a>`) != 2 {
		t.Fatalf("the banner and the flash do not both link /readyz:\n%s", text)
	}
}

// TestAllowedHosts: names in Config.AllowedHosts (exact, or *.suffix) are
// answered; others get 421; a malformed entry is refused by New.
func TestAllowedHosts(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.AllowedHosts = []string{"Auth.Internal", "*.svc.cluster.local"} })
	for host, want := range map[string]int{
		"auth.internal:8080": 200, "auth.internal.": 200, "broker.ns.svc.cluster.local": 200,
		"svc.cluster.local": 421, "auth.internal.evil.example": 421, "evil.example": 421,
	} {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/healthz", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s: %d, want %d", host, resp.StatusCode, want)
		}
	}
	_, err := New(context.Background(), Config{Twitch: &twitchauth.Config{ClientID: "x"}, Store: e.store,
		PublicURL: "http://localhost:1", AllowedHosts: []string{"https://auth.internal"}})
	if err == nil || !strings.Contains(err.Error(), "allowed host") {
		t.Fatalf("a URL as allowed host: %v", err)
	}
}
