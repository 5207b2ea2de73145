package extension

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unsafe"
)

// DefaultMaxTokenBytes is the default limit on a token's length. Twitch's
// extension JWTs are a few hundred bytes.
const DefaultMaxTokenBytes = 8 << 10

// VerifierConfig configures a Verifier. The zero value is usable.
type VerifierConfig struct {
	// Leeway tolerates clock skew: a token is accepted until exp + Leeway, and
	// a secret from Active - Leeway. Default 0.
	Leeway time.Duration
	// Roles are the roles accepted; nil means AllRoles. A token whose role
	// is missing or not listed is refused.
	Roles []Role
	// MaxTokenBytes refuses longer tokens before any work. Default
	// DefaultMaxTokenBytes.
	MaxTokenBytes int
	// Now returns the current time; default time.Now.
	Now func() time.Time
}

// Verifier verifies extension JWTs: HS256 only, signed with any secret in
// force, with a valid exp and an allowed role. It is safe for concurrent use.
type Verifier struct {
	src       SecretSource
	refresher Refresher
	leeway    time.Duration
	roles     []Role
	maxLen    int
	now       func() time.Time
}

// NewVerifier returns a Verifier using the secrets of src. When src is also a
// Refresher (as *HelixSecrets is), a signature that matches no known secret
// triggers one rate-limited refresh and a second attempt.
func NewVerifier(src SecretSource, cfg VerifierConfig) (*Verifier, error) {
	if src == nil || src.Keyring() == nil {
		return nil, errors.New("extension: NewVerifier needs a SecretSource (a *Keyring or *HelixSecrets)")
	}
	if cfg.Leeway < 0 {
		return nil, errors.New("extension: negative Leeway")
	}
	v := &Verifier{src: src, leeway: cfg.Leeway, maxLen: cfg.MaxTokenBytes, now: cfg.Now}
	v.refresher, _ = src.(Refresher)
	if v.maxLen <= 0 {
		v.maxLen = DefaultMaxTokenBytes
	}
	if v.now == nil {
		v.now = time.Now
	}
	v.roles = slices.Clone(cfg.Roles)
	if v.roles == nil {
		v.roles = slices.Clone(AllRoles)
	}
	return v, nil
}

// b64 is base64url without padding, refusing non-zero trailing bits so that
// each token has exactly one spelling.
var b64 = base64.RawURLEncoding.Strict()

// The encodings of the usual HS256 headers, accepted without decoding.
var knownHeaders = [...]string{
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9", // {"alg":"HS256","typ":"JWT"}
	"eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9", // {"typ":"JWT","alg":"HS256"}
	"eyJhbGciOiJIUzI1NiJ9",                 // {"alg":"HS256"}
}

// sigLen is the length of a base64url HMAC-SHA256 signature.
const sigLen = 43

// Verify checks token and returns its claims. The checks, in order: length,
// three base64url parts, header alg HS256, signature against each secret in
// force, payload JSON, exp (required) and role. Errors wrap the sentinel
// errors above and never contain the token.
//
// ctx bounds the Helix refresh a Refresher source may do on a signature miss.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	return v.verify(ctx, token, v.now())
}

func (v *Verifier) verify(ctx context.Context, token string, now time.Time) (*Claims, error) {
	if len(token) == 0 {
		return nil, ErrMissing
	}
	if len(token) > v.maxLen {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(token), v.maxLen)
	}
	d1 := strings.IndexByte(token, '.')
	if d1 < 0 {
		return nil, malformed("want three dot-separated parts, got one")
	}
	d2 := strings.IndexByte(token[d1+1:], '.')
	if d2 < 0 {
		return nil, malformed("want three dot-separated parts, got two")
	}
	d2 += d1 + 1
	if strings.IndexByte(token[d2+1:], '.') >= 0 {
		return nil, malformed("want three dot-separated parts, got more")
	}
	// The base64 decoder skips CR and LF; a token holds neither.
	if strings.IndexByte(token, '\n') >= 0 || strings.IndexByte(token, '\r') >= 0 {
		return nil, malformed("token contains a line break")
	}
	hdr, sig := token[:d1], token[d2+1:]
	if d1 == 0 || d2 == d1+1 {
		return nil, malformed("empty header or payload")
	}
	if !isKnownHeader(hdr) {
		if err := checkHeader(hdr); err != nil {
			return nil, err
		}
	}
	if len(sig) != sigLen {
		return nil, fmt.Errorf("%w: signature is not an HS256 signature", ErrSignature)
	}

	// The token is only read (decoded and hashed), through a view of its
	// bytes: no copy, no pooled scratch (issue 21). Nothing writes to tb.
	tb := unsafe.Slice(unsafe.StringData(token), len(token))
	var sigBytes [32]byte
	if n, err := b64.Decode(sigBytes[:], tb[d2+1:]); err != nil || n != 32 {
		return nil, fmt.Errorf("%w: signature is not base64url", ErrSignature)
	}
	input := tb[:d2]
	if !v.macMatches(input, sigBytes[:], now) {
		if v.refresher == nil || !v.refresher.RefreshOnMiss(ctx) || !v.macMatches(input, sigBytes[:], now) {
			return nil, ErrSignature
		}
	}
	c, hasExp, err := decodeClaims(tb[d1+1 : d2])
	if err != nil {
		return nil, err
	}
	if !hasExp {
		return nil, ErrMissingExp
	}
	if !now.Before(time.Unix(c.Exp, 0).Add(v.leeway)) {
		return nil, fmt.Errorf("%w at %s", ErrExpired, time.Unix(c.Exp, 0).UTC().Format(time.RFC3339))
	}
	if !v.roleAllowed(c.Role) {
		if c.Role == "" {
			return nil, fmt.Errorf("%w: no role claim", ErrRole)
		}
		return nil, fmt.Errorf("%w: %q", ErrRole, clip(string(c.Role)))
	}
	return c, nil
}

func isKnownHeader(h string) bool {
	for _, k := range knownHeaders {
		if h == k {
			return true
		}
	}
	return false
}

// checkHeader decodes an unusual header and checks its alg.
func checkHeader(h string) error {
	raw, err := b64.DecodeString(h)
	if err != nil {
		return malformed("header is not base64url")
	}
	alg, err := parseHeader(string(raw))
	if err != nil {
		return err
	}
	switch alg {
	case "HS256":
		return nil
	case "":
		return fmt.Errorf("%w: header has no alg", ErrAlgorithm)
	default:
		return fmt.Errorf("%w: header says %q", ErrAlgorithm, clip(alg))
	}
}

// macMatches tries every secret in force.
func (v *Verifier) macMatches(input, sig []byte, now time.Time) bool {
	for _, k := range v.src.Keyring().load().keys {
		if k.verifiesAt(now, v.leeway) && k.macEqual(input, sig) {
			return true
		}
	}
	return false
}

func (v *Verifier) roleAllowed(r Role) bool {
	if r == "" {
		return false
	}
	for _, a := range v.roles {
		if a == r {
			return true
		}
	}
	return false
}
