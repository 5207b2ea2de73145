package eventsub

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// The test vector of docs/protocol.md (EventSub), checked with Python and Go
// by hand: secret 0123456789, id id1, timestamp 2026-03-01T12:00:00Z, body
// {"a":1}.
const vecSecret Secret = "0123456789"

const (
	vecID   = "id1"
	vecTS   = "2026-03-01T12:00:00Z"
	vecBody = `{"a":1}`
	vecSig  = "sha256=c9247bab688a22a2222ec9f362aa6ede9d2b3e53930bdb9621b90cf340bd9920"
)

func TestSignTestVector(t *testing.T) {
	if got := Sign(vecSecret, vecID, vecTS, []byte(vecBody)); got != vecSig {
		t.Fatalf("Sign = %s, want %s", got, vecSig)
	}
	// The same by the book, with crypto/hmac alone.
	m := hmac.New(sha256.New, []byte(vecSecret))
	m.Write([]byte(vecID + vecTS + vecBody))
	if got := "sha256=" + hex.EncodeToString(m.Sum(nil)); got != vecSig {
		t.Fatalf("crypto/hmac = %s, want %s", got, vecSig)
	}
	// The Verifier accepts the vector's signature: its body has no
	// subscription, so it fails after the signature check, on the body.
	ts, _ := time.Parse(time.RFC3339, vecTS)
	v := newTestVerifier(t, VerifierConfig{Secrets: []Secret{vecSecret}, Now: func() time.Time { return ts }})
	h := http.Header{}
	h.Set(HeaderMessageID, vecID)
	h.Set(HeaderMessageTimestamp, vecTS)
	h.Set(HeaderMessageType, "notification")
	h.Set(HeaderMessageSignature, vecSig)
	if _, err := v.Verify(context.Background(), h, []byte(vecBody)); !errors.Is(err, ErrMalformed) || errors.Is(err, ErrSignature) {
		t.Fatalf("Verify(test vector) = %v, want ErrMalformed (signature accepted, no subscription)", err)
	}
	h.Set(HeaderMessageSignature, strings.Replace(vecSig, "c9", "c8", 1))
	if _, err := v.Verify(context.Background(), h, []byte(vecBody)); !errors.Is(err, ErrSignature) {
		t.Fatalf("Verify(altered vector) = %v, want ErrSignature", err)
	}
}

func TestVerifyAccepts(t *testing.T) {
	v := newTestVerifier(t, VerifierConfig{})
	m := spec(MessageNotification, revokeBody)
	msg, err := v.Verify(context.Background(), m.headers(), []byte(m.body))
	if err != nil {
		t.Fatal(err)
	}
	if msg.ID != m.id || msg.Type != MessageNotification || msg.Retry != "0" || !msg.Timestamp.Equal(testNow.Add(-time.Second)) {
		t.Errorf("message = %+v", msg)
	}
	s := msg.Subscription
	if s.ID != "f1c2a387-161a-49f9-a165-0f21d7a4e1c4" || s.Type != TypeUserAuthorizationRevoke || s.Version != "1" ||
		s.Status != StatusEnabled || s.Condition["client_id"] != "crq72vsaoijkc83xx42hz6i37" || s.Cost != 1 ||
		s.Transport.Method != MethodWebhook || s.CreatedAt.IsZero() {
		t.Errorf("subscription = %+v", s)
	}
	if !strings.HasPrefix(string(msg.Event), `{"client_id"`) {
		t.Errorf("event = %s", msg.Event)
	}
	// A timestamp with another digit count and offset (Twitch varies).
	m = spec(MessageNotification, revokeBody)
	m.ts = "2026-03-01T12:59:59.8091512+01:00"
	if _, err := v.Verify(context.Background(), m.headers(), []byte(m.body)); err != nil {
		t.Errorf("7 fraction digits with an offset: %v", err)
	}
	// Header names in any case, in a map not built by net/http.
	m = spec(MessageNotification, revokeBody)
	raw := http.Header{}
	for k, vs := range m.headers() {
		raw[strings.ToLower(k)] = vs
	}
	if _, err := v.Verify(context.Background(), raw, []byte(m.body)); err != nil {
		t.Errorf("lowercase header names: %v", err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	v := newTestVerifier(t, VerifierConfig{})
	type mut func(m *msgSpec, h http.Header)
	resign := func(m *msgSpec, h http.Header) {
		h.Set(HeaderMessageSignature, Sign(m.secret, m.id, m.ts, []byte(m.body)))
	}
	at := func(d time.Duration) mut {
		return func(m *msgSpec, h http.Header) {
			m.ts = testNow.Add(d).Format(time.RFC3339Nano)
			h.Set(HeaderMessageTimestamp, m.ts)
			resign(m, h)
		}
	}
	body := func(b string) mut {
		return func(m *msgSpec, h http.Header) { m.body = b; resign(m, h) }
	}
	cases := []struct {
		name string
		typ  MessageType
		mut  mut
		want error
	}{
		{"wrong secret", MessageNotification, func(m *msgSpec, h http.Header) { m.secret = otherSecret; resign(m, h) }, ErrSignature},
		{"body altered", MessageNotification, func(m *msgSpec, h http.Header) { m.body = strings.Replace(m.body, "1337", "1338", 1) }, ErrSignature},
		{"id altered", MessageNotification, func(m *msgSpec, h http.Header) { h.Set(HeaderMessageID, m.id+"x") }, ErrSignature},
		{"timestamp altered", MessageNotification, func(m *msgSpec, h http.Header) {
			h.Set(HeaderMessageTimestamp, testNow.Add(-2*time.Second).Format(time.RFC3339Nano))
		}, ErrSignature},
		{"no signature", MessageNotification, func(m *msgSpec, h http.Header) { h.Del(HeaderMessageSignature) }, ErrSignature},
		{"uppercase hex", MessageNotification, func(m *msgSpec, h http.Header) {
			s := h.Get(HeaderMessageSignature)
			h.Set(HeaderMessageSignature, "sha256="+strings.ToUpper(s[7:]))
		}, ErrSignature},
		{"sha1 prefix", MessageNotification, func(m *msgSpec, h http.Header) {
			h.Set(HeaderMessageSignature, "sha1="+h.Get(HeaderMessageSignature)[7:])
		}, ErrSignature},
		{"signature truncated", MessageNotification, func(m *msgSpec, h http.Header) {
			h.Set(HeaderMessageSignature, h.Get(HeaderMessageSignature)[:70])
		}, ErrSignature},
		{"no id", MessageNotification, func(m *msgSpec, h http.Header) { h.Del(HeaderMessageID) }, ErrMalformed},
		{"long id", MessageNotification, func(m *msgSpec, h http.Header) {
			m.id = strings.Repeat("i", 300)
			h.Set(HeaderMessageID, m.id)
			resign(m, h)
		}, ErrMalformed},
		{"no timestamp", MessageNotification, func(m *msgSpec, h http.Header) { h.Del(HeaderMessageTimestamp) }, ErrMalformed},
		{"no type", MessageNotification, func(m *msgSpec, h http.Header) { h.Del(HeaderMessageType) }, ErrMalformed},
		{"timestamp without zone", MessageNotification, func(m *msgSpec, h http.Header) {
			m.ts = "2026-03-01T11:59:59"
			h.Set(HeaderMessageTimestamp, m.ts)
			resign(m, h)
		}, ErrMalformed},
		{"10 min 1 s old", MessageNotification, at(-10*time.Minute - time.Second), ErrStale},
		{"an hour old", MessageNotification, at(-time.Hour), ErrStale},
		{"61 s ahead", MessageNotification, at(61 * time.Second), ErrFuture},
		{"body not JSON", MessageNotification, body(`{"subscription":`), ErrMalformed},
		{"body an array", MessageNotification, body(`[]`), ErrMalformed},
		{"no subscription", MessageNotification, body(`{"event":{}}`), ErrMalformed},
		{"notification without event", MessageNotification, body(revocationBody), ErrMalformed},
		{"notification with null event", MessageNotification, body(`{"subscription":{},"event":null}`), ErrMalformed},
		{"verification without challenge", MessageVerification, body(revocationBody), ErrMalformed},
		{"verification with empty challenge", MessageVerification, body(`{"challenge":"","subscription":{}}`), ErrMalformed},
		{"subscription of the wrong type", MessageNotification, body(`{"subscription":{"id":5},"event":{}}`), ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := revokeBody
			if c.typ == MessageVerification {
				b = challengeBody
			}
			m := spec(c.typ, b)
			h := m.headers()
			c.mut(&m, h)
			_, err := v.Verify(context.Background(), h, []byte(m.body))
			if !errors.Is(err, c.want) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
			if strings.Contains(err.Error(), string(testSecret)) || strings.Contains(err.Error(), "1337") {
				t.Errorf("error quotes the secret or the body: %v", err)
			}
		})
	}
	// The edges are inclusive: exactly 10 minutes old, exactly 60 s ahead.
	for _, d := range []time.Duration{-10 * time.Minute, time.Minute} {
		m := spec(MessageNotification, revokeBody)
		m.ts = testNow.Add(d).Format(time.RFC3339Nano)
		if _, err := v.Verify(context.Background(), m.headers(), []byte(m.body)); err != nil {
			t.Errorf("timestamp now%+v: %v", d, err)
		}
	}
}

func TestVerifyDuplicates(t *testing.T) {
	ctx := context.Background()
	v := newTestVerifier(t, VerifierConfig{})
	m := spec(MessageNotification, revokeBody)
	if _, err := v.Verify(ctx, m.headers(), []byte(m.body)); err != nil {
		t.Fatal(err)
	}
	msg, err := v.Verify(ctx, m.headers(), []byte(m.body))
	if !errors.Is(err, ErrDuplicate) || msg == nil || msg.ID != m.id {
		t.Fatalf("second Verify = %v, %v; want the message and ErrDuplicate", msg, err)
	}
	// A forged resend (same ID, wrong signature) is a signature error, not
	// a duplicate: the seen-set is consulted only after authentication.
	bad := m
	bad.secret = otherSecret
	if _, err := v.Verify(ctx, bad.headers(), []byte(m.body)); !errors.Is(err, ErrSignature) {
		t.Fatalf("forged resend = %v, want ErrSignature", err)
	}
	// A forged message does not poison its ID.
	fresh := spec(MessageNotification, revokeBody)
	forged := fresh
	forged.secret = otherSecret
	v.Verify(ctx, forged.headers(), []byte(fresh.body))
	if _, err := v.Verify(ctx, fresh.headers(), []byte(fresh.body)); err != nil {
		t.Fatalf("genuine message after a forged one with its ID: %v", err)
	}
	// Forget lets the resend through.
	if err := v.Forget(ctx, m.id); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, m.headers(), []byte(m.body)); err != nil {
		t.Fatalf("after Forget: %v", err)
	}
	// Revocations are deduplicated too; verifications are not.
	r := spec(MessageRevocation, revocationBody)
	v.Verify(ctx, r.headers(), []byte(r.body))
	if _, err := v.Verify(ctx, r.headers(), []byte(r.body)); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("revocation twice = %v, want ErrDuplicate", err)
	}
	c := spec(MessageVerification, challengeBody)
	for i := 0; i < 2; i++ {
		if msg, err := v.Verify(ctx, c.headers(), []byte(c.body)); err != nil || msg.Challenge != "pogchamp-kappa-360noscope-vohiyo" {
			t.Fatalf("verification %d = %v, %v", i+1, msg, err)
		}
	}
}

// TestVerifyDuplicateExpiry: an ID is kept as long as its timestamp passes
// the age check, and no longer.
func TestVerifyDuplicateExpiry(t *testing.T) {
	ctx := context.Background()
	now := testNow
	seen := NewMemorySeenStore(0)
	seen.now = func() time.Time { return now }
	v := newTestVerifier(t, VerifierConfig{Seen: seen, Now: func() time.Time { return now }})
	m := spec(MessageNotification, revokeBody)
	if _, err := v.Verify(ctx, m.headers(), []byte(m.body)); err != nil {
		t.Fatal(err)
	}
	now = now.Add(10*time.Minute - 2*time.Second) // the message is 9m59s old
	if _, err := v.Verify(ctx, m.headers(), []byte(m.body)); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("resend at 9m59s = %v, want ErrDuplicate", err)
	}
	now = now.Add(2 * time.Second)
	if _, err := v.Verify(ctx, m.headers(), []byte(m.body)); !errors.Is(err, ErrStale) {
		t.Fatalf("resend at 10m1s = %v, want ErrStale", err)
	}
	other := spec(MessageNotification, revokeBody)
	other.ts = now.Format(time.RFC3339Nano)
	v.Verify(ctx, other.headers(), []byte(other.body))
	if seen.Len() != 1 {
		t.Errorf("seen-set holds %d IDs after the first expired, want 1", seen.Len())
	}
}

func TestVerifierRotation(t *testing.T) {
	ctx := context.Background()
	v := newTestVerifier(t, VerifierConfig{Secrets: []Secret{testSecret, otherSecret}})
	for _, s := range []Secret{testSecret, otherSecret} {
		m := spec(MessageNotification, revokeBody)
		m.secret = s
		if _, err := v.Verify(ctx, m.headers(), []byte(m.body)); err != nil {
			t.Fatalf("secret %d: %v", len(s), err)
		}
	}
	if err := v.SetSecrets(otherSecret); err != nil {
		t.Fatal(err)
	}
	m := spec(MessageNotification, revokeBody)
	if _, err := v.Verify(ctx, m.headers(), []byte(m.body)); !errors.Is(err, ErrSignature) {
		t.Fatalf("retired secret = %v, want ErrSignature", err)
	}
	if err := v.SetSecrets(testSecret, "short"); !errors.Is(err, ErrSecretInvalid) {
		t.Fatalf("SetSecrets with a short secret = %v", err)
	}
	if err := v.SetSecrets(); err == nil {
		t.Fatal("SetSecrets() accepted no secret")
	}
	m = spec(MessageNotification, revokeBody)
	m.secret = otherSecret
	if _, err := v.Verify(ctx, m.headers(), []byte(m.body)); err != nil {
		t.Fatalf("a refused SetSecrets changed the secrets: %v", err)
	}
}

func TestSecretCheck(t *testing.T) {
	for _, ok := range []Secret{"0123456789", Secret(strings.Repeat("x", 100)), "with spaces and ~!@#$%^&*()"} {
		if err := ok.Check(); err != nil {
			t.Errorf("Check(%d chars) = %v", len(ok), err)
		}
	}
	for _, bad := range []Secret{"", "012345678", Secret(strings.Repeat("x", 101)), "0123456789\n", "01234\t56789", "0123456789é", "0123456789\x7f"} {
		err := bad.Check()
		if !errors.Is(err, ErrSecretInvalid) {
			t.Errorf("Check(%q) = %v, want ErrSecretInvalid", bad, err)
			continue
		}
		if len(bad) >= 5 && strings.Contains(err.Error(), string(bad[:5])) {
			t.Errorf("error quotes the secret: %v", err)
		}
	}
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		if out := fmt.Sprintf(f, testSecret); strings.Contains(out, "s3cre7") {
			t.Errorf("%s prints the secret: %s", f, out)
		}
	}
	if out := fmt.Sprintf("%+v", VerifierConfig{Secrets: []Secret{testSecret}}); strings.Contains(out, "s3cre7") {
		t.Errorf("a printed VerifierConfig shows the secret: %s", out)
	}
}

func TestNewVerifierConfig(t *testing.T) {
	for name, cfg := range map[string]VerifierConfig{
		"no secret":      {},
		"short secret":   {Secrets: []Secret{"short"}},
		"negative age":   {Secrets: []Secret{testSecret}, MaxAge: -time.Second},
		"age over 1h":    {Secrets: []Secret{testSecret}, MaxAge: 2 * time.Hour},
		"negative skew":  {Secrets: []Secret{testSecret}, MaxFutureSkew: -time.Second},
		"skew over 1h":   {Secrets: []Secret{testSecret}, MaxFutureSkew: 2 * time.Hour},
		"second invalid": {Secrets: []Secret{testSecret, "0123456789\n"}},
	} {
		if _, err := NewVerifier(cfg); err == nil {
			t.Errorf("%s: NewVerifier accepted %+v", name, cfg)
		}
	}
	v, err := NewVerifier(VerifierConfig{Secrets: []Secret{testSecret}})
	if err != nil || v.MaxAge() != DefaultMaxAge || v.Seen() == nil {
		t.Fatalf("defaults: %v, %v", v, err)
	}
}

func TestMemorySeenStoreBounded(t *testing.T) {
	ctx := context.Background()
	now := testNow
	s := NewMemorySeenStore(3)
	s.now = func() time.Time { return now }
	exp := now.Add(time.Minute)
	for i := 0; i < 5; i++ {
		if dup, _ := s.MarkSeen(ctx, fmt.Sprint("id", i), exp); dup {
			t.Fatalf("id%d reported a duplicate", i)
		}
	}
	if s.Len() != 3 || s.Evicted() != 2 {
		t.Fatalf("Len = %d, Evicted = %d; want 3 and 2", s.Len(), s.Evicted())
	}
	// The oldest went first.
	if dup, _ := s.MarkSeen(ctx, "id4", exp); !dup {
		t.Error("id4 (newest) was dropped")
	}
	// Expired IDs go before unexpired ones are evicted.
	s2 := NewMemorySeenStore(3)
	s2.now = func() time.Time { return now }
	s2.MarkSeen(ctx, "old", now.Add(time.Second))
	s2.MarkSeen(ctx, "a", exp)
	s2.MarkSeen(ctx, "b", exp)
	now = now.Add(2 * time.Second)
	s2.MarkSeen(ctx, "c", exp)
	if s2.Evicted() != 0 || s2.Len() != 3 {
		t.Fatalf("after expiry: Len = %d, Evicted = %d; want 3 and 0", s2.Len(), s2.Evicted())
	}
	// Forgotten IDs free their slot for the bound without evicting others.
	s2.Forget(ctx, "a")
	if dup, _ := s2.MarkSeen(ctx, "a", exp); dup {
		t.Error("a forgotten ID is still a duplicate")
	}
	// Memory stays bounded over many IDs.
	s3 := NewMemorySeenStore(100)
	for i := 0; i < 10_000; i++ {
		s3.MarkSeen(ctx, fmt.Sprint(i), time.Now().Add(time.Hour))
		if i%3 == 0 {
			s3.Forget(ctx, fmt.Sprint(i))
		}
	}
	if s3.Len() > 100 || len(s3.queue) > 100 {
		t.Fatalf("Len = %d, ring = %d; want both <= 100", s3.Len(), len(s3.queue))
	}
}

func TestMemorySeenStoreConcurrent(t *testing.T) {
	ctx := context.Background()
	s := NewMemorySeenStore(0)
	exp := time.Now().Add(time.Hour)
	for round := 0; round < 50; round++ {
		id := fmt.Sprint("id", round)
		var wg sync.WaitGroup
		var mu sync.Mutex
		fresh := 0
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if dup, _ := s.MarkSeen(ctx, id, exp); !dup {
					mu.Lock()
					fresh++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if fresh != 1 {
			t.Fatalf("round %d: %d callers saw the ID as new, want 1", round, fresh)
		}
	}
}
