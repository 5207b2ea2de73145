package rig

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/twitchauth/twitchauth/twitchtest"
)

// Defaults of Config.
const (
	// DefaultTokenTTL is the lifetime of the tokens the rig mints. It is
	// short on purpose, so that developers see onAuthorized fire again.
	DefaultTokenTTL = 2 * time.Minute
	// DefaultExpiredRecovery is how long the stand-in helper waits after
	// handing out an expired token before it refreshes it.
	DefaultExpiredRecovery = 3 * time.Second
	// DefaultKeepAlive is the interval of comments on PubSub streams.
	DefaultKeepAlive = 15 * time.Second
)

// Limits for extensions (docs/protocol.md#extensions), enforced by the rig.
const (
	// MaxPubSubMessage is the largest Extension PubSub message: 5 KB.
	MaxPubSubMessage = 5 * 1024
	// MaxConfigSegment is the largest configuration segment content: 5 KB.
	MaxConfigSegment = 5 * 1024
)

// Config configures a Rig.
type Config struct {
	// Files is the extension's front-end folder, typically
	// os.DirFS("./my-extension"). Required.
	Files fs.FS

	// Sandbox is a sandbox in the same process (as in `twitchauth serve
	// --sandbox` and in tests). Exactly one of Sandbox and SandboxURL is
	// required.
	Sandbox *twitchtest.Server
	// SandboxURL is the base URL of a sandbox in another process
	// (`twitchauth mock`), such as http://127.0.0.1:8090.
	SandboxURL string
	// HTTPClient is used to reach SandboxURL; default http.DefaultClient.
	HTTPClient *http.Client

	// ClientID is the extension client; default the sandbox's extension
	// client.
	ClientID string
	// Channel is the login of the channel's broadcaster; default
	// "broadcaster", or the first user of the sandbox. Moderator and Viewer
	// are the logins used for those roles; default "moderator" and
	// "viewer", or other users of the sandbox.
	Channel, Moderator, Viewer string

	// EBSURL is the developer's extension backend, exposed to the front end
	// as Twitch.ext.rig.ebsURL and allowed by the extension pages' CSP.
	EBSURL string

	// TokenTTL is the lifetime of minted tokens; default DefaultTokenTTL.
	// The helper refreshes them when 80% of it has passed.
	TokenTTL time.Duration
	// ExpiredRecovery is the delay before an expired token handed out on
	// purpose is replaced; default DefaultExpiredRecovery.
	ExpiredRecovery time.Duration
	// KeepAlive is the interval of keep-alive comments on PubSub streams;
	// default DefaultKeepAlive.
	KeepAlive time.Duration
	// DisableCSP drops the Content-Security-Policy the rig puts on the
	// extension's HTML (script-src 'self', as Twitch's hosting enforces).
	DisableCSP bool
	// ConnectSources are extra connect-src entries of that policy, like
	// the URL fetching allowlist of the developer console.
	ConnectSources []string

	// Logger receives the rig's logs; default slog.Default(). Tokens are
	// never logged.
	Logger *slog.Logger
}

// Rig is the extension rig's HTTP handler. Build it with New; it is safe for
// concurrent use. Mount it at the root of a server or under a prefix with
// http.StripPrefix.
type Rig struct {
	cfg     Config
	files   fs.FS
	b       backend
	log     *slog.Logger
	mux     *http.ServeMux
	hub     *hub
	tokens  *registry
	configs *configStore

	mu  sync.Mutex
	ids *identities // resolved on first use
}

// identities are the extension and the users the rig plays.
type identities struct {
	ClientID  string
	Channel   twitchtest.User
	Moderator twitchtest.User
	Viewer    twitchtest.User
	Users     []twitchtest.User
}

// New returns a Rig for cfg. It does no I/O: a remote sandbox is first
// contacted by the first request that needs it.
func New(cfg Config) (*Rig, error) {
	if cfg.Files == nil {
		return nil, errors.New("rig: Config.Files (the extension's folder) is required")
	}
	var b backend
	switch {
	case cfg.Sandbox != nil && cfg.SandboxURL != "":
		return nil, errors.New("rig: set Config.Sandbox or Config.SandboxURL, not both")
	case cfg.Sandbox != nil:
		b = localBackend{cfg.Sandbox}
	case cfg.SandboxURL != "":
		rb, err := newRemoteBackend(cfg.SandboxURL, cfg.HTTPClient)
		if err != nil {
			return nil, err
		}
		for _, l := range [][2]string{{cfg.Channel, "broadcaster"}, {cfg.Moderator, "moderator"}, {cfg.Viewer, "viewer"}} {
			rb.logins = append(rb.logins, cmp.Or(l[0], l[1]))
		}
		b = rb
	default:
		return nil, errors.New("rig: Config.Sandbox or Config.SandboxURL is required")
	}
	if cfg.EBSURL != "" {
		u, err := url.Parse(cfg.EBSURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("rig: EBS URL %q is not an http(s) URL", cfg.EBSURL)
		}
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = DefaultTokenTTL
	}
	if cfg.TokenTTL < 10*time.Second {
		return nil, fmt.Errorf("rig: token lifetime %v is below 10s", cfg.TokenTTL)
	}
	if cfg.ExpiredRecovery <= 0 {
		cfg.ExpiredRecovery = DefaultExpiredRecovery
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = DefaultKeepAlive
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Rig{
		cfg:     cfg,
		files:   cfg.Files,
		b:       b,
		log:     cfg.Logger,
		hub:     newHub(),
		tokens:  newRegistry(),
		configs: newConfigStore(),
	}
	r.routes()
	return r, nil
}

// ServeHTTP serves the rig.
func (r *Rig) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path == "" {
		// Mounted with http.StripPrefix("/x", ...) and asked for "/x": the
		// page's relative URLs need the trailing slash.
		p := req.URL.EscapedPath()
		if u, err := url.ParseRequestURI(req.RequestURI); err == nil {
			p = u.EscapedPath()
		}
		target := p + "/"
		if req.URL.RawQuery != "" {
			target += "?" + req.URL.RawQuery
		}
		http.Redirect(w, req, target, http.StatusMovedPermanently)
		return
	}
	r.mux.ServeHTTP(w, req)
}

// Close ends the PubSub streams in flight, so that an http.Server can shut
// down without waiting for them. The rig keeps serving other requests.
func (r *Rig) Close() error {
	r.hub.close()
	return nil
}

func (r *Rig) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", r.serveChannelPage)
	m.HandleFunc("GET /rig/{asset}", r.serveAsset)
	m.HandleFunc("GET /ext/{path...}", r.serveExtFile)
	m.HandleFunc("/helix/", r.serveHelix)
	m.HandleFunc("GET /api/info", r.apiInfo)
	m.HandleFunc("POST /api/auth", r.apiAuth)
	m.HandleFunc("POST /api/exhaust", r.apiExhaust)
	m.HandleFunc("GET /api/config", r.apiConfigGet)
	m.HandleFunc("PUT /api/config", r.apiConfigPut)
	m.HandleFunc("POST /api/config/set", r.apiConfigSet)
	m.HandleFunc("POST /api/pubsub/send", r.apiPubSubSend)
	m.HandleFunc("POST /api/pubsub/publish", r.apiPubSubPublish)
	m.HandleFunc("POST /api/pubsub/listen", r.apiPubSubListen)
	m.HandleFunc("/api/", func(w http.ResponseWriter, req *http.Request) {
		writeError(w, http.StatusNotFound, "no such rig API: "+req.Method+" "+req.URL.Path)
	})
	m.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		writeError(w, http.StatusNotFound, "not found: "+req.URL.Path)
	})
	r.mux = m
}

// ids resolves the extension client and the users the rig plays, once.
// A failure (remote sandbox not reachable) is retried by the next call.
func (r *Rig) identities(ctx context.Context) (*identities, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ids != nil {
		return r.ids, nil
	}
	clientID := r.cfg.ClientID
	if clientID == "" {
		id, err := r.b.extensionClientID(ctx)
		if err != nil {
			return nil, err
		}
		clientID = id
	}
	users, err := r.b.users(ctx)
	if err != nil {
		return nil, err
	}
	if len(users) == 0 {
		return nil, errors.New("rig: the sandbox has no users")
	}
	ids := &identities{ClientID: clientID, Users: users}
	used := map[string]bool{}
	pick := func(login, def string) (twitchtest.User, error) {
		want := login
		if want == "" {
			want = def
		}
		for _, u := range users {
			if strings.EqualFold(u.Login, want) {
				used[u.ID] = true
				return u, nil
			}
		}
		if login != "" {
			return twitchtest.User{}, fmt.Errorf("rig: the sandbox has no user %q", login)
		}
		for _, u := range users { // any user not yet cast
			if !used[u.ID] {
				used[u.ID] = true
				return u, nil
			}
		}
		return users[len(users)-1], nil
	}
	if ids.Channel, err = pick(r.cfg.Channel, "broadcaster"); err != nil {
		return nil, err
	}
	if ids.Moderator, err = pick(r.cfg.Moderator, "moderator"); err != nil {
		return nil, err
	}
	if ids.Viewer, err = pick(r.cfg.Viewer, "viewer"); err != nil {
		return nil, err
	}
	r.ids = ids
	return ids, nil
}

// userJSON is a sandbox user as the API shows it.
type userJSON struct {
	ID          string `json:"id"`
	Login       string `json:"login"`
	DisplayName string `json:"display_name"`
}

func toUserJSON(u twitchtest.User) userJSON {
	return userJSON{ID: u.ID, Login: u.Login, DisplayName: u.DisplayName}
}

// infoResponse is GET /api/info.
type infoResponse struct {
	ClientID          string     `json:"client_id"`
	Channel           userJSON   `json:"channel"`
	Moderator         userJSON   `json:"moderator"`
	Viewer            userJSON   `json:"viewer"`
	Views             []viewInfo `json:"views"`
	EBSURL            string     `json:"ebs_url,omitempty"`
	TokenTTLSeconds   float64    `json:"token_ttl_seconds"`
	ExpiredRecoveryMS int64      `json:"expired_recovery_ms"`
}

func (r *Rig) apiInfo(w http.ResponseWriter, req *http.Request) {
	ids, err := r.identities(req.Context())
	if err != nil {
		r.sandboxError(w, err)
		return
	}
	views, err := r.views()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "listing the extension's HTML files: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, infoResponse{
		ClientID:          ids.ClientID,
		Channel:           toUserJSON(ids.Channel),
		Moderator:         toUserJSON(ids.Moderator),
		Viewer:            toUserJSON(ids.Viewer),
		Views:             views,
		EBSURL:            r.cfg.EBSURL,
		TokenTTLSeconds:   r.cfg.TokenTTL.Seconds(),
		ExpiredRecoveryMS: r.cfg.ExpiredRecovery.Milliseconds(),
	})
}

// Viewer kinds and identity states of POST /api/auth.
const (
	ViewerBroadcaster = "broadcaster"
	ViewerModerator   = "moderator"
	ViewerViewer      = "viewer"
	ViewerAnonymous   = "anonymous"

	// IdentityLinked: the viewer shares their identity (user_id is set).
	IdentityLinked = "linked"
	// IdentityUnlinked: a logged-in viewer who never shared it.
	IdentityUnlinked = "unlinked"
	// IdentityRevoked: shared once, then revoked (is_unlinked true).
	IdentityRevoked = "revoked"
)

// authRequest is POST /api/auth.
type authRequest struct {
	Viewer   string `json:"viewer"`
	Identity string `json:"identity"`
	// OpaqueUserID keeps an anonymous viewer's "A…" ID across refreshes.
	OpaqueUserID string `json:"opaque_user_id"`
	// Expired asks for tokens that have already expired.
	Expired bool `json:"expired"`
}

// viewerJSON is Twitch.ext.viewer's data.
type viewerJSON struct {
	OpaqueID string  `json:"opaqueId"`
	ID       *string `json:"id"`
	Role     string  `json:"role"`
	IsLinked bool    `json:"isLinked"`
}

// authResponse is onAuthorized's object plus what the helper needs to
// fill Twitch.ext.viewer and schedule the refresh.
type authResponse struct {
	ChannelID  string     `json:"channelId"`
	ClientID   string     `json:"clientId"`
	Token      string     `json:"token"`
	HelixToken string     `json:"helixToken"`
	UserID     string     `json:"userId"`
	Viewer     viewerJSON `json:"viewer"`
	IsUnlinked bool       `json:"isUnlinked"`
	// ExpiresAt is the tokens' exp, in milliseconds since the epoch.
	ExpiresAt int64 `json:"expiresAt"`
	Expired   bool  `json:"expired"`
}

var anonymousID = lazyRegexp(`^A[A-Za-z0-9]{1,64}$`)

func (r *Rig) apiAuth(w http.ResponseWriter, req *http.Request) {
	var ar authRequest
	if !readJSON(w, req, &ar) {
		return
	}
	ids, err := r.identities(req.Context())
	if err != nil {
		r.sandboxError(w, err)
		return
	}
	resp, status, err := r.mint(req.Context(), ids, ar)
	if err != nil {
		if status == http.StatusBadGateway {
			r.sandboxError(w, err)
			return
		}
		writeError(w, status, err.Error())
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resp)
}

// mint mints onAuthorized's token and helixToken for the viewer ar
// describes. The status is 400 for a bad request and 502 when the sandbox
// fails.
func (r *Rig) mint(ctx context.Context, ids *identities, ar authRequest) (*authResponse, int, error) {
	if ar.Identity == "" {
		ar.Identity = IdentityLinked
	}
	switch ar.Identity {
	case IdentityLinked, IdentityUnlinked, IdentityRevoked:
	default:
		return nil, http.StatusBadRequest, fmt.Errorf("identity %q is not linked, unlinked or revoked", ar.Identity)
	}
	o := twitchtest.ExtJWTOptions{ClientID: ids.ClientID, ChannelID: ids.Channel.ID, TTL: r.cfg.TokenTTL}
	var user twitchtest.User
	switch ar.Viewer {
	case ViewerBroadcaster:
		o.Role, user = twitchtest.RoleBroadcaster, ids.Channel
		// Twitch: "broadcasters get U + user ID".
		o.OpaqueUserID = "U" + user.ID
	case ViewerModerator:
		o.Role, user = twitchtest.RoleModerator, ids.Moderator
		o.OpaqueUserID = opaqueID(ids.ClientID, user.ID)
	case ViewerViewer, "":
		o.Role, user = twitchtest.RoleViewer, ids.Viewer
		o.OpaqueUserID = opaqueID(ids.ClientID, user.ID)
	case ViewerAnonymous:
		o.Role = twitchtest.RoleViewer
		if ar.OpaqueUserID != "" {
			if !anonymousID().MatchString(ar.OpaqueUserID) {
				return nil, http.StatusBadRequest, errors.New(`opaque_user_id of an anonymous viewer must be "A" and up to 64 letters or digits`)
			}
			o.OpaqueUserID = ar.OpaqueUserID
		}
		ar.Identity = IdentityUnlinked
	default:
		return nil, http.StatusBadRequest, fmt.Errorf("viewer %q is not broadcaster, moderator, viewer or anonymous", ar.Viewer)
	}
	switch ar.Identity {
	case IdentityLinked:
		o.UserID = user.ID
	case IdentityRevoked:
		o.IsUnlinked = true
	}
	if o.OpaqueUserID == "" { // anonymous without an ID yet
		o.OpaqueUserID = "A" + randomID(20)
	}
	if ar.Expired {
		o.TTL = time.Nanosecond // exp becomes the current second, already past
	}
	tok, err := r.b.mintExtensionJWT(ctx, o)
	if err != nil {
		return nil, http.StatusBadGateway, fmt.Errorf("minting the extension JWT: %w", err)
	}
	helix, err := r.b.mintHelixJWT(ctx, twitchtest.HelixJWTOptions{ClientID: ids.ClientID, OpaqueUserID: o.OpaqueUserID, UserID: o.UserID, TTL: o.TTL})
	if err != nil {
		return nil, http.StatusBadGateway, fmt.Errorf("minting the Helix JWT: %w", err)
	}
	cl, err := decodeClaims(tok)
	if err != nil {
		return nil, http.StatusBadGateway, fmt.Errorf("reading the sandbox's JWT: %w", err)
	}
	exp := time.Unix(cl.Exp, 0)
	if ar.Expired {
		// exp is a whole second; verifiers compare in seconds, so wait
		// until that second is over before handing the token out.
		if err := sleepUntil(ctx, exp.Add(time.Second+10*time.Millisecond)); err != nil {
			return nil, http.StatusServiceUnavailable, err
		}
	}
	r.tokens.add(tok, cl)
	resp := &authResponse{
		ChannelID:  ids.Channel.ID,
		ClientID:   ids.ClientID,
		Token:      tok,
		HelixToken: helix,
		UserID:     o.OpaqueUserID,
		Viewer:     viewerJSON{OpaqueID: o.OpaqueUserID, Role: o.Role, IsLinked: o.UserID != ""},
		IsUnlinked: o.IsUnlinked,
		ExpiresAt:  exp.UnixMilli(),
		Expired:    ar.Expired,
	}
	if o.UserID != "" {
		id := o.UserID
		resp.Viewer.ID = &id
	}
	r.log.Debug("rig: minted tokens", "role", o.Role, "opaque_user_id", o.OpaqueUserID, "linked", o.UserID != "", "expired", ar.Expired)
	return resp, 0, nil
}

// opaqueID derives a logged-in viewer's stable opaque ID for an extension.
// Twitch's are "U" and an opaque string that is not the user ID (except
// for broadcasters).
func opaqueID(clientID, userID string) string {
	sum := sha256.Sum256([]byte("twitchauth-rig\x00" + clientID + "\x00" + userID))
	return "U" + base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:10])
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// exhaustRequest is POST /api/exhaust.
type exhaustRequest struct {
	OpaqueUserID string `json:"opaque_user_id"`
}

// exhaustResponse reports the exhausted bucket: what the viewer's next
// Helix call answers and when the bucket is full again.
type exhaustResponse struct {
	Exhausted bool   `json:"exhausted"`
	Status    int    `json:"status"`
	Limit     string `json:"ratelimit_limit,omitempty"`
	Reset     string `json:"ratelimit_reset,omitempty"`
	// ResetAt is Ratelimit-Reset as RFC 3339.
	ResetAt string `json:"reset_at,omitempty"`
}

var opaqueRE = lazyRegexp(`^[UA][A-Za-z0-9]{1,64}$`)

// apiExhaust empties the viewer's Helix bucket at the sandbox and holds it
// empty until its reset (twitchtest's ExhaustRateLimit), then checks with
// one GET /helix/users, with a Helix JWT of that viewer, that Helix
// answers 429 and reports that reset. Holding the bucket makes the demo
// independent of timing: the bucket's continuous refill would otherwise
// let a call through a couple of seconds later.
func (r *Rig) apiExhaust(w http.ResponseWriter, req *http.Request) {
	var er exhaustRequest
	if !readJSON(w, req, &er) {
		return
	}
	if !opaqueRE().MatchString(er.OpaqueUserID) {
		writeError(w, http.StatusBadRequest, `opaque_user_id must be "U" or "A" and up to 64 letters or digits`)
		return
	}
	ids, err := r.identities(req.Context())
	if err != nil {
		r.sandboxError(w, err)
		return
	}
	st, err := r.b.exhaust(req.Context(), twitchtest.HelixBucket{ClientID: ids.ClientID, OpaqueUserID: er.OpaqueUserID})
	if err != nil {
		r.sandboxError(w, fmt.Errorf("exhausting the bucket: %w", err))
		return
	}
	tok, err := r.b.mintHelixJWT(req.Context(), twitchtest.HelixJWTOptions{ClientID: ids.ClientID, OpaqueUserID: er.OpaqueUserID, TTL: time.Minute})
	if err != nil {
		r.sandboxError(w, fmt.Errorf("minting the Helix JWT: %w", err))
		return
	}
	hr, err := http.NewRequestWithContext(req.Context(), http.MethodGet, "/helix/users?id="+url.QueryEscape(ids.Channel.ID), nil)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	hr.Header.Set("Authorization", "Extension "+tok)
	hr.Header.Set("Client-Id", ids.ClientID)
	rec := newRecorder()
	r.b.helix().ServeHTTP(rec, hr)
	out := exhaustResponse{
		Exhausted: rec.status == http.StatusTooManyRequests,
		Status:    rec.status,
		Limit:     rec.header.Get("Ratelimit-Limit"),
		Reset:     rec.header.Get("Ratelimit-Reset"),
		ResetAt:   st.Reset.UTC().Format(time.RFC3339),
	}
	if !out.Exhausted {
		writeError(w, http.StatusBadGateway, fmt.Sprintf("the sandbox's Helix answered %d after the bucket was exhausted: %s", rec.status, strings.TrimSpace(rec.body.String())))
		return
	}
	r.log.Info("rig: viewer's Helix bucket exhausted", "opaque_user_id", er.OpaqueUserID, "reset", out.ResetAt)
	writeJSON(w, http.StatusOK, out)
}

// serveHelix forwards /helix/... to the sandbox. Cookies of the rig's
// origin stay behind.
func (r *Rig) serveHelix(w http.ResponseWriter, req *http.Request) {
	out := req.Clone(req.Context())
	out.Header.Del("Cookie")
	out.RequestURI = ""
	r.b.helix().ServeHTTP(w, out)
}

// sandboxError answers 502 for a failing sandbox.
func (r *Rig) sandboxError(w http.ResponseWriter, err error) {
	r.log.Warn("rig: sandbox call failed", "err", err)
	writeError(w, http.StatusBadGateway, "sandbox: "+err.Error())
}

// errorBody is the rig's JSON error.
type errorBody struct {
	Error   string `json:"error"`
	Status  int    `json:"status"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: http.StatusText(status), Status: status, Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// maxBody bounds JSON request bodies.
const maxBody = 64 << 10

// readJSON decodes one JSON object from the body, answering 400 itself.
func readJSON(w http.ResponseWriter, req *http.Request, v any) bool {
	if ct := req.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, "send a JSON body (Content-Type: application/json)")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, req.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "malformed JSON body: "+err.Error())
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		writeError(w, http.StatusBadRequest, "malformed JSON body: more than one value")
		return false
	}
	return true
}
