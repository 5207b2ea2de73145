package api

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
	"github.com/twitchauth/twitchauth/internal/cli/config"
	"github.com/twitchauth/twitchauth/provider"
	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/sqlite"
)

// session is the token source of one run: a Provider on the token store
// (or on memory with --no-store) and the subject the call acts as.
type session struct {
	cfg *twitchauth.Config
	st  *sqlite.Store // nil with --no-store
	p   *provider.Provider
	src *provider.TokenSource
	// who describes the subject for -v ("app access token", "user token
	// of twitchdev (141981764)"): never a token.
	who string
}

func (s *session) close() {
	if s.st != nil {
		s.st.Close()
	}
}

// open builds the session: the app token's source, or the stored user's.
func (e *env) open() (*session, error) {
	cfg := e.s.Twitch(e.f)
	sess := &session{cfg: cfg}
	pc := provider.Config{OAuth: cfg, Now: e.f.Now, Logger: e.f.Logger}
	if e.o.NoStore {
		p, err := provider.New(e.ctx, pc)
		if err != nil {
			return nil, cliutil.Exit(cliutil.ExitInternal, err)
		}
		sess.p, sess.src, sess.who = p, p.TokenSource(provider.App()), "app access token"
		return sess, nil
	}
	path, st, err := e.openStore()
	if err != nil {
		return nil, err
	}
	sess.st = st
	pc.Store = st
	p, err := provider.New(e.ctx, pc)
	if err != nil {
		st.Close()
		return nil, cliutil.Exitf(cliutil.ExitInternal, "reading the token store %s: %v", path, err)
	}
	sess.p = p
	if !e.o.User {
		if err := sess.appSource(e); err != nil {
			st.Close()
			return nil, err
		}
		return sess, nil
	}
	if err := sess.userSource(e, path); err != nil {
		st.Close()
		return nil, err
	}
	return sess, nil
}

// openStore opens the encrypted token store that `twitchauth token -u`
// writes: the same path and key rules (--store, TWITCHAUTH_ENCRYPTION_KEY or
// the key file beside the database).
func (e *env) openStore() (string, *sqlite.Store, error) {
	hint := "use --store PATH"
	if !e.o.User {
		hint += ", or --no-store"
	}
	return config.OpenStore(e.ctx, e.f, e.o.Store, hint)
}

// appSource serves the stored app token of this application (each
// application's app token has its own record: store.GrantKey).
func (s *session) appSource(e *env) error {
	s.src, s.who = s.p.TokenSource(provider.App()), "app access token"
	return nil
}

// userSource picks the stored user of this application: the only one, or
// the --login one.
func (s *session) userSource(e *env, path string) error {
	recs, err := s.st.List(e.ctx)
	if err != nil {
		return cliutil.Exitf(cliutil.ExitInternal, "reading the token store %s: %v", path, err)
	}
	var mine []store.Record
	for _, r := range recs {
		if r.UserID != "" && r.ClientID == s.cfg.ClientID {
			mine = append(mine, r)
		}
	}
	login := func(how string) string {
		return fmt.Sprintf("run `twitchauth token -u -s \"SCOPES\"`%s to log in and store a user token (store %s)", how, path)
	}
	if len(mine) == 0 {
		return cliutil.Exitf(cliutil.ExitUsage, "no user token of client %s is stored: %s", s.cfg.ClientID, login(""))
	}
	var pick *store.Record
	if e.o.Login != "" {
		for i := range mine {
			if strings.EqualFold(mine[i].Login, e.o.Login) {
				pick = &mine[i]
			}
		}
		if pick == nil {
			return cliutil.Exitf(cliutil.ExitUsage, "no user token of %s is stored (stored: %s): %s",
				e.o.Login, strings.Join(logins(mine), ", "), login(" as "+e.o.Login))
		}
	} else {
		var active []store.Record
		for _, r := range mine {
			if r.Status == "" || r.Status == store.StatusActive {
				active = append(active, r)
			}
		}
		switch len(active) {
		case 0:
			pick = &mine[0]
		case 1:
			pick = &active[0]
		default:
			return cliutil.Exitf(cliutil.ExitUsage, "several users are stored (%s): choose one with --login",
				strings.Join(logins(active), ", "))
		}
	}
	switch pick.Status {
	case store.StatusDead, store.StatusRevoked:
		return cliutil.Exitf(cliutil.ExitRefused, "the stored grant of %s is %s (its refresh token was refused): %s",
			pick.Login, pick.Status, login(" --force"))
	}
	s.src = s.p.TokenSource(provider.User(pick.UserID))
	s.who = fmt.Sprintf("user token of %s (%s)", pick.Login, pick.UserID)
	return nil
}

func logins(recs []store.Record) []string {
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		out = append(out, r.Login)
	}
	slices.Sort(out)
	return out
}

// tokenErr maps the failure to get or refresh a token to an exit code, with
// what to do about a lost grant.
func tokenErr(err error) error {
	if errors.Is(err, provider.ErrGrantDead) || errors.Is(err, provider.ErrGrantRevoked) {
		return cliutil.Exitf(cliutil.ExitRefused, "%v: log in again with `twitchauth token -u --force`", err)
	}
	return config.Remote(err)
}
