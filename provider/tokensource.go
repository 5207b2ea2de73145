package provider

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/twitchauth/twitchauth"

	"golang.org/x/oauth2"
)

// TokenSource is an oauth2.TokenSource for one subject of a Provider. Its
// Token method takes no lock and allocates nothing while the cached token is
// valid. The returned *oauth2.Token is shared: do not modify it.
type TokenSource struct {
	p      *Provider
	subj   Subject
	key    string // subject key, or "" when intent is set
	intent string
	sub    atomic.Pointer[subject] // cached subject of key (not for intents)
	// realClock is p.realClock (fixed by New), copied here so that the fast
	// path does not touch the Provider's cache line (issue 21 item 5).
	realClock bool
}

// TokenSource returns the TokenSource of the subject. For an Intent it
// serves whichever user the intent points at when Token is called.
func (p *Provider) TokenSource(sub Subject) *TokenSource {
	ts := &TokenSource{p: p, subj: sub, realClock: p.realClock}
	if name := sub.IntentName(); name != "" {
		ts.intent = name
	} else if key, err := p.keyOf(sub); err == nil {
		ts.key = key
	}
	return ts
}

func (ts *TokenSource) subjectKey() (string, error) {
	if ts.intent == "" {
		if ts.key == "" {
			return "", fmt.Errorf("%w: %q", ErrInvalidSubject, ts.subj.s)
		}
		return ts.key, nil
	}
	key, ok := (*ts.p.intents.Load())[ts.intent]
	if !ok {
		return "", fmt.Errorf("%w: no user for intent %q", ErrUnknownSubject, ts.intent)
	}
	return key, nil
}

// Token returns a valid token, renewing it when needed (oauth2.TokenSource).
func (ts *TokenSource) Token() (*oauth2.Token, error) {
	return ts.TokenContext(context.Background())
}

// TokenContext is Token with a context bounding the wait for a renewal.
func (ts *TokenSource) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	// Fast path of a user or app source: the cached *subject (see
	// subject.gone), its entry, one monotonic clock reading. No map lookup.
	// With the real clock the check is inlined: one monotonic reading
	// against the entry's deadline (0 when not servable; see isFresh), and
	// the entry's built *oauth2.Token if there is one.
	if s := ts.sub.Load(); s != nil && !s.gone.Load() {
		if e := s.cur.Load(); e != nil {
			if ts.realClock {
				if time.Since(monoBase) < e.freshUntil {
					if o := e.lazy.o2.Load(); o != nil {
						return o, nil
					}
					return e.oauth2(), nil
				}
			} else if e.fresh(ts.p.now()) {
				return e.oauth2(), nil
			}
		}
	}
	key, err := ts.subjectKey()
	if err != nil {
		return nil, err
	}
	if s := ts.p.lookup(key); s != nil {
		if ts.intent == "" {
			ts.sub.Store(s)
		}
		if e := s.cur.Load(); e != nil && ts.p.isFresh(e) {
			return e.oauth2(), nil
		}
	}
	s, err := ts.p.subjectFor(ctx, key)
	if err != nil {
		return nil, err
	}
	if ts.intent == "" {
		ts.sub.Store(s)
	}
	e, err := ts.p.renew(ctx, s, "")
	if err != nil {
		return nil, err
	}
	return e.oauth2(), nil
}

// Invalidate reports that Helix refused the access token (HTTP 401) and
// returns a renewed one; see Provider.Invalidate.
func (ts *TokenSource) Invalidate(ctx context.Context, accessToken string) (*oauth2.Token, error) {
	key, err := ts.subjectKey()
	if err != nil {
		return nil, err
	}
	s, err := ts.p.subjectFor(ctx, key)
	if err != nil {
		return nil, err
	}
	e, err := ts.p.renew(ctx, s, accessToken)
	if err != nil {
		return nil, err
	}
	return e.oauth2(), nil
}

// Subject returns the subject the source was made for (an Intent stays an
// Intent; BucketKey names the user it resolves to).
func (ts *TokenSource) Subject() Subject { return ts.subj }

// BucketKey returns the subject the source currently serves ("app",
// "user:<id>"), resolving an intent ("" if the intent is unset), so that a
// twitchauth.Transport paces each user in their own rate-limit bucket
// (twitchauth.BucketKeyer).
func (ts *TokenSource) BucketKey() string {
	key, _ := ts.subjectKey()
	return key
}

// TokenScopes returns the scopes of tok, a user token this source returned
// (as stored and last validated), so that a Transport can refuse a request
// they cannot satisfy before sending it (ScopeReporter). App tokens and
// tokens from elsewhere give ok=false.
func (ts *TokenSource) TokenScopes(tok *oauth2.Token) ([]string, bool) {
	if tok == nil {
		return nil, false
	}
	// The Extra keys twitchauth.Token.OAuth2 writes.
	if uid, _ := tok.Extra("user_id").(string); uid == "" {
		return nil, false
	}
	sc, ok := tok.Extra("scope").([]string)
	return sc, ok
}

var _ oauth2.TokenSource = (*TokenSource)(nil)

var (
	_ twitchauth.ScopeReporter      = (*TokenSource)(nil)
	_ twitchauth.Invalidator        = (*TokenSource)(nil)
	_ twitchauth.ContextTokenSource = (*TokenSource)(nil)
	_ twitchauth.BucketKeyer        = (*TokenSource)(nil)
)
