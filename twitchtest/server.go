package twitchtest

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server is the offline Twitch identity sandbox. Build it with New (then
// Listen) or NewServer (tests). All methods are safe for concurrent use.
type Server struct {
	cfg    config
	log    *slog.Logger
	now    func() time.Time
	mux    *http.ServeMux
	faults atomic.Pointer[map[string]Fault]

	counters map[string]*atomic.Int64 // fixed key set, read-only after New

	mu            sync.RWMutex
	clients       map[string]*Client
	clientOrder   []string
	users         map[string]*User // by ID
	usersByLogin  map[string]*User
	userOrder     []string
	grants        map[grantKey]*grant
	access        map[string]*accessToken
	refresh       map[string]*refreshToken
	codes         map[string]*authCode
	consents      map[string]*consentRequest
	devices       map[string]*deviceCode // by device_code
	deviceByUser  map[string]*deviceCode // by user_code
	defaultClient string
	publicClient  string
	extClient     string
	key           *rsa.PrivateKey
	helix         helixState // Helix and extension data (helix.go, extension.go)

	issued   issuedLog     // the last refresh tokens issued per grant (issued.go)
	limiter  rateLimiter   // Helix token buckets (ratelimit.go)
	console  consoleState  // developer console sessions (console_session.go)
	eventsub eventsubState // EventSub subscriptions and deliveries (eventsub*.go)

	baseURL  atomic.Pointer[string]
	srv      *http.Server
	listener net.Listener
	saveCh   chan struct{}
	done     chan struct{}
	closed   sync.Once
	closeErr error
	wg       sync.WaitGroup
}

// New builds a Server that is not yet listening: call Listen, or mount
// Handler in your own http.Server (the sandbox then derives its own URL from
// each request's Host). Close releases it and writes the state file.
func New(opts ...Option) (*Server, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{
		cfg:          cfg,
		log:          cfg.logger,
		now:          cfg.clock,
		mux:          http.NewServeMux(),
		counters:     make(map[string]*atomic.Int64),
		clients:      make(map[string]*Client),
		users:        make(map[string]*User),
		usersByLogin: make(map[string]*User),
		grants:       make(map[grantKey]*grant),
		access:       make(map[string]*accessToken),
		refresh:      make(map[string]*refreshToken),
		codes:        make(map[string]*authCode),
		consents:     make(map[string]*consentRequest),
		devices:      make(map[string]*deviceCode),
		deviceByUser: make(map[string]*deviceCode),
		key:          cfg.signingKey,
		done:         make(chan struct{}),
	}
	for _, name := range slices.Concat(counterNames, helixCounterNames, extensionCounterNames, consoleCounterNames, eventsubCounterNames) {
		s.counters[name] = new(atomic.Int64)
	}
	empty := map[string]Fault{}
	s.faults.Store(&empty)

	loaded := false
	if cfg.stateFile != "" {
		var err error
		if loaded, err = s.loadState(cfg.stateFile); err != nil {
			return nil, err
		}
	}
	if s.key == nil && cfg.sharedKey {
		s.key = sharedTestKey() // after loading: a persisted key wins
	}
	if err := s.seed(loaded); err != nil {
		return nil, err
	}
	s.seedHelix()
	if cfg.autoApprove != "" {
		if _, ok := s.User(cfg.autoApprove); !ok {
			return nil, fmt.Errorf("twitchtest: auto-approve user %q is not a sandbox user", cfg.autoApprove)
		}
	}
	s.routes()
	s.wg.Add(1)
	go s.janitor()
	if cfg.stateFile != "" {
		s.saveCh = make(chan struct{}, 1)
		s.wg.Add(1)
		go s.saver()
		s.markDirty() // write the (possibly new) state file soon
	}
	return s, nil
}

// seed registers the configured clients and users and creates the defaults
// that are missing.
func (s *Server) seed(loaded bool) error {
	for _, c := range s.cfg.clients {
		if existing, ok := s.clients[c.ID]; ok && loaded {
			// Flags win over the state file for the fields they give.
			if c.Secret != "" {
				existing.Secret = c.Secret
			}
			if len(c.RedirectURIs) > 0 {
				existing.RedirectURIs = slices.Clone(c.RedirectURIs)
			}
			s.pickRole(existing)
			continue
		}
		if _, err := s.AddClient(c); err != nil {
			return err
		}
	}
	if s.defaultClient == "" {
		if _, err := s.AddClient(Client{Name: "Sandbox App", Type: Confidential, RedirectURIs: []string{"http://localhost:3000"}}); err != nil {
			return err
		}
	}
	if s.publicClient == "" {
		if _, err := s.AddClient(Client{Name: "Sandbox Public App", Type: Public, RedirectURIs: []string{"http://localhost:3000"}}); err != nil {
			return err
		}
	}
	if s.extClient == "" {
		if _, err := s.AddClient(Client{Name: "Sandbox Extension", Type: Extension, RedirectURIs: []string{"http://localhost:8080"}}); err != nil {
			return err
		}
	}
	users := s.cfg.users
	if len(users) == 0 && len(s.users) == 0 {
		users = defaultUsers()
	}
	for _, u := range users {
		if _, ok := s.usersByLogin[strings.ToLower(u.Login)]; ok && loaded {
			continue
		}
		if _, err := s.AddUser(u); err != nil {
			return err
		}
	}
	return nil
}

// pickRole makes c the default client of its type when there is none yet.
// Callers hold s.mu or run before the server is shared.
func (s *Server) pickRole(c *Client) {
	switch c.Type {
	case Confidential:
		if s.defaultClient == "" {
			s.defaultClient = c.ID
		}
	case Public:
		if s.publicClient == "" {
			s.publicClient = c.ID
		}
	case Extension:
		if s.extClient == "" {
			s.extClient = c.ID
		}
	}
}

// TB is the part of testing.TB that NewServer uses; *testing.T, *testing.B,
// *testing.F and testing.TB satisfy it. NewServer takes it rather than
// testing.TB so that package twitchtest does not import package testing:
// programs that start the sandbox with New (`twitchauth mock`, `twitchauth
// serve --sandbox`) do not link the test framework and its flags.
type TB interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// NewServer starts a Server on 127.0.0.1 at a random port and closes it when
// the test ends. It fails the test if the server cannot start. Unless
// WithSigningKey is given or the state file holds a key, every NewServer in
// the process shares one RSA key (generated once) so that tests don't each
// pay for RSA key generation. Programs use New, then Listen or Serve, and
// Close.
func NewServer(t TB, opts ...Option) *Server {
	t.Helper()
	opts = append([]Option{func(c *config) { c.sharedKey = true }}, opts...)
	s, err := New(opts...)
	if err != nil {
		t.Fatalf("twitchtest.NewServer: %v", err)
	}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatalf("twitchtest.NewServer: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("twitchtest: close: %v", err)
		}
	})
	return s
}

// Listen binds addr (host:port; use 127.0.0.1:0 for a random port) and serves
// in the background until Close. It returns once the listener is bound.
func (s *Server) Listen(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("twitchtest: listen %s: %w", addr, err)
	}
	return s.Serve(l)
}

// Serve serves on l in the background until Close. The sandbox's URL becomes
// http://<l.Addr()>.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.srv != nil {
		s.mu.Unlock()
		l.Close()
		return errors.New("twitchtest: server is already serving")
	}
	s.listener = l
	s.srv = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	u := "http://" + l.Addr().String()
	s.baseURL.Store(&u)
	srv := s.srv
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("twitchtest: serve", "err", err)
		}
	}()
	s.log.Info("twitchtest sandbox listening", "url", u)
	return nil
}

// Close stops the server (waiting up to 5 seconds for requests in flight)
// and writes the state file if one is configured. It is safe to call twice.
func (s *Server) Close() error {
	s.closed.Do(func() {
		s.mu.RLock()
		srv := s.srv
		s.mu.RUnlock()
		if srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := srv.Shutdown(ctx); err != nil {
				srv.Close()
			}
			cancel()
		}
		close(s.done)
		s.stopEventSub()
		s.wg.Wait()
		if s.cfg.stateFile != "" {
			s.closeErr = s.saveState()
		}
	})
	return s.closeErr
}

// URL returns the sandbox's base URL, http://127.0.0.1:PORT, or "" before
// Listen.
func (s *Server) URL() string {
	if p := s.baseURL.Load(); p != nil {
		return *p
	}
	return ""
}

// IDURL returns the base of the identity endpoints, URL()+"/oauth2" (the
// counterpart of https://id.twitch.tv/oauth2, and the OIDC issuer).
func (s *Server) IDURL() string { return s.URL() + "/oauth2" }

// APIURL returns the base of the Helix API, URL()+"/helix".
func (s *Server) APIURL() string { return s.URL() + "/helix" }

// Handler returns the sandbox's HTTP handler, for mounting in another server
// or httptest.Server.
func (s *Server) Handler() http.Handler { return s.mux }

// base returns the sandbox's base URL as seen by request r.
func (s *Server) base(r *http.Request) string {
	if u := s.URL(); u != "" {
		return u
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// Fault is consulted before the handler of an endpoint (see SetFault). It
// may write a response and return true to stop the request there (an error
// status, a dropped connection via http.Hijacker or panic(http.ErrAbortHandler)),
// or sleep and return false to add latency.
type Fault interface {
	Inject(w http.ResponseWriter, r *http.Request) (handled bool)
}

// FaultFunc adapts a function to the Fault interface.
type FaultFunc func(w http.ResponseWriter, r *http.Request) bool

// Inject calls f.
func (f FaultFunc) Inject(w http.ResponseWriter, r *http.Request) bool { return f(w, r) }

// SetFault installs f on endpoint (a counter name such as "token",
// "validate", "revoke", "device", "authorize", "keys", "userinfo"); a nil f
// removes it. Grant-specific names ("token:refresh_token") are not fault
// points: the fault runs before the form is parsed.
func (s *Server) SetFault(endpoint string, f Fault) {
	for {
		old := s.faults.Load()
		next := make(map[string]Fault, len(*old)+1)
		for k, v := range *old {
			next[k] = v
		}
		if f == nil {
			delete(next, endpoint)
		} else {
			next[endpoint] = f
		}
		if s.faults.CompareAndSwap(old, &next) {
			return
		}
	}
}

// counterNames are the endpoints Requests counts.
var counterNames = []string{
	"token", "token:client_credentials", "token:authorization_code", "token:refresh_token", "token:device_code",
	"authorize", "device", "activate", "validate", "revoke", "discovery", "keys", "userinfo",
}

// Requests returns how many requests reached endpoint since start or the last
// ResetCounters: "token" (all grants), "token:client_credentials",
// "token:authorization_code", "token:refresh_token", "token:device_code"
// (also accepted under its URN), "authorize", "device", "activate",
// "validate", "revoke", "discovery", "keys", "userinfo". Requests stopped by
// a Fault are counted too.
func (s *Server) Requests(endpoint string) int {
	if endpoint == "token:"+grantDeviceCode {
		endpoint = "token:device_code"
	}
	if c, ok := s.counters[endpoint]; ok {
		return int(c.Load())
	}
	return 0
}

// ResetCounters sets every request counter to zero.
func (s *Server) ResetCounters() {
	for _, c := range s.counters {
		c.Store(0)
	}
}

func (s *Server) count(name string) {
	if c, ok := s.counters[name]; ok {
		c.Add(1)
	}
}

// handle registers h at path for the given methods under the endpoint name
// used for counters and faults. Other methods get a JSON 405.
func (s *Server) handle(endpoint, path string, h http.HandlerFunc, methods ...string) {
	allow := strings.Join(methods, ", ")
	s.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		s.count(endpoint)
		if f, ok := (*s.faults.Load())[endpoint]; ok && f.Inject(w, r) {
			return
		}
		if !slices.Contains(methods, r.Method) {
			w.Header().Set("Allow", allow)
			if strings.HasPrefix(path, "/helix/") {
				writeHelixError(w, http.StatusMethodNotAllowed, "method not allowed") // Helix's error shape
			} else {
				writeError(w, http.StatusMethodNotAllowed, "method not allowed")
			}
			return
		}
		h(w, r)
	})
}

// routes registers every endpoint. Later files add theirs here with one
// s.handle call each (Helix routes live under /helix/).
func (s *Server) routes() {
	s.handle("token", "/oauth2/token", s.handleToken, http.MethodPost)
	s.handle("validate", "/oauth2/validate", s.handleValidate, http.MethodGet)
	s.handle("revoke", "/oauth2/revoke", s.handleRevoke, http.MethodPost)
	s.handle("authorize", "/oauth2/authorize", s.handleAuthorize, http.MethodGet, http.MethodPost)
	s.handle("device", "/oauth2/device", s.handleDevice, http.MethodPost)
	s.handle("activate", "/activate", s.handleActivate, http.MethodGet, http.MethodPost)
	s.handle("signout", "/signout", s.handleSignOut, http.MethodGet, http.MethodPost)
	s.handle("discovery", "/oauth2/.well-known/openid-configuration", s.handleDiscovery, http.MethodGet)
	s.handle("keys", "/oauth2/keys", s.handleKeys, http.MethodGet)
	s.handle("userinfo", "/oauth2/userinfo", s.handleUserinfo, http.MethodGet, http.MethodPost)
	s.handle("helix", "/helix/users", s.helixRoute("/users"), helixMethods...)
	s.handle("helix", "/helix/streams", s.helixRoute("/streams"), helixMethods...)
	s.handle("helix", "/helix/channels", s.helixRoute("/channels"), helixMethods...)
	s.handle("helix", "/helix/users/extensions", s.helixRoute("/users/extensions"), helixMethods...)
	s.handle("helix", "/helix/extensions/pubsub", s.helixRoute("/extensions/pubsub"), helixMethods...)
	s.handle("helix", "/helix/extensions/chat", s.helixRoute("/extensions/chat"), helixMethods...)
	s.handle("helix", "/helix/extensions/jwt/secrets", s.helixRoute("/extensions/jwt/secrets"), helixMethods...)
	s.handle("helix", "/helix/extensions/live", s.helixRoute("/extensions/live"), helixMethods...)
	s.handle("helix", "/helix/moderation/bans", s.helixRoute("/moderation/bans"), helixMethods...)
	s.handle("helix", "/helix/moderation/moderators", s.helixRoute("/moderation/moderators"), helixMethods...)
	s.handle("helix", "/helix/eventsub/subscriptions", s.helixRoute("/eventsub/subscriptions"), helixMethods...)
	s.handle("helix", "/helix/", s.helixNotFound, helixMethods...)
	s.eventsubRoutes()
	s.handle("extension_jwt", "/_sandbox/extension/jwt", s.handleMintExtensionJWT, http.MethodPost)
	s.handle("ratelimit_exhaust", "/_sandbox/ratelimit/exhaust", s.handleExhaust, http.MethodPost)
	s.handle("requirements", "/_sandbox/requirements", s.handleRequirements, http.MethodGet)
	s.handle("console", "/console/{$}", s.handleConsoleHome, http.MethodGet)
	s.handle("console", "/console/signin", s.handleConsoleSignIn, http.MethodGet, http.MethodPost)
	s.handle("console", "/console/signout", s.handleConsoleSignOut, http.MethodPost)
	s.handle("console", "/console/apps/new", s.handleConsoleNewApp, http.MethodGet, http.MethodPost)
	s.handle("console", "/console/apps/{id}", s.handleConsoleApp, http.MethodGet, http.MethodPost)
	s.handle("console", "/console/apps/{id}/secret", s.handleConsoleNewSecret, http.MethodPost)
	s.handle("console", "/console/apps/{id}/extension-secret", s.handleConsoleNewExtensionSecret, http.MethodPost)
	s.handle("console", "/console/", s.handleConsoleNotFound, http.MethodGet, http.MethodPost)
	s.handle("console", "/console/api/session", s.handleConsoleAPISession, http.MethodPost, http.MethodDelete)
	s.handle("console", "/console/api/apps", s.handleConsoleAPIApps, http.MethodGet, http.MethodPost)
	s.handle("console", "/console/api/apps/{id}", s.handleConsoleAPIApp, http.MethodGet, http.MethodPatch)
	s.handle("console", "/console/api/apps/{id}/secret", s.handleConsoleAPISecret, http.MethodPost)
	s.handle("console", "/console/api/apps/{id}/extension-secrets", s.handleConsoleAPIExtensionSecrets, http.MethodGet, http.MethodPost)
	s.handle("console", "/console/api/", s.handleConsoleAPINotFound, http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "Not Found")
	})
}

// twitchError is Twitch's error body, {"status":N,"message":"..."}.
type twitchError struct {
	Status  int    `json:"status"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, twitchError{Status: status, Message: message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"status":500,"message":"internal error"}`, http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b)
}

// maxFormBytes bounds request bodies.
const maxFormBytes = 1 << 20

// parseParams parses parameters from the query string and from a form body,
// urlencoded or multipart (the body wins when both give a parameter).
func parseParams(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	ct := r.Header.Get("Content-Type")
	var err error
	if strings.HasPrefix(ct, "multipart/form-data") {
		err = r.ParseMultipartForm(maxFormBytes)
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid request body")
		return nil, false
	}
	if r.MultipartForm != nil {
		// ParseMultipartForm appends body values after query values; put the
		// body first so that it wins, as for urlencoded bodies.
		form := make(url.Values, len(r.Form))
		for k, v := range r.MultipartForm.Value {
			form[k] = slices.Clone(v)
		}
		for k, v := range r.URL.Query() {
			form[k] = append(form[k], v...)
		}
		return form, true
	}
	return r.Form, true
}

// sweepInterval is how often expired codes and tokens are dropped.
const sweepInterval = 30 * time.Second

// janitor drops expired state until Close.
func (s *Server) janitor() {
	defer s.wg.Done()
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			s.sweep()
		}
	}
}

// sweep drops expired access tokens, codes, consent requests, device codes
// and idle public refresh tokens.
func (s *Server) sweep() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for k, at := range s.access {
		if !now.Before(at.ExpiresAt) {
			delete(s.access, k)
		}
	}
	for k, ac := range s.codes {
		if !now.Before(ac.ExpiresAt) {
			delete(s.codes, k)
		}
	}
	for _, dc := range s.devices {
		if !now.Before(dc.ExpiresAt) {
			s.deleteDeviceLocked(dc)
		}
	}
	for k, rt := range s.refresh {
		if c, ok := s.clients[rt.ClientID]; ok && c.Type == Public && !now.Before(rt.Created.Add(PublicRefreshIdleLifetime)) {
			delete(s.refresh, k)
		}
	}
	s.sweepConsentsLocked()
}
