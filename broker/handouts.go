package broker

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"time"
)

// What the broker records about each request made with an API key: the
// audit entry, the handout metric and the accounts page's "last reads".

// auditInfo collects, during one request, what its audit entry says beyond
// the request itself. requirePerm puts it in the request's context; the
// handlers fill in the subject.
type auditInfo struct {
	key      *APIKey
	previous bool
	subject  subjectRef
	named    bool   // subject set
	userID   string // the user whose token was handed out or used
	via      string // "api" or "helix" when a token was handed out or used
}

type auditCtxKey struct{}

func auditOf(r *http.Request) *auditInfo {
	ai, _ := r.Context().Value(auditCtxKey{}).(*auditInfo)
	if ai == nil {
		return &auditInfo{} // not audited (a handler called directly)
	}
	return ai
}

func withAudit(r *http.Request, ai *auditInfo) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), auditCtxKey{}, ai))
}

// noteSubject records the subject a request named.
func noteSubject(r *http.Request, s subjectRef) {
	ai := auditOf(r)
	ai.subject, ai.named = s, true
}

// noteUse records that the request handed out (via "api") or used (via
// "helix") the token of userID ("" for the app).
func noteUse(r *http.Request, via, userID string) {
	ai := auditOf(r)
	ai.via, ai.userID = via, userID
}

// audit records e when an audit log is configured.
func (b *Broker) audit(e AuditEntry) {
	if b.cfg.Audit == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = b.now()
	}
	b.cfg.Audit.Record(e)
}

// auditUnavailable reports why audited requests are refused now: the audit
// log cannot be written.
func (b *Broker) auditUnavailable() error {
	if b.cfg.Audit == nil {
		return nil
	}
	return b.cfg.Audit.Err()
}

// finishRequest records a request made with a known API key: its audit
// entry, and for a handout the metric and the account's last reads.
func (b *Broker) finishRequest(route string, r *http.Request, sw *statusWriter, ai *auditInfo) {
	if ai.key == nil {
		return // no known key: nothing to attribute (the request metric counts it)
	}
	e := AuditEntry{Key: ai.key.Name, KeyPrevious: ai.previous, Route: route, Method: r.Method, Path: r.URL.Path,
		Status: sw.code(), Error: sw.errCode, Remote: r.RemoteAddr, UserID: ai.userID}
	if ai.named {
		e.Subject = ai.subject.String()
	}
	b.audit(e)
	if ai.via == "" || !ai.named {
		return
	}
	b.metrics.handout(ai.key.Name, ai.key.compiledScope().label(ai.subject, ai.userID), ai.via)
	if ai.userID != "" {
		b.reads.note(ai.userID, ai.key.Name, route, b.now())
	}
}

// Last reads: per account, the keys that last read or used its token.

// maxReadsPerAccount bounds the keys remembered per account (the most
// recent ones are kept).
const maxReadsPerAccount = 10

// read is one key's last read of an account's token.
type read struct {
	key   string
	route string
	at    time.Time
	count int64
}

// readView is a read as the accounts page shows it.
type readView struct {
	Key, Route, Ago string
	Count           int64
}

// readLog holds the last reads of every account, per replica since it
// started (the audit log keeps them all).
type readLog struct {
	mu    sync.Mutex
	users map[string][]read // by user ID, most recent first
}

func (l *readLog) note(userID, key, route string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.users == nil {
		l.users = map[string][]read{}
	}
	rs := l.users[userID]
	n := read{key: key, route: route, at: at, count: 1}
	if i := slices.IndexFunc(rs, func(x read) bool { return x.key == key }); i >= 0 {
		n.count += rs[i].count
		rs = slices.Delete(rs, i, i+1)
	}
	rs = slices.Insert(rs, 0, n)
	if len(rs) > maxReadsPerAccount {
		rs = rs[:maxReadsPerAccount]
	}
	l.users[userID] = rs
}

// views lists an account's last reads, most recent first.
func (l *readLog) views(userID string, now time.Time) []readView {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []readView
	for _, x := range l.users[userID] {
		out = append(out, readView{Key: x.key, Route: x.route, Ago: humanDuration(now.Sub(x.at)) + " ago", Count: x.count})
	}
	return out
}

// forget drops the reads of accounts no longer held.
func (l *readLog) forget(held func(userID string) bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id := range l.users {
		if !held(id) {
			delete(l.users, id)
		}
	}
}
