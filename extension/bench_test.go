package extension

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// gjClaims is Claims as golang-jwt needs it: the same typed struct, decoded
// by encoding/json, plus the jwt.Claims methods.
type gjClaims struct{ Claims }

func (c *gjClaims) GetExpirationTime() (*jwt.NumericDate, error) {
	if c.Exp == 0 {
		return nil, nil
	}
	return jwt.NewNumericDate(time.Unix(c.Exp, 0)), nil
}
func (c *gjClaims) GetIssuedAt() (*jwt.NumericDate, error)  { return nil, nil }
func (c *gjClaims) GetNotBefore() (*jwt.NumericDate, error) { return nil, nil }
func (c *gjClaims) GetIssuer() (string, error)              { return "", nil }
func (c *gjClaims) GetSubject() (string, error)             { return "", nil }
func (c *gjClaims) GetAudience() (jwt.ClaimStrings, error)  { return nil, nil }

// BenchmarkVerify compares, on the same typical viewer token: our Verifier;
// golang-jwt ParseWithClaims into the same typed claims (HS256 only); and
// two floors: "floor-base64+hmac", base64 decoding of payload and signature
// plus HMAC-SHA256 of the token, and "floor-sig+hmac" (issue 21's floor, the
// anchor's own minimum): decoding the signature and HMAC-SHA256 of
// header.payload, without touching the payload. Target: twitchauth ≤ 2×
// floor-sig+hmac.
func BenchmarkVerify(b *testing.B) {
	token := rawToken(testKey, hs256, typicalPayload)
	b.Logf("token: %d bytes", len(token))
	ctx := context.Background()

	b.Run("twitchauth", func(b *testing.B) {
		v := newTestVerifier(b, VerifierConfig{})
		b.ReportAllocs()
		for b.Loop() {
			c, err := v.Verify(ctx, token)
			if err != nil || c.Role != RoleViewer {
				b.Fatal(err)
			}
		}
	})

	b.Run("golang-jwt", func(b *testing.B) {
		p := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(func() time.Time { return testNow }))
		keyFunc := func(*jwt.Token) (any, error) { return testKey, nil }
		b.ReportAllocs()
		for b.Loop() {
			var c gjClaims
			if _, err := p.ParseWithClaims(token, &c, keyFunc); err != nil || c.Role != RoleViewer {
				b.Fatal(err)
			}
		}
	})

	b.Run("floor-base64+hmac", func(b *testing.B) {
		d1 := strings.IndexByte(token, '.')
		d2 := strings.LastIndexByte(token, '.')
		input := []byte(token[:d2])
		mac := hmac.New(sha256.New, testKey)
		var sum [32]byte
		b.ReportAllocs()
		for b.Loop() {
			payload, err1 := base64.RawURLEncoding.DecodeString(token[d1+1 : d2])
			sig, err2 := base64.RawURLEncoding.DecodeString(token[d2+1:])
			mac.Reset()
			mac.Write(input)
			if err1 != nil || err2 != nil || len(payload) == 0 || !hmac.Equal(mac.Sum(sum[:0]), sig) {
				b.Fatal("floor")
			}
		}
	})
	b.Run("floor-sig+hmac", func(b *testing.B) {
		d2 := strings.LastIndexByte(token, '.')
		input := []byte(token[:d2])
		mac := hmac.New(sha256.New, testKey)
		var sum, sig [32]byte
		b.ReportAllocs()
		for b.Loop() {
			n, err := base64.RawURLEncoding.Decode(sig[:], []byte(token[d2+1:]))
			mac.Reset()
			mac.Write(input)
			if err != nil || n != 32 || !hmac.Equal(mac.Sum(sum[:0]), sig[:]) {
				b.Fatal("floor")
			}
		}
	})
}
