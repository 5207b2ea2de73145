package extension

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Secret is one extension secret. Twitch shows and returns secrets base64
// encoded; Secret holds the decoded bytes, which are the HMAC key.
//
// A secret verifies tokens from Active (minus the verifier's leeway) until
// Expires; a zero Active means "since always", a zero Expires "never".
// Creating a new secret on Twitch leaves the old one valid for about an hour (docs/protocol.md#extensions).
//
// Secret's String, GoString and LogValue never reveal the key.
type Secret struct {
	Secret  []byte
	Active  time.Time
	Expires time.Time
}

// ParseSecret decodes a base64 secret as shown in the developer console or
// returned by Helix. Standard and URL-safe alphabets, with or without padding,
// are accepted. The returned Secret is always active and never expires.
func ParseSecret(b64 string) (Secret, error) {
	s := strings.TrimSpace(b64)
	if s == "" {
		return Secret{}, errors.New("extension: empty extension secret")
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(s); err == nil {
			if len(key) == 0 {
				break
			}
			return Secret{Secret: key}, nil
		}
	}
	// Never echo the input: it is a secret.
	return Secret{}, errors.New("extension: extension secret is not valid base64 (copy it again from the developer console)")
}

// String redacts the key.
func (s Secret) String() string { return "extension.Secret{REDACTED}" }

// GoString redacts the key.
func (s Secret) GoString() string { return s.String() }

// LogValue redacts the key and logs only the validity window.
func (s Secret) LogValue() slog.Value {
	return slog.GroupValue(slog.Time("active", s.Active), slog.Time("expires", s.Expires))
}

// verifiesAt reports whether the secret may verify a token at now.
func (s *Secret) verifiesAt(now time.Time, leeway time.Duration) bool {
	if !s.Active.IsZero() && now.Add(leeway).Before(s.Active) {
		return false
	}
	return s.Expires.IsZero() || now.Before(s.Expires)
}

// signsAt reports whether the secret may sign a token at now.
func (s *Secret) signsAt(now time.Time) bool {
	if !s.Active.IsZero() && now.Before(s.Active) {
		return false
	}
	return s.Expires.IsZero() || now.Before(s.Expires)
}

// expiresAfter reports whether s expires strictly later than o (zero = never).
func (s *Secret) expiresAfter(o *Secret) bool {
	switch {
	case s.Expires.IsZero():
		return !o.Expires.IsZero()
	case o.Expires.IsZero():
		return false
	default:
		return s.Expires.After(o.Expires)
	}
}

// SecretSource supplies the keyring a Verifier or Signer uses. *Keyring and
// *HelixSecrets implement it.
type SecretSource interface {
	Keyring() *Keyring
}

// Refresher is implemented by a SecretSource that can fetch new secrets when
// a token's signature matches none of the known ones (a rotation the source
// has not seen yet). RefreshOnMiss must rate-limit itself and report whether
// the keyring changed.
type Refresher interface {
	RefreshOnMiss(ctx context.Context) bool
}

// Keyring is the set of extension secrets in force. It is safe for
// concurrent use; Set replaces the set atomically, and verifications in
// flight keep the set they started with.
type Keyring struct {
	cur atomic.Pointer[keySet]
	mu  sync.Mutex // serialises Set
}

// keySet is an immutable snapshot of a keyring.
type keySet struct {
	keys []*key
}

// key is a secret with a pool of ready HMAC-SHA256 states keyed with it.
type key struct {
	Secret
	pool sync.Pool // of *macState
}

type macState struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

func newKey(s Secret) *key {
	k := &key{Secret: Secret{Secret: bytes.Clone(s.Secret), Active: s.Active, Expires: s.Expires}}
	k.pool.New = func() any { return &macState{h: hmac.New(sha256.New, k.Secret.Secret)} }
	return k
}

// macEqual reports whether sig is the HMAC-SHA256 of input under k.
func (k *key) macEqual(input, sig []byte) bool {
	m := k.pool.Get().(*macState)
	m.h.Reset()
	m.h.Write(input)
	ok := hmac.Equal(m.h.Sum(m.sum[:0]), sig)
	k.pool.Put(m)
	return ok
}

// sign returns the HMAC-SHA256 of input under k.
func (k *key) sign(input []byte) []byte {
	m := k.pool.Get().(*macState)
	m.h.Reset()
	m.h.Write(input)
	out := m.h.Sum(nil)
	k.pool.Put(m)
	return out
}

// NewKeyring returns a keyring holding secrets.
func NewKeyring(secrets ...Secret) *Keyring {
	k := &Keyring{}
	k.Set(secrets)
	return k
}

// Keyring returns k itself, so that a *Keyring is a SecretSource.
func (k *Keyring) Keyring() *Keyring { return k }

// Set replaces the secrets. Secrets with an empty key are ignored.
// HMAC states of secrets already present are kept.
func (k *Keyring) Set(secrets []Secret) {
	k.mu.Lock()
	defer k.mu.Unlock()
	old := k.cur.Load()
	next := &keySet{keys: make([]*key, 0, len(secrets))}
	for _, s := range secrets {
		if len(s.Secret) == 0 {
			continue
		}
		var reuse *key
		if old != nil {
			for _, ok := range old.keys {
				if ok.Active.Equal(s.Active) && ok.Expires.Equal(s.Expires) && hmac.Equal(ok.Secret.Secret, s.Secret) {
					reuse = ok
					break
				}
			}
		}
		if reuse == nil {
			reuse = newKey(s)
		}
		next.keys = append(next.keys, reuse)
	}
	k.cur.Store(next)
}

// Secrets returns a copy of the secrets in force.
func (k *Keyring) Secrets() []Secret {
	ks := k.load()
	out := make([]Secret, len(ks.keys))
	for i, key := range ks.keys {
		out[i] = Secret{Secret: bytes.Clone(key.Secret.Secret), Active: key.Active, Expires: key.Expires}
	}
	return out
}

// Len returns the number of secrets in force.
func (k *Keyring) Len() int { return len(k.load().keys) }

func (k *Keyring) load() *keySet {
	if ks := k.cur.Load(); ks != nil {
		return ks
	}
	return &keySet{}
}

// signingKey returns the secret that may sign at now and expires last.
func (k *Keyring) signingKey(now time.Time) *key {
	var best *key
	for _, key := range k.load().keys {
		if !key.signsAt(now) {
			continue
		}
		if best == nil || key.expiresAfter(&best.Secret) {
			best = key
		}
	}
	return best
}
