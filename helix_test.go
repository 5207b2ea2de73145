package twitchauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/provider"
	"github.com/twitchauth/twitchauth/twitchtest"
)

type hxUser struct {
	ID          string `json:"id"`
	Login       string `json:"login"`
	DisplayName string `json:"display_name"`
}

type hxStream struct {
	ID          string `json:"id"`
	UserLogin   string `json:"user_login"`
	ViewerCount int    `json:"viewer_count"`
}

// The seed call: GET /helix/users?id=… with a user token that expired
// under the Provider's feet; the client refreshes once and gets the user.
func TestHelixGetUsersRefreshes(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	p := newProvider(t, cfg)
	tok := provUser(t, s, p, cfg.ClientID, "twitchdev", []string{"user:read:email"})
	h := newHelix(cfg, p.TokenSource(provider.User(tok.UserID)))
	s.ExpireAccessToken(tok.AccessToken)
	s.ResetCounters()
	var out struct {
		Data []hxUser `json:"data"`
	}
	if err := h.Get(ctx(t), "/users", url.Values{"id": {tok.UserID}}, &out); err != nil {
		leaks.Text(err.Error())
		t.Fatal(err)
	}
	if len(out.Data) != 1 || out.Data[0].Login != "twitchdev" || out.Data[0].ID != tok.UserID {
		t.Fatalf("users = %+v", out.Data)
	}
	if n := s.Requests("token:refresh_token"); n != 1 {
		t.Fatalf("%d refreshes, want 1", n)
	}
	if st := statsOf(h); st.Refreshes != 1 || st.Retries != 1 || st.Requests != 2 {
		t.Fatalf("stats %+v", st)
	}
	// The same call without a leading slash, and with the query in the path.
	var again struct {
		Data []hxUser `json:"data"`
	}
	if err := h.Get(ctx(t), "users?login=twitchdev", nil, &again); err != nil || len(again.Data) != 1 || again.Data[0].ID != tok.UserID {
		t.Fatalf("relative path: %+v %v", again, err)
	}
	var raw json.RawMessage
	if err := h.Get(ctx(t), "users", url.Values{"login": {"twitchdev"}}, &raw); err != nil || !strings.Contains(string(raw), `"data"`) {
		t.Fatalf("raw answer %s, %v", raw, err)
	}
	if err := h.Get(ctx(t), "https://evil.example/helix/users", nil, nil); err == nil {
		t.Fatal("an absolute URL was accepted as a path")
	}
}

// A POST with a JSON body (ban a user) through the client, with a 503 on
// the first try: the body is sent again intact and the ban lands once.
func TestHelixPostBanWithReplay(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	p := newProvider(t, cfg)
	bc, _ := s.User("broadcaster")
	victim, _ := s.User("twitchdev")
	mod := provUser(t, s, p, cfg.ClientID, "moderator", []string{"moderator:manage:banned_users"})
	var bodies []string
	var first atomic.Bool
	first.Store(true)
	s.SetFault("helix:POST /moderation/bans", twitchtest.FaultFunc(func(w http.ResponseWriter, r *http.Request) bool {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, string(b))
		r.Body = io.NopCloser(bytes.NewReader(b))
		if first.Swap(false) {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	}))
	h := newHelix(cfg, p.TokenSource(provider.User(mod.UserID)), withRetryBackoff(time.Millisecond))
	q := url.Values{"broadcaster_id": {bc.ID}, "moderator_id": {mod.UserID}}
	body := map[string]any{"data": map[string]any{"user_id": victim.ID, "reason": "no spam", "duration": 600}}
	var out struct {
		Data []struct {
			BroadcasterID string  `json:"broadcaster_id"`
			ModeratorID   string  `json:"moderator_id"`
			UserID        string  `json:"user_id"`
			EndTime       *string `json:"end_time"`
		} `json:"data"`
	}
	if err := h.Do(ctx(t), http.MethodPost, "moderation/bans", q, body, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Data) != 1 || out.Data[0].UserID != victim.ID || out.Data[0].ModeratorID != mod.UserID || out.Data[0].EndTime == nil {
		t.Fatalf("ban answer %+v", out.Data)
	}
	want, _ := json.Marshal(body)
	if len(bodies) != 2 || bodies[0] != string(want) || bodies[1] != string(want) {
		t.Fatalf("bodies sent %q, want %s twice", bodies, want)
	}
	// A ban without a user is refused (400), with Helix's message in the error.
	err := h.Do(ctx(t), http.MethodPost, "moderation/bans", q, map[string]any{"data": map[string]any{"reason": "?"}}, nil)
	var he *twitchauth.HelixError
	if !errors.As(err, &he) || he.Status != 400 || he.Message == "" || he.Method != "POST" || he.Path != "/helix/moderation/bans" {
		t.Fatalf("second ban: %v", err)
	}
	leaks.Text(err.Error())
	// Unban: DELETE answers 204 without a body.
	q.Set("user_id", victim.ID)
	if err := h.Do(ctx(t), http.MethodDelete, "moderation/bans", q, nil, &out); err != nil {
		t.Fatal(err)
	}
}

// Helix's refusals become *HelixError values that errors.Is can match.
func TestHelixErrors(t *testing.T) {
	s := newSandbox(t, twitchtest.WithHelixRateLimit(3, time.Minute))
	cfg := confidential(s)
	p := newProvider(t, cfg)
	bc, _ := s.User("broadcaster")
	mod := provUser(t, s, p, cfg.ClientID, "moderator", nil) // no moderation scope
	// Without the local scope check, the request goes to Helix, whose
	// "Missing scope" 401 is parsed.
	h := newHelix(cfg, p.TokenSource(provider.User(mod.UserID)), withoutPacing(), withoutScopeCheck())
	s.ResetCounters()

	err := h.Do(ctx(t), http.MethodPost, "moderation/bans", url.Values{"broadcaster_id": {bc.ID}, "moderator_id": {mod.UserID}},
		map[string]any{"data": map[string]any{"user_id": "1"}}, nil)
	var he *twitchauth.HelixError
	if !errors.As(err, &he) || he.Status != 401 || !errors.Is(err, twitchauth.ErrMissingScopes) || !errors.Is(err, twitchauth.ErrUnauthorized) || errors.Is(err, twitchauth.ErrInvalidToken) {
		t.Fatalf("missing scope: %v", err)
	}
	if !strings.Contains(err.Error(), "authorize the user again") {
		t.Fatalf("missing scope error says nothing to do: %v", err)
	}
	if n := s.Requests("token:refresh_token"); n != 0 {
		t.Fatalf("a missing scope caused %d refreshes", n)
	}
	leaks.Text(err.Error())

	err = h.Get(ctx(t), "streams", url.Values{"first": {"1000"}}, nil)
	if !errors.As(err, &he) || he.Status != 400 || errors.Is(err, twitchauth.ErrUnauthorized) {
		t.Fatalf("bad parameter: %v", err)
	}
	err = h.Get(ctx(t), "no/such/endpoint", nil, nil)
	if !errors.As(err, &he) || he.Status != 404 {
		t.Fatalf("unknown endpoint: %v", err)
	}

	// Drain the 3-point bucket, then a call with a short deadline gets the
	// 429 back at once as ErrRateLimited, with the reset time.
	for range 3 {
		_ = h.Get(ctx(t), "users", nil, nil)
	}
	short, cancel := context.WithTimeout(ctx(t), time.Second)
	defer cancel()
	start := time.Now()
	err = h.Get(short, "users", nil, nil)
	if !errors.As(err, &he) || he.Status != 429 || !errors.Is(err, twitchauth.ErrRateLimited) || he.Reset.IsZero() {
		t.Fatalf("rate limited: %v", err)
	}
	if time.Since(start) > 900*time.Millisecond {
		t.Fatalf("a 429 past the deadline took %v", time.Since(start))
	}

	// An invalid token that no refresh can replace.
	bad := newHelix(cfg, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "notavalidtoken0000000000000000"}))
	err = bad.Get(ctx(t), "users", url.Values{"login": {"twitchdev"}}, nil)
	if !errors.Is(err, twitchauth.ErrUnauthorized) || !errors.Is(err, twitchauth.ErrInvalidToken) || strings.Contains(err.Error(), "notavalidtoken") {
		t.Fatalf("invalid token: %v", err)
	}
}

// Cursor pagination over GET /streams, one item per page, typed and raw;
// breaking out of the loop stops fetching.
func TestHelixPaginate(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	p := newProvider(t, cfg)
	for i, u := range s.Users() {
		if err := s.SetStreamLive(u.Login, 1000-i); err != nil {
			t.Fatal(err)
		}
	}
	h := newHelix(cfg, p.TokenSource(provider.App()))
	s.ResetCounters()
	var logins []string
	for st, err := range twitchauth.Paginate[hxStream](ctx(t), h, "streams", url.Values{"first": {"1"}}) {
		if err != nil {
			t.Fatal(err)
		}
		logins = append(logins, st.UserLogin)
	}
	if len(logins) != len(s.Users()) {
		t.Fatalf("paginated %v, want every one of %d live users", logins, len(s.Users()))
	}
	seen := map[string]bool{}
	for _, l := range logins {
		if seen[l] {
			t.Fatalf("stream of %s twice: %v", l, logins)
		}
		seen[l] = true
	}
	pages := s.Requests("helix:GET /streams")
	if pages < len(logins) || pages > len(logins)+1 {
		t.Fatalf("%d page requests for %d items of one per page", pages, len(logins))
	}
	// Break after two items: two pages fetched.
	s.ResetCounters()
	n := 0
	for raw, err := range twitchauth.Paginate[json.RawMessage](ctx(t), h, "/streams", url.Values{"first": {"1"}}) {
		if err != nil || !json.Valid(raw) {
			t.Fatal(err)
		}
		if n++; n == 2 {
			break
		}
	}
	if got := s.Requests("helix:GET /streams"); got != 2 {
		t.Fatalf("%d pages fetched for 2 items", got)
	}
	// An error is yielded once, and ends the loop.
	errs := 0
	for _, err := range twitchauth.Paginate[json.RawMessage](ctx(t), h, "streams", url.Values{"first": {"0"}}) {
		if err == nil {
			t.Fatal("an item from a refused request")
		}
		errs++
	}
	if errs != 1 {
		t.Fatalf("%d errors yielded", errs)
	}
}

// A server whose cursor never changes cannot trap Paginate in a loop.
func TestHelixPaginateRepeatingCursor(t *testing.T) {
	var n atomic.Int32
	cfg := fakeHelix(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		writeHelixJSON(w, 200, map[string]any{"data": []any{map[string]any{"id": "1"}}, "pagination": map[string]any{"cursor": "same"}})
	})
	h := newHelix(cfg, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "t"}))
	var items, errs int
	for _, err := range twitchauth.Paginate[json.RawMessage](ctx(t), h, "things", nil) {
		if err != nil {
			errs++
		} else {
			items++
		}
	}
	if items != 2 || errs != 1 || n.Load() != 2 {
		t.Fatalf("%d items, %d errors, %d requests; want 2, 1, 2", items, errs, n.Load())
	}
}

// What nicklaw5/helix sends when configured with a client ID and no
// token: its own "Client-ID" and "Authorization: Bearer " headers, through
// the http.Client it was given. Our Transport replaces them, so such a
// client works against the sandbox with the Provider's tokens.
func TestHelixLibraryWithoutTokensThroughTransport(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	p := newProvider(t, cfg)
	tok := provUser(t, s, p, cfg.ClientID, "twitchdev", nil)
	hc := &http.Client{Transport: newTransport(cfg, p.TokenSource(provider.User(tok.UserID)))}
	s.ExpireAccessToken(tok.AccessToken) // and it refreshes for the library too

	// As helix.Client.doRequest builds it (library v2: setRequestHeaders).
	req, _ := http.NewRequestWithContext(ctx(t), "GET", cfg.APIBaseURL()+"/users?login=twitchdev", nil)
	req.Header.Set("Client-ID", "configured-client-id")
	req.Header.Set("Authorization", "Bearer ")
	req.Header.Set("User-Agent", "")
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data []hxUser `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 || len(out.Data) != 1 || out.Data[0].ID != tok.UserID {
		t.Fatalf("status %d, %+v, %v", resp.StatusCode, out, err)
	}
	if req.Header.Get("Authorization") != "Bearer " || req.Header.Get("Client-ID") != "configured-client-id" {
		t.Fatal("the library's request was modified")
	}
}

// An extension front end calls Helix with the viewer's Helix JWT.
func TestHelixExtensionViewer(t *testing.T) {
	s := newSandbox(t)
	ext := s.ExtensionClient()
	jwt, err := s.MintHelixJWT(twitchtest.HelixJWTOptions{OpaqueUserID: "A1b2c3d4e5"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &twitchauth.Config{ClientID: ext.ID, Endpoints: twitchauth.Endpoints{APIURL: s.APIURL()}}
	h := twitchauth.NewHelix(twitchauth.NewTransport(twitchauth.TransportConfig{Config: cfg, ExtensionJWT: func(context.Context) (string, error) { return jwt, nil }}))
	var out struct {
		Data []hxStream `json:"data"`
	}
	if err := h.Get(ctx(t), "streams", url.Values{"first": {"10"}}, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Data) == 0 {
		t.Fatal("no live streams seen by the viewer")
	}
	// Endpoints needing scopes refuse the Extension scheme.
	err = h.Get(ctx(t), "moderation/moderators", url.Values{"broadcaster_id": {"1"}}, nil)
	if !errors.Is(err, twitchauth.ErrUnauthorized) {
		t.Fatalf("moderators as a viewer: %v", err)
	}
}
