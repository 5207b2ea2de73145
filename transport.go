package twitchauth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/twitchauth/twitchauth/internal/ratelimit"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
)

// DefaultMaxReplayBody is how much of a request body without GetBody the
// Transport buffers so that it can send it again on a retry.
const DefaultMaxReplayBody = 1 << 20

// maxRetries bounds the retries of one request, whatever their causes.
const maxRetries = 3

// max5xxRetries bounds the retries of idempotent requests on a 5xx other
// than 503.
const max5xxRetries = 2

// TransportStats are a Transport's counters since it was built.
type TransportStats struct {
	// Requests is the number of requests sent to Helix, retries included.
	Requests int64
	// Waits is the number of times a request waited before being sent:
	// for a point of its rate-limit bucket, for a 429's reset, or for a
	// back-off before a 5xx retry.
	Waits int64
	// WaitTime is the total time spent in those waits.
	WaitTime time.Duration
	// Retries is the number of requests sent again.
	Retries int64
	// RateLimited is the number of 429 responses received.
	RateLimited int64
	// Refreshes is the number of 401 responses that invalidated the token
	// (a refresh, or a new extension JWT).
	Refreshes int64
}

// TransportConfig configures a Transport. Config and one of Source and
// ExtensionJWT are required; a zero field takes its default.
type TransportConfig struct {
	// Config is the application: its ClientID is sent as Client-Id and its
	// APIBaseURL() is the Helix host.
	Config *Config
	// Source supplies the bearer tokens: a provider.TokenSource, or any
	// oauth2.TokenSource. The Transport does more with a source that also
	// implements ContextTokenSource, Invalidator, ScopeReporter or
	// BucketKeyer (the Provider's sources implement all four).
	Source oauth2.TokenSource
	// ExtensionJWT, instead of Source, authorizes requests as an extension
	// viewer ("Authorization: Extension <jwt>"): it returns the viewer's
	// Helix JWT, the auth.helixToken an extension front end receives from
	// Twitch's onAuthorized callback (the latest one received). Config's
	// ClientID must be the extension's client ID. Each viewer (the JWT's
	// opaque_user_id) has its own rate-limit bucket (30 requests per minute
	// on Twitch). On a 401 it is asked again and the request is retried
	// once if it returns a different JWT.
	ExtensionJWT func(ctx context.Context) (string, error)
	// Base sends the requests (default http.DefaultTransport). Do not use
	// the Config's HTTPClient transport if it is this Transport.
	Base http.RoundTripper
	// Pacer, when set, is shared with other Transports acting for the same
	// subjects (default: a new Pacer of its own).
	Pacer *Pacer
	// NoPacing turns rate-limit pacing off: requests are sent at once and
	// only a 429 makes them wait.
	NoPacing bool
	// MaxReplayBody is how many bytes of a request body without GetBody are
	// buffered for retries (default DefaultMaxReplayBody). A larger body is
	// streamed and its request is never retried.
	MaxReplayBody int64
	// RetryBackoff is the base of the jittered exponential back-off between
	// 5xx retries (default 250ms; the n-th retry waits a random time up to
	// base·2ⁿ).
	RetryBackoff time.Duration
	// BucketKey names the rate-limit bucket of a Source that is no
	// BucketKeyer. Sources of different users must have different keys.
	BucketKey string
	// NoScopeCheck turns off the check of a user token's scopes before each
	// request: every request is sent, and a missing scope shows as Helix's
	// 401 (a *HelixError matching ErrMissingScopes). Use it if Twitch
	// changed an endpoint's requirement before package scopes did.
	NoScopeCheck bool
}

// Transport is an http.RoundTripper for Helix. For each request to the
// Config's API host it:
//
//   - sets Client-Id and Authorization ("Bearer <token>" from a token
//     source, or "Extension <jwt>" for an extension viewer), replacing any
//     the caller set — so a Helix library configured without tokens works
//     through it;
//   - refuses, without sending it, a request whose endpoint needs scopes
//     that the user token lacks, with a *MissingScopesError — when the
//     token source reports the token's scopes (ScopeReporter; the
//     Provider's sources do) and the endpoint is in package scopes' table
//     (NoScopeCheck turns this off);
//   - paces the request against its rate-limit bucket (see Pacer);
//   - on 401, invalidates the token (one refresh for any number of
//     concurrent 401s when the source is an Invalidator) and retries once;
//     a 401 saying a scope is missing is returned as is;
//   - on 429, waits until Ratelimit-Reset and retries — unless the reset lies
//     past the context's deadline: the 429 response is then returned at once.
//     A reset further ahead than a bucket can need (MaxBucketRefill) or in
//     the past is treated as unknown: the wait is then one second. No wait
//     lasts longer than MaxBucketRefill, whatever the headers say. A 429
//     whose Ratelimit-Remaining is above 0 refuses a quota, not a rate
//     (EventSub's "too many subscriptions"), and is returned at once;
//   - on 503, retries once; on other 5xx, retries idempotent requests (GET,
//     HEAD, PUT, DELETE, OPTIONS) up to twice, with jittered exponential
//     back-off.
//
// A request is retried at most three times in all. Bodies are replayed from
// GetBody, or from a buffer of up to DefaultMaxReplayBody bytes. The
// caller's request is never modified, and the bodies of discarded responses
// are closed. Requests outside the Helix base URL (such as id.twitch.tv's
// token endpoint, which a Helix library may call with the same client) pass
// through untouched, without credentials.
//
// A Transport is safe for concurrent use. The Twitch rules it follows: docs/protocol.md#helix-conventions.
type Transport struct {
	cfg       *Config
	src       oauth2.TokenSource                    // bearer tokens, or nil
	ext       func(context.Context) (string, error) // extension Helix JWTs, or nil
	base      http.RoundTripper                     // default http.DefaultTransport
	pacer     *Pacer                                // nil: no pacing
	maxReplay int64                                 // bytes buffered for replay
	backoff   time.Duration                         // 5xx back-off base
	bucketKey string                                // TransportConfig.BucketKey
	apiURL    *url.URL                              // requests elsewhere pass through
	lastExt   atomic.Pointer[extKey]
	lastCred  atomic.Pointer[cachedCred] // the last bearer credential built (see credential)
	log       *slog.Logger
	noScopes  bool // TransportConfig.NoScopeCheck (scopecheck.go)

	requests, waits, waitNanos, retries, limited, refreshes atomic.Int64
}

type extKey struct{ jwt, key string }

// NewTransport returns a Transport configured by c.
func NewTransport(c TransportConfig) *Transport {
	cfg := c.Config
	if cfg == nil {
		cfg = &Config{}
	}
	t := &Transport{
		cfg: cfg, src: c.Source, ext: c.ExtensionJWT, base: c.Base, pacer: c.Pacer,
		maxReplay: c.MaxReplayBody, backoff: c.RetryBackoff, bucketKey: c.BucketKey, noScopes: c.NoScopeCheck,
	}
	switch {
	case c.NoPacing:
		t.pacer = nil
	case t.pacer == nil:
		t.pacer = &Pacer{}
	}
	if t.maxReplay == 0 {
		t.maxReplay = DefaultMaxReplayBody
	}
	if t.backoff == 0 {
		t.backoff = 250 * time.Millisecond
	}
	t.apiURL, _ = url.Parse(cfg.APIBaseURL())
	t.log = cfg.logger()
	return t
}

// Stats returns the Transport's counters.
func (t *Transport) Stats() TransportStats {
	return TransportStats{
		Requests:    t.requests.Load(),
		Waits:       t.waits.Load(),
		WaitTime:    time.Duration(t.waitNanos.Load()),
		Retries:     t.retries.Load(),
		RateLimited: t.limited.Load(),
		Refreshes:   t.refreshes.Load(),
	}
}

func (t *Transport) baseRT() http.RoundTripper {
	if t.base != nil {
		return t.base
	}
	return http.DefaultTransport
}

// inScope reports whether u is under the Helix base URL (same scheme and
// host, path below the base's).
func (t *Transport) inScope(u *url.URL) bool {
	if t.apiURL == nil || u == nil || !strings.EqualFold(u.Scheme, t.apiURL.Scheme) || !strings.EqualFold(u.Host, t.apiURL.Host) {
		return false
	}
	base := strings.TrimSuffix(t.apiURL.Path, "/")
	return base == "" || u.Path == base || strings.HasPrefix(u.Path, base+"/")
}

// clientID returns the Client-Id to send.
func (t *Transport) clientID() string {
	return t.cfg.ClientID
}

// credential is what authorizes one attempt.
type credential struct {
	header string        // the Authorization value
	secret string        // the token or JWT (to invalidate it)
	bucket string        // the rate-limit bucket key
	tok    *oauth2.Token // the bearer token (nil for extension JWTs)
}

func (t *Transport) credential(ctx context.Context) (credential, error) {
	cid := t.clientID()
	if t.ext != nil {
		jwt, err := t.ext(ctx)
		if err != nil {
			return credential{}, fmt.Errorf("twitchauth: getting the extension JWT: %w", err)
		}
		if jwt == "" {
			return credential{}, errors.New("twitchauth: the extension JWT source returned no JWT")
		}
		return credential{header: "Extension " + jwt, secret: jwt, bucket: cid + "/" + t.extBucket(jwt)}, nil
	}
	if t.src == nil {
		return credential{}, errors.New("twitchauth: Transport has no token source")
	}
	var tok *oauth2.Token
	var err error
	if tc, ok := t.src.(ContextTokenSource); ok {
		tok, err = tc.TokenContext(ctx)
	} else {
		tok, err = t.src.Token()
	}
	if err != nil {
		return credential{}, err
	}
	if tok == nil || tok.AccessToken == "" {
		return credential{}, errors.New("twitchauth: the token source returned no access token")
	}
	key := t.bucketKey
	if key == "" {
		if s, ok := t.src.(BucketKeyer); ok {
			key = s.BucketKey()
		}
	}
	if key == "" {
		key = fmt.Sprintf("source:%p", t)
	}
	// A cached token is handed out as the same *oauth2.Token until it is
	// renewed: reuse the strings built for it (issue 21: two allocations
	// per proxied request).
	if c := t.lastCred.Load(); c != nil && c.tok == tok && c.cid == cid && c.key == key {
		return c.credential, nil
	}
	// Helix wants "Bearer" whatever token_type says ("bearer" from Twitch).
	c := &cachedCred{cid: cid, key: key, credential: credential{header: "Bearer " + tok.AccessToken, secret: tok.AccessToken, bucket: cid + "/" + key, tok: tok}}
	t.lastCred.Store(c)
	return c.credential, nil
}

// cachedCred is a bearer credential with the client ID and bucket key it
// was built from.
type cachedCred struct {
	cid, key string
	credential
}

// extBucket names the bucket of an extension viewer from the JWT's
// (unverified) opaque_user_id: the viewer is only a rate-limit key here.
func (t *Transport) extBucket(jwt string) string {
	if k := t.lastExt.Load(); k != nil && k.jwt == jwt {
		return k.key
	}
	key := "extension"
	if parts := strings.Split(jwt, "."); len(parts) == 3 && len(parts[1]) < 8<<10 {
		if raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "=")); err == nil {
			var c struct {
				OpaqueUserID string `json:"opaque_user_id"`
				UserID       string `json:"user_id"`
			}
			if json.Unmarshal(raw, &c) == nil {
				switch {
				case c.OpaqueUserID != "":
					key = "extension:" + c.OpaqueUserID
				case c.UserID != "":
					key = "extension:U" + c.UserID
				}
			}
		}
	}
	t.lastExt.Store(&extKey{jwt: jwt, key: key})
	return key
}

// invalidate reports a refused credential; it returns whether a different
// one is now available.
func (t *Transport) invalidate(ctx context.Context, c credential) (bool, error) {
	if t.ext != nil {
		jwt, err := t.ext(ctx)
		if err != nil {
			return false, fmt.Errorf("twitchauth: getting a new extension JWT: %w", err)
		}
		return jwt != "" && jwt != c.secret, nil
	}
	if inv, ok := t.src.(Invalidator); ok {
		tok, err := inv.Invalidate(ctx, c.secret)
		if err != nil {
			return false, err
		}
		return tok != nil && tok.AccessToken != "" && tok.AccessToken != c.secret, nil
	}
	// A plain source: ask again, in case it renewed by itself.
	tok, err := t.src.Token()
	if err != nil {
		return false, err
	}
	return tok != nil && tok.AccessToken != c.secret, nil
}

// quota429 reports whether a 429 refuses a quota rather than a rate: its
// Ratelimit-Remaining says the bucket still holds points. EventSub answers
// 429 when too many subscriptions share a type and condition
// (docs/protocol.md#eventsub).
func quota429(resp *http.Response) bool {
	if resp.StatusCode != http.StatusTooManyRequests {
		return false
	}
	rl, ok := ratelimit.Parse(resp.Header)
	return ok && rl.Remaining > 0
}

// RoundTrip sends req to Helix as described on Transport.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.inScope(req.URL) {
		return t.baseRT().RoundTrip(req)
	}
	ctx := req.Context()
	body, err := newReplayBody(req, t.maxReplay)
	if err != nil {
		return nil, err
	}
	defer body.close()

	var (
		retries, n5xx         int
		refreshed, retried503 bool
	)
	for {
		cred, err := t.credential(ctx)
		if err != nil {
			return nil, err
		}
		if err := t.checkScopes(req, cred.tok, body); err != nil {
			return nil, err
		}
		var res reservation
		if t.pacer != nil {
			var waited time.Duration
			res, waited, err = t.pacer.reserve(ctx, cred.bucket)
			t.countWait(waited)
			if err != nil {
				return nil, err
			}
		}
		// A shallow copy with its own header map is enough (the base
		// transport reads the request; we only replace two headers): a
		// deep Clone copied every header value again (issue 21).
		r := req.WithContext(ctx)
		r.Header = make(http.Header, len(req.Header)+2)
		for k, v := range req.Header {
			r.Header[k] = v
		}
		setAuth(r.Header, t.clientID(), cred.header)
		r.Body, r.GetBody = body.reader(), body.getBody()
		t.requests.Add(1)
		resp, err := t.baseRT().RoundTrip(r)
		quota := err == nil && quota429(resp)
		if t.pacer != nil {
			switch {
			case err != nil:
				t.pacer.done(res, 0, nil)
			case quota:
				// The request took its point like any refusal.
				t.pacer.done(res, http.StatusBadRequest, resp.Header)
			default:
				t.pacer.done(res, resp.StatusCode, resp.Header)
			}
		}
		if err != nil {
			return nil, err
		}
		if quota {
			return resp, nil // waiting would not change the answer
		}
		if resp.StatusCode == http.StatusTooManyRequests {
			t.limited.Add(1)
		}
		if retries >= maxRetries || !body.replayable() {
			return resp, nil
		}

		var wait time.Duration
		switch code := resp.StatusCode; {
		case code == http.StatusUnauthorized:
			if refreshed || ctx.Err() != nil || refreshCannotHelp(resp) {
				return resp, nil
			}
			refreshed = true
			t.refreshes.Add(1)
			fresh, err := t.invalidate(ctx, cred)
			if err != nil {
				discard(resp)
				return nil, err
			}
			if !fresh {
				// No other credential to try: the refusal stands.
				return resp, nil
			}
			discard(resp)
			t.log.LogAttrs(ctx, slog.LevelDebug, "twitchauth helix retry", slog.String("reason", "401"), slog.String("path", r.URL.Path))
		case code == http.StatusTooManyRequests:
			wait = time.Second // the reset is unknown
			if rl, ok := ratelimit.Parse(resp.Header); ok {
				if until, ok := resetWait(rl.Reset, time.Now()); ok {
					// Reset is whole seconds: wait into the next one, with
					// a little jitter so that waiters don't wake together.
					wait = until + time.Duration(rand.Int64N(int64(50*time.Millisecond)))
				}
			}
			if d, ok := ctx.Deadline(); ok && time.Now().Add(wait).After(d) {
				return resp, nil
			}
			discard(resp)
			t.log.LogAttrs(ctx, slog.LevelDebug, "twitchauth helix retry", slog.String("reason", "429"),
				slog.String("path", r.URL.Path), slog.Duration("wait", wait))
		case code == http.StatusServiceUnavailable && !retried503:
			retried503 = true
			discard(resp)
			wait = t.jitter(0)
			t.log.LogAttrs(ctx, slog.LevelDebug, "twitchauth helix retry", slog.String("reason", "503"), slog.String("path", r.URL.Path))
		case code >= 500 && code != http.StatusServiceUnavailable && idempotent(req.Method) && n5xx < max5xxRetries:
			wait = t.jitter(n5xx)
			n5xx++
			discard(resp)
			t.log.LogAttrs(ctx, slog.LevelDebug, "twitchauth helix retry", slog.Int("status", code),
				slog.String("path", r.URL.Path), slog.Duration("wait", wait))
		default:
			return resp, nil
		}
		if wait > 0 {
			start := time.Now()
			err := waitOrChange(ctx, wait, nil, nil)
			t.countWait(time.Since(start))
			if err != nil {
				return nil, err
			}
		}
		retries++
		t.retries.Add(1)
		if err := body.rewind(); err != nil {
			return nil, err
		}
	}
}

func (t *Transport) countWait(d time.Duration) {
	if d > 0 {
		t.waits.Add(1)
		t.waitNanos.Add(int64(d))
	}
}

// jitter returns a random wait up to backoff·2ⁿ (full jitter).
func (t *Transport) jitter(n int) time.Duration {
	if t.backoff <= 0 {
		return 0
	}
	ceil := t.backoff << n
	return time.Duration(rand.Int64N(int64(ceil))) + 1
}

// setAuth replaces the Client-Id and Authorization headers, whatever their
// spelling.
func setAuth(h http.Header, clientID, authorization string) {
	for k := range h {
		if strings.EqualFold(k, "Authorization") || strings.EqualFold(k, "Client-Id") {
			delete(h, k)
		}
	}
	v := []string{clientID, authorization} // one allocation for both
	if clientID != "" {
		h["Client-Id"] = v[0:1:1]
	}
	h["Authorization"] = v[1:2:2]
}

// idempotent reports whether method may be retried after a 5xx.
func idempotent(method string) bool {
	switch method {
	case "", http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions:
		return true
	}
	return false
}

// discard drains a little of a response body and closes it, so that the
// connection can be reused.
func discard(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	_ = resp.Body.Close()
}

// refreshCannotHelp peeks at a 401's body, leaving it readable, for the
// Helix messages that a new token of the same kind cannot fix: a missing
// scope ("Missing scope: …"), an app token where a user token is needed
// ("Missing User OAUTH Token"), or a request without or with a mismatched
// Client-Id. Only other 401s (an invalid or expired token) are worth a
// renewal.
func refreshCannotHelp(resp *http.Response) bool {
	head, err := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
	if err != nil {
		return false
	}
	var e struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(head, &e)
	m := strings.ToLower(e.Message)
	for _, s := range []string{"missing scope", "missing user oauth token", "client id and oauth token do not match", "client id is missing", "missing client id"} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// replayBody hands out a request's body once per attempt.
type replayBody struct {
	orig    io.ReadCloser                 // the caller's body (closed by close)
	buf     []byte                        // the buffered body, when buffered
	get     func() (io.ReadCloser, error) // the caller's GetBody
	stream  io.ReadCloser                 // a body too large to buffer
	first   bool                          // the first attempt is not sent yet
	cur     io.ReadCloser                 // the body of the current attempt
	pending io.ReadCloser                 // from GetBody, not handed out yet
	noRetry bool
}

func newReplayBody(req *http.Request, limit int64) (*replayBody, error) {
	rb := &replayBody{first: true}
	if req.Body == nil || req.Body == http.NoBody {
		return rb, nil
	}
	rb.orig = req.Body
	if req.GetBody != nil {
		rb.get = req.GetBody
		return rb, nil
	}
	data, err := io.ReadAll(io.LimitReader(req.Body, limit+1))
	if err != nil {
		_ = req.Body.Close()
		return nil, fmt.Errorf("twitchauth: reading the request body: %w", err)
	}
	if int64(len(data)) > limit {
		// Too large to keep: stream it once, never retry.
		rb.stream = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(data), req.Body), req.Body}
		rb.noRetry = true
		return rb, nil
	}
	_ = req.Body.Close()
	rb.orig = nil
	if data == nil {
		data = []byte{}
	}
	rb.buf = data
	return rb, nil
}

func (rb *replayBody) replayable() bool { return !rb.noRetry }

// reader returns the body for the current attempt.
func (rb *replayBody) reader() io.ReadCloser {
	switch {
	case rb.stream != nil:
		rb.cur = rb.stream
	case rb.buf != nil:
		rb.cur = io.NopCloser(bytes.NewReader(rb.buf))
	case rb.get != nil && rb.first:
		rb.cur = rb.orig
	case rb.pending != nil:
		rb.cur, rb.pending = rb.pending, nil
	default:
		return nil
	}
	rb.first = false
	return rb.cur
}

// getBody returns a GetBody for the attempt's request, so that the base
// transport can itself replay it (HTTP/2 retries).
func (rb *replayBody) getBody() func() (io.ReadCloser, error) {
	switch {
	case rb.buf != nil:
		buf := rb.buf
		return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
	case rb.get != nil:
		return rb.get
	}
	return nil
}

// rewind prepares the body of the next attempt.
func (rb *replayBody) rewind() error {
	if rb.get != nil {
		b, err := rb.get()
		if err != nil {
			return fmt.Errorf("twitchauth: replaying the request body: %w", err)
		}
		rb.pending = b
	}
	return nil
}

// close closes the caller's body if nothing did.
func (rb *replayBody) close() {
	if rb.orig != nil && rb.first {
		_ = rb.orig.Close()
	}
	if rb.pending != nil {
		_ = rb.pending.Close()
	}
}
