package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/store"
)

// credProblem records that Twitch refused the broker's client credentials
// (typically after "New Secret" in the developer console, which invalidates
// the old secret at once). It is shown on the home page and by /readyz until
// a renewal succeeds or a new secret is given.
type credProblem struct {
	err error
	at  time.Time
}

// What the operator reads when Twitch refuses the client credentials.
var (
	errSecretRefused = errors.New("Twitch refused the client secret: it was probably rotated (\"New Secret\" in the developer console invalidates the old one at once). " +
		"Put the current secret in the configuration and send SIGHUP, or PUT it to /v1/admin/client-secret; no restart is needed")
	errUnknownClient = errors.New("Twitch does not know the client ID: check TWITCH_CLIENT_ID")
	errNoSecret      = errors.New("no client secret is configured: set TWITCH_CLIENT_SECRET, client_secret_file, or PUT it to /v1/admin/client-secret")
)

// credentialError explains a refusal of the client credentials and what to
// do; nil if err is not one. It is the broker's one rule for which errors
// mean that the operator must fix the credentials (see isConfigError).
func credentialError(err error) error {
	switch {
	case errors.Is(err, twitchauth.ErrInvalidClientSecret):
		return errSecretRefused
	case errors.Is(err, twitchauth.ErrInvalidClient):
		return errUnknownClient
	case errors.Is(err, twitchauth.ErrMissingClientSecret):
		return errNoSecret
	}
	return nil
}

// noteRenewal is called by the Provider's hooks: a refused credential sets
// the problem, a successful renewal clears it.
func (b *Broker) noteRenewal(err error) {
	if err == nil {
		if b.cred.Swap(nil) != nil {
			b.log.Info("Twitch accepts the client credentials again")
			b.resetReady()
		}
		return
	}
	if ce := credentialError(err); ce != nil {
		if b.cred.Swap(&credProblem{err: ce, at: b.now()}) == nil {
			b.log.Error("client credentials refused", "err", ce)
		}
		b.resetReady()
	}
}

// CredentialProblem returns why Twitch refuses the client credentials, or
// nil when the last renewal succeeded.
func (b *Broker) CredentialProblem() error {
	if p := b.cred.Load(); p != nil {
		return p.err
	}
	return nil
}

func (b *Broker) resetReady() {
	b.readyMu.Lock()
	b.readyErr, b.readyAt = nil, time.Time{}
	b.readyMu.Unlock()
}

// SetClientSecret replaces the client secret without a restart and checks
// it by fetching a new app token. On success the credential problem, if any,
// is cleared; on failure the error says what Twitch answered (never the
// secret).
func (b *Broker) SetClientSecret(ctx context.Context, secret string) error {
	if strings.TrimSpace(secret) == "" {
		return errors.New("the client secret is empty")
	}
	b.provider.SetClientSecret(secret)
	_, err := b.provider.Refresh(ctx, store.AppKey())
	b.noteRenewal(err)
	if err != nil {
		if ce := credentialError(err); ce != nil {
			return ce
		}
		return fmt.Errorf("checking the new secret: %w", err)
	}
	b.log.Info("client secret replaced")
	return nil
}

// apiSetClientSecret is PUT /v1/admin/client-secret {"client_secret": "…"}.
func (b *Broker) apiSetClientSecret(w http.ResponseWriter, r *http.Request, _ *APIKey) {
	var body struct {
		ClientSecret string `json:"client_secret"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || body.ClientSecret == "" {
		writeError(w, http.StatusBadRequest, "bad_request", `send {"client_secret": "<the current secret>"} as JSON`)
		return
	}
	if err := b.SetClientSecret(r.Context(), body.ClientSecret); err != nil {
		writeError(w, http.StatusUnprocessableEntity, "secret_refused", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
