package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/twitchauth/twitchauth/internal/ratelimit"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
)

// userAgent identifies the command to Twitch.
const userAgent = "twitchauth-cli"

// caller sends the run's requests through one Helix client: its Send has
// Helix's body limit and headers, ParseHelixError its error parsing.
type caller struct {
	e     *env
	sess  *session
	tr    *twitchauth.Transport // counters for --verbose
	helix *twitchauth.Helix
	base  string
}

func newCaller(e *env, sess *session) *caller {
	tc := twitchauth.TransportConfig{Config: sess.cfg, Source: sess.src, NoScopeCheck: e.o.NoScopeCheck}
	if hc := e.f.HTTPClient; hc != nil && hc.Transport != nil {
		tc.Base = hc.Transport
	}
	tr := twitchauth.NewTransport(tc)
	return &caller{e: e, sess: sess, tr: tr, helix: twitchauth.NewHelix(tr), base: sess.cfg.APIBaseURL()}
}

// answer is one Helix response, read in full.
type answer struct {
	method string
	url    *url.URL
	resp   *http.Response
	status int
	header http.Header
	body   []byte
}

func (a *answer) ok() bool { return a.status >= 200 && a.status <= 299 }

// send makes one request. The error is a transport failure (network,
// token, rate-limit deadline, an answer over Helix.Send's limit); a non-2xx
// answer is not an error here.
func (c *caller) send(method string, u *url.URL, body []byte) (*answer, error) {
	ctx, cancel := context.WithTimeout(c.e.ctx, c.e.o.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, cliutil.Exitf(cliutil.ExitUsage, "building the request: %v", err)
	}
	req.Header.Set("User-Agent", userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.e.o.Verbose {
		c.e.note("> %s %s (%s)", method, u, c.sess.who)
	}
	before := c.tr.Stats()
	resp, err := c.helix.Send(req)
	if err != nil {
		return nil, c.sendErr(err)
	}
	data, _ := io.ReadAll(resp.Body) // in memory: cannot fail
	a := &answer{method: method, url: u, resp: resp, status: resp.StatusCode, header: resp.Header, body: data}
	if c.e.o.Verbose {
		c.describe(a, before, c.tr.Stats())
	}
	return a, nil
}

// describe prints the status, the rate-limit headers and what the Transport
// did (refresh, retries, waits) on stderr.
func (c *caller) describe(a *answer, before, after twitchauth.TransportStats) {
	c.e.note("< HTTP %d %s", a.status, http.StatusText(a.status))
	if rl, ok := ratelimit.Parse(a.header); ok {
		c.e.note("< Ratelimit-Limit: %d, Ratelimit-Remaining: %d, Ratelimit-Reset: %d (%s)",
			rl.Limit, rl.Remaining, rl.Reset.Unix(), rl.Reset.UTC().Format(time.RFC3339))
	}
	if n := after.Refreshes - before.Refreshes; n > 0 {
		c.e.note("< the token was refused (401): it was refreshed and the request sent again")
	}
	if n := after.Retries - before.Retries - (after.Refreshes - before.Refreshes); n > 0 {
		c.e.note("< sent again %d time(s) after 429 or 5xx answers", n)
	}
	if w := after.WaitTime - before.WaitTime; w > 0 {
		c.e.note("< waited %v for the rate limit or a back-off", w.Round(time.Millisecond))
	}
}

// sendErr maps a failed request (Helix.Send's error names the method and
// path): a token that could not be had (refused secret, dead grant) is a
// refusal, the rate-limit wait past --timeout too; the rest is the network.
func (c *caller) sendErr(err error) error {
	switch {
	case errors.Is(err, twitchauth.ErrRateLimited):
		return cliutil.Exit(cliutil.ExitRefused, fmt.Errorf("%w (the bucket refills after --timeout %v)", err, c.e.o.Timeout))
	case errors.Is(err, context.DeadlineExceeded) && c.e.ctx.Err() == nil:
		return cliutil.Exit(cliutil.ExitNetwork, fmt.Errorf("%w: no answer within --timeout %v", err, c.e.o.Timeout))
	}
	return tokenErr(err)
}

// refusal is the error of a non-2xx answer: the *twitchauth.HelixError
// twitchauth.ParseHelixError makes of it (as Helix.Do returns it), exit 1
// for a 4xx and 3 otherwise.
func refusal(a *answer) error {
	err := twitchauth.ParseHelixError(a.resp, a.body)
	if a.status >= 400 && a.status <= 499 {
		return cliutil.Exit(cliutil.ExitRefused, err)
	}
	return cliutil.Exit(cliutil.ExitNetwork, err)
}

// single makes the request and prints its answer.
func (c *caller) single(r *request) error {
	u, err := r.url(c.base)
	if err != nil {
		return err
	}
	a, err := c.send(r.method, u, r.body)
	if err != nil {
		return err
	}
	return c.finish(a)
}

// finish prints a's body and returns the error its status calls for.
func (c *caller) finish(a *answer) error {
	body := bytes.TrimSpace(a.body)
	switch {
	case len(body) == 0:
		if a.ok() && !c.e.o.Verbose {
			c.e.note("HTTP %d %s (no body)", a.status, http.StatusText(a.status))
		}
	case json.Valid(body):
		if err := c.print(body); err != nil {
			return err
		}
	case a.ok():
		// Helix always answers JSON: print what came, and say so.
		if _, err := c.e.out.Write(append(body, '\n')); err != nil {
			return cliutil.Exit(cliutil.ExitInternal, err)
		}
		return cliutil.Exitf(cliutil.ExitNetwork, "Helix %s %s: HTTP %d, but the answer is not JSON (Content-Type %q)",
			a.method, a.url.Path, a.status, a.header.Get("Content-Type"))
	}
	if !a.ok() {
		return refusal(a)
	}
	return nil
}

// print writes one JSON value on stdout, indented unless --json.
func (c *caller) print(doc []byte) error {
	var buf bytes.Buffer
	var err error
	if c.e.o.JSON {
		err = json.Compact(&buf, doc)
	} else {
		err = json.Indent(&buf, doc, "", "  ")
	}
	if err != nil {
		return cliutil.Exit(cliutil.ExitInternal, err)
	}
	buf.WriteByte('\n')
	if _, err := c.e.out.Write(buf.Bytes()); err != nil {
		return cliutil.Exit(cliutil.ExitInternal, err)
	}
	return nil
}

// paginate follows the "after" cursors of a GET list, for at most
// Options.Pages pages (0: all), and prints the first page's object with the
// "data" arrays of every page merged and the last page's "pagination" (its
// cursor, when pages remain).
func (c *caller) paginate(r *request) error {
	u, err := r.url(c.base)
	if err != nil {
		return err
	}
	q := u.Query()
	var (
		head     map[string]json.RawMessage
		items    = []json.RawMessage{}
		lastPage json.RawMessage
		seen     = map[string]bool{}
		pages    int
		more     string
	)
	for {
		a, err := c.send(r.method, u, nil)
		if err != nil {
			return err
		}
		pages++
		if !a.ok() {
			if pages > 1 {
				c.e.note("page %d was refused; the %d item(s) of the pages before are not printed", pages, len(items))
			}
			return c.finish(a)
		}
		var obj map[string]json.RawMessage
		var data []json.RawMessage
		if json.Unmarshal(a.body, &obj) != nil || json.Unmarshal(obj["data"], &data) != nil {
			if pages == 1 {
				// Not a list: print it as a single call would.
				c.e.note("--autopaginate: the answer has no \"data\" array to merge; printed as is")
				return c.finish(a)
			}
			return cliutil.Exitf(cliutil.ExitNetwork, "Helix GET %s: page %d has no \"data\" array; stopping", u.Path, pages)
		}
		if head == nil {
			head = obj
		}
		items = append(items, data...)
		lastPage = obj["pagination"]
		cursor := pageCursor(lastPage)
		if cursor == "" || len(data) == 0 {
			break
		}
		if seen[cursor] {
			c.e.note("warning: Helix repeated a pagination cursor after %d pages; stopping there", pages)
			break
		}
		seen[cursor] = true
		if c.e.o.Pages > 0 && pages >= c.e.o.Pages {
			more = cursor
			break
		}
		q.Set("after", cursor)
		u.RawQuery = q.Encode()
	}
	merged, err := json.Marshal(items)
	if err != nil {
		return cliutil.Exit(cliutil.ExitInternal, err)
	}
	head["data"] = merged
	if lastPage != nil {
		head["pagination"] = lastPage
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(head); err != nil {
		return cliutil.Exit(cliutil.ExitInternal, err)
	}
	if c.e.o.Verbose || more != "" {
		c.e.note("%d page(s), %d item(s)", pages, len(items))
	}
	if more != "" {
		c.e.note("more pages remain: raise --autopaginate=N, or continue with -q after=%s", more)
	}
	return c.print(bytes.TrimSpace(buf.Bytes()))
}

// pageCursor reads a "pagination" value: {"cursor":"…"} on most endpoints,
// a bare string on a few (Get Extension Live Channels).
func pageCursor(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var obj struct {
		Cursor string `json:"cursor"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		return obj.Cursor
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return ""
}
