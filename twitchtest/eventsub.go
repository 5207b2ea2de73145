package twitchtest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// EventSub subscriptions (POST/GET/DELETE /helix/eventsub/subscriptions),
// webhook deliveries (eventsub_delivery.go) and the user's Connections page
// (eventsub_connections.go). The sandbox writes its own JSON and its own HMAC
// code from docs/protocol.md#eventsub; it never imports package eventsub.
// The choices where Twitch is silent are listed in doc.go ("EventSub").

// EventSub error messages: Twitch's where docs/protocol.md#eventsub records them, the
// sandbox's own wording otherwise (doc.go).
const (
	msgESBadBody        = "Malformed request body"
	msgESExists         = "A subscription already exists for the specified event type and condition combination."
	msgESTooMany        = "The request exceeds the number of subscriptions that you may create with the same combination of type and condition values."
	msgESCostExceeded   = "The request exceeds the maximum total cost of your subscriptions."
	msgESMissingScopes  = "The access token is missing the required scopes."
	msgESNotFound       = "The subscription was not found."
	msgESSecretLength   = "The length of the string in the secret field is not valid."
	msgESBadCallback    = "The URL in the transport's callback field is not valid. The URL must use the HTTPS protocol and the 443 port number."
	msgESLoopbackOnly   = "The sandbox delivers only to loopback callbacks (127.0.0.1, ::1 or localhost)."
	msgESNeedsAppToken  = "Webhook and conduit subscriptions require an app access token."
	msgESClientMismatch = "Provided client_id must match the client id in the application access token."
	msgESUnknownType    = "The combination of values in the type and version fields is not valid."
	msgESNoWebSocket    = "The sandbox supports only the webhook transport."
	msgESOneFilter      = "The request must specify at most one of status, type, user_id and subscription_id."
	msgESMissingID      = "Missing required parameter \"id\""
)

// EventSub statuses the sandbox sets.
const (
	esEnabled            = "enabled"
	esPending            = "webhook_callback_verification_pending"
	esVerifyFailed       = "webhook_callback_verification_failed"
	esFailuresExceeded   = "notification_failures_exceeded"
	esAuthorizationGone  = "authorization_revoked"
	esMaxTotalCost       = 10000 // webhooks; Twitch's figure is UNCONFIRMED (doc.go)
	esMaxSameCondition   = 3     // subscriptions sharing type, version and condition
	esPageSize           = 100
	esCallbackMaxLen     = 2048
	esSecretMin          = 10
	esSecretMax          = 100
	esRecordedDeliveries = 1000
)

// esType is a subscription type the sandbox serves.
type esType struct {
	name, version string
	required      []string // condition fields, all required
	optional      []string
	// authUser names the condition field of the user who must have
	// authorized the client with one of scopes (empty: no authorization).
	authUser string
	scopes   []string
	// clientCondition: condition.client_id must be the token's client.
	clientCondition bool
}

// esTypes are the subscription types the sandbox accepts.
var esTypes = []esType{
	{name: "user.authorization.grant", version: "1", required: []string{"client_id"}, clientCondition: true},
	{name: "user.authorization.revoke", version: "1", required: []string{"client_id"}, clientCondition: true},
	{name: "stream.online", version: "1", required: []string{"broadcaster_user_id"}},
	{name: "stream.offline", version: "1", required: []string{"broadcaster_user_id"}},
	{name: "channel.update", version: "2", required: []string{"broadcaster_user_id"}},
	{name: "user.update", version: "1", required: []string{"user_id"}},
	{name: "channel.follow", version: "2", required: []string{"broadcaster_user_id", "moderator_user_id"}, authUser: "moderator_user_id", scopes: []string{"moderator:read:followers"}},
	{name: "channel.subscribe", version: "1", required: []string{"broadcaster_user_id"}, authUser: "broadcaster_user_id", scopes: []string{"channel:read:subscriptions"}},
	{name: "channel.ban", version: "1", required: []string{"broadcaster_user_id"}, authUser: "broadcaster_user_id", scopes: []string{"channel:moderate"}},
	{name: "channel.moderator.add", version: "1", required: []string{"broadcaster_user_id"}, authUser: "broadcaster_user_id", scopes: []string{"moderation:read"}},
	{name: "channel.moderator.remove", version: "1", required: []string{"broadcaster_user_id"}, authUser: "broadcaster_user_id", scopes: []string{"moderation:read"}},
	{name: "channel.channel_points_custom_reward_redemption.add", version: "1", required: []string{"broadcaster_user_id"}, optional: []string{"reward_id"}, authUser: "broadcaster_user_id", scopes: []string{"channel:read:redemptions", "channel:manage:redemptions"}},
}

func lookupESType(name, version string) (*esType, bool) {
	for i := range esTypes {
		if esTypes[i].name == name && esTypes[i].version == version {
			return &esTypes[i], true
		}
	}
	return nil, false
}

// esSub is a subscription; guarded by s.mu.
type esSub struct {
	ID        string            `json:"id"`
	ClientID  string            `json:"client_id"`
	Status    string            `json:"status"`
	Type      string            `json:"type"`
	Version   string            `json:"version"`
	Condition map[string]string `json:"condition"`
	Callback  string            `json:"callback"`
	Secret    string            `json:"secret"`
	CreatedAt time.Time         `json:"created_at"`
	Cost      int               `json:"cost"`
	// AuthUser is the user whose grant the subscription needs ("" for
	// none); a revoke of that grant ends it.
	AuthUser string `json:"auth_user,omitempty"`
	// Failures counts consecutive failed delivery attempts.
	Failures int `json:"failures,omitempty"`
}

// esWireSub is a subscription as Twitch writes it (the secret never
// appears).
type esWireSub struct {
	ID        string            `json:"id"`
	Status    string            `json:"status"`
	Type      string            `json:"type"`
	Version   string            `json:"version"`
	Condition map[string]string `json:"condition"`
	CreatedAt string            `json:"created_at"`
	Transport esWireTransport   `json:"transport"`
	Cost      int               `json:"cost"`
}

type esWireTransport struct {
	Method   string `json:"method"`
	Callback string `json:"callback,omitempty"`
}

func (sub *esSub) wire() esWireSub {
	return esWireSub{
		ID: sub.ID, Status: sub.Status, Type: sub.Type, Version: sub.Version, Condition: maps2(sub.Condition),
		CreatedAt: sub.CreatedAt.UTC().Format(time.RFC3339Nano), Transport: esWireTransport{Method: "webhook", Callback: sub.Callback}, Cost: sub.Cost,
	}
}

func maps2(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// live reports whether the subscription counts toward limits and 409s.
func (sub *esSub) live() bool { return sub.Status == esEnabled || sub.Status == esPending }

// eventsubState is the sandbox's EventSub data. subs and order are guarded
// by s.mu; the delivery bookkeeping by its own mutex.
type eventsubState struct {
	subs  map[string]*esSub // by ID
	order []string          // creation order (oldest first)

	mu         sync.Mutex // guards what follows
	closed     bool
	wg         sync.WaitGroup
	cancel     func()
	ctx        context.Context
	ctxDone    <-chan struct{}
	deliveries []EventSubDelivery // last esRecordedDeliveries, oldest first
}

// EventSubSubscription is a subscription as the sandbox holds it, for tests.
type EventSubSubscription struct {
	ID        string
	ClientID  string
	Status    string
	Type      string
	Version   string
	Condition map[string]string
	Callback  string
	CreatedAt time.Time
	Cost      int
	// Failures counts consecutive failed delivery attempts.
	Failures int
}

// EventSubSubscriptions returns the subscriptions of clientID ("" for every
// client), oldest first.
func (s *Server) EventSubSubscriptions(clientID string) []EventSubSubscription {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []EventSubSubscription
	for _, id := range s.eventsub.order {
		sub := s.eventsub.subs[id]
		if clientID != "" && sub.ClientID != clientID {
			continue
		}
		out = append(out, EventSubSubscription{
			ID: sub.ID, ClientID: sub.ClientID, Status: sub.Status, Type: sub.Type, Version: sub.Version,
			Condition: maps2(sub.Condition), Callback: sub.Callback, CreatedAt: sub.CreatedAt, Cost: sub.Cost, Failures: sub.Failures,
		})
	}
	return out
}

// esCreateBody is the body of POST /helix/eventsub/subscriptions.
type esCreateBody struct {
	Type      string          `json:"type"`
	Version   string          `json:"version"`
	Condition json.RawMessage `json:"condition"`
	Transport struct {
		Method    string `json:"method"`
		Callback  string `json:"callback"`
		Secret    string `json:"secret"`
		SessionID string `json:"session_id"`
		ConduitID string `json:"conduit_id"`
	} `json:"transport"`
}

// esList is the answer of POST and GET.
type esList struct {
	Data         []esWireSub      `json:"data"`
	Total        int              `json:"total"`
	TotalCost    int              `json:"total_cost"`
	MaxTotalCost int              `json:"max_total_cost"`
	Pagination   *helixPagination `json:"pagination,omitempty"`
}

// esTotalsLocked returns the client's total and total cost.
func (s *Server) esTotalsLocked(clientID string) (total, cost int) {
	for _, sub := range s.eventsub.subs {
		if sub.ClientID != clientID {
			continue
		}
		total++
		if sub.live() {
			cost += sub.Cost
		}
	}
	return total, cost
}

func (s *Server) helixCreateEventSub(w http.ResponseWriter, r *http.Request, c *helixCaller) {
	var body esCreateBody
	if !decodeHelixBody(w, r, &body) {
		return
	}
	t := body.Transport
	switch t.Method {
	case "webhook", "conduit":
		if c.kind != callerApp {
			writeHelixError(w, http.StatusUnauthorized, msgESNeedsAppToken)
			return
		}
	case "websocket":
		writeHelixError(w, http.StatusBadRequest, msgESNoWebSocket)
		return
	case "":
		writeHelixError(w, http.StatusBadRequest, "The transport field's method is missing.")
		return
	default:
		writeHelixError(w, http.StatusBadRequest, "The value in the transport's method field is not valid.")
		return
	}
	if t.Method == "conduit" {
		writeHelixError(w, http.StatusBadRequest, msgESNoWebSocket)
		return
	}
	typ, ok := lookupESType(body.Type, body.Version)
	if !ok {
		writeHelixError(w, http.StatusBadRequest, msgESUnknownType)
		return
	}
	cond, msg := parseESCondition(typ, body.Condition)
	if msg != "" {
		writeHelixError(w, http.StatusBadRequest, msg)
		return
	}
	if t.Callback == "" {
		writeHelixError(w, http.StatusBadRequest, "The transport's callback field is missing.")
		return
	}
	if msg := checkESCallback(t.Callback); msg != "" {
		writeHelixError(w, http.StatusBadRequest, msg)
		return
	}
	if !validESSecret(t.Secret) {
		writeHelixError(w, http.StatusBadRequest, msgESSecretLength)
		return
	}

	s.mu.Lock()
	// Condition users must exist; the client condition must be the
	// token's client; types needing authorization need the user's grant.
	for _, f := range typ.required {
		if strings.HasSuffix(f, "user_id") {
			if _, ok := s.users[cond[f]]; !ok {
				s.mu.Unlock()
				writeHelixError(w, http.StatusBadRequest, "The condition's "+f+" field does not name a user.")
				return
			}
		}
	}
	if typ.clientCondition && cond["client_id"] != c.clientID {
		s.mu.Unlock()
		writeHelixError(w, http.StatusForbidden, msgESClientMismatch)
		return
	}
	authUser := ""
	if typ.authUser != "" {
		authUser = cond[typ.authUser]
		g, ok := s.grants[grantKey{c.clientID, authUser}]
		if !ok || !slices.ContainsFunc(typ.scopes, func(sc string) bool { return hasScope(g.Scopes, sc) }) {
			s.mu.Unlock()
			writeHelixError(w, http.StatusForbidden, msgESMissingScopes)
			return
		}
	}
	same := 0
	for _, sub := range s.eventsub.subs {
		if sub.ClientID != c.clientID || !sub.live() || sub.Type != typ.name || sub.Version != typ.version || !equalCondition(sub.Condition, cond) {
			continue
		}
		if sub.Callback == t.Callback {
			s.mu.Unlock()
			writeHelixError(w, http.StatusConflict, msgESExists)
			return
		}
		same++
	}
	if same >= esMaxSameCondition {
		s.mu.Unlock()
		writeHelixError(w, http.StatusTooManyRequests, msgESTooMany)
		return
	}
	cost := s.esCostLocked(c.clientID, typ, cond)
	total, totalCost := s.esTotalsLocked(c.clientID)
	if totalCost+cost > esMaxTotalCost {
		s.mu.Unlock()
		writeHelixError(w, http.StatusTooManyRequests, msgESCostExceeded)
		return
	}
	sub := &esSub{
		ID: newEventID(), ClientID: c.clientID, Status: esPending, Type: typ.name, Version: typ.version, Condition: cond,
		Callback: t.Callback, Secret: t.Secret, CreatedAt: s.now(), Cost: cost, AuthUser: authUser,
	}
	if s.eventsub.subs == nil {
		s.eventsub.subs = make(map[string]*esSub)
	}
	s.eventsub.subs[sub.ID] = sub
	s.eventsub.order = append(s.eventsub.order, sub.ID)
	s.markDirty()
	resp := esList{Data: []esWireSub{sub.wire()}, Total: total + 1, TotalCost: totalCost + cost, MaxTotalCost: esMaxTotalCost}
	verification := s.esVerificationLocked(sub)
	s.mu.Unlock()
	writeJSON(w, http.StatusAccepted, resp)
	s.deliver(verification)
}

// esCostLocked is the cost of a new subscription: 0 when the user in the
// condition authorized the client (or the type needs authorization, which
// implies it), else 1.
func (s *Server) esCostLocked(clientID string, typ *esType, cond map[string]string) int {
	if typ.authUser != "" {
		return 0
	}
	for _, f := range typ.required {
		if strings.HasSuffix(f, "user_id") {
			if _, ok := s.grants[grantKey{clientID, cond[f]}]; ok {
				return 0
			}
		}
	}
	return 1
}

func equalCondition(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// parseESCondition checks a condition object against the type's fields.
func parseESCondition(typ *esType, raw json.RawMessage) (map[string]string, string) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, "The condition field is missing."
	}
	var cond map[string]string
	if err := json.Unmarshal(raw, &cond); err != nil {
		return nil, "The condition field is not valid: its values must be strings."
	}
	for _, f := range typ.required {
		if cond[f] == "" {
			return nil, "The condition's " + f + " field is missing or empty."
		}
	}
	for k := range cond {
		if !slices.Contains(typ.required, k) && !slices.Contains(typ.optional, k) {
			return nil, "The condition field " + strconv.Quote(k) + " is not valid for " + typ.name + "."
		}
	}
	return cond, ""
}

// checkESCallback applies Twitch's callback rule (https on 443), relaxed
// for loopback hosts, and refuses every other host: the sandbox never
// sends traffic off the machine.
func checkESCallback(callback string) string {
	if len(callback) > esCallbackMaxLen {
		return msgESBadCallback
	}
	u, err := url.Parse(callback)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" || (u.Scheme != "https" && u.Scheme != "http") {
		return msgESBadCallback
	}
	if !loopbackHost(u.Hostname()) {
		if u.Scheme != "https" || (u.Port() != "" && u.Port() != "443") {
			return msgESBadCallback
		}
		return msgESLoopbackOnly
	}
	return ""
}

// loopbackHost reports whether host is localhost or a loopback IP.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validESSecret: Twitch's rule, an ASCII string of 10 to 100 characters.
func validESSecret(s string) bool {
	if len(s) < esSecretMin || len(s) > esSecretMax {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// esVisible reports whether caller c sees sub: app tokens see their
// client's webhook subscriptions; user tokens see WebSocket ones, which the
// sandbox does not have.
func esVisible(c *helixCaller, sub *esSub) bool {
	return c.kind == callerApp && sub.ClientID == c.clientID
}

func (s *Server) helixListEventSub(w http.ResponseWriter, r *http.Request, c *helixCaller) {
	q := r.URL.Query()
	filters := 0
	for _, k := range []string{"status", "type", "user_id", "subscription_id"} {
		if q.Get(k) != "" {
			filters++
		}
	}
	if filters > 1 {
		writeHelixError(w, http.StatusBadRequest, msgESOneFilter)
		return
	}
	start := 0
	if a := q.Get("after"); a != "" {
		n, ok := decodeESCursor(a)
		if !ok {
			writeHelixError(w, http.StatusBadRequest, "The cursor in the after query parameter is not valid.")
			return
		}
		start = n
	}
	s.mu.RLock()
	var match []*esSub
	for _, id := range s.eventsub.order {
		sub := s.eventsub.subs[id]
		if !esVisible(c, sub) {
			continue
		}
		switch {
		case q.Get("status") != "" && sub.Status != q.Get("status"):
			continue
		case q.Get("type") != "" && sub.Type != q.Get("type"):
			continue
		case q.Get("subscription_id") != "" && sub.ID != q.Get("subscription_id"):
			continue
		case q.Get("user_id") != "" && !conditionHasUser(sub.Condition, q.Get("user_id")):
			continue
		}
		match = append(match, sub)
	}
	resp := esList{Data: []esWireSub{}, MaxTotalCost: esMaxTotalCost, Pagination: &helixPagination{}}
	if c.kind == callerApp {
		resp.Total, resp.TotalCost = s.esTotalsLocked(c.clientID)
	}
	if start > len(match) {
		start = len(match)
	}
	end := min(start+esPageSize, len(match))
	for _, sub := range match[start:end] {
		resp.Data = append(resp.Data, sub.wire())
	}
	s.mu.RUnlock()
	if end < len(match) {
		resp.Pagination.Cursor = encodeESCursor(end)
	}
	writeJSON(w, http.StatusOK, resp)
}

func conditionHasUser(cond map[string]string, userID string) bool {
	for k, v := range cond {
		if strings.HasSuffix(k, "user_id") && v == userID {
			return true
		}
	}
	return false
}

func encodeESCursor(n int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("eventsub:" + strconv.Itoa(n)))
}

func decodeESCursor(c string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimPrefix(string(b), "eventsub:"))
	return n, err == nil && n >= 0 && strings.HasPrefix(string(b), "eventsub:")
}

func (s *Server) helixDeleteEventSub(w http.ResponseWriter, r *http.Request, c *helixCaller) {
	id := r.URL.Query().Get("id")
	if id == "" {
		writeHelixError(w, http.StatusBadRequest, msgESMissingID)
		return
	}
	s.mu.Lock()
	sub, ok := s.eventsub.subs[id]
	if !ok || !esVisible(c, sub) {
		s.mu.Unlock()
		writeHelixError(w, http.StatusNotFound, msgESNotFound)
		return
	}
	delete(s.eventsub.subs, id)
	s.eventsub.order = slices.DeleteFunc(s.eventsub.order, func(x string) bool { return x == id })
	s.markDirty()
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// newEventID returns a random UUID-shaped ID (version 4 layout), as Twitch's
// subscription and message IDs look.
func newEventID() string {
	h := randString(32, "0123456789abcdef")
	return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-" + "89ab"[strings.IndexByte("0123456789abcdef", h[16])%4:][:1] + h[17:20] + "-" + h[20:]
}

// eventsubSnapshotLocked returns the subscriptions to persist, oldest
// first. Callers hold s.mu.
func (s *Server) eventsubSnapshotLocked() []esSub {
	out := make([]esSub, 0, len(s.eventsub.order))
	for _, id := range s.eventsub.order {
		sub := *s.eventsub.subs[id]
		sub.Condition = maps2(sub.Condition)
		out = append(out, sub)
	}
	return out
}

// loadEventSub restores persisted subscriptions. A subscription whose
// challenge was in flight gets it again.
func (s *Server) loadEventSub(subs []esSub) {
	var pending []*esMessage
	for i := range subs {
		sub := subs[i]
		if sub.ID == "" || sub.ClientID == "" {
			continue
		}
		if s.eventsub.subs == nil {
			s.eventsub.subs = make(map[string]*esSub)
		}
		s.eventsub.subs[sub.ID] = &sub
		s.eventsub.order = append(s.eventsub.order, sub.ID)
		if sub.Status == esPending {
			pending = append(pending, s.esVerificationLocked(&sub))
		}
	}
	s.deliver(pending...)
}

// eventsubRequirement is one subscription type as GET
// /_sandbox/requirements publishes it: the same data the POST enforces.
type eventsubRequirement struct {
	Type    string `json:"type"`
	Version string `json:"version"`
	// Condition are the required condition fields, OptionalCondition the
	// others accepted.
	Condition         []string `json:"condition"`
	OptionalCondition []string `json:"optional_condition"`
	// AuthorizedBy names the condition field of the user whose grant to
	// the client the subscription needs ("" for none), with Scopes (every
	// inner list met by one of its scopes).
	AuthorizedBy string    `json:"authorized_by"`
	Scopes       scopeNeed `json:"scopes"`
	// ClientCondition: condition.client_id must be the token's client.
	ClientCondition bool `json:"client_condition"`
}

func eventsubRequirements() []eventsubRequirement {
	out := make([]eventsubRequirement, 0, len(esTypes))
	for _, t := range esTypes {
		need := scopeNeed{}
		if len(t.scopes) > 0 {
			need = anyOf(slices.Clone(t.scopes)...)
		}
		out = append(out, eventsubRequirement{
			Type: t.name, Version: t.version, Condition: slices.Clone(t.required),
			OptionalCondition: append([]string{}, t.optional...), AuthorizedBy: t.authUser, Scopes: need,
			ClientCondition: t.clientCondition,
		})
	}
	return out
}
