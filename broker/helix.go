package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/provider"
)

// SubjectHeader names the Helix proxy's subject: "app", "user:<user ID>",
// "user:login:<login>" or "intent:<name>" (a bare "user:<login>" that is
// not all digits is read as a login too; all digits is always an ID). The
// query parameter SubjectParam is accepted too; both are removed before
// the request is forwarded. Without either, the app token is used.
const (
	SubjectHeader = "Twitch-Subject"
	SubjectParam  = "twitch_subject"
)

// DefaultHelixTimeout is the deadline of one request through the Helix
// proxy when Config.HelixTimeout is not set: room for a rate-limit wait
// (at most twitchauth.MaxBucketRefill) and a few retries, short enough that
// a subject in trouble answers its callers instead of holding them.
const DefaultHelixTimeout = 30 * time.Second

// maxHelixBody bounds a proxied request body; the body is buffered so that
// the transport can replay it after a 401 or a 503 (Helix request bodies are
// small JSON documents).
const maxHelixBody = 1 << 20

// helixProxy forwards /helix/* to Twitch's Helix API through a
// twitchauth.Transport per subject (Client-Id, the subject's bearer token,
// 401 → refresh → retry, rate-limit pacing shared by all subjects).
type helixProxy struct {
	b          *Broker
	rp         *httputil.ReverseProxy
	base       http.RoundTripper
	pacer      *twitchauth.Pacer
	mu         sync.Mutex
	transports map[string]*twitchauth.Transport
}

// helixRoute is what the proxy handler hands to the reverse proxy's
// transport through the request context.
type helixRoute struct {
	t     *twitchauth.Transport
	label string
}

type routeCtxKey struct{}

func newHelixProxy(b *Broker) (*helixProxy, error) {
	target, err := url.Parse(b.twitch.APIBaseURL())
	if err != nil {
		return nil, err
	}
	base := b.cfg.HelixTransport
	if base == nil {
		base = helixBaseTransport()
	}
	p := &helixProxy{b: b, base: base, pacer: &twitchauth.Pacer{}, transports: map[string]*twitchauth.Transport{}}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			out := pr.Out
			out.URL.Scheme = target.Scheme
			out.URL.Host = target.Host
			out.URL.Path = strings.TrimRight(target.Path, "/") + strings.TrimPrefix(pr.In.URL.Path, "/helix")
			out.URL.RawPath = ""
			if strings.Contains(out.URL.RawQuery, SubjectParam) {
				q := out.URL.Query()
				q.Del(SubjectParam)
				out.URL.RawQuery = q.Encode()
			}
			out.Host = ""
			// The caller's API key and cookies stay here; the transport
			// sets Client-Id and Authorization.
			for _, h := range []string{"Authorization", "Cookie", SubjectHeader, "Client-Id"} {
				out.Header.Del(h)
			}
		},
		Transport: roundTripperFunc(func(r *http.Request) (*http.Response, error) {
			route, ok := r.Context().Value(routeCtxKey{}).(helixRoute)
			if !ok {
				return nil, errors.New("broker: Helix request without a subject")
			}
			return route.t.RoundTrip(r)
		}),
		BufferPool: bufferPool{},
		ModifyResponse: func(resp *http.Response) error {
			if resp.StatusCode >= 300 && resp.StatusCode < 400 && resp.StatusCode != http.StatusNotModified {
				return fmt.Errorf("%w (HTTP %d)", errUpstreamRedirect, resp.StatusCode)
			}
			resp.Header.Del("Set-Cookie")
			b.metrics.helixStatus(resp.StatusCode)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			label := "the subject"
			if route, ok := r.Context().Value(routeCtxKey{}).(helixRoute); ok {
				label = route.label
			}
			switch {
			case errors.Is(err, provider.ErrUnknownSubject), errors.Is(err, provider.ErrGrantRevoked),
				errors.Is(err, provider.ErrGrantDead), isConfigError(err),
				errors.Is(err, twitchauth.ErrMissingScopes): // refused before sending (403 missing_scopes)
				b.providerError(w, r, label, err)
				return
			case errors.Is(err, errUpstreamRedirect):
				b.metrics.helixStatus(http.StatusBadGateway)
				b.log.Warn("helix proxy: upstream answered a redirect; not relayed", "path", r.URL.Path, "subject", label, "err", err)
				writeError(w, http.StatusBadGateway, "upstream_redirect", "Helix answered with a redirect, which the proxy does not follow or relay")
				return
			case errors.Is(err, twitchauth.ErrRateLimited):
				b.metrics.helixStatus(http.StatusTooManyRequests)
				writeError(w, http.StatusTooManyRequests, "rate_limited", "the Helix rate limit of "+label+" is spent until after this request's deadline")
				return
			case errors.Is(err, context.DeadlineExceeded):
				b.metrics.helixStatus(http.StatusGatewayTimeout)
				b.log.Warn("helix proxy: no answer within the deadline", "path", r.URL.Path, "subject", label, "timeout", b.cfg.HelixTimeout)
				writeError(w, http.StatusGatewayTimeout, "upstream_timeout",
					fmt.Sprintf("Helix did not answer for %s within %s (the broker's helix_timeout)", label, b.cfg.HelixTimeout))
				return
			}
			b.metrics.helixStatus(0)
			if r.Context().Err() == nil {
				b.log.Warn("helix proxy: upstream failed", "path", r.URL.Path, "subject", label, "err", err)
			}
			writeError(w, http.StatusBadGateway, "upstream_error", "Helix could not be reached")
		},
	}
	return p, nil
}

// helixBaseTransport is the default upstream transport of the Helix proxy:
// http.DefaultTransport's settings, with enough idle connections per host
// for a busy broker (the default 2 would open and close a connection for
// most requests under load).
func helixBaseTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return t
}

// bufferPool recycles the reverse proxy's 32 KiB copy buffers, which it
// would otherwise allocate for every response.
type bufferPool struct{}

var copyBuffers = sync.Pool{New: func() any { return new([32 << 10]byte) }}

func (bufferPool) Get() []byte  { return copyBuffers.Get().(*[32 << 10]byte)[:] }
func (bufferPool) Put(b []byte) { copyBuffers.Put((*[32 << 10]byte)(b[:32<<10])) }

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// transport returns the cached Transport of a subject key.
func (p *helixProxy) transport(key string, src func() *provider.TokenSource) *twitchauth.Transport {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.transports[key]
	if !ok {
		t = twitchauth.NewTransport(twitchauth.TransportConfig{Config: p.b.twitch, Source: src(), Base: p.base, Pacer: p.pacer})
		p.transports[key] = t
	}
	return t
}

// stats sums the counters of every subject's Transport.
func (p *helixProxy) stats() twitchauth.TransportStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	var s twitchauth.TransportStats
	for _, t := range p.transports {
		x := t.Stats()
		s.Requests += x.Requests
		s.Waits += x.Waits
		s.WaitTime += x.WaitTime
		s.Retries += x.Retries
		s.RateLimited += x.RateLimited
		s.Refreshes += x.Refreshes
	}
	return s
}

func (p *helixProxy) serve(w http.ResponseWriter, r *http.Request, key *APIKey) {
	if !cleanHelixPath(r.URL) {
		writeError(w, http.StatusBadRequest, "bad_path", "the Helix path must be a clean path under /helix/: no '.' or '..' segments, empty segments, encoded slashes or backslashes")
		return
	}
	name := r.Header.Get(SubjectHeader)
	if name == "" {
		name = r.URL.Query().Get(SubjectParam)
	}
	subj, err := parseHelixSubject(name)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_subject", err.Error())
		return
	}
	if !p.b.checkSubject(w, r, key, subj) {
		return
	}
	if path := strings.TrimPrefix(r.URL.Path, "/helix"); !helixAllowed(key, r.Method, path) {
		writeError(w, http.StatusForbidden, "helix_forbidden", fmt.Sprintf("API key %q may not call %s /helix%s (its Helix rules: %s)",
			key.Name, r.Method, path, strings.Join(key.Helix, "; ")))
		return
	}
	t, label, userID := p.route(subj)
	if t == nil {
		writeError(w, http.StatusNotFound, "not_found", label)
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxHelixBody+1))
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", "the request body could not be read")
			return
		}
		if len(body) > maxHelixBody {
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", "request bodies are limited to 1 MiB")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		r.ContentLength = int64(len(body))
	}
	// A deadline for the whole request: rate-limit waits, 429 resets and
	// retries all end within it (a caller without a timeout is never held
	// longer).
	ctx, cancel := context.WithTimeout(r.Context(), p.b.cfg.HelixTimeout)
	defer cancel()
	ctx = context.WithValue(ctx, routeCtxKey{}, helixRoute{t: t, label: label})
	p.rp.ServeHTTP(w, r.WithContext(ctx))
	if sw, ok := w.(*statusWriter); !ok || sw.errCode == "" {
		noteUse(r, "helix", userID) // Helix answered: the token was used
	} else {
		auditOf(r).userID = userID
	}
}

// cleanHelixPath reports whether u's path may be sent upstream: under
// /helix/, with no dot segment, no empty segment, no backslash and no
// encoded slash or backslash (which would become path separators, or dot
// segments, on the way). Only such paths leave the broker with a subject's
// token.
func cleanHelixPath(u *url.URL) bool {
	raw := strings.ToLower(u.EscapedPath())
	if strings.Contains(raw, "%2f") || strings.Contains(raw, "%5c") || strings.ContainsRune(u.Path, '\\') {
		return false
	}
	rest, ok := strings.CutPrefix(u.Path, "/helix/")
	if !ok || rest == "" {
		return false
	}
	for seg := range strings.SplitSeq(rest, "/") { // no allocation (issue 21)
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// parseHelixSubject reads the proxy's subject (SubjectHeader); empty is
// the app.
func parseHelixSubject(name string) (subjectRef, error) {
	text := strings.TrimSpace(name)
	if sub, err := provider.ParseSubject(text); err == nil {
		// The library's textual form; logins below are the broker's own.
		switch {
		case sub.IsApp():
			return appSubject(), nil
		case sub.UserID() != "":
			return userIDSubject(sub.UserID()), nil
		default:
			return intentSubject(sub.IntentName()), nil
		}
	}
	switch kind, rest, _ := strings.Cut(text, ":"); kind {
	case "", kindApp:
		if rest == "" {
			return appSubject(), nil
		}
	case kindUser:
		if ref, ok := parseUserRef(rest); ok {
			return userSubject(ref), nil
		}
	case kindIntent:
		if intentRE().MatchString(rest) {
			return intentSubject(rest), nil
		}
	}
	return subjectRef{}, errHelixSubject
}

// route resolves a subject to its Transport, its label for messages and
// its user ID ("" for the app); a nil Transport means the subject is not
// held, and the label then says so.
func (p *helixProxy) route(s subjectRef) (*twitchauth.Transport, string, string) {
	prov := p.b.provider
	switch s.kind {
	case kindUser:
		id, found, hint := p.b.resolveUser(s.user)
		if !found {
			return nil, hint, ""
		}
		return p.transport("user:"+id, func() *provider.TokenSource { return prov.TokenSource(provider.User(id)) }), "user " + s.user.String(), id
	case kindIntent:
		id, ok := prov.Intents()[s.intent]
		if !ok {
			return nil, noIntentUser(s.intent), ""
		}
		name := s.intent
		return p.transport("intent:"+name, func() *provider.TokenSource { return prov.TokenSource(provider.Intent(name)) }), "intent " + name, id
	}
	return p.transport("app", func() *provider.TokenSource { return prov.TokenSource(provider.App()) }), "the app", ""
}

// helixCollector exports the transports' counters at scrape time.
type helixCollector struct {
	p                                                    *helixProxy
	upstream, waits, waitSeconds, retries, limited, refr *prometheus.Desc
}

func newHelixCollector(p *helixProxy) *helixCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &helixCollector{
		p:           p,
		upstream:    d("twitchauth_helix_upstream_requests_total", "Requests the Helix proxy sent to Twitch, retries included."),
		waits:       d("twitchauth_helix_ratelimit_waits_total", "Times a Helix request waited before being sent: for its rate-limit bucket, a 429's reset, or a 5xx back-off."),
		waitSeconds: d("twitchauth_helix_ratelimit_wait_seconds_total", "Total time Helix requests spent in those waits."),
		retries:     d("twitchauth_helix_retries_total", "Helix requests sent again (after 401, 429 or 5xx)."),
		limited:     d("twitchauth_helix_rate_limited_total", "429 responses received from Helix."),
		refr:        d("twitchauth_helix_token_invalidations_total", "401 responses from Helix that made the broker renew the token."),
	}
}

func (c *helixCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.upstream, c.waits, c.waitSeconds, c.retries, c.limited, c.refr} {
		ch <- d
	}
}

func (c *helixCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.p.stats()
	ch <- prometheus.MustNewConstMetric(c.upstream, prometheus.CounterValue, float64(s.Requests))
	ch <- prometheus.MustNewConstMetric(c.waits, prometheus.CounterValue, float64(s.Waits))
	ch <- prometheus.MustNewConstMetric(c.waitSeconds, prometheus.CounterValue, s.WaitTime.Seconds())
	ch <- prometheus.MustNewConstMetric(c.retries, prometheus.CounterValue, float64(s.Retries))
	ch <- prometheus.MustNewConstMetric(c.limited, prometheus.CounterValue, float64(s.RateLimited))
	ch <- prometheus.MustNewConstMetric(c.refr, prometheus.CounterValue, float64(s.Refreshes))
}
