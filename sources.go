package twitchauth

import (
	"context"

	"golang.org/x/oauth2"
)

// The one-method interfaces a Transport looks for on its token source
// (TransportConfig.Source), beside oauth2.TokenSource. Each is optional:
// a plain oauth2.TokenSource works, with less. The Provider's
// *provider.TokenSource implements all four.

// ContextTokenSource is implemented by token sources whose Token can be
// bounded by a context. The Transport calls TokenContext with the
// request's context instead of Token, so that a cancelled request does
// not wait for a renewal.
type ContextTokenSource interface {
	TokenContext(ctx context.Context) (*oauth2.Token, error)
}

// Invalidator is implemented by token sources that can replace an access
// token Helix refused (HTTP 401): any number of concurrent callers
// reporting the same token cause one refresh. Without it the Transport
// calls Token again and retries only if the token changed.
type Invalidator interface {
	Invalidate(ctx context.Context, accessToken string) (*oauth2.Token, error)
}

// ScopeReporter is implemented by token sources that know the scopes
// granted to the user tokens they return (the Provider's grants' scopes
// come from the token response and the hourly validation, kept in the
// store). The Transport asks it before each request, to refuse locally one
// that the token's scopes cannot satisfy (a *MissingScopesError).
type ScopeReporter interface {
	// TokenScopes returns the scopes granted to tok, a token this source
	// returned, and ok=true if tok is a user token whose scopes are known.
	// It is called on every request: it must be quick.
	TokenScopes(tok *oauth2.Token) (scopes []string, ok bool)
}

// BucketKeyer is implemented by token sources that name the rate-limit
// bucket of the tokens they return: Twitch counts a user token's requests
// per user and an app token's per application, so sources of different
// users must return different keys ("app", "user:<id>" for the Provider's
// sources). Without it the Transport uses TransportConfig.BucketKey, or a
// bucket of its own.
type BucketKeyer interface {
	BucketKey() string
}
