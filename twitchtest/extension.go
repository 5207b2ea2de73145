package twitchtest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Extension JWT roles (the "role" claim).
const (
	RoleBroadcaster = "broadcaster"
	RoleModerator   = "moderator"
	RoleViewer      = "viewer"
	RoleExternal    = "external"
)

// Extension secret lifetimes.
const (
	// ExtensionSecretLifetime is how long a new extension secret lasts:
	// Twitch's secrets "live 100 years".
	ExtensionSecretLifetime = 100 * 365 * 24 * time.Hour
	// DefaultExtensionSecretOverlap is how long old secrets stay valid after
	// a new one becomes active (the console: "one hour").
	DefaultExtensionSecretOverlap = time.Hour
	// DefaultExtensionSecretDelay is the default and minimum delay of POST
	// /helix/extensions/jwt/secrets (300 s in the API reference).
	DefaultExtensionSecretDelay = 300 * time.Second
	// DefaultExtensionJWTLifetime is the lifetime of tokens minted without a
	// TTL.
	DefaultExtensionJWTLifetime = time.Hour
)

// ExtensionSecret is one shared secret of an extension client, as Get
// Extension Secrets returns it. Content is the base64 encoding of the HMAC
// key. A secret signs and verifies tokens from ActiveAt until ExpiresAt.
type ExtensionSecret struct {
	Content   string    `json:"content"`
	ActiveAt  time.Time `json:"active_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// activeAt reports whether the secret may sign and verify at now.
func (e ExtensionSecret) activeAt(now time.Time) bool {
	return !now.Before(e.ActiveAt) && now.Before(e.ExpiresAt)
}

func (e ExtensionSecret) key() []byte {
	b, _ := base64.StdEncoding.DecodeString(e.Content)
	return b
}

func newExtensionSecret(active time.Time) ExtensionSecret {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("twitchtest: crypto/rand failed: " + err.Error())
	}
	return ExtensionSecret{Content: base64.StdEncoding.EncodeToString(b), ActiveAt: active.UTC(), ExpiresAt: active.Add(ExtensionSecretLifetime).UTC()}
}

// PubsubPerms is the pubsub_perms claim: the PubSub targets a token may
// listen to and send to ("*" is a wildcard).
type PubsubPerms struct {
	Listen []string `json:"listen,omitempty"`
	Send   []string `json:"send,omitempty"`
}

// allows reports whether perms (listen or send list) covers target.
func permsAllow(perms []string, target string) bool {
	for _, p := range perms {
		if p == "*" || p == target {
			return true
		}
		if n := len(p); n > 1 && p[n-1] == '*' && len(target) >= n-1 && target[:n-1] == p[:n-1] {
			return true // "whisper-*"
		}
	}
	return false
}

// flexBool decodes a JSON boolean or the strings "true"/"false" (Twitch's
// own example payload shows is_unlinked as a string).
type flexBool bool

func (b *flexBool) UnmarshalJSON(p []byte) error {
	var v bool
	if err := json.Unmarshal(p, &v); err == nil {
		*b = flexBool(v)
		return nil
	}
	var s string
	if err := json.Unmarshal(p, &s); err != nil {
		return err
	}
	switch s {
	case "true":
		*b = true
	case "false", "":
		*b = false
	default:
		return fmt.Errorf("is_unlinked: %q is not a boolean", s)
	}
	return nil
}

// extClaims are the claims of extension JWTs: the front-end token, the EBS
// token (role external) and the Helix JWT (client_id, created_at).
type extClaims struct {
	jwt.RegisteredClaims
	OpaqueUserID string       `json:"opaque_user_id,omitempty"`
	UserID       string       `json:"user_id,omitempty"`
	ChannelID    string       `json:"channel_id,omitempty"`
	Role         string       `json:"role,omitempty"`
	IsUnlinked   *flexBool    `json:"is_unlinked,omitempty"`
	PubsubPerms  *PubsubPerms `json:"pubsub_perms,omitempty"`
	ClientID     string       `json:"client_id,omitempty"`
	CreatedAt    int64        `json:"created_at,omitempty"`
}

// secretsLocked returns the secrets of the extension client id, creating the
// first one (active since now) on first use. Callers hold s.mu for writing.
func (s *Server) secretsLocked(id string) ([]ExtensionSecret, error) {
	c, ok := s.clients[id]
	if !ok {
		return nil, ErrUnknownClient
	}
	if c.Type != Extension {
		return nil, ErrNotExtension
	}
	if s.helix.secrets == nil {
		s.helix.secrets = make(map[string][]ExtensionSecret)
	}
	sec, ok := s.helix.secrets[id]
	if !ok {
		sec = []ExtensionSecret{newExtensionSecret(s.now())}
		s.helix.secrets[id] = sec
		s.markDirty()
	}
	return sec, nil
}

// liveSecretsLocked drops the expired secrets of id and returns the others.
// Callers hold s.mu for writing.
func (s *Server) liveSecretsLocked(id string) ([]ExtensionSecret, error) {
	sec, err := s.secretsLocked(id)
	if err != nil {
		return nil, err
	}
	now := s.now()
	kept := slices.DeleteFunc(slices.Clone(sec), func(e ExtensionSecret) bool { return !now.Before(e.ExpiresAt) })
	if len(kept) != len(sec) {
		s.helix.secrets[id] = kept
		s.markDirty()
	}
	return slices.Clone(kept), nil
}

// ExtensionSecrets returns the unexpired secrets of the extension client
// clientID, oldest first; the first call creates its first secret.
func (s *Server) ExtensionSecrets(clientID string) ([]ExtensionSecret, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.liveSecretsLocked(clientID)
}

// RotateExtensionSecret creates a new secret for the extension client
// clientID that becomes active after delay; every older secret then stays
// valid for the overlap (one hour by default, WithExtensionSecretOverlap)
// after the new one becomes active. A delay of 0 is the developer console's
// "Create New Secret". It returns the secrets after the change.
func (s *Server) RotateExtensionSecret(clientID string, delay time.Duration) ([]ExtensionSecret, error) {
	if delay < 0 {
		return nil, fmt.Errorf("twitchtest: negative secret delay %v", delay)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rotateSecretLocked(clientID, delay)
}

func (s *Server) rotateSecretLocked(clientID string, delay time.Duration) ([]ExtensionSecret, error) {
	sec, err := s.liveSecretsLocked(clientID)
	if err != nil {
		return nil, err
	}
	overlap := s.cfg.secretOverlap
	if overlap <= 0 {
		overlap = DefaultExtensionSecretOverlap
	}
	active := s.now().Add(delay)
	end := active.Add(overlap).UTC()
	for i := range sec {
		if sec[i].ExpiresAt.After(end) {
			sec[i].ExpiresAt = end
		}
	}
	sec = append(sec, newExtensionSecret(active))
	s.helix.secrets[clientID] = sec
	s.markDirty()
	s.log.Info("extension secret rotated", "client_id", clientID, "active_at", active)
	return slices.Clone(sec), nil
}

// signingSecretLocked returns the active secret with the latest expiry, the
// one Twitch says to sign with.
func (s *Server) signingSecretLocked(clientID string) (ExtensionSecret, error) {
	sec, err := s.liveSecretsLocked(clientID)
	if err != nil {
		return ExtensionSecret{}, err
	}
	now := s.now()
	var best *ExtensionSecret
	for i := range sec {
		if sec[i].activeAt(now) && (best == nil || sec[i].ExpiresAt.After(best.ExpiresAt)) {
			best = &sec[i]
		}
	}
	if best == nil {
		return ExtensionSecret{}, fmt.Errorf("twitchtest: extension %s has no active secret", clientID)
	}
	return *best, nil
}

// verifyExtensionToken verifies an HS256 extension JWT against the active
// secrets of the extension client clientID (the Client-Id header). The
// token must carry exp; a client_id claim (Helix JWTs) must name clientID.
func (s *Server) verifyExtensionToken(clientID, token string) (*extClaims, error) {
	s.mu.Lock()
	sec, err := s.liveSecretsLocked(clientID)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	now := s.now()
	var keys []jwt.VerificationKey
	for _, e := range sec {
		if e.activeAt(now) {
			keys = append(keys, e.key())
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("twitchtest: no active extension secret")
	}
	var cl extClaims
	p := jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithTimeFunc(s.now), jwt.WithExpirationRequired())
	if _, err := p.ParseWithClaims(token, &cl, func(*jwt.Token) (any, error) {
		return jwt.VerificationKeySet{Keys: keys}, nil
	}); err != nil {
		return nil, err
	}
	if cl.ClientID != "" && cl.ClientID != clientID {
		return nil, errJWTClientMismatch
	}
	return &cl, nil
}

// ExtJWTOptions describes an extension JWT to mint: the front-end "token"
// of onAuthorized (roles broadcaster, moderator, viewer) or an EBS token
// (role external).
type ExtJWTOptions struct {
	// ClientID is the extension client; empty means ExtensionClient().
	ClientID string
	// ChannelID is the channel serving the extension (channel_id).
	ChannelID string
	// Role is broadcaster, moderator, viewer or external (required).
	Role string
	// UserID is set when the viewer shares their identity (and, for role
	// external, names the extension owner).
	UserID string
	// OpaqueUserID is "U…" for logged-in viewers and "A…" for anonymous
	// ones. Empty means: "U"+UserID when UserID is set, a new "A…" ID for a
	// viewer otherwise, none for role external.
	OpaqueUserID string
	// IsUnlinked: the viewer once shared their identity and revoked it.
	IsUnlinked bool
	// PubsubPerms is the pubsub_perms claim. Nil means, for front-end roles,
	// listen to broadcast, global and the viewer's whisper topic
	// (broadcasters may also send to broadcast and whispers); for role
	// external, no claim.
	PubsubPerms *PubsubPerms
	// TTL is the token's lifetime (default one hour).
	TTL time.Duration
}

// MintExtensionJWT signs an extension JWT (HS256, with the extension's
// active secret that expires last), as the Twitch extension helper hands to
// the front end or as an EBS signs for Helix.
func (s *Server) MintExtensionJWT(o ExtJWTOptions) (string, error) {
	tok, _, err := s.mintExtensionJWT(o)
	return tok, err
}

func (s *Server) mintExtensionJWT(o ExtJWTOptions) (string, time.Time, error) {
	switch o.Role {
	case RoleBroadcaster, RoleModerator, RoleViewer, RoleExternal:
	default:
		return "", time.Time{}, fmt.Errorf("twitchtest: extension role %q is not broadcaster, moderator, viewer or external", o.Role)
	}
	if o.TTL <= 0 {
		o.TTL = DefaultExtensionJWTLifetime
	}
	if o.ClientID == "" {
		o.ClientID = s.ExtensionClient().ID
	}
	if o.OpaqueUserID == "" && o.Role != RoleExternal {
		if o.UserID != "" {
			o.OpaqueUserID = "U" + o.UserID
		} else {
			o.OpaqueUserID = "A" + randString(20, mixedAlnum)
		}
	}
	if o.PubsubPerms == nil && o.Role != RoleExternal {
		o.PubsubPerms = &PubsubPerms{Listen: []string{"broadcast", "whisper-" + o.OpaqueUserID, "global"}}
		if o.Role == RoleBroadcaster {
			o.PubsubPerms.Send = []string{"broadcast", "whisper-*"}
		}
	}
	s.mu.Lock()
	sec, err := s.signingSecretLocked(o.ClientID)
	now := s.now()
	s.mu.Unlock()
	if err != nil {
		return "", time.Time{}, err
	}
	exp := now.Add(o.TTL).Truncate(time.Second)
	cl := extClaims{
		RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(exp)},
		OpaqueUserID:     o.OpaqueUserID,
		UserID:           o.UserID,
		ChannelID:        o.ChannelID,
		Role:             o.Role,
		PubsubPerms:      o.PubsubPerms,
	}
	if o.Role != RoleExternal {
		unl := flexBool(o.IsUnlinked)
		cl.IsUnlinked = &unl
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, cl).SignedString(sec.key())
	if err != nil {
		return "", time.Time{}, fmt.Errorf("twitchtest: sign extension JWT: %w", err)
	}
	return tok, exp, nil
}

// HelixJWTOptions describes a Helix JWT (onAuthorized's helixToken) to mint.
type HelixJWTOptions struct {
	// ClientID is the extension client; empty means ExtensionClient().
	ClientID string
	// OpaqueUserID identifies the viewer ("U…" or "A…", required).
	OpaqueUserID string
	// UserID is added as user_id when the viewer shares their identity; GET
	// /helix/users without parameters then answers with that user.
	UserID string
	// TTL is the token's lifetime (default one hour).
	TTL time.Duration
}

// MintHelixJWT signs a Helix JWT for an extension viewer: claims
// opaque_user_id, client_id, created_at and exp (plus user_id when given),
// HS256 with the extension's signing secret. Use it with the Extension
// authorization scheme on Helix.
func (s *Server) MintHelixJWT(o HelixJWTOptions) (string, error) {
	tok, _, err := s.mintHelixJWT(o)
	return tok, err
}

func (s *Server) mintHelixJWT(o HelixJWTOptions) (string, time.Time, error) {
	if o.OpaqueUserID == "" {
		return "", time.Time{}, errors.New("twitchtest: Helix JWT needs an opaque user ID")
	}
	if o.ClientID == "" {
		o.ClientID = s.ExtensionClient().ID
	}
	if o.TTL <= 0 {
		o.TTL = DefaultExtensionJWTLifetime
	}
	s.mu.Lock()
	sec, err := s.signingSecretLocked(o.ClientID)
	now := s.now()
	s.mu.Unlock()
	if err != nil {
		return "", time.Time{}, err
	}
	exp := now.Add(o.TTL).Truncate(time.Second)
	cl := extClaims{
		RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(exp)},
		OpaqueUserID:     o.OpaqueUserID,
		UserID:           o.UserID,
		ClientID:         o.ClientID,
		CreatedAt:        now.Unix(),
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, cl).SignedString(sec.key())
	if err != nil {
		return "", time.Time{}, fmt.Errorf("twitchtest: sign Helix JWT: %w", err)
	}
	return tok, exp, nil
}
