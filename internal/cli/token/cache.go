package token

import (
	"errors"
	"log/slog"
	"net/url"
	"strings"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
	"github.com/twitchauth/twitchauth/internal/cli/config"
	"github.com/twitchauth/twitchauth/provider"
	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/sqlite"
)

// cache is the token store opened for one run, with a Provider on it.
type cache struct {
	st   *sqlite.Store
	p    *provider.Provider
	path string
}

func (c *cache) close() { c.st.Close() }

// openCache opens the token store (creating it on first use) and a Provider
// for the configured application on it.
func (e *env) openCache() (*cache, error) {
	path, st, err := config.OpenStore(e.ctx, e.f, e.o.Store, "use --store PATH, or --no-store")
	if err != nil {
		return nil, err
	}
	p, err := provider.New(e.ctx, provider.Config{OAuth: e.cfg, Store: st, Now: e.f.Now, Logger: e.f.Logger})
	if err != nil {
		st.Close()
		return nil, cliutil.Exitf(cliutil.ExitInternal, "reading the token store %s: %v", path, err)
	}
	return &cache{st: st, p: p, path: path}, nil
}

// lookup returns a stored, valid token of this application's most recently
// stored user (or the --login user) that has every one of scopes, refreshing
// it when needed; nil when the store cannot answer and a login is needed.
// Only a network failure is an error: Twitch cannot be asked either way.
func (c *cache) lookup(e *env, scopes []string) (*twitchauth.Token, error) {
	recs, err := c.st.List(e.ctx)
	if err != nil {
		e.note("warning: reading the token store: %v; logging in", err)
		return nil, nil
	}
	var pick *store.Record
	for i := range recs {
		r := &recs[i]
		if r.UserID == "" || r.ClientID != e.cfg.ClientID {
			continue
		}
		if r.Status != "" && r.Status != store.StatusActive {
			continue
		}
		if e.o.Login != "" && !strings.EqualFold(r.Login, e.o.Login) {
			continue
		}
		if pick == nil || r.UpdatedAt.After(pick.UpdatedAt) {
			pick = r
		}
	}
	if pick == nil {
		return nil, nil
	}
	tok, err := c.p.TokenWithScopes(e.ctx, provider.User(pick.UserID), scopes...)
	var missing *twitchauth.MissingScopesError
	switch {
	case errors.As(err, &missing):
		e.note("The stored token of %s lacks %s: logging in again.", pick.Login, strings.Join(missing.Missing, " "))
		return nil, nil
	case err != nil && isNetwork(err):
		return nil, config.Remote(err)
	case err != nil:
		e.note("The stored token of %s cannot be used (%v): logging in again.", pick.Login, err)
		return nil, nil
	}
	// The store may hold a token that was revoked meanwhile; Twitch also
	// asks apps to validate tokens when they start.
	if _, err := e.cfg.Validate(e.ctx, tok.AccessToken); err != nil {
		if !errors.Is(err, twitchauth.ErrInvalidToken) {
			return nil, config.Remote(err)
		}
		tok, err = c.p.Invalidate(e.ctx, provider.User(pick.UserID), tok.AccessToken)
		if err != nil {
			if isNetwork(err) {
				return nil, config.Remote(err)
			}
			e.note("The stored token of %s was refused and could not be refreshed (%v): logging in again.", pick.Login, err)
			return nil, nil
		}
	}
	e.f.Logger.Debug("answering from the token store", slog.String("login", pick.Login), slog.String("store", c.path))
	e.note("Using the stored token of %s (--force to log in again).", pick.Login)
	return tok, nil
}

// isNetwork reports whether err is a failure to reach Twitch.
func isNetwork(err error) bool {
	var ue *url.Error
	return errors.As(err, &ue)
}

// holdsRefreshable reports whether the store holds an active grant with a
// refresh token for tok's user and client. It fills in tok's user.
func (c *cache) holdsRefreshable(e *env, tok *twitchauth.Token) bool {
	if tok.UserID == "" {
		if err := e.cfg.Identify(e.ctx, tok); err != nil {
			return false // AddUserToken reports the failure
		}
	}
	rec, err := c.st.Load(e.ctx, store.GrantKey(e.cfg.ClientID, store.UserKey(tok.UserID)))
	return err == nil && rec.RefreshToken != "" && rec.ClientID == tok.ClientID &&
		(rec.Status == "" || rec.Status == store.StatusActive)
}
