package eventsub

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// naiveVerify is what a careful hand-written receiver does with net/http
// and encoding/json alone, performing the same checks as Verifier.Verify:
// headers present, HMAC-SHA256 over id+timestamp+body compared in constant
// time, the timestamp's age, the body decoded into typed structs, and a
// mutex-guarded map of seen IDs.
type naiveVerifier struct {
	secret []byte
	now    func() time.Time
	mu     sync.Mutex
	seen   map[string]time.Time
}

type naiveMessage struct {
	Subscription *struct {
		ID        string            `json:"id"`
		Status    string            `json:"status"`
		Type      string            `json:"type"`
		Version   string            `json:"version"`
		Condition map[string]string `json:"condition"`
		Transport struct {
			Method   string `json:"method"`
			Callback string `json:"callback"`
		} `json:"transport"`
		CreatedAt time.Time `json:"created_at"`
		Cost      int       `json:"cost"`
	} `json:"subscription"`
	Event     json.RawMessage `json:"event"`
	Challenge string          `json:"challenge"`
}

var errNaive = errors.New("refused")

func (n *naiveVerifier) verify(h http.Header, body []byte) (*naiveMessage, error) {
	id := h.Get(HeaderMessageID)
	ts := h.Get(HeaderMessageTimestamp)
	typ := h.Get(HeaderMessageType)
	sig := h.Get(HeaderMessageSignature)
	if id == "" || ts == "" || typ == "" || sig == "" {
		return nil, errNaive
	}
	mac := hmac.New(sha256.New, n.secret)
	mac.Write([]byte(id))
	mac.Write([]byte(ts))
	mac.Write(body)
	if !hmac.Equal([]byte("sha256="+hex.EncodeToString(mac.Sum(nil))), []byte(sig)) {
		return nil, errNaive
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil || n.now().Sub(t) > 10*time.Minute || t.Sub(n.now()) > time.Minute {
		return nil, errNaive
	}
	var m naiveMessage
	if err := json.Unmarshal(body, &m); err != nil || m.Subscription == nil {
		return nil, errNaive
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, dup := n.seen[id]; dup {
		return &m, errNaive
	}
	n.seen[id] = t
	return &m, nil
}

func (n *naiveVerifier) forget(id string) {
	n.mu.Lock()
	delete(n.seen, id)
	n.mu.Unlock()
}

// BenchmarkVerify compares, on one user.authorization.revoke notification:
// our Verifier (Verify, then Forget so the same message can be verified
// again); the naive net/http + encoding/json verifier doing the same checks
// (and the same forget); and the floor, a ready crypto/hmac state computing
// and comparing the signature alone.
func BenchmarkVerify(b *testing.B) {
	m := spec(MessageNotification, revokeBody)
	h := m.headers()
	body := []byte(m.body)
	b.Logf("body: %d bytes", len(body))
	ctx := context.Background()

	b.Run("twitchauth", func(b *testing.B) {
		v := newTestVerifier(b, VerifierConfig{})
		b.ReportAllocs()
		for b.Loop() {
			msg, err := v.Verify(ctx, h, body)
			if err != nil {
				b.Fatal(err)
			}
			v.Forget(ctx, msg.ID)
		}
	})
	b.Run("naive-net/http+encoding/json", func(b *testing.B) {
		n := &naiveVerifier{secret: []byte(testSecret), now: func() time.Time { return testNow }, seen: map[string]time.Time{}}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := n.verify(h, body); err != nil {
				b.Fatal(err)
			}
			n.forget(m.id)
		}
	})
	b.Run("floor-crypto/hmac", func(b *testing.B) {
		mac := hmac.New(sha256.New, []byte(testSecret))
		prefix := []byte(m.id + m.ts)
		want := []byte(h.Get(HeaderMessageSignature)[len(sigPrefix):])
		var sum [32]byte
		var hexSum [64]byte
		b.ReportAllocs()
		for b.Loop() {
			mac.Reset()
			mac.Write(prefix)
			mac.Write(body)
			hex.Encode(hexSum[:], mac.Sum(sum[:0]))
			if !hmac.Equal(hexSum[:], want) {
				b.Fatal("floor")
			}
		}
	})
}

// BenchmarkHandler compares whole webhook requests: our Handler against a
// straightforward net/http handler built on naiveVerifier (read the body,
// verify, decode the typed event, call back, answer 204).
func BenchmarkHandler(b *testing.B) {
	m := spec(MessageNotification, revokeBody)
	hdr := m.headers()
	hdr.Set("Content-Type", "application/json")
	body := []byte(m.body)
	run := func(b *testing.B, h http.Handler, forget func()) {
		rd := bytes.NewReader(body)
		req := httptest.NewRequest(http.MethodPost, "/eventsub", rd)
		req.Header = hdr
		b.ReportAllocs()
		for b.Loop() {
			rd.Reset(body)
			req.Body = io.NopCloser(rd)
			req.ContentLength = int64(len(body))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusNoContent {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
			forget()
		}
	}
	var users int
	b.Run("twitchauth", func(b *testing.B) {
		v := newTestVerifier(b, VerifierConfig{})
		h, _ := NewHandler(HandlerConfig{Verifier: v, OnAuthorizationRevoke: func(_ context.Context, _ *Message, ev AuthorizationRevokeEvent) error {
			users += len(ev.UserID)
			return nil
		}})
		run(b, h, func() { v.Forget(context.Background(), m.id) })
	})
	b.Run("naive-net/http+encoding/json", func(b *testing.B) {
		n := &naiveVerifier{secret: []byte(testSecret), now: func() time.Time { return testNow }, seen: map[string]time.Time{}}
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, DefaultMaxBodyBytes))
			if err != nil {
				http.Error(w, `{"message":"too large"}`, http.StatusRequestEntityTooLarge)
				return
			}
			msg, err := n.verify(r.Header, body)
			if err != nil {
				http.Error(w, `{"message":"refused"}`, http.StatusForbidden)
				return
			}
			var ev AuthorizationRevokeEvent
			if err := json.Unmarshal(msg.Event, &ev); err != nil {
				http.Error(w, `{"message":"bad event"}`, http.StatusBadRequest)
				return
			}
			users += len(ev.UserID)
			w.WriteHeader(http.StatusNoContent)
		})
		run(b, h, func() { n.forget(m.id) })
	})
}
