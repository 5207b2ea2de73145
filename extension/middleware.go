package extension

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// HeaderExtensionJWT is the header Twitch's examples use to send the JWT to
// an EBS.
const HeaderExtensionJWT = "X-Extension-Jwt"

// DefaultMaxLimiters bounds how many per-viewer (and, separately,
// per-channel) rate limiters the middleware keeps.
const DefaultMaxLimiters = 10000

// MiddlewareConfig configures NewMiddleware.
type MiddlewareConfig struct {
	// Verifier checks the JWTs. Required.
	Verifier *Verifier

	// ClientID is the extension's client ID; when set, the extension's
	// front-end origin https://<ClientID>.ext-twitch.tv is allowed for CORS.
	ClientID string
	// AllowedOrigins replaces that origin with an explicit list (for
	// example the developer rig or a local test page). Exact matches only.
	AllowedOrigins []string
	// AllowedMethods are announced in CORS preflight answers; default
	// GET, POST, PUT, PATCH, DELETE.
	AllowedMethods []string

	// ViewerRate and ViewerBurst limit requests per viewer (opaque_user_id,
	// or user_id when that is empty). A zero ViewerRate means no limit.
	ViewerRate  rate.Limit
	ViewerBurst int
	// ChannelRate and ChannelBurst limit requests per channel_id (tokens
	// without one are not channel-limited). A zero ChannelRate means no limit.
	ChannelRate  rate.Limit
	ChannelBurst int
	// MaxLimiters bounds the number of tracked limiters of each kind;
	// default DefaultMaxLimiters. Idle limiters are evicted first.
	MaxLimiters int

	// Logger receives refusals at debug level; default slog.Default().
	Logger *slog.Logger
	// Now returns the current time for rate limiting; default time.Now.
	Now func() time.Time
}

type ctxKey struct{}

// NewContext returns a copy of ctx carrying c, as the middleware does.
func NewContext(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, ctxKey{}, c)
}

// ClaimsFromContext returns the verified claims the middleware stored.
func ClaimsFromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(ctxKey{}).(*Claims)
	return c, ok && c != nil
}

type middleware struct {
	v        *Verifier
	origins  []string
	methods  string
	viewers  *limiterSet
	channels *limiterSet
	log      *slog.Logger
	now      func() time.Time
}

// NewMiddleware returns middleware for an EBS. For each request it:
//
//   - answers CORS preflights (OPTIONS with Origin and
//     Access-Control-Request-Method) from an allowed origin with 204 and
//     allowed headers Authorization, x-extension-jwt and Content-Type, and
//     from any other origin with 403;
//   - reads the JWT from "Authorization: Bearer <jwt>" or x-extension-jwt;
//   - answers 401 with a JSON error when it is missing, expired or invalid;
//   - answers 429 with Retry-After and a JSON error when the viewer's or the
//     channel's rate limit is exceeded;
//   - otherwise calls next with the claims in the request context
//     (ClaimsFromContext).
//
// Responses to an allowed origin carry Access-Control-Allow-Origin, so the
// front end can read errors too.
func NewMiddleware(cfg MiddlewareConfig) (func(http.Handler) http.Handler, error) {
	if cfg.Verifier == nil {
		return nil, errors.New("extension: MiddlewareConfig.Verifier is required")
	}
	m := &middleware{v: cfg.Verifier, log: cfg.Logger, now: cfg.Now}
	switch {
	case len(cfg.AllowedOrigins) > 0:
		m.origins = slices.Clone(cfg.AllowedOrigins)
	case cfg.ClientID != "":
		m.origins = []string{"https://" + strings.ToLower(cfg.ClientID) + ".ext-twitch.tv"}
	}
	methods := cfg.AllowedMethods
	if len(methods) == 0 {
		methods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}
	}
	m.methods = strings.Join(methods, ", ")
	max := cfg.MaxLimiters
	if max <= 0 {
		max = DefaultMaxLimiters
	}
	var err error
	if m.viewers, err = limiters("Viewer", cfg.ViewerRate, cfg.ViewerBurst, max); err != nil {
		return nil, err
	}
	if m.channels, err = limiters("Channel", cfg.ChannelRate, cfg.ChannelBurst, max); err != nil {
		return nil, err
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.now == nil {
		m.now = time.Now
	}
	return m.wrap, nil
}

func limiters(kind string, r rate.Limit, burst, max int) (*limiterSet, error) {
	if r == 0 {
		return nil, nil
	}
	if r < 0 {
		return nil, errors.New("extension: negative " + kind + "Rate")
	}
	if burst <= 0 {
		burst = max1(int(math.Ceil(float64(r))))
	}
	return newLimiterSet(r, burst, max), nil
}

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}

func (m *middleware) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		allowed := origin != "" && slices.Contains(m.origins, origin)
		if origin != "" {
			w.Header().Add("Vary", "Origin")
		}
		if r.Method == http.MethodOptions && origin != "" && r.Header.Get("Access-Control-Request-Method") != "" {
			m.preflight(w, origin, allowed)
			return
		}
		if allowed {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Expose-Headers", "Retry-After")
		}

		token, ok := bearer(r)
		if !ok {
			m.refuse(w, r, http.StatusUnauthorized, "missing extension JWT: send Authorization: Bearer TOKEN or x-extension-jwt", ErrMissing)
			return
		}
		claims, err := m.v.Verify(r.Context(), token)
		if err != nil {
			msg := "invalid extension JWT"
			if errors.Is(err, ErrExpired) {
				msg = "expired extension JWT"
			}
			m.refuse(w, r, http.StatusUnauthorized, msg, err)
			return
		}
		now := m.now()
		var viewerRes *rate.Reservation
		if m.viewers != nil {
			key := claims.OpaqueUserID
			if key == "" {
				key = "user:" + claims.UserID
			}
			res, wait := m.viewers.reserve(key, now)
			if wait > 0 {
				m.tooMany(w, r, wait, "rate limit exceeded for this viewer")
				return
			}
			viewerRes = res
		}
		if m.channels != nil && claims.ChannelID != "" {
			if _, wait := m.channels.reserve(claims.ChannelID, now); wait > 0 {
				if viewerRes != nil {
					viewerRes.CancelAt(now) // the request is refused; give the viewer its token back
				}
				m.tooMany(w, r, wait, "rate limit exceeded for this channel")
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), claims)))
	})
}

func (m *middleware) preflight(w http.ResponseWriter, origin string, allowed bool) {
	h := w.Header()
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	if !allowed {
		writeError(w, http.StatusForbidden, "origin not allowed")
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Methods", m.methods)
	h.Set("Access-Control-Allow-Headers", "Authorization, x-extension-jwt, Content-Type")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// bearer extracts the token from Authorization: Bearer or x-extension-jwt.
func bearer(r *http.Request) (string, bool) {
	if a := r.Header.Get("Authorization"); a != "" {
		scheme, tok, ok := strings.Cut(a, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			if tok = strings.TrimSpace(tok); tok != "" {
				return tok, true
			}
		}
	}
	if t := strings.TrimSpace(r.Header.Get(HeaderExtensionJWT)); t != "" {
		return t, true
	}
	return "", false
}

func (m *middleware) refuse(w http.ResponseWriter, r *http.Request, status int, msg string, err error) {
	m.log.DebugContext(r.Context(), "extension: request refused", "path", r.URL.Path, "status", status, "reason", err)
	if errors.Is(err, ErrMissing) {
		w.Header().Set("WWW-Authenticate", "Bearer")
	} else {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
	writeError(w, status, msg)
}

func (m *middleware) tooMany(w http.ResponseWriter, r *http.Request, wait time.Duration, msg string) {
	secs := int64(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	m.log.DebugContext(r.Context(), "extension: request rate-limited", "path", r.URL.Path, "retry_after_s", secs)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	writeError(w, http.StatusTooManyRequests, msg)
}

// writeError writes Twitch's error shape {"error","status","message"}.
func writeError(w http.ResponseWriter, status int, msg string) {
	body, _ := json.Marshal(struct {
		Error   string `json:"error"`
		Status  int    `json:"status"`
		Message string `json:"message"`
	}{http.StatusText(status), status, msg})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}
