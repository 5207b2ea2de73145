package store

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"
)

// schedule is the validation schedule of one record (see ValidationClaimer).
type schedule struct {
	validated  time.Time // when the fleet last validated it; zero = never
	owner      string    // claim holder, "" = none
	claimUntil time.Time // when the claim lapses
}

// ClaimDue implements ValidationClaimer.
func (m *Memory) ClaimDue(ctx context.Context, c ValidationClaim) ([]DueGrant, error) {
	if err := c.Check(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	type due struct {
		key       string
		validated time.Time
	}
	less := func(a, b due) int {
		if n := a.validated.Compare(b.validated); n != 0 {
			return n
		}
		return cmp.Compare(a.key, b.key)
	}
	// The Limit longest-unvalidated due keys, kept sorted: one pass over the
	// schedule, without sorting every due key on every claim.
	dues := make([]due, 0, min(c.Limit, len(m.sched)))
	for key, sc := range m.sched {
		if !strings.HasPrefix(key, c.Prefix) {
			continue
		}
		if !sc.validated.IsZero() && sc.validated.After(c.Before) {
			continue
		}
		if sc.owner != "" && sc.claimUntil.After(c.Now) {
			continue
		}
		d := due{key, sc.validated}
		if len(dues) == c.Limit {
			if less(d, dues[len(dues)-1]) >= 0 {
				continue
			}
			dues = dues[:len(dues)-1]
		}
		i, _ := slices.BinarySearchFunc(dues, d, less)
		dues = slices.Insert(dues, i, d)
	}
	out := make([]DueGrant, len(dues))
	until := NormalizeTime(c.Now.Add(c.Lease))
	for i, d := range dues {
		sc := m.sched[d.key]
		sc.owner, sc.claimUntil = c.Owner, until
		m.sched[d.key] = sc
		out[i] = DueGrant{Key: d.key, LastValidated: d.validated}
	}
	return out, nil
}

// MarkValidated implements ValidationClaimer.
func (m *Memory) MarkValidated(ctx context.Context, owner string, keys []string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	at = NormalizeTime(at)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	for _, key := range keys {
		sc, ok := m.sched[key]
		if !ok {
			continue
		}
		if at.After(sc.validated) {
			sc.validated = at
		}
		if sc.owner == owner {
			sc.owner, sc.claimUntil = "", time.Time{}
		}
		m.sched[key] = sc
	}
	return nil
}
