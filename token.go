package twitchauth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Token is a Twitch access token with what Twitch told us about it.
//
// Its String, GoString and LogValue methods redact the access, refresh and ID
// tokens, so printing or logging a Token does not leak them; read the fields
// to use them.
type Token struct {
	// AccessToken authorizes Helix requests.
	AccessToken string
	// RefreshToken obtains a new access token; empty for app tokens and
	// implicit-flow tokens. Twitch may rotate it on every refresh: always
	// store the new one.
	RefreshToken string
	// TokenType is "bearer".
	TokenType string
	// Expiry is when the access token expires; zero when unknown.
	Expiry time.Time
	// Scopes are the scopes granted.
	Scopes []string
	// UserID and Login identify the user; empty for app tokens and until
	// known (see Config.Identify).
	UserID string
	Login  string
	// ClientID is the client the token was issued to.
	ClientID string
	// IDToken is the raw OpenID Connect ID token (a JWT) when the
	// authorization asked for the openid scope; verify it with
	// an IDTokenVerifier (Config.NewIDTokenVerifier) before trusting it.
	IDToken string
}

// HasScope reports whether t was granted scope.
func (t *Token) HasScope(scope string) bool { return hasScope(t.Scopes, scope) }

// String describes the token without revealing it.
func (t Token) String() string {
	s := "twitchauth.Token{"
	if t.Login != "" || t.UserID != "" {
		s += fmt.Sprintf("login=%q user_id=%q ", t.Login, t.UserID)
	}
	if t.ClientID != "" {
		s += fmt.Sprintf("client_id=%q ", t.ClientID)
	}
	s += fmt.Sprintf("scopes=%q", t.Scopes)
	if !t.Expiry.IsZero() {
		s += " expiry=" + t.Expiry.UTC().Format(time.RFC3339)
	}
	return s + " access_token=REDACTED}"
}

// GoString is String, so %#v does not reveal the token either.
func (t Token) GoString() string { return t.String() }

// LogValue logs the token's identity and scopes, never its secrets.
func (t Token) LogValue() slog.Value {
	var attrs []slog.Attr
	if t.UserID != "" {
		attrs = append(attrs, slog.String("user_id", t.UserID), slog.String("login", t.Login))
	}
	if t.ClientID != "" {
		attrs = append(attrs, slog.String("client_id", t.ClientID))
	}
	attrs = append(attrs, slog.Any("scopes", t.Scopes))
	if !t.Expiry.IsZero() {
		attrs = append(attrs, slog.Time("expiry", t.Expiry))
	}
	return slog.GroupValue(attrs...)
}

// Keys under which OAuth2 and FromOAuth2 keep the Twitch fields in
// oauth2.Token's extra data.
const (
	extraScope    = "scope"
	extraUserID   = "user_id"
	extraLogin    = "login"
	extraClientID = "client_id"
	extraIDToken  = "id_token"
)

// OAuth2 converts t to an *oauth2.Token for use with golang.org/x/oauth2.
// Scopes, user ID, login, client ID and ID token travel in its extra data
// (oauth2.Token.Extra) so that FromOAuth2 gives them back.
func (t *Token) OAuth2() *oauth2.Token {
	tt := t.TokenType
	if tt == "" {
		tt = "bearer"
	}
	o := &oauth2.Token{
		AccessToken:  t.AccessToken,
		TokenType:    tt,
		RefreshToken: t.RefreshToken,
		Expiry:       t.Expiry,
	}
	extra := map[string]any{extraScope: append([]string{}, t.Scopes...)}
	for k, v := range map[string]string{
		extraUserID: t.UserID, extraLogin: t.Login, extraClientID: t.ClientID, extraIDToken: t.IDToken,
	} {
		if v != "" {
			extra[k] = v
		}
	}
	return o.WithExtra(extra)
}

// FromOAuth2 converts an *oauth2.Token back to a Token, reading the Twitch
// fields from its extra data: those set by Token.OAuth2, or the raw token
// response when x/oauth2 itself fetched the token (scope as a JSON array or a
// space-delimited string).
func FromOAuth2(o *oauth2.Token) *Token {
	if o == nil {
		return nil
	}
	t := &Token{
		AccessToken:  o.AccessToken,
		RefreshToken: o.RefreshToken,
		TokenType:    o.TokenType,
		Expiry:       o.Expiry,
	}
	t.Scopes = scopesFromAny(o.Extra(extraScope))
	t.UserID = stringFromAny(o.Extra(extraUserID))
	t.Login = stringFromAny(o.Extra(extraLogin))
	t.ClientID = stringFromAny(o.Extra(extraClientID))
	t.IDToken = stringFromAny(o.Extra(extraIDToken))
	return t
}

func stringFromAny(v any) string {
	s, _ := v.(string)
	return s
}

func scopesFromAny(v any) []string {
	switch v := v.(type) {
	case []string:
		return cleanScopes(v)
	case []any:
		out := make([]string, 0, len(v))
		for _, s := range v {
			if s, ok := s.(string); ok {
				out = append(out, s)
			}
		}
		return cleanScopes(out)
	case string:
		return cleanScopes(strings.Fields(v))
	}
	return nil
}

// cleanScopes drops empty entries (twitch-cli's mock answers [""], docs/protocol.md#twitch-cli-compatibility); it never
// returns nil for a non-nil input so that "no scopes" stays an empty list.
func cleanScopes(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func hasScope(scopes []string, scope string) bool {
	for _, s := range scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// TokenInfo is what Validate learned about an access token.
type TokenInfo struct {
	// ClientID is the client the token was issued to.
	ClientID string
	// Login and UserID identify the user; empty for an app token.
	Login  string
	UserID string
	// Scopes are the token's scopes (empty, never nil, when it has none).
	Scopes []string
	// ExpiresIn is how long the token remains valid, as of the call.
	ExpiresIn time.Duration
}

// IsApp reports whether the token is an app access token (it has no user).
func (i *TokenInfo) IsApp() bool { return i.UserID == "" }

// scopeList decodes a scope field sent as a JSON array, a space-delimited
// string or null.
type scopeList []string

func (s *scopeList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*s = scopeList{}
		return nil
	case len(b) > 0 && b[0] == '"':
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		*s = cleanScopes(strings.Fields(str))
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	*s = cleanScopes(list)
	return nil
}

// tokenResponse is the body of a successful POST /token.
type tokenResponse struct {
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token"`
	ExpiresIn    int64     `json:"expires_in"`
	Scope        scopeList `json:"scope"`
	TokenType    string    `json:"token_type"`
	IDToken      string    `json:"id_token"`
}

func (r *tokenResponse) token(clientID string, now time.Time) *Token {
	t := &Token{
		AccessToken:  r.AccessToken,
		RefreshToken: r.RefreshToken,
		TokenType:    r.TokenType,
		Scopes:       []string(r.Scope),
		ClientID:     clientID,
		IDToken:      r.IDToken,
	}
	if t.Scopes == nil {
		t.Scopes = []string{}
	}
	if t.TokenType == "" {
		t.TokenType = "bearer"
	}
	if d, known := lifetime(r.ExpiresIn); known {
		t.Expiry = now.Add(d) // a negative expires_in: expired now
	}
	return t
}

// validateResponse is the body of a successful GET /validate.
type validateResponse struct {
	ClientID  string    `json:"client_id"`
	Login     string    `json:"login"`
	UserID    string    `json:"user_id"`
	Scopes    scopeList `json:"scopes"`
	ExpiresIn int64     `json:"expires_in"`
}
