package extension

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// A rotation as Twitch does it: the new secret becomes active, the old one
// stays valid for an hour, then only the new one verifies.
func TestRotation(t *testing.T) {
	rotation := testNow
	oldS := Secret{Secret: testKey, Active: rotation.Add(-100 * 24 * time.Hour), Expires: rotation.Add(time.Hour)}
	newS := Secret{Secret: otherKey, Active: rotation, Expires: rotation.Add(100 * 365 * 24 * time.Hour)}
	ring := NewKeyring(oldS, newS)

	var now time.Time
	clock := func() time.Time { return now }
	v, err := NewVerifier(ring, VerifierConfig{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(ring, SignerConfig{OwnerUserID: "1", Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	tokenWith := func(key []byte) string {
		return rawToken(key, hs256, fmt.Sprintf(`{"exp":%d,"role":"viewer"}`, now.Add(time.Minute).Unix()))
	}

	// Before the rotation only the old secret is in force.
	now = rotation.Add(-time.Minute)
	if _, err := v.Verify(context.Background(), tokenWith(testKey)); err != nil {
		t.Fatalf("old secret before rotation: %v", err)
	}
	if _, err := v.Verify(context.Background(), tokenWith(otherKey)); !errors.Is(err, ErrSignature) {
		t.Fatalf("new secret before it is active: %v", err)
	}
	assertSignedWith(t, s, testKey)

	// During the hour both verify; the signer uses the one expiring last.
	for _, d := range []time.Duration{0, 30 * time.Minute, time.Hour - time.Second} {
		now = rotation.Add(d)
		for _, k := range [][]byte{testKey, otherKey} {
			if _, err := v.Verify(context.Background(), tokenWith(k)); err != nil {
				t.Fatalf("+%v: %v", d, err)
			}
		}
		assertSignedWith(t, s, otherKey)
	}

	// After the old secret's expiry it is refused.
	now = rotation.Add(time.Hour)
	if _, err := v.Verify(context.Background(), tokenWith(testKey)); !errors.Is(err, ErrSignature) {
		t.Fatalf("old secret after expiry: %v", err)
	}
	if _, err := v.Verify(context.Background(), tokenWith(otherKey)); err != nil {
		t.Fatalf("new secret: %v", err)
	}

	// Leeway lets a secret verify slightly before it is active, never after expiry.
	lv, _ := NewVerifier(ring, VerifierConfig{Now: clock, Leeway: 10 * time.Second})
	now = rotation.Add(-5 * time.Second)
	if _, err := lv.Verify(context.Background(), tokenWith(otherKey)); err != nil {
		t.Fatalf("new secret within leeway of activation: %v", err)
	}
	now = rotation.Add(time.Hour + time.Second)
	if _, err := lv.Verify(context.Background(), tokenWith(testKey)); !errors.Is(err, ErrSignature) {
		t.Fatalf("expired secret with leeway: %v", err)
	}
}

// assertSignedWith checks that s signs with key: a verifier holding only
// key accepts the token.
func assertSignedWith(t *testing.T, s *Signer, key []byte) {
	t.Helper()
	tok, err := s.Backend(BackendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	only, _ := NewVerifier(NewKeyring(Secret{Secret: key}), VerifierConfig{Now: s.now})
	if _, err := only.Verify(context.Background(), tok); err != nil {
		t.Fatalf("token not signed with the expected secret: %v", err)
	}
}

func TestSignerPicksLatestExpiring(t *testing.T) {
	k1, k2, k3 := []byte("secret-one-secret-one-secret-one"), []byte("secret-two-secret-two-secret-two"), []byte("secret-3")
	ring := NewKeyring(
		Secret{Secret: k1, Expires: testNow.Add(time.Hour)},
		Secret{Secret: k2, Expires: testNow.Add(48 * time.Hour)},
		Secret{Secret: k3, Active: testNow.Add(time.Minute)}, // never expires but not active yet
	)
	s, _ := NewSigner(ring, SignerConfig{OwnerUserID: "1", Now: func() time.Time { return testNow }})
	assertSignedWith(t, s, k2)
	// Once k3 is active, it never expires: it wins.
	s2, _ := NewSigner(ring, SignerConfig{OwnerUserID: "1", Now: func() time.Time { return testNow.Add(2 * time.Minute) }})
	assertSignedWith(t, s2, k3)
	// Nothing active: an error, not a token.
	s3, _ := NewSigner(NewKeyring(Secret{Secret: k1, Expires: testNow}), SignerConfig{OwnerUserID: "1", Now: func() time.Time { return testNow }})
	if _, err := s3.Backend(BackendOptions{}); !errors.Is(err, ErrNoSigningSecret) {
		t.Fatalf("%v", err)
	}
}

func TestSignerBackendClaims(t *testing.T) {
	ring := NewKeyring(Secret{Secret: testKey})
	s, err := NewSigner(ring, SignerConfig{OwnerUserID: "27419011", TTL: 90 * time.Second, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Backend(BackendOptions{ChannelID: "141981764", PubSub: true})
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := b64.DecodeString(strings.Split(tok, ".")[1])
	want := fmt.Sprintf(`{"exp":%d,"user_id":"27419011","channel_id":"141981764","role":"external","pubsub_perms":{"send":["broadcast"]}}`, testNow.Unix()+90)
	if string(payload) != want {
		t.Fatalf("payload\n got %s\nwant %s", payload, want)
	}
	if h := strings.Split(tok, ".")[0]; h != hs256Header {
		t.Fatalf("header %s", h)
	}
	// Without options: no channel_id, no pubsub_perms.
	tok, _ = s.Backend(BackendOptions{})
	payload, _ = b64.DecodeString(strings.Split(tok, ".")[1])
	if want := fmt.Sprintf(`{"exp":%d,"user_id":"27419011","role":"external"}`, testNow.Unix()+90); string(payload) != want {
		t.Fatalf("payload %s", payload)
	}
	// Default TTL is three minutes.
	d, _ := NewSigner(ring, SignerConfig{OwnerUserID: "1", Now: func() time.Time { return testNow }})
	tok, _ = d.Backend(BackendOptions{})
	c, err := newTestVerifier(t, VerifierConfig{}).Verify(context.Background(), tok)
	if err != nil || c.Exp != testNow.Add(3*time.Minute).Unix() {
		t.Fatalf("%+v %v", c, err)
	}
	// Backend needs an owner; Sign needs a role.
	n, _ := NewSigner(ring, SignerConfig{})
	if _, err := n.Backend(BackendOptions{}); err == nil {
		t.Fatal("backend token without owner")
	}
	if _, err := n.Sign(Claims{}); err == nil {
		t.Fatal("token without role")
	}
}

func TestSecretParsingAndRedaction(t *testing.T) {
	s, err := ParseSecret(" " + testKeyB64 + "\n")
	if err != nil || string(s.Secret) != string(testKey) {
		t.Fatalf("%v %q", err, s.Secret)
	}
	for _, bad := range []string{"", "   ", "not base64!!", "===="} {
		if _, err := ParseSecret(bad); err == nil {
			t.Fatalf("%q accepted", bad)
		} else if bad != "" && strings.Contains(err.Error(), strings.TrimSpace(bad)) && strings.TrimSpace(bad) != "" {
			t.Fatalf("error echoes the input: %v", err)
		}
	}
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s)} {
		if strings.Contains(out, string(testKey)) || strings.Contains(out, testKeyB64) || strings.Contains(out, fmt.Sprint(testKey[:4])) {
			t.Fatalf("secret printed: %s", out)
		}
	}
	ring := NewKeyring(s, Secret{}) // empty secrets are dropped
	if ring.Len() != 1 {
		t.Fatalf("len %d", ring.Len())
	}
	got := ring.Secrets()
	got[0].Secret[0] ^= 0xff // a copy: the ring is unchanged
	if string(ring.Secrets()[0].Secret) != string(testKey) {
		t.Fatal("Secrets returned shared memory")
	}
}
