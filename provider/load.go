package provider

import (
	"context"
	"iter"
	"slices"
	"strings"
	"sync/atomic"

	"golang.org/x/oauth2"

	"github.com/twitchauth/twitchauth"
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
func (p *Provider) loadEntries(ctx context.Context) (*loadedList, error) {
	out := &loadedList{}
	err := store.WalkAll(ctx, p.store, func(r store.Record) error {
		if key, ok := p.subjectOf(r.Key); ok {
			// The subject key alone ("user:<id>", 16 bytes), not the store
			// key it is part of ("<client id>/user:<id>", 48 bytes).
			key = strings.Clone(key)
			e := p.newEntry(r, false)
			// The subject key ("user:<id>") ends in the user ID and is kept
			// by the subject: share its bytes instead of keeping the row's
			// copy. (Entries made later share the user ID of the record
			// they were made from, itself the loaded one.)
			if id := e.g.userID; id != "" && strings.HasSuffix(key, id) {
				e.g.userID = key[len(key)-len(id):]
			}
			out.add(loaded{key, e})
		}
		return nil
	})
	return out, err
}

// loadedList holds the grants of one load in chunks: growing one slice of
// 100,000 would copy it again at every doubling.
type loadedList struct {
	chunks [][]loaded
	n      int
}

const loadedChunk = 1024

func (l *loadedList) add(x loaded) {
	if len(l.chunks) == 0 || len(l.chunks[len(l.chunks)-1]) == loadedChunk {
		l.chunks = append(l.chunks, make([]loaded, 0, loadedChunk))
	}
	last := &l.chunks[len(l.chunks)-1]
	*last = append(*last, x)
	l.n++
}

// all yields every grant in the order added.
func (l *loadedList) all() iter.Seq[loaded] {
	return func(yield func(loaded) bool) {
		for _, c := range l.chunks {
			for _, x := range c {
				if !yield(x) {
					return
				}
			}
		}
	}
}

// lazyToken holds an entry's token as a *Token (handed out by the
// Provider) and as an *oauth2.Token (handed out by TokenSource), each made
// from the entry's record on its first read and the same one on every read
// after. Most of 100,000 loaded grants are never read; built eagerly, the
// two made up more than half of the memory each cached grant held. Copies of
// an entry (publishBackoff) share it: they hold the same record.
type lazyToken struct {
	tok atomic.Pointer[twitchauth.Token]
	o2  atomic.Pointer[oauth2.Token]
}

// token returns e's token, the same *Token on every call.
func (e *entry) token() *twitchauth.Token {
	if t := e.lazy.tok.Load(); t != nil {
		return t
	}
	g := &e.g
	e.lazy.tok.CompareAndSwap(nil, &twitchauth.Token{
		AccessToken:  g.access,
		RefreshToken: g.refresh,
		TokenType:    g.tokenType,
		Expiry:       timeOf(g.expiry),
		Scopes:       slices.Clone(g.scopes),
		UserID:       g.userID,
		Login:        g.login,
		ClientID:     g.clientID,
	})
	return e.lazy.tok.Load()
}

// oauth2 returns e's token as an *oauth2.Token, the same one on every call.
func (e *entry) oauth2() *oauth2.Token {
	if o := e.lazy.o2.Load(); o != nil {
		return o
	}
	e.lazy.o2.CompareAndSwap(nil, e.token().OAuth2())
	return e.lazy.o2.Load()
}
