package broker

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/twitchauth/twitchauth"
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
// forms posting to itself: the pages need no script.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

type pages struct {
	t map[string]*template.Template
}

func newPages() (*pages, error) {
	funcs := template.FuncMap{"join": strings.Join}
	p := &pages{t: map[string]*template.Template{}}
	for _, name := range []string{"home", "signin", "login", "message"} {
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
	Session  bool
	Sandbox  bool
	Links    []Link
	// message pages
	Heading, Message, Hint string
	Link, LinkText         string
	// sign-in page
	Scopes []string
	Intent string
	// home page
	Accounts []accountView
	Flash    string
	FlashErr bool
	ClientID string
	Ready    string
	// CredError explains refused client credentials (home page banner).
	CredError string
	// Problems are the grants' troubles: unsaved renewals, unreadable
	// records (home page banner; see degradation).
	Problems []string
	// login page
	LoginError string
}

type accountView struct {
	UserID, Login, Scopes, Intents, Expires, Validated, Status string
	Active                                                     bool
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
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		// The callback URL carries the authorization code: never send it
		// onwards as a Referer.
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// operator reports whether the request comes from the operator: a valid
// session, or a loopback client when OpenOnLoopback is set.
func (b *Broker) operator(r *http.Request) (ok, viaSession bool) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if _, ok := b.sessions.get(c.Value); ok {
			return true, true
		}
	}
	if b.cfg.OpenOnLoopback && isLoopback(r.RemoteAddr) {
		return true, false
	}
	return false, false
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
	op, sess := b.operator(r)
	return pageData{Operator: op, Session: sess, Sandbox: b.cfg.OpenOnLoopback, Links: b.cfg.Links}
}

func (b *Broker) handleRoot(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		d := b.base(r)
		d.Title, d.Heading, d.Message = "Not found", "Page not found", "There is nothing at this address."
		d.Link, d.LinkText = "/", "Go to the start page"
		b.render(w, http.StatusNotFound, "message", d)
		return
	}
	if op, _ := b.operator(r); !op {
		b.handleSignin(w, r)
		return
	}
	b.handleHome(w, r)
}

func (b *Broker) handleSignin(w http.ResponseWriter, r *http.Request) {
	d := b.base(r)
	d.Title = "Connect your Twitch account"
	d.Scopes = b.twitch.Scopes
	if in := r.URL.Query().Get("intent"); intentRE.MatchString(in) {
		d.Intent = in
	}
	b.render(w, http.StatusOK, "signin", d)
}

// flashes are the fixed messages the home page shows after an action.
var flashes = map[string]string{
	"connected":   "Account connected.",
	"validated":   "Tokens validated with Twitch.",
	"refreshed":   "Token refreshed.",
	"revoked":     "Access revoked and account disconnected.",
	"failed":      "The action failed; see the broker's log.",
	"revokefail":  "Twitch did not confirm the revocation; the account is kept. Try again.",
	"gone":        "That account is no longer connected.",
	"signedin":    "Signed in.",
	"lostgrant":   "Twitch refused the refresh token: the user must connect again.",
	"credentials": "Twitch refused the broker's client credentials; see /readyz.",
}

func (b *Broker) handleHome(w http.ResponseWriter, r *http.Request) {
	d := b.base(r)
	d.Title = "Connected accounts"
	d.ClientID = b.twitch.ClientID
	if err := b.CredentialProblem(); err != nil {
		d.CredError = err.Error()
	}
	d.Problems = degradation(b.health(r.Context()))
	if f := r.URL.Query().Get("done"); flashes[f] != "" {
		d.Flash = flashes[f]
		d.FlashErr = slices.Contains([]string{"failed", "revokefail", "gone", "lostgrant", "credentials"}, f)
	}
	now := b.now()
	for _, a := range b.provider.Users() {
		st := a.Status
		if st == "" {
			st = store.StatusActive
		}
		v := accountView{
			UserID: a.UserID, Login: a.Login, Scopes: strings.Join(a.Scopes, " "),
			Intents: strings.Join(a.Intents, ", "), Status: st, Active: st == store.StatusActive,
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
		d.Accounts = append(d.Accounts, v)
	}
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

// handleAuthorize starts a sign-in: a new single-use state, kept in an
// HttpOnly cookie, and a redirect to Twitch's consent page.
func (b *Broker) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if b.loopbackAlias(r) {
		// Opened as 127.0.0.1 while the redirect URI says localhost (or the
		// reverse): the state cookie would not come back to /callback.
		http.Redirect(w, r, b.cfg.PublicURL+r.URL.RequestURI(), http.StatusFound)
		return
	}
	intent := r.URL.Query().Get("intent")
	if intent != "" && !intentRE.MatchString(intent) {
		b.messagePage(w, r, http.StatusBadRequest, "Bad request", "The intent name is not valid.", "")
		return
	}
	state := b.states.issue(intent)
	if state == "" {
		b.messagePage(w, r, http.StatusServiceUnavailable, "Too many sign-ins", "Too many sign-ins are in progress. Try again in a few minutes.", "")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: stateCookie, Value: state, Path: "/callback",
		MaxAge: int(b.cfg.StateTTL / time.Second), HttpOnly: true, Secure: b.secure, SameSite: http.SameSiteLaxMode,
	})
	var opts []twitchauth.AuthOption
	if r.URL.Query().Get("force_verify") == "true" {
		opts = append(opts, twitchauth.ForceVerify())
	}
	http.Redirect(w, r, b.twitch.AuthorizeURL(state, opts...), http.StatusFound)
}

// handleCallback completes a sign-in: the state must be the one issued to
// this browser (cookie), unused and not expired; then the code is exchanged
// and the grant stored.
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
	pending, res := b.states.take(q.Get("state"), cookie)
	switch res {
	case stateUnknown, stateExpired:
		b.metrics.logins.WithLabelValues("bad_state").Inc()
		b.messagePage(w, r, http.StatusBadRequest, "This sign-in link has expired",
			"The sign-in was already completed, took longer than 10 minutes, or did not start here.",
			"Start again: sign-ins must finish within 10 minutes, and each link works once.")
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
		_, err := b.twitch.HandleCallbackQuery(r.Context(), q2, q.Get("state"))
		b.loginFailed(w, r, err)
		return
	}
	code := q.Get("code")
	if code == "" {
		b.loginFailed(w, r, twitchauth.ErrInvalidCode)
		return
	}
	var intents []string
	if pending.intent != "" {
		intents = []string{pending.intent}
	}
	tok, err := b.provider.AddUserFromCode(r.Context(), code, intents...)
	if err != nil {
		b.loginFailed(w, r, err)
		return
	}
	b.metrics.logins.WithLabelValues("ok").Inc()
	b.log.Info("account connected", "user_id", tok.UserID, "login", tok.Login, "scopes", tok.Scopes, "intent", pending.intent)
	if op, _ := b.operator(r); op {
		http.Redirect(w, r, "/?done=connected", http.StatusSeeOther)
		return
	}
	d := b.base(r)
	d.Title, d.Heading = "Connected", "Connected as "+tok.Login
	d.Message = "Your Twitch account is connected. You can close this page."
	d.Hint = "To disconnect it later, remove the app under Settings → Connections on Twitch."
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

// operatorOnly guards the operator's pages and actions.
func (b *Broker) operatorOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if op, _ := b.operator(r); !op {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			b.messagePage(w, r, http.StatusUnauthorized, "Sign in first", "This action is for the broker's operator.", "Sign in with an admin API key at /login.")
			return
		}
		h(w, r)
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
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		b.messagePage(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.", "")
		return
	}
	key, ok := b.keys.Lookup(strings.TrimSpace(r.PostForm.Get("key")))
	if !ok || !key.Has(PermAdmin) {
		b.log.Warn("operator sign-in refused", "remote", r.RemoteAddr)
		d := b.base(r)
		d.Title = "Operator sign-in"
		d.LoginError = "That is not an API key with the admin permission."
		b.render(w, http.StatusUnauthorized, "login", d)
		return
	}
	id := b.sessions.create(key.Name)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/",
		MaxAge: int(b.cfg.SessionTTL / time.Second), HttpOnly: true, Secure: b.secure, SameSite: http.SameSiteStrictMode})
	b.log.Info("operator signed in", "key", key.Name)
	http.Redirect(w, r, "/?done=signedin", http.StatusSeeOther)
}

func (b *Broker) handleLogout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		b.sessions.delete(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: b.secure, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// handleAccountAction runs validate, refresh or revoke for one account from
// the home page's buttons.
func (b *Broker) handleAccountAction(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !userIDRE.MatchString(id) {
		b.messagePage(w, r, http.StatusBadRequest, "Bad request", "Unknown account.", "")
		return
	}
	_, held := b.provider.User(id)
	done := "gone"
	if held {
		switch r.PathValue("action") {
		case "validate":
			res := b.provider.Validate(r.Context(), store.UserKey(id))
			b.metrics.validated([]twitchauth.ValidationResult{res})
			done = "validated"
			switch {
			case res.Revoked:
				done = "lostgrant"
			case res.Err != nil:
				done = "failed"
			}
		case "refresh":
			done = "refreshed"
			if _, err := b.provider.Refresh(r.Context(), store.UserKey(id)); err != nil {
				done = "failed"
				switch {
				case errors.Is(err, twitchauth.ErrGrantDead), errors.Is(err, twitchauth.ErrGrantRevoked):
					done = "lostgrant"
				case isConfigError(err):
					done = "credentials"
				}
			}
		case "revoke":
			done = "revoked"
			actor := "loopback"
			if c, err := r.Cookie(sessionCookie); err == nil {
				if s, ok := b.sessions.get(c.Value); ok {
					actor = s.keyName
				}
			}
			if err := b.removeUser(r, id, "web", actor); err != nil {
				done = "revokefail"
			}
		default:
			b.messagePage(w, r, http.StatusNotFound, "Not found", "Unknown action.", "")
			return
		}
	}
	http.Redirect(w, r, "/?done="+done, http.StatusSeeOther)
}

func staticHandler() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	fsrv := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fsrv.ServeHTTP(w, r)
	})
}
