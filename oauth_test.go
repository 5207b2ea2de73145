package twitchauth_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// authorize runs the consent of login for cfg's authorization URL and returns
// the redirect the browser would follow.
func authorize(t *testing.T, s *twitchtest.Server, cfg *twitchauth.Config, login, state string, opts ...twitchauth.AuthOption) *url.URL {
	t.Helper()
	u, err := s.Authorize(cfg.AuthorizeURL(state, opts...), login)
	if err != nil {
		t.Fatalf("sandbox authorize: %v", err)
	}
	return u
}

// userLogin runs a full authorization code flow and returns the token.
func userLogin(t *testing.T, s *twitchtest.Server, cfg *twitchauth.Config, login string, opts ...twitchauth.AuthOption) *twitchauth.Token {
	t.Helper()
	state := twitchauth.NewState()
	u := authorize(t, s, cfg, login, state, opts...)
	return mustToken(t)(cfg.HandleCallback(ctx(t), u.Query(), state))
}

func TestAppToken(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	tok := mustToken(t)(cfg.AppToken(ctx(t)))
	if tok.RefreshToken != "" || tok.TokenType != "bearer" || tok.ClientID != cfg.ClientID {
		t.Fatalf("app token %v: refresh token present, type %q or client %q wrong", tok, tok.TokenType, tok.ClientID)
	}
	if d := time.Until(tok.Expiry); d < 59*24*time.Hour || d > 61*24*time.Hour {
		t.Fatalf("app token expiry in %v, want about 60 days", d)
	}
	info, err := cfg.Validate(ctx(t), tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if !info.IsApp() || info.ClientID != cfg.ClientID || info.Scopes == nil || len(info.Scopes) != 0 {
		t.Fatalf("validate app token: %+v", info)
	}
	if got := s.Requests("token:client_credentials"); got != 1 {
		t.Fatalf("client_credentials requests = %d, want 1", got)
	}
}

func TestAppTokenErrors(t *testing.T) {
	s := newSandbox(t)
	t.Run("wrong secret", func(t *testing.T) {
		cfg := confidential(s)
		cfg.ClientSecret = "not-the-secret-0000"
		_, err := cfg.AppToken(ctx(t))
		wantErr(t, err, twitchauth.ErrInvalidClientSecret)
		wantAPIError(t, err, "token", http.StatusForbidden)
		msg := err.Error()
		if !strings.Contains(msg, "client secret was refused") || !strings.Contains(msg, "developer console") || !strings.Contains(msg, "rotate") {
			t.Fatalf("message %q should say the secret was refused and to check/rotate it in the developer console", msg)
		}
		if strings.Contains(msg, cfg.ClientSecret) {
			t.Fatal("message contains the secret sent")
		}
	})
	t.Run("unknown client", func(t *testing.T) {
		cfg := confidential(s)
		cfg.ClientID = "nosuchclient000000000000000000"
		_, err := cfg.AppToken(ctx(t))
		wantErr(t, err, twitchauth.ErrInvalidClient)
		if errors.Is(err, twitchauth.ErrInvalidClientSecret) {
			t.Fatal("unknown client also matches ErrInvalidClientSecret")
		}
		wantAPIError(t, err, "token", http.StatusBadRequest)
	})
	t.Run("no secret configured", func(t *testing.T) {
		cfg := confidential(s)
		cfg.ClientSecret = ""
		before := s.Requests("token:client_credentials")
		_, err := cfg.AppToken(ctx(t))
		wantErr(t, err, twitchauth.ErrMissingClientSecret)
		if s.Requests("token:client_credentials") != before {
			t.Fatal("a request was sent without a secret")
		}
	})
	t.Run("network error", func(t *testing.T) {
		cfg := confidential(s)
		cfg.Endpoints.IDURL = "http://127.0.0.1:1/oauth2"
		_, err := cfg.AppToken(ctx(t))
		wantErr(t, err)
		var ae *twitchauth.APIError
		if errors.As(err, &ae) {
			t.Fatal("a network error is not an APIError")
		}
	})
}

func TestAuthorizeURL(t *testing.T) {
	cfg := &twitchauth.Config{
		ClientID:    "abc",
		RedirectURI: "http://localhost:3000",
		Scopes:      []string{"channel:manage:polls", "channel:read:polls"},
	}
	u, err := url.Parse(cfg.AuthorizeURL("st&ate=x", twitchauth.ForceVerify()))
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme+"://"+u.Host+u.Path != "https://id.twitch.tv/oauth2/authorize" {
		t.Fatalf("authorize endpoint %s", u)
	}
	if strings.Contains(u.RawQuery, "channel:manage") || !strings.Contains(u.RawQuery, "channel%3Amanage%3Apolls+channel%3Aread%3Apolls") {
		t.Fatalf("scope not encoded space-delimited: %s", u.RawQuery)
	}
	q := u.Query()
	want := url.Values{
		"client_id": {"abc"}, "redirect_uri": {"http://localhost:3000"}, "response_type": {"code"},
		"scope": {"channel:manage:polls channel:read:polls"}, "state": {"st&ate=x"}, "force_verify": {"true"},
	}
	if q.Encode() != want.Encode() {
		t.Fatalf("query %v, want %v", q, want)
	}

	// OpenID response types add the openid scope, once.
	for _, rt := range []twitchauth.ResponseType{twitchauth.ResponseIDToken, twitchauth.ResponseTokenIDToken} {
		u, _ := url.Parse(cfg.AuthorizeURL("s", twitchauth.WithResponseType(rt), twitchauth.WithScopes("openid", "user:read:email"),
			twitchauth.Nonce("n1"), twitchauth.Claims(twitchauth.ClaimsRequest{IDToken: []string{"email", "email_verified"}, UserInfo: []string{"picture"}})))
		q := u.Query()
		if q.Get("response_type") != string(rt) || q.Get("scope") != "openid user:read:email" || q.Get("nonce") != "n1" {
			t.Fatalf("%s: %v", rt, q)
		}
		if c := q.Get("claims"); c != `{"id_token":{"email":null,"email_verified":null},"userinfo":{"picture":null}}` {
			t.Fatalf("claims %s", c)
		}
	}
	u, _ = url.Parse(cfg.AuthorizeURL("", twitchauth.Nonce("n2")))
	if got := u.Query().Get("scope"); got != "channel:manage:polls channel:read:polls openid" || u.Query().Has("state") {
		t.Fatalf("Nonce(): scope %q, query %v", got, u.Query())
	}
	if len(cfg.Scopes) != 2 {
		t.Fatal("AuthorizeURL modified Config.Scopes")
	}
	if strings.Contains(cfg.AuthorizeURL("s", twitchauth.WithResponseType(twitchauth.ResponseTokenIDToken)), "token id_token") {
		t.Fatal("response_type not encoded")
	}
}

func TestNewStateAndCheckState(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		s := twitchauth.NewState()
		if len(s) < 22 || strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
			t.Fatalf("state %q is not URL-safe or too short", s)
		}
		if seen[s] {
			t.Fatal("NewState repeated a value")
		}
		seen[s] = true
	}
	st := twitchauth.NewState()
	switch {
	case !twitchauth.CheckState(st, st):
		t.Fatal("equal states rejected")
	case twitchauth.CheckState(st, st[:len(st)-1]), twitchauth.CheckState(st, st+"x"), twitchauth.CheckState(st, ""):
		t.Fatal("different state accepted")
	case twitchauth.CheckState("", ""):
		t.Fatal("empty expected state accepted")
	}
}

func TestCodeFlow(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	cfg.Scopes = []string{"channel:read:subscriptions", "chat:read"}
	state := twitchauth.NewState()
	redirect := authorize(t, s, cfg, "twitchdev", state)
	if redirect.Query().Get("code") == "" {
		t.Fatalf("no code in %s", redirect.Redacted())
	}
	req := httptest.NewRequest(http.MethodGet, redirect.String(), nil)
	tok := mustToken(t)(cfg.HandleCallback(ctx(t), req.URL.Query(), state))
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.Login != "twitchdev" || tok.UserID != "141981764" || tok.ClientID != cfg.ClientID {
		t.Fatalf("token %v", tok)
	}
	if !slices.Equal(tok.Scopes, cfg.Scopes) || !tok.HasScope("chat:read") {
		t.Fatalf("scopes %v", tok.Scopes)
	}
	if d := time.Until(tok.Expiry); d < 3*time.Hour || d > 4*time.Hour+time.Minute {
		t.Fatalf("expiry in %v, want about 4 h", d)
	}
	if tok.IDToken != "" {
		t.Fatal("ID token without openid")
	}

	// A code is single use.
	_, err := cfg.ExchangeCode(ctx(t), redirect.Query().Get("code"))
	wantErr(t, err, twitchauth.ErrInvalidCode)
	wantAPIError(t, err, "token", http.StatusBadRequest)
}

func TestHandleCallbackErrors(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	state := twitchauth.NewState()
	t.Run("state mismatch", func(t *testing.T) {
		u := authorize(t, s, cfg, "viewer", state)
		before := s.Requests("token:authorization_code")
		_, err := cfg.HandleCallback(ctx(t), u.Query(), twitchauth.NewState())
		wantErr(t, err, twitchauth.ErrStateMismatch)
		q := u.Query()
		q.Del("state")
		_, err = cfg.HandleCallback(ctx(t), q, state)
		wantErr(t, err, twitchauth.ErrStateMismatch)
		if s.Requests("token:authorization_code") != before {
			t.Fatal("code exchanged despite the state mismatch")
		}
	})
	t.Run("access denied", func(t *testing.T) {
		u, err := s.Deny(cfg.AuthorizeURL(state))
		if err != nil {
			t.Fatal(err)
		}
		_, err = cfg.HandleCallback(ctx(t), u.Query(), state)
		wantErr(t, err, twitchauth.ErrAccessDenied)
		ae := wantAPIError(t, err, "authorize", 0)
		if ae.Message != "The user denied you access" {
			t.Fatalf("message %q", ae.Message)
		}
	})
	t.Run("redirect mismatch in redirect", func(t *testing.T) {
		q := url.Values{"error": {"redirect_mismatch"}, "error_description": {"Parameter redirect_uri does not match registered URI"}, "state": {state}}
		_, err := cfg.HandleCallback(ctx(t), q, state)
		wantErr(t, err, twitchauth.ErrRedirectMismatch)
	})
	t.Run("unknown error", func(t *testing.T) {
		q := url.Values{"error": {"server_error"}, "state": {state}}
		_, err := cfg.HandleCallback(ctx(t), q, state)
		wantAPIError(t, err, "authorize", 0)
		wantErr(t, err)
		if errors.Is(err, twitchauth.ErrAccessDenied) {
			t.Fatal("server_error matched ErrAccessDenied")
		}
	})
	t.Run("missing code", func(t *testing.T) {
		_, err := cfg.HandleCallback(ctx(t), url.Values{"state": {state}}, state)
		wantErr(t, err, twitchauth.ErrInvalidCode)
	})
	t.Run("redirect mismatch at exchange", func(t *testing.T) {
		u := authorize(t, s, cfg, "viewer", state)
		other := *cfg
		other.RedirectURI = "http://localhost:3000/other"
		_, err := other.HandleCallback(ctx(t), u.Query(), state)
		wantErr(t, err, twitchauth.ErrRedirectMismatch)
		wantAPIError(t, err, "token", http.StatusBadRequest)
	})
	t.Run("redirect not registered", func(t *testing.T) {
		other := *cfg
		other.RedirectURI = "http://localhost:3000/"
		if _, err := s.Authorize(other.AuthorizeURL(state), "viewer"); err == nil || !strings.Contains(err.Error(), "redirect_mismatch") {
			t.Fatalf("sandbox accepted a trailing slash: %v", err)
		}
	})
}

func TestRefresh(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	cfg.Scopes = []string{"chat:read"}
	tok := userLogin(t, s, cfg, "broadcaster")

	t.Run("confidential", func(t *testing.T) {
		nt := mustToken(t)(cfg.Refresh(ctx(t), tok.RefreshToken))
		if nt.AccessToken == tok.AccessToken || nt.RefreshToken == "" || !slices.Equal(nt.Scopes, []string{"chat:read"}) || nt.Expiry.IsZero() {
			t.Fatalf("refreshed %v", nt)
		}
		info, err := cfg.Validate(ctx(t), nt.AccessToken)
		if err != nil || info.Login != "broadcaster" {
			t.Fatalf("validate refreshed: %+v %v", info, err)
		}
	})
	t.Run("confidential without secret", func(t *testing.T) {
		noSecret := *cfg
		noSecret.ClientSecret = ""
		_, err := noSecret.Refresh(ctx(t), tok.RefreshToken)
		wantErr(t, err, twitchauth.ErrMissingClientSecret)
		wantAPIError(t, err, "token", http.StatusBadRequest)
		if !strings.Contains(err.Error(), "configure its client secret") {
			t.Fatalf("message %q gives no advice", err)
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		bad := *cfg
		bad.ClientSecret = "wrong-secret-12345678"
		_, err := bad.Refresh(ctx(t), tok.RefreshToken)
		wantErr(t, err, twitchauth.ErrInvalidClientSecret)
	})
	t.Run("invalid refresh token", func(t *testing.T) {
		_, err := cfg.Refresh(ctx(t), "nosuchrefreshtoken0000000000000000000000000000")
		wantErr(t, err, twitchauth.ErrInvalidRefreshToken)
		_, err = cfg.Refresh(ctx(t), "")
		wantErr(t, err, twitchauth.ErrInvalidRefreshToken)
	})
	t.Run("grant revoked", func(t *testing.T) {
		u, _ := s.User("broadcaster")
		s.RevokeGrant(cfg.ClientID, u.ID)
		_, err := cfg.Refresh(ctx(t), tok.RefreshToken)
		wantErr(t, err, twitchauth.ErrInvalidRefreshToken)
	})
}

func TestRefreshPublicClient(t *testing.T) {
	s := newSandbox(t)
	pub := public(s)
	access, refresh, err := s.MintUserToken(pub.ClientID, "viewer", []string{"user:read:chat"})
	if err != nil {
		t.Fatal(err)
	}
	leaks.Secret(access, refresh)
	nt := mustToken(t)(pub.Refresh(ctx(t), refresh))
	if nt.RefreshToken == "" || nt.RefreshToken == refresh {
		t.Fatal("public refresh did not rotate the refresh token")
	}
	// The public refresh token was single use: reusing it is refused and
	// revokes the grant, including the token just obtained.
	_, err = pub.Refresh(ctx(t), refresh)
	wantErr(t, err, twitchauth.ErrInvalidRefreshToken)
	_, err = pub.Refresh(ctx(t), nt.RefreshToken)
	wantErr(t, err, twitchauth.ErrInvalidRefreshToken)
	_, err = pub.Validate(ctx(t), nt.AccessToken)
	wantErr(t, err, twitchauth.ErrInvalidToken)
	if got := s.Requests("token:refresh_token"); got != 3 {
		t.Fatalf("refresh requests %d, want 3", got)
	}
}

func TestValidate(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	t.Run("user", func(t *testing.T) {
		access, refresh, err := s.MintUserToken(cfg.ClientID, "twitchdev", []string{"channel:read:subscriptions"})
		if err != nil {
			t.Fatal(err)
		}
		leaks.Secret(access, refresh)
		info, err := cfg.Validate(ctx(t), access)
		if err != nil {
			t.Fatal(err)
		}
		if info.IsApp() || info.Login != "twitchdev" || info.UserID != "141981764" || info.ClientID != cfg.ClientID ||
			!slices.Equal(info.Scopes, []string{"channel:read:subscriptions"}) || !slices.Contains(info.Scopes, "channel:read:subscriptions") ||
			info.ExpiresIn < 3*time.Hour || info.ExpiresIn > 4*time.Hour {
			t.Fatalf("%+v", info)
		}
	})
	t.Run("user without scopes", func(t *testing.T) {
		access, refresh, err := s.MintUserToken(cfg.ClientID, "viewer", nil)
		if err != nil {
			t.Fatal(err)
		}
		leaks.Secret(access, refresh)
		info, err := cfg.Validate(ctx(t), access)
		if err != nil {
			t.Fatal(err)
		}
		if info.IsApp() || info.Scopes == nil || len(info.Scopes) != 0 {
			t.Fatalf("%+v", info)
		}
	})
	t.Run("app", func(t *testing.T) {
		access, err := s.MintAppToken(cfg.ClientID)
		if err != nil {
			t.Fatal(err)
		}
		leaks.Secret(access)
		info, err := cfg.Validate(ctx(t), access)
		if err != nil || !info.IsApp() || info.Login != "" {
			t.Fatalf("%+v %v", info, err)
		}
	})
	t.Run("invalid", func(t *testing.T) {
		_, err := cfg.Validate(ctx(t), "nosuchaccesstoken000000000000")
		wantErr(t, err, twitchauth.ErrInvalidToken)
		ae := wantAPIError(t, err, "validate", http.StatusUnauthorized)
		if ae.Message != "invalid access token" {
			t.Fatalf("message %q", ae.Message)
		}
	})
	t.Run("expired", func(t *testing.T) {
		access, _ := s.MintAppToken(cfg.ClientID)
		leaks.Secret(access)
		s.ExpireAccessToken(access)
		_, err := cfg.Validate(ctx(t), access)
		wantErr(t, err, twitchauth.ErrInvalidToken)
	})
}

func TestRevoke(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	t.Run("ok", func(t *testing.T) {
		tok := mustToken(t)(cfg.AppToken(ctx(t)))
		if err := cfg.Revoke(ctx(t), tok.AccessToken); err != nil {
			t.Fatal(err)
		}
		_, err := cfg.Validate(ctx(t), tok.AccessToken)
		wantErr(t, err, twitchauth.ErrInvalidToken)
	})
	t.Run("invalid token", func(t *testing.T) {
		err := cfg.Revoke(ctx(t), "nosuchtoken00000000000000000")
		wantErr(t, err, twitchauth.ErrInvalidToken)
		ae := wantAPIError(t, err, "revoke", http.StatusBadRequest)
		if ae.Message != "Invalid token" {
			t.Fatalf("message %q", ae.Message)
		}
	})
	t.Run("unknown client", func(t *testing.T) {
		tok := mustToken(t)(cfg.AppToken(ctx(t)))
		err := cfg.Revoke(ctx(t), tok.AccessToken, twitchauth.RevokeClientID("nosuchclient"))
		wantErr(t, err, twitchauth.ErrInvalidClient)
		wantAPIError(t, err, "revoke", http.StatusNotFound)
	})
	t.Run("client ID override", func(t *testing.T) {
		ext := s.ExtensionClient()
		access, err := s.MintAppToken(ext.ID)
		if err != nil {
			t.Fatal(err)
		}
		leaks.Secret(access)
		// Revoking with our own client ID is refused: the token is not ours.
		wantErr(t, cfg.Revoke(ctx(t), access), twitchauth.ErrInvalidToken)
		if err := cfg.Revoke(ctx(t), access, twitchauth.RevokeClientID(ext.ID)); err != nil {
			t.Fatal(err)
		}
		_, err = cfg.Validate(ctx(t), access)
		wantErr(t, err, twitchauth.ErrInvalidToken)
	})
}
