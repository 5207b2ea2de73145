package eventsub

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth/internal/testkit"
)

// TestTwitchCLI runs twitch-cli's event verify-subscription and event
// trigger against the Handler on 127.0.0.1: they pass with the right secret
// and fail with a wrong one or a stale timestamp, as twitch-cli's ✔/✗
// lines tell.
func TestTwitchCLI(t *testing.T) {
	bin := testkit.TwitchCLI(t)
	const secret Secret = "cli-secret-0123456789"
	var mu sync.Mutex
	var revokes []AuthorizationRevokeEvent
	var grants []AuthorizationGrantEvent
	var revocations []*Message
	v, err := NewVerifier(VerifierConfig{Secrets: []Secret{secret}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHandler(HandlerConfig{
		Verifier: v,
		Logger:   slog.New(slog.DiscardHandler),
		OnAuthorizationRevoke: func(_ context.Context, _ *Message, ev AuthorizationRevokeEvent) error {
			mu.Lock()
			defer mu.Unlock()
			revokes = append(revokes, ev)
			return nil
		},
		OnAuthorizationGrant: func(_ context.Context, _ *Message, ev AuthorizationGrantEvent) error {
			mu.Lock()
			defer mu.Unlock()
			grants = append(grants, ev)
			return nil
		},
		OnRevocation: func(_ context.Context, m *Message) error {
			mu.Lock()
			defer mu.Unlock()
			revocations = append(revocations, m)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/eventsub", h)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	url := "http://" + l.Addr().String() + "/eventsub"
	stale := "2020-01-01T00:00:00Z" // canonical UTC: twitch-cli signs its re-formatting of --timestamp

	t.Run("verify-subscription", func(t *testing.T) {
		out := testkit.CLIRun(t, bin, "event", "verify-subscription", "user.authorization.revoke", "-F", url, "-s", string(secret), "-D")
		ok := testkit.CLILines(out, "✔")
		if len(ok) != 3 || len(testkit.CLILines(out, "✗")) != 0 ||
			!strings.HasPrefix(ok[0], "✔ Valid response. Received challenge") ||
			!strings.HasPrefix(ok[1], "✔ Valid content-type header. Received type text/plain") ||
			!strings.HasPrefix(ok[2], "✔ Valid status code. Received status 200") {
			t.Fatalf("want three ✔ checks, got:\n%s", out)
		}
	})
	for name, args := range map[string][]string{
		"verify-subscription wrong secret": {"-s", "wrong-secret-0123456789"},
		"verify-subscription stale":        {"-s", string(secret), "--timestamp", stale},
	} {
		t.Run(name, func(t *testing.T) {
			out := testkit.CLIRun(t, bin, append([]string{"event", "verify-subscription", "user.authorization.revoke", "-F", url, "-D"}, args...)...)
			if len(testkit.CLILines(out, "✔ Valid response")) != 0 || len(testkit.CLILines(out, "✗ Invalid status code")) != 1 {
				t.Fatalf("want the challenge refused, got:\n%s", out)
			}
		})
	}

	const id = "11111111-2222-3333-4444-555555555555"
	trigger := func(t *testing.T, typ string, args ...string) string {
		return testkit.CLIRun(t, bin, append([]string{"event", "trigger", typ, "-F", url, "-D"}, args...)...)
	}
	t.Run("trigger revoke", func(t *testing.T) {
		out := trigger(t, "user.authorization.revoke", "-s", string(secret), "--client-id", "cliclientid", "-f", "1337", "--from-user-name", "cool_user", "-I", id)
		if l := testkit.CLILines(out, "✔ Request Sent"); len(l) != 1 || !strings.Contains(l[0], "Received Status Code: 204") || len(testkit.CLILines(out, "✗")) != 0 {
			t.Fatalf("want ✔ 204, got:\n%s", out)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(revokes) != 1 || revokes[0].ClientID != "cliclientid" || revokes[0].UserID != "1337" || revokes[0].UserLogin != "cool_user" {
			t.Fatalf("OnAuthorizationRevoke got %+v", revokes)
		}
	})
	t.Run("trigger revoke resent", func(t *testing.T) {
		out := trigger(t, "user.authorization.revoke", "-s", string(secret), "--client-id", "cliclientid", "-f", "1337", "-I", id)
		if l := testkit.CLILines(out, "✔ Request Sent"); len(l) != 1 || !strings.Contains(l[0], "204") {
			t.Fatalf("want a duplicate acknowledged, got:\n%s", out)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(revokes) != 1 {
			t.Fatalf("a resent message was processed again: %+v", revokes)
		}
	})
	for name, args := range map[string][]string{
		"trigger revoke wrong secret": {"-s", "wrong-secret-0123456789"},
		"trigger revoke stale":        {"-s", string(secret), "--timestamp", stale},
		"trigger revoke unsigned":     {},
	} {
		t.Run(name, func(t *testing.T) {
			out := trigger(t, "user.authorization.revoke", append(args, "--client-id", "cliclientid", "-f", "42")...)
			if len(testkit.CLILines(out, "✔")) != 0 || len(testkit.CLILines(out, "✗ Invalid response. Received Status Code: 4")) != 1 {
				t.Fatalf("want ✗ and a 4xx, got:\n%s", out)
			}
		})
	}
	t.Run("trigger revocation", func(t *testing.T) {
		out := trigger(t, "user.authorization.revoke", "-s", string(secret), "-r", "authorization_revoked")
		if l := testkit.CLILines(out, "✔ Request Sent"); len(l) != 1 || !strings.Contains(l[0], "204") {
			t.Fatalf("want ✔ 204, got:\n%s", out)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(revocations) != 1 || revocations[0].Subscription.Status != StatusAuthorizationRevoked {
			t.Fatalf("OnRevocation got %v", revocations)
		}
	})
	t.Run("trigger grant", func(t *testing.T) {
		out := trigger(t, "user.authorization.grant", "-s", string(secret), "--client-id", "cliclientid", "-f", "7")
		if l := testkit.CLILines(out, "✔ Request Sent"); len(l) != 1 || !strings.Contains(l[0], "204") {
			t.Fatalf("want ✔ 204, got:\n%s", out)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(grants) != 1 || grants[0].UserID != "7" {
			t.Fatalf("OnAuthorizationGrant got %+v", grants)
		}
	})
	mu.Lock()
	defer mu.Unlock()
	if len(revokes) != 1 {
		t.Errorf("refused messages reached OnAuthorizationRevoke: %+v", revokes)
	}
}
