package twitchauth_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/internal/testkit"
)

// The helpers shared with the provider suite (internal/testkit), under the
// names this suite uses: the leak check, the sandbox with recognisable
// credentials, Configs for its clients, and provUser.
var (
	leaks        = testkit.Leaks
	testLogger   = testkit.Logger
	findLeaks    = testkit.FindLeaks
	newSandbox   = testkit.NewSandbox
	confidential = testkit.Confidential
	public       = testkit.Public
	ctx          = testkit.Ctx
	provUser     = testkit.ProvUser
)

// TestMain runs the suite, then checks that no error string or log line it
// produced contains a client secret, access token, refresh token or ID token.
func TestMain(m *testing.M) { testkit.Main(m) }

// mustToken returns a function that fails the test on err and records tok's
// secrets: mustToken(t)(cfg.AppToken(ctx)).
func mustToken(t *testing.T) func(*twitchauth.Token, error) *twitchauth.Token {
	return func(tok *twitchauth.Token, err error) *twitchauth.Token {
		t.Helper()
		return checkToken(t, tok, err)
	}
}

func checkToken(t *testing.T, tok *twitchauth.Token, err error) *twitchauth.Token {
	t.Helper()
	if err != nil {
		leaks.Text(err.Error())
		t.Fatalf("unexpected error: %v", err)
	}
	leaks.Secret(tok.AccessToken, tok.RefreshToken, tok.IDToken)
	leaks.Text(tok.String())
	leaks.Text(fmt.Sprintf("%v %+v %#v", tok, tok, *tok))
	return tok
}

// wantErr checks that err matches every target and records its text.
func wantErr(t *testing.T, err error, targets ...error) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", targets)
	}
	leaks.Text(err.Error())
	leaks.Text(fmt.Sprintf("%+v %#v", err, err))
	for _, target := range targets {
		if !errors.Is(err, target) {
			t.Fatalf("error %q does not match %v", err, target)
		}
	}
}

// wantAPIError checks err is an *APIError with status and endpoint.
func wantAPIError(t *testing.T, err error, endpoint string, status int) *twitchauth.APIError {
	t.Helper()
	var ae *twitchauth.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not an *APIError", err, err)
	}
	if ae.Endpoint != endpoint || ae.Status != status {
		t.Fatalf("APIError endpoint %q status %d, want %q %d (%v)", ae.Endpoint, ae.Status, endpoint, status, err)
	}
	return ae
}
