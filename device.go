package twitchauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DeviceAuth is a started device code flow: show UserCode and
// VerificationURI to the user, then call PollDevice.
type DeviceAuth struct {
	// DeviceCode identifies the flow to the token endpoint. Treat it as a
	// secret: it is what PollDevice trades for the token.
	DeviceCode string
	// UserCode is the code the user enters (or sees pre-filled).
	UserCode string
	// VerificationURI is the page where the user approves, typically
	// https://www.twitch.tv/activate?device-code=<UserCode>.
	VerificationURI string
	// Interval is the minimum wait between polls; PollDevice lengthens it by
	// 5 s on every slow_down answer.
	Interval time.Duration
	// ExpiresAt is when the device code expires.
	ExpiresAt time.Time
	// Scopes are the scopes requested.
	Scopes []string
}

// defaultDeviceInterval is RFC 8628's default polling interval.
const defaultDeviceInterval = 5 * time.Second

// slowDownStep is what RFC 8628 adds to the interval on slow_down.
const slowDownStep = 5 * time.Second

type deviceResponse struct {
	DeviceCode      string `json:"device_code"`
	UserCode        string `json:"user_code"`
	VerificationURI string `json:"verification_uri"`
	ExpiresIn       int64  `json:"expires_in"`
	Interval        int64  `json:"interval"`
}

// StartDevice starts the device code flow (POST /device) for scopes, or
// Config.Scopes when none are given. It works for public and confidential
// clients; no secret is sent.
func (c *Config) StartDevice(ctx context.Context, scopes ...string) (*DeviceAuth, error) {
	if len(scopes) == 0 {
		scopes = c.Scopes
	}
	scopes = dedupe(scopes)
	var dr deviceResponse
	err := c.do(ctx, request{
		endpoint: "device",
		method:   http.MethodPost,
		url:      c.idURL("/device"),
		form:     url.Values{"client_id": {c.ClientID}, "scopes": {strings.Join(scopes, " ")}},
	}, &dr)
	if err != nil {
		return nil, err
	}
	if dr.DeviceCode == "" || dr.UserCode == "" {
		return nil, fmt.Errorf("%w: device: no device_code or user_code", ErrMalformedResponse)
	}
	da := &DeviceAuth{
		DeviceCode:      dr.DeviceCode,
		UserCode:        dr.UserCode,
		VerificationURI: dr.VerificationURI,
		Scopes:          scopes,
	}
	if d, _ := lifetime(dr.Interval); d > 0 {
		da.Interval = d
	} else {
		da.Interval = defaultDeviceInterval
	}
	if d, known := lifetime(dr.ExpiresIn); known {
		da.ExpiresAt = time.Now().Add(d) // negative: expired already
	}
	return da, nil
}

// PollDevice waits for the user to approve the device flow and returns the
// token, with its user filled in (see Identify). It polls every da.Interval,
// keeps polling while Twitch answers authorization_pending, adds 5 s to the
// interval on slow_down (RFC 8628; Twitch documents none, docs/protocol.md#device-flow), and stops with ErrDeviceCodeExpired once
// da.ExpiresAt passes or Twitch says the device code is invalid, with
// ErrAccessDenied if the user declines, or with ctx's error when ctx ends.
// PollDevice updates da.Interval; do not share da between goroutines.
func (c *Config) PollDevice(ctx context.Context, da *DeviceAuth) (*Token, error) {
	if da == nil || da.DeviceCode == "" {
		return nil, errors.New("twitchauth: PollDevice needs the DeviceAuth returned by StartDevice")
	}
	if da.Interval <= 0 {
		da.Interval = defaultDeviceInterval
	}
	form := url.Values{
		"client_id":   {c.ClientID},
		"device_code": {da.DeviceCode},
		"grant_type":  {"urn:ietf:params:oauth:grant-type:device_code"},
		"scopes":      {strings.Join(da.Scopes, " ")},
	}
	for {
		wait := da.Interval
		if !da.ExpiresAt.IsZero() {
			left := time.Until(da.ExpiresAt)
			if left <= 0 {
				return nil, fmt.Errorf("twitchauth: device code expired before the user approved: %w", ErrDeviceCodeExpired)
			}
			wait = min(wait, left)
		}
		if err := c.wait(ctx, wait); err != nil {
			return nil, fmt.Errorf("twitchauth: waiting for device approval: %w", err)
		}
		if !da.ExpiresAt.IsZero() && !time.Now().Before(da.ExpiresAt) {
			return nil, fmt.Errorf("twitchauth: device code expired before the user approved: %w", ErrDeviceCodeExpired)
		}
		tok, err := c.postToken(ctx, form)
		switch {
		case err == nil:
			if err := c.Identify(ctx, tok); err != nil {
				return nil, err
			}
			return tok, nil
		case errors.Is(err, ErrAuthorizationPending):
			continue
		case errors.Is(err, ErrSlowDown):
			da.Interval += slowDownStep
			c.logger().DebugContext(ctx, "twitchauth device flow: slow_down", slog.Duration("interval", da.Interval))
			continue
		default:
			return nil, err
		}
	}
}
