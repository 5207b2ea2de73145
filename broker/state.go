package broker

import (
	"sync"
	"time"

	"github.com/twitchauth/twitchauth"
)

// DefaultStateTTL is how long a sign-in may take between /authorize and the
// callback.
const DefaultStateTTL = 10 * time.Minute

// maxPending bounds the number of sign-ins in progress, so that a flood of
// /authorize requests cannot grow memory without limit.
const maxPending = 10000

// pendingLogin is a sign-in in progress: the OAuth state sent to Twitch,
// also kept in the browser's state cookie.
type pendingLogin struct {
	expires time.Time
	intent  string
}

// stateTable holds the OAuth states of sign-ins in progress. A state is
// single-use (taken on the first callback that names it), short-lived, and
// bound to the browser that started the sign-in through an HttpOnly cookie
// holding the same value, compared in constant time.
type stateTable struct {
	mu      sync.Mutex
	pending map[string]pendingLogin
	ttl     time.Duration
	now     func() time.Time
}

func newStateTable(ttl time.Duration, now func() time.Time) *stateTable {
	return &stateTable{pending: make(map[string]pendingLogin), ttl: ttl, now: now}
}

// issue returns a new state for a sign-in, or "" when too many are pending.
func (t *stateTable) issue(intent string) string {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.pending) >= maxPending {
		t.sweepLocked(now)
		if len(t.pending) >= maxPending {
			return ""
		}
	}
	s := twitchauth.NewState()
	t.pending[s] = pendingLogin{expires: now.Add(t.ttl), intent: intent}
	return s
}

// stateResult is why a callback's state was refused, or stateOK.
type stateResult int

const (
	stateOK       stateResult = iota
	stateUnknown              // never issued, or already used
	stateExpired              // issued but older than the TTL
	stateNotBound             // the browser's cookie holds another state (or none)
)

// take consumes the state echoed by the callback (got) after checking it
// against the browser's cookie (cookie). The state is spent whatever the
// outcome, except when it was not found at all.
func (t *stateTable) take(got, cookie string) (pendingLogin, stateResult) {
	if got == "" {
		return pendingLogin{}, stateUnknown
	}
	now := t.now()
	t.mu.Lock()
	p, ok := t.pending[got]
	if ok {
		delete(t.pending, got)
	}
	t.mu.Unlock()
	switch {
	case !ok:
		return pendingLogin{}, stateUnknown
	case !twitchauth.CheckState(cookie, got):
		return pendingLogin{}, stateNotBound
	case !now.Before(p.expires):
		return pendingLogin{}, stateExpired
	}
	return p, stateOK
}

func (t *stateTable) sweepLocked(now time.Time) {
	for k, p := range t.pending {
		if !now.Before(p.expires) {
			delete(t.pending, k)
		}
	}
}

func (t *stateTable) sweep() {
	now := t.now()
	t.mu.Lock()
	t.sweepLocked(now)
	t.mu.Unlock()
}

// DefaultSessionTTL is how long an operator's web session lasts.
const DefaultSessionTTL = 12 * time.Hour

// session is an operator signed in to the web pages with an admin key.
type session struct {
	keyName string
	expires time.Time
}

// sessionTable holds operator sessions, keyed by the random value of the
// session cookie.
type sessionTable struct {
	mu       sync.Mutex
	sessions map[string]session
	ttl      time.Duration
	now      func() time.Time
}

func newSessionTable(ttl time.Duration, now func() time.Time) *sessionTable {
	return &sessionTable{sessions: make(map[string]session), ttl: ttl, now: now}
}

func (t *sessionTable) create(keyName string) string {
	id := randomToken()
	now := t.now()
	t.mu.Lock()
	if len(t.sessions) >= maxPending {
		t.sweepLocked(now)
	}
	t.sessions[id] = session{keyName: keyName, expires: now.Add(t.ttl)}
	t.mu.Unlock()
	return id
}

func (t *sessionTable) get(id string) (session, bool) {
	if id == "" {
		return session{}, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.sessions[id]
	if ok && !t.now().Before(s.expires) {
		delete(t.sessions, id)
		return session{}, false
	}
	return s, ok
}

func (t *sessionTable) delete(id string) {
	t.mu.Lock()
	delete(t.sessions, id)
	t.mu.Unlock()
}

func (t *sessionTable) sweepLocked(now time.Time) {
	for k, s := range t.sessions {
		if !now.Before(s.expires) {
			delete(t.sessions, k)
		}
	}
}

func (t *sessionTable) sweep() {
	now := t.now()
	t.mu.Lock()
	t.sweepLocked(now)
	t.mu.Unlock()
}
