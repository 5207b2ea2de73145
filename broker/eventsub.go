package broker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/eventsub"
	"github.com/twitchauth/twitchauth/provider"
)

// EventSubPath is where the broker receives EventSub webhooks, under its
// public URL: PublicURL + EventSubPath is the callback of the
// subscriptions it creates.
const EventSubPath = "/eventsub"

// DefaultEventSubCheckInterval is how often, when nothing else asks, the
// broker checks that its EventSub subscriptions are still in place.
const DefaultEventSubCheckInterval = 15 * time.Minute

// eventSubMaxBackoff bounds the wait between failed attempts to put the
// subscriptions in place.
const eventSubMaxBackoff = 5 * time.Minute

// eventSubTypes are the subscription types the broker keeps for its own
// client ID (condition client_id; docs/protocol.md#eventsub).
var eventSubTypes = []string{eventsub.TypeUserAuthorizationRevoke, eventsub.TypeUserAuthorizationGrant}

// esBroker is the broker's EventSub side: the webhook callback (verified
// by package eventsub), what a revoke or a grant means for the held grants,
// and the loop that keeps the subscriptions in place.
type esBroker struct {
	b        *Broker
	verifier *eventsub.Verifier
	handler  *eventsub.Handler
	callback string
	interval time.Duration
	kick     chan struct{}
	messages *prometheus.CounterVec
	ready    prometheus.Gauge

	mu        sync.Mutex
	secret    eventsub.Secret
	previous  eventsub.Secret // accepted until the subscriptions carry secret
	recreate  bool            // the secret changed: replace the broker's subscriptions
	status    esStatus
	regranted map[string]time.Time // user ID → a user.authorization.grant while the grant is not active
}

// esStatus is the outcome of the last attempt to put the subscriptions in
// place.
type esStatus struct {
	attempted bool
	ok        bool
	err       error
	next      time.Time // the next attempt after a failure
	subs      map[string]eventsub.Status
}

func newESBroker(b *Broker, secret eventsub.Secret, interval time.Duration) (*esBroker, error) {
	if err := secret.Check(); err != nil {
		return nil, fmt.Errorf("broker: the EventSub secret: %w", err)
	}
	if interval <= 0 {
		interval = DefaultEventSubCheckInterval
	}
	v, err := eventsub.NewVerifier(eventsub.VerifierConfig{Secrets: []eventsub.Secret{secret}, Now: b.now})
	if err != nil {
		return nil, err
	}
	e := &esBroker{
		b: b, verifier: v, callback: b.cfg.PublicURL + EventSubPath, interval: interval,
		kick: make(chan struct{}, 1), secret: secret, regranted: map[string]time.Time{},
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twitchauth_eventsub_messages_total",
			Help: "Verified EventSub messages by subscription type and result: revoked (a held grant stopped), granted (logged; the user must connect again), ignored (another client ID, a user not held, a grant already revoked), verified (challenge answered), refused (challenge of a subscription the broker did not ask for), revocation (Twitch ended a subscription), error.",
		}, []string{"type", "result"}),
		ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "twitchauth_eventsub_subscriptions_ready",
			Help: "1 when the broker's user.authorization.revoke and user.authorization.grant subscriptions are enabled at its callback, else 0.",
		}),
	}
	e.handler, err = eventsub.NewHandler(eventsub.HandlerConfig{
		Verifier:              v,
		OnVerification:        e.onVerification,
		OnAuthorizationRevoke: e.onRevoke,
		OnAuthorizationGrant:  e.onGrant,
		OnRevocation:          e.onRevocation,
		Logger:                b.log.With("component", "eventsub"),
	})
	if err != nil {
		return nil, err
	}
	b.cfg.Registerer.MustRegister(e.messages, e.ready)
	return e, nil
}

// SetEventSubSecret replaces the EventSub webhook secret (after the secret
// file changed): messages signed with the new or the previous secret are
// accepted while the broker replaces its subscriptions with ones carrying
// the new secret; then the previous one is dropped. It refuses a secret
// Twitch would refuse, and fails when the broker has no EventSub callback.
func (b *Broker) SetEventSubSecret(secret eventsub.Secret) error {
	e := b.es
	if e == nil {
		return errors.New("broker: EventSub is not configured (Config.EventSubSecret)")
	}
	if err := secret.Check(); err != nil {
		return fmt.Errorf("broker: the EventSub secret: %w", err)
	}
	e.mu.Lock()
	if secret == e.secret {
		e.mu.Unlock()
		return nil
	}
	if err := e.verifier.SetSecrets(secret, e.secret); err != nil {
		e.mu.Unlock()
		return err
	}
	e.previous, e.secret, e.recreate = e.secret, secret, true
	e.mu.Unlock()
	e.poke()
	b.log.Info("eventsub: secret changed; replacing the subscriptions")
	return nil
}

// EventSubCallback returns the callback URL of the broker's EventSub
// subscriptions, or "" when EventSub is not configured.
func (b *Broker) EventSubCallback() string {
	if b.es == nil {
		return ""
	}
	return b.es.callback
}

func (e *esBroker) poke() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// ours reports whether sub is of a type the broker keeps, for its client.
func (e *esBroker) ours(sub eventsub.Subscription) bool {
	if sub.Condition["client_id"] != e.b.twitch.ClientID {
		return false
	}
	return slices.Contains(eventSubTypes, sub.Type)
}

// onVerification answers the challenges of the subscription types the
// broker handles (the message is signed with its secret, so only the holder
// of the app's secret and app token could have created it); a challenge for
// any other type is refused, so that no subscription the broker would
// ignore is confirmed at its callback. The condition is not checked:
// twitch-cli's verify-subscription sends broadcaster_user_id even for
// user.authorization.revoke.
func (e *esBroker) onVerification(_ context.Context, msg *eventsub.Message) error {
	sub := msg.Subscription
	if !slices.Contains(eventSubTypes, sub.Type) {
		e.messages.WithLabelValues(sub.Type, "refused").Inc()
		e.b.log.Warn("eventsub: challenge refused: the broker handles only user.authorization.revoke and user.authorization.grant", "type", sub.Type, "subscription_id", sub.ID)
		return errors.New("not a subscription type this broker handles")
	}
	e.messages.WithLabelValues(sub.Type, "verified").Inc()
	e.poke() // see it enabled
	return nil
}

// onRevoke stops serving the user's grant: it is marked revoked in the
// store (replicas and restarts agree), the token API and the Helix proxy
// refuse it at once, and OnRevoked and the revocation metric fire. An
// event for another client ID, or for a user not held, is acknowledged and
// ignored. user_login may be null: the key is the client ID and the user
// ID. A store failure answers 500, so that Twitch sends it again.
func (e *esBroker) onRevoke(ctx context.Context, _ *eventsub.Message, ev eventsub.AuthorizationRevokeEvent) error {
	const typ = eventsub.TypeUserAuthorizationRevoke
	if ev.ClientID != e.b.twitch.ClientID {
		e.messages.WithLabelValues(typ, "ignored").Inc()
		e.b.log.Info("eventsub: revoke for another client ID ignored", "client_id", ev.ClientID, "user_id", ev.UserID)
		return nil
	}
	e.mu.Lock()
	delete(e.regranted, ev.UserID)
	e.mu.Unlock()
	e.b.metrics.eventsubRevoking.Store(ev.UserID, true)
	changed, err := e.b.provider.MarkRevoked(ctx, ev.UserID)
	e.b.metrics.eventsubRevoking.Delete(ev.UserID)
	switch {
	case errors.Is(err, provider.ErrUnknownSubject):
		e.messages.WithLabelValues(typ, "ignored").Inc()
		e.b.log.Info("eventsub: revoke for a user whose grant is not held", "user_id", ev.UserID)
		return nil
	case err != nil:
		e.messages.WithLabelValues(typ, "error").Inc()
		e.b.log.Error("eventsub: could not mark the grant revoked; Twitch will send the revoke again", "user_id", ev.UserID, "err", err)
		return err
	case !changed:
		e.messages.WithLabelValues(typ, "ignored").Inc()
		e.b.log.Info("eventsub: revoke for a grant already inactive", "user_id", ev.UserID)
		return nil
	}
	e.messages.WithLabelValues(typ, "revoked").Inc()
	e.b.log.Warn("eventsub: the user revoked the app's access on Twitch; the grant is no longer served",
		"user_id", ev.UserID, "login", ev.UserLogin)
	return nil
}

// onGrant logs a user's new authorization. It never makes a revoked grant
// active again: the tokens it held are dead at Twitch, and the broker
// holds new ones only once the user connects through its pages. The
// accounts page says that the user authorized again.
func (e *esBroker) onGrant(_ context.Context, _ *eventsub.Message, ev eventsub.AuthorizationGrantEvent) error {
	const typ = eventsub.TypeUserAuthorizationGrant
	if ev.ClientID != e.b.twitch.ClientID {
		e.messages.WithLabelValues(typ, "ignored").Inc()
		return nil
	}
	e.messages.WithLabelValues(typ, "granted").Inc()
	a, held := e.b.provider.User(ev.UserID)
	active := held && (a.Status == "" || a.Status == "active")
	if !active {
		e.mu.Lock()
		if len(e.regranted) < 10_000 {
			e.regranted[ev.UserID] = e.b.now()
		}
		e.mu.Unlock()
	}
	e.b.log.Info("eventsub: the user authorized the app on Twitch", "user_id", ev.UserID, "login", ev.UserLogin,
		"held", held, "active", active)
	return nil
}

// regrantedAt returns when Twitch said that the user authorized the app
// again while the broker held no active grant of theirs.
func (e *esBroker) regrantedAt(userID string) (time.Time, bool) {
	if e == nil {
		return time.Time{}, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.regranted[userID]
	return t, ok
}

// forgetRegrant is called when the user connects again.
func (e *esBroker) forgetRegrant(userID string) {
	if e == nil {
		return
	}
	e.mu.Lock()
	delete(e.regranted, userID)
	e.mu.Unlock()
}

// onRevocation: Twitch ended one of the broker's subscriptions (failed
// deliveries, a version removed): put it back.
func (e *esBroker) onRevocation(_ context.Context, msg *eventsub.Message) error {
	sub := msg.Subscription
	e.messages.WithLabelValues(sub.Type, "revocation").Inc()
	if e.ours(sub) {
		e.b.log.Warn("eventsub: Twitch ended a subscription; creating it again", "type", sub.Type, "subscription_id", sub.ID, "status", sub.Status)
		e.poke()
	}
	return nil
}

// run keeps the subscriptions in place until ctx ends: at once, after each
// poke (secret changed, a challenge answered, a subscription ended), every
// interval, and after a failure with a doubling backoff (1s to 5m).
func (e *esBroker) run(ctx context.Context) {
	backoff := time.Second
	for {
		e.mu.Lock()
		recreate := e.recreate
		e.recreate = false
		e.mu.Unlock()
		done, subs, err := e.ensure(ctx, recreate)
		if ctx.Err() != nil {
			return
		}
		wait := e.interval
		e.mu.Lock()
		e.status = esStatus{attempted: true, ok: err == nil && done, err: err, subs: subs}
		switch {
		case err != nil:
			wait = backoff
			backoff = min(2*backoff, eventSubMaxBackoff)
			e.recreate = e.recreate || recreate
			e.status.next = e.b.now().Add(wait)
		case !done: // created, waiting for the challenge
			wait = time.Second
		default:
			backoff = time.Second
			if recreate {
				// Every subscription now carries the new secret.
				if err := e.verifier.SetSecrets(e.secret); err == nil {
					e.previous = ""
				}
			}
		}
		e.mu.Unlock()
		if err != nil {
			e.ready.Set(0)
			e.b.log.Warn("eventsub: the subscriptions are not in place; revocations are noticed only by the hourly validation until they are",
				"err", err, "retry_in", wait)
		} else if done {
			e.ready.Set(1)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-e.kick:
		case <-t.C:
		}
		t.Stop()
	}
}

// ensure makes the app's subscriptions to eventSubTypes for its client ID
// be exactly one enabled webhook per type at the broker's callback: those
// pointing elsewhere, failed ones, duplicates and (with recreate) those
// carrying a previous secret are deleted; a missing one is created. It
// reports done when both are enabled (a new one waits for its challenge).
// Conduit and WebSocket subscriptions are left alone.
func (e *esBroker) ensure(ctx context.Context, recreate bool) (done bool, subs map[string]eventsub.Status, err error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c := eventsub.NewClient(twitchauth.NewHelix(twitchauth.NewTransport(twitchauth.TransportConfig{Config: e.b.twitch, Source: e.b.provider.TokenSource(provider.App()), Base: e.b.helix.base})))
	e.mu.Lock()
	secret := e.secret
	e.mu.Unlock()
	subs = map[string]eventsub.Status{}
	done = true
	for _, typ := range eventSubTypes {
		var keep *eventsub.Subscription
		var stale []eventsub.Subscription
		for sub, err := range c.List(ctx, eventsub.Filter{Type: typ}) {
			if err != nil {
				return false, subs, fmt.Errorf("listing the %s subscriptions: %w", typ, err)
			}
			if !e.ours(sub) || sub.Transport.Method != eventsub.MethodWebhook {
				continue
			}
			live := sub.Status == eventsub.StatusEnabled || sub.Status == eventsub.StatusWebhookCallbackVerificationPending
			if sub.Transport.Callback != e.callback || !live || recreate || keep != nil {
				stale = append(stale, sub)
				continue
			}
			keep = &sub
		}
		for _, sub := range stale {
			if err := c.Delete(ctx, sub.ID); err != nil && !errors.Is(err, eventsub.ErrSubscriptionNotFound) {
				return false, subs, fmt.Errorf("deleting the %s subscription %s (status %s, callback %s): %w", typ, sub.ID, sub.Status, sub.Transport.Callback, err)
			}
			e.b.log.Info("eventsub: subscription removed", "type", typ, "subscription_id", sub.ID, "status", sub.Status, "callback", sub.Transport.Callback)
		}
		if keep == nil {
			created, _, err := c.Create(ctx, eventsub.CreateRequest{
				Type: typ, Version: "1", Condition: eventsub.Condition{"client_id": e.b.twitch.ClientID},
				Transport: eventsub.Webhook(e.callback, secret),
			})
			if err != nil {
				return false, subs, fmt.Errorf("creating the %s subscription: %w", typ, err)
			}
			e.b.log.Info("eventsub: subscription created", "type", typ, "subscription_id", created.ID, "callback", e.callback)
			keep = created
		}
		subs[typ] = keep.Status
		if keep.Status != eventsub.StatusEnabled {
			done = false
		}
	}
	return done, subs, nil
}

// problem words what is wrong with the subscriptions for /readyz and the
// accounts page; "" when nothing is (or nothing was tried yet).
func (e *esBroker) problem() string {
	if e == nil {
		return ""
	}
	e.mu.Lock()
	st := e.status
	e.mu.Unlock()
	if !st.attempted || st.err == nil {
		return ""
	}
	return fmt.Sprintf("degraded: the EventSub subscriptions to user.authorization.revoke and user.authorization.grant at %s are not in place (%v); "+
		"a user who disconnects the app is noticed only by the hourly validation until they are; next attempt at %s",
		e.callback, st.err, st.next.UTC().Format(time.RFC3339))
}

// ServeHTTP is the callback: the eventsub Handler.
func (e *esBroker) ServeHTTP(w http.ResponseWriter, r *http.Request) { e.handler.ServeHTTP(w, r) }
