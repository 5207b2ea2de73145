// Package eventsub receives Twitch EventSub webhooks and manages EventSub
// subscriptions.
//
// Twitch delivers EventSub messages to a webhook callback as signed POSTs:
// a challenge once after a subscription is created
// (webhook_callback_verification), then notifications, and a revocation when
// Twitch ends the subscription. Each carries Twitch-Eventsub-Message-Id,
// -Timestamp and -Signature headers; the signature is the HMAC-SHA256, keyed
// with the subscription's secret, of the ID, the timestamp and the raw body
// (docs/protocol.md#eventsub).
//
// A [Verifier] authenticates a message: the signature against every secret in
// force (several at once while rotating), compared in constant time; the
// timestamp no older than 10 minutes and no more than a minute ahead; and the
// message ID not seen before, in a [SeenStore] (bounded memory by default,
// shareable by a fleet). A [Handler] is the http.Handler of the callback URL:
// it answers challenges, refuses what fails verification with a JSON 4xx,
// acknowledges duplicates without processing them again, and hands
// user.authorization.grant and user.authorization.revoke events to typed
// callbacks and every other notification to a raw one. A callback's error
// answers 500 and forgets the message ID, so that Twitch's resend is processed.
//
// Package eventsub/seentest is the contract suite for SeenStore
// implementations.
//
// A [Client] creates, lists and deletes subscriptions through a
// twitchauth.Helix client; webhook and conduit subscriptions need the app
// access token. Its refusals are *[APIError] values matching
// [ErrSubscriptionExists], [ErrForbidden], [ErrTooManySubscriptions] and the
// others with errors.Is.
//
// # Reacting to revocations
//
// Subscribe once to user.authorization.revoke for your own client ID, and
// stop using a user's tokens when the event arrives, keyed on client ID and
// user ID (user_login is null when the user no longer exists):
//
//	v, _ := eventsub.NewVerifier(eventsub.VerifierConfig{Secrets: []eventsub.Secret{secret}})
//	h, _ := eventsub.NewHandler(eventsub.HandlerConfig{
//		Verifier: v,
//		OnAuthorizationRevoke: func(ctx context.Context, _ *eventsub.Message, ev eventsub.AuthorizationRevokeEvent) error {
//			return tokens.Forget(ctx, ev.ClientID, ev.UserID) // an error makes Twitch send it again
//		},
//	})
//	http.Handle("POST /eventsub", h)
//	// once, with the app token:
//	subs := eventsub.NewClient(twitchauth.NewHelix(twitchauth.NewTransport(twitchauth.TransportConfig{Config: cfg, Source: appTokenSource})))
//	_, _, err := subs.Create(ctx, eventsub.AuthorizationRevoke(cfg.ClientID, eventsub.Webhook("https://example.com/eventsub", secret)))
//	// errors.Is(err, eventsub.ErrSubscriptionExists) on a restart: it is already there
//
// What this package owns: the webhook message format, its verification, the
// seen-set interface and its in-memory implementation, the callback handler
// and the subscriptions API client. What it must not touch: token storage
// and the token lifecycle (the callbacks decide what a revoke means for your
// tokens), and the sandbox (package twitchtest), which writes its own
// messages and HMAC code; the two meet only over HTTP. WebSocket and conduit
// transports are not received here.
package eventsub
