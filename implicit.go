package twitchauth

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twitchauth/twitchauth/internal/loginpage"
)

// ParseImplicitFragment parses the fragment of an implicit-flow redirect
// (response_type=token or "token id_token"), with or without its leading
// '#', as in http://localhost:3000/#access_token=…&scope=…&state=…&token_type=bearer.
// It returns the token and the echoed state, which the caller must check
// with CheckState before using the token. An error in the fragment (or a
// query string passed instead, where Twitch puts denials) gives
// ErrAccessDenied, ErrRedirectMismatch or an *APIError, still with the state.
//
// Implicit tokens have no refresh token, and their user is unknown until
// Config.Identify fills it in.
func ParseImplicitFragment(fragment string) (*Token, string, error) {
	v, err := url.ParseQuery(strings.TrimPrefix(strings.TrimPrefix(fragment, "#"), "?"))
	if err != nil {
		return nil, "", errors.New("twitchauth: malformed implicit-flow fragment")
	}
	state := v.Get("state")
	if e := v.Get("error"); e != "" {
		return nil, state, callbackError(e, v.Get("error_description"))
	}
	access := v.Get("access_token")
	if access == "" && v.Get("id_token") == "" {
		return nil, state, errors.New("twitchauth: the implicit-flow redirect carries no access_token")
	}
	t := &Token{
		AccessToken: access,
		TokenType:   v.Get("token_type"),
		Scopes:      cleanScopes(strings.Fields(v.Get("scope"))),
		IDToken:     v.Get("id_token"),
	}
	if t.TokenType == "" {
		t.TokenType = "bearer"
	}
	if s := v.Get("expires_in"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
			t.Expiry = time.Now().Add(time.Duration(n) * time.Second)
		}
	}
	return t, state, nil
}

// maxFragmentPost bounds the body ImplicitPage accepts.
const maxFragmentPost = 64 << 10

// ImplicitPage returns the handler for the redirect URI of an implicit-flow
// login run by a local program (the CLI). Browsers never send a URL's
// fragment to a server, so:
//
//   - GET serves a small HTML page whose script POSTs location.hash (or the
//     query string, where Twitch puts denials) back to the same path as a
//     form field "fragment", then removes it from the address bar. The token
//     therefore never appears in a URL query of ours, nor in a log of
//     requested URLs.
//   - POST parses the fragment with ParseImplicitFragment and checks its
//     state against wantState in constant time. On a match, done is called
//     once, with the token or the error the redirect carried (such as
//     ErrAccessDenied); later posts get 409. A state mismatch is answered
//     400 and ignored, so a forged post can neither inject a token nor abort
//     the login.
//
// Cross-origin POSTs from browsers are refused (http.CrossOriginProtection).
// The page's script runs under a nonce-based Content-Security-Policy.
func ImplicitPage(wantState string, done func(*Token, error)) http.Handler {
	h := &implicitHandler{wantState: wantState, done: done}
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusForbidden, "cross_origin", "Cross-origin requests are refused.")
	}))
	return cop.Handler(h)
}

type implicitHandler struct {
	wantState string
	done      func(*Token, error)

	mu        sync.Mutex
	delivered bool
}

func (h *implicitHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		nonce := NewState()
		w.Header().Set("Content-Security-Policy",
			"default-src 'none'; script-src 'nonce-"+nonce+"'; connect-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = loginpage.Render(w, loginpage.Page{Title: "Completing the Twitch login…", Message: "Handing the login over to the application.", PostBack: true, Nonce: nonce})
	case http.MethodPost:
		h.receive(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		writeJSON(w, http.StatusMethodNotAllowed, "method_not_allowed", "use GET or POST")
	}
}

func (h *implicitHandler) receive(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFragmentPost)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, "invalid_request", "the body must be a form with a fragment field")
		return
	}
	tok, state, err := ParseImplicitFragment(r.PostForm.Get("fragment"))
	if !CheckState(h.wantState, state) {
		writeJSON(w, http.StatusBadRequest, "state_mismatch", "This login was not started here (state mismatch); it was ignored.")
		return
	}
	h.mu.Lock()
	already := h.delivered
	h.delivered = true
	h.mu.Unlock()
	if already {
		writeJSON(w, http.StatusConflict, "already_done", "This login was already completed.")
		return
	}
	h.done(tok, err)
	switch {
	case errors.Is(err, ErrAccessDenied):
		writeResult(w, "denied", "Access denied", "You did not authorize the application. You can close this window.")
	case err != nil:
		writeResult(w, "error", "Login failed", "The login failed. You can close this window and check the application.")
	default:
		writeResult(w, "ok", "Logged in", "You are logged in. You can close this window and return to the application.")
	}
}

// writeResult answers the page's post-back: {"status","title","message"}.
func writeResult(w http.ResponseWriter, status, title, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": status, "title": title, "message": message})
}

// writeJSON answers {"status":…,"message":…}.
func writeJSON(w http.ResponseWriter, code int, status, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": status, "message": message})
}
