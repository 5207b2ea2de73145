package twitchtest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Defaults of EventSubConfig (choices; see doc.go, "EventSub").
const (
	// DefaultEventSubTimeout is how long a callback has to answer one
	// delivery (Twitch: "within a few seconds").
	DefaultEventSubTimeout = 5 * time.Second
	// DefaultEventSubRetries is how many times a failed notification is
	// sent again.
	DefaultEventSubRetries = 3
	// DefaultEventSubRetryBackoff is the wait before the first resend; it
	// doubles for each further one.
	DefaultEventSubRetryBackoff = time.Second
	// DefaultEventSubMaxFailures is how many consecutive failed delivery
	// attempts end a subscription with notification_failures_exceeded.
	DefaultEventSubMaxFailures = 5
)

// EventSubConfig configures webhook deliveries (WithEventSub). Zero fields
// take the defaults above.
type EventSubConfig struct {
	// Timeout bounds each delivery attempt.
	Timeout time.Duration
	// Retries is how many times a failed notification is sent again
	// (negative: never).
	Retries int
	// RetryBackoff is the wait before the first resend (doubling).
	RetryBackoff time.Duration
	// MaxFailures is how many consecutive failed attempts end a
	// subscription.
	MaxFailures int
	// Client sends the deliveries; default a client that connects to
	// loopback addresses only and follows no redirect. Give one with your
	// test CA to deliver to an https callback.
	Client *http.Client
}

// WithEventSub configures EventSub webhook deliveries.
func WithEventSub(c EventSubConfig) Option { return func(cfg *config) { cfg.eventsub = c } }

func (s *Server) esConfig() EventSubConfig {
	c := s.cfg.eventsub
	if c.Timeout <= 0 {
		c.Timeout = DefaultEventSubTimeout
	}
	switch {
	case c.Retries == 0:
		c.Retries = DefaultEventSubRetries
	case c.Retries < 0:
		c.Retries = 0
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = DefaultEventSubRetryBackoff
	}
	if c.MaxFailures <= 0 {
		c.MaxFailures = DefaultEventSubMaxFailures
	}
	return c
}

// EventSubDelivery is one delivery attempt the sandbox made, for tests.
type EventSubDelivery struct {
	SubscriptionID   string
	SubscriptionType string
	// MessageID is Twitch-Eventsub-Message-Id (kept by resends).
	MessageID string
	// MessageType is notification, webhook_callback_verification or
	// revocation.
	MessageType string
	// Attempt is 0 for the first send, n for the n-th resend.
	Attempt int
	// Status is the callback's HTTP status (0: no answer).
	Status int
	// OK reports whether the attempt succeeded (a 2xx; for a verification,
	// 200 with the exact challenge).
	OK bool
	// Err says why it failed.
	Err string
	// Body is the JSON body sent.
	Body string
	At   time.Time
}

// EventSubDeliveries returns the last 1,000 delivery attempts, oldest first.
func (s *Server) EventSubDeliveries() []EventSubDelivery {
	es := &s.eventsub
	es.mu.Lock()
	defer es.mu.Unlock()
	return append([]EventSubDelivery(nil), es.deliveries...)
}

// esMessage is one message to deliver.
type esMessage struct {
	subID, subType, subVersion string
	callback, secret           string
	msgType                    string
	id                         string
	timestamp                  string
	body                       []byte
	challenge                  string
}

// esNewMessageLocked builds a message for sub with payload fields (besides
// "subscription") and the subscription as it stands.
func (s *Server) esNewMessageLocked(sub *esSub, msgType string, extra map[string]any) *esMessage {
	payload := map[string]any{"subscription": sub.wire()}
	for k, v := range extra {
		payload[k] = v
	}
	body, err := json.Marshal(payload)
	if err != nil {
		panic("twitchtest: eventsub payload: " + err.Error())
	}
	return &esMessage{
		subID: sub.ID, subType: sub.Type, subVersion: sub.Version, callback: sub.Callback, secret: sub.Secret,
		msgType: msgType, id: newEventID(), timestamp: s.now().UTC().Format(time.RFC3339Nano), body: body,
	}
}

func (s *Server) esVerificationLocked(sub *esSub) *esMessage {
	ch := randString(32, mixedAlnum)
	m := s.esNewMessageLocked(sub, "webhook_callback_verification", map[string]any{"challenge": ch})
	m.challenge = ch
	return m
}

// esSign is the Twitch-Eventsub-Message-Signature of a message.
func esSign(secret, id, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(id))
	mac.Write([]byte(timestamp))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// deliver sends m in the background (nil is ignored). Deliveries stop when
// the server closes.
func (s *Server) deliver(msgs ...*esMessage) {
	es := &s.eventsub
	es.mu.Lock()
	defer es.mu.Unlock()
	if es.closed {
		return
	}
	if es.ctxDone == nil {
		ctx, cancel := context.WithCancel(context.Background())
		es.ctxDone, es.cancel = ctx.Done(), cancel
		es.ctx = ctx
	}
	for _, m := range msgs {
		if m == nil {
			continue
		}
		es.wg.Add(1)
		go func() {
			defer es.wg.Done()
			s.run(es.ctx, m)
		}()
	}
}

// stopEventSub cancels deliveries in flight and waits for them.
func (s *Server) stopEventSub() {
	es := &s.eventsub
	es.mu.Lock()
	es.closed = true
	if es.cancel != nil {
		es.cancel()
	}
	es.mu.Unlock()
	es.wg.Wait()
}

// run delivers m: once for a verification or a revocation; a notification
// is sent again after failures, until it succeeds, the retries run out, or
// the subscription ends.
func (s *Server) run(ctx context.Context, m *esMessage) {
	cfg := s.esConfig()
	attempts := 1
	if m.msgType == "notification" {
		attempts += cfg.Retries
	}
	wait := cfg.RetryBackoff
	for attempt := 0; attempt < attempts; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait *= 2
			if !s.esStillEnabled(m.subID) {
				return
			}
		}
		status, ok, reason := s.send(ctx, cfg, m, attempt)
		if ctx.Err() != nil {
			return
		}
		s.record(EventSubDelivery{
			SubscriptionID: m.subID, SubscriptionType: m.subType, MessageID: m.id, MessageType: m.msgType,
			Attempt: attempt, Status: status, OK: ok, Err: reason, Body: string(m.body), At: s.now(),
		})
		switch m.msgType {
		case "webhook_callback_verification":
			s.esVerified(m.subID, ok)
			return
		case "revocation":
			return
		}
		if s.esCountAttempt(m.subID, ok, cfg.MaxFailures) || ok {
			return
		}
	}
}

// send makes one attempt and judges the answer.
func (s *Server) send(ctx context.Context, cfg EventSubConfig, m *esMessage, attempt int) (status int, ok bool, reason string) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.callback, bytes.NewReader(m.body))
	if err != nil {
		return 0, false, "building the request: " + err.Error()
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "twitchtest-eventsub")
	h.Set("Twitch-Eventsub-Message-Id", m.id)
	h.Set("Twitch-Eventsub-Message-Retry", strconv.Itoa(attempt))
	h.Set("Twitch-Eventsub-Message-Type", m.msgType)
	h.Set("Twitch-Eventsub-Message-Timestamp", m.timestamp)
	h.Set("Twitch-Eventsub-Message-Signature", esSign(m.secret, m.id, m.timestamp, m.body))
	h.Set("Twitch-Eventsub-Subscription-Type", m.subType)
	h.Set("Twitch-Eventsub-Subscription-Version", m.subVersion)
	client := cfg.Client
	if client == nil {
		client = esDefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, false, fmt.Sprintf("no answer within %s", cfg.Timeout)
		}
		return 0, false, err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return resp.StatusCode, false, "reading the answer: " + err.Error()
	}
	if m.msgType == "webhook_callback_verification" {
		switch {
		case resp.StatusCode != http.StatusOK:
			return resp.StatusCode, false, fmt.Sprintf("the challenge answer must have status 200, not %d", resp.StatusCode)
		case string(body) != m.challenge:
			return resp.StatusCode, false, "the challenge answer's body must be the raw challenge value"
		}
		return resp.StatusCode, true, ""
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, false, fmt.Sprintf("status %d is not 2xx", resp.StatusCode)
	}
	return resp.StatusCode, true, ""
}

// esDefaultClient delivers to loopback addresses only and follows no
// redirect ("Redirects are not followed").
var esDefaultClient = &http.Client{
	Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			d := &net.Dialer{Timeout: 5 * time.Second}
			if host == "localhost" {
				addr = net.JoinHostPort("127.0.0.1", addr[len(host)+1:])
			} else if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return nil, fmt.Errorf("twitchtest: eventsub delivers to loopback addresses only, not %s", host)
			}
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
	},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func (s *Server) record(d EventSubDelivery) {
	es := &s.eventsub
	es.mu.Lock()
	defer es.mu.Unlock()
	es.deliveries = append(es.deliveries, d)
	if n := len(es.deliveries); n > esRecordedDeliveries {
		es.deliveries = append(es.deliveries[:0], es.deliveries[n-esRecordedDeliveries:]...)
	}
	if !d.OK {
		s.log.Debug("eventsub delivery failed", "subscription_id", d.SubscriptionID, "message_type", d.MessageType, "attempt", d.Attempt, "reason", d.Err)
	}
}

func (s *Server) esStillEnabled(subID string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sub, ok := s.eventsub.subs[subID]
	return ok && sub.Status == esEnabled
}

// esVerified moves a pending subscription to enabled or
// webhook_callback_verification_failed.
func (s *Server) esVerified(subID string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, found := s.eventsub.subs[subID]
	if !found || sub.Status != esPending {
		return
	}
	if ok {
		sub.Status = esEnabled
	} else {
		sub.Status = esVerifyFailed
	}
	s.markDirty()
}

// esCountAttempt records the result of a notification attempt. It reports
// whether the subscription just ended with notification_failures_exceeded
// (its revocation message is then on its way).
func (s *Server) esCountAttempt(subID string, ok bool, maxFailures int) bool {
	s.mu.Lock()
	sub, found := s.eventsub.subs[subID]
	if !found || sub.Status != esEnabled {
		s.mu.Unlock()
		return !found
	}
	if ok {
		sub.Failures = 0
		s.mu.Unlock()
		return false
	}
	sub.Failures++
	if sub.Failures < maxFailures {
		s.mu.Unlock()
		return false
	}
	sub.Status = esFailuresExceeded
	s.markDirty()
	rev := s.esNewMessageLocked(sub, "revocation", nil)
	s.mu.Unlock()
	s.deliver(rev)
	return true
}

// esGrantedLocked delivers user.authorization.grant when userID newly
// authorized clientID. Callers hold s.mu.
func (s *Server) esGrantedLocked(clientID, userID string) {
	s.esNotifyAuthorizationLocked("user.authorization.grant", clientID, userID)
}

// esRevokedLocked runs when userID's grant to clientID ends: it delivers
// user.authorization.revoke, then ends every subscription that needed the
// grant with authorization_revoked and a revocation message. Callers hold
// s.mu.
func (s *Server) esRevokedLocked(clientID, userID string) {
	s.esNotifyAuthorizationLocked("user.authorization.revoke", clientID, userID)
	var msgs []*esMessage
	for _, id := range s.eventsub.order {
		sub := s.eventsub.subs[id]
		if sub.ClientID != clientID || sub.AuthUser != userID || !sub.live() {
			continue
		}
		sub.Status = esAuthorizationGone
		s.markDirty()
		msgs = append(msgs, s.esNewMessageLocked(sub, "revocation", nil))
	}
	s.deliver(msgs...)
}

func (s *Server) esNotifyAuthorizationLocked(typ, clientID, userID string) {
	event := map[string]any{"client_id": clientID, "user_id": userID, "user_login": nil, "user_name": nil}
	if u, ok := s.users[userID]; ok {
		event["user_login"], event["user_name"] = u.Login, u.DisplayName
	}
	var msgs []*esMessage
	for _, id := range s.eventsub.order {
		sub := s.eventsub.subs[id]
		if sub.Type == typ && sub.Status == esEnabled && sub.Condition["client_id"] == clientID {
			msgs = append(msgs, s.esNewMessageLocked(sub, "notification", map[string]any{"event": event}))
		}
	}
	s.deliver(msgs...)
}
