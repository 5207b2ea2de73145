package broker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/twitchauth/twitchauth"
)

// credProblem records that Twitch refused the broker's client credentials
// (typically after "New Secret" in the developer console, which invalidates
// the old secret at once). It is shown on the home page and by /readyz until
// a renewal succeeds or a new secret is given.
type credProblem struct {
	err error
	at  time.Time
}

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

// SetClientSecret replaces the client secret without a restart, after
// checking it with Twitch: a client-credentials grant with the new secret,
// against the configured endpoints. Only a secret Twitch accepts is
// installed; then the credential problem, if any, is cleared. A refused
// secret gives an error wrapping ErrSecretRefused, a failed check one
// wrapping ErrSecretUnchecked; either way nothing changes. The error never
// contains the secret.
func (b *Broker) SetClientSecret(ctx context.Context, secret string) error {
	secret = strings.TrimSpace(secret)
	if secret == "" {
		return errors.New("the client secret is empty")
	}
	b.secretMu.Lock()
	defer b.secretMu.Unlock()
	check := *b.twitch
	check.ClientSecret = secret
	if _, err := check.AppToken(ctx); err != nil {
		if ce := credentialError(err); ce != nil {
			b.log.Error("client secret refused by Twitch; not installed, the previous one stays", "err", err)
			if errors.Is(err, twitchauth.ErrInvalidClientSecret) {
				return ErrSecretRefused
			}
			return fmt.Errorf("%w (%v)", ErrSecretRefused, ce)
		}
		b.log.Error("the new client secret could not be checked with Twitch; not installed, the previous one stays", "err", err)
		return fmt.Errorf("%w (%v)", ErrSecretUnchecked, err)
	}
	b.provider.SetClientSecret(secret)
	b.noteRenewal(nil)
	b.log.Info("client secret checked with Twitch and installed")
	return nil
}

// apiSetClientSecret is PUT /v1/admin/client-secret {"client_secret": "…"}.
func (b *Broker) apiSetClientSecret(w http.ResponseWriter, r *http.Request, _ *APIKey) {
	var body struct {
		ClientSecret string `json:"client_secret"`
	}
	if !decodeJSON(w, r, &body) || strings.TrimSpace(body.ClientSecret) == "" {
		writeError(w, http.StatusBadRequest, "bad_request", `send one JSON object, {"client_secret": "<the current secret>"}, and nothing after it`)
		return
	}
	switch err := b.SetClientSecret(r.Context(), body.ClientSecret); {
	case err == nil:
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "message": "Twitch accepts the secret; it is installed"})
	case errors.Is(err, ErrSecretRefused):
		writeError(w, http.StatusUnprocessableEntity, "secret_refused", err.Error())
	default:
		writeError(w, http.StatusBadGateway, "secret_unchecked", err.Error())
	}
}
