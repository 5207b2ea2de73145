package eventsub_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/eventsub"
	"github.com/twitchauth/twitchauth/provider"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// React to revocations: a user who disconnects your app on Twitch is
// announced at once by user.authorization.revoke. Here the sandbox stands
// in for Twitch: the user disconnects the app on their Connections page.
func Example_reactToRevocations() {
	ctx := context.Background()
	sandbox, err := twitchtest.New()
	if err != nil {
		log.Fatal(err)
	}
	sandbox.Listen("127.0.0.1:0")
	defer sandbox.Close()
	app := sandbox.DefaultClient()
	cfg := &twitchauth.Config{ClientID: app.ID, ClientSecret: app.Secret,
		Endpoints: twitchauth.Endpoints{IDURL: sandbox.IDURL(), APIURL: sandbox.APIURL()}} // omit Endpoints for Twitch
	p, err := provider.New(ctx, provider.Config{OAuth: cfg})
	if err != nil {
		log.Fatal(err)
	}

	// The callback: verify, then stop using the user's tokens.
	secret := eventsub.Secret("a-long-random-secret-from-your-vault")
	revoked := make(chan eventsub.AuthorizationRevokeEvent, 1)
	v, err := eventsub.NewVerifier(eventsub.VerifierConfig{Secrets: []eventsub.Secret{secret}})
	if err != nil {
		log.Fatal(err)
	}
	h, err := eventsub.NewHandler(eventsub.HandlerConfig{
		Verifier: v,
		OnAuthorizationRevoke: func(ctx context.Context, _ *eventsub.Message, ev eventsub.AuthorizationRevokeEvent) error {
			revoked <- ev // e.g. delete the grant of ev.UserID for ev.ClientID; an error makes Twitch resend
			return nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /eventsub", h)
	l, _ := net.Listen("tcp", "127.0.0.1:0") // on Twitch: https://your.host/eventsub on port 443
	go http.Serve(l, mux)
	callback := "http://" + l.Addr().String() + "/eventsub"

	// At every start, with the app token: one subscription, to this callback.
	subs := eventsub.NewClient(twitchauth.NewHelix(twitchauth.NewTransport(twitchauth.TransportConfig{Config: cfg, Source: p.TokenSource(provider.App())})))
	sub, err := ensureSubscribed(ctx, subs, eventsub.AuthorizationRevoke(cfg.ClientID, eventsub.Webhook(callback, secret)))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("status:", sub.Status)
	for deadline := time.Now().Add(10 * time.Second); sub.Status != eventsub.StatusEnabled && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond) // Twitch sends the challenge; the Handler answers it
		page, err := subs.ListPage(ctx, eventsub.Filter{SubscriptionID: sub.ID}, "")
		if err != nil {
			log.Fatal(err)
		}
		sub = &page.Subscriptions[0]
	}
	fmt.Println("status:", sub.Status)
	sub, _ = ensureSubscribed(ctx, subs, eventsub.AuthorizationRevoke(cfg.ClientID, eventsub.Webhook(callback, secret)))
	fmt.Println("again:", sub.Status) // a restart keeps the subscription

	// A user authorizes the app, then disconnects it.
	user, _ := sandbox.User("twitchdev")
	sandbox.MintUserToken(app.ID, "twitchdev", []string{"user:read:email"})
	sandbox.Disconnect(app.ID, user.ID)
	select {
	case ev := <-revoked:
		fmt.Println("revoked:", ev.UserID == user.ID, ev.UserLogin)
	case <-time.After(10 * time.Second):
		fmt.Println("no revoke notification")
	}
	// Output:
	// status: webhook_callback_verification_pending
	// status: enabled
	// again: enabled
	// revoked: true twitchdev
}

// ensureSubscribed makes sure the app has the subscription req describes,
// to req's callback, and removes the app's other subscriptions of that type
// (an old callback, or one that failed). Run it at every start: a restart
// then neither duplicates nor loses the subscription.
func ensureSubscribed(ctx context.Context, subs *eventsub.Client, req eventsub.CreateRequest) (*eventsub.Subscription, error) {
	var keep *eventsub.Subscription
	var stale []string
	for sub, err := range subs.List(ctx, eventsub.Filter{Type: req.Type}) {
		if err != nil {
			return nil, err
		}
		live := sub.Status == eventsub.StatusEnabled || sub.Status == eventsub.StatusWebhookCallbackVerificationPending
		if keep == nil && live && sub.Version == req.Version && sub.Transport.Callback == req.Transport.Callback {
			keep = &sub
			continue
		}
		stale = append(stale, sub.ID)
	}
	for _, id := range stale { // after listing: deleting while paging would shift the pages
		if err := subs.Delete(ctx, id); err != nil && !errors.Is(err, eventsub.ErrSubscriptionNotFound) {
			return nil, err
		}
	}
	if keep != nil {
		return keep, nil
	}
	sub, _, err := subs.Create(ctx, req)
	return sub, err
}

// Verify one message by hand, as a framework other than net/http would.
func ExampleVerifier_Verify() {
	secret := eventsub.Secret("0123456789")
	now, _ := time.Parse(time.RFC3339, "2026-03-01T12:00:30Z")
	v, err := eventsub.NewVerifier(eventsub.VerifierConfig{Secrets: []eventsub.Secret{secret}, Now: func() time.Time { return now }})
	if err != nil {
		log.Fatal(err)
	}
	body := []byte(`{"subscription":{"id":"s1","type":"user.authorization.revoke","version":"1","status":"enabled"},"event":{"client_id":"c","user_id":"1337","user_login":null,"user_name":null}}`)
	h := http.Header{}
	h.Set(eventsub.HeaderMessageID, "id1")
	h.Set(eventsub.HeaderMessageTimestamp, "2026-03-01T12:00:00Z")
	h.Set(eventsub.HeaderMessageType, "notification")
	h.Set(eventsub.HeaderMessageSignature, eventsub.Sign(secret, "id1", "2026-03-01T12:00:00Z", body))

	msg, err := v.Verify(context.Background(), h, body)
	fmt.Println(msg.Subscription.Type, err)
	_, err = v.Verify(context.Background(), h, body)
	fmt.Println(errors.Is(err, eventsub.ErrDuplicate))
	h.Set(eventsub.HeaderMessageID, "id2")
	_, err = v.Verify(context.Background(), h, body)
	fmt.Println(errors.Is(err, eventsub.ErrSignature))
	// Output:
	// user.authorization.revoke <nil>
	// true
	// true
}
