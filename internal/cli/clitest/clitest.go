// Package clitest holds test helpers for the twitchauth commands: an
// isolated environment (HOME and XDG directories in a temporary directory), a
// free loopback port, a scripted "browser" that completes a login against the
// sandbox the way a real browser would (following redirects, posting the
// implicit flow's fragment back as the page's script does), and a
// thread-safe buffer for a command's output.
//
// It is for tests only. It must not be imported by a command package.
package clitest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
)

// Env returns a getenv function and the equivalent environment list (for
// exec.Cmd.Env) over fresh HOME, XDG_CONFIG_HOME and XDG_DATA_HOME
// directories, plus vars. Nothing of the test process's environment leaks in
// except PATH.
func Env(t testing.TB, vars map[string]string) (getenv func(string) string, environ []string, m map[string]string) {
	t.Helper()
	dir := t.TempDir()
	m = map[string]string{
		"HOME":            dir + "/home",
		"XDG_CONFIG_HOME": dir + "/config",
		"XDG_DATA_HOME":   dir + "/data",
	}
	for k, v := range vars {
		m[k] = v
	}
	for k, v := range m {
		environ = append(environ, k+"="+v)
	}
	return func(k string) string { return m[k] }, environ, m
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Page is what the scripted browser ended on.
type Page struct {
	// URL is the last URL visited (the local redirect server's), with the
	// fragment the redirect carried.
	URL *url.URL
	// Status and Body are of the last response (the page shown to the
	// user, or the JSON answer to the implicit page's post-back).
	Status int
	Body   string
}

// Visit acts as a browser opening authorizeURL: it follows redirects (the
// sandbox's WithAutoApprove redirects at once to the redirect URI), sending
// requests for "localhost" to 127.0.0.1, and when it lands on the implicit
// flow's page it posts the fragment (or, for denials, the query) back as the
// page's script does.
func Visit(ctx context.Context, authorizeURL string) (*Page, error) {
	c := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	u, err := url.Parse(authorizeURL)
	if err != nil {
		return nil, err
	}
	for range 10 {
		p, loc, err := get(ctx, c, u)
		if err != nil {
			return nil, err
		}
		if loc == nil {
			if strings.Contains(p.Body, "encodeURIComponent") && strings.Contains(p.Body, "fragment=") {
				return postBack(ctx, c, u)
			}
			return p, nil
		}
		u = loc
	}
	return nil, fmt.Errorf("too many redirects")
}

func get(ctx context.Context, c *http.Client, u *url.URL) (*Page, *url.URL, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, dialable(u).String(), nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	p := &Page{URL: u, Status: resp.StatusCode, Body: string(body)}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		loc, err := u.Parse(resp.Header.Get("Location"))
		if err != nil {
			return nil, nil, err
		}
		return p, loc, nil
	}
	return p, nil, nil
}

// postBack does what the implicit page's script does.
func postBack(ctx context.Context, c *http.Client, u *url.URL) (*Page, error) {
	data := u.Fragment
	if data == "" {
		data = u.RawQuery
	}
	target := *dialable(u)
	target.RawQuery, target.Fragment = "", ""
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(),
		strings.NewReader("fragment="+url.QueryEscape(data)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return &Page{URL: u, Status: resp.StatusCode, Body: string(body)}, nil
}

// dialable rewrites localhost to 127.0.0.1 (the local server binds there
// only) and drops the fragment, which browsers never send.
func dialable(u *url.URL) *url.URL {
	c := *u
	c.Fragment, c.RawFragment = "", ""
	if c.Hostname() == "localhost" {
		c.Host = net.JoinHostPort("127.0.0.1", c.Port())
	}
	return &c
}

// Buffer is a bytes.Buffer safe for a command writing while a test reads
// (cliutil.Buffer).
type Buffer = cliutil.Buffer
