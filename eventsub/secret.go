package eventsub

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"hash"
	"log/slog"
	"sync"
)

// Secret is a webhook subscription's transport.secret: the HMAC key Twitch
// signs each message with. Twitch requires an ASCII string of 10 to 100
// characters (docs/protocol.md#eventsub); this package also refuses control
// characters, which are almost always a line break left over from a file.
//
// Secret's String, GoString and LogValue never reveal it. Its text leaves
// the program only in the body of a POST /helix/eventsub/subscriptions.
type Secret string

// Secret length bounds, as Twitch enforces them on POST
// /helix/eventsub/subscriptions.
const (
	MinSecretLen = 10
	MaxSecretLen = 100
)

// String redacts the secret.
func (Secret) String() string { return "eventsub.Secret{REDACTED}" }

// GoString redacts the secret.
func (s Secret) GoString() string { return s.String() }

// LogValue redacts the secret.
func (Secret) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// Check reports whether s is a secret Twitch accepts: 10 to 100 printable
// ASCII characters. The error never quotes the secret.
func (s Secret) Check() error {
	if len(s) < MinSecretLen || len(s) > MaxSecretLen {
		return fmt.Errorf("%w: it has %d characters; Twitch requires %d to %d", ErrSecretInvalid, len(s), MinSecretLen, MaxSecretLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\n' || c == '\r':
			return fmt.Errorf("%w: it contains a line break at position %d (trim the file it was read from)", ErrSecretInvalid, i+1)
		case c < 0x20 || c == 0x7f:
			return fmt.Errorf("%w: it contains a control character at position %d", ErrSecretInvalid, i+1)
		case c >= 0x80:
			return fmt.Errorf("%w: it contains a non-ASCII byte at position %d; Twitch requires an ASCII string", ErrSecretInvalid, i+1)
		}
	}
	return nil
}

// key is one secret with a pool of HMAC-SHA256 states keyed with it.
type key struct {
	pool sync.Pool // of *macState
}

type macState struct {
	h   hash.Hash
	sum [sha256.Size]byte
	hex [2 * sha256.Size]byte
	buf []byte // id and timestamp, reused
}

func newKey(s Secret) *key {
	k := &key{}
	raw := []byte(s)
	k.pool.New = func() any { return &macState{h: hmac.New(sha256.New, raw)} }
	return k
}

const hexDigits = "0123456789abcdef"

// matches reports, in constant time for a given length, whether sig (the
// lowercase hex after "sha256=") is the HMAC-SHA256 of id, ts and body.
func (k *key) matches(id, ts string, body, sig []byte) bool {
	m := k.pool.Get().(*macState)
	defer k.pool.Put(m)
	m.h.Reset()
	m.buf = append(append(m.buf[:0], id...), ts...)
	m.h.Write(m.buf)
	m.h.Write(body)
	sum := m.h.Sum(m.sum[:0])
	for i, b := range sum {
		m.hex[2*i] = hexDigits[b>>4]
		m.hex[2*i+1] = hexDigits[b&0xf]
	}
	return hmac.Equal(m.hex[:], sig)
}

// Sign returns the Twitch-Eventsub-Message-Signature value for a message:
// "sha256=" and the lowercase hex HMAC-SHA256, keyed with secret, of id,
// timestamp and body concatenated. It is what Twitch sends, for tests and
// for tools that forward messages.
func Sign(secret Secret, id, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(id + timestamp))
	m.Write(body)
	var out [len(sigPrefix) + 2*sha256.Size]byte
	copy(out[:], sigPrefix)
	for i, b := range m.Sum(nil) {
		out[len(sigPrefix)+2*i] = hexDigits[b>>4]
		out[len(sigPrefix)+2*i+1] = hexDigits[b&0xf]
	}
	return string(out[:])
}

// sigPrefix starts every signature header value.
const sigPrefix = "sha256="
