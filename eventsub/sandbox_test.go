package eventsub_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/eventsub"
	"github.com/twitchauth/twitchauth/twitchtest"
	"golang.org/x/oauth2"
)

// The library against the sandbox: two implementations of the protocol,
// written apart from docs/protocol.md, meeting over HTTP.

const sbSecret eventsub.Secret = "library-secret-0123456789"

type sandboxRig struct {
	s        *twitchtest.Server
	cfg      *twitchauth.Config
	client   *eventsub.Client
	callback string
	handler  *eventsub.Handler

	mu      sync.Mutex
	revokes []eventsub.AuthorizationRevokeEvent
	grants  []eventsub.AuthorizationGrantEvent
	revoked []*eventsub.Message
}

func newSandboxRig(t *testing.T, opts ...twitchtest.Option) *sandboxRig {
	t.Helper()
	opts = append([]twitchtest.Option{twitchtest.WithEventSub(twitchtest.EventSubConfig{Timeout: 2 * time.Second, RetryBackoff: 10 * time.Millisecond})}, opts...)
	rig := &sandboxRig{s: twitchtest.NewServer(t, opts...)}
	app := rig.s.DefaultClient()
	rig.cfg = &twitchauth.Config{ClientID: app.ID, ClientSecret: app.Secret,
		Endpoints: twitchauth.Endpoints{IDURL: rig.s.IDURL(), APIURL: rig.s.APIURL()}}
	tok, err := rig.cfg.AppToken(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rig.client = eventsub.NewClient(twitchauth.NewHelix(twitchauth.NewTransport(twitchauth.TransportConfig{Config: rig.cfg, Source: oauth2.StaticTokenSource(tok.OAuth2())})))

	v, err := eventsub.NewVerifier(eventsub.VerifierConfig{Secrets: []eventsub.Secret{sbSecret}})
	if err != nil {
		t.Fatal(err)
	}
	rig.handler, err = eventsub.NewHandler(eventsub.HandlerConfig{
		Verifier: v,
		Logger:   slog.New(slog.DiscardHandler),
		OnAuthorizationRevoke: func(_ context.Context, _ *eventsub.Message, ev eventsub.AuthorizationRevokeEvent) error {
			rig.mu.Lock()
			defer rig.mu.Unlock()
			rig.revokes = append(rig.revokes, ev)
			return nil
		},
		OnAuthorizationGrant: func(_ context.Context, _ *eventsub.Message, ev eventsub.AuthorizationGrantEvent) error {
			rig.mu.Lock()
			defer rig.mu.Unlock()
			rig.grants = append(rig.grants, ev)
			return nil
		},
		OnRevocation: func(_ context.Context, m *eventsub.Message) error {
			rig.mu.Lock()
			defer rig.mu.Unlock()
			rig.revoked = append(rig.revoked, m)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /eventsub", rig.handler)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	rig.callback = "http://" + l.Addr().String() + "/eventsub"
	return rig
}

func (rig *sandboxRig) waitStatus(t *testing.T, id string, want eventsub.Status) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err := rig.client.ListPage(context.Background(), eventsub.Filter{SubscriptionID: id}, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Subscriptions) == 1 && p.Subscriptions[0].Status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscription %s: %+v, want %s", id, p.Subscriptions, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (rig *sandboxRig) until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rig.mu.Lock()
		ok := cond()
		rig.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSandboxRevokeReachesHandler: the client subscribes to grant and revoke,
// the Handler answers the sandbox's challenge, a user disconnects the app
// in the sandbox, and OnAuthorizationRevoke receives it — then a consent
// again reaches OnAuthorizationGrant.
func TestSandboxRevokeReachesHandler(t *testing.T) {
	ctx := context.Background()
	rig := newSandboxRig(t)
	cid := rig.cfg.ClientID
	hook := eventsub.Webhook(rig.callback, sbSecret)
	rev, costs, err := rig.client.Create(ctx, eventsub.AuthorizationRevoke(cid, hook))
	if err != nil {
		t.Fatal(err)
	}
	if rev.Status != eventsub.StatusWebhookCallbackVerificationPending || rev.Type != eventsub.TypeUserAuthorizationRevoke ||
		rev.Condition["client_id"] != cid || rev.Transport.Callback != rig.callback || rev.Transport.Secret != "" || rev.CreatedAt.IsZero() {
		t.Fatalf("created %+v", rev)
	}
	if costs.Total != 1 || costs.TotalCost != 1 || costs.MaxTotalCost == 0 {
		t.Errorf("costs %+v", costs)
	}
	grant, _, err := rig.client.Create(ctx, eventsub.AuthorizationGrant(cid, hook))
	if err != nil {
		t.Fatal(err)
	}
	rig.waitStatus(t, rev.ID, eventsub.StatusEnabled)
	rig.waitStatus(t, grant.ID, eventsub.StatusEnabled)
	if st := rig.handler.Stats(); st.Verifications != 2 || st.Refused != 0 {
		t.Fatalf("handler stats after the challenges: %+v", st)
	}

	mod, _ := rig.s.User("moderator")
	if _, _, err := rig.s.MintUserToken(cid, "moderator", []string{"moderator:read:followers"}); err != nil {
		t.Fatal(err)
	}
	rig.until(t, "the grant", func() bool { return len(rig.grants) == 1 })
	if g := rig.grants[0]; g != (eventsub.AuthorizationGrantEvent{ClientID: cid, UserID: mod.ID, UserLogin: "moderator", UserName: "Moderator"}) {
		t.Errorf("grant event %+v", g)
	}
	bc, _ := rig.s.User("broadcaster")
	follow, _, err := rig.client.Create(ctx, eventsub.CreateRequest{Type: "channel.follow", Version: "2",
		Condition: eventsub.Condition{"broadcaster_user_id": bc.ID, "moderator_user_id": mod.ID}, Transport: hook})
	if err != nil {
		t.Fatal(err)
	}
	rig.waitStatus(t, follow.ID, eventsub.StatusEnabled)

	start := time.Now()
	if _, ok := rig.s.Disconnect(cid, mod.ID); !ok {
		t.Fatal("no grant to disconnect")
	}
	rig.until(t, "the revoke", func() bool { return len(rig.revokes) == 1 })
	t.Logf("disconnect → OnAuthorizationRevoke: %v", time.Since(start))
	if r := rig.revokes[0]; r.ClientID != cid || r.UserID != mod.ID || r.UserLogin != "moderator" {
		t.Errorf("revoke event %+v", r)
	}
	rig.until(t, "the follow revocation", func() bool { return len(rig.revoked) == 1 })
	if m := rig.revoked[0]; m.Subscription.ID != follow.ID || m.Subscription.Status != eventsub.StatusAuthorizationRevoked {
		t.Errorf("revocation %+v", m.Subscription)
	}
	rig.waitStatus(t, follow.ID, eventsub.StatusAuthorizationRevoked)
}

// TestSandboxClientErrors: each refusal of the subscriptions API is typed.
func TestSandboxClientErrors(t *testing.T) {
	ctx := context.Background()
	rig := newSandboxRig(t)
	cid := rig.cfg.ClientID
	hook := eventsub.Webhook(rig.callback, sbSecret)
	if _, _, err := rig.client.Create(ctx, eventsub.AuthorizationRevoke(cid, hook)); err != nil {
		t.Fatal(err)
	}
	var apiErr *eventsub.APIError
	_, _, err := rig.client.Create(ctx, eventsub.AuthorizationRevoke(cid, hook))
	if !errors.Is(err, eventsub.ErrSubscriptionExists) || !errors.As(err, &apiErr) || apiErr.Helix.Status != 409 || apiErr.Op != "create" {
		t.Fatalf("same subscription twice: %v", err)
	}
	bc, _ := rig.s.User("broadcaster")
	_, _, err = rig.client.Create(ctx, eventsub.CreateRequest{Type: "channel.subscribe", Version: "1", Condition: eventsub.Condition{"broadcaster_user_id": bc.ID}, Transport: hook})
	if !errors.Is(err, eventsub.ErrForbidden) {
		t.Fatalf("without the broadcaster's grant: %v", err)
	}
	_, _, err = rig.client.Create(ctx, eventsub.CreateRequest{Type: "user.authorization.revoke", Version: "9", Condition: eventsub.Condition{"client_id": cid}, Transport: hook})
	if !errors.Is(err, eventsub.ErrInvalidSubscription) || !errors.As(err, &apiErr) || apiErr.Helix.Status != 400 {
		t.Fatalf("unknown version: %v", err)
	}
	// Up to 3 callbacks share a type and condition; the 4th is a 429,
	// which comes back at once (no wait for a rate-limit reset).
	for i := 2; i <= 3; i++ {
		if _, _, err := rig.client.Create(ctx, eventsub.AuthorizationRevoke(cid, eventsub.Webhook(fmt.Sprintf("%s?n=%d", rig.callback, i), sbSecret))); err != nil {
			t.Fatal(err)
		}
	}
	before := rig.s.Requests("helix:POST /eventsub/subscriptions")
	_, _, err = rig.client.Create(ctx, eventsub.AuthorizationRevoke(cid, eventsub.Webhook(rig.callback+"?n=4", sbSecret)))
	if sent := rig.s.Requests("helix:POST /eventsub/subscriptions") - before; !errors.Is(err, eventsub.ErrTooManySubscriptions) || sent != 1 {
		t.Fatalf("fourth subscription: %v after %d requests (want 1: no retry)", err, sent)
	}
	if err := rig.client.Delete(ctx, "no-such-id"); !errors.Is(err, eventsub.ErrSubscriptionNotFound) {
		t.Fatalf("delete unknown: %v", err)
	}
	// A user token is refused for webhooks: 401, matching the root
	// package's ErrUnauthorized.
	access, _, _ := rig.s.MintUserToken(cid, "viewer", nil)
	userClient := eventsub.NewClient(twitchauth.NewHelix(twitchauth.NewTransport(twitchauth.TransportConfig{Config: rig.cfg, Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: access})})))
	if _, _, err := userClient.Create(ctx, eventsub.AuthorizationGrant(cid, hook)); !errors.Is(err, twitchauth.ErrUnauthorized) {
		t.Fatalf("user token: %v", err)
	}
	// Refused before sending: what Twitch would refuse for certain.
	for name, req := range map[string]eventsub.CreateRequest{
		"short secret": eventsub.AuthorizationGrant(cid, eventsub.Webhook(rig.callback, "short")),
		"no callback":  eventsub.AuthorizationGrant(cid, eventsub.Webhook("", sbSecret)),
		"no method":    {Type: "x", Version: "1", Condition: eventsub.Condition{"a": "b"}},
		"no condition": {Type: "x", Version: "1", Transport: hook},
		"empty value":  eventsub.AuthorizationGrant("", hook),
	} {
		before := rig.s.Requests("helix:POST /eventsub/subscriptions")
		if _, _, err := rig.client.Create(ctx, req); !errors.Is(err, eventsub.ErrInvalidSubscription) {
			t.Errorf("%s: %v", name, err)
		}
		if rig.s.Requests("helix:POST /eventsub/subscriptions") != before {
			t.Errorf("%s: sent to Twitch", name)
		}
	}
	if _, err := rig.client.ListPage(ctx, eventsub.Filter{Type: "a", Status: "b"}, ""); !errors.Is(err, eventsub.ErrInvalidSubscription) {
		t.Errorf("two filters: %v", err)
	}
}

// TestSandboxListPaginates: List walks every page.
func TestSandboxListPaginates(t *testing.T) {
	ctx := context.Background()
	var opts []twitchtest.Option
	for i := 0; i < 130; i++ {
		opts = append(opts, twitchtest.WithUser(twitchtest.User{Login: fmt.Sprintf("lister%03d", i)}))
	}
	rig := newSandboxRig(t, opts...)
	hook := eventsub.Webhook(rig.callback, sbSecret)
	want := map[string]bool{}
	for _, u := range rig.s.Users() {
		sub, _, err := rig.client.Create(ctx, eventsub.CreateRequest{Type: "stream.online", Version: "1", Condition: eventsub.Condition{"broadcaster_user_id": u.ID}, Transport: hook})
		if err != nil {
			t.Fatal(err)
		}
		want[sub.ID] = true
	}
	p, err := rig.client.ListPage(ctx, eventsub.Filter{}, "")
	if err != nil || p.Cursor == "" || len(p.Subscriptions) >= len(want) || p.Total != len(want) {
		t.Fatalf("first page: %d items, cursor %q, total %d, err %v", len(p.Subscriptions), p.Cursor, p.Total, err)
	}
	n := 0
	for sub, err := range rig.client.List(ctx, eventsub.Filter{Type: "stream.online"}) {
		if err != nil {
			t.Fatal(err)
		}
		if !want[sub.ID] {
			t.Fatalf("unexpected or repeated %s", sub.ID)
		}
		delete(want, sub.ID)
		n++
	}
	if len(want) != 0 {
		t.Fatalf("List missed %d subscriptions (saw %d)", len(want), n)
	}
	// Delete them all through List.
	for sub, err := range rig.client.List(ctx, eventsub.Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		if err := rig.client.Delete(ctx, sub.ID); err != nil {
			t.Fatal(err)
		}
	}
	if left := rig.s.EventSubSubscriptions(rig.cfg.ClientID); len(left) == 0 {
		t.Log("all deleted")
	} else {
		// Deleting while paging shifts the pages: a second pass finishes.
		for sub, err := range rig.client.List(ctx, eventsub.Filter{}) {
			if err != nil {
				t.Fatal(err)
			}
			rig.client.Delete(ctx, sub.ID)
		}
		if left := rig.s.EventSubSubscriptions(rig.cfg.ClientID); len(left) != 0 {
			t.Fatalf("%d subscriptions left", len(left))
		}
	}
}
