package twitchtest_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth/twitchtest"
)

// The sandbox's EventSub side, checked with a webhook receiver written here
// from docs/protocol.md (its own HMAC code): the library's eventsub package
// meets the sandbox in its own tests (eventsub/sandbox_test.go).

const esSecret = "sandbox-secret-0123"

// esRequest is one delivery the receiver got.
type esRequest struct {
	header http.Header
	body   []byte
	sigOK  bool
}

func (r esRequest) msgType() string { return r.header.Get("Twitch-Eventsub-Message-Type") }

// esPayload is a delivery body.
type esPayload struct {
	Challenge    string `json:"challenge"`
	Subscription struct {
		ID        string            `json:"id"`
		Status    string            `json:"status"`
		Type      string            `json:"type"`
		Version   string            `json:"version"`
		Condition map[string]string `json:"condition"`
		Transport map[string]string `json:"transport"`
		CreatedAt string            `json:"created_at"`
		Cost      *int              `json:"cost"`
	} `json:"subscription"`
	Event map[string]any `json:"event"`
}

func (r esRequest) payload(t *testing.T) esPayload {
	t.Helper()
	var p esPayload
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("delivery body %s: %v", r.body, err)
	}
	return p
}

// receiver is a webhook callback. mode says how it answers: "ok" answers
// challenges and acknowledges the rest; "bad-challenge" answers the
// challenge wrongly; "fail" answers 500 to notifications.
type receiver struct {
	t    *testing.T
	srv  *httptest.Server
	mu   sync.Mutex
	got  []esRequest
	mode string
}

func newReceiver(t *testing.T, mode string) *receiver {
	rc := &receiver{t: t, mode: mode}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) url() string { return rc.srv.URL + "/eventsub" }

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	id := r.Header.Get("Twitch-Eventsub-Message-Id")
	ts := r.Header.Get("Twitch-Eventsub-Message-Timestamp")
	mac := hmac.New(sha256.New, []byte(esSecret))
	mac.Write([]byte(id + ts))
	mac.Write(body)
	req := esRequest{header: r.Header.Clone(), body: body, sigOK: r.Header.Get("Twitch-Eventsub-Message-Signature") == "sha256="+hex.EncodeToString(mac.Sum(nil))}
	rc.mu.Lock()
	rc.got = append(rc.got, req)
	mode := rc.mode
	rc.mu.Unlock()
	switch req.msgType() {
	case "webhook_callback_verification":
		var p esPayload
		json.Unmarshal(body, &p)
		if mode == "bad-challenge" {
			p.Challenge += "\n"
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte(p.Challenge))
	case "notification":
		if mode == "fail" {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// wait returns the requests once cond holds for them (bounded: 10 s).
func (rc *receiver) wait(what string, cond func([]esRequest) bool) []esRequest {
	rc.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rc.mu.Lock()
		got := append([]esRequest(nil), rc.got...)
		rc.mu.Unlock()
		if cond(got) {
			return got
		}
		if time.Now().After(deadline) {
			rc.t.Fatalf("waiting for %s: the receiver got %d requests", what, len(got))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ofType(reqs []esRequest, msgType, subType string) []esRequest {
	var out []esRequest
	for _, r := range reqs {
		if r.msgType() == msgType && r.header.Get("Twitch-Eventsub-Subscription-Type") == subType {
			out = append(out, r)
		}
	}
	return out
}

// esSub is the subscription part of an answer.
type esSub struct {
	ID        string            `json:"id"`
	Status    string            `json:"status"`
	Type      string            `json:"type"`
	Version   string            `json:"version"`
	Condition map[string]string `json:"condition"`
	CreatedAt string            `json:"created_at"`
	Transport map[string]string `json:"transport"`
	Cost      int               `json:"cost"`
}

type esList struct {
	Data         []esSub        `json:"data"`
	Total        *int           `json:"total"`
	TotalCost    *int           `json:"total_cost"`
	MaxTotalCost *int           `json:"max_total_cost"`
	Pagination   map[string]any `json:"pagination"`
}

func esBody(typ, version string, cond map[string]string, callback, secret string) string {
	b, _ := json.Marshal(map[string]any{
		"type": typ, "version": version, "condition": cond,
		"transport": map[string]string{"method": "webhook", "callback": callback, "secret": secret},
	})
	return string(b)
}

func esCreate(t *testing.T, s *twitchtest.Server, app, typ, version string, cond map[string]string, callback string) esSub {
	t.Helper()
	r := helixDo(t, s, "POST", "/eventsub/subscriptions", "Bearer "+app, s.DefaultClient().ID, esBody(typ, version, cond, callback, esSecret))
	r.want(t, 202, "")
	var l esList
	if err := json.Unmarshal([]byte(r.body), &l); err != nil || len(l.Data) != 1 {
		t.Fatalf("POST answer %s: %v", r.body, err)
	}
	return l.Data[0]
}

func esStatus(t *testing.T, s *twitchtest.Server, id string) string {
	t.Helper()
	for _, sub := range s.EventSubSubscriptions("") {
		if sub.ID == id {
			return sub.Status
		}
	}
	return ""
}

func waitStatus(t *testing.T, s *twitchtest.Server, id, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for esStatus(t, s, id) != want {
		if time.Now().After(deadline) {
			t.Fatalf("subscription %s is %q, want %q", id, esStatus(t, s, id), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func fastDelivery() twitchtest.Option {
	return twitchtest.WithEventSub(twitchtest.EventSubConfig{Timeout: 2 * time.Second, Retries: 2, RetryBackoff: 5 * time.Millisecond, MaxFailures: 3})
}

// TestEventSubDisconnect is the whole path: subscribe to grant and revoke
// with the app token, answer the challenge, then a user disconnects the app:
// the tokens die, the revoke notification arrives signed with Twitch's
// headers, the subscription that needed the grant ends with a revocation,
// and consenting again delivers a grant notification.
func TestEventSubDisconnect(t *testing.T) {
	s := twitchtest.NewServer(t, fastDelivery())
	rc := newReceiver(t, "ok")
	cid := s.DefaultClient().ID
	app := appToken(t, s)
	bc, _ := s.User("broadcaster")
	mod, _ := s.User("moderator")
	access, refresh, err := s.MintUserToken(cid, "moderator", []string{"moderator:read:followers"})
	if err != nil {
		t.Fatal(err)
	}

	revoke := esCreate(t, s, app, "user.authorization.revoke", "1", map[string]string{"client_id": cid}, rc.url())
	if revoke.Status != "webhook_callback_verification_pending" || revoke.Transport["callback"] != rc.url() || revoke.Transport["secret"] != "" ||
		revoke.Cost != 1 || revoke.Condition["client_id"] != cid || revoke.CreatedAt == "" {
		t.Fatalf("created subscription %+v", revoke)
	}
	grant := esCreate(t, s, app, "user.authorization.grant", "1", map[string]string{"client_id": cid}, rc.url())
	follow := esCreate(t, s, app, "channel.follow", "2", map[string]string{"broadcaster_user_id": bc.ID, "moderator_user_id": mod.ID}, rc.url())
	if follow.Cost != 0 {
		t.Errorf("a subscription authorized by the user costs %d, want 0", follow.Cost)
	}
	for _, sub := range []esSub{revoke, grant, follow} {
		waitStatus(t, s, sub.ID, "enabled")
	}
	got := rc.wait("three challenges", func(r []esRequest) bool { return len(r) == 3 })
	for _, r := range got {
		p := r.payload(t)
		if r.msgType() != "webhook_callback_verification" || !r.sigOK || p.Challenge == "" || p.Subscription.Status != "webhook_callback_verification_pending" {
			t.Fatalf("challenge %s %s (signature ok %v)", r.header, r.body, r.sigOK)
		}
	}

	// The user disconnects the app.
	r, err := http.Post(s.URL()+"/_sandbox/connections/revoke", "application/json", strings.NewReader(fmt.Sprintf(`{"client_id":%q,"user_id":%q}`, cid, mod.ID)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || !strings.Contains(string(body), `"revoked_tokens":2`) {
		t.Fatalf("revoke: %d %s", r.StatusCode, body)
	}
	got = rc.wait("the revoke notification and the follow revocation", func(r []esRequest) bool {
		return len(ofType(r, "notification", "user.authorization.revoke")) == 1 && len(ofType(r, "revocation", "channel.follow")) == 1
	})
	n := ofType(got, "notification", "user.authorization.revoke")[0]
	h := n.header
	if !n.sigOK || h.Get("Content-Type") != "application/json" || h.Get("Twitch-Eventsub-Message-Retry") != "0" ||
		h.Get("Twitch-Eventsub-Subscription-Version") != "1" || len(h.Get("Twitch-Eventsub-Message-Id")) != 36 {
		t.Errorf("notification headers %v (signature ok %v)", h, n.sigOK)
	}
	if ts, err := time.Parse(time.RFC3339Nano, h.Get("Twitch-Eventsub-Message-Timestamp")); err != nil || time.Since(ts) > time.Minute {
		t.Errorf("timestamp %q: %v", h.Get("Twitch-Eventsub-Message-Timestamp"), err)
	}
	p := n.payload(t)
	if p.Event["client_id"] != cid || p.Event["user_id"] != mod.ID || p.Event["user_login"] != "moderator" || p.Subscription.ID != revoke.ID || p.Subscription.Status != "enabled" {
		t.Errorf("revoke notification %s", n.body)
	}
	rev := ofType(got, "revocation", "channel.follow")[0]
	if p := rev.payload(t); !rev.sigOK || p.Subscription.Status != "authorization_revoked" || p.Subscription.ID != follow.ID || p.Event != nil {
		t.Errorf("revocation %s", rev.body)
	}
	if esStatus(t, s, follow.ID) != "authorization_revoked" || esStatus(t, s, revoke.ID) != "enabled" {
		t.Errorf("statuses after the revoke: follow %s, revoke %s", esStatus(t, s, follow.ID), esStatus(t, s, revoke.ID))
	}
	if len(ofType(got, "notification", "user.authorization.grant")) != 0 {
		t.Error("a grant notification was sent for a revoke")
	}
	// The grant's tokens are dead.
	helixDo(t, s, "GET", "/users", "Bearer "+access, cid, "").want(t, 401, "")
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {cid}, "client_secret": {s.DefaultClient().Secret}}
	if resp, err := http.PostForm(s.IDURL()+"/token", form); err != nil || resp.StatusCode != 400 {
		t.Fatalf("refresh after the disconnect: %v %v", resp.StatusCode, err)
	}

	// Consenting again delivers user.authorization.grant.
	if _, _, err := s.MintUserToken(cid, "moderator", nil); err != nil {
		t.Fatal(err)
	}
	got = rc.wait("the grant notification", func(r []esRequest) bool { return len(ofType(r, "notification", "user.authorization.grant")) == 1 })
	g := ofType(got, "notification", "user.authorization.grant")[0]
	if p := g.payload(t); !g.sigOK || p.Event["user_id"] != mod.ID || p.Event["user_name"] != "Moderator" || p.Subscription.ID != grant.ID {
		t.Errorf("grant notification %s", g.body)
	}
	// A second consent to the same app adds nothing: no new grant event.
	s.MintUserToken(cid, "moderator", []string{"user:read:email"})
	time.Sleep(50 * time.Millisecond)
	if n := len(ofType(rc.wait("", func([]esRequest) bool { return true }), "notification", "user.authorization.grant")); n != 1 {
		t.Errorf("%d grant notifications after a scope upgrade, want 1", n)
	}
	// The revoke endpoint refuses a second disconnect and bad input.
	for _, c := range []struct {
		ct, body string
		status   int
	}{
		{"application/json", fmt.Sprintf(`{"client_id":%q,"user_id":%q}`, cid, bc.ID), 404},
		{"application/json", `{"client_id":"x"}`, 400},
		{"application/json", `{"client_id":1}`, 400},
		{"application/x-www-form-urlencoded", "user_id=" + mod.ID, 400},
		{"application/x-www-form-urlencoded", "client_id=nope&user_id=" + mod.ID, 404},
	} {
		resp, err := http.Post(s.URL()+"/_sandbox/connections/revoke", c.ct, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.Contains(string(b), `"message"`) {
			t.Errorf("revoke %s: %d %s, want %d with a JSON error", c.body, resp.StatusCode, b, c.status)
		}
	}
	// The form spelling works too.
	resp, err := http.PostForm(s.URL()+"/_sandbox/connections/revoke", url.Values{"client_id": {cid}, "user_id": {mod.ID}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("form revoke: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
}

func TestEventSubCreateRules(t *testing.T) {
	s := twitchtest.NewServer(t, fastDelivery())
	rc := newReceiver(t, "ok")
	cid := s.DefaultClient().ID
	app := appToken(t, s)
	bc, _ := s.User("broadcaster")
	user := userToken(t, s, "broadcaster", "channel:read:subscriptions")
	other, _ := s.AddClient(twitchtest.Client{Name: "Other"})
	otherApp, _ := s.MintAppToken(other.ID)
	revokeCond := map[string]string{"client_id": cid}
	ok := esBody("user.authorization.revoke", "1", revokeCond, rc.url(), esSecret)
	jwt, err := s.MintHelixJWT(twitchtest.HelixJWTOptions{OpaqueUserID: "U1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"POST", "GET", "DELETE"} {
		helixDo(t, s, m, "/eventsub/subscriptions?id=x", "Extension "+jwt, s.ExtensionClient().ID, ok).
			want(t, 401, `{"error":"Unauthorized","status":401,"message":"The Extension authorization scheme is not supported by this endpoint"}`)
	}
	cases := []struct {
		name           string
		auth, clientID string
		body           string
		status         int
		message        string
	}{
		{"no token", "", cid, ok, 401, "OAuth token is missing"},
		{"no client id", "Bearer " + app, "", ok, 401, "Client ID is missing"},
		{"client id of another app", "Bearer " + app, other.ID, ok, 401, "Client ID and OAuth token do not match"},
		{"user token", "Bearer " + user, cid, ok, 401, "Webhook and conduit subscriptions require an app access token."},
		{"condition of another client", "Bearer " + otherApp, other.ID, ok, 403, "Provided client_id must match the client id in the application access token."},
		{"no grant", "Bearer " + app, cid, esBody("channel.follow", "2", map[string]string{"broadcaster_user_id": bc.ID, "moderator_user_id": bc.ID}, rc.url(), esSecret), 403, "The access token is missing the required scopes."},
		{"short secret", "Bearer " + app, cid, esBody("user.authorization.revoke", "1", revokeCond, rc.url(), "short"), 400, "The length of the string in the secret field is not valid."},
		{"long secret", "Bearer " + app, cid, esBody("user.authorization.revoke", "1", revokeCond, rc.url(), strings.Repeat("s", 101)), 400, "The length of the string in the secret field is not valid."},
		{"http elsewhere", "Bearer " + app, cid, esBody("user.authorization.revoke", "1", revokeCond, "http://example.com/cb", esSecret), 400, "The URL in the transport's callback field is not valid. The URL must use the HTTPS protocol and the 443 port number."},
		{"https elsewhere", "Bearer " + app, cid, esBody("user.authorization.revoke", "1", revokeCond, "https://example.com/cb", esSecret), 400, "The sandbox delivers only to loopback callbacks (127.0.0.1, ::1 or localhost)."},
		{"unknown type", "Bearer " + app, cid, esBody("user.authorization.revoke", "2", revokeCond, rc.url(), esSecret), 400, "The combination of values in the type and version fields is not valid."},
		{"missing condition", "Bearer " + app, cid, esBody("user.authorization.revoke", "1", map[string]string{}, rc.url(), esSecret), 400, "The condition's client_id field is missing or empty."},
		{"unknown condition field", "Bearer " + app, cid, esBody("user.authorization.revoke", "1", map[string]string{"client_id": cid, "x": "1"}, rc.url(), esSecret), 400, `The condition field "x" is not valid for user.authorization.revoke.`},
		{"unknown user", "Bearer " + app, cid, esBody("stream.online", "1", map[string]string{"broadcaster_user_id": "1"}, rc.url(), esSecret), 400, "The condition's broadcaster_user_id field does not name a user."},
		{"websocket", "Bearer " + app, cid, `{"type":"user.authorization.revoke","version":"1","condition":{"client_id":"` + cid + `"},"transport":{"method":"websocket","session_id":"x"}}`, 400, "The sandbox supports only the webhook transport."},
		{"not JSON", "Bearer " + app, cid, `{`, 400, "Malformed request body"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := helixDo(t, s, "POST", "/eventsub/subscriptions", c.auth, c.clientID, c.body)
			var e struct {
				Error   string `json:"error"`
				Status  int    `json:"status"`
				Message string `json:"message"`
			}
			json.Unmarshal([]byte(r.body), &e)
			if r.status != c.status || e.Status != c.status || e.Message != c.message || e.Error != http.StatusText(c.status) {
				t.Fatalf("got %d %s, want %d %q", r.status, r.body, c.status, c.message)
			}
		})
	}
	if subs := s.EventSubSubscriptions(""); len(subs) != 0 {
		t.Fatalf("refused requests created %d subscriptions", len(subs))
	}

	// 409 for the same type, condition and callback; up to 3 callbacks may
	// share a type and condition, the fourth is a 429.
	first := esCreate(t, s, app, "user.authorization.revoke", "1", revokeCond, rc.url())
	r := helixDo(t, s, "POST", "/eventsub/subscriptions", "Bearer "+app, cid, ok)
	r.want(t, 409, `{"error":"Conflict","status":409,"message":"A subscription already exists for the specified event type and condition combination."}`)
	rc2, rc3, rc4 := newReceiver(t, "ok"), newReceiver(t, "ok"), newReceiver(t, "ok")
	esCreate(t, s, app, "user.authorization.revoke", "1", revokeCond, rc2.url())
	esCreate(t, s, app, "user.authorization.revoke", "1", revokeCond, rc3.url())
	r = helixDo(t, s, "POST", "/eventsub/subscriptions", "Bearer "+app, cid, esBody("user.authorization.revoke", "1", revokeCond, rc4.url(), esSecret))
	r.want(t, 429, "")
	// A subscription no longer enabled does not block a new one.
	helixDo(t, s, "DELETE", "/eventsub/subscriptions?id="+first.ID, "Bearer "+app, cid, "").want(t, 204, "")
	esCreate(t, s, app, "user.authorization.revoke", "1", revokeCond, rc.url())
}

func TestEventSubVerificationFailed(t *testing.T) {
	s := twitchtest.NewServer(t, fastDelivery())
	rc := newReceiver(t, "bad-challenge")
	cid := s.DefaultClient().ID
	sub := esCreate(t, s, appToken(t, s), "user.authorization.revoke", "1", map[string]string{"client_id": cid}, rc.url())
	waitStatus(t, s, sub.ID, "webhook_callback_verification_failed")
	d := s.EventSubDeliveries()
	if len(d) != 1 || d[0].OK || d[0].MessageType != "webhook_callback_verification" || !strings.Contains(d[0].Err, "raw challenge") {
		t.Fatalf("deliveries %+v", d)
	}
	// No event reaches a subscription that failed verification.
	s.MintUserToken(cid, "viewer", nil)
	s.RevokeGrant(cid, mustUser(t, s, "viewer").ID)
	time.Sleep(50 * time.Millisecond)
	if got := rc.wait("", func([]esRequest) bool { return true }); len(got) != 1 {
		t.Fatalf("receiver got %d requests, want only the challenge", len(got))
	}
	// An unreachable callback fails verification too.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL + "/eventsub"
	dead.Close()
	sub2 := esCreate(t, s, appToken(t, s), "user.authorization.grant", "1", map[string]string{"client_id": cid}, deadURL)
	waitStatus(t, s, sub2.ID, "webhook_callback_verification_failed")
}

// TestEventSubFailuresExceeded: a callback that keeps failing is retried
// with the same message ID, and the subscription ends with
// notification_failures_exceeded and a revocation message.
func TestEventSubFailuresExceeded(t *testing.T) {
	s := twitchtest.NewServer(t, fastDelivery()) // 2 retries, 3 failures end it
	rc := newReceiver(t, "fail")
	cid := s.DefaultClient().ID
	sub := esCreate(t, s, appToken(t, s), "user.authorization.grant", "1", map[string]string{"client_id": cid}, rc.url())
	waitStatus(t, s, sub.ID, "enabled")
	s.MintUserToken(cid, "viewer", nil) // a grant: one notification
	got := rc.wait("3 attempts and the revocation", func(r []esRequest) bool {
		return len(ofType(r, "notification", "user.authorization.grant")) == 3 && len(ofType(r, "revocation", "user.authorization.grant")) == 1
	})
	n := ofType(got, "notification", "user.authorization.grant")
	for i, r := range n {
		if r.header.Get("Twitch-Eventsub-Message-Id") != n[0].header.Get("Twitch-Eventsub-Message-Id") || r.header.Get("Twitch-Eventsub-Message-Retry") != fmt.Sprint(i) || !r.sigOK {
			t.Errorf("attempt %d: id %s retry %s sig %v", i, r.header.Get("Twitch-Eventsub-Message-Id"), r.header.Get("Twitch-Eventsub-Message-Retry"), r.sigOK)
		}
	}
	rev := ofType(got, "revocation", "user.authorization.grant")[0].payload(t)
	if rev.Subscription.Status != "notification_failures_exceeded" || esStatus(t, s, sub.ID) != "notification_failures_exceeded" {
		t.Fatalf("revocation status %q, subscription %q", rev.Subscription.Status, esStatus(t, s, sub.ID))
	}
	// Nothing more is sent to it.
	s.MintUserToken(cid, "moderator", nil)
	time.Sleep(50 * time.Millisecond)
	if n := len(ofType(rc.wait("", func([]esRequest) bool { return true }), "notification", "user.authorization.grant")); n != 3 {
		t.Fatalf("%d notifications after the subscription ended, want 3", n)
	}

	// A success resets the count: a callback failing once per message
	// keeps its subscription.
	flaky := newReceiver(t, "ok")
	var mu sync.Mutex
	calls := 0
	flaky.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Twitch-Eventsub-Message-Type") == "notification" {
			mu.Lock()
			calls++
			odd := calls%2 == 1
			mu.Unlock()
			if odd {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
		}
		flaky.serve(w, r)
	})
	sub2 := esCreate(t, s, appToken(t, s), "user.authorization.revoke", "1", map[string]string{"client_id": cid}, flaky.url())
	waitStatus(t, s, sub2.ID, "enabled")
	s.MintUserToken(cid, "twitchdev", nil)
	for _, login := range []string{"viewer", "moderator", "twitchdev"} {
		s.RevokeGrant(cid, mustUser(t, s, login).ID)
		flaky.wait("the revoke of "+login, func(r []esRequest) bool {
			for _, x := range ofType(r, "notification", "user.authorization.revoke") {
				if x.payload(t).Event["user_login"] == login {
					return true
				}
			}
			return false
		})
	}
	if st := esStatus(t, s, sub2.ID); st != "enabled" {
		t.Fatalf("a callback that recovers each time ended as %s", st)
	}
}

func TestEventSubListAndDelete(t *testing.T) {
	var opts []twitchtest.Option
	for i := 0; i < 102; i++ {
		opts = append(opts, twitchtest.WithUser(twitchtest.User{Login: fmt.Sprintf("user%03d", i)}))
	}
	s := twitchtest.NewServer(t, append(opts, fastDelivery())...)
	rc := newReceiver(t, "ok")
	cid := s.DefaultClient().ID
	app := appToken(t, s)
	// 102 stream.online subscriptions: cost 1 each, but 0 for a user who
	// authorized the client.
	s.MintUserToken(cid, "user000", nil)
	var ids []string
	for _, u := range s.Users() {
		ids = append(ids, esCreate(t, s, app, "stream.online", "1", map[string]string{"broadcaster_user_id": u.ID}, rc.url()).ID)
	}
	list := func(q string) (esList, helixResp) {
		r := helixDo(t, s, "GET", "/eventsub/subscriptions"+q, "Bearer "+app, cid, "")
		var l esList
		if r.status == 200 {
			if err := json.Unmarshal([]byte(r.body), &l); err != nil {
				t.Fatal(err)
			}
		}
		return l, r
	}
	l, _ := list("")
	if len(l.Data) != 100 || *l.Total != 102 || *l.TotalCost != 101 || *l.MaxTotalCost != 10000 || l.Pagination["cursor"] == nil {
		t.Fatalf("first page: %d items, total %v, cost %v, max %v, pagination %v", len(l.Data), *l.Total, *l.TotalCost, *l.MaxTotalCost, l.Pagination)
	}
	if l.Data[0].ID != ids[0] || l.Data[99].ID != ids[99] {
		t.Error("the list is not oldest first")
	}
	l2, _ := list("?after=" + url.QueryEscape(l.Pagination["cursor"].(string)))
	if len(l2.Data) != 2 || l2.Data[1].ID != ids[101] || len(l2.Pagination) != 0 {
		t.Fatalf("last page: %d items, pagination %v", len(l2.Data), l2.Pagination)
	}
	u5 := s.Users()[5]
	if l, _ := list("?user_id=" + u5.ID); len(l.Data) != 1 || l.Data[0].Condition["broadcaster_user_id"] != u5.ID || *l.Total != 102 {
		t.Errorf("user_id filter: %+v", l.Data)
	}
	if l, _ := list("?subscription_id=" + ids[7]); len(l.Data) != 1 || l.Data[0].ID != ids[7] {
		t.Errorf("subscription_id filter: %+v", l.Data)
	}
	if l, _ := list("?type=user.update"); len(l.Data) != 0 {
		t.Errorf("type filter: %+v", l.Data)
	}
	waitStatus(t, s, ids[101], "enabled")
	if l, _ := list("?status=webhook_callback_verification_failed"); len(l.Data) != 0 {
		t.Errorf("status filter: %+v", l.Data)
	}
	_, r := list("?type=stream.online&status=enabled")
	r.want(t, 400, "")
	_, r = list("?after=bogus")
	r.want(t, 400, "")
	// Another client sees none of them; a user token sees no webhooks.
	other, _ := s.AddClient(twitchtest.Client{Name: "Other"})
	otherApp, _ := s.MintAppToken(other.ID)
	r = helixDo(t, s, "GET", "/eventsub/subscriptions", "Bearer "+otherApp, other.ID, "")
	r.want(t, 200, `{"data":[],"total":0,"total_cost":0,"max_total_cost":10000,"pagination":{}}`)
	helixDo(t, s, "DELETE", "/eventsub/subscriptions?id="+ids[0], "Bearer "+otherApp, other.ID, "").want(t, 404, "")

	// DELETE.
	helixDo(t, s, "DELETE", "/eventsub/subscriptions", "Bearer "+app, cid, "").want(t, 400, "")
	helixDo(t, s, "DELETE", "/eventsub/subscriptions?id="+ids[0], "Bearer "+app, cid, "").want(t, 204, "")
	helixDo(t, s, "DELETE", "/eventsub/subscriptions?id="+ids[0], "Bearer "+app, cid, "").want(t, 404, `{"error":"Not Found","status":404,"message":"The subscription was not found."}`)
	if l, _ := list(""); *l.Total != 101 || *l.TotalCost != 101 {
		t.Errorf("after a delete: total %d, cost %d", *l.Total, *l.TotalCost)
	}
}

func TestConnectionsPage(t *testing.T) {
	s := twitchtest.NewServer(t, fastDelivery())
	cid := s.DefaultClient().ID
	access, _, _ := s.MintUserToken(cid, "viewer", []string{"user:read:email"})
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	page := s.URL() + "/settings/connections"
	get := func() string {
		resp, err := c.Get(page)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET: %d", resp.StatusCode)
		}
		return string(b)
	}
	post := func(form url.Values) (int, string) {
		resp, err := c.PostForm(page, form)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	if b := get(); !strings.Contains(b, "Sign in to see") {
		t.Fatalf("signed-out page: %s", b)
	}
	if st, _ := post(url.Values{"action": {"disconnect"}, "client_id": {cid}}); st != 401 {
		t.Fatalf("disconnect while signed out: %d", st)
	}
	post(url.Values{"action": {"signin"}, "login": {"viewer"}})
	b := get()
	if !strings.Contains(b, "Signed in as <strong>Viewer</strong>") || !strings.Contains(b, "Sandbox App") || !strings.Contains(b, "user:read:email") {
		t.Fatalf("signed-in page: %s", b)
	}
	// A cross-site POST is refused.
	req, _ := http.NewRequest("POST", page, strings.NewReader("action=disconnect&client_id="+cid))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, err := c.Do(req); err != nil || resp.StatusCode != 403 {
		t.Fatalf("cross-site disconnect: %v %v", resp.StatusCode, err)
	}
	if len(s.Connections(mustUser(t, s, "viewer").ID)) != 1 {
		t.Fatal("a cross-site POST disconnected the app")
	}
	st, b := post(url.Values{"action": {"disconnect"}, "client_id": {cid}})
	if st != 200 || !strings.Contains(b, "Sandbox App was disconnected") || !strings.Contains(b, "No application is connected") {
		t.Fatalf("disconnect: %d %s", st, b)
	}
	helixDo(t, s, "GET", "/users", "Bearer "+access, cid, "").want(t, 401, "")
	if st, _ := post(url.Values{"action": {"disconnect"}, "client_id": {cid}}); st != 404 {
		t.Fatalf("second disconnect: %d", st)
	}
	post(url.Values{"action": {"signout"}})
	if b := get(); !strings.Contains(b, "Sign in to see") {
		t.Fatal("sign-out kept the user signed in")
	}
}

// TestEventSubStateFile: subscriptions, with their secrets, survive a
// restart on the state file, and keep delivering.
func TestEventSubStateFile(t *testing.T) {
	path := t.TempDir() + "/state.json"
	rc := newReceiver(t, "ok")
	s1, err := twitchtest.New(twitchtest.WithStateFile(path), fastDelivery())
	if err != nil {
		t.Fatal(err)
	}
	if err := s1.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	cid := s1.DefaultClient().ID
	sub := esCreate(t, s1, appToken(t, s1), "user.authorization.revoke", "1", map[string]string{"client_id": cid}, rc.url())
	waitStatus(t, s1, sub.ID, "enabled")
	s1.MintUserToken(cid, "viewer", nil)
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := twitchtest.NewServer(t, twitchtest.WithStateFile(path), fastDelivery())
	subs := s2.EventSubSubscriptions(cid)
	if len(subs) != 1 || subs[0].ID != sub.ID || subs[0].Status != "enabled" || subs[0].Callback != rc.url() {
		t.Fatalf("after the restart: %+v", subs)
	}
	s2.Disconnect(cid, mustUser(t, s2, "viewer").ID)
	got := rc.wait("the revoke after the restart", func(r []esRequest) bool {
		return len(ofType(r, "notification", "user.authorization.revoke")) == 1
	})
	if n := ofType(got, "notification", "user.authorization.revoke")[0]; !n.sigOK {
		t.Fatal("the persisted secret does not sign the delivery")
	}
}
