package provider

import (
	"context"
	"errors"
	"sync"

	"github.com/twitchauth/twitchauth/store"
)

// validationBatchSize is how many validation results a round writes per
// store.SaveAll: one transaction and one fsync each, instead of one per grant
// (about 1 ms each on ext4, which made a round of 100,000 grants last 100 s).
const validationBatchSize = 512

// roundWriter batches the store writes of one validation round.
//
// Why batching them is safe (the crash guarantee of docs/protocol.md#lifetimes-and-rotation —
// a rotated refresh token is saved before it is handed out — is untouched):
// a batched write only stamps LastValidated and the Expiry that /validate
// reported on the record exactly as it is stored. It never carries a new
// token: each op is built from the entry last read from or saved to the
// store and is a compare-and-swap on that entry's version, so if anything
// else wrote the record meanwhile (a renewal, another replica) the op fails
// with a conflict and is redone on the fresh record by updateRecord, which
// leaves the tokens alone. Renewals — which do rotate tokens — still go
// through Provider.save, one durable Save before the token is published, and
// a validation that finds a refused token renews synchronously, never here.
// A crash before a batch commits loses only those LastValidated stamps and
// expiries: the grants are validated again in the next round, nothing was
// handed out on the strength of them, and the in-memory entries are only
// replaced once the batch is durable. A changed scope list is written at
// once (not batched), because Hooks.OnScopesChanged fires after it.
type roundWriter struct {
	p       *Provider
	mu      sync.Mutex
	pending []pendingWrite
}

// pendingWrite is one validation result waiting for its batch.
type pendingWrite struct {
	s      *subject
	change func(*store.Record) // applied to the entry's record, and again on a conflict
	op     store.SaveOp        // the entry's record with change applied, expecting its version
}

func (p *Provider) newRoundWriter() *roundWriter { return &roundWriter{p: p} }

// writeValidation queues change to s's record, built on e, in w's next
// batch. Without a writer (a single Validate), or for an entry not known to
// match the store (never saved, or dirty: a renewal the store refused), it
// writes at once through updateRecord.
func (p *Provider) writeValidation(ctx context.Context, w *roundWriter, s *subject, e *entry, change func(*store.Record)) error {
	if w == nil || e.g.dirty || e.g.version == 0 {
		return p.updateRecord(ctx, s, change)
	}
	rec := e.g.record(p.storeKey(s.key))
	change(&rec)
	w.mu.Lock()
	w.pending = append(w.pending, pendingWrite{s: s, change: change, op: store.SaveOp{Record: rec, ExpectVersion: e.g.version}})
	var full []pendingWrite
	if len(w.pending) >= validationBatchSize {
		full, w.pending = w.pending, nil
	}
	w.mu.Unlock()
	if full != nil {
		w.write(ctx, full)
	}
	return nil
}

// flush writes what is still queued; ValidateAll calls it before it returns,
// so that a round's results are durable when the round is reported done.
func (w *roundWriter) flush(ctx context.Context) {
	w.mu.Lock()
	rest := w.pending
	w.pending = nil
	w.mu.Unlock()
	if len(rest) > 0 {
		w.write(ctx, rest)
	}
}

// write saves one batch and publishes what it saved. A conflicting op is
// redone on the stored record (updateRecord); any other failure is logged,
// as an unbatched validation write's failure is.
func (w *roundWriter) write(ctx context.Context, batch []pendingWrite) {
	p := w.p
	ops := make([]store.SaveOp, len(batch))
	for i, pw := range batch {
		ops[i] = pw.op
	}
	for i, r := range store.SaveAll(ctx, p.store, ops) {
		pw := batch[i]
		switch {
		case r.Err == nil:
			p.publishIfNewer(pw.s, p.newEntry(r.Record, false))
		case errors.Is(r.Err, store.ErrConflict):
			if err := p.updateRecord(ctx, pw.s, pw.change); err != nil {
				p.log.Warn("could not store the validation result", "subject", pw.s.key, "err", err)
			}
		default:
			p.log.Warn("could not store the validation result", "subject", pw.s.key, "err", r.Err)
		}
	}
}

// publishIfNewer publishes e unless s holds a newer entry already: one of a
// later version, or a renewal not yet saved (dirty), whose token is newer
// than the stored one e carries.
func (p *Provider) publishIfNewer(s *subject, e *entry) {
	for {
		cur := s.cur.Load()
		if cur != nil && (cur.g.dirty || cur.g.version >= e.g.version) {
			return
		}
		if s.cur.CompareAndSwap(cur, e) {
			p.reindex(s)
			return
		}
	}
}
