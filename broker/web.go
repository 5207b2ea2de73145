package broker

import (
	"crypto/sha256"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/provider"
	"github.com/twitchauth/twitchauth/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Cookie names. The state cookie is sent only to /callback.
const (
	stateCookie   = "twitchauth_state"
	sessionCookie = "twitchauth_session"
)

// contentSecurityPolicy allows nothing but the broker's own stylesheet and
// forms posting to itself, whose answer may redirect to Twitch's authorize
// page (authOrigin; browsers apply form-action to a form's redirects too):
// the pages need no script.
func contentSecurityPolicy(authOrigin string) string {
	return "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' " + authOrigin + "; base-uri 'none'; frame-ancestors 'none'"
}

// maxForm bounds the body of the pages' forms.
const maxForm = 4096

type pages struct {
	t map[string]*template.Template
}

func newPages() (*pages, error) {
	funcs := template.FuncMap{"join": strings.Join}
	p := &pages{t: map[string]*template.Template{}}
	for _, name := range []string{"home", "signin", "login", "message", "confirm"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("broker: parsing template %s: %w", name, err)
		}
		p.t[name] = t
	}
	return p, nil
}

// pageData is what every page template receives.
type pageData struct {
	Title    string
	Operator bool
	// Session is true for a signed-in operator (not the loopback-open
	// sandbox mode's automatic session): the page offers Sign out.
	Session bool
	Sandbox bool
	Links   []Link
	// CSRF is the operator session's CSRF token, put in every form.
	CSRF string
	// message pages
	Heading, Message, Hint string
	Link, LinkText         string
	// sign-in page
	Scopes []string
	// Connect is the sign-in link (/authorize with the for= and scope=
	// parameters); ForFields the same parameters for the intent form.
	Connect      string
	ForFields    []field
	Intent       string
	IntentHolder string // who the intent points at now, for the operator
	// home page
	Accounts      []accountView
	Flash         string
	FlashErr      bool
	FlashReadyz   bool // the flash ends with a link to /readyz
	ClientID      string
	CredError     string // refused client credentials (banner)
	IntentChanges []intentChangeView
	// Problems are the grants' troubles: unsaved renewals, unreadable
	// records (banner; see degradation).
	Problems []string
	// login page
	LoginError string
	// confirmation pages
	Action string
	Fields []field
	Button string
	Danger bool
	Cancel string
}

// field is a hidden field of a confirmation form.
type field struct{ Name, Value string }

type accountView struct {
	UserID, Login, Scopes, Expires, Validated, Status string
	Intents                                           []string
	Active                                            bool
	// Regranted: Twitch said (EventSub user.authorization.grant) that the
	// user authorized the app again while their grant here is not active.
	Regranted string
	Reads     []readView // last reads by key, most recent first
}

func (b *Broker) render(w http.ResponseWriter, status int, name string, d pageData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := b.pages.t[name].Execute(w, d); err != nil {
		b.log.Error("rendering a page", "page", name, "err", err)
	}
}

// securityHeaders adds the headers every page and asset carries.
func (b *Broker) securityHeaders(next http.Handler) http.Handler {
	csp := contentSecurityPolicy(b.authOrigin())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		// The callback URL carries the authorization code: never send it
		// onwards as a Referer.
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// authOrigin returns the origin of Twitch's authorize page
// (https://id.twitch.tv, or the sandbox's).
func (b *Broker) authOrigin() string {
	u, err := url.Parse(b.twitch.AuthorizeURL("x"))
	if err != nil || u.Host == "" {
		return "https://id.twitch.tv"
	}
	return u.Scheme + "://" + u.Host
}

// loopbackAlias reports whether the request reached the broker under another
// loopback name than the public URL's (127.0.0.1 vs localhost). Other host
// mismatches are left alone: behind a reverse proxy the Host may differ.
func (b *Broker) loopbackAlias(r *http.Request) bool {
	pu, err := url.Parse(b.cfg.PublicURL)
	if err != nil || strings.EqualFold(r.Host, pu.Host) {
		return false
	}
	isLocal := func(hostport string) bool {
		h, _, err := net.SplitHostPort(hostport)
		if err != nil {
			h = hostport
		}
		return strings.EqualFold(h, "localhost") || isLoopback(h)
	}
	return isLocal(r.Host) && isLocal(pu.Host) && pu.Port() == portOf(r.Host)
}

func portOf(hostport string) string {
	_, p, _ := net.SplitHostPort(hostport)
	return p
}

func isLoopback(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func (b *Broker) base(r *http.Request) pageData {
	d := pageData{Sandbox: b.cfg.OpenOnLoopback, Links: b.cfg.Links}
	if s, ok := b.operator(r); ok {
		d.Operator, d.Session, d.CSRF = true, s.keyName != loopbackOperator, b.csrfToken(s)
	}
	return d
}

func (b *Broker) handleRoot(w http.ResponseWriter, r *http.Request) {
	if _, op := b.operator(r); !op {
		b.handleSignin(w, r)
		return
	}
	b.handleHome(w, r)
}

// badIntent answers a malformed intent name.
func (b *Broker) badIntent(w http.ResponseWriter, r *http.Request, name string) {
	b.messagePage(w, r, http.StatusBadRequest, "Not a valid intent name",
		fmt.Sprintf("%q is not an intent name: an intent name is 1 to 64 letters, digits, '_', '.' or '-'.", name),
		"Check the link you were given.")
}

// intentRefused answers a visitor who asks to connect for an intent: only
// the operator binds intents.
func (b *Broker) intentRefused(w http.ResponseWriter, r *http.Request, name string) {
	d := b.base(r)
	d.Title, d.Heading = "Only the operator assigns intents", "Only the operator assigns intents"
	d.Message = fmt.Sprintf("This link asks to connect your Twitch account as %q, a role that this broker's operator assigns. "+
		"You can connect your own account now; the operator can then assign it that role on the accounts page.", name)
	d.Hint = "Operator: sign in at /login first, then open this link again."
	d.Link, d.LinkText = "/signin", "Connect my account"
	b.render(w, http.StatusForbidden, "message", d)
}

func (b *Broker) handleSignin(w http.ResponseWriter, r *http.Request) {
	d := b.base(r)
	d.Title = "Connect your Twitch account"
	d.Scopes = b.twitch.Scopes
	q := r.URL.Query()
	d.Connect = "/authorize"
	if list, custom, err := signinScopes(q); err != nil {
		b.badSigninScopes(w, r, err)
		return
	} else if custom {
		d.Scopes = list
		sq := signinQuery(q)
		d.Connect += "?" + sq.Encode()
		for _, k := range []string{"for", "scope"} {
			for _, v := range sq[k] {
				d.ForFields = append(d.ForFields, field{Name: k, Value: v})
			}
		}
	}
	if q.Has("intent") {
		in := q.Get("intent")
		switch {
		case !intentRE().MatchString(in):
			b.badIntent(w, r, in)
			return
		case !d.Operator:
			b.intentRefused(w, r, in)
			return
		}
		d.Intent = in
		if id, ok := b.provider.Intents()[in]; ok {
			d.IntentHolder = b.describeUser(id)
		}
	}
	b.render(w, http.StatusOK, "signin", d)
}

// describeUser names a held user for a page or a log: "login (id N)".
func (b *Broker) describeUser(id string) string {
	if a, ok := b.provider.User(id); ok && a.Login != "" {
		return a.Login + " (id " + id + ")"
	}
	return "user " + id
}

// flash is a fixed message the home page shows after an action.
type flash struct {
	text   string
	err    bool
	readyz bool // ends with a link to /readyz
}

var flashes = map[string]flash{
	"connected":        {text: "Account connected."},
	"bound":            {text: "Account connected, and the intent now points at it."},
	"validated":        {text: "Tokens validated with Twitch."},
	"refreshed":        {text: "Token refreshed."},
	"revoked":          {text: "Access revoked and account disconnected."},
	"failed":           {text: "The action failed; see the broker's log.", err: true},
	"revokefail":       {text: "Twitch did not confirm the revocation; the account is kept. Try again.", err: true},
	"gone":             {text: "That account is no longer connected.", err: true},
	"signedin":         {text: "Signed in."},
	"lostgrant":        {text: "Twitch refused the refresh token: the user must connect again.", err: true},
	"credentials":      {text: "Twitch refused the broker's client credentials; see", err: true, readyz: true},
	"intentassigned":   {text: "Intent assigned."},
	"intentmoved":      {text: "Intent moved."},
	"intentunassigned": {text: "Intent unassigned."},
	"intentchanged":    {text: "The intent changed while you were deciding; nothing was done. Look at it again.", err: true},
}

func (b *Broker) handleHome(w http.ResponseWriter, r *http.Request) {
	d := b.base(r)
	d.Title = "Connected accounts"
	d.ClientID = b.twitch.ClientID
	if err := b.CredentialProblem(); err != nil {
		d.CredError = err.Error()
	}
	d.Problems = b.problems(r.Context())
	if f, ok := flashes[r.URL.Query().Get("done")]; ok {
		d.Flash, d.FlashErr, d.FlashReadyz = f.text, f.err, f.readyz
	}
	now := b.now()
	for _, a := range b.provider.Users() {
		st := a.Status
		if st == "" {
			st = store.StatusActive
		}
		v := accountView{
			UserID: a.UserID, Login: a.Login, Scopes: strings.Join(a.Scopes, " "),
			Intents: a.Intents, Status: st, Active: st == store.StatusActive,
			Expires: "unknown", Validated: "never",
		}
		if v.Scopes == "" {
			v.Scopes = "(none)"
		}
		if !a.Expiry.IsZero() {
			if left := a.Expiry.Sub(now); left > 0 {
				v.Expires = "in " + humanDuration(left)
			} else {
				v.Expires = "expired (renewed on next use)"
			}
		}
		if !a.LastValidated.IsZero() {
			v.Validated = humanDuration(now.Sub(a.LastValidated)) + " ago"
		}
		if at, ok := b.es.regrantedAt(a.UserID); ok && !v.Active {
			v.Regranted = humanDuration(now.Sub(at)) + " ago"
		}
		v.Reads = b.reads.views(a.UserID, now)
		d.Accounts = append(d.Accounts, v)
	}
	d.IntentChanges = b.intentViews(now)
	b.render(w, http.StatusOK, "home", d)
}

// humanDuration renders d coarsely: "3h 12m", "45s", "2d 4h".
func humanDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	default:
		return fmt.Sprintf("%dd %dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
	}
}

// handleAuthorize (GET) starts a sign-in that connects the visitor's own
// account. A link with ?intent= (how intents were bound before) leads to
// the sign-in page, which offers the operator the intent sign-in and tells
// anyone else that the operator assigns intents.
func (b *Broker) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if b.loopbackAlias(r) {
		// Opened as 127.0.0.1 while the redirect URI says localhost (or the
		// reverse): the state cookie would not come back to /callback.
		http.Redirect(w, r, b.cfg.PublicURL+r.URL.RequestURI(), http.StatusFound)
		return
	}
	q := r.URL.Query()
	if q.Has("intent") {
		in := q.Get("intent")
		if !intentRE().MatchString(in) {
			b.badIntent(w, r, in)
			return
		}
		sq := signinQuery(q)
		sq.Set("intent", in)
		http.Redirect(w, r, "/signin?"+sq.Encode(), http.StatusSeeOther)
		return
	}
	var opts []twitchauth.AuthOption
	if q.Get("force_verify") == "true" {
		opts = append(opts, twitchauth.ForceVerify())
	}
	list, custom, err := signinScopes(q)
	if err != nil {
		b.badSigninScopes(w, r, err)
		return
	}
	if custom {
		opts = append(opts, twitchauth.WithScopes(list...))
	}
	b.startSignIn(w, r, "", "", opts...)
}

// handleAuthorizePost is the sign-in page's form: without an intent it
// starts a visitor's sign-in; with one it needs the operator's session and
// its CSRF token, and the state then carries the intent and the operator.
// Twitch is asked to show its consent page even to a user who consented
// before (force_verify), so that the operator sees which account signs in.
func (b *Broker) handleAuthorizePost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		b.messagePage(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.", "")
		return
	}
	var opts []twitchauth.AuthOption
	list, custom, err := signinScopes(r.PostForm)
	if err != nil {
		b.badSigninScopes(w, r, err)
		return
	}
	if custom {
		opts = append(opts, twitchauth.WithScopes(list...))
	}
	in := r.PostForm.Get("intent")
	if in == "" {
		b.startSignIn(w, r, "", "", opts...)
		return
	}
	if !intentRE().MatchString(in) {
		b.badIntent(w, r, in)
		return
	}
	s, ok := b.operator(r)
	if !ok {
		b.intentRefused(w, r, in)
		return
	}
	if !b.checkCSRF(r, s) {
		b.staleForm(w, r)
		return
	}
	b.startSignIn(w, r, in, s.keyName, append(opts, twitchauth.ForceVerify())...)
}

// startSignIn sets the signed state cookie and redirects to Twitch.
func (b *Broker) startSignIn(w http.ResponseWriter, r *http.Request, intent, by string, opts ...twitchauth.AuthOption) {
	state, cookie := b.issueState(intent, by)
	http.SetCookie(w, &http.Cookie{
		Name: stateCookie, Value: cookie, Path: "/callback",
		MaxAge: int(b.cfg.StateTTL / time.Second), HttpOnly: true, Secure: b.secure, SameSite: http.SameSiteLaxMode,
	})
	http.Redirect(w, r, b.twitch.AuthorizeURL(state, opts...), http.StatusFound)
}

// handleCallback completes a sign-in: the state must be the one issued to
// this browser (cookie), unused and not expired; then the code is exchanged
// and the grant stored. A sign-in never moves an intent: one the operator
// started binds its intent only if the intent points at nobody (or already
// at this user).
func (b *Broker) handleCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: "", Path: "/callback", MaxAge: -1,
		HttpOnly: true, Secure: b.secure, SameSite: http.SameSiteLaxMode})
	if q.Get("state") == "" && q.Get("error") == "redirect_mismatch" {
		b.loginFailed(w, r, twitchauth.ErrRedirectMismatch)
		return
	}
	cookie := ""
	if c, err := r.Cookie(stateCookie); err == nil {
		cookie = c.Value
	}
	st, res := b.checkState(q.Get("state"), cookie)
	switch res {
	case stateUnknown, stateExpired:
		b.metrics.logins.WithLabelValues("bad_state").Inc()
		b.messagePage(w, r, http.StatusBadRequest, "This sign-in link has expired",
			"The sign-in was already completed, took longer than 10 minutes, or was started in another browser.",
			"Start again: sign-ins must finish within 10 minutes, in the browser that started them, and each link works once.")
		return
	case stateNotBound:
		b.metrics.logins.WithLabelValues("bad_state").Inc()
		b.messagePage(w, r, http.StatusBadRequest, "Sign-in started in another browser",
			"This sign-in was started in another browser or tab whose cookies this one does not share, so it was refused.",
			"Start again from this browser.")
		return
	}
	if q.Has("error") {
		// The redirect carries Twitch's refusal; let the client map it
		// (state already checked, and without a code nothing is exchanged).
		q2 := url.Values{"state": {q.Get("state")}, "error": {q.Get("error")}, "error_description": {q.Get("error_description")}}
		_, err := b.twitch.HandleCallback(r.Context(), q2, q.Get("state"))
		b.loginFailed(w, r, err)
		return
	}
	code := q.Get("code")
	if code == "" {
		b.loginFailed(w, r, twitchauth.ErrInvalidCode)
		return
	}
	tok, err := b.provider.AddUserFromCode(r.Context(), code)
	if err != nil {
		b.loginFailed(w, r, err)
		return
	}
	b.metrics.logins.WithLabelValues("ok").Inc()
	b.es.forgetRegrant(tok.UserID)
	b.log.Info("account connected", "user_id", tok.UserID, "login", tok.Login, "scopes", tok.Scopes)

	done := "connected"
	if st.Intent != "" && st.By != "" {
		holder, bound := b.provider.Intents()[st.Intent]
		switch {
		case bound && holder == tok.UserID:
		case !bound:
			if err := b.changeIntent(r, st.Intent, "", tok.UserID, st.By, "sign-in"); err != nil {
				if !errors.Is(err, provider.ErrIntentChanged) {
					b.log.Warn("binding an intent after a sign-in failed", "intent", st.Intent, "user_id", tok.UserID, "err", err)
				}
				holder, bound = b.provider.Intents()[st.Intent]
				if !bound {
					b.messagePage(w, r, http.StatusBadGateway, "Connected, but the intent was not assigned",
						tok.Login+" is connected; assigning it the intent "+st.Intent+" failed.", "Assign it from the accounts page.")
					return
				}
				b.intentKept(w, r, st.Intent, holder, tok)
				return
			}
			done = "bound"
		default:
			b.intentKept(w, r, st.Intent, holder, tok)
			return
		}
	}
	if _, op := b.operator(r); op {
		http.Redirect(w, r, "/?done="+done, http.StatusSeeOther)
		return
	}
	d := b.base(r)
	d.Title, d.Heading = "Connected", "Connected as "+tok.Login
	d.Message = "Your Twitch account is connected. You can close this page."
	d.Hint = "To disconnect it later, remove the app under Settings → Connections on Twitch."
	if st.By != "" {
		// The operator's sign-in; the session cookie (SameSite=Strict) is
		// not sent on Twitch's redirect, but is on a click from here.
		d.Message = flashes[done].text
		d.Hint = ""
		d.Link, d.LinkText = "/", "Back to the accounts"
	}
	b.render(w, http.StatusOK, "message", d)
}

// intentKept tells the operator that a sign-in for an intent connected
// another user than the one it points at, and offers the explicit move.
func (b *Broker) intentKept(w http.ResponseWriter, r *http.Request, intent, holder string, tok *twitchauth.Token) {
	d := b.base(r)
	d.Title, d.Heading = "Connected", "Connected as "+tok.Login
	d.Message = fmt.Sprintf("Intent %q still points at %s: a sign-in never moves an intent. %s is connected without it.",
		intent, b.describeUser(holder), tok.Login)
	d.Hint = "If " + tok.Login + " should act as " + intent + ", move the intent explicitly."
	d.Link = "/intents/assign?" + url.Values{"intent": {intent}, "user": {tok.UserID}}.Encode()
	d.LinkText = "Move " + intent + " to " + tok.Login + "…"
	b.render(w, http.StatusOK, "message", d)
}

func (b *Broker) loginFailed(w http.ResponseWriter, r *http.Request, err error) {
	var status int
	var title, msg, hint, result string
	switch {
	case errors.Is(err, twitchauth.ErrAccessDenied):
		status, result = http.StatusForbidden, "denied"
		title, msg = "Access not granted", "You declined on Twitch's page, so no account was connected."
		hint = "Changed your mind? Connect again and choose Authorize."
	case errors.Is(err, twitchauth.ErrRedirectMismatch):
		status, result = http.StatusBadRequest, "redirect_mismatch"
		title, msg = "Redirect URI not registered", "Twitch refused the sign-in because the broker's redirect URI is not registered for this application."
		hint = "Operator: add " + b.twitch.RedirectURI + " exactly (no trailing slash) as an OAuth Redirect URL in the Twitch developer console, or fix --public-url."
	case errors.Is(err, twitchauth.ErrInvalidCode):
		status, result = http.StatusBadRequest, "bad_code"
		title, msg = "Sign-in link already used", "The authorization code is missing, expired or was already used."
		hint = "Start the sign-in again."
	case isConfigError(err):
		status, result = http.StatusBadGateway, "credentials"
		title, msg = "The broker is misconfigured", "Twitch refused the broker's client credentials."
		hint = "Operator: check the client ID and secret (see /readyz)."
	default:
		status, result = http.StatusBadGateway, "error"
		title, msg = "Sign-in failed", "Twitch could not complete the sign-in."
		hint = "Try again in a moment."
		b.log.Warn("sign-in failed", "err", err)
	}
	b.metrics.logins.WithLabelValues(result).Inc()
	b.messagePage(w, r, status, title, msg, hint)
}

func (b *Broker) messagePage(w http.ResponseWriter, r *http.Request, status int, heading, msg, hint string) {
	d := b.base(r)
	d.Title, d.Heading, d.Message, d.Hint = heading, heading, msg, hint
	d.Link, d.LinkText = "/signin", "Back to sign-in"
	if d.Operator {
		d.Link, d.LinkText = "/", "Back to the accounts"
	}
	b.render(w, status, "message", d)
}

// staleForm answers an operator's form without its CSRF token.
func (b *Broker) staleForm(w http.ResponseWriter, r *http.Request) {
	b.messagePage(w, r, http.StatusForbidden, "Form refused",
		"This form was not sent from this broker's page in your signed-in browser (or the page is older than your session), so it was refused.",
		"Reload the page and try again.")
}

// operatorOnly guards the operator's pages (GET): others are sent to /login.
func (b *Broker) operatorOnly(h func(http.ResponseWriter, *http.Request, session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, ok := b.operator(r)
		if !ok {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		h(w, r, s)
	}
}

// operatorPost guards the operator's actions (POST): the session cookie and
// its CSRF token in the form, also on loopback (401 without a session, 403
// without the token).
func (b *Broker) operatorPost(h func(http.ResponseWriter, *http.Request, session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, ok := b.operator(r)
		if !ok {
			hint := "Sign in with an admin API key at /login."
			if b.cfg.OpenOnLoopback {
				hint = "Open the broker's pages in a browser on this machine (they sign it in), or sign in at /login; scripts use the token API with an API key."
			}
			b.messagePage(w, r, http.StatusUnauthorized, "Sign in first", "This action is for the broker's operator.", hint)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			b.messagePage(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.", "")
			return
		}
		if !b.checkCSRF(r, s) {
			b.staleForm(w, r)
			return
		}
		h(w, r, s)
	}
}

func (b *Broker) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	d := b.base(r)
	d.Title = "Operator sign-in"
	b.render(w, http.StatusOK, "login", d)
}

// handleLogin signs the operator in with an admin API key, once; the browser
// then holds only a random session ID in an HttpOnly cookie.
func (b *Broker) handleLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		b.messagePage(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.", "")
		return
	}
	given := strings.TrimSpace(r.PostForm.Get("key"))
	e, err := b.keys.authenticate(given, b.now())
	if err != nil || !allowed(e.key, PermAdmin) {
		b.log.Warn("operator sign-in refused", "remote", r.RemoteAddr)
		if e.key != nil { // a known key: audit who tried
			b.auditWeb(r, e.key.Name, "web_login", "", "", http.StatusUnauthorized, "refused")
		}
		d := b.base(r)
		d.Title = "Operator sign-in"
		d.LoginError = "That is not an API key with the admin permission."
		if errors.Is(err, ErrKeyExpired) || errors.Is(err, ErrKeyRotated) {
			d.LoginError = "That admin key is no longer valid (expired, or replaced by a rotation)."
		}
		b.render(w, http.StatusUnauthorized, "login", d)
		return
	}
	b.startSession(w, nil, e.key.Name, sha256.Sum256([]byte(given)))
	b.log.Info("operator signed in", "key", e.key.Name)
	b.auditWeb(r, e.key.Name, "web_login", "", "", http.StatusSeeOther, "signed in")
	http.Redirect(w, r, "/?done=signedin", http.StatusSeeOther)
}

func (b *Broker) handleLogout(w http.ResponseWriter, r *http.Request) {
	if s, ok := b.operator(r); ok {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if r.ParseForm() != nil || !b.checkCSRF(r, s) {
			b.staleForm(w, r)
			return
		}
		b.sessions.delete(s.id)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: b.secure, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// accountParam reads the {id} of an account route: a held user's ID. It
// answers the page itself when not.
func (b *Broker) accountParam(w http.ResponseWriter, r *http.Request) (provider.Account, bool) {
	id := r.PathValue("id")
	if !userIDRE().MatchString(id) {
		b.messagePage(w, r, http.StatusBadRequest, "Bad request", "That is not a Twitch user ID.", "")
		return provider.Account{}, false
	}
	a, held := b.provider.User(id)
	if !held {
		b.messagePage(w, r, http.StatusNotFound, "No such account", "No account with ID "+id+" is connected.", "")
		return provider.Account{}, false
	}
	return a, true
}

// handleRevokeConfirm asks the operator to confirm Revoke & disconnect.
func (b *Broker) handleRevokeConfirm(w http.ResponseWriter, r *http.Request, s session) {
	a, ok := b.accountParam(w, r)
	if !ok {
		return
	}
	d := b.base(r)
	d.Title, d.Heading = "Revoke and disconnect?", "Revoke and disconnect "+a.Login+"?"
	d.Message = "The broker revokes " + a.Login + "'s tokens at Twitch and forgets the grant. Services asking for this user get 404 until the user connects again."
	if len(a.Intents) > 0 {
		d.Message += " The intents " + strings.Join(a.Intents, ", ") + " then point at nobody."
	}
	d.Action = "/accounts/" + a.UserID + "/revoke"
	d.Button, d.Danger, d.Cancel = "Revoke & disconnect", true, "/"
	b.render(w, http.StatusOK, "confirm", d)
}

// handleAccountAction runs validate, refresh or revoke for one account from
// the home page's buttons.
func (b *Broker) handleAccountAction(w http.ResponseWriter, r *http.Request, s session) {
	id := r.PathValue("id")
	if !userIDRE().MatchString(id) {
		b.messagePage(w, r, http.StatusBadRequest, "Bad request", "That is not a Twitch user ID.", "")
		return
	}
	_, held := b.provider.User(id)
	done := "gone"
	action := r.PathValue("action")
	if err := b.auditUnavailable(); err != nil {
		b.messagePage(w, r, http.StatusServiceUnavailable, "Audit log unavailable",
			"The broker records every operator action in its audit log, which cannot be written now; nothing was done.", "See /readyz and the broker's log.")
		return
	}
	defer func() { b.auditWeb(r, s.keyName, "web_"+action, "user:"+id, id, http.StatusSeeOther, done) }()
	if held {
		switch action {
		case "validate":
			res := b.provider.Validate(r.Context(), provider.User(id))
			b.metrics.validated([]provider.ValidationResult{res})
			done = "validated"
			switch {
			case res.Revoked:
				done = "lostgrant"
			case res.Err != nil:
				done = "failed"
			}
		case "refresh":
			done = "refreshed"
			if _, err := b.provider.Refresh(r.Context(), provider.User(id)); err != nil {
				done = "failed"
				switch {
				case errors.Is(err, provider.ErrGrantDead), errors.Is(err, provider.ErrGrantRevoked):
					done = "lostgrant"
				case isConfigError(err):
					done = "credentials"
				}
			}
		case "revoke":
			done = "revoked"
			if err := b.removeUser(r, id, "web", s.keyName); err != nil {
				done = "revokefail"
			}
		default:
			b.messagePage(w, r, http.StatusNotFound, "Not found", "Unknown action "+action+": use validate, refresh or revoke.", "")
			return
		}
	}
	http.Redirect(w, r, "/?done="+done, http.StatusSeeOther)
}

// auditWeb records an operator's action on the web pages.
func (b *Broker) auditWeb(r *http.Request, key, route, subject, userID string, status int, action string) {
	b.audit(AuditEntry{Key: key, Route: route, Subject: subject, UserID: userID, Action: action,
		Method: r.Method, Path: r.URL.Path, Status: status, Remote: r.RemoteAddr})
}

// staticHandler serves the embedded assets; it never lists a directory.
func staticHandler() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	fsrv := http.FileServerFS(noDirs{sub})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fsrv.ServeHTTP(w, r)
	})
}

// noDirs is a file system whose directories do not exist, so that
// http.FileServer answers 404 instead of a listing.
type noDirs struct{ fsys fs.FS }

func (n noDirs) Open(name string) (fs.File, error) {
	f, err := n.fsys.Open(name)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err != nil || st.IsDir() {
		f.Close()
		return nil, fs.ErrNotExist
	}
	return f, nil
}
