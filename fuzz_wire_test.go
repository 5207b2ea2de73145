package twitchauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth"
)

// Secrets the wire fuzzers send: no error may repeat them unless the fuzzed
// answer itself did.
const (
	fzSecret  = "FZ-client-secret-71c0ffee"
	fzRefresh = "FZrefreshtoken0000000000000000000000000000000042"
	fzAccess  = "fzaccesstoken00000000000000042"
	fzCode    = "fzauthcode000000000000000042"
)

// fzAnswer is what the fake identity server answers next.
type fzAnswer struct {
	mu     sync.Mutex
	status int
	body   []byte
	ctype  string
}

func (a *fzAnswer) set(status int, body []byte, ctype string) {
	a.mu.Lock()
	a.status, a.body, a.ctype = status, body, ctype
	a.mu.Unlock()
}

// fzServer is one httptest server shared by every fuzz iteration of a
// target (a new server per input would exhaust ports).
func fzServer(f *testing.F) (*fzAnswer, *twitchauth.Config) {
	a := &fzAnswer{status: 200}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		status, body, ctype := a.status, a.body, a.ctype
		a.mu.Unlock()
		if ctype != "" {
			w.Header().Set("Content-Type", ctype)
		}
		if status < 100 || status > 999 {
			status = 200
		}
		w.WriteHeader(status)
		w.Write(body)
	}))
	f.Cleanup(srv.Close)
	cfg := &twitchauth.Config{
		ClientID: "fzclientid", ClientSecret: fzSecret, RedirectURI: "http://localhost:3000",
		Endpoints:  twitchauth.Endpoints{IDURL: srv.URL + "/oauth2", APIURL: srv.URL + "/helix"},
		HTTPClient: &http.Client{Timeout: 5 * time.Second},
	}
	return a, cfg
}

// fzCheckErr fails t unless err is typed — an *APIError, a sentinel of the
// package, a JSON decoding error, a network error, ErrResponseTooLarge or ErrMalformedResponse —
// and free of the secrets the request carried (unless the answer echoed
// them).
func fzCheckErr(t *testing.T, err error, body []byte) {
	t.Helper()
	if err == nil {
		return
	}
	var (
		ae *twitchauth.APIError
		se *json.SyntaxError
		te *json.UnmarshalTypeError
		ne net.Error
		ue *url.Error
	)
	msg := err.Error()
	typed := errors.As(err, &ae) || errors.As(err, &se) || errors.As(err, &te) || errors.As(err, &ne) || errors.As(err, &ue) ||
		errors.Is(err, twitchauth.ErrResponseTooLarge) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, twitchauth.ErrMalformedResponse)
	for _, s := range []error{twitchauth.ErrInvalidRefreshToken, twitchauth.ErrInvalidToken, twitchauth.ErrInvalidClient,
		twitchauth.ErrInvalidClientSecret, twitchauth.ErrMissingClientSecret, twitchauth.ErrAuthorizationPending,
		twitchauth.ErrSlowDown, twitchauth.ErrAccessDenied, twitchauth.ErrRedirectMismatch, twitchauth.ErrDeviceCodeExpired,
		twitchauth.ErrInvalidCode, twitchauth.ErrStateMismatch} {
		typed = typed || errors.Is(err, s)
	}
	if !typed {
		t.Errorf("untyped error %T: %v", err, err)
	}
	for _, s := range []string{fzSecret, fzRefresh, fzAccess, fzCode} {
		if strings.Contains(msg, s) && !strings.Contains(string(body), s) {
			t.Errorf("error repeats a secret it was not sent: %q", msg)
		}
	}
	if len(msg) > 2000 {
		t.Errorf("error message of %d bytes", len(msg))
	}
}

// fzSeeds are answers of every shape the identity service gives, and broken
// ones.
func fzSeeds(f *testing.F) {
	for _, s := range []struct {
		status int
		body   string
	}{
		{200, `{"access_token":"jostpf5q0uzmxmkba9iyug38kjtgh","expires_in":5011271,"token_type":"bearer"}`},
		{200, `{"access_token":"rfx2uswqe8l4g1mkagrvg5tv0ks3","expires_in":14124,"refresh_token":"5b93chm6hdve3mycz05zfzatkfdenfspp1h1ar2xxdalen01","scope":["channel:moderate","chat:edit"],"token_type":"bearer"}`},
		{200, `{"access_token":"0123456789abcdefghijABCDEFGHIJ","refresh_token":"eyJfaWQmNzMtNGCJ9%6VFV5LNrZFUj8oU231/3Aj","expires_in":5215742,"scope":"channel:read:subscriptions","token_type":"bearer"}`},
		{200, `{"client_id":"wbmytr93xzw8zbg0p1izqyzzc5mbiz","login":"twitchdev","scopes":["channel:read:subscriptions"],"user_id":"141981764","expires_in":5520838}`},
		{200, `{"client_id":"x","scopes":null,"expires_in":1}`},
		{200, `{"device_code":"ike3GM8QIdYZs43KdrWPIO36LofILoCyFEzjlQ91","expires_in":1800,"interval":5,"user_code":"ABCDEFGH","verification_uri":"https://www.twitch.tv/activate?public=true&device-code=ABCDEFGH"}`},
		{400, `{"status":400,"message":"Invalid refresh token"}`},
		{400, `{"error":"Bad Request","status":400,"message":"Invalid refresh token"}`},
		{400, `{"status":400,"message":"authorization_pending"}`},
		{403, `{"status":403,"message":"invalid client secret"}`},
		{401, `{"status":401,"message":"invalid access token"}`},
		{404, `{"status":404,"message":"client does not exist"}`},
		{429, ``},
		{500, `<html>oops</html>`},
		{200, `{"access_token":"`},
		{200, `{}`},
		{200, `null`},
		{200, `[]`},
		{200, `{"access_token":"a","expires_in":-1,"scope":[1,2]}`},
		{200, `{"access_token":"a","expires_in":1e308}`},
		{302, ``},
	} {
		f.Add(s.status, []byte(s.body))
	}
}

// FuzzTokenResponse feeds arbitrary answers to AppToken, Refresh and
// ExchangeCode: they never panic, fail with typed errors that do not repeat
// the secrets sent, and succeed only with an access token.
func FuzzTokenResponse(f *testing.F) {
	fzSeeds(f)
	a, cfg := fzServer(f)
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		a.set(status, body, "application/json")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tok, err := cfg.AppToken(ctx)
		fzCheckErr(t, err, body)
		if err == nil && (tok == nil || tok.AccessToken == "") {
			t.Fatalf("AppToken succeeded without an access token: %+v", tok)
		}
		tok, err = cfg.Refresh(ctx, fzRefresh)
		fzCheckErr(t, err, body)
		if err == nil && (tok == nil || tok.AccessToken == "") {
			t.Fatalf("Refresh succeeded without an access token: %+v", tok)
		}
		if err == nil {
			// String must not depend on the secrets at all: the same token
			// with other access, refresh and ID tokens prints the same. (A
			// substring search misfires when a scope happens to contain
			// the token's text.)
			other := *tok
			other.AccessToken, other.RefreshToken, other.IDToken = "x"+tok.AccessToken, "y"+tok.RefreshToken, "z"+tok.IDToken
			if tok.String() != other.String() || tok.GoString() != other.GoString() {
				t.Fatalf("Token.String depends on the token: %q", tok.String())
			}
		}
	})
}

// FuzzValidateResponse feeds arbitrary answers to Validate and Revoke.
func FuzzValidateResponse(f *testing.F) {
	fzSeeds(f)
	a, cfg := fzServer(f)
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		a.set(status, body, "application/json")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		info, err := cfg.Validate(ctx, fzAccess)
		fzCheckErr(t, err, body)
		if err == nil {
			if info == nil || info.Scopes == nil {
				t.Fatalf("Validate succeeded with %+v (Scopes must be empty, never nil)", info)
			}
		}
		fzCheckErr(t, cfg.Revoke(ctx, fzAccess), body)
	})
}

// FuzzDeviceResponse feeds arbitrary answers to StartDevice.
func FuzzDeviceResponse(f *testing.F) {
	fzSeeds(f)
	a, cfg := fzServer(f)
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		a.set(status, body, "application/json")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		da, err := cfg.StartDevice(ctx, "chat:read")
		fzCheckErr(t, err, body)
		if err == nil && (da == nil || da.DeviceCode == "" || da.UserCode == "") {
			t.Fatalf("StartDevice succeeded with %+v", da)
		}
		if err == nil && da.Interval < 0 {
			t.Errorf("negative polling interval %v", da.Interval)
		}
	})
}

// FuzzHandleCallback runs the callback of the authorization code flow
// on arbitrary redirect queries, against a fake identity server that accepts
// exactly one code. Only the right state with that code yields a token.
func FuzzHandleCallback(f *testing.F) {
	const state = "fz-state-8d1f0b7e3c5a4f6e9b2d"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/oauth2/token":
			r.ParseForm()
			if r.PostForm.Get("code") != fzCode || r.PostForm.Get("client_secret") != fzSecret {
				w.WriteHeader(400)
				w.Write([]byte(`{"status":400,"message":"Invalid authorization code"}`))
				return
			}
			w.Write([]byte(`{"access_token":"` + fzAccess + `","refresh_token":"` + fzRefresh + `","expires_in":14124,"scope":["chat:read"],"token_type":"bearer"}`))
		case "/oauth2/validate":
			w.Write([]byte(`{"client_id":"fzclientid","login":"fz","scopes":["chat:read"],"user_id":"42","expires_in":14000}`))
		default:
			w.WriteHeader(404)
		}
	}))
	f.Cleanup(srv.Close)
	cfg := &twitchauth.Config{
		ClientID: "fzclientid", ClientSecret: fzSecret, RedirectURI: "http://localhost:3000",
		Endpoints:  twitchauth.Endpoints{IDURL: srv.URL + "/oauth2", APIURL: srv.URL + "/helix"},
		HTTPClient: &http.Client{Timeout: 5 * time.Second},
	}
	for _, q := range []string{
		"code=" + fzCode + "&scope=chat%3Aread&state=" + state,
		"code=wrong&state=" + state,
		"code=" + fzCode + "&state=other",
		"code=" + fzCode,
		"error=access_denied&error_description=The+user+denied+you+access&state=" + state,
		"error=redirect_mismatch&error_description=Parameter+redirect_uri+does+not+match+registered+URI",
		"state=" + state,
		"code=" + fzCode + "&state=" + state + "&state=" + state,
		"code=%zz&state=%",
		"",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			// What a server would hand over from a malformed query: the
			// pairs that parsed.
			q, _ = url.ParseQuery(strings.ToValidUTF8(raw, ""))
			if q == nil {
				q = url.Values{}
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tok, err := cfg.HandleCallback(ctx, q, state)
		fzCheckErr(t, err, []byte(raw))
		if err != nil {
			if q.Get("state") != state && !errors.Is(err, twitchauth.ErrStateMismatch) && !errors.Is(err, twitchauth.ErrRedirectMismatch) {
				t.Errorf("a wrong state (%q) gave %v, not ErrStateMismatch", q.Get("state"), err)
			}
			return
		}
		if q.Get("state") != state || q.Get("code") != fzCode || q.Has("error") {
			t.Fatalf("query %q yielded a token", raw)
		}
		if tok.AccessToken != fzAccess || tok.UserID != "42" {
			t.Fatalf("token %+v", tok)
		}
	})
}
