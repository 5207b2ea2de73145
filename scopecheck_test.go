package twitchauth_test

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/provider"
)

// A request whose endpoint needs a scope the user's grant lacks is refused
// before it is sent: the sandbox sees no request at all.
func TestScopeCheckRefusesLocally(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	p := newProvider(t, cfg)
	bc, _ := s.User("broadcaster")
	mod := provUser(t, s, p, cfg.ClientID, "moderator", []string{"user:read:email"})
	h := newHelix(cfg, p.TokenSource(provider.User(mod.UserID)), withoutPacing())
	s.ResetCounters()

	err := h.Do(ctx(t), http.MethodPost, "moderation/bans", url.Values{"broadcaster_id": {bc.ID}, "moderator_id": {mod.UserID}},
		map[string]any{"data": map[string]any{"user_id": "1"}}, nil)
	var mse *twitchauth.MissingScopesError
	if !errors.As(err, &mse) || !errors.Is(err, twitchauth.ErrMissingScopes) {
		t.Fatalf("err = %v, want a *MissingScopesError", err)
	}
	if mse.Endpoint != "POST /moderation/bans" || mse.UserID != mod.UserID || mse.Required != "moderator:manage:banned_users" ||
		!slices.Equal(mse.Missing, []string{"moderator:manage:banned_users"}) {
		t.Errorf("error fields %+v", mse)
	}
	for _, want := range []string{"POST /moderation/bans needs moderator:manage:banned_users", "not sent", "authorize again", "NoScopeCheck"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	leaks.Text(err.Error())
	if n := s.Requests("helix"); n != 0 {
		t.Errorf("the sandbox saw %d Helix requests, want 0", n)
	}
	if st := statsOf(h); st.Requests != 0 {
		t.Errorf("the Transport counted %d requests", st.Requests)
	}

	// Endpoints the token can call, and endpoints the table does not know,
	// are sent.
	var users struct{ Data []struct{ ID string } }
	if err := h.Get(ctx(t), "users", nil, &users); err != nil {
		t.Fatalf("Get Users: %v", err)
	}
	_ = h.Get(ctx(t), "not/an/endpoint", nil, nil)
	if n := s.Requests("helix"); n != 2 {
		t.Errorf("the sandbox saw %d Helix requests, want 2 (Get Users and the unknown path)", n)
	}
}

// Get Moderators takes moderation:read or channel:manage:moderators: a grant
// with either passes the check; one with neither does not.
func TestScopeCheckAnyOf(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	p := newProvider(t, cfg)
	bc, _ := s.User("broadcaster")
	q := url.Values{"broadcaster_id": {bc.ID}}
	for _, c := range []struct {
		scopes []string
		sent   bool
	}{
		{[]string{"moderation:read"}, true},
		{[]string{"channel:manage:moderators"}, true},
		{[]string{"channel:read:polls"}, false},
	} {
		provUser(t, s, p, cfg.ClientID, "broadcaster", c.scopes)
		h := newHelix(cfg, p.TokenSource(provider.User(bc.ID)), withoutPacing())
		s.ResetCounters()
		err := h.Get(ctx(t), "moderation/moderators", q, nil)
		var mse *twitchauth.MissingScopesError
		switch {
		case c.sent && (err != nil || s.Requests("helix") != 1):
			t.Errorf("%v: err %v, %d requests; want it sent and answered", c.scopes, err, s.Requests("helix"))
		case !c.sent && (!errors.As(err, &mse) || s.Requests("helix") != 0):
			t.Errorf("%v: err %v, %d requests; want it refused locally", c.scopes, err, s.Requests("helix"))
		case !c.sent && (mse.Required != "moderation:read or channel:manage:moderators" || !slices.Equal(mse.Missing, []string{"moderation:read"})):
			t.Errorf("%v: %+v", c.scopes, mse)
		}
	}
}

// The check applies to user tokens whose scopes the source reports, and can
// be turned off; app tokens and plain token sources are never refused.
func TestScopeCheckScope(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	p := newProvider(t, cfg)
	bc, _ := s.User("broadcaster")
	mod := provUser(t, s, p, cfg.ClientID, "moderator", nil)
	q := url.Values{"broadcaster_id": {bc.ID}, "moderator_id": {mod.UserID}}
	body := map[string]any{"data": map[string]any{"user_id": "1"}}
	static := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: mustToken(t)(p.Token(ctx(t), provider.User(mod.UserID))).AccessToken})
	for name, h := range map[string]*twitchauth.Helix{
		"switched off": newHelix(cfg, p.TokenSource(provider.User(mod.UserID)), withoutPacing(), withoutScopeCheck()),
		"app token":    newHelix(cfg, p.TokenSource(provider.App()), withoutPacing()),
		"plain source": newHelix(cfg, static, withoutPacing()),
	} {
		s.ResetCounters()
		err := h.Do(ctx(t), http.MethodPost, "moderation/bans", q, body, nil)
		var he *twitchauth.HelixError
		if !errors.As(err, &he) || he.Status != http.StatusUnauthorized || s.Requests("helix") != 1 {
			t.Errorf("%s: err %v after %d requests; want Helix's own 401", name, err, s.Requests("helix"))
		}
	}
}

// Create EventSub Subscription over WebSocket is checked against the
// subscription type in the body; webhooks (app tokens only) are not.
func TestScopeCheckEventSub(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	p := newProvider(t, cfg)
	bc, _ := s.User("broadcaster")
	provUser(t, s, p, cfg.ClientID, "broadcaster", []string{"bits:read"})
	h := newHelix(cfg, p.TokenSource(provider.User(bc.ID)), withoutPacing())
	sub := func(method string) map[string]any {
		return map[string]any{
			"type": "channel.poll.begin", "version": "1",
			"condition": map[string]string{"broadcaster_user_id": bc.ID},
			"transport": map[string]string{"method": method, "session_id": "x", "callback": "https://example.com/cb", "secret": "0123456789"},
		}
	}
	s.ResetCounters()
	err := h.Do(ctx(t), http.MethodPost, "eventsub/subscriptions", nil, sub("websocket"), nil)
	var mse *twitchauth.MissingScopesError
	if !errors.As(err, &mse) || mse.Endpoint != "channel.poll.begin v1 (POST /eventsub/subscriptions)" ||
		!slices.Equal(mse.Missing, []string{"channel:read:polls"}) || s.Requests("helix") != 0 {
		t.Fatalf("websocket subscription without the scope: %v (%+v), %d requests", err, mse, s.Requests("helix"))
	}
	// The scope it has: sent (whatever the sandbox answers).
	s.ResetCounters()
	ok := sub("websocket")
	ok["type"] = "channel.cheer"
	if err := h.Do(ctx(t), http.MethodPost, "eventsub/subscriptions", nil, ok, nil); errors.As(err, &mse) || s.Requests("helix") != 1 {
		t.Errorf("channel.cheer with bits:read: %v, %d requests", err, s.Requests("helix"))
	}
	// (The sandbox refuses a webhook with a user token with a 401, which the
	// Transport retries once after a refresh: sent means at least once.)
	for _, body := range []map[string]any{sub("webhook"), {"type": "channel.not.a.type", "version": "1"}} {
		s.ResetCounters()
		if err := h.Do(ctx(t), http.MethodPost, "eventsub/subscriptions", nil, body, nil); errors.As(err, &mse) || s.Requests("helix") == 0 {
			t.Errorf("%v: %v, %d requests; want it sent", body, err, s.Requests("helix"))
		}
	}
}
