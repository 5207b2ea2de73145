package twitchauth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Sentinel errors. Errors returned by this package match them with errors.Is;
// an *APIError carries the details Twitch sent.
var (
	// ErrInvalidRefreshToken: the refresh token is unknown, was already used
	// (public clients rotate them) or the user revoked the grant. The user
	// must authorize again.
	ErrInvalidRefreshToken = errors.New("twitchauth: invalid refresh token")
	// ErrAuthorizationPending: the device-flow user has not answered yet.
	ErrAuthorizationPending = errors.New("twitchauth: authorization pending")
	// ErrSlowDown: the device flow was polled faster than allowed.
	ErrSlowDown = errors.New("twitchauth: slow down")
	// ErrAccessDenied: the user declined the authorization.
	ErrAccessDenied = errors.New("twitchauth: the user denied access")
	// ErrInvalidToken: the access token is invalid, expired or revoked.
	ErrInvalidToken = errors.New("twitchauth: invalid access token")
	// ErrInvalidClient: Twitch does not know the client ID.
	ErrInvalidClient = errors.New("twitchauth: invalid client ID")
	// ErrInvalidClientSecret: Twitch refused the client secret.
	ErrInvalidClientSecret = errors.New("twitchauth: client secret refused")
	// ErrMissingClientSecret: the request needs the client secret (a
	// confidential client) and none was configured.
	ErrMissingClientSecret = errors.New("twitchauth: missing client secret")
	// ErrRedirectMismatch: the redirect URI does not exactly match one
	// registered for the application.
	ErrRedirectMismatch = errors.New("twitchauth: redirect URI does not match a registered one")
	// ErrDeviceCodeExpired: the device code expired or was already used.
	ErrDeviceCodeExpired = errors.New("twitchauth: device code expired")
	// ErrInvalidCode: the authorization code is missing, unknown, expired or
	// already used.
	ErrInvalidCode = errors.New("twitchauth: invalid authorization code")
	// ErrStateMismatch: the OAuth state echoed by the redirect is not the one
	// sent; the response must be ignored.
	ErrStateMismatch = errors.New("twitchauth: OAuth state mismatch")
	// ErrMalformedResponse: Twitch (or the configured server) answered
	// 200 with a body lacking what the protocol requires, such as a token
	// answer without access_token.
	ErrMalformedResponse = errors.New("twitchauth: malformed response")
	// ErrInvalidIDToken: an OpenID Connect ID token failed verification
	// (signature, issuer, audience, expiry or nonce).
	ErrInvalidIDToken = errors.New("twitchauth: invalid ID token")
	// ErrMissingScopes: a user's grant lacks scopes a call needs. It is
	// matched by *MissingScopesError (refused before sending) and by a
	// *HelixError whose 401 or 403 names a missing scope.
	ErrMissingScopes = errors.New("twitchauth: the grant lacks required scopes")
	// ErrUnauthorized: Helix answered 401. The token was refused even after
	// one refresh, or a scope is missing (then ErrMissingScopes matches too).
	ErrUnauthorized = errors.New("twitchauth: Helix refused the credentials (401)")
	// ErrRateLimited: Helix answered 429 Too Many Requests, or waiting for
	// the rate-limit bucket would outlast the request's context deadline.
	// Retry after the bucket's reset (HelixError.Reset, when known).
	ErrRateLimited = errors.New("twitchauth: Helix rate limit reached")
	// ErrResponseTooLarge: a response body exceeds 1 MiB.
	ErrResponseTooLarge = errors.New("twitchauth: response body larger than 1 MiB refused")
)

// MissingScopesError says which scopes a user's grant lacks, and what
// needs them. The Transport returns it without sending the request when the
// user token's scopes cannot satisfy the endpoint's requirement (package
// scopes); provider.Provider.TokenWithScopes returns it too. Ask the user to
// authorize again with the Missing scopes: AuthorizeURL with WithScopes, or
// the CLI's `twitchauth token -u --for ENDPOINT`.
type MissingScopesError struct {
	// UserID is the user whose grant lacks the scopes; empty if unknown.
	UserID string
	// Endpoint names what needs them: "GET /polls", or an EventSub
	// subscription type such as "channel.chat.message v1"; empty for
	// Provider.TokenWithScopes.
	Endpoint string
	// Required is the endpoint's whole requirement, such as
	// "channel:read:polls or channel:manage:polls"; empty for
	// Provider.TokenWithScopes, where every scope asked for is required.
	Required string
	// Missing is the smallest set of scopes that, added to the grant,
	// satisfies the requirement.
	Missing []string
}

// Error says what lacks which scopes and how to get them.
func (e *MissingScopesError) Error() string {
	who := "the grant of user " + e.UserID
	if e.UserID == "" {
		who = "the user's grant"
	}
	missing := strings.Join(e.Missing, " ")
	if e.Endpoint == "" {
		return fmt.Sprintf("twitchauth: %s lacks the scopes %s; ask the user to authorize again with them", who, missing)
	}
	return fmt.Sprintf("twitchauth: %s needs %s, which %s lacks (the request was not sent): ask the user to authorize again adding %s "+
		"(AuthorizeURL with WithScopes, or `twitchauth token -u --for %q`); if Twitch changed the requirement, TransportConfig.NoScopeCheck turns this check off",
		e.Endpoint, e.Required, who, missing, e.Endpoint)
}

// Is makes errors.Is(err, ErrMissingScopes) true.
func (e *MissingScopesError) Is(target error) bool { return target == ErrMissingScopes }

// hints tell the reader what to do about a refusal.
var hints = map[error]string{
	ErrInvalidRefreshToken: "the refresh token is invalid, used or revoked; the user must authorize again",
	ErrAccessDenied:        "the user declined the authorization",
	ErrInvalidToken:        "the access token is invalid, expired or revoked; refresh it or authorize again",
	ErrInvalidClient:       "Twitch does not know this client ID; check it in the Twitch developer console (https://dev.twitch.tv/console/apps)",
	ErrInvalidClientSecret: "the client secret was refused; check it, or rotate it in the Twitch developer console (https://dev.twitch.tv/console/apps) and update your configuration",
	ErrMissingClientSecret: "this is a confidential client: configure its client secret",
	ErrRedirectMismatch:    "the redirect URI must exactly match one registered in the Twitch developer console (http://localhost:3000 has no trailing slash)",
	ErrDeviceCodeExpired:   "the device code expired or was already used; start the device flow again",
	ErrInvalidCode:         "the authorization code is invalid, expired or already used; authorize again",
}

// APIError is a refusal from Twitch: a non-2xx answer, with the
// {"status":N,"message":"..."} body it carried. It matches the sentinel
// errors (ErrInvalidRefreshToken, ErrInvalidClientSecret, …) that its status
// and message denote.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Message is the message as Twitch sent it (its casing varies), or the
	// HTTP status text when the body carried none.
	Message string
	// Endpoint names the endpoint that answered: "token", "validate",
	// "revoke", "device", "userinfo", or "authorize" for errors carried back
	// by the authorization redirect.
	Endpoint string

	kinds []error
}

// newAPIError builds an APIError and classifies it.
func newAPIError(endpoint string, status int, message string) *APIError {
	e := &APIError{Status: status, Message: message, Endpoint: endpoint}
	e.kinds = classify(endpoint, status, message)
	return e
}

// Error says what was refused and, for known refusals, what to do about it.
// It contains Twitch's message but never a request parameter.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "twitchauth: %s refused", e.Endpoint)
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %q", e.Message)
	}
	for _, k := range e.kinds {
		if h, ok := hints[k]; ok {
			b.WriteString(": ")
			b.WriteString(h)
			break
		}
	}
	return b.String()
}

// Unwrap returns the sentinel errors this refusal matches.
func (e *APIError) Unwrap() []error { return e.kinds }

// classify maps a status and message (case-insensitively) to sentinels (docs/protocol.md#identity-error-messages).
func classify(endpoint string, status int, message string) []error {
	m := strings.ToLower(strings.TrimSpace(message))
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(m, s) {
				return true
			}
		}
		return false
	}
	switch {
	case has("invalid refresh token"):
		return []error{ErrInvalidRefreshToken}
	case has("authorization_pending", "authorization pending"):
		return []error{ErrAuthorizationPending}
	case has("slow_down", "slow down"):
		return []error{ErrSlowDown}
	case has("invalid device code", "expired_token", "device code expired", "expired device code"):
		return []error{ErrDeviceCodeExpired}
	case has("access_denied", "access denied", "denied you access"):
		return []error{ErrAccessDenied}
	case has("missing client secret"):
		return []error{ErrMissingClientSecret}
	case has("invalid client secret"):
		return []error{ErrInvalidClientSecret}
	case has("client id/secret invalid"):
		// twitch-cli's mock server does not say which of the two is wrong.
		return []error{ErrInvalidClient, ErrInvalidClientSecret}
	case has("invalid client", "client does not exist", "invalid_client"):
		return []error{ErrInvalidClient}
	case has("redirect_mismatch", "redirect_uri does not match", "redirect uri does not match"):
		return []error{ErrRedirectMismatch}
	case has("invalid authorization code", "invalid code"):
		return []error{ErrInvalidCode}
	case has("invalid access token", "invalid oauth token", "invalid token", "token expired", "oauth token is missing"):
		return []error{ErrInvalidToken}
	}
	switch {
	case status == http.StatusUnauthorized && (endpoint == "validate" || endpoint == "userinfo"):
		return []error{ErrInvalidToken}
	case status == http.StatusForbidden && endpoint == "token":
		return []error{ErrInvalidClientSecret}
	}
	return nil
}

// callbackError maps the error parameter of an authorization redirect.
func callbackError(code, description string) error {
	msg := description
	if msg == "" {
		msg = code
	}
	if len(msg) > 200 {
		msg = msg[:200]
	}
	e := &APIError{Endpoint: "authorize", Message: msg}
	switch strings.ToLower(code) {
	case "access_denied":
		e.kinds = []error{ErrAccessDenied}
	case "redirect_mismatch":
		e.kinds = []error{ErrRedirectMismatch}
	default:
		e.kinds = classify("authorize", 0, code+" "+description)
	}
	return e
}

// HelixError is a non-2xx answer from Helix, with the
// {"error":"...","status":N,"message":"..."} body it carried. It matches
// ErrUnauthorized (401), ErrInvalidToken (401 for an invalid or expired
// token), ErrMissingScopes (a 401 or 403 naming a missing scope) and
// ErrRateLimited (429) with errors.Is.
type HelixError struct {
	// Method and Path say which call failed (the path without its query).
	Method, Path string
	// Status is the HTTP status code.
	Status int
	// Reason is Helix's "error" field, such as "Unauthorized".
	Reason string
	// Message is Helix's "message" field, such as "Invalid OAuth token".
	Message string
	// Reset is, for a 429, when the rate-limit bucket is full again (zero
	// if the response did not say).
	Reset time.Time
}

// Error says which call failed and what Helix said; it never contains a
// token.
func (e *HelixError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "twitchauth: Helix %s %s: HTTP %d", e.Method, e.Path, e.Status)
	if e.Reason != "" {
		fmt.Fprintf(&b, " %s", e.Reason)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %q", e.Message)
	}
	switch {
	case e.Status == http.StatusTooManyRequests && !e.Reset.IsZero():
		fmt.Fprintf(&b, ": rate limited until %s", e.Reset.UTC().Format(time.RFC3339))
	case errors.Is(e, ErrMissingScopes):
		b.WriteString(": the token lacks a scope this endpoint needs; authorize the user again with it")
	}
	return b.String()
}

// Unwrap returns the sentinel errors the answer matches.
func (e *HelixError) Unwrap() []error {
	m := strings.ToLower(e.Message)
	var out []error
	switch e.Status {
	case http.StatusUnauthorized:
		out = append(out, ErrUnauthorized)
		if strings.Contains(m, "invalid oauth token") || strings.Contains(m, "token expired") ||
			strings.Contains(m, "invalid access token") || strings.Contains(m, "oauth token is missing") {
			out = append(out, ErrInvalidToken)
		}
	case http.StatusTooManyRequests:
		out = append(out, ErrRateLimited)
	}
	if (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden) && strings.Contains(m, "missing scope") {
		out = append(out, ErrMissingScopes)
	}
	return out
}
