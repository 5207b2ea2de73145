package extension

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// DefaultTTL is the default lifetime of a token minted by a Signer. Twitch
// asks for "a buffer" on exp; a few minutes covers clock skew and a slow
// call while keeping a leaked token short-lived.
const DefaultTTL = 3 * time.Minute

// hs256Header is base64url({"alg":"HS256","typ":"JWT"}).
const hs256Header = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"

// SignerConfig configures a Signer.
type SignerConfig struct {
	// OwnerUserID is the Twitch user ID that owns the extension; Backend
	// puts it in user_id. Required for Backend.
	OwnerUserID string
	// TTL is the lifetime of minted tokens; default DefaultTTL.
	TTL time.Duration
	// Now returns the current time; default time.Now.
	Now func() time.Time
}

// Signer mints HS256 extension JWTs with the secret in force that expires
// last, as Twitch recommends. It is safe for concurrent use.
type Signer struct {
	src   SecretSource
	owner string
	ttl   time.Duration
	now   func() time.Time
}

// NewSigner returns a Signer using the secrets of src.
func NewSigner(src SecretSource, cfg SignerConfig) (*Signer, error) {
	if src == nil || src.Keyring() == nil {
		return nil, errors.New("extension: NewSigner needs a SecretSource (a *Keyring or *HelixSecrets)")
	}
	if cfg.TTL < 0 {
		return nil, errors.New("extension: negative TTL")
	}
	s := &Signer{src: src, owner: cfg.OwnerUserID, ttl: cfg.TTL, now: cfg.Now}
	if s.ttl == 0 {
		s.ttl = DefaultTTL
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// Sign mints a token carrying c. A zero Exp becomes now + TTL (in seconds);
// Role is required.
func (s *Signer) Sign(c Claims) (string, error) {
	if c.Role == "" {
		return "", errors.New("extension: Sign needs a role")
	}
	now := s.now()
	if c.Exp == 0 {
		c.Exp = now.Add(s.ttl).Unix()
	}
	k := s.src.Keyring().signingKey(now)
	if k == nil {
		return "", ErrNoSigningSecret
	}
	payload, err := json.Marshal(&c)
	if err != nil {
		return "", fmt.Errorf("extension: encoding claims: %w", err)
	}
	buf := make([]byte, 0, len(hs256Header)+1+b64.EncodedLen(len(payload))+1+sigLen)
	buf = append(buf, hs256Header...)
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, payload)
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, k.sign(buf[:len(buf)-1]))
	return string(buf), nil
}

// BackendOptions selects what a backend (role external) token may do.
type BackendOptions struct {
	// ChannelID, when set, scopes the token to one channel (needed by
	// channel endpoints such as Send Extension PubSub Message).
	ChannelID string
	// PubSub adds pubsub_perms.send ["broadcast"], as Send Extension PubSub
	// Message requires.
	PubSub bool
}

// Backend mints the token an EBS sends to Twitch as
// "Authorization: Bearer <token>": exp now + TTL, user_id the owner, role
// external, and optionally channel_id and broadcast send permission.
func (s *Signer) Backend(opts BackendOptions) (string, error) {
	if s.owner == "" {
		return "", errors.New("extension: backend tokens need SignerConfig.OwnerUserID (the extension owner's user ID)")
	}
	c := Claims{UserID: s.owner, Role: RoleExternal, ChannelID: opts.ChannelID}
	if opts.PubSub {
		c.PubSubPerms.Send = []string{"broadcast"}
	}
	return s.Sign(c)
}
