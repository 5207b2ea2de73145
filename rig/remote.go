package rig

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/twitchauth/twitchauth/twitchtest"
)

// remoteBackend is a sandbox in another process (`twitchauth mock`),
// reached over HTTP: tokens come from its POST /_sandbox/extension/jwt
// (loopback only), users from its Helix with a viewer's Helix JWT.
type remoteBackend struct {
	base  *url.URL
	hc    *http.Client
	proxy *httputil.ReverseProxy
	// logins the rig looks up in Helix (the sandbox has no user listing).
	logins []string
}

func newRemoteBackend(raw string, hc *http.Client) (*remoteBackend, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("rig: sandbox URL %q is not an http(s) URL", raw)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	b := &remoteBackend{base: u, hc: hc}
	b.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = u.Host
		},
		Transport: hc.Transport,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			writeError(w, http.StatusBadGateway, "sandbox unreachable: "+err.Error())
		},
	}
	return b, nil
}

// mintRequest and mintResponse are the sandbox's /_sandbox/extension/jwt
// shapes (twitchtest's doc.go).
type mintRequest struct {
	ClientID     string                  `json:"client_id,omitempty"`
	ChannelID    string                  `json:"channel_id,omitempty"`
	Role         string                  `json:"role"`
	UserID       string                  `json:"user_id,omitempty"`
	OpaqueUserID string                  `json:"opaque_user_id,omitempty"`
	IsUnlinked   bool                    `json:"is_unlinked,omitempty"`
	PubsubPerms  *twitchtest.PubsubPerms `json:"pubsub_perms,omitempty"`
	TTL          int64                   `json:"ttl,omitempty"`
}

type mintResponse struct {
	ClientID     string `json:"client_id"`
	OpaqueUserID string `json:"opaque_user_id"`
	Token        string `json:"token"`
	HelixToken   string `json:"helix_token"`
	Exp          int64  `json:"exp"`
}

// ttlSeconds converts a lifetime to the endpoint's whole seconds (at least
// one; the rig waits out tokens asked to be expired).
func ttlSeconds(d time.Duration) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

func (b *remoteBackend) mint(ctx context.Context, m mintRequest) (*mintResponse, error) {
	body, _ := json.Marshal(m)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.base.String()+"/_sandbox/extension/jwt", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reaching the sandbox: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(raw, &e)
		return nil, fmt.Errorf("the sandbox's minting endpoint answered %d: %s", resp.StatusCode, e.Message)
	}
	var out mintResponse
	if err := json.Unmarshal(raw, &out); err != nil || out.Token == "" {
		return nil, errors.New("the sandbox's minting endpoint answered an unexpected body")
	}
	return &out, nil
}

func (b *remoteBackend) extensionClientID(ctx context.Context) (string, error) {
	m, err := b.mint(ctx, mintRequest{Role: twitchtest.RoleExternal, TTL: 60})
	if err != nil {
		return "", err
	}
	return m.ClientID, nil
}

func (b *remoteBackend) mintExtensionJWT(ctx context.Context, o twitchtest.ExtJWTOptions) (string, error) {
	m, err := b.mint(ctx, mintRequest{ClientID: o.ClientID, ChannelID: o.ChannelID, Role: o.Role, UserID: o.UserID,
		OpaqueUserID: o.OpaqueUserID, IsUnlinked: o.IsUnlinked, PubsubPerms: o.PubsubPerms, TTL: ttlSeconds(o.TTL)})
	if err != nil {
		return "", err
	}
	return m.Token, nil
}

func (b *remoteBackend) mintHelixJWT(ctx context.Context, o twitchtest.HelixJWTOptions) (string, error) {
	m, err := b.mint(ctx, mintRequest{ClientID: o.ClientID, Role: twitchtest.RoleViewer, UserID: o.UserID, OpaqueUserID: o.OpaqueUserID, TTL: ttlSeconds(o.TTL)})
	if err != nil {
		return "", err
	}
	return m.HelixToken, nil
}

// users looks up the rig's logins with Get Users and a throwaway
// anonymous viewer's Helix JWT (the sandbox offers no user listing over
// HTTP).
func (b *remoteBackend) users(ctx context.Context) ([]twitchtest.User, error) {
	m, err := b.mint(ctx, mintRequest{Role: twitchtest.RoleViewer, TTL: 60})
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	for _, l := range b.logins {
		q.Add("login", l)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.base.String()+"/helix/users?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Extension "+m.HelixToken)
	req.Header.Set("Client-Id", m.ClientID)
	resp, err := b.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reaching the sandbox: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the sandbox's Get Users answered %d", resp.StatusCode)
	}
	var out struct {
		Data []struct {
			ID          string `json:"id"`
			Login       string `json:"login"`
			DisplayName string `json:"display_name"`
		} `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		return nil, fmt.Errorf("the sandbox's Get Users answered an unexpected body: %w", err)
	}
	users := make([]twitchtest.User, 0, len(out.Data))
	for _, u := range out.Data {
		users = append(users, twitchtest.User{ID: u.ID, Login: u.Login, DisplayName: u.DisplayName})
	}
	return users, nil
}

func (b *remoteBackend) helix() http.Handler { return b.proxy }

// exhaust calls the sandbox's POST /_sandbox/ratelimit/exhaust (loopback
// only), whose shapes twitchtest's doc.go gives.
func (b *remoteBackend) exhaust(ctx context.Context, hb twitchtest.HelixBucket) (twitchtest.RateLimitState, error) {
	body, _ := json.Marshal(map[string]string{"client_id": hb.ClientID, "user_id": hb.UserID, "opaque_user_id": hb.OpaqueUserID})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.base.String()+"/_sandbox/ratelimit/exhaust", bytes.NewReader(body))
	if err != nil {
		return twitchtest.RateLimitState{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.hc.Do(req)
	if err != nil {
		return twitchtest.RateLimitState{}, fmt.Errorf("reaching the sandbox: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		Limit     int    `json:"limit"`
		Remaining int    `json:"remaining"`
		Reset     int64  `json:"reset"`
		Message   string `json:"message"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&out); err != nil || (resp.StatusCode == http.StatusOK && out.Reset == 0) {
		return twitchtest.RateLimitState{}, fmt.Errorf("the sandbox's rate-limit endpoint answered %d with an unexpected body", resp.StatusCode)
	}
	if resp.StatusCode != http.StatusOK {
		return twitchtest.RateLimitState{}, fmt.Errorf("the sandbox's rate-limit endpoint answered %d: %s", resp.StatusCode, out.Message)
	}
	return twitchtest.RateLimitState{Limit: out.Limit, Remaining: out.Remaining, Reset: time.Unix(out.Reset, 0)}, nil
}
