package twitchtest

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"
)

// Helix error messages. Those in docs/protocol.md#helix-conventions are Twitch's;
// the others are the sandbox's own wording where Twitch's is not recorded
// (see doc.go).
const (
	msgHelixMissingToken    = "OAuth token is missing"
	msgHelixMissingClientID = "Client ID is missing"
	msgHelixInvalidToken    = "Invalid OAuth token"
	msgHelixClientMismatch  = "Client ID and OAuth token do not match"
	msgHelixMissingUser     = "Missing User OAUTH Token"
	msgHelixInvalidJWT      = "Invalid or expired JWT"
	msgHelixNoExtScheme     = "The Extension authorization scheme is not supported by this endpoint"
	msgHelixNeedsJWT        = "This endpoint requires a JWT signed with the extension secret"
	msgHelixRateLimited     = "Request limit exceeded"
	msgHelixBadBody         = "Malformed request body"
	msgHelixNotFound        = "Not Found"
)

// helixError is Helix's error body: {"error":"<status text>","status":N,"message":"..."}.
type helixError struct {
	Error   string `json:"error"`
	Status  int    `json:"status"`
	Message string `json:"message"`
}

func writeHelixError(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, helixError{Error: http.StatusText(status), Status: status, Message: message})
}

// access says which credentials an endpoint takes.
type access uint8

const (
	accessApp  access = 1 << iota // app access token (Bearer)
	accessUser                    // user access token (Bearer)
	accessJWT                     // extension JWT signed by the EBS (Bearer), role external
)

// callerKind is the kind of credential a Helix request presented.
type callerKind int

const (
	callerApp    callerKind = iota // app access token
	callerUser                     // user access token
	callerViewer                   // Helix JWT of an extension viewer (Extension scheme)
	callerExtJWT                   // extension JWT signed with the extension secret (Bearer)
)

// helixCaller is the authenticated caller of a Helix request.
type helixCaller struct {
	kind     callerKind
	clientID string
	userID   string // user token's user; the JWT's user_id for viewers and EBS JWTs
	scopes   []string
	opaque   string     // viewer: opaque_user_id
	jwt      *extClaims // callerExtJWT and callerViewer
}

// helixEndpoint is one Helix method+path and its requirement. The
// requirement is data: authenticateHelix enforces it and GET
// /_sandbox/requirements publishes it (requirements.go), so the two cannot
// disagree; a test outside the package compares it with the client's table
// (docs/protocol.md#scopes).
type helixEndpoint struct {
	method string
	path   string // under /helix, e.g. "/users"
	access access
	// need is what a user token's scopes must meet (app tokens and
	// extension JWTs carry no scope). optional scopes unlock data in the
	// answer (the handler tests the same constant, scopeUserReadEmail).
	need     scopeNeed
	optional []string
	points   int
	// noExtension refuses the Extension scheme where it would otherwise
	// be accepted (EventSub subscriptions take app or user tokens only).
	noExtension bool
	serve       func(s *Server, w http.ResponseWriter, r *http.Request, c *helixCaller)
}

// name is the endpoint's counter and fault name, "helix:GET /users".
func (e *helixEndpoint) name() string { return "helix:" + e.method + " " + e.path }

// extensionSchemeOK reports whether the Extension scheme (a viewer's Helix
// JWT) is accepted: only where user tokens without scopes are.
func (e *helixEndpoint) extensionSchemeOK() bool {
	return e.access&accessUser != 0 && len(e.need) == 0 && !e.noExtension
}

// scopeUserReadEmail is Get Users' optional scope: it adds the email.
const scopeUserReadEmail = "user:read:email"

// helixEndpoints is the Helix subset the sandbox serves, with each
// endpoint's requirement as Twitch's API reference states it
// (docs/protocol.md#scopes).
var helixEndpoints = []*helixEndpoint{
	{method: http.MethodGet, path: "/users", access: accessApp | accessUser, optional: []string{scopeUserReadEmail}, serve: (*Server).helixGetUsers},
	{method: http.MethodGet, path: "/streams", access: accessApp | accessUser, serve: (*Server).helixGetStreams},
	{method: http.MethodGet, path: "/channels", access: accessApp | accessUser, serve: (*Server).helixGetChannels},
	{method: http.MethodPatch, path: "/channels", access: accessUser, need: anyOf("channel:manage:broadcast"), serve: (*Server).helixPatchChannels},
	{method: http.MethodGet, path: "/users/extensions", access: accessApp | accessUser, serve: (*Server).helixGetUserExtensions},
	{method: http.MethodPut, path: "/users/extensions", access: accessUser, need: anyOf("user:edit:broadcast"), serve: (*Server).helixPutUserExtensions},
	{method: http.MethodPost, path: "/extensions/pubsub", access: accessJWT, serve: (*Server).helixPostPubSub},
	{method: http.MethodPost, path: "/extensions/chat", access: accessJWT, serve: (*Server).helixPostExtensionChat},
	{method: http.MethodGet, path: "/extensions/jwt/secrets", access: accessJWT, serve: (*Server).helixGetSecrets},
	{method: http.MethodPost, path: "/extensions/jwt/secrets", access: accessJWT, serve: (*Server).helixPostSecrets},
	{method: http.MethodGet, path: "/extensions/live", access: accessApp | accessUser, serve: (*Server).helixGetLiveChannels},
	{method: http.MethodPost, path: "/moderation/bans", access: accessUser, need: anyOf("moderator:manage:banned_users"), serve: (*Server).helixPostBan},
	{method: http.MethodDelete, path: "/moderation/bans", access: accessUser, need: anyOf("moderator:manage:banned_users"), serve: (*Server).helixDeleteBan},
	{method: http.MethodGet, path: "/moderation/moderators", access: accessUser, need: anyOf("moderation:read", "channel:manage:moderators"), serve: (*Server).helixGetModerators},
	{method: http.MethodPost, path: "/eventsub/subscriptions", access: accessApp | accessUser, noExtension: true, serve: (*Server).helixCreateEventSub},
	{method: http.MethodGet, path: "/eventsub/subscriptions", access: accessApp | accessUser, noExtension: true, serve: (*Server).helixListEventSub},
	{method: http.MethodDelete, path: "/eventsub/subscriptions", access: accessApp | accessUser, noExtension: true, serve: (*Server).helixDeleteEventSub},
}

// helixCounterNames are the Helix counters: "helix" (every request under
// /helix/), "helix:429" and one per endpoint.
var helixCounterNames = func() []string {
	out := []string{"helix", "helix:429"}
	for _, e := range helixEndpoints {
		out = append(out, e.name())
	}
	return out
}()

// helixMethods are the methods registered for every Helix path, so that a
// wrong method gets a Helix-shaped 405 from helixRoute rather than the
// identity endpoints' body.
var helixMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead, http.MethodOptions}

// helixRoute returns the handler of the Helix path (under /helix), which
// dispatches on the method.
func (s *Server) helixRoute(path string) http.HandlerFunc {
	var eps []*helixEndpoint
	var allow []string
	for _, e := range helixEndpoints {
		if e.path == path {
			eps = append(eps, e)
			allow = append(allow, e.method)
		}
	}
	if len(eps) == 0 {
		panic("twitchtest: no Helix endpoint at " + path)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		for _, e := range eps {
			if e.method == r.Method {
				s.serveHelix(e, w, r)
				return
			}
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeHelixError(w, http.StatusMethodNotAllowed, "method not allowed")
	}
}

// helixNotFound answers Helix paths the sandbox does not serve.
func (s *Server) helixNotFound(w http.ResponseWriter, r *http.Request) {
	writeHelixError(w, http.StatusNotFound, msgHelixNotFound)
}

// serveHelix runs the common part of every Helix endpoint: counter, fault,
// authentication, scope check and rate limit.
func (s *Server) serveHelix(e *helixEndpoint, w http.ResponseWriter, r *http.Request) {
	name := e.name()
	s.count(name)
	if f, ok := (*s.faults.Load())[name]; ok && f.Inject(w, r) {
		return
	}
	c, status, msg := s.authenticateHelix(e, r)
	if status != 0 {
		// No points are taken; the app bucket of a known client is reported.
		if id := r.Header.Get("Client-Id"); id != "" {
			if _, ok := s.Client(id); ok {
				setRateHeaders(w.Header(), s.limiter.peek("app:"+id, s.helixLimit(), s.now()))
			}
		}
		writeHelixError(w, status, msg)
		return
	}
	key, lim := s.bucketFor(c)
	points := e.points
	if points == 0 {
		points = 1
	}
	ok, st := s.limiter.take(key, lim, points, s.now())
	setRateHeaders(w.Header(), st)
	if !ok {
		s.count("helix:429")
		writeHelixError(w, http.StatusTooManyRequests, msgHelixRateLimited)
		return
	}
	e.serve(s, w, r, c)
}

func (s *Server) helixLimit() rateLimit {
	return s.cfg.helixLimit.or(rateLimit{DefaultHelixRatePoints, DefaultRatePeriod})
}

func (s *Server) viewerLimit() rateLimit {
	return s.cfg.viewerLimit.or(rateLimit{DefaultExtensionViewerRatePoints, DefaultRatePeriod})
}

func (s *Server) pubsubLimit() rateLimit {
	return s.cfg.pubsubLimit.or(rateLimit{DefaultExtensionPubSubRatePoints, DefaultRatePeriod})
}

// bucketFor returns the bucket a caller's request draws from: the app bucket
// of the client (app tokens and EBS JWTs), the user bucket of the client and
// user, or the viewer bucket of the Helix JWT's opaque user ID.
func (s *Server) bucketFor(c *helixCaller) (string, rateLimit) {
	switch c.kind {
	case callerUser:
		return "user:" + c.clientID + ":" + c.userID, s.helixLimit()
	case callerViewer:
		return "viewer:" + c.clientID + ":" + c.opaque, s.viewerLimit()
	default:
		return "app:" + c.clientID, s.helixLimit()
	}
}

// authenticateHelix checks the Authorization and Client-Id headers against
// what e accepts. On failure it returns the status and message to answer.
func (s *Server) authenticateHelix(e *helixEndpoint, r *http.Request) (*helixCaller, int, string) {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	if h == "" {
		return nil, http.StatusUnauthorized, msgHelixMissingToken
	}
	clientID := r.Header.Get("Client-Id")
	if clientID == "" {
		return nil, http.StatusUnauthorized, msgHelixMissingClientID
	}
	scheme, tok, _ := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return nil, http.StatusUnauthorized, msgHelixInvalidToken
	}
	switch {
	case strings.EqualFold(scheme, "Extension"):
		if !e.extensionSchemeOK() {
			return nil, http.StatusUnauthorized, msgHelixNoExtScheme
		}
		cl, err := s.verifyExtensionToken(clientID, tok)
		if err != nil {
			if errors.Is(err, errJWTClientMismatch) {
				return nil, http.StatusUnauthorized, msgHelixClientMismatch
			}
			return nil, http.StatusUnauthorized, msgHelixInvalidJWT
		}
		if cl.OpaqueUserID == "" {
			return nil, http.StatusUnauthorized, msgHelixInvalidJWT
		}
		return &helixCaller{kind: callerViewer, clientID: clientID, userID: cl.UserID, opaque: cl.OpaqueUserID, jwt: cl}, 0, ""
	case !strings.EqualFold(scheme, "Bearer"):
		// "OAuth" is /oauth2/validate's scheme; Helix refuses it.
		return nil, http.StatusUnauthorized, msgHelixInvalidToken
	}
	if e.access&accessJWT != 0 {
		cl, err := s.verifyExtensionToken(clientID, tok)
		if err != nil {
			if errors.Is(err, errJWTClientMismatch) {
				return nil, http.StatusUnauthorized, msgHelixClientMismatch
			}
			if !strings.Contains(tok, ".") {
				return nil, http.StatusUnauthorized, msgHelixNeedsJWT
			}
			return nil, http.StatusUnauthorized, msgHelixInvalidJWT
		}
		return &helixCaller{kind: callerExtJWT, clientID: clientID, userID: cl.UserID, jwt: cl}, 0, ""
	}
	at, _, ok := s.lookupAccess(tok)
	if !ok {
		return nil, http.StatusUnauthorized, msgHelixInvalidToken
	}
	if at.ClientID != clientID {
		return nil, http.StatusUnauthorized, msgHelixClientMismatch
	}
	c := &helixCaller{kind: callerApp, clientID: at.ClientID, userID: at.UserID, scopes: at.Scopes}
	if at.UserID != "" {
		c.kind = callerUser
	}
	switch c.kind {
	case callerApp:
		if e.access&accessApp == 0 {
			return nil, http.StatusUnauthorized, msgHelixMissingUser
		}
	case callerUser:
		if e.access&accessUser == 0 {
			return nil, http.StatusUnauthorized, msgHelixInvalidToken
		}
		if clause := e.need.unmet(at.Scopes); clause != nil {
			return nil, http.StatusUnauthorized, missingScopeMessage(clause)
		}
	}
	return c, 0, ""
}

// maxHelixBody bounds Helix request bodies.
const maxHelixBody = 64 << 10

// decodeHelixBody decodes a JSON body into v and answers 400 itself when it
// is malformed.
func decodeHelixBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxHelixBody))
	if err := dec.Decode(v); err != nil {
		writeHelixError(w, http.StatusBadRequest, msgHelixBadBody)
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		writeHelixError(w, http.StatusBadRequest, msgHelixBadBody)
		return false
	}
	return true
}

// helixData is the {"data":[...]} envelope; Pagination is present on the
// endpoints Twitch paginates ({} when there is no further page).
type helixData struct {
	Data       any              `json:"data"`
	Pagination *helixPagination `json:"pagination,omitempty"`
}

type helixPagination struct {
	Cursor string `json:"cursor,omitempty"`
}

// helixState is the Helix and extension data of the sandbox, guarded by s.mu.
type helixState struct {
	secrets  map[string][]ExtensionSecret // by extension client ID, oldest first
	streams  map[string]*stream           // live streams by broadcaster ID
	channels map[string]*channelInfo      // by broadcaster ID; absent means defaults
	mods     map[string][]string          // broadcaster ID → moderator IDs, in order added
	bans     map[string]map[string]*ban   // broadcaster ID → user ID → ban
	userExt  map[string]activeExtensions  // by user ID; absent means nothing active
	pubsub   []PubSubMessage              // last maxRecorded messages sent
	chat     []ExtensionChatMessage       // last maxRecorded messages sent
}

// maxRecorded bounds the PubSub and chat messages the sandbox remembers.
const maxRecorded = 1000

// rfc3339 formats t as Twitch does (UTC, RFC 3339).
func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }
