package token

import (
	"strings"

	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
	"github.com/twitchauth/twitchauth/scopes"
)

// resolveFor computes the smallest scope set the --for endpoints need (see
// package scopes). An unknown endpoint, or one that takes no user token,
// is a usage error.
func (o *Options) resolveFor() error {
	o.forScopes = nil
	if len(o.For) == 0 {
		return nil
	}
	for _, name := range o.For {
		r, err := scopes.Lookup(name)
		if err != nil {
			return cliutil.Exitf(cliutil.ExitUsage, "--for %q: %v (twitchauth scopes lists the known ones)", name, err)
		}
		if r.Tokens&scopes.User == 0 {
			return cliutil.Exitf(cliutil.ExitUsage, "--for %q: %s takes %s, not a user token", name, strings.TrimSpace(r.Key), r.Tokens)
		}
	}
	set, err := scopes.For(o.For...)
	if err != nil {
		return cliutil.Exit(cliutil.ExitUsage, err)
	}
	o.forScopes = set
	return nil
}
