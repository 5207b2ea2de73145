package twitchauth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// IDTokenClaims are the verified claims of an OpenID Connect ID token.
type IDTokenClaims struct {
	// Issuer is the identity base URL (https://id.twitch.tv/oauth2).
	Issuer string `json:"iss"`
	// Subject is the user's Twitch user ID.
	Subject string `json:"sub"`
	// Audience holds the client ID the token was issued to.
	Audience []string `json:"-"`
	// AuthorizedParty is the azp claim (the client ID).
	AuthorizedParty string `json:"azp"`
	// Nonce is the nonce sent with the authorization request.
	Nonce string `json:"nonce"`
	// PreferredUsername is the user's display name.
	PreferredUsername string `json:"preferred_username"`
	// Email, EmailVerified, Picture and UpdatedAt are present when asked for
	// with Claims (email needs the user:read:email scope).
	Email         string `json:"email"`
	EmailVerified bool   `json:"-"`
	Picture       string `json:"picture"`
	UpdatedAt     string `json:"updated_at"`

	// Expiry and IssuedAt come from exp and iat.
	Expiry   time.Time `json:"-"`
	IssuedAt time.Time `json:"-"`

	// Raw is the ID token's claims as JSON, for claims not listed here.
	Raw json.RawMessage `json:"-"`
}

// IDTokenVerifier verifies ID tokens against the issuer's discovery document
// and signing keys (JWKS), which it fetches once and caches (refetching the
// keys when an unknown key ID appears). Build one with NewIDTokenVerifier and
// keep it; it is safe for concurrent use.
type IDTokenVerifier struct {
	verifier *oidc.IDTokenVerifier
}

// NewIDTokenVerifier fetches the OpenID Connect discovery document of the
// configured identity endpoint (its issuer must equal Endpoints.IDURL) and
// returns a verifier for ID tokens issued to Config.ClientID. Signature
// checks use github.com/coreos/go-oidc/v3 and the issuer's JWKS.
func (c *Config) NewIDTokenVerifier(ctx context.Context) (*IDTokenVerifier, error) {
	ctx = oidc.ClientContext(ctx, c.httpClient())
	provider, err := oidc.NewProvider(ctx, c.issuer())
	if err != nil {
		return nil, fmt.Errorf("twitchauth: OpenID Connect discovery: %w", err)
	}
	v := provider.VerifierContext(ctx, &oidc.Config{ClientID: c.ClientID})
	return &IDTokenVerifier{verifier: v}, nil
}

// Verify checks rawIDToken's signature, issuer, audience and expiry, and that
// its nonce equals nonce: pass the value sent with the Nonce option, or ""
// if none was sent (a token carrying a nonce is then refused). Failures match
// ErrInvalidIDToken.
func (v *IDTokenVerifier) Verify(ctx context.Context, rawIDToken, nonce string) (*IDTokenClaims, error) {
	if rawIDToken == "" {
		return nil, fmt.Errorf("%w: empty", ErrInvalidIDToken)
	}
	idt, err := v.verifier.Verify(ctx, rawIDToken)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidIDToken, err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return nil, fmt.Errorf("%w: nonce mismatch", ErrInvalidIDToken)
	}
	var raw json.RawMessage
	if err := idt.Claims(&raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidIDToken, err)
	}
	claims := &IDTokenClaims{}
	if err := json.Unmarshal(raw, claims); err != nil {
		return nil, fmt.Errorf("%w: malformed claims: %w", ErrInvalidIDToken, err)
	}
	claims.Issuer, claims.Subject, claims.Audience = idt.Issuer, idt.Subject, idt.Audience
	claims.Expiry, claims.IssuedAt = idt.Expiry, idt.IssuedAt
	claims.EmailVerified = emailVerified(raw)
	claims.Raw = raw
	return claims, nil
}

// UserInfo is the answer of the OpenID Connect UserInfo endpoint.
type UserInfo struct {
	// Subject is the user's Twitch user ID.
	Subject string `json:"sub"`
	// PreferredUsername is the user's display name.
	PreferredUsername string `json:"preferred_username"`
	// Email, EmailVerified, Picture and UpdatedAt are present when asked for
	// with Claims (email needs the user:read:email scope).
	Email         string `json:"email"`
	EmailVerified bool   `json:"-"`
	Picture       string `json:"picture"`
	UpdatedAt     string `json:"updated_at"`

	// Raw is the endpoint's JSON answer, for claims not listed here.
	Raw json.RawMessage `json:"-"`
}

// UserInfo asks the OpenID Connect UserInfo endpoint about the user of an
// access token that was granted the openid scope ("Authorization: Bearer").
// An invalid token gives ErrInvalidToken.
func (c *Config) UserInfo(ctx context.Context, accessToken string) (*UserInfo, error) {
	if accessToken == "" {
		return nil, fmt.Errorf("twitchauth: no access token for userinfo: %w", ErrInvalidToken)
	}
	var raw json.RawMessage
	err := c.do(ctx, request{
		endpoint: "userinfo",
		method:   http.MethodGet,
		url:      c.idURL("/userinfo"),
		header:   http.Header{"Authorization": {"Bearer " + accessToken}},
	}, &raw)
	if err != nil {
		return nil, err
	}
	u := &UserInfo{}
	if err := json.Unmarshal(raw, u); err != nil {
		return nil, fmt.Errorf("twitchauth: userinfo: malformed response: %w", err)
	}
	u.EmailVerified = emailVerified(raw)
	u.Raw = raw
	return u, nil
}

// flexBool decodes a JSON boolean also sent as a string ("true").
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case bool:
		*b = flexBool(v)
	case string:
		*b = flexBool(v == "true")
	}
	return nil
}

// emailVerified reads email_verified, sent as a boolean or a string.
func emailVerified(raw []byte) bool {
	var v struct {
		EmailVerified flexBool `json:"email_verified"`
	}
	_ = json.Unmarshal(raw, &v)
	return bool(v.EmailVerified)
}
