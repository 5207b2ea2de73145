package broker

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The broker's trust model (docs/broker.md, "Trust model") is enforced
// here, in one place per rule:
//
//   - allowed: what an API key may do (its permissions);
//   - subjectAllowed: which subjects it may do it for (its scope), checked
//     before the subject is looked up, so that a refusal never tells
//     whether the subject exists;
//   - helixAllowed: which Helix methods and paths it may call;
//   - hostAllowed: which Host names the broker answers (DNS rebinding);
//   - operator: who is the operator of a web request (a session cookie);
//   - checkCSRF: that a state-changing web request comes from the broker's
//     own page in that operator's browser;
//   - mintLoopbackSession: the loopback-open sandbox mode's convenience,
//     which gives a session to a browser's navigation from loopback and to
//     nothing else.

// allowed reports whether key may use a route requiring perm. It is the
// one check of an API key's permissions (the token API, the Helix proxy,
// the admin routes and the operator's sign-in all use it).
func allowed(key *APIKey, perm Perm) bool { return key != nil && key.Has(perm) }

// subjectAllowed reports whether key's scope covers the subject s (see
// keyScope.covers: each kind by its own patterns; a login through the
// user ID it resolves to, an unresolved login never). It is the one check
// of a key's subjects: every route that hands out or uses a token calls it
// before looking the subject up.
func subjectAllowed(key *APIKey, s subjectRef, resolveLogin func(string) (string, bool)) bool {
	return key != nil && key.compiledScope().covers(s, resolveLogin)
}

// helixAllowed reports whether key may send method to the Helix path (under
// /helix, already checked clean): a key without Helix rules may call any.
func helixAllowed(key *APIKey, method, path string) bool {
	if key == nil {
		return false
	}
	if len(key.Helix) == 0 {
		return true
	}
	rules := key.rules
	if len(rules) != len(key.Helix) { // not validated: compile now, refusing what does not parse
		rules = nil
		for _, h := range key.Helix {
			if r, err := parseHelixRule(h); err == nil {
				rules = append(rules, r)
			}
		}
	}
	for _, r := range rules {
		if r.allows(method, path) {
			return true
		}
	}
	return false
}

// hostAllowed reports whether the broker answers a request for host (the
// Host header): the public URL's host name, loopback names and IP
// literals (a DNS rebinding attack needs a name of the attacker's, and an
// IP literal cannot be one), names in Config.AllowedHosts, and no Host at
// all (HTTP/1.0). Ports are not compared: a rebinding attacker cannot choose
// our host name, whatever the port.
func (b *Broker) hostAllowed(host string) bool {
	if host == "" {
		return true
	}
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")), ".")
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	if h == "localhost" || h == b.publicHost {
		return true
	}
	for _, a := range b.allowedHosts {
		if a == h || strings.HasPrefix(a, "*.") && strings.HasSuffix(h, a[1:]) {
			return true
		}
	}
	return false
}

// CheckHost wraps h so that a request for a Host the broker does not answer
// (see Config.AllowedHosts) gets 421 Misdirected Request: a JSON error on
// the API, Helix, extension and operations routes, a page elsewhere.
// Handler already applies it; programs that mount more routes beside the
// broker wrap their own handler with it too.
func (b *Broker) CheckHost(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b.hostAllowed(r.Host) {
			h.ServeHTTP(w, r)
			return
		}
		b.logRefusedHost(r.Host)
		msg := "this broker answers only for " + b.publicHost + ", loopback names and IP addresses; " +
			"if a reverse proxy or a service reaches it under another name, add that name to allowed_hosts (--allowed-host)"
		if isJSONPath(r.URL.Path) {
			writeError(w, http.StatusMisdirectedRequest, "misdirected_request", msg)
			return
		}
		b.securityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			d := pageData{Title: "Wrong address", Heading: "Wrong address",
				Message: "This broker does not answer under the name this page was opened with.",
				Hint:    "Open it at " + b.cfg.PublicURL + ". Operator: " + msg + "."}
			b.render(w, http.StatusMisdirectedRequest, "message", d)
		})).ServeHTTP(w, r)
	})
}

// logRefusedHost logs a refused Host at most every 10 seconds (a flood of
// them must not flood the log).
func (b *Broker) logRefusedHost(host string) {
	now := b.now().UnixNano()
	last := b.hostLogAt.Load()
	if now-last < int64(10*time.Second) || !b.hostLogAt.CompareAndSwap(last, now) {
		return
	}
	b.log.Warn("request for a host this broker does not answer refused (421); add it to allowed_hosts if it is yours", "host", host)
}

// isJSONPath reports whether the routes under p answer JSON.
func isJSONPath(p string) bool {
	for _, prefix := range []string{"/v1/", "/helix/", "/ext/"} {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return p == "/v1" || p == "/helix" || p == "/healthz" || p == "/readyz" || p == "/metrics"
}

// operator returns the operator's session of a web request: its session
// cookie names a live session. (In the loopback-open sandbox mode a
// loopback browser gets such a session on its first navigation; see
// mintLoopbackSession.)
func (b *Broker) operator(r *http.Request) (session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	s, ok := b.sessions.get(c.Value)
	if !ok {
		return session{}, false
	}
	// A session lasts only as long as the admin key it was opened with: a
	// deleted, expired or demoted key ends its sessions at once.
	if s.keyHash == ([sha256.Size]byte{}) && s.keyName == loopbackOperator && b.cfg.OpenOnLoopback {
		return s, true
	}
	if k, ok := b.keys.validHash(s.keyHash, b.now()); !ok || !allowed(k, PermAdmin) {
		b.sessions.delete(s.id)
		b.log.Info("operator session ended: its admin key is no longer accepted", "key", s.keyName)
		return session{}, false
	}
	return s, true
}

// csrfPurpose is bound into the CSRF token's MAC.
const csrfPurpose = "twitchauth broker csrf v1"

// csrfToken is the CSRF token of a session: a MAC of its ID, put in every
// form of the operator's pages. A page of another origin cannot read it.
func (b *Broker) csrfToken(s session) string {
	return base64.RawURLEncoding.EncodeToString(b.signer.mac(csrfPurpose, []byte(s.id)))
}

// checkCSRF reports whether the form of r (already parsed) carries the CSRF
// token of session s.
func (b *Broker) checkCSRF(r *http.Request, s session) bool {
	got, err := base64.RawURLEncoding.DecodeString(r.PostForm.Get("csrf"))
	return err == nil && hmac.Equal(got, b.signer.mac(csrfPurpose, []byte(s.id)))
}

// isNavigation reports whether r is a browser's top-level navigation
// (Fetch Metadata), and not from another site.
func isNavigation(r *http.Request) bool {
	return r.Header.Get("Sec-Fetch-Mode") == "navigate" && r.Header.Get("Sec-Fetch-Site") != "cross-site"
}

// mintLoopbackSession is the loopback-open sandbox mode's convenience: a
// browser's GET navigation from a loopback address without a session gets
// an operator session (cookie), so that the operator's pages open without a
// sign-in. Nothing else is granted: a request without the session cookie,
// or a POST without its CSRF token, is refused like anywhere else.
func (b *Broker) mintLoopbackSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b.cfg.OpenOnLoopback && (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
			isLoopback(r.RemoteAddr) && isNavigation(r) {
			if _, ok := b.operator(r); !ok {
				r = r.Clone(r.Context())
				b.startSession(w, r, loopbackOperator, [sha256.Size]byte{})
			}
		}
		next.ServeHTTP(w, r)
	})
}

// startSession creates an operator session for name, sets its cookie and,
// when r is not nil, adds it to r so that the rest of the request sees it.
func (b *Broker) startSession(w http.ResponseWriter, r *http.Request, name string, keyHash [sha256.Size]byte) {
	id, evicted := b.sessions.createWithKey(name, keyHash)
	if evicted != "" {
		b.log.Warn("operator session table full: ended the oldest session", "key", evicted, "max", b.sessions.max)
	}
	ck := &http.Cookie{Name: sessionCookie, Value: id, Path: "/",
		MaxAge: int(b.cfg.SessionTTL / time.Second), HttpOnly: true, Secure: b.secure, SameSite: http.SameSiteStrictMode}
	http.SetCookie(w, ck)
	if r != nil {
		r.Header.Del("Cookie")
		for _, c := range r.Cookies() {
			if c.Name != sessionCookie {
				r.AddCookie(c)
			}
		}
		r.AddCookie(&http.Cookie{Name: sessionCookie, Value: id})
	}
}

// probeMethods are the methods a 405's Allow may list.
var probeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// allowedMethods lists the methods some route of muxes answers for r's
// path, ignoring the catch-all patterns.
func allowedMethods(r *http.Request, muxes ...*http.ServeMux) []string {
	var out []string
	for _, m := range probeMethods {
		p := *r
		p.Method = m
		for _, mux := range muxes {
			if _, pat := mux.Handler(&p); pat != "" && pat != "/" && pat != "/v1/" {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

// notFound answers a request no route took: 405 with Allow when another
// method has a route at this path, else 404; JSON on the API paths.
func (b *Broker) notFound(w http.ResponseWriter, r *http.Request) {
	if methods := allowedMethods(r, b.mux, b.web); len(methods) > 0 && !slices.Contains(methods, r.Method) {
		w.Header().Set("Allow", strings.Join(methods, ", "))
		if isJSONPath(r.URL.Path) {
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed here; use "+strings.Join(methods, " or "))
			return
		}
		b.messagePage(w, r, http.StatusMethodNotAllowed, "Method not allowed", r.Method+" is not allowed at this address.", "")
		return
	}
	if isJSONPath(r.URL.Path) {
		writeError(w, http.StatusNotFound, "not_found", "no such API route; see docs/broker.md")
		return
	}
	d := b.base(r)
	d.Title, d.Heading, d.Message = "Not found", "Page not found", "There is nothing at this address."
	d.Link, d.LinkText = "/", "Go to the start page"
	b.render(w, http.StatusNotFound, "message", d)
}

// publicHostOf returns the lower-cased host name (no port, no brackets) of
// the public URL.
func publicHostOf(pu *url.URL) string {
	return strings.TrimSuffix(strings.ToLower(pu.Hostname()), ".")
}
