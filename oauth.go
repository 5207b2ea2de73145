package twitchauth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// AppToken gets an app access token with the client credentials grant. App
// tokens have no refresh token: get a new one when it expires.
func (c *Config) AppToken(ctx context.Context) (*Token, error) {
	if c.ClientSecret == "" {
		return nil, fmt.Errorf("twitchauth: an app token needs the client secret: %w", ErrMissingClientSecret)
	}
	return c.postToken(ctx, url.Values{
		"client_id":     {c.ClientID},
		"client_secret": {c.ClientSecret},
		"grant_type":    {"client_credentials"},
	})
}

// ResponseType is the response_type of an authorization request.
type ResponseType string

// The response types Twitch supports.
const (
	// ResponseCode asks for an authorization code (the default), to be
	// exchanged with ExchangeCode. With the openid scope the exchange also
	// returns an ID token.
	ResponseCode ResponseType = "code"
	// ResponseToken asks for an access token in the redirect's fragment
	// (implicit flow); see ParseImplicitFragment and ImplicitPage.
	ResponseToken ResponseType = "token"
	// ResponseIDToken asks for an OpenID Connect ID token alone.
	ResponseIDToken ResponseType = "id_token"
	// ResponseTokenIDToken asks for an access token and an ID token.
	ResponseTokenIDToken ResponseType = "token id_token"
)

// openID reports whether rt always needs the openid scope.
func (rt ResponseType) openID() bool { return strings.Contains(string(rt), "id_token") }

type authParams struct {
	responseType ResponseType
	scopes       []string
	forceVerify  bool
	nonce        string
	claims       string
}

// AuthOption changes an authorization request built by AuthorizeURL.
type AuthOption func(*authParams)

// WithResponseType selects the response type (default ResponseCode).
func WithResponseType(rt ResponseType) AuthOption {
	return func(p *authParams) { p.responseType = rt }
}

// WithScopes requests scopes instead of Config.Scopes.
func WithScopes(scopes ...string) AuthOption {
	return func(p *authParams) { p.scopes = scopes }
}

// ForceVerify makes Twitch ask the user to authorize again even if they
// already did (force_verify=true), for example to switch accounts.
func ForceVerify() AuthOption {
	return func(p *authParams) { p.forceVerify = true }
}

// Nonce asks for an OpenID Connect ID token: it adds the openid scope and
// sets the nonce, echoed in the ID token; pass the same value to
// IDTokenVerifier.Verify. NewState makes a good one. (The id_token response
// types add the openid scope by themselves; so does listing it in
// Config.Scopes or WithScopes.)
func Nonce(nonce string) AuthOption {
	return func(p *authParams) { p.nonce = nonce }
}

// ClaimsRequest names the optional OpenID Connect claims to ask for, for
// example "email", "email_verified", "picture", "preferred_username",
// "updated_at" (email needs the user:read:email scope).
type ClaimsRequest struct {
	// IDToken claims are added to the ID token.
	IDToken []string
	// UserInfo claims are returned by the UserInfo endpoint.
	UserInfo []string
}

// Claims asks for optional OpenID Connect claims; it is sent as the claims
// parameter, JSON such as {"id_token":{"email":null},"userinfo":{"picture":null}}.
func Claims(req ClaimsRequest) AuthOption {
	obj := map[string]map[string]any{}
	add := func(key string, names []string) {
		if len(names) == 0 {
			return
		}
		m := map[string]any{}
		for _, n := range names {
			m[n] = nil
		}
		obj[key] = m
	}
	add("id_token", req.IDToken)
	add("userinfo", req.UserInfo)
	b, _ := json.Marshal(obj) // maps of strings to nil always marshal; keys are sorted
	return func(p *authParams) { p.claims = string(b) }
}

// AuthorizeURL returns the URL of Twitch's consent page for the user to
// visit. state should come from NewState and be kept (in a cookie, a session)
// to check the redirect with HandleCallback or CheckState. Scopes are
// Config.Scopes unless WithScopes says otherwise; the URL is correctly
// encoded (scopes space-delimited).
func (c *Config) AuthorizeURL(state string, opts ...AuthOption) string {
	p := authParams{responseType: ResponseCode, scopes: c.Scopes}
	for _, o := range opts {
		o(&p)
	}
	scopes := append([]string{}, p.scopes...)
	if (p.nonce != "" || p.responseType.openID()) && !hasScope(scopes, "openid") {
		scopes = append(scopes, "openid")
	}
	v := url.Values{
		"client_id":     {c.ClientID},
		"redirect_uri":  {c.RedirectURI},
		"response_type": {string(p.responseType)},
		"scope":         {strings.Join(dedupe(scopes), " ")},
	}
	if state != "" {
		v.Set("state", state)
	}
	if p.forceVerify {
		v.Set("force_verify", "true")
	}
	if p.nonce != "" {
		v.Set("nonce", p.nonce)
	}
	if p.claims != "" {
		v.Set("claims", p.claims)
	}
	return c.idURL("/authorize") + "?" + v.Encode()
}

func dedupe(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if s != "" && !hasScope(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// NewState returns a fresh random value (256 bits from crypto/rand,
// URL-safe base64) for the OAuth state parameter or the OpenID nonce.
func NewState() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails: crypto/rand.Read crashes the program rather than return an error
	return base64.RawURLEncoding.EncodeToString(b)
}

// CheckState reports, in constant time, whether the state echoed by a
// redirect (got) is the one sent (want). An empty want never matches.
func CheckState(want, got string) bool {
	if want == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// ExchangeCode trades an authorization code for a user token (authorization
// code grant) and fills in the token's user with one Validate call. When the
// authorization asked for openid the token carries an IDToken.
// A code is single-use: a second exchange fails with ErrInvalidCode.
func (c *Config) ExchangeCode(ctx context.Context, code string) (*Token, error) {
	if code == "" {
		return nil, fmt.Errorf("twitchauth: no authorization code: %w", ErrInvalidCode)
	}
	form := url.Values{
		"client_id":    {c.ClientID},
		"code":         {code},
		"grant_type":   {"authorization_code"},
		"redirect_uri": {c.RedirectURI},
	}
	if c.ClientSecret != "" {
		form.Set("client_secret", c.ClientSecret)
	}
	tok, err := c.postToken(ctx, form)
	if err != nil {
		return nil, err
	}
	if err := c.Identify(ctx, tok); err != nil {
		return nil, err
	}
	return tok, nil
}

// HandleCallback completes the authorization code flow in the handler of the
// redirect URI: it checks the state against wantState in constant time
// (ErrStateMismatch), maps an error the redirect carries (ErrAccessDenied,
// ErrRedirectMismatch, or an *APIError), refuses a missing code
// (ErrInvalidCode) and exchanges the code with ExchangeCode.
// q is the redirect's query (r.URL.Query() in the handler).
func (c *Config) HandleCallback(ctx context.Context, q url.Values, wantState string) (*Token, error) {
	if !CheckState(wantState, q.Get("state")) {
		return nil, ErrStateMismatch
	}
	if e := q.Get("error"); e != "" {
		return nil, callbackError(e, q.Get("error_description"))
	}
	code := q.Get("code")
	if code == "" {
		return nil, fmt.Errorf("twitchauth: the redirect carries no code: %w", ErrInvalidCode)
	}
	return c.ExchangeCode(ctx, code)
}

// Refresh trades a refresh token for a new token. The client secret is sent
// when configured; a public client refreshes without it (a confidential client
// without it gets ErrMissingClientSecret). Twitch may rotate the refresh
// token (public clients' are single-use): store the returned RefreshToken.
// The returned token's user is not filled in: carry it over from the old one.
func (c *Config) Refresh(ctx context.Context, refreshToken string) (*Token, error) {
	if refreshToken == "" {
		return nil, fmt.Errorf("twitchauth: no refresh token: %w", ErrInvalidRefreshToken)
	}
	form := url.Values{
		"client_id":     {c.ClientID},
		"grant_type":    {"refresh_token"},
		"refresh_token": {refreshToken},
	}
	if c.ClientSecret != "" {
		form.Set("client_secret", c.ClientSecret)
	}
	return c.postToken(ctx, form)
}

// Validate asks Twitch about an access token (GET /validate with
// "Authorization: OAuth <token>"). Twitch requires apps to validate their
// tokens at start-up and hourly. An invalid token gives ErrInvalidToken.
func (c *Config) Validate(ctx context.Context, accessToken string) (*TokenInfo, error) {
	if accessToken == "" {
		return nil, fmt.Errorf("twitchauth: no access token to validate: %w", ErrInvalidToken)
	}
	var vr validateResponse
	err := c.do(ctx, request{
		endpoint: "validate",
		method:   http.MethodGet,
		url:      c.idURL("/validate"),
		header:   http.Header{"Authorization": {"OAuth " + accessToken}},
	}, &vr)
	if err != nil {
		return nil, err
	}
	if vr.ExpiresIn < 0 {
		// Valid yet expired: contradictory, unlike a refresh answer
		// there is nothing to keep.
		return nil, fmt.Errorf("%w: validate: negative expires_in", ErrMalformedResponse)
	}
	ttl, _ := lifetime(vr.ExpiresIn)
	info := &TokenInfo{
		ClientID:  vr.ClientID,
		Login:     vr.Login,
		UserID:    vr.UserID,
		Scopes:    []string(vr.Scopes),
		ExpiresIn: ttl,
	}
	if info.Scopes == nil {
		info.Scopes = []string{}
	}
	return info, nil
}

// Identify fills in t's UserID, Login and ClientID (and its Scopes and
// Expiry when unknown) by validating its access token. ExchangeCode and
// PollDevice call it; use it for implicit-flow tokens, whose redirect
// carries no lifetime.
func (c *Config) Identify(ctx context.Context, t *Token) error {
	info, err := c.Validate(ctx, t.AccessToken)
	if err != nil {
		return fmt.Errorf("twitchauth: identifying the new token: %w", err)
	}
	t.UserID, t.Login = info.UserID, info.Login
	if info.ClientID != "" {
		t.ClientID = info.ClientID
	}
	if len(t.Scopes) == 0 {
		t.Scopes = info.Scopes
	}
	if t.Expiry.IsZero() && info.ExpiresIn > 0 {
		t.Expiry = time.Now().Add(info.ExpiresIn)
	}
	return nil
}

type revokeParams struct{ clientID string }

// RevokeOption changes a Revoke call.
type RevokeOption func(*revokeParams)

// RevokeClientID revokes a token issued to another client ID than the
// Config's (like `twitch token -r TOKEN --client-id ID`).
func RevokeClientID(clientID string) RevokeOption {
	return func(p *revokeParams) { p.clientID = clientID }
}

// Revoke revokes an access token (POST /revoke; no secret needed). An invalid
// token gives ErrInvalidToken, an unknown client ErrInvalidClient.
func (c *Config) Revoke(ctx context.Context, token string, opts ...RevokeOption) error {
	p := revokeParams{clientID: c.ClientID}
	for _, o := range opts {
		o(&p)
	}
	if token == "" {
		return fmt.Errorf("twitchauth: no token to revoke: %w", ErrInvalidToken)
	}
	return c.do(ctx, request{
		endpoint: "revoke",
		method:   http.MethodPost,
		url:      c.idURL("/revoke"),
		form:     url.Values{"client_id": {p.clientID}, "token": {token}},
	}, nil)
}
