package broker

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/twitchauth/twitchauth/provider"
)

// Intents name a user for a role ("chat", "broadcaster"), so that services
// ask for /v1/token/intent/chat without knowing who it is. Only the
// operator binds or moves one (docs/broker.md, "Trust model"):
//
//   - a sign-in the operator starts for an intent (its session and CSRF
//     token; the signed state carries the operator's name) binds the intent
//     if it points at nobody;
//   - a sign-in never moves an intent: if it points at another user, the
//     operator is offered the explicit move;
//   - the explicit move (or unassignment) is the confirmation page's form,
//     or PUT/DELETE /v1/admin/intents/{name} with an admin key.
//
// Every change is logged ("intent bound", "intent moved", "intent
// unassigned", with from, to and by) and listed on the accounts page.

// maxIntentChanges is how many recent intent changes the accounts page
// lists (per replica, since the start; the log keeps them all).
const maxIntentChanges = 20

// intentChange is one change of an intent's binding.
type intentChange struct {
	at               time.Time
	intent, from, to string // user IDs; "" = nobody
	by, via          string // the operator; web, api or sign-in
}

// intentChangeView is an intentChange as the accounts page shows it.
type intentChangeView struct {
	Ago, Intent, From, To, By, Via string
}

// intentLog keeps the most recent intent changes.
type intentLog struct {
	mu      sync.Mutex
	changes []intentChange // oldest first
}

func (l *intentLog) add(c intentChange) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.changes = append(l.changes, c)
	if len(l.changes) > maxIntentChanges {
		l.changes = l.changes[len(l.changes)-maxIntentChanges:]
	}
}

func (l *intentLog) snapshot() []intentChange {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]intentChange(nil), l.changes...)
}

// views lists the changes newest first, for the accounts page.
func (b *Broker) intentViews(now time.Time) []intentChangeView {
	cs := b.intents.snapshot()
	out := make([]intentChangeView, 0, len(cs))
	name := func(id string) string {
		if id == "" {
			return "nobody"
		}
		return b.describeUser(id)
	}
	for i := len(cs) - 1; i >= 0; i-- {
		c := cs[i]
		out = append(out, intentChangeView{Ago: humanDuration(now.Sub(c.at)) + " ago", Intent: c.intent,
			From: name(c.from), To: name(c.to), By: c.by, Via: c.via})
	}
	return out
}

// changeIntent points intent at to ("" = nobody) if it points at from now
// (see Provider.SetIntentIf), then logs and records the change.
func (b *Broker) changeIntent(r *http.Request, intent, from, to, by, via string) error {
	if err := b.provider.SetIntentIf(r.Context(), intent, from, to); err != nil {
		return err
	}
	if from == to {
		return nil
	}
	msg := "intent moved"
	switch {
	case from == "":
		msg = "intent bound"
	case to == "":
		msg = "intent unassigned"
	}
	b.log.Info(msg, "intent", intent, "from", from, "to", to, "by", by, "via", via)
	b.intents.add(intentChange{at: b.now(), intent: intent, from: from, to: to, by: by, via: via})
	b.audit(AuditEntry{Key: by, Route: "intent", Action: msg + " (" + via + ")", Subject: "intent:" + intent, UserID: to,
		Method: r.Method, Path: r.URL.Path, Remote: r.RemoteAddr})
	return nil
}

// handleIntentConfirm is GET /intents/assign?intent=X&user=ID (user empty:
// unassign): the operator's confirmation of a move, naming who the intent
// points at now.
func (b *Broker) handleIntentConfirm(w http.ResponseWriter, r *http.Request, s session) {
	q := r.URL.Query()
	in, to := q.Get("intent"), q.Get("user")
	if !intentRE().MatchString(in) {
		b.badIntent(w, r, in)
		return
	}
	if to != "" {
		if _, held := b.provider.User(to); !userIDRE().MatchString(to) || !held {
			b.messagePage(w, r, http.StatusNotFound, "No such account", "No account with ID "+to+" is connected.", "")
			return
		}
	}
	from := b.provider.Intents()[in]
	if from == to {
		now := "nobody"
		if to != "" {
			now = b.describeUser(to)
		}
		b.messagePage(w, r, http.StatusOK, "Nothing to change", "Intent "+in+" already points at "+now+".", "")
		return
	}
	d := b.base(r)
	d.Action = "/intents/assign"
	d.Fields = []field{{"intent", in}, {"user", to}, {"from", from}}
	d.Cancel = "/"
	switch {
	case to == "":
		d.Heading = "Unassign intent " + in + "?"
		d.Message = "Intent " + in + " points at " + b.describeUser(from) + ". After this it points at nobody: services asking for it get 404."
		d.Button, d.Danger = "Unassign "+in, true
	case from == "":
		d.Heading = "Assign intent " + in + "?"
		d.Message = "Intent " + in + " points at nobody. After this, services asking for it get the token of " + b.describeUser(to) + "."
		d.Button = "Assign " + in
	default:
		d.Heading = "Move intent " + in + "?"
		d.Message = "Intent " + in + " points at " + b.describeUser(from) + ". After this, services asking for it get the token of " + b.describeUser(to) + " instead."
		d.Button, d.Danger = "Move "+in, true
	}
	d.Title = d.Heading
	b.render(w, http.StatusOK, "confirm", d)
}

// handleIntentAssign is the confirmation page's form (POST /intents/assign).
func (b *Broker) handleIntentAssign(w http.ResponseWriter, r *http.Request, s session) {
	in, from, to := r.PostForm.Get("intent"), r.PostForm.Get("from"), r.PostForm.Get("user")
	if !intentRE().MatchString(in) {
		b.badIntent(w, r, in)
		return
	}
	if err := b.auditUnavailable(); err != nil {
		b.messagePage(w, r, http.StatusServiceUnavailable, "Audit log unavailable",
			"The broker records every operator action in its audit log, which cannot be written now; nothing was done.", "See /readyz and the broker's log.")
		return
	}
	done := "intentmoved"
	switch {
	case to == "":
		done = "intentunassigned"
	case from == "":
		done = "intentassigned"
	}
	if err := b.changeIntent(r, in, from, to, s.keyName, "web"); err != nil {
		if errors.Is(err, provider.ErrIntentChanged) {
			done = "intentchanged"
		} else {
			b.log.Warn("changing an intent failed", "intent", in, "err", err)
			done = "failed"
		}
	}
	http.Redirect(w, r, "/?done="+done, http.StatusSeeOther)
}

// intentRequest is the body of PUT /v1/admin/intents/{name}.
type intentRequest struct {
	// User is the user to point the intent at: a user ID, or login:NAME.
	User string `json:"user"`
	// Expect, when present, is the user ID the intent must point at now
	// ("" = nobody) for the change to happen; otherwise 409.
	Expect *string `json:"expect"`
}

// intentResponse answers a change of an intent.
type intentResponse struct {
	Intent   string `json:"intent"`
	UserID   string `json:"user_id"`
	Previous string `json:"previous_user_id"`
}

// decodeJSON reads a small JSON object into v, refusing unknown fields and
// anything after the object.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return false
	}
	_, err := dec.Token()
	return err == io.EOF
}

// apiSetIntent is PUT /v1/admin/intents/{name} {"user": "<id>|login:NAME"[, "expect": "<id>"]}.
func (b *Broker) apiSetIntent(w http.ResponseWriter, r *http.Request, key *APIKey) {
	name := r.PathValue("name")
	if !intentRE().MatchString(name) {
		writeError(w, http.StatusBadRequest, "bad_request", errIntentName)
		return
	}
	var body intentRequest
	if !decodeJSON(w, r, &body) || body.User == "" {
		writeError(w, http.StatusBadRequest, "bad_request", `send {"user": "<user ID or login:NAME>"} as JSON, optionally with "expect": "<the user ID it points at now, or \"\">"`)
		return
	}
	ref, ok := parseUserRef(body.User)
	if !ok {
		writeError(w, http.StatusBadRequest, "bad_request", errUserRef)
		return
	}
	id, found, hint := b.resolveUser(ref)
	if !found {
		writeError(w, http.StatusNotFound, "not_found", hint)
		return
	}
	from := b.provider.Intents()[name]
	if body.Expect != nil {
		from = *body.Expect
	}
	if err := b.changeIntent(r, name, from, id, key.Name, "api"); err != nil {
		if errors.Is(err, provider.ErrIntentChanged) {
			writeError(w, http.StatusConflict, "intent_changed", err.Error()+"; read it again (GET /v1/users) and retry")
			return
		}
		writeError(w, http.StatusBadGateway, "store_error", "the intent could not be saved; try again")
		b.log.Warn("changing an intent failed", "intent", name, "err", err)
		return
	}
	writeJSON(w, http.StatusOK, intentResponse{Intent: name, UserID: id, Previous: from})
}

// apiDeleteIntent is DELETE /v1/admin/intents/{name}: the intent then
// points at nobody.
func (b *Broker) apiDeleteIntent(w http.ResponseWriter, r *http.Request, key *APIKey) {
	name := r.PathValue("name")
	if !intentRE().MatchString(name) {
		writeError(w, http.StatusBadRequest, "bad_request", errIntentName)
		return
	}
	from, ok := b.provider.Intents()[name]
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", noIntentUser(name))
		return
	}
	if err := b.changeIntent(r, name, from, "", key.Name, "api"); err != nil {
		if errors.Is(err, provider.ErrIntentChanged) {
			writeError(w, http.StatusConflict, "intent_changed", err.Error()+"; retry")
			return
		}
		writeError(w, http.StatusBadGateway, "store_error", "the intent could not be saved; try again")
		b.log.Warn("unassigning an intent failed", "intent", name, "err", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// errIntentName explains a malformed intent name.
const errIntentName = "an intent name is 1 to 64 letters, digits, '_', '.' or '-'"

// noIntentUser is the one wording of an intent that points at nobody.
func noIntentUser(name string) string {
	return "no user is connected for intent " + name + "; the operator assigns intents (docs/broker.md, Trust model)"
}
