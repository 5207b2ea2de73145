package twitchauth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/provider"
)

// fakeIdentity serves fixed 200 answers for /token, /validate and /device,
// and counts the /token requests.
func fakeIdentity(t *testing.T, token, validate, device string) (*twitchauth.Config, *atomic.Int32) {
	t.Helper()
	var tokens atomic.Int32
	mux := http.NewServeMux()
	answer := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(body))
		}
	}
	mux.HandleFunc("/oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		tokens.Add(1)
		answer(token)(w, r)
	})
	mux.HandleFunc("/oauth2/validate", answer(validate))
	mux.HandleFunc("/oauth2/device", answer(device))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &twitchauth.Config{ClientID: "edgeclient", ClientSecret: "edgesecret",
		Endpoints: twitchauth.Endpoints{IDURL: srv.URL + "/oauth2", APIURL: srv.URL + "/helix"}, Logger: testLogger}, &tokens
}

// A 200 whose JSON has the wrong types (or is not JSON) is
// ErrMalformedResponse, on every identity endpoint.
func TestMistypedJSONIsMalformed(t *testing.T) {
	for _, body := range []string{
		`{"access_token":5,"expires_in":3600,"token_type":"bearer"}`,
		`{"access_token":"x","expires_in":"3600","token_type":"bearer"}`,
		`{"access_token":"x","expires_in":3600.5}`,
		`{"access_token":"x","scope":{"a":1}}`,
		`["access_token"]`,
		`{"access_token":"x"`,
		`not json`,
	} {
		cfg, _ := fakeIdentity(t, body, `{"client_id":7}`, `{"device_code":["x"]}`)
		if _, err := cfg.AppToken(ctx(t)); !errors.Is(err, twitchauth.ErrMalformedResponse) {
			t.Errorf("AppToken on %s: %v, want ErrMalformedResponse", body, err)
		}
		if _, err := cfg.Refresh(ctx(t), "rt"); !errors.Is(err, twitchauth.ErrMalformedResponse) {
			t.Errorf("Refresh on %s: %v, want ErrMalformedResponse", body, err)
		}
		if _, err := cfg.Validate(ctx(t), "at"); !errors.Is(err, twitchauth.ErrMalformedResponse) {
			t.Errorf("Validate: %v, want ErrMalformedResponse", err)
		}
		if _, err := cfg.StartDevice(ctx(t)); !errors.Is(err, twitchauth.ErrMalformedResponse) {
			t.Errorf("StartDevice: %v, want ErrMalformedResponse", err)
		}
	}
}

// expires_in = MaxInt64 must not overflow into an expiry in the past: the
// lifetime is clamped (to 2^31-1 s, as x/oauth2 does), the token is not
// expired, and a Provider holding it does not renew it on every read.
func TestExpiresInOverflowIsClamped(t *testing.T) {
	cfg, tokens := fakeIdentity(t,
		`{"access_token":"longlived","expires_in":9223372036854775807,"token_type":"bearer"}`,
		`{"client_id":"edgeclient","scopes":[],"expires_in":9223372036854775807}`,
		`{"device_code":"d","user_code":"u","verification_uri":"https://x","expires_in":9223372036854775807,"interval":9223372036854775807}`)
	start := time.Now()
	tok, err := cfg.AppToken(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if !time.Now().Before(tok.Expiry) || !tok.Expiry.After(start.Add(60*365*24*time.Hour)) || tok.Expiry.After(start.Add(69*365*24*time.Hour)) {
		t.Fatalf("expiry %v: want about 68 years ahead, not expired", tok.Expiry)
	}
	info, err := cfg.Validate(ctx(t), "longlived")
	if err != nil || info.ExpiresIn < 60*365*24*time.Hour {
		t.Fatalf("Validate: %+v %v: want a clamped, positive ExpiresIn", info, err)
	}
	da, err := cfg.StartDevice(ctx(t))
	if err != nil || !da.ExpiresAt.After(start) || da.Interval <= 0 {
		t.Fatalf("StartDevice: %+v %v", da, err)
	}

	p := newProvider(t, cfg)
	before := tokens.Load()
	for range 5 {
		if _, err := p.Token(ctx(t), provider.App()); err != nil {
			t.Fatal(err)
		}
	}
	if n := tokens.Load() - before; n != 1 {
		t.Fatalf("the Provider asked for %d app tokens in 5 reads; want 1 (the clamped token stays fresh)", n)
	}
}

// A negative expires_in means an expired token, not one of unknown expiry
// (which a Provider would serve until a 401).
func TestNegativeExpiresInIsExpired(t *testing.T) {
	cfg, tokens := fakeIdentity(t,
		`{"access_token":"dead","refresh_token":"rt2","expires_in":-5,"token_type":"bearer"}`,
		`{"client_id":"edgeclient","scopes":[],"expires_in":-5}`, `{}`)
	tok, err := cfg.Refresh(ctx(t), "rt")
	if err != nil {
		t.Fatal(err)
	}
	if tok.Expiry.IsZero() || time.Now().Before(tok.Expiry) {
		t.Fatalf("expiry %v: a negative expires_in must give an expired token", tok.Expiry)
	}
	if tok.RefreshToken != "rt2" {
		t.Fatalf("the new refresh token was dropped: %q", tok.RefreshToken)
	}
	if _, err := cfg.Validate(ctx(t), "dead"); !errors.Is(err, twitchauth.ErrMalformedResponse) {
		t.Fatalf("Validate with a negative expires_in: %v, want ErrMalformedResponse", err)
	}
	// A Provider renews an app token that came back expired at its next
	// read instead of serving it as if it never expired.
	p := newProvider(t, cfg)
	before := tokens.Load()
	for range 3 {
		if _, err := p.Token(context.Background(), provider.App()); err != nil {
			t.Fatal(err)
		}
	}
	if n := tokens.Load() - before; n != 3 {
		t.Fatalf("%d token requests for 3 reads of an expired token, want 3", n)
	}
}
