package provider_test

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
	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// Recognisable credentials: the leak check below looks for them (and for
// every token the suite obtained) in every error string and log line.
const (
	testClientID     = "leakcheckclientid000000000001"
	testClientSecret = "LEAKCHECK-client-secret-3f9a7c2e"
)

// leakRecorder collects the secrets the suite handled and the texts (error
// strings, log lines) it produced.
type leakRecorder struct {
	mu      sync.Mutex
	secrets map[string]bool
	texts   []string
	logs    bytes.Buffer
}

var leaks = &leakRecorder{secrets: map[string]bool{testClientSecret: true}}

func (l *leakRecorder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.logs.Write(p)
}

func (l *leakRecorder) secret(s ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, v := range s {
		if len(v) >= 8 {
			l.secrets[v] = true
		}
	}
}

func (l *leakRecorder) text(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.texts = append(l.texts, s)
}

// findLeaks returns, for each text containing a secret, a description that
// does not repeat the secret.
func findLeaks(texts []string, secrets map[string]bool) []string {
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

// testLogger logs at debug level into the leak recorder.
var testLogger = slog.New(slog.NewTextHandler(leaks, &slog.HandlerOptions{Level: slog.LevelDebug}))

// TestMain runs the suite, then checks that no error string or log line it
// produced contains a client secret, access token, refresh token or ID token.
func TestMain(m *testing.M) {
	code := m.Run()
	leaks.mu.Lock()
	texts := append([]string{}, leaks.texts...)
	for _, line := range strings.Split(leaks.logs.String(), "\n") {
		if line != "" {
			texts = append(texts, line)
		}
	}
	found := findLeaks(texts, leaks.secrets)
	nSecrets := len(leaks.secrets)
	leaks.mu.Unlock()
	if len(found) > 0 {
		fmt.Fprintf(os.Stderr, "LEAK CHECK FAILED: %d texts contain secrets:\n%s\n", len(found), strings.Join(found, "\n"))
		code = 1
	} else if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "leak check: %d texts, %d secrets, no leak\n", len(texts), nSecrets)
	}
	os.Exit(code)
}

// newSandbox starts a sandbox whose default client has the recognisable
// credentials.
func newSandbox(t testing.TB, opts ...twitchtest.Option) *twitchtest.Server {
	t.Helper()
	opts = append([]twitchtest.Option{twitchtest.WithClient(twitchtest.Client{
		ID: testClientID, Secret: testClientSecret, Name: "Leak Check App",
		Type: twitchtest.Confidential, RedirectURIs: []string{"http://localhost:3000", "http://localhost:3000/other"},
	})}, opts...)
	return twitchtest.NewServer(t, opts...)
}

// confidential returns a Config for the sandbox's default client.
func confidential(s *twitchtest.Server) *twitchauth.Config {
	c := s.DefaultClient()
	return &twitchauth.Config{
		ClientID:     c.ID,
		ClientSecret: c.Secret,
		RedirectURI:  "http://localhost:3000",
		Endpoints:    twitchauth.Endpoints{IDURL: s.IDURL(), APIURL: s.APIURL()},
		Logger:       testLogger,
	}
}

// public returns a Config for the sandbox's public client.
func public(s *twitchtest.Server) *twitchauth.Config {
	c := s.PublicClient()
	return &twitchauth.Config{
		ClientID:  c.ID,
		Endpoints: twitchauth.Endpoints{IDURL: s.IDURL(), APIURL: s.APIURL()},
		Logger:    testLogger,
	}
}

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// option sets one field of a provider.Config (the tests' shorthand).
type option func(*provider.Config)

func withStore(s store.Store) option          { return func(c *provider.Config) { c.Store = s } }
func withClock(now func() time.Time) option   { return func(c *provider.Config) { c.Now = now } }
func withHooks(h provider.Hooks) option       { return func(c *provider.Config) { c.Hooks = h } }
func withRenewTimeout(d time.Duration) option { return func(c *provider.Config) { c.RenewTimeout = d } }
func withLogger(l *slog.Logger) option        { return func(c *provider.Config) { c.Logger = l } }

// providerConfig builds the Config of cfg with opts.
func providerConfig(cfg *twitchauth.Config, opts ...option) provider.Config {
	c := provider.Config{OAuth: cfg}
	for _, o := range opts {
		o(&c)
	}
	return c
}

func withValidationConcurrency(n int) option {
	return func(c *provider.Config) { c.ValidationConcurrency = n }
}
func withValidationLease(d time.Duration) option {
	return func(c *provider.Config) { c.ValidationLease = d }
}
