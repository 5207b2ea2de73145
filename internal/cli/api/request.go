package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
)

// maxBody bounds a request body read from a file or stdin (Helix bodies are
// a few kilobytes) and a response body (as the library's Helix client does).
const maxBody = 16 << 20

// request is a checked Helix request, before it is tied to a base URL.
type request struct {
	method string
	// abs is the PATH given as an absolute URL ("https://api.twitch.tv/helix/users"),
	// checked against the base URL in url; nil otherwise.
	abs *url.URL
	// segments are the path's elements below the Helix base.
	segments []string
	query    url.Values
	// body is the JSON to send; nil sends none.
	body []byte
}

// request checks the path, query and body options and reads the body.
func (o *Options) request(in io.Reader) (*request, error) {
	r := &request{method: o.Method, query: url.Values{}}
	raw := strings.Join(o.Path, "/")
	rawQuery := ""
	if strings.Contains(raw, "://") || strings.HasPrefix(raw, "//") {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return nil, cliutil.Exitf(cliutil.ExitUsage, "PATH %q: give a path relative to the Helix base URL, such as \"users\"", raw)
		}
		r.abs = u
		raw, rawQuery = u.Path, u.RawQuery
	} else if i := strings.IndexByte(raw, '?'); i >= 0 {
		raw, rawQuery = raw[:i], raw[i+1:]
	}
	if i := strings.IndexByte(rawQuery, '#'); i >= 0 {
		rawQuery = rawQuery[:i]
	}
	if r.abs == nil {
		if i := strings.IndexByte(raw, '#'); i >= 0 {
			raw = raw[:i]
		}
		unescaped, err := url.PathUnescape(raw)
		if err != nil {
			return nil, cliutil.Exitf(cliutil.ExitUsage, "PATH %q: %v", raw, err)
		}
		raw = unescaped
	}
	for _, seg := range strings.Split(raw, "/") {
		switch seg {
		case "":
			continue
		case ".", "..":
			return nil, cliutil.Exitf(cliutil.ExitUsage, "PATH %q: \".\" and \"..\" are not allowed", strings.Join(o.Path, "/"))
		}
		r.segments = append(r.segments, seg)
	}
	if r.abs == nil && len(r.segments) > 0 && r.segments[0] == "helix" {
		// "/helix/users": the base URL already ends in /helix, and no
		// Helix endpoint is called helix.
		r.segments = r.segments[1:]
	}
	if len(r.segments) == 0 && r.abs == nil {
		return nil, cliutil.Exitf(cliutil.ExitUsage, "PATH %q names no endpoint: give one, such as \"users\"", strings.Join(o.Path, "/"))
	}
	if rawQuery != "" {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return nil, cliutil.Exitf(cliutil.ExitUsage, "the query string in PATH: %v", err)
		}
		r.query = q
	}
	for _, kv := range o.Query {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, cliutil.Exitf(cliutil.ExitUsage, "-q %q: write key=value", kv)
		}
		r.query.Add(k, v)
	}
	if o.Body != "" {
		body, err := readBody(o.Body, in)
		if err != nil {
			return nil, err
		}
		r.body = body
	}
	return r, nil
}

// url places the request under base, the Helix base URL. An absolute PATH
// must lie under it: the Transport only authorizes requests there.
func (r *request) url(base string) (*url.URL, error) {
	b, err := url.Parse(base)
	if err != nil {
		return nil, cliutil.Exitf(cliutil.ExitUsage, "the API URL %q: %v", base, err)
	}
	basePath := strings.TrimSuffix(b.Path, "/")
	segs := r.segments
	if r.abs != nil {
		p := strings.TrimSuffix(r.abs.Path, "/")
		if !strings.EqualFold(r.abs.Scheme, b.Scheme) || !strings.EqualFold(r.abs.Host, b.Host) ||
			(p != basePath && !strings.HasPrefix(p, basePath+"/")) {
			return nil, cliutil.Exitf(cliutil.ExitUsage, "PATH %s is not under the API base URL %s: give a path relative to it, such as \"users\"",
				(&url.URL{Scheme: r.abs.Scheme, Host: r.abs.Host, Path: r.abs.Path}).String(), base)
		}
		segs = strings.FieldsFunc(strings.TrimPrefix(p, basePath), func(c rune) bool { return c == '/' })
		if len(segs) == 0 {
			return nil, cliutil.Exitf(cliutil.ExitUsage, "PATH names no endpoint: give one, such as \"users\"")
		}
	}
	u := &url.URL{Scheme: b.Scheme, Host: b.Host, Path: basePath + "/" + strings.Join(segs, "/")}
	u.RawQuery = r.query.Encode()
	return u, nil
}

// readBody reads the -b value: JSON, @FILE, or - / @- for in. The body must
// be one JSON value; a malformed one is a usage error that quotes only its
// position, never its content.
func readBody(spec string, in io.Reader) ([]byte, error) {
	var body []byte
	var from string
	switch {
	case spec == "-" || spec == "@-":
		from = "stdin"
		if in == nil {
			in = strings.NewReader("")
		}
		b, err := io.ReadAll(io.LimitReader(in, maxBody+1))
		if err != nil {
			return nil, cliutil.Exitf(cliutil.ExitInternal, "reading the body from stdin: %v", err)
		}
		body = b
	case strings.HasPrefix(spec, "@"):
		name := spec[1:]
		from = name
		f, err := os.Open(name)
		if err != nil {
			return nil, cliutil.Exitf(cliutil.ExitUsage, "--body %s: %v", spec, unwrapPath(err))
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxBody+1))
		if err != nil {
			return nil, cliutil.Exitf(cliutil.ExitUsage, "--body %s: %v", spec, unwrapPath(err))
		}
		body = b
	default:
		from = "--body"
		body = []byte(spec)
	}
	if len(body) > maxBody {
		return nil, cliutil.Exitf(cliutil.ExitUsage, "the body from %s is larger than %d MiB", from, maxBody>>20)
	}
	if err := checkJSON(body); err != nil {
		return nil, cliutil.Exitf(cliutil.ExitUsage, "the body from %s is not valid JSON: %v", from, err)
	}
	return bytes.TrimSpace(body), nil
}

// checkJSON reports why data is not exactly one JSON value.
func checkJSON(data []byte) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errors.New("it is empty")
	}
	if json.Valid(data) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var v json.RawMessage
	err := dec.Decode(&v)
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("%s (at byte %d)", se.Error(), se.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("it ends too soon")
	case err != nil:
		return err
	}
	return fmt.Errorf("more than one JSON value (the first ends at byte %d)", dec.InputOffset())
}

// unwrapPath drops the *os.PathError wrapper, whose message repeats the
// name the caller already quotes.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
