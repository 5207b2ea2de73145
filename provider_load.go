package twitchauth

import (
	"context"
	"sync/atomic"

	"golang.org/x/oauth2"

	"github.com/twitchauth/twitchauth/store"
)

// loaded is one grant read by loadEntries: its subject and its entry.
type loaded struct {
	key string
	e   *entry
}

// loadEntries reads every grant of this application from the store, one
// record at a time when the store is a store.Walker: each record becomes
// its cache entry as it is read, so that loading 100,000 grants never holds
// a list of 100,000 Records beside the entries made from them. The error is
// the store's; a *store.UnreadableError comes with every readable grant.
func (p *Provider) loadEntries(ctx context.Context) ([]loaded, error) {
	var out []loaded
	err := store.WalkAll(ctx, p.store, func(r store.Record) error {
		if key, ok := p.subjectOf(r.Key); ok {
			out = append(out, loaded{key, p.newEntry(r, false)})
		}
		return nil
	})
	return out, err
}

// lazyOAuth2 is an entry's token as an *oauth2.Token, built on the first
// TokenSource read and then reused: most of 100,000 loaded grants are never
// read through a TokenSource, and the oauth2.Token with its extra map was a
// third of the memory each cached grant held.
type lazyOAuth2 struct {
	tok *Token
	o2  atomic.Pointer[oauth2.Token]
}

// get returns the *oauth2.Token, the same one on every call.
func (l *lazyOAuth2) get() *oauth2.Token {
	if o := l.o2.Load(); o != nil {
		return o
	}
	l.o2.CompareAndSwap(nil, l.tok.OAuth2())
	return l.o2.Load()
}
