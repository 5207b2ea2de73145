package twitchauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/twitchauth/twitchauth/internal/ratelimit"
	"io"
	"iter"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxHelixBody bounds the Helix response bodies the client reads.
const maxHelixBody = 16 << 20

// helixDefaultTimeout bounds a Helix call whose context has no deadline:
// long enough to wait out a 429 (a bucket refills within a minute).
const helixDefaultTimeout = 2 * time.Minute

// Helix is a small JSON client for the Twitch API on top of a Transport:
// requests are authorized, paced and retried as the Transport describes.
// Paths are relative to Config.APIBaseURL() ("/users" or "users").
//
// A call whose context has no deadline is bounded by two minutes, enough
// to wait out a 429. Helix is safe for concurrent use.
type Helix struct {
	t      *Transport
	client *http.Client
	base   string
}

// NewHelix returns a Helix client sending its requests through t (see
// NewTransport: t sets the credentials, paces and retries). Its counters
// are t.Stats().
func NewHelix(t *Transport) *Helix {
	return &Helix{
		t: t,
		client: &http.Client{
			Transport: t,
			// Helix does not redirect; a redirect would drop a POST body.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		base: t.cfg.APIBaseURL(),
	}
}

// Get calls GET path with query and decodes the JSON answer into out (when
// out is not nil).
func (h *Helix) Get(ctx context.Context, path string, query url.Values, out any) error {
	return h.Do(ctx, http.MethodGet, path, query, nil, out)
}

// Do calls Helix. body, when not nil, is sent as JSON: []byte and
// json.RawMessage as they are, anything else through json.Marshal. A 2xx
// answer is decoded into out when out is not nil and the answer has a body
// (*json.RawMessage and *[]byte receive it raw); a non-2xx answer is a
// *HelixError.
func (h *Helix) Do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	u, err := h.url(path, query)
	if err != nil {
		return err
	}
	var payload []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		payload = b
	case json.RawMessage:
		payload = b
	default:
		if payload, err = json.Marshal(body); err != nil {
			return fmt.Errorf("twitchauth: Helix %s %s: encoding the body: %w", method, cleanPath(u), err)
		}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, helixDefaultTimeout)
		defer cancel()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return fmt.Errorf("twitchauth: Helix %s %s: %w", method, cleanPath(u), err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, data, err := h.send(req)
	if err != nil {
		return err
	}
	if err := ParseHelixError(resp, data); err != nil {
		return err
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	switch o := out.(type) {
	case *json.RawMessage:
		*o = append((*o)[:0], data...)
		return nil
	case *[]byte:
		*o = append((*o)[:0], data...)
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("twitchauth: Helix %s %s: decoding the answer: %w", method, cleanPath(u), err)
	}
	return nil
}

// Send is the raw call, for tools that print or relay Helix's answers (such
// as `twitchauth api`). It sends req, whose URL is absolute (under
// Config.APIBaseURL()), through the client's Transport (authorized, paced
// and retried as the Transport describes; a redirect is not followed) and
// returns the answer whatever its status, with its body already read into
// memory: reading resp.Body cannot fail, closing it is optional. It sets
// Accept and User-Agent unless req has them, and Content-Type
// (application/json) when req has a body and none. A body over 16 MiB is
// refused. Errors name the method and the path, never the query.
// ParseHelixError turns a non-2xx answer into the *HelixError Do returns.
func (h *Helix) Send(req *http.Request) (*http.Response, error) {
	resp, data, err := h.send(req)
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	resp.ContentLength = int64(len(data))
	return resp, nil
}

// send is Send returning the body as bytes (resp.Body is closed).
func (h *Helix) send(req *http.Request) (*http.Response, []byte, error) {
	method, path := req.Method, cleanPath(req.URL)
	if req.Header == nil {
		req.Header = http.Header{}
	}
	setDefault := func(k, v string) {
		if req.Header.Get(k) == "" {
			req.Header.Set(k, v)
		}
	}
	setDefault("Accept", "application/json")
	setDefault("User-Agent", userAgent)
	if req.Body != nil && req.Body != http.NoBody {
		setDefault("Content-Type", "application/json")
	}
	resp, err := h.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL, with its query, is not repeated
		}
		return nil, nil, fmt.Errorf("twitchauth: Helix %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxHelixBody+1))
	if err != nil {
		return nil, nil, fmt.Errorf("twitchauth: Helix %s %s: reading the answer: %w", method, path, err)
	}
	if len(data) > maxHelixBody {
		return nil, nil, fmt.Errorf("twitchauth: Helix %s %s: answer larger than %d MiB refused", method, path, maxHelixBody>>20)
	}
	resp.Request = req
	return resp, data, nil
}

// ParseHelixError returns nil for a 2xx answer, else the *HelixError of
// resp, whose body is body: Helix's {"error","status","message"} fields
// (docs/protocol.md#helix-conventions), the message cut at 500 bytes, the status text as the
// reason when the body has none, and for a 429 the rate-limit reset. The
// method and path come from resp.Request.
func ParseHelixError(resp *http.Response, body []byte) error {
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return nil
	}
	e := &HelixError{Status: resp.StatusCode}
	if resp.Request != nil {
		e.Method = resp.Request.Method
		if resp.Request.URL != nil {
			e.Path = cleanPath(resp.Request.URL)
		}
	}
	var wire struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &wire) == nil {
		e.Reason, e.Message = wire.Error, wire.Message
	}
	if len(e.Message) > 500 {
		e.Message = e.Message[:500]
	}
	if e.Reason == "" {
		e.Reason = http.StatusText(resp.StatusCode)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		if rl, ok := ratelimit.Parse(resp.Header); ok {
			e.Reset = rl.Reset
		}
	}
	return e
}

// url joins the base URL, path and query. path may carry its own query,
// merged with query (query wins).
func (h *Helix) url(path string, query url.Values) (*url.URL, error) {
	if strings.Contains(path, "://") || strings.HasPrefix(path, "//") {
		return nil, fmt.Errorf("twitchauth: Helix path %q must be relative to %s", path, h.base)
	}
	rel, err := url.Parse(strings.TrimPrefix(path, "/"))
	if err != nil {
		return nil, fmt.Errorf("twitchauth: Helix path %q: %w", path, err)
	}
	u, err := url.Parse(h.base + "/" + rel.EscapedPath())
	if err != nil {
		return nil, fmt.Errorf("twitchauth: Helix base URL %q: %w", h.base, err)
	}
	q := rel.Query()
	for k, v := range query {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	return u, nil
}

// cleanPath is the URL path for messages (no host, no query).
func cleanPath(u *url.URL) string { return u.Path }

// helixPage is one page of a paginated Helix list.
type helixPage struct {
	Data       []json.RawMessage `json:"data"`
	Pagination struct {
		Cursor string `json:"cursor"`
	} `json:"pagination"`
}

// paginate iterates over the items ("data" elements) of a paginated Helix
// list (see Paginate).
func (h *Helix) paginate(ctx context.Context, path string, query url.Values) iter.Seq2[json.RawMessage, error] {
	return func(yield func(json.RawMessage, error) bool) {
		q := url.Values{}
		maps.Copy(q, query)
		q.Del("after")
		if a := query.Get("after"); a != "" {
			q.Set("after", a)
		}
		seen := map[string]bool{}
		for {
			var page helixPage
			if err := h.Get(ctx, path, q, &page); err != nil {
				yield(nil, err)
				return
			}
			for _, item := range page.Data {
				if !yield(item, nil) {
					return
				}
			}
			c := page.Pagination.Cursor
			if c == "" || len(page.Data) == 0 {
				return
			}
			if seen[c] {
				yield(nil, fmt.Errorf("twitchauth: Helix GET %s: the cursor repeats; stopping", path))
				return
			}
			seen[c] = true
			q.Set("after", c)
		}
	}
}

// Paginate iterates over the items ("data" elements) of a paginated Helix
// list (GET path with query), each decoded into a T (json.RawMessage keeps
// them raw), fetching the next page with the "after" cursor when the
// previous one is consumed. It stops after the last page, or at the first
// error, which it yields once. Set "first" in query to choose the page size.
func Paginate[T any](ctx context.Context, h *Helix, path string, query url.Values) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for raw, err := range h.paginate(ctx, path, query) {
			var v T
			if err == nil {
				if uerr := json.Unmarshal(raw, &v); uerr != nil {
					err = fmt.Errorf("twitchauth: Helix GET %s: decoding an item: %w", path, uerr)
				}
			}
			if !yield(v, err) || err != nil {
				return
			}
		}
	}
}
