package token

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/twitchauth/twitchauth"
)

// Result is what `token` prints: one JSON object with --json, or
// twitch-cli-style lines. Fields that do not apply are omitted from the JSON;
// scopes is always present for a token (an empty array when it has none).
type Result struct {
	// Kind is "app" or "user".
	Kind         string `json:"kind"`
	AccessToken  string `json:"access_token,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	// TokenType is the OAuth token type, "bearer".
	TokenType string `json:"token_type,omitempty"`
	// ExpiresIn is the number of seconds the token remains valid.
	ExpiresIn int64 `json:"expires_in,omitempty"`
	// ExpiresAt is the expiry in RFC 3339 (UTC).
	ExpiresAt string   `json:"expires_at,omitempty"`
	Scopes    []string `json:"scopes"`
	ClientID  string   `json:"client_id,omitempty"`
	UserID    string   `json:"user_id,omitempty"`
	Login     string   `json:"login,omitempty"`
	// Cached is true when a user token came from the token store instead
	// of a new login.
	Cached bool `json:"cached,omitempty"`

	expiry time.Time
	op     string // "app", "user", "refresh", "validate"
}

// RevokeResult is what `token -r` prints with --json.
type RevokeResult struct {
	Revoked  bool   `json:"revoked"`
	ClientID string `json:"client_id,omitempty"`
}

func tokenResult(op string, t *twitchauth.Token, now time.Time) *Result {
	kind := "user"
	if op == "app" {
		kind = "app"
	}
	tt := t.TokenType
	if tt == "" {
		tt = "bearer"
	}
	r := &Result{
		Kind: kind, op: op,
		AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, TokenType: tt,
		Scopes:   nonNil(t.Scopes),
		ClientID: t.ClientID, UserID: t.UserID, Login: t.Login,
	}
	r.setExpiry(t.Expiry, now)
	return r
}

func validateResult(info *twitchauth.TokenInfo, now time.Time) *Result {
	kind := "user"
	if info.IsApp() {
		kind = "app"
	}
	r := &Result{
		Kind: kind, op: "validate",
		Scopes:   nonNil(info.Scopes),
		ClientID: info.ClientID, UserID: info.UserID, Login: info.Login,
	}
	if info.ExpiresIn > 0 {
		r.setExpiry(now.Add(info.ExpiresIn), now)
	}
	return r
}

func (r *Result) setExpiry(exp, now time.Time) {
	if exp.IsZero() {
		return
	}
	r.expiry = exp
	r.ExpiresAt = exp.UTC().Format(time.RFC3339)
	if d := exp.Sub(now); d > 0 {
		r.ExpiresIn = int64(d.Round(time.Second) / time.Second)
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}

// write prints r as JSON or as human lines.
func (r *Result) write(w io.Writer, asJSON bool) error {
	if asJSON {
		return writeJSON(w, r)
	}
	var lines []string
	add := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
	expiresAt := ""
	if !r.expiry.IsZero() {
		expiresAt = r.expiry.Local().Format(time.RFC3339)
	}
	switch r.op {
	case "app":
		add("App Access Token: %s", r.AccessToken)
		if expiresAt != "" {
			add("Expires At: %s", expiresAt)
		}
	case "validate":
		add("Client ID: %s", r.ClientID)
		if r.Kind == "app" {
			add("Token Type: App Access Token")
		} else {
			add("Token Type: User Access Token")
			add("User ID: %s", r.UserID)
			add("Login: %s", r.Login)
		}
		if expiresAt != "" {
			add("Expires In: %d seconds (at %s)", r.ExpiresIn, expiresAt)
		} else {
			add("Expires In: never")
		}
		add("Scopes: %v", r.Scopes)
	default: // "user", "refresh"
		if r.op == "refresh" {
			add("Access Token: %s", r.AccessToken)
		} else {
			add("User Access Token: %s", r.AccessToken)
		}
		add("Refresh Token: %s", r.RefreshToken)
		if expiresAt != "" {
			add("Expires At: %s", expiresAt)
		}
		add("Scopes: %v", r.Scopes)
		if r.UserID != "" {
			add("User ID: %s", r.UserID)
			add("Login: %s", r.Login)
		}
	}
	for _, l := range lines {
		if _, err := fmt.Fprintln(w, l); err != nil {
			return err
		}
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
