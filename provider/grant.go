package provider

import (
	"slices"
	"sync"
	"time"

	"github.com/twitchauth/twitchauth/store"
)

// grant is a store.Record as the cache holds it (issue 21: 100,000 grants
// held in memory). It is about two thirds of a Record: no Key (the subject
// has it), times as Unix microseconds (the precision every store keeps,
// store.TimePrecision) instead of three time.Time values, the status as a
// byte, the user ID sharing the subject key's bytes (loadEntries), and the
// scope list shared by
// every grant of the same scopes (Provider.internScopes). A grant is
// immutable once made; its slices are never changed in place.
type grant struct {
	version       int64
	clientID      string
	userID        string
	login         string
	access        string
	refresh       string
	tokenType     string
	scopes        []string  // shared: clone before handing out or changing
	intents       *[]string // nil for none (most grants): 8 bytes, not a 24-byte slice
	expiry        int64     // unix µs; noTime for the zero time
	lastValidated int64
	updatedAt     int64
	status        grantStatus
	// dirty: not persisted (a renewal the store refused); the Record has no
	// such field. It sits in the padding after status.
	dirty bool
}

// grantStatus is a Record's Status as a byte.
type grantStatus uint8

const (
	stActive grantStatus = iota
	stRevoked
	stDead
	stRemoved // the subject is no longer held (dropSubject)
)

// statusOf returns the grantStatus of a Record's Status ("" is active;
// stores refuse any other value, see store.Record.Validate).
func statusOf(s string) grantStatus {
	switch s {
	case store.StatusRevoked:
		return stRevoked
	case store.StatusDead:
		return stDead
	case statusRemoved:
		return stRemoved
	}
	return stActive
}

// String returns the Record Status of st.
func (st grantStatus) String() string {
	switch st {
	case stRevoked:
		return store.StatusRevoked
	case stDead:
		return store.StatusDead
	case stRemoved:
		return statusRemoved
	}
	return store.StatusActive
}

// noTime is how a grant holds the zero time.
var noTime = time.Time{}.UnixMicro()

// timeOf returns the time a grant holds as a Record time (UTC, no monotonic
// reading; the zero time for noTime).
func timeOf(us int64) time.Time {
	if us == noTime {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// grantOf makes the compact form of r. r's strings are shared, not copied.
func (p *Provider) grantOf(r store.Record) grant {
	g := grant{
		version:       r.Version,
		clientID:      r.ClientID,
		userID:        r.UserID,
		login:         r.Login,
		access:        r.AccessToken,
		refresh:       r.RefreshToken,
		tokenType:     r.TokenType,
		scopes:        p.scopeSets.intern(r.Scopes),
		expiry:        r.Expiry.UnixMicro(),
		lastValidated: r.LastValidated.UnixMicro(),
		updatedAt:     r.UpdatedAt.UnixMicro(),
		status:        statusOf(r.Status),
	}
	if len(r.Intents) > 0 {
		l := slices.Clone(r.Intents)
		g.intents = &l
	}
	if g.clientID == p.clientID {
		g.clientID = p.clientID // one copy for every grant
	}
	return g
}

// record returns g as a store.Record of the store key key, with lists of
// its own (the caller may change them).
func (g *grant) record(key string) store.Record {
	return store.Record{
		Key:           key,
		Version:       g.version,
		ClientID:      g.clientID,
		UserID:        g.userID,
		Login:         g.login,
		AccessToken:   g.access,
		RefreshToken:  g.refresh,
		TokenType:     g.tokenType,
		Scopes:        slices.Clone(g.scopes),
		Expiry:        timeOf(g.expiry),
		Intents:       slices.Clone(g.intentList()),
		Status:        g.status.String(),
		LastValidated: timeOf(g.lastValidated),
		UpdatedAt:     timeOf(g.updatedAt),
	}
}

// intentList returns g's intents (nil for none); do not change it.
func (g *grant) intentList() []string {
	if g.intents == nil {
		return nil
	}
	return *g.intents
}

// active reports whether g can be served: active, with an access token.
func (g *grant) active() bool { return g.status == stActive && g.access != "" }

// scopeSets shares one []string among the grants of the same scopes: an
// application asks most of its users for the same few scope sets, and a
// list of its own per grant was a sixth of what a cached grant held.
type scopeSets struct {
	mu sync.Mutex
	m  map[string][]string // the scopes joined by ' ' → the shared list
}

// maxScopeSets bounds scopeSets: past it, lists are kept unshared.
const maxScopeSets = 4096

// intern returns the shared list equal to l (nil for an empty list).
func (ss *scopeSets) intern(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	var buf [512]byte
	k := buf[:0]
	for i, s := range l {
		if i > 0 {
			k = append(k, ' ')
		}
		k = append(k, s...)
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if v, ok := ss.m[string(k)]; ok && slices.Equal(v, l) { // no allocation for the lookup
		return v
	}
	v := slices.Clone(l)
	if len(ss.m) < maxScopeSets {
		if ss.m == nil {
			ss.m = make(map[string][]string)
		}
		ss.m[string(k)] = v
	}
	return v
}
