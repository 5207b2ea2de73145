package broker

import (
	"crypto/sha256"
	"encoding/json"
	"sync"
	"time"

	"github.com/twitchauth/twitchauth"
)

// DefaultStateTTL is how long a sign-in may take between /authorize and the
// callback.
const DefaultStateTTL = 10 * time.Minute

// signInState is what the state cookie of a sign-in in progress carries,
// signed with the broker's signing key: the OAuth state sent to Twitch, its
// expiry and, for a sign-in the operator started to bind an intent, the
// intent and the operator. The broker keeps nothing in memory until the
// callback, so a flood of /authorize requests costs it nothing and locks
// nobody out, and the callback may land on any replica sharing the store.
type signInState struct {
	State   string `json:"s"`
	Expires int64  `json:"x"` // Unix seconds
	Intent  string `json:"i,omitempty"`
	By      string `json:"b,omitempty"` // the operator (API key name or "loopback")
}

// statePurpose is bound into the state cookie's MAC.
const statePurpose = "twitchauth broker state v1"

// stateResult is why a callback's state was refused, or stateOK.
type stateResult int

const (
	stateOK       stateResult = iota
	stateUnknown              // no state, no valid cookie, or already used here
	stateExpired              // signed by this broker but older than the TTL
	stateNotBound             // the browser's cookie belongs to another sign-in
)

// issueState starts a sign-in: a new random state and the signed value of
// the state cookie that binds it to this browser.
func (b *Broker) issueState(intent, by string) (state, cookie string) {
	s := signInState{State: twitchauth.NewState(), Expires: b.now().Add(b.cfg.StateTTL).Unix(), Intent: intent, By: by}
	payload, _ := json.Marshal(s) // strings and an integer: cannot fail
	return s.State, b.signer.seal(statePurpose, payload)
}

// checkState checks the state echoed by the callback (got) against the
// browser's state cookie: a value this broker signed, not expired, naming
// the same state (compared in constant time), not used before on this
// replica. A state that passes is spent.
func (b *Broker) checkState(got, cookie string) (signInState, stateResult) {
	if got == "" || cookie == "" {
		return signInState{}, stateUnknown
	}
	payload, ok := b.signer.open(statePurpose, cookie)
	var s signInState
	if !ok || json.Unmarshal(payload, &s) != nil || s.State == "" {
		return signInState{}, stateUnknown
	}
	switch {
	case !twitchauth.CheckState(s.State, got):
		return signInState{}, stateNotBound
	case !b.now().Before(time.Unix(s.Expires, 0)):
		return signInState{}, stateExpired
	case !b.spent.spend(s.State, time.Unix(s.Expires, 0)):
		return signInState{}, stateUnknown
	}
	return s, stateOK
}

// maxSpent bounds the spent-state list of one replica.
const maxSpent = 10000

// spentStates remembers the states of completed callbacks until they
// expire, so that a replayed callback is refused before its code is sent
// to Twitch (which refuses a spent code anyway, see docs/protocol.md,
// "Identity error messages": this is a second lock).
// Only callbacks carrying a valid signed cookie reach it; when it is full
// the oldest entry is forgotten, which weakens that second lock for it and
// locks nobody out.
type spentStates struct {
	mu    sync.Mutex
	seen  map[string]time.Time
	order []string // FIFO of seen's keys
	now   func() time.Time
}

func newSpentStates(now func() time.Time) *spentStates {
	return &spentStates{seen: map[string]time.Time{}, now: now}
}

// spend records state, or reports false when it was already spent.
func (t *spentStates) spend(state string, expires time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, dup := t.seen[state]; dup {
		return false
	}
	if len(t.order) >= maxSpent {
		t.sweepLocked()
	}
	if len(t.order) >= maxSpent {
		delete(t.seen, t.order[0])
		t.order = t.order[1:]
	}
	t.seen[state] = expires
	t.order = append(t.order, state)
	return true
}

func (t *spentStates) sweepLocked() {
	now := t.now()
	kept := t.order[:0]
	for _, s := range t.order {
		if now.Before(t.seen[s]) {
			kept = append(kept, s)
		} else {
			delete(t.seen, s)
		}
	}
	t.order = kept
}

func (t *spentStates) sweep() {
	t.mu.Lock()
	t.sweepLocked()
	t.mu.Unlock()
}

// DefaultSessionTTL is how long an operator's web session lasts.
const DefaultSessionTTL = 12 * time.Hour

// maxSessions bounds the operator sessions of one replica. Only holders of
// an admin key (or, in the loopback-open sandbox mode, browsers on this
// machine) create sessions; when the table is full the session closest to
// expiry is ended.
const maxSessions = 1000

// loopbackOperator names the operator of a loopback browser in the
// loopback-open sandbox mode (logs: by=loopback).
const loopbackOperator = "loopback"

// session is an operator signed in to the web pages with an admin key (or
// a loopback browser in the loopback-open sandbox mode).
type session struct {
	id      string
	keyName string
	keyHash [sha256.Size]byte // the SHA-256 of the admin key signed in with (zero for loopback)
	expires time.Time
}

// sessionTable holds operator sessions, keyed by the random value of the
// session cookie.
type sessionTable struct {
	mu       sync.Mutex
	sessions map[string]session
	ttl      time.Duration
	now      func() time.Time
	max      int
}

func newSessionTable(ttl time.Duration, now func() time.Time) *sessionTable {
	return &sessionTable{sessions: make(map[string]session), ttl: ttl, now: now, max: maxSessions}
}

// create starts a session for keyName; evicted names the operator whose
// session was ended to make room, if any.
func (t *sessionTable) create(keyName string) (id, evicted string) {
	return t.createWithKey(keyName, [sha256.Size]byte{})
}

// createWithKey starts a session for the admin key keyName whose SHA-256 is
// keyHash: the session ends when that key is no longer accepted.
func (t *sessionTable) createWithKey(keyName string, keyHash [sha256.Size]byte) (id, evicted string) {
	id = randomToken()
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.sessions) >= t.max {
		t.sweepLocked(now)
	}
	if len(t.sessions) >= t.max {
		var oldest session
		for _, s := range t.sessions {
			if oldest.id == "" || s.expires.Before(oldest.expires) {
				oldest = s
			}
		}
		delete(t.sessions, oldest.id)
		evicted = oldest.keyName
	}
	t.sessions[id] = session{id: id, keyName: keyName, keyHash: keyHash, expires: now.Add(t.ttl)}
	return id, evicted
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

func (t *sessionTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.sessions)
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
