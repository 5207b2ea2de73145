package broker

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/provider"
	"github.com/twitchauth/twitchauth/scopes"
	"github.com/twitchauth/twitchauth/store"
)

// tokenResponse is the JSON body of the token routes. The refresh token is
// never given out: the broker alone refreshes, because Twitch may rotate the
// refresh token on every use and two holders would race.
type tokenResponse struct {
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type"`
	ExpiresAt   time.Time `json:"expires_at,omitzero"`
	ExpiresIn   int64     `json:"expires_in"`
	Scopes      []string  `json:"scopes"`
	UserID      string    `json:"user_id,omitempty"`
	Login       string    `json:"login,omitempty"`
}

// accountResponse is one entry of GET /v1/users.
type accountResponse struct {
	UserID        string    `json:"user_id"`
	Login         string    `json:"login"`
	Scopes        []string  `json:"scopes"`
	Intents       []string  `json:"intents"`
	ExpiresAt     time.Time `json:"expires_at,omitzero"`
	LastValidated time.Time `json:"last_validated,omitzero"`
	Status        string    `json:"status"`
}

// errorResponse is the JSON body of every refusal of the API.
type errorResponse struct {
	Error   string   `json:"error"`
	Message string   `json:"message"`
	Missing []string `json:"missing_scopes,omitempty"`
	// Endpoints are the ?for= endpoints a grant cannot call (checkFor).
	Endpoints []endpointMissing `json:"endpoints,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	if sw, ok := w.(*statusWriter); ok && sw.errCode == "" {
		sw.errCode = code
	}
	writeJSON(w, status, errorResponse{Error: code, Message: msg})
}

// bearer extracts the API key from "Authorization: Bearer <key>".
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// requirePerm wraps h so that it runs only for a request carrying a valid
// API key holding perm: 401 without a valid key (an expired key, or a
// rotated key's previous value past its grace period, is told so), 403
// with a key lacking perm, 503 while the audit log cannot be written. Every
// request made with a known key is audited when it ends.
func (b *Broker) requirePerm(route string, perm Perm, h func(http.ResponseWriter, *http.Request, *APIKey)) http.Handler {
	requests := &codeCounters{vec: b.metrics.apiRequests, labels: []string{route}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		ai := &auditInfo{}
		defer func() {
			requests.inc(sw.code())
			b.finishRequest(route, r, sw, ai)
		}()
		e, err := b.keys.authenticate(bearer(r), b.now())
		ai.key, ai.previous = e.key, e.previous
		if err != nil {
			sw.Header().Set("WWW-Authenticate", `Bearer realm="twitchauth"`)
			switch {
			case errors.Is(err, ErrKeyExpired):
				writeError(sw, http.StatusUnauthorized, "key_expired", fmt.Sprintf("API key %q expired at %s; ask the operator for a new one (twitchauth serve keys rotate --name %s)",
					e.key.Name, e.key.Expires.UTC().Format(time.RFC3339), e.key.Name))
			case errors.Is(err, ErrKeyRotated):
				writeError(sw, http.StatusUnauthorized, "key_rotated", fmt.Sprintf("this is the previous value of API key %q, replaced by a rotation; its grace period ended at %s: use the new key",
					e.key.Name, e.until.UTC().Format(time.RFC3339)))
			default:
				writeError(sw, http.StatusUnauthorized, "unauthorized", "send a valid API key as Authorization: Bearer <key>")
			}
			return
		}
		if !allowed(e.key, perm) {
			writeError(sw, http.StatusForbidden, "forbidden", "this API key lacks the "+string(perm)+" permission")
			return
		}
		if err := b.auditUnavailable(); err != nil {
			writeError(sw, http.StatusServiceUnavailable, "audit_unavailable", "the broker records every request in its audit log, which cannot be written now; it answers again once it can (see /readyz)")
			return
		}
		h(sw, withAudit(r, ai), e.key)
	})
}

// checkSubject is the scope check of a route that hands out or uses a
// token, made before the subject is looked up: it records the subject for
// the audit log and, when key may not use s, answers 403 naming the key and
// the subject as requested (the same answer whether or not it is held).
func (b *Broker) checkSubject(w http.ResponseWriter, r *http.Request, key *APIKey, s subjectRef) bool {
	noteSubject(r, s)
	if subjectAllowed(key, s, b.provider.LookupLogin) {
		return true
	}
	writeError(w, http.StatusForbidden, "subject_forbidden", fmt.Sprintf("API key %q may not use the subject %s (its subjects: %s)",
		key.Name, s, key.compiledScope().describe()))
	return false
}

// statusWriter records the status code written, and the error code of a
// refusal, for metrics and the audit log.
type statusWriter struct {
	http.ResponseWriter
	status  int
	errCode string
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (b *Broker) writeToken(w http.ResponseWriter, tok *twitchauth.Token) {
	resp := tokenResponse{
		AccessToken: tok.AccessToken,
		TokenType:   tok.TokenType,
		Scopes:      tok.Scopes,
		UserID:      tok.UserID,
		Login:       tok.Login,
	}
	if resp.TokenType == "" {
		resp.TokenType = "bearer"
	}
	if resp.Scopes == nil {
		resp.Scopes = []string{}
	}
	if !tok.Expiry.IsZero() {
		resp.ExpiresAt = tok.Expiry.UTC().Truncate(time.Second)
		resp.ExpiresIn = max(0, int64(tok.Expiry.Sub(b.now())/time.Second))
	}
	writeJSON(w, http.StatusOK, resp)
}

// providerError answers a Provider failure with the matching status.
func (b *Broker) providerError(w http.ResponseWriter, r *http.Request, subject string, err error) {
	var ms *twitchauth.MissingScopesError
	switch {
	case errors.As(err, &ms):
		if sw, ok := w.(*statusWriter); ok && sw.errCode == "" {
			sw.errCode = "missing_scopes"
		}
		writeJSON(w, http.StatusForbidden, errorResponse{Error: "missing_scopes",
			Message: "the grant lacks scopes; the user must authorize again with them", Missing: ms.Missing})
	case errors.Is(err, provider.ErrUnknownSubject):
		if name, ok := strings.CutPrefix(subject, "intent "); ok {
			writeError(w, http.StatusNotFound, "not_found", noIntentUser(name))
			return
		}
		writeError(w, http.StatusNotFound, "not_found", "no grant is held for "+subject)
	case errors.Is(err, provider.ErrGrantRevoked):
		writeError(w, http.StatusGone, "grant_revoked", "the user of "+subject+" revoked the app's access on Twitch (disconnected it); "+
			"the broker no longer serves their tokens: the user must connect again at "+b.cfg.PublicURL+"/signin")
	case errors.Is(err, provider.ErrGrantDead):
		writeError(w, http.StatusGone, "grant_lost", "the grant of "+subject+" can no longer be refreshed (Twitch refused its refresh token); the user must connect again")
	case isConfigError(err):
		writeError(w, http.StatusBadGateway, "client_credentials_refused", "Twitch refused the broker's client credentials; check /readyz")
	case r.Context().Err() != nil:
		writeError(w, http.StatusServiceUnavailable, "canceled", "the request was canceled")
	default:
		b.log.Warn("token request failed", "subject", subject, "err", err)
		writeError(w, http.StatusBadGateway, "upstream_error", "could not get a token from Twitch; try again later")
	}
}

var (
	userIDRE = lazyRegexp(`^[0-9]{1,20}$`)
	loginRE  = lazyRegexp(`^[A-Za-z0-9_]{1,25}$`)
	intentRE = lazyRegexp(`^[A-Za-z0-9_.-]{1,64}$`)
	scopeRE  = lazyRegexp(`^[A-Za-z0-9_:.-]{1,100}$`)
)

// parseScopes reads the optional ?scopes=a,b (also space-separated).
func parseScopes(r *http.Request) ([]string, bool) {
	v := r.URL.Query().Get("scopes")
	if v == "" {
		return nil, true
	}
	var out []string
	for _, s := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		if !scopeRE().MatchString(s) {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// userRef is a reference to a user in a route or a subject: a Twitch user
// ID, or a login. The rule is unambiguous: all digits is always a user ID
// (Twitch logins may be all digits too: ask for those with login:NAME);
// "login:NAME" is a login; any other bare name is a login (it cannot be
// an ID).
type userRef struct {
	id, login string
}

// errUserRef explains a malformed user reference.
const errUserRef = "the user must be a Twitch user ID (digits) or login:NAME (a bare name that is not all digits is read as a login too)"

// parseUserRef reads a user reference (see userRef).
func parseUserRef(s string) (userRef, bool) {
	if name, ok := strings.CutPrefix(s, "login:"); ok {
		return userRef{login: name}, loginRE().MatchString(name)
	}
	if userIDRE().MatchString(s) {
		return userRef{id: s}, true
	}
	return userRef{login: s}, loginRE().MatchString(s)
}

func (u userRef) String() string {
	if u.id != "" {
		return u.id
	}
	return "login:" + u.login
}

// resolveUser maps a user reference to a held user's ID; when none is held,
// hint says so in the one wording of the API (and points a digits-only
// login asked as an ID to login:NAME).
func (b *Broker) resolveUser(u userRef) (id string, found bool, hint string) {
	if u.id != "" {
		if _, ok := b.provider.User(u.id); ok {
			return u.id, true, ""
		}
		hint = "no grant is held for user ID " + u.id
		if _, ok := b.provider.LookupLogin(u.id); ok {
			hint += "; a user with the login " + u.id + " is held: ask for login:" + u.id
		}
		return "", false, hint
	}
	if id, ok := b.provider.LookupLogin(u.login); ok {
		return id, true, ""
	}
	return "", false, "no grant is held for the user with login " + u.login
}

func (b *Broker) apiAppToken(w http.ResponseWriter, r *http.Request, key *APIKey) {
	if _, err := forParams(r.URL.Query(), scopes.App); err != nil {
		writeError(w, http.StatusBadRequest, "bad_for", err.Error())
		return
	}
	if !b.checkSubject(w, r, key, appSubject()) {
		return
	}
	tok, err := b.provider.Token(r.Context(), provider.App())
	if err != nil {
		b.providerError(w, r, "the app", err)
		return
	}
	noteUse(r, "api", "")
	b.writeToken(w, tok)
}

// userParam reads the {user} path value (see userRef), answering 400
// itself when it is malformed.
func userParam(w http.ResponseWriter, r *http.Request) (userRef, bool) {
	ref, ok := parseUserRef(r.PathValue("user"))
	if !ok {
		writeError(w, http.StatusBadRequest, "bad_request", errUserRef)
	}
	return ref, ok
}

// scopedUser reads the {user} path value, checks key's scope for it, and
// resolves it to a held user's ID, answering 400, 403 or 404 itself when it
// cannot (in that order: the scope is checked before the user is looked up).
func (b *Broker) scopedUser(w http.ResponseWriter, r *http.Request, key *APIKey) (who, id string, ok bool) {
	ref, ok := userParam(w, r)
	if !ok || !b.checkSubject(w, r, key, userSubject(ref)) {
		return "", "", false
	}
	id, ok, hint := b.resolveUser(ref)
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", hint)
	}
	return "user " + ref.String(), id, ok
}

// scopedIntent reads the {name} path value and checks key's scope for that
// intent, answering 400 or 403 itself when it cannot.
func (b *Broker) scopedIntent(w http.ResponseWriter, r *http.Request, key *APIKey) (string, bool) {
	name := r.PathValue("name")
	if !intentRE().MatchString(name) {
		writeError(w, http.StatusBadRequest, "bad_request", errIntentName)
		return "", false
	}
	return name, b.checkSubject(w, r, key, intentSubject(name))
}

func (b *Broker) apiUserToken(w http.ResponseWriter, r *http.Request, key *APIKey) {
	want, ok := parseScopes(r)
	if !ok {
		writeError(w, http.StatusBadRequest, "bad_request", "scopes must be a comma-separated list of scope names")
		return
	}
	reqs, err := forParams(r.URL.Query(), scopes.User)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_for", err.Error())
		return
	}
	who, id, ok := b.scopedUser(w, r, key)
	if !ok {
		return
	}
	tok, err := b.provider.TokenWithScopes(r.Context(), provider.User(id), want...)
	if err != nil {
		b.providerError(w, r, who, err)
		return
	}
	if !b.checkFor(w, who, tok, reqs) {
		return
	}
	noteUse(r, "api", id)
	b.writeToken(w, tok)
}

func (b *Broker) apiIntentToken(w http.ResponseWriter, r *http.Request, key *APIKey) {
	name, ok := b.scopedIntent(w, r, key)
	if !ok {
		return
	}
	want, ok := parseScopes(r)
	if !ok {
		writeError(w, http.StatusBadRequest, "bad_request", "scopes must be a comma-separated list of scope names")
		return
	}
	reqs, err := forParams(r.URL.Query(), scopes.User)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_for", err.Error())
		return
	}
	id, ok := b.provider.Intents()[name]
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", noIntentUser(name))
		return
	}
	tok, err := b.provider.TokenWithScopes(r.Context(), provider.User(id), want...)
	if err != nil {
		b.providerError(w, r, "intent "+name, err)
		return
	}
	if !b.checkFor(w, "intent "+name, tok, reqs) {
		return
	}
	noteUse(r, "api", id)
	b.writeToken(w, tok)
}

func (b *Broker) apiRefresh(w http.ResponseWriter, r *http.Request, key *APIKey) {
	who, id, ok := b.scopedUser(w, r, key)
	if !ok {
		return
	}
	b.refreshAndWrite(w, r, who, id)
}

// apiIntentRefresh is POST /v1/token/intent/{name}/refresh: a key scoped to
// an intent renews that intent's token without being given its user.
func (b *Broker) apiIntentRefresh(w http.ResponseWriter, r *http.Request, key *APIKey) {
	name, ok := b.scopedIntent(w, r, key)
	if !ok {
		return
	}
	id, ok := b.provider.Intents()[name]
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", noIntentUser(name))
		return
	}
	b.refreshAndWrite(w, r, "intent "+name, id)
}

func (b *Broker) refreshAndWrite(w http.ResponseWriter, r *http.Request, who, id string) {
	tok, err := b.provider.Refresh(r.Context(), provider.User(id))
	if err != nil {
		b.providerError(w, r, who, err)
		return
	}
	noteUse(r, "api", id)
	b.writeToken(w, tok)
}

func (b *Broker) apiDeleteUser(w http.ResponseWriter, r *http.Request, key *APIKey) {
	_, id, ok := b.scopedUser(w, r, key)
	if !ok {
		return
	}
	auditOf(r).userID = id
	if err := b.removeUser(r, id, "api", key.Name); err != nil {
		writeError(w, http.StatusBadGateway, "revoke_failed", "Twitch did not confirm the revocation; the grant is kept, try again")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// removeUser revokes the user's tokens at Twitch and forgets the grant. A
// grant that is already dead or revoked is forgotten without revoking.
func (b *Broker) removeUser(r *http.Request, id, source, actor string) error {
	revoke := true
	if a, ok := b.provider.User(id); ok && a.Status != "" && a.Status != store.StatusActive {
		revoke = false
	}
	// Tokens Twitch no longer knows (ErrInvalidToken) count as revoked.
	if err := b.provider.RemoveUser(r.Context(), id, revoke); err != nil {
		b.log.Warn("removing a user failed", "user_id", id, "by", actor, "err", err)
		return err
	}
	b.metrics.revocations.WithLabelValues(source).Inc()
	b.log.Info("user removed", "user_id", id, "by", actor, "revoked", revoke)
	return nil
}

// apiUsers lists the held accounts. A scoped key sees only the accounts
// its subjects cover (user:<id>, user:*, or an intent of the account), and
// of their intents only those it covers.
func (b *Broker) apiUsers(w http.ResponseWriter, r *http.Request, key *APIKey) {
	accts := b.provider.Users()
	sc := key.compiledScope()
	out := make([]accountResponse, 0, len(accts))
	for _, a := range accts {
		if !sc.unscoped {
			a.Intents = slices.DeleteFunc(slices.Clone(a.Intents), func(in string) bool { return !sc.covers(intentSubject(in), nil) })
			if !sc.coversUser(a.UserID) && len(a.Intents) == 0 {
				continue
			}
		}
		st := a.Status
		if st == "" {
			st = store.StatusActive
		}
		out = append(out, accountResponse{
			UserID: a.UserID, Login: a.Login, Scopes: nonNil(a.Scopes), Intents: nonNil(a.Intents),
			ExpiresAt: a.Expiry.UTC(), LastValidated: a.LastValidated.UTC(), Status: st,
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
