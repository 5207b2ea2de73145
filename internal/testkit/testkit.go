// Package testkit holds the test helpers shared by this module's test
// suites: the leak check (no secret in any error string or log line), a
// sandbox with recognisable credentials, Configs for its clients, and a
// driver for twitch-cli. It imports package testing: import it from _test.go
// files only (cmd/twitchauth's TestBinaryDoesNotLinkTesting guards that the
// binary does not link it).
package testkit

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/provider"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// Recognisable credentials of NewSandbox's default client: the leak check
// looks for them (and for every secret recorded) in every error string and
// log line.
const (
	ClientID     = "leakcheckclientid000000000001"
	ClientSecret = "LEAKCHECK-client-secret-3f9a7c2e"
)

// LeakRecorder collects the secrets a suite handled and the texts (error
// strings, log lines) it produced. It is an io.Writer for log output.
type LeakRecorder struct {
	mu      sync.Mutex
	secrets map[string]bool
	texts   []string
	logs    bytes.Buffer
}

// Leaks is the test binary's recorder, checked by Main.
var Leaks = &LeakRecorder{secrets: map[string]bool{ClientSecret: true}}

// Logger logs at debug level into Leaks.
var Logger = slog.New(slog.NewTextHandler(Leaks, &slog.HandlerOptions{Level: slog.LevelDebug}))

// Write records log output.
func (l *LeakRecorder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.logs.Write(p)
}

// Secret records secrets to look for; those shorter than 8 bytes are
// ignored (too likely to appear by chance).
func (l *LeakRecorder) Secret(s ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, v := range s {
		if len(v) >= 8 {
			l.secrets[v] = true
		}
	}
}

// Text records a text that must contain no secret.
func (l *LeakRecorder) Text(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.texts = append(l.texts, s)
}

// FindLeaks returns, for each text containing a secret, a description that
// does not repeat the secret.
func FindLeaks(texts []string, secrets map[string]bool) []string {
	var out []string
	for _, t := range texts {
		for s := range secrets {
			if strings.Contains(t, s) {
				out = append(out, fmt.Sprintf("a secret of %d bytes appears in %q", len(s), strings.ReplaceAll(t, s, "<SECRET>")))
			}
		}
	}
	return out
}

// Main runs the suite (call it from TestMain), then fails the binary if an
// error string or log line recorded in Leaks contains a secret recorded
// there: the client secret, an access, refresh or ID token.
func Main(m *testing.M) {
	code := m.Run()
	Leaks.mu.Lock()
	texts := append([]string{}, Leaks.texts...)
	for _, line := range strings.Split(Leaks.logs.String(), "\n") {
		if line != "" {
			texts = append(texts, line)
		}
	}
	found := FindLeaks(texts, Leaks.secrets)
	nSecrets := len(Leaks.secrets)
	Leaks.mu.Unlock()
	if len(found) > 0 {
		fmt.Fprintf(os.Stderr, "LEAK CHECK FAILED: %d texts contain secrets:\n%s\n", len(found), strings.Join(found, "\n"))
		code = 1
	} else if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "leak check: %d texts, %d secrets, no leak\n", len(texts), nSecrets)
	}
	os.Exit(code)
}

// NewSandbox starts a sandbox whose default client has the recognisable
// credentials ClientID and ClientSecret.
func NewSandbox(t testing.TB, opts ...twitchtest.Option) *twitchtest.Server {
	t.Helper()
	opts = append([]twitchtest.Option{twitchtest.WithClient(twitchtest.Client{
		ID: ClientID, Secret: ClientSecret, Name: "Leak Check App",
		Type: twitchtest.Confidential, RedirectURIs: []string{"http://localhost:3000", "http://localhost:3000/other"},
	})}, opts...)
	return twitchtest.NewServer(t, opts...)
}

// Confidential returns a Config for the sandbox's default client, logging
// to Logger.
func Confidential(s *twitchtest.Server) *twitchauth.Config {
	c := s.DefaultClient()
	return &twitchauth.Config{
		ClientID:     c.ID,
		ClientSecret: c.Secret,
		RedirectURI:  "http://localhost:3000",
		Endpoints:    twitchauth.Endpoints{IDURL: s.IDURL(), APIURL: s.APIURL()},
		Logger:       Logger,
	}
}

// Public returns a Config for the sandbox's public client, logging to
// Logger.
func Public(s *twitchtest.Server) *twitchauth.Config {
	c := s.PublicClient()
	return &twitchauth.Config{
		ClientID:  c.ID,
		Endpoints: twitchauth.Endpoints{IDURL: s.IDURL(), APIURL: s.APIURL()},
		Logger:    Logger,
	}
}

// Ctx returns t's context with a 30-second deadline.
func Ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// ProvUser mints a user grant in the sandbox, records its tokens in Leaks
// and adds it to p with intents.
func ProvUser(t *testing.T, s *twitchtest.Server, p *provider.Provider, clientID, login string, scopes []string, intents ...string) *twitchauth.Token {
	t.Helper()
	access, refresh, err := s.MintUserToken(clientID, login, scopes)
	if err != nil {
		t.Fatal(err)
	}
	Leaks.Secret(access, refresh)
	tok, err := p.AddUserToken(Ctx(t), &twitchauth.Token{AccessToken: access, RefreshToken: refresh, TokenType: "bearer"}, intents...)
	if err != nil {
		t.Fatalf("AddUserToken: %v", err)
	}
	return tok
}
