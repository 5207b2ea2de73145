package eventsub

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"

	"github.com/twitchauth/twitchauth"
)

// subscriptionsPath is the Helix path of the subscriptions API.
const subscriptionsPath = "/eventsub/subscriptions"

func apiError(op string, err error) error {
	var he *twitchauth.HelixError
	if !errors.As(err, &he) {
		return fmt.Errorf("eventsub: %s subscription: %w", op, err)
	}
	e := &APIError{Op: op, Helix: he}
	switch he.Status {
	case http.StatusBadRequest:
		e.kind = ErrInvalidSubscription
	case http.StatusForbidden:
		e.kind = ErrForbidden
	case http.StatusConflict:
		e.kind = ErrSubscriptionExists
	case http.StatusTooManyRequests:
		e.kind = ErrTooManySubscriptions
	case http.StatusNotFound:
		e.kind = ErrSubscriptionNotFound
	}
	return e
}

// Client manages EventSub subscriptions with POST, GET and DELETE
// /helix/eventsub/subscriptions, through a twitchauth.Helix client (so
// requests carry Client-Id and a token, are paced, and are retried once
// after a 401 with a renewed token).
//
// Webhook and conduit subscriptions need an app access token: build the
// Helix client with the app token source of the client whose events you
// want. WebSocket subscriptions need a user access token instead. Twitch
// requires the Client-Id to be the token's client, which a Helix client
// built from one Config guarantees.
type Client struct {
	h *twitchauth.Helix
}

// NewClient returns a Client calling Helix through h.
func NewClient(h *twitchauth.Helix) *Client { return &Client{h: h} }

// CreateRequest is a subscription to create.
type CreateRequest struct {
	// Type and Version name the subscription type, such as
	// "user.authorization.revoke" and "1".
	Type, Version string
	// Condition is the type's condition, such as {"client_id": "…"}.
	Condition Condition
	// Transport says where Twitch delivers: Webhook(callback, secret),
	// Conduit(id) or a WebSocket session.
	Transport Transport
}

// Webhook returns a webhook transport: Twitch POSTs the messages to
// callback (https on port 443 on Twitch; the sandbox also accepts plain
// http on loopback), signed with secret.
func Webhook(callback string, secret Secret) Transport {
	return Transport{Method: MethodWebhook, Callback: callback, Secret: secret}
}

// Conduit returns a conduit transport.
func Conduit(conduitID string) Transport {
	return Transport{Method: MethodConduit, ConduitID: conduitID}
}

// AuthorizationRevoke returns the request for user.authorization.revoke
// notifications about clientID (your own client ID: Twitch requires the
// condition to match the app token's client).
func AuthorizationRevoke(clientID string, t Transport) CreateRequest {
	return CreateRequest{Type: TypeUserAuthorizationRevoke, Version: "1", Condition: Condition{"client_id": clientID}, Transport: t}
}

// AuthorizationGrant returns the request for user.authorization.grant
// notifications about clientID.
func AuthorizationGrant(clientID string, t Transport) CreateRequest {
	return CreateRequest{Type: TypeUserAuthorizationGrant, Version: "1", Condition: Condition{"client_id": clientID}, Transport: t}
}

// check refuses, before sending, what Twitch would refuse for certain.
func (r *CreateRequest) check() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidSubscription, fmt.Sprintf(format, a...))
	}
	switch {
	case r.Type == "":
		return bad("no type")
	case r.Version == "":
		return bad("no version for type %q", r.Type)
	case len(r.Condition) == 0:
		return bad("no condition for type %q", r.Type)
	}
	for k, v := range r.Condition {
		if v == "" {
			return bad("condition %q is empty", k)
		}
	}
	t := r.Transport
	switch t.Method {
	case MethodWebhook:
		u, err := url.Parse(t.Callback)
		if t.Callback == "" || err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			return bad("the webhook callback must be an absolute https URL")
		}
		if u.User != nil || u.Fragment != "" {
			return bad("the webhook callback must not carry user info or a fragment")
		}
		if err := t.Secret.Check(); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidSubscription, err)
		}
	case MethodConduit:
		if t.ConduitID == "" {
			return bad("no conduit_id for a conduit transport")
		}
	case MethodWebSocket:
		if t.SessionID == "" {
			return bad("no session_id for a websocket transport")
		}
	case "":
		return bad("no transport method (use Webhook or Conduit)")
	default:
		return bad("transport method %q is not webhook, websocket or conduit", t.Method)
	}
	return nil
}

// Costs are the cost figures every answer of the subscriptions API
// carries.
type Costs struct {
	// Total is the number of subscriptions of the client (for the token's
	// transport kind).
	Total int `json:"total"`
	// TotalCost is the sum of their costs; subscriptions for users who
	// authorized the client cost 0.
	TotalCost int `json:"total_cost"`
	// MaxTotalCost is the limit of TotalCost.
	MaxTotalCost int `json:"max_total_cost"`
}

// Create creates a subscription. A webhook subscription starts as
// webhook_callback_verification_pending: Twitch then sends the challenge to
// the callback, and the subscription becomes enabled once it is answered.
func (c *Client) Create(ctx context.Context, req CreateRequest) (*Subscription, Costs, error) {
	if err := req.check(); err != nil {
		return nil, Costs{}, err
	}
	body := struct {
		Type      string    `json:"type"`
		Version   string    `json:"version"`
		Condition Condition `json:"condition"`
		Transport Transport `json:"transport"`
	}{req.Type, req.Version, req.Condition, req.Transport}
	var out struct {
		Data []Subscription `json:"data"`
		Costs
	}
	if err := c.h.Do(ctx, http.MethodPost, subscriptionsPath, nil, body, &out); err != nil {
		return nil, Costs{}, apiError("create", err)
	}
	if len(out.Data) != 1 || out.Data[0].ID == "" {
		return nil, out.Costs, fmt.Errorf("eventsub: create subscription: %w: the answer holds %d subscriptions, want 1 with an id", twitchauth.ErrMalformedResponse, len(out.Data))
	}
	return &out.Data[0], out.Costs, nil
}

// Filter selects subscriptions to list. Twitch accepts at most one field.
type Filter struct {
	Status         Status
	Type           string
	UserID         string
	SubscriptionID string
}

func (f Filter) query() (url.Values, error) {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("status", string(f.Status))
	set("type", f.Type)
	set("user_id", f.UserID)
	set("subscription_id", f.SubscriptionID)
	if len(q) > 1 {
		return nil, fmt.Errorf("%w: Twitch filters by at most one of status, type, user_id and subscription_id", ErrInvalidSubscription)
	}
	return q, nil
}

// Page is one page of a subscription list.
type Page struct {
	Subscriptions []Subscription
	Costs
	// Cursor fetches the next page; empty on the last one.
	Cursor string
}

// ListPage returns one page of the client's subscriptions matching f,
// oldest first, starting after cursor ("" for the first page).
func (c *Client) ListPage(ctx context.Context, f Filter, cursor string) (*Page, error) {
	q, err := f.query()
	if err != nil {
		return nil, err
	}
	if cursor != "" {
		q.Set("after", cursor)
	}
	var out struct {
		Data []Subscription `json:"data"`
		Costs
		Pagination struct {
			Cursor string `json:"cursor"`
		} `json:"pagination"`
	}
	if err := c.h.Get(ctx, subscriptionsPath, q, &out); err != nil {
		return nil, apiError("list", err)
	}
	return &Page{Subscriptions: out.Data, Costs: out.Costs, Cursor: out.Pagination.Cursor}, nil
}

// List iterates over every subscription matching f, fetching pages as
// needed. It stops at the first error, which it yields once.
func (c *Client) List(ctx context.Context, f Filter) iter.Seq2[Subscription, error] {
	return func(yield func(Subscription, error) bool) {
		cursor := ""
		seen := map[string]bool{}
		for {
			p, err := c.ListPage(ctx, f, cursor)
			if err != nil {
				yield(Subscription{}, err)
				return
			}
			for _, s := range p.Subscriptions {
				if !yield(s, nil) {
					return
				}
			}
			if p.Cursor == "" || len(p.Subscriptions) == 0 {
				return
			}
			if seen[p.Cursor] {
				yield(Subscription{}, fmt.Errorf("eventsub: list subscriptions: %w: the cursor repeats", twitchauth.ErrMalformedResponse))
				return
			}
			seen[p.Cursor] = true
			cursor = p.Cursor
		}
	}
}

// Delete deletes the subscription id. A subscription already gone is
// ErrSubscriptionNotFound.
func (c *Client) Delete(ctx context.Context, id string) error {
	if id == "" {
		return fmt.Errorf("%w: no subscription id to delete", ErrInvalidSubscription)
	}
	if err := c.h.Do(ctx, http.MethodDelete, subscriptionsPath, url.Values{"id": {id}}, nil, nil); err != nil {
		return apiError("delete", err)
	}
	return nil
}
