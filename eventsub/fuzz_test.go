package eventsub

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzVerify feeds the Verifier arbitrary IDs, timestamps, bodies, message
// types and signature headers, and checks it against a reference built from
// crypto/hmac and time.Parse alone:
//
//   - a signature header is accepted only if it is exactly "sha256=" and the
//     lowercase hex of the reference HMAC (so a wrong secret, a flipped bit
//     or another spelling never passes);
//
//   - a correctly signed message is refused with ErrSignature never, and
//     with ErrStale or ErrFuture exactly when the reference age check says
//     so;
//
//   - an accepted message carries the ID, type and timestamp it was sent
//     with, and the verified body;
//
//   - every error wraps a documented sentinel and never quotes the secret.
//
//     go test -run '^$' -fuzz FuzzVerify ./eventsub
func FuzzVerify(f *testing.F) {
	f.Add("id1", testNow.Format(time.RFC3339), revokeBody, "notification", "")
	f.Add("id2", testNow.Add(-9*time.Minute).Format(time.RFC3339Nano), challengeBody, "webhook_callback_verification", "")
	f.Add("id3", "2026-03-01T12:00:00.8091512Z", revocationBody, "revocation", "")
	f.Add("id4", testNow.Add(-11*time.Minute).Format(time.RFC3339), followBody, "notification", "")
	f.Add("id5", testNow.Add(2*time.Minute).Format(time.RFC3339), revokeBody, "notification", "")
	f.Add("", "", "", "", "sha256=")
	f.Add("id6", testNow.Format(time.RFC3339), `{"subscription":{},"event":{}}`, "notification", "sha256="+strings.Repeat("0", 64))
	f.Add("id7", testNow.Format(time.RFC3339), `{"subscription":{"condition":{"x":1,"y":null}},"event":{}}`, "notification", "")
	f.Add("id8", testNow.Format(time.RFC3339), `{"subscription":{"created_at":"x"},"event":{}}`, "notification", "")
	f.Add("id9", "2026-03-01T12:00:00+14:00", `{"subscription":{},"event":[]}`, "x", "SHA256=")
	sentinels := []error{ErrMalformed, ErrSignature, ErrStale, ErrFuture, ErrDuplicate}
	f.Fuzz(func(t *testing.T, id, ts, body, typ, sigHeader string) {
		ref := refSignature(testSecret, id, ts, body)
		h := http.Header{}
		set := func(k, val string) {
			if val != "" {
				h.Set(k, val)
			}
		}
		set(HeaderMessageID, id)
		set(HeaderMessageTimestamp, ts)
		set(HeaderMessageType, typ)
		for _, sig := range []string{ref, sigHeader} {
			h.Del(HeaderMessageSignature)
			set(HeaderMessageSignature, sig)
			// A fresh Verifier each time: the seen-set must not mask a check.
			v := newTestVerifier(t, VerifierConfig{})
			msg, err := v.Verify(context.Background(), h, []byte(body))
			if err != nil {
				if !slices.ContainsFunc(sentinels, func(s error) bool { return errors.Is(err, s) }) {
					t.Fatalf("error wraps no sentinel: %v", err)
				}
				if strings.Contains(err.Error(), string(testSecret)) {
					t.Fatalf("error quotes the secret: %v", err)
				}
			}
			if sig != ref {
				if err == nil {
					t.Fatalf("accepted signature %q; the reference is %q", sig, ref)
				}
				continue
			}
			// Correctly signed: only the reference checks may refuse it.
			if errors.Is(err, ErrSignature) && id != "" && ts != "" && typ != "" && len(id) <= maxIDLen {
				if parsed, perr := time.Parse(time.RFC3339Nano, ts); perr == nil && len(ts) <= 64 && !parsed.IsZero() {
					t.Fatalf("a correctly signed message refused as ErrSignature: %v", err)
				}
			}
			if parsed, perr := time.Parse(time.RFC3339Nano, ts); perr == nil && id != "" && typ != "" && len(id) <= maxIDLen && len(ts) <= 64 {
				age := testNow.Sub(parsed)
				if wantStale := age > DefaultMaxAge; wantStale != errors.Is(err, ErrStale) {
					t.Fatalf("age %s: err = %v", age, err)
				}
				if wantFuture := -age > DefaultMaxFutureSkew; wantFuture != errors.Is(err, ErrFuture) {
					t.Fatalf("age %s: err = %v", age, err)
				}
			}
			if err == nil {
				if msg.ID != id || string(msg.Type) != typ || string(msg.Body) != body {
					t.Fatalf("accepted message %+v differs from what was sent", msg)
				}
				if parsed, _ := time.Parse(time.RFC3339Nano, ts); !msg.Timestamp.Equal(parsed) {
					t.Fatalf("timestamp %s, sent %s", msg.Timestamp, ts)
				}
				if typ == string(MessageVerification) && msg.Challenge == "" {
					t.Fatal("a verification accepted without a challenge")
				}
				if typ == string(MessageNotification) && len(msg.Event) == 0 {
					t.Fatal("a notification accepted without an event")
				}
			}
		}
	})
}

// refSignature is the signature computed by the book.
func refSignature(secret Secret, id, ts, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(id))
	m.Write([]byte(ts))
	m.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}
