package extension

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// DefaultHelixBaseURL is the Twitch API base URL.
const DefaultHelixBaseURL = "https://api.twitch.tv/helix"

// HelixSecretsConfig configures HelixSecrets.
type HelixSecretsConfig struct {
	// ExtensionID is the extension's client ID (sent as Client-Id and as
	// extension_id). Required.
	ExtensionID string
	// OwnerUserID is the user ID that owns the extension; it signs the
	// backend JWT used to call Helix. Required.
	OwnerUserID string
	// Initial are the secrets to start with, typically the one copied from
	// the developer console; at least one must be active to call Helix.
	Initial []Secret
	// HTTPClient is used for Helix calls; default http.DefaultClient.
	HTTPClient *http.Client
	// BaseURL is the Helix base URL; default DefaultHelixBaseURL.
	BaseURL string
	// Interval is the period of Run's refreshes; default 15 minutes, well
	// inside the hour an old secret stays valid after a rotation.
	Interval time.Duration
	// MissInterval bounds refreshes caused by tokens that match no secret:
	// at most one per MissInterval; default 1 minute.
	MissInterval time.Duration
	// Logger receives refresh failures; default slog.Default().
	Logger *slog.Logger
	// Now returns the current time; default time.Now.
	Now func() time.Time
}

// HelixSecrets is a SecretSource kept current from Twitch's
// GET /helix/extensions/jwt/secrets. Call Refresh once at start, then Run in a
// goroutine; a Verifier built on it also refreshes (rate-limited) when a
// token's signature matches no known secret.
type HelixSecrets struct {
	cfg     HelixSecretsConfig
	keyring *Keyring
	signer  *Signer

	mu          sync.Mutex // serialises fetches
	lastAttempt time.Time
}

// NewHelixSecrets returns a source holding cfg.Initial. It does no I/O.
func NewHelixSecrets(cfg HelixSecretsConfig) (*HelixSecrets, error) {
	if cfg.ExtensionID == "" {
		return nil, errors.New("extension: HelixSecretsConfig.ExtensionID (the extension client ID) is required")
	}
	if cfg.OwnerUserID == "" {
		return nil, errors.New("extension: HelixSecretsConfig.OwnerUserID (the extension owner's user ID) is required")
	}
	if len(cfg.Initial) == 0 {
		return nil, errors.New("extension: HelixSecretsConfig.Initial needs the current extension secret")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultHelixBaseURL
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.Interval <= 0 {
		cfg.Interval = 15 * time.Minute
	}
	if cfg.MissInterval <= 0 {
		cfg.MissInterval = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &HelixSecrets{cfg: cfg, keyring: NewKeyring(cfg.Initial...)}
	var err error
	h.signer, err = NewSigner(h.keyring, SignerConfig{OwnerUserID: cfg.OwnerUserID, Now: cfg.Now})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// Keyring returns the keyring this source keeps current.
func (h *HelixSecrets) Keyring() *Keyring { return h.keyring }

// Refresh fetches the secrets now and, on success, replaces the keyring.
// On failure the keyring is unchanged.
func (h *HelixSecrets) Refresh(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastAttempt = h.cfg.Now()
	return h.fetch(ctx)
}

// RefreshOnMiss refreshes unless a refresh was attempted less than
// MissInterval ago, and reports whether the keyring changed. Concurrent
// callers wait for one fetch.
func (h *HelixSecrets) RefreshOnMiss(ctx context.Context) bool {
	before := h.keyring.load()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.keyring.load() != before {
		return true // another caller refreshed while we waited
	}
	now := h.cfg.Now()
	if !h.lastAttempt.IsZero() && now.Sub(h.lastAttempt) < h.cfg.MissInterval {
		return false
	}
	h.lastAttempt = now
	if err := h.fetch(ctx); err != nil {
		h.cfg.Logger.WarnContext(ctx, "extension: refreshing extension secrets after a signature miss failed", "err", err)
		return false
	}
	return h.keyring.load() != before
}

// Run refreshes every Interval until ctx is done, logging failures; it
// returns ctx.Err().
func (h *HelixSecrets) Run(ctx context.Context) error {
	t := time.NewTicker(h.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if err := h.Refresh(ctx); err != nil && ctx.Err() == nil {
				h.cfg.Logger.WarnContext(ctx, "extension: refreshing extension secrets failed", "err", err)
			}
		}
	}
}

// secretsResponse is the documented body of Get Extension Secrets.
type secretsResponse struct {
	Data []struct {
		FormatVersion int `json:"format_version"`
		Secrets       []struct {
			Content   string    `json:"content"`
			ActiveAt  time.Time `json:"active_at"`
			ExpiresAt time.Time `json:"expires_at"`
		} `json:"secrets"`
	} `json:"data"`
}

// fetch calls Helix; h.mu must be held.
func (h *HelixSecrets) fetch(ctx context.Context) error {
	jwt, err := h.signer.Backend(BackendOptions{})
	if err != nil {
		return fmt.Errorf("extension: cannot sign the backend JWT for Get Extension Secrets: %w", err)
	}
	u := h.cfg.BaseURL + "/extensions/jwt/secrets?extension_id=" + url.QueryEscape(h.cfg.ExtensionID)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("extension: Get Extension Secrets: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+jwt)
	req.Header.Set("Client-Id", h.cfg.ExtensionID)
	req.Header.Set("Accept", "application/json")
	resp, err := h.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("extension: Get Extension Secrets: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("extension: Get Extension Secrets: reading the body: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(body, &e)
		return fmt.Errorf("extension: Get Extension Secrets: HTTP %d: %s", resp.StatusCode, clip(e.Message))
	}
	var sr secretsResponse
	if err := json.Unmarshal(body, &sr); err != nil {
		return fmt.Errorf("extension: Get Extension Secrets: unexpected body: %w", err)
	}
	var secrets []Secret
	for _, d := range sr.Data {
		if d.FormatVersion != 1 {
			continue // a format this code does not know
		}
		for _, s := range d.Secrets {
			sec, err := ParseSecret(s.Content)
			if err != nil {
				return fmt.Errorf("extension: Get Extension Secrets: %w", err)
			}
			sec.Active, sec.Expires = s.ActiveAt, s.ExpiresAt
			secrets = append(secrets, sec)
		}
	}
	if len(secrets) == 0 {
		return errors.New("extension: Get Extension Secrets returned no secret in format version 1; keeping the current ones")
	}
	h.keyring.Set(secrets)
	h.cfg.Logger.DebugContext(ctx, "extension: extension secrets refreshed", "count", len(secrets))
	return nil
}
