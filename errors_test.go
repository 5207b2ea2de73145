package twitchauth_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/twitchauth/twitchauth"
)

// serveBody answers every request with status and body.
func serveBody(t *testing.T, status int, body string) *twitchauth.Config {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return &twitchauth.Config{ClientID: "cid", ClientSecret: "csecret-123456", RedirectURI: "http://localhost:3000",
		Endpoints: twitchauth.Endpoints{IDURL: srv.URL}, Logger: testLogger}
}

// TestErrorClassification pins the mapping of Twitch's error bodies (status
// and message, whatever their casing) to sentinels.
func TestErrorClassification(t *testing.T) {
	cases := []struct {
		status int
		body   string
		want   error
	}{
		{400, `{"error":"Bad Request","status":400,"message":"Invalid refresh token"}`, twitchauth.ErrInvalidRefreshToken},
		{400, `{"status":400,"message":"INVALID REFRESH TOKEN"}`, twitchauth.ErrInvalidRefreshToken},
		{400, `{"status":400,"message":"missing client secret"}`, twitchauth.ErrMissingClientSecret},
		{400, `{"status":400,"message":"authorization_pending"}`, twitchauth.ErrAuthorizationPending},
		{400, `{"status":400,"message":"slow_down"}`, twitchauth.ErrSlowDown},
		{400, `{"status":400,"message":"invalid device code"}`, twitchauth.ErrDeviceCodeExpired},
		{400, `{"status":400,"message":"expired_token"}`, twitchauth.ErrDeviceCodeExpired},
		{400, `{"status":400,"message":"access_denied"}`, twitchauth.ErrAccessDenied},
		{400, `{"status":400,"message":"invalid client"}`, twitchauth.ErrInvalidClient},
		{403, `{"status":403,"message":"invalid client secret"}`, twitchauth.ErrInvalidClientSecret},
		{403, `{"status":403,"message":"Invalid Client Secret"}`, twitchauth.ErrInvalidClientSecret},
		{403, `{"status":403}`, twitchauth.ErrInvalidClientSecret},
		{400, `{"status":400,"message":"Invalid authorization code"}`, twitchauth.ErrInvalidCode},
		{400, `{"status":400,"message":"Parameter redirect_uri does not match registeredURI"}`, twitchauth.ErrRedirectMismatch},
		{400, `{"status":400,"error":"Unauthorized","message":"Client ID/Secret invalid"}`, twitchauth.ErrInvalidClientSecret},
		{401, `{"status":401,"message":"invalid access token"}`, twitchauth.ErrInvalidToken},
		{400, `{"status":400,"message":"Invalid token"}`, twitchauth.ErrInvalidToken},
		{404, `{"status":404,"message":"client does not exist"}`, twitchauth.ErrInvalidClient},
	}
	for _, c := range cases {
		cfg := serveBody(t, c.status, c.body)
		_, err := cfg.Refresh(ctx(t), "some-refresh-token")
		wantErr(t, err, c.want)
		ae := wantAPIError(t, err, "token", c.status)
		if strings.Contains(c.body, `"message"`) && !strings.Contains(c.body, ae.Message) {
			t.Errorf("%s: message %q not Twitch's", c.body, ae.Message)
		}
		for _, other := range []error{twitchauth.ErrInvalidRefreshToken, twitchauth.ErrAuthorizationPending, twitchauth.ErrSlowDown, twitchauth.ErrInvalidCode} {
			if other != c.want && errors.Is(err, other) {
				t.Errorf("%s also matches %v", c.body, other)
			}
		}
	}
	// Unknown refusals are still APIErrors, matching no sentinel.
	cfg := serveBody(t, 500, `<html>oops</html>`)
	_, err := cfg.AppToken(ctx(t))
	ae := wantAPIError(t, err, "token", 500)
	if ae.Message != "Internal Server Error" || len(ae.Unwrap()) != 0 {
		t.Fatalf("%q %v", ae.Message, ae.Unwrap())
	}
	leaks.Text(err.Error())
}

func TestResponseParsing(t *testing.T) {
	t.Run("scope as string", func(t *testing.T) {
		cfg := serveBody(t, 200, `{"access_token":"0123456789abcdefghijABCDEFGHIJ","refresh_token":"eyJfaWQmNzMtNGCJ9%6VFV5LNrZFUj8oU231/3Aj","expires_in":5215742,"scope":"channel:read:subscriptions chat:read","token_type":"bearer"}`)
		tok := mustToken(t)(cfg.Refresh(ctx(t), "r"))
		if strings.Join(tok.Scopes, ",") != "channel:read:subscriptions,chat:read" {
			t.Fatalf("scopes %q", tok.Scopes)
		}
	})
	t.Run("missing fields", func(t *testing.T) {
		cfg := serveBody(t, 200, `{"access_token":"abcdefghijklmnop"}`)
		tok := mustToken(t)(cfg.AppToken(ctx(t)))
		if tok.Scopes == nil || len(tok.Scopes) != 0 || !tok.Expiry.IsZero() || tok.TokenType != "bearer" {
			t.Fatalf("%v", tok)
		}
	})
	t.Run("null scopes on validate", func(t *testing.T) {
		cfg := serveBody(t, 200, `{"client_id":"cid","login":"twitchdev","scopes":null,"user_id":"141981764","expires_in":5520838}`)
		info, err := cfg.Validate(ctx(t), "tok")
		if err != nil || info.Scopes == nil || len(info.Scopes) != 0 || info.IsApp() {
			t.Fatalf("%+v %v", info, err)
		}
	})
	t.Run("no access token", func(t *testing.T) {
		cfg := serveBody(t, 200, `{"token_type":"bearer"}`)
		_, err := cfg.AppToken(ctx(t))
		wantErr(t, err)
	})
	t.Run("malformed JSON", func(t *testing.T) {
		cfg := serveBody(t, 200, `{"access_token":`)
		_, err := cfg.AppToken(ctx(t))
		wantErr(t, err)
		cfg = serveBody(t, 200, `{"access_token":"x","scope":42}`)
		_, err = cfg.AppToken(ctx(t))
		wantErr(t, err)
	})
	t.Run("body over 1 MiB", func(t *testing.T) {
		big := `{"access_token":"abcdefghij","pad":"` + strings.Repeat("x", 1<<20) + `"}`
		cfg := serveBody(t, 200, big)
		_, err := cfg.AppToken(ctx(t))
		wantErr(t, err, twitchauth.ErrResponseTooLarge)
		cfg = serveBody(t, 400, big)
		_, err = cfg.AppToken(ctx(t))
		wantErr(t, err, twitchauth.ErrResponseTooLarge)
	})
}

func TestLocalArgumentErrors(t *testing.T) {
	cfg := serveBody(t, 500, `{}`)
	_, err := cfg.Validate(ctx(t), "")
	wantErr(t, err, twitchauth.ErrInvalidToken)
	wantErr(t, cfg.Revoke(ctx(t), ""), twitchauth.ErrInvalidToken)
	_, err = cfg.ExchangeCode(ctx(t), "")
	wantErr(t, err, twitchauth.ErrInvalidCode)
	_, err = cfg.UserInfo(ctx(t), "")
	wantErr(t, err, twitchauth.ErrInvalidToken)
}

func TestFindLeaks(t *testing.T) {
	secrets := map[string]bool{"supersecretvalue": true}
	if got := findLeaks([]string{"fine", "error: supersecretvalue refused"}, secrets); len(got) != 1 || strings.Contains(got[0], "supersecretvalue") {
		t.Fatalf("findLeaks = %q", got)
	}
	if got := findLeaks([]string{"fine"}, secrets); len(got) != 0 {
		t.Fatalf("findLeaks = %q", got)
	}
}
