package broker

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// The audit trail (docs/broker.md, "Audit log"): every request to the token
// API, the Helix proxy and the admin routes made with a known API key, every
// operator action on the web pages, every intent change and every change of
// the API keys is one JSON line: time, key name, subject, route, status,
// remote address. Never a token, a key or a secret: an entry has no field
// that could hold one.

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	// Time is when the request was answered (UTC).
	Time time.Time `json:"time"`
	// Key is the API key's name; for the web pages, the name of the admin
	// key the operator signed in with.
	Key string `json:"key"`
	// KeyPrevious is set when the request used the key's previous value,
	// accepted during a rotation's grace period: the caller still has to be
	// given the new key.
	KeyPrevious bool `json:"key_previous,omitempty"`
	// Subject is the subject as the request named it: "app", "user:<id>",
	// "user:login:<login>", "intent:<name>".
	Subject string `json:"subject,omitempty"`
	// UserID is the user whose token was handed out or used (for an intent
	// or a login, the user it resolved to).
	UserID string `json:"user_id,omitempty"`
	// Route names the route: token_app, token_user, token_intent,
	// token_refresh, token_intent_refresh, helix, users, users_delete,
	// admin_*, web_* for the operator's pages, intent for intent changes,
	// keys for changes of the API keys.
	Route string `json:"route"`
	// Action says what changed, for intents and keys ("intent moved", "key
	// deleted").
	Action string `json:"action,omitempty"`
	// Method and Path are the request's (the path without its query).
	Method string `json:"method,omitempty"`
	Path   string `json:"path,omitempty"`
	// Status is the HTTP status answered; Error the error code of a refusal
	// ("subject_forbidden").
	Status int    `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
	// Remote is the client's address as the broker saw it (behind a reverse
	// proxy, the proxy's).
	Remote string `json:"remote,omitempty"`
}

// AuditStats counts what an AuditLog did.
type AuditStats struct {
	Written uint64 // entries written and synced
	Syncs   uint64 // fsync calls (each covers a batch)
	Errors  uint64 // failed writes or syncs (each retried)
	Dropped uint64 // entries dropped: the queue was full while the file could not be written
}

// auditFile is the file an AuditLog writes (an *os.File; tests replace it).
type auditFile interface {
	io.Writer
	Sync() error
	Close() error
}

// Bounds of the audit writer.
const (
	auditQueue      = 8192                 // entries waiting for the writer
	auditBatch      = 4096                 // entries per write and fsync at most
	auditLinger     = 2 * time.Millisecond // how long a batch waits for more entries
	auditMaxPending = 16 << 20             // bytes kept while the file cannot be written
	auditRetry      = 1 * time.Second      // retry period while failing
	auditFlushWait  = 10 * time.Second     // Close's bound
)

// AuditLog appends AuditEntries to a file as JSON lines. The file is
// created with mode 0600 (an existing file is set to 0600) and opened for
// appending, so that logrotate's copytruncate and log shippers that tail it
// both work. Entries are written by one goroutine in batches, each batch
// followed by one fsync: a batch holds the entries that arrive within 2 ms
// of its first one and those that arrived during the previous fsync (group
// commit), so that an entry is on disk within milliseconds and the cost of
// a write and an fsync is shared by every request of a busy moment.
//
// When a write or an fsync fails, the entries are kept (up to 16 MiB) and
// retried every second, reopening the file; Err reports the failure until a
// retry succeeds. The broker answers 503 audit_unavailable to the routes it
// audits meanwhile, rather than hand out a token it cannot record (as
// Vault does when its audit devices fail). Reopen (SIGHUP) starts a new
// file after the old one was renamed. Methods are safe for concurrent use.
type AuditLog struct {
	path string
	log  *slog.Logger
	open func(path string) (auditFile, error)

	ch      chan AuditEntry
	reqs    chan auditReq
	done    chan struct{}
	stopped chan struct{}
	closing sync.Once

	err atomic.Pointer[string] // the current failure, nil when healthy

	written, syncs, errs, dropped atomic.Uint64
}

// auditReq asks the writer to flush (and reopen, if set) and answer.
type auditReq struct {
	reopen bool
	reply  chan error
}

// OpenAuditLog opens (creating it with mode 0600) the audit log at path
// and starts its writer. Close it to write the last entries.
func OpenAuditLog(path string, log *slog.Logger) (*AuditLog, error) {
	return openAuditLog(path, log, openAuditFile)
}

func openAuditLog(path string, log *slog.Logger, open func(string) (auditFile, error)) (*AuditLog, error) {
	if path == "" {
		return nil, errors.New("broker: the audit log needs a file path")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f, err := open(path)
	if err != nil {
		return nil, fmt.Errorf("broker: opening the audit log: %w", err)
	}
	a := &AuditLog{path: path, log: log, open: open,
		ch: make(chan AuditEntry, auditQueue), reqs: make(chan auditReq), done: make(chan struct{}), stopped: make(chan struct{})}
	go a.run(f)
	return a, nil
}

// openAuditFile opens path for appending with mode 0600.
func openAuditFile(path string) (auditFile, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Path returns the file's path.
func (a *AuditLog) Path() string { return a.path }

// Record queues e (its Time set to now when zero). It blocks while the
// queue is full and the file is being written; while the file cannot be
// written and the queue is full, it drops e and counts it.
func (a *AuditLog) Record(e AuditEntry) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	select {
	case <-a.done:
		a.dropped.Add(1)
		return
	default:
	}
	select {
	case a.ch <- e:
		return
	default:
	}
	if a.Err() != nil {
		a.dropped.Add(1)
		return
	}
	select {
	case a.ch <- e:
	case <-a.done:
		a.dropped.Add(1)
	}
}

// Err returns why the audit log cannot be written now, or nil.
func (a *AuditLog) Err() error {
	if p := a.err.Load(); p != nil {
		return fmt.Errorf("the audit log %s cannot be written: %s", a.path, *p)
	}
	return nil
}

// Flush returns once every entry recorded before the call is written and
// synced, or with the error that prevents it.
func (a *AuditLog) Flush() error { return a.request(false) }

// Reopen writes the queued entries, closes the file and opens the path
// again: after logrotate (or anyone) renamed the file, entries go to a new
// file at path. serve calls it on SIGHUP.
func (a *AuditLog) Reopen() error { return a.request(true) }

func (a *AuditLog) request(reopen bool) error {
	reply := make(chan error, 1)
	select {
	case a.reqs <- auditReq{reopen: reopen, reply: reply}:
		return <-reply
	case <-a.stopped:
		return errors.New("broker: the audit log is closed")
	}
}

// Close writes the queued entries (waiting up to 10 seconds for a failing
// file) and closes the file.
func (a *AuditLog) Close() error {
	a.closing.Do(func() { close(a.done) })
	<-a.stopped
	return a.Err()
}

// Stats returns the log's counters.
func (a *AuditLog) Stats() AuditStats {
	return AuditStats{Written: a.written.Load(), Syncs: a.syncs.Load(), Errors: a.errs.Load(), Dropped: a.dropped.Load()}
}

// auditWriter is the writer goroutine's state.
type auditWriter struct {
	a       *AuditLog
	f       auditFile // nil after a failed reopen
	buf     []byte    // encoded entries not yet written
	entries int       // entries in buf
	unsync  int       // entries written, not yet synced
}

func (a *AuditLog) run(f auditFile) {
	defer close(a.stopped)
	w := &auditWriter{a: a, f: f}
	retry := time.NewTicker(auditRetry)
	defer retry.Stop()
	linger := time.NewTimer(auditLinger)
	linger.Stop()
	for {
		select {
		case e := <-a.ch:
			w.add(e)
			w.linger(linger)
			w.flush(false)
		case req := <-a.reqs:
			w.drain(len(a.ch))
			err := w.flush(req.reopen)
			req.reply <- err
		case <-retry.C:
			if w.entries > 0 || w.unsync > 0 || w.f == nil {
				w.flush(true)
			}
		case <-a.done:
			deadline := time.Now().Add(auditFlushWait)
			for {
				w.drain(len(a.ch))
				if w.flush(w.f == nil) == nil && len(a.ch) == 0 || time.Now().After(deadline) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if w.entries > 0 {
				a.dropped.Add(uint64(w.entries))
				a.log.Error("audit log closed with entries it could not write", "path", a.path, "entries", w.entries)
			}
			if w.f != nil {
				w.f.Close()
			}
			return
		}
	}
}

// add encodes e into the buffer.
func (w *auditWriter) add(e AuditEntry) {
	line, err := json.Marshal(e)
	if err != nil { // cannot happen: the entry has only strings, ints and a time
		w.a.log.Error("audit entry not encoded", "err", err)
		return
	}
	w.buf = append(append(w.buf, line...), '\n')
	w.entries++
}

// linger adds the entries that arrive within auditLinger (up to a batch),
// so that one write and one fsync serve them all.
func (w *auditWriter) linger(t *time.Timer) {
	t.Reset(auditLinger)
	defer t.Stop()
	for w.entries < auditBatch {
		select {
		case e := <-w.a.ch:
			w.add(e)
		case <-t.C:
			w.drain(auditBatch - w.entries)
			return
		case <-w.a.done:
			return
		}
	}
}

// drain moves up to n queued entries into the buffer (fewer while failing
// with a full buffer).
func (w *auditWriter) drain(n int) {
	for range n {
		if w.a.err.Load() != nil && len(w.buf) >= auditMaxPending {
			return
		}
		select {
		case e := <-w.a.ch:
			w.add(e)
		default:
			return
		}
	}
}

// flush writes the buffer and syncs it, reopening the file first when
// asked (or after a failure). On failure the unwritten part is kept for the
// next try.
func (w *auditWriter) flush(reopen bool) error {
	if reopen {
		if w.f != nil {
			if err := w.writeSync(); err != nil && w.entries > 0 {
				// Try the new file below with what is left.
				w.a.log.Warn("audit log: writing before reopening failed", "path", w.a.path, "err", err)
			}
			w.f.Close()
			w.f = nil
		}
		f, err := w.a.open(w.a.path)
		if err != nil {
			return w.fail(fmt.Errorf("reopening: %w", err))
		}
		w.f = f
	}
	if w.f == nil {
		return w.fail(errors.New("the file is not open (a reopen failed)"))
	}
	if err := w.writeSync(); err != nil {
		return w.fail(err)
	}
	if p := w.a.err.Swap(nil); p != nil {
		w.a.log.Info("audit log: writing again", "path", w.a.path)
	}
	return nil
}

// writeSync writes the buffer, then fsyncs.
func (w *auditWriter) writeSync() error {
	if len(w.buf) > 0 {
		n, err := w.f.Write(w.buf)
		if n == len(w.buf) {
			w.unsync += w.entries
			w.buf, w.entries = w.buf[:0], 0
		} else {
			w.buf = w.buf[n:]
		}
		if err != nil {
			return fmt.Errorf("writing: %w", err)
		}
	}
	if w.unsync == 0 {
		return nil
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("syncing: %w", err)
	}
	w.a.syncs.Add(1)
	w.a.written.Add(uint64(w.unsync))
	w.unsync = 0
	return nil
}

func (w *auditWriter) fail(err error) error {
	w.a.errs.Add(1)
	msg := err.Error()
	if p := w.a.err.Swap(&msg); p == nil || *p != msg {
		w.a.log.Error("audit log cannot be written; the broker refuses audited requests (503) until it can, retrying every second",
			"path", w.a.path, "err", err)
	}
	return fmt.Errorf("broker: the audit log %s: %w", w.a.path, err)
}
