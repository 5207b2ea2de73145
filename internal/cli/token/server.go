package token

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
	"github.com/twitchauth/twitchauth/internal/cli/config"
	"github.com/twitchauth/twitchauth/internal/loginpage"
)

// listen binds the redirect server to the given IP and port only, and
// returns the redirect URI it answers (http://HOST:PORT, no trailing slash).
func (e *env) listen() (net.Listener, string, error) {
	addr := net.JoinHostPort(e.o.IP, strconv.Itoa(e.o.Port))
	l, err := e.f.Listen(e.ctx, "tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, "", cliutil.Exitf(cliutil.ExitInternal,
				"port %d is already in use on %s: stop the program using it, or choose another port with --port "+
					"(and register http://%s:PORT as a redirect URI of the application)", e.o.Port, e.o.IP, e.o.RedirectHost)
		}
		return nil, "", cliutil.Exitf(cliutil.ExitInternal, "cannot listen on %s for the login redirect: %v", addr, err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	return l, "http://" + net.JoinHostPort(e.o.RedirectHost, strconv.Itoa(port)), nil
}

type flowResult struct {
	tok *twitchauth.Token
	err error
}

// browserFlow runs the authorization code flow (or, with --implicit, the
// implicit flow) through a local redirect server, and returns the token.
func (e *env) browserFlow(scopes []string) (*twitchauth.Token, error) {
	l, redirectURI, err := e.listen()
	if err != nil {
		return nil, err
	}
	cfg := *e.cfg
	cfg.RedirectURI = redirectURI

	ctx, cancel := context.WithTimeout(e.ctx, e.o.Timeout)
	defer cancel()

	state := twitchauth.NewState()
	done := make(chan flowResult, 1)
	var once sync.Once
	deliver := func(t *twitchauth.Token, err error) { once.Do(func() { done <- flowResult{t, err} }) }

	opts := []twitchauth.AuthOption{twitchauth.WithScopes(scopes...)}
	if e.o.ForceVerify {
		opts = append(opts, twitchauth.ForceVerify())
	}
	var h http.Handler
	if e.o.Implicit {
		opts = append(opts, twitchauth.WithResponseType(twitchauth.ResponseToken))
		h = onlyRoot(twitchauth.ImplicitPage(state, deliver))
	} else {
		h = onlyRoot(&codeHandler{ctx: ctx, cfg: &cfg, state: state, deliver: deliver})
	}
	authURL := cfg.AuthorizeURL(state, opts...)

	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil}
	go srv.Serve(l) //nolint:errcheck // returns ErrServerClosed after Shutdown
	defer func() {
		// Let the browser receive its page before the server goes.
		sctx, scancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer scancel()
		if srv.Shutdown(sctx) != nil {
			srv.Close()
		}
	}()

	e.note("Open this URL in your browser to log in to Twitch:\n\n    %s\n", authURL)
	if !e.o.NoBrowser {
		if err := e.f.OpenBrowser(ctx, authURL); err != nil {
			e.f.Logger.Debug("no browser opened", "error", err)
		}
	}
	e.note("Waiting for Twitch to redirect to %s (up to %v)…", redirectURI, e.o.Timeout)

	select {
	case r := <-done:
		if r.err != nil {
			return nil, config.Remote(r.err)
		}
		return r.tok, nil
	case <-ctx.Done():
		return nil, e.ended(ctx, e.o.Timeout, "the browser did not come back to "+redirectURI+
			"; if Twitch showed redirect_mismatch, add "+redirectURI+" (exactly, without a trailing slash) "+
			"to the OAuth redirect URLs of the application in the Twitch developer console")
	}
}

// onlyRoot serves h at "/" and answers 404 elsewhere (favicon requests…).
func onlyRoot(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// codeHandler receives the authorization code redirect.
type codeHandler struct {
	ctx     context.Context
	cfg     *twitchauth.Config
	state   string
	deliver func(*twitchauth.Token, error)
	claimed atomic.Bool
}

func (h *codeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		page(w, http.StatusMethodNotAllowed, "Method not allowed", "This address only receives Twitch's login redirect.", false)
		return
	}
	q := r.URL.Query()
	if !q.Has("code") && !q.Has("error") {
		page(w, http.StatusBadRequest, "Nothing to do here", "This address receives Twitch's login redirect; open the login URL printed in the terminal.", false)
		return
	}
	// A redirect that does not carry our state was not started here: it is
	// ignored, so that a forged request can neither inject a code nor end
	// the login.
	if !twitchauth.CheckState(h.state, q.Get("state")) {
		page(w, http.StatusBadRequest, "Login not recognised", "This login was not started by this command (state mismatch); it was ignored.", false)
		return
	}
	if !h.claimed.CompareAndSwap(false, true) {
		page(w, http.StatusConflict, "Already done", "This login was already completed. You can close this window.", false)
		return
	}
	tok, err := h.cfg.HandleCallback(h.ctx, q, h.state)
	h.deliver(tok, err)
	switch {
	case err == nil:
		who := "Twitch"
		if tok.Login != "" {
			who = "Twitch as " + tok.Login
		}
		page(w, http.StatusOK, "Logged in", "You are logged in to "+who+". You can close this window and return to the terminal.", true)
	case errors.Is(err, twitchauth.ErrAccessDenied):
		page(w, http.StatusForbidden, "Access denied", "You did not authorize the application. You can close this window.", false)
	default:
		page(w, http.StatusBadGateway, "Login failed", "The login failed: "+err.Error()+". Details are in the terminal.", false)
	}
}

// page answers a small HTML page. The redirect's URL carries the
// authorization code, so the page sends no Referer and is not cached.
func page(w http.ResponseWriter, status int, title, message string, ok bool) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	kind := loginpage.Failed
	if ok {
		kind = loginpage.OK
	}
	_ = loginpage.Render(w, loginpage.Page{Title: title, Message: message, Kind: kind})
}
