package twitchauth

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxBodySize bounds every response body the client reads.
const maxBodySize = 1 << 20

// formContentType is sent with every form body, exactly: twitch-cli's mock
// server ignores the body when a charset parameter follows it (docs/protocol.md#twitch-cli-compatibility).
const formContentType = "application/x-www-form-urlencoded"

// userAgent identifies the library to Twitch.
const userAgent = "twitchauth-go"

// request describes one call to an identity endpoint. Secrets travel only in
// form (a POST body) or header, never in the URL.
type request struct {
	endpoint string // "token", "validate", …: names the endpoint in errors and logs
	op       string // a finer label for logs, such as "token:refresh_token"
	method   string
	url      string
	form     url.Values
	header   http.Header
}

// do sends r and decodes a 2xx JSON body into out (when out is not nil).
// A non-2xx answer becomes an *APIError.
func (c *Config) do(ctx context.Context, r request, out any) error {
	var body io.Reader
	if r.form != nil {
		body = strings.NewReader(r.form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, body)
	if err != nil {
		return fmt.Errorf("twitchauth: %s: building request: %w", r.endpoint, err)
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	if r.form != nil {
		req.Header.Set("Content-Type", formContentType)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)

	op := r.op
	if op == "" {
		op = r.endpoint
	}
	log := c.logger()
	start := time.Now()
	resp, err := c.httpClient().Do(req)
	if err != nil {
		log.LogAttrs(ctx, slog.LevelDebug, "twitchauth request failed",
			slog.String("op", op), slog.Duration("duration", time.Since(start)), slog.String("error", err.Error()))
		return fmt.Errorf("twitchauth: %s request failed: %w", r.endpoint, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBodySize+1))
	if err != nil {
		return fmt.Errorf("twitchauth: %s: reading response: %w", r.endpoint, err)
	}
	log.LogAttrs(ctx, slog.LevelDebug, "twitchauth request",
		slog.String("op", op), slog.String("method", r.method), slog.Int("status", resp.StatusCode),
		slog.Duration("duration", time.Since(start)))
	if len(data) > maxBodySize {
		return fmt.Errorf("twitchauth: %s (HTTP %d): %w", r.endpoint, resp.StatusCode, ErrResponseTooLarge)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return parseAPIError(r.endpoint, resp.StatusCode, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		// Invalid JSON and JSON of the wrong shape (a string where a
		// number belongs) alike: the answer is malformed.
		return fmt.Errorf("%w: %s (HTTP %d): %w", ErrMalformedResponse, r.endpoint, resp.StatusCode, err)
	}
	return nil
}

// maxExpiresIn caps an expires_in value (seconds) at 2³¹−1, about 68 years,
// as golang.org/x/oauth2 does: far beyond any Twitch token's lifetime, and
// far from overflowing a time.Duration (which MaxInt64 seconds would, to an
// expiry in the past).
const maxExpiresIn = 1<<31 - 1

// lifetime converts an expires_in value (seconds) to a duration, clamped to
// [0, maxExpiresIn] seconds. known is false for 0, which Twitch sends (or
// omits) for a token of unknown or no expiry; a negative value is a token
// that has already expired (known, zero lifetime).
func lifetime(seconds int64) (d time.Duration, known bool) {
	switch {
	case seconds == 0:
		return 0, false
	case seconds < 0:
		return 0, true
	}
	return time.Duration(min(seconds, maxExpiresIn)) * time.Second, true
}

// parseAPIError reads a {"status":N,"message":"...","error":"..."} body; the
// HTTP status wins over the body's.
func parseAPIError(endpoint string, status int, data []byte) *APIError {
	var body struct {
		Message          string `json:"message"`
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	_ = json.Unmarshal(data, &body) // a non-JSON body leaves the fields empty
	msg := body.Message
	if msg == "" {
		msg = body.ErrorDescription
	}
	if msg == "" {
		msg = body.Error
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	if len(msg) > 500 {
		msg = msg[:500]
	}
	return newAPIError(endpoint, status, msg)
}

// postToken sends a POST /token with form and decodes the token response.
func (c *Config) postToken(ctx context.Context, form url.Values) (*Token, error) {
	var tr tokenResponse
	err := c.do(ctx, request{
		endpoint: "token",
		op:       "token:" + form.Get("grant_type"),
		method:   http.MethodPost,
		url:      c.idURL("/token"),
		form:     form,
	}, &tr)
	if err != nil {
		return nil, err
	}
	if tr.AccessToken == "" {
		return nil, fmt.Errorf("%w: token: no access_token", ErrMalformedResponse)
	}
	return tr.token(c.ClientID, time.Now()), nil
}
