package broker

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/twitchauth/twitchauth/store"
)

// SigningKeyRecord is the store key under which the broker keeps the random
// key that signs its sign-in state cookies and its CSRF tokens, created by
// the first broker that opens the store. Every replica sharing a store
// (PostgreSQL) reads the same key, so that a sign-in started on one replica
// can finish on another. The key is sealed at rest like a token; the
// Provider ignores the record (it is neither the app nor a user). Deleting
// it and restarting every replica rotates the key, ending the sign-ins in
// progress.
const SigningKeyRecord = "broker:signing-key"

// signingKeySize is the size of the signing key: 256 bits for HMAC-SHA256.
const signingKeySize = 32

// signer signs and verifies the broker's small tokens (the state cookie, the
// CSRF token) with HMAC-SHA256. A purpose string is bound into every MAC, so
// that a value made for one use is refused for any other.
type signer struct{ key []byte }

func (s signer) mac(purpose string, payload []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write(payload)
	return m.Sum(nil)
}

// seal returns payload with its MAC: base64url(payload) "." base64url(mac).
func (s signer) seal(purpose string, payload []byte) string {
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(s.mac(purpose, payload))
}

// open returns the payload of a value made by seal for purpose, or false
// when it was not (tampered with, another purpose, another key, malformed).
func (s signer) open(purpose, v string) ([]byte, bool) {
	p64, m64, ok := strings.Cut(v, ".")
	if !ok || len(v) > 4096 {
		return nil, false
	}
	payload, err1 := base64.RawURLEncoding.Strict().DecodeString(p64)
	mac, err2 := base64.RawURLEncoding.Strict().DecodeString(m64)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, s.mac(purpose, payload)) {
		return nil, false
	}
	return payload, true
}

// loadSigningKey reads the signing key from the store, creating it when the
// store has none (compare-and-swap: when two replicas start at once, both
// end up with the key the first one saved).
func loadSigningKey(ctx context.Context, st store.Store) ([]byte, error) {
	for range 3 {
		rec, err := st.Load(ctx, SigningKeyRecord)
		if err == nil {
			k, derr := base64.RawURLEncoding.DecodeString(rec.AccessToken)
			if derr != nil || len(k) != signingKeySize {
				return nil, fmt.Errorf("broker: the signing key stored as %q is damaged: delete that record and restart every replica", SigningKeyRecord)
			}
			return k, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("broker: reading the signing key from the store: %w", err)
		}
		k := randomBytes(signingKeySize)
		_, err = st.Save(ctx, store.Record{Key: SigningKeyRecord, AccessToken: base64.RawURLEncoding.EncodeToString(k), TokenType: "hmac-sha256"}, 0)
		if err == nil {
			return k, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("broker: saving a new signing key in the store: %w", err)
		}
		// Another replica saved one first: read it.
	}
	return nil, errors.New("broker: the signing key in the store keeps changing; is another program writing " + SigningKeyRecord + "?")
}
