package twitchtest

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// ConsoleSessionLifetime is how long a console sign-in (cookie or console
// token) lasts.
const ConsoleSessionLifetime = 12 * time.Hour

const (
	// consoleCookie holds the console session of a browser.
	consoleCookie = "twitchtest_console"
	// maxConsoleSessions bounds the sessions kept in memory.
	maxConsoleSessions = 10_000
)

// consoleCounterNames are the counters (and SetFault points) of the console.
var consoleCounterNames = []string{"console"}

// consoleCOP refuses cross-origin browser POSTs to the console (its forms
// and its API used with the session cookie). Scripts sending a console
// token carry no Origin or Sec-Fetch-Site header and pass.
var consoleCOP = http.NewCrossOriginProtection()

// consoleState holds the console's sign-ins. Sessions live in memory only:
// a restarted sandbox asks to sign in again.
type consoleState struct {
	mu       sync.Mutex
	sessions map[string]*consoleSession // by session token
}

// consoleSession is one sign-in: a browser's cookie or a script's console
// token.
type consoleSession struct {
	userID    string
	expiresAt time.Time
	// flash is shown once by the next page view, then dropped: a client
	// secret just generated, or a notice such as "Saved".
	flash *consoleFlash
}

// consoleFlash is what the next page view shows once.
type consoleFlash struct {
	clientID string
	secret   string // a new client secret, shown once and never again
	rotated  bool   // secret replaced an older one (New Secret), not the first
	notice   string
}

// newConsoleSession signs userID in and returns the session token.
func (s *Server) newConsoleSession(userID string) (string, time.Time) {
	now := s.now()
	tok := randString(43, mixedAlnum) // 256 bits
	exp := now.Add(ConsoleSessionLifetime)
	st := &s.console
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.sessions == nil {
		st.sessions = make(map[string]*consoleSession)
	}
	if len(st.sessions) >= maxConsoleSessions {
		for k, cs := range st.sessions {
			if !now.Before(cs.expiresAt) {
				delete(st.sessions, k)
			}
		}
		for k := range st.sessions { // still full: drop arbitrary ones
			if len(st.sessions) < maxConsoleSessions {
				break
			}
			delete(st.sessions, k)
		}
	}
	st.sessions[tok] = &consoleSession{userID: userID, expiresAt: exp}
	return tok, exp
}

// endConsoleSession signs the session tok out.
func (s *Server) endConsoleSession(tok string) {
	s.console.mu.Lock()
	delete(s.console.sessions, tok)
	s.console.mu.Unlock()
}

// consoleAuth is the signed-in user of a console request.
type consoleAuth struct {
	token  string // the session token (cookie value or console token)
	user   User
	bearer bool // authenticated by Authorization: Bearer
}

// consoleSignedIn returns the user signed in by the session cookie or, when
// allowBearer, by Authorization: Bearer <console token>. bad reports a
// bearer token that was sent but is unknown or expired.
func (s *Server) consoleSignedIn(r *http.Request, allowBearer bool) (a consoleAuth, ok, bad bool) {
	if allowBearer {
		if h := r.Header.Get("Authorization"); h != "" {
			scheme, tok, _ := strings.Cut(h, " ")
			if !strings.EqualFold(scheme, "Bearer") || tok == "" {
				return consoleAuth{}, false, true
			}
			u, ok := s.consoleSessionUser(tok)
			return consoleAuth{token: tok, user: u, bearer: true}, ok, !ok
		}
	}
	ck, err := r.Cookie(consoleCookie)
	if err != nil || ck.Value == "" {
		return consoleAuth{}, false, false
	}
	u, ok := s.consoleSessionUser(ck.Value)
	return consoleAuth{token: ck.Value, user: u}, ok, false
}

// consoleSessionUser returns the user of the live session tok.
func (s *Server) consoleSessionUser(tok string) (User, bool) {
	now := s.now()
	st := &s.console
	st.mu.Lock()
	cs, ok := st.sessions[tok]
	if ok && !now.Before(cs.expiresAt) {
		delete(st.sessions, tok)
		ok = false
	}
	var id string
	if ok {
		id = cs.userID
	}
	st.mu.Unlock()
	if !ok {
		return User{}, false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.users[id]
	if !ok {
		return User{}, false
	}
	return *u, true
}

// setConsoleFlash stores what the session's next page view shows once.
func (s *Server) setConsoleFlash(tok string, f consoleFlash) {
	st := &s.console
	st.mu.Lock()
	if cs, ok := st.sessions[tok]; ok {
		cs.flash = &f
	}
	st.mu.Unlock()
}

// takeConsoleFlash returns and drops the session's flash for clientID ("" for
// any).
func (s *Server) takeConsoleFlash(tok, clientID string) *consoleFlash {
	st := &s.console
	st.mu.Lock()
	defer st.mu.Unlock()
	cs, ok := st.sessions[tok]
	if !ok || cs.flash == nil || (clientID != "" && cs.flash.clientID != clientID) {
		return nil
	}
	f := cs.flash
	cs.flash = nil
	return f
}

// setConsoleCookie sends the session cookie (tok "" deletes it): HttpOnly,
// SameSite=Lax, scoped to /console/, Secure over TLS, lasting as long as
// the session.
func setConsoleCookie(w http.ResponseWriter, r *http.Request, tok string) {
	ck := &http.Cookie{Name: consoleCookie, Value: tok, Path: "/console/", HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil, MaxAge: int(ConsoleSessionLifetime / time.Second)}
	if tok == "" {
		ck.MaxAge = -1
	}
	http.SetCookie(w, ck)
}

// isLoopback reports whether r comes from a loopback address.
func isLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	ip := net.ParseIP(host)
	return err == nil && ip != nil && ip.IsLoopback()
}

// canManage reports whether user may see and manage c: its owner, or anyone
// for the clients that no console user owns (those created by options,
// flags or AddClient).
func canManage(c Client, u User) bool { return c.OwnerID == "" || c.OwnerID == u.ID }

// ConsoleURL returns the developer console's address, URL()+"/console/", or
// "" before Listen.
func (s *Server) ConsoleURL() string {
	if u := s.URL(); u != "" {
		return u + "/console/"
	}
	return ""
}
