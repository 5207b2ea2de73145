package broker

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/twitchauth/twitchauth"
)

// SubjectHeader names the Helix proxy's subject: "app", "user:<id or
// login>" or "intent:<name>". The query parameter SubjectParam is accepted
// too; both are removed before the request is forwarded. Without either,
// the app token is used.
const (
	SubjectHeader = "Twitch-Subject"
	SubjectParam  = "twitch_subject"
)

// maxHelixBody bounds a proxied request body: the proxy buffers it to replay
// it once after a 401 (Helix request bodies are small JSON documents).
const maxHelixBody = 1 << 20

// helixProxy forwards /helix/* to Twitch's Helix API with the chosen
// subject's token.
type helixProxy struct {
	b      *Broker
	target *url.URL
	rp     *httputil.ReverseProxy
}

type subjectCtxKey struct{}

func newHelixProxy(b *Broker) (*helixProxy, error) {
	target, err := url.Parse(b.twitch.APIBaseURL())
	if err != nil {
		return nil, err
	}
	base := b.cfg.HelixTransport
	if base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		base = t
	}
	p := &helixProxy{b: b, target: target}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			out := pr.Out
			out.URL.Scheme = target.Scheme
			out.URL.Host = target.Host
			out.URL.Path = strings.TrimRight(target.Path, "/") + strings.TrimPrefix(pr.In.URL.Path, "/helix")
			out.URL.RawPath = ""
			q := out.URL.Query()
			if q.Has(SubjectParam) {
				q.Del(SubjectParam)
				out.URL.RawQuery = q.Encode()
			}
			out.Host = ""
			for _, h := range []string{"Authorization", "Cookie", SubjectHeader, "Client-Id"} {
				out.Header.Del(h)
			}
		},
		Transport: &tokenTransport{base: base, b: b},
		ModifyResponse: func(resp *http.Response) error {
			resp.Header.Del("Set-Cookie")
			b.metrics.helixStatus(resp.StatusCode)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			var se *subjectError
			if errors.As(err, &se) {
				b.providerError(w, r, se.subject, se.err)
				return
			}
			b.metrics.helixStatus(0)
			if r.Context().Err() == nil {
				b.log.Warn("helix proxy: upstream failed", "path", r.URL.Path, "err", err)
			}
			writeError(w, http.StatusBadGateway, "upstream_error", "Helix could not be reached")
		},
	}
	return p, nil
}

// subjectError is a failure to get the subject's token, answered like the
// token API answers it.
type subjectError struct {
	subject string
	err     error
}

func (e *subjectError) Error() string { return e.err.Error() }
func (e *subjectError) Unwrap() error { return e.err }

func (p *helixProxy) serve(w http.ResponseWriter, r *http.Request, _ *APIKey) {
	subj := r.Header.Get(SubjectHeader)
	if subj == "" {
		subj = r.URL.Query().Get(SubjectParam)
	}
	ts, label, err := p.tokenSource(subj)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_subject", err.Error())
		return
	}
	if ts == nil {
		writeError(w, http.StatusNotFound, "not_found", "no grant is held for "+label)
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
	ctx := context.WithValue(r.Context(), subjectCtxKey{}, subjectRef{ts: ts, label: label})
	p.rp.ServeHTTP(w, r.WithContext(ctx))
}

// tokenSource resolves a subject name; a nil source with a nil error means
// the subject is well-formed but not held.
func (p *helixProxy) tokenSource(subj string) (*twitchauth.TokenSource, string, error) {
	prov := p.b.provider
	switch kind, name, _ := strings.Cut(strings.TrimSpace(subj), ":"); kind {
	case "", "app":
		if name != "" {
			break
		}
		return prov.AppTokenSource(), "the app", nil
	case "user":
		if !userIDRE.MatchString(name) && !loginRE.MatchString(name) {
			break
		}
		id, ok := p.b.resolveUser(name)
		if !ok {
			return nil, "user " + name, nil
		}
		return prov.UserTokenSource(id), "user " + name, nil
	case "intent":
		if !intentRE.MatchString(name) {
			break
		}
		if _, ok := prov.Intents()[name]; !ok {
			return nil, "intent " + name, nil
		}
		return prov.IntentTokenSource(name), "intent " + name, nil
	}
	return nil, "", errors.New(SubjectHeader + " must be app, user:<id or login> or intent:<name>")
}

type subjectRef struct {
	ts    *twitchauth.TokenSource
	label string
}

// tokenTransport adds Client-Id and the subject's bearer token to each
// request, and after a 401 renews the token once (Provider.Invalidate) and
// replays the request.
type tokenTransport struct {
	base http.RoundTripper
	b    *Broker
}

func (t *tokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ref, ok := req.Context().Value(subjectCtxKey{}).(subjectRef)
	if !ok {
		return nil, errors.New("broker: helix request without a subject")
	}
	tok, err := ref.ts.TokenContext(req.Context())
	if err != nil {
		return nil, &subjectError{subject: ref.label, err: err}
	}
	resp, err := t.send(req, tok.AccessToken, ref.ts.ClientID())
	if err != nil || resp.StatusCode != http.StatusUnauthorized || (req.Body != nil && req.GetBody == nil) {
		return resp, err
	}
	// Twitch refused the token (expired early, revoked, password change):
	// renew it once and replay.
	tok2, err := ref.ts.Invalidate(req.Context(), tok.AccessToken)
	if err != nil || tok2.AccessToken == tok.AccessToken {
		return resp, nil
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	r2 := req.Clone(req.Context())
	if req.GetBody != nil {
		if r2.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	return t.send(r2, tok2.AccessToken, ref.ts.ClientID())
}

func (t *tokenTransport) send(req *http.Request, access, clientID string) (*http.Response, error) {
	// A RoundTripper must not modify its request: set the headers on a copy.
	r := *req
	r.Header = req.Header.Clone()
	r.Header.Set("Client-Id", clientID)
	r.Header.Set("Authorization", "Bearer "+access)
	return t.base.RoundTrip(&r)
}
