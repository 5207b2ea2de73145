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
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is in our message already
		}
		return fmt.Errorf("twitchauth: Helix %s %s: %w", method, cleanPath(u), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxHelixBody+1))
	if err != nil {
		return fmt.Errorf("twitchauth: Helix %s %s: reading the answer: %w", method, cleanPath(u), err)
	}
	if len(data) > maxHelixBody {
		return fmt.Errorf("twitchauth: Helix %s %s: answer larger than %d MiB refused", method, cleanPath(u), maxHelixBody>>20)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return newHelixError(method, cleanPath(u), resp, data)
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

func newHelixError(method, path string, resp *http.Response, data []byte) *HelixError {
	e := &HelixError{Method: method, Path: path, Status: resp.StatusCode}
	var wire struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(data, &wire) == nil {
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
