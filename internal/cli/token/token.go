package token

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
	"github.com/twitchauth/twitchauth/internal/cli/config"
)

// Defaults of the local redirect server, as twitch-cli (docs/protocol.md#twitch-cli-compatibility): the redirect URI is
// http://localhost:3000 (no trailing slash), served on loopback only.
const (
	DefaultIP           = "127.0.0.1"
	DefaultPort         = 3000
	DefaultRedirectHost = "localhost"
	DefaultTimeout      = 5 * time.Minute
)

// Options are the flags of `twitchauth token`.
type Options struct {
	UserToken   bool     // -u: a user token (authorization code flow unless DCF or Implicit)
	Scopes      string   // -s: space- (or comma-) separated scopes
	For         []string // --for ENDPOINT (repeatable): add the smallest scope set these need
	DCF         bool     // device code flow
	Implicit    bool     // implicit flow
	ForceVerify bool     // force_verify=true; also bypasses the token store
	Force       bool     // bypass the token store

	Revoke   string // -r TOKEN
	Validate string // -v TOKEN
	Refresh  string // -R REFRESH_TOKEN

	ClientID string // overrides the configuration (not saved)
	Secret   string // overrides the configuration (not saved)

	IP           string        // bind address of the redirect server
	Port         int           // its port (0: DefaultPort; the flag refuses 0)
	RedirectHost string        // host of the redirect URI
	Timeout      time.Duration // how long to wait for the login
	TimeoutSet   bool          // Timeout was given (the device flow otherwise waits for its code's expiry)
	NoBrowser    bool          // never open a browser

	JSON    bool   // one JSON object on stdout
	Store   string // token store path (default $XDG_DATA_HOME/twitchauth/tokens.db)
	NoStore bool   // neither read nor write the token store
	Login   string // which stored user to answer for

	// Factory gives the streams, environment, clock and browser.
	Factory *cliutil.Factory

	forScopes []string // the set --for needs (resolveFor)
}

// NewCmdToken returns the `token` command. runF, when not nil, replaces
// Run (tests of the flags).
func NewCmdToken(f *cliutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	o := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Get, validate, refresh or revoke Twitch tokens (twitch-cli compatible flags)",
		Long: `Get an app access token (the default), or a user access token with -u.

User tokens: -u opens Twitch's consent page and receives the redirect on a local
server (http://localhost:3000 by default: register it, without a trailing slash,
as a redirect URI of your application); --dcf uses the device code flow instead
(no redirect URI needed, works for public clients); --implicit the implicit flow.
User tokens are kept in an encrypted store, so the next "token -u" with the same
scopes answers from it (refreshing the token when needed): --force logs in again.

The flags are twitch-cli's ("twitch token"); the client secret is --secret here,
as in twitch-cli (--client-secret in the other commands).

The token goes to stdout; messages, the consent URL and progress to stderr.
Exit codes: 0 success, 1 Twitch refused (or the login was denied or timed out),
2 bad usage or missing configuration, 3 network, 4 local failure (port in use…).`,
		Example: `  twitchauth token
  twitchauth token -u -s "user:read:email chat:read"
  twitchauth token -u --for "POST /chat/messages" --for "GET /polls"
  twitchauth token -u --dcf -s chat:read --json
  twitchauth token -v TOKEN
  twitchauth token -R REFRESH_TOKEN
  twitchauth token -r TOKEN`,
		Args: cliutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.TimeoutSet = cmd.Flags().Changed("timeout")
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return Run(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&o.UserToken, cliutil.FlagUserToken, "u", false, "get a user access token (authorization code flow in the browser)")
	cliutil.StringVarP(fl, &o.Scopes, "scopes", "s", "", "space-separated `SCOPES` for a user token, quoted: \"chat:read chat:edit\"")
	cliutil.StringArrayVarP(fl, &o.For, "for", "", nil, "request the scopes this `ENDPOINT` or EventSub type needs, \"POST /chat/messages\" (repeatable; see twitchauth scopes)")
	fl.BoolVar(&o.DCF, "dcf", false, "use the device code flow (implies -u)")
	fl.BoolVar(&o.Implicit, "implicit", false, "use the implicit flow (implies -u; the token cannot be refreshed)")
	fl.BoolVar(&o.ForceVerify, "forceverify", false, "make Twitch ask for consent again (force_verify); implies --force")
	fl.BoolVar(&o.Force, "force", false, "log in again even if the store holds a suitable token")
	cliutil.TokenVarP(fl, &o.Revoke, "revoke", "r", "revoke the access `TOKEN`")
	cliutil.TokenVarP(fl, &o.Validate, "validate", "v", "validate the access `TOKEN`")
	cliutil.TokenVarP(fl, &o.Refresh, "refresh", "R", "get a new access token with the `REFRESH_TOKEN`")
	cliutil.StringVarP(fl, &o.ClientID, cliutil.FlagClientID, "", "", "client ID to use instead of the configured one (not saved)")
	cliutil.WithEnv(fl, cliutil.FlagClientID, config.EnvClientID)
	cliutil.StringVarP(fl, &o.Secret, "secret", "", "", "client secret to use instead of the configured one (not saved; visible in the process list: prefer the environment)")
	cliutil.WithEnv(fl, "secret", config.EnvClientSecret)
	cliutil.StringVarP(fl, &o.IP, "ip", "", DefaultIP, "`IP` address the local redirect server binds to")
	cliutil.PortVarP(fl, &o.Port, "port", "p", DefaultPort, "`PORT` of the local redirect server (1-65535; the redirect URI http://HOST:PORT must be registered)")
	cliutil.StringVarP(fl, &o.RedirectHost, "redirect-host", "", DefaultRedirectHost, "`HOST` of the redirect URI (http://HOST:PORT)")
	fl.DurationVar(&o.Timeout, cliutil.FlagTimeout, DefaultTimeout, "how long to wait for the login (device flow: until its code expires unless given)")
	fl.BoolVar(&o.NoBrowser, "no-browser", false, "print the login URL but do not open a browser")
	cliutil.AddJSONFlag(fl, &o.JSON)
	cliutil.StringVarP(fl, &o.Store, cliutil.FlagStore, "", "", "token store `FILE` (default $XDG_DATA_HOME/twitchauth/tokens.db)")
	fl.BoolVar(&o.NoStore, "no-store", false, "neither use nor update the token store")
	cliutil.StringVarP(fl, &o.Login, cliutil.FlagLogin, "", "", "answer for the stored user `LOGIN` (with -u)")
	return cmd
}

// user reports whether a user token is asked for.
func (o *Options) user() bool { return o.UserToken || o.DCF || o.Implicit }

// check refuses contradictory flags.
func (o *Options) check() error {
	var ops []string
	for _, x := range []struct {
		name string
		on   bool
	}{{"--revoke", o.Revoke != ""}, {"--validate", o.Validate != ""}, {"--refresh", o.Refresh != ""}, {"--user-token", o.user()}} {
		if x.on {
			ops = append(ops, x.name)
		}
	}
	if len(ops) > 1 {
		return cliutil.Exitf(cliutil.ExitUsage, "%s cannot be combined: choose one", strings.Join(ops, " and "))
	}
	if o.DCF && o.Implicit {
		return cliutil.Exitf(cliutil.ExitUsage, "--dcf and --implicit cannot be combined: choose one flow")
	}
	if !o.user() {
		for _, x := range []struct {
			name string
			on   bool
		}{{"--scopes", o.Scopes != ""}, {"--for", len(o.For) > 0}, {"--forceverify", o.ForceVerify}, {"--force", o.Force}, {"--login", o.Login != ""}} {
			if x.on {
				return cliutil.Exitf(cliutil.ExitUsage, "%s only applies to user tokens: add -u", x.name)
			}
		}
	}
	if o.Port < 0 || o.Port > 65535 {
		return cliutil.Exitf(cliutil.ExitUsage, "--port %d: give a port between 1 and 65535 (the redirect URI http://%s:PORT is registered with Twitch, so it cannot be picked at random)", o.Port, o.RedirectHost)
	}
	for _, t := range []struct{ flag, v string }{{"--revoke", o.Revoke}, {"--validate", o.Validate}, {"--refresh", o.Refresh}} {
		if t.v != "" && strings.TrimSpace(t.v) == "" {
			return cliutil.Exitf(cliutil.ExitUsage, "%s needs a token", t.flag)
		}
	}
	if net.ParseIP(o.IP) == nil {
		return cliutil.Exitf(cliutil.ExitUsage, "--ip %q: not an IP address", o.IP)
	}
	if o.RedirectHost == "" || strings.ContainsAny(o.RedirectHost, "/?#@ ") {
		return cliutil.Exitf(cliutil.ExitUsage, "--redirect-host %q: not a host name", o.RedirectHost)
	}
	if o.Timeout <= 0 {
		return cliutil.Exitf(cliutil.ExitUsage, "--timeout must be positive")
	}
	if o.Store != "" && o.NoStore {
		return cliutil.Exitf(cliutil.ExitUsage, "--store and --no-store cannot be combined")
	}
	return o.resolveFor()
}

// scopes returns the requested scopes: those of -s, then those --for
// needs that -s does not name.
func (o *Options) scopes() []string {
	out := strings.FieldsFunc(o.Scopes, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' || r == '\n' })
	for _, s := range o.forScopes {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// env is one run's dependencies and streams.
type env struct {
	ctx    context.Context
	o      *Options
	in     io.Reader
	out    io.Writer
	errOut io.Writer
	f      *cliutil.Factory
	s      config.Settings
	cfg    *twitchauth.Config
}

func (e *env) note(format string, args ...any) {
	fmt.Fprintf(e.errOut, format+"\n", args...)
}

// Run runs `twitchauth token` with the options o. Tokens and results go to
// o.Factory's stdout, everything else to its stderr. The returned error
// carries the exit code (cliutil.ExitError).
func Run(ctx context.Context, o *Options) error {
	f := o.Factory
	if f == nil {
		f = &cliutil.Factory{}
	}
	f.Fill()
	if o.IP == "" {
		o.IP = DefaultIP
	}
	if o.RedirectHost == "" {
		o.RedirectHost = DefaultRedirectHost
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Port == 0 {
		o.Port = DefaultPort // the flag refuses 0
	}
	if err := o.check(); err != nil {
		return err
	}
	s, err := config.Resolve(f.Getenv, config.Overrides{ClientID: o.ClientID, ClientSecret: o.Secret})
	if err != nil {
		return err
	}
	s.SecretFlag = "--secret"
	e := &env{ctx: ctx, o: o, in: f.IO.In, out: f.IO.Out, errOut: f.IO.ErrOut, f: f, s: s, cfg: s.Twitch(f)}
	switch {
	case o.Validate != "":
		return e.validate()
	case o.Revoke != "":
		return e.revoke()
	case o.Refresh != "":
		return e.refresh()
	case o.user():
		return e.userToken()
	default:
		return e.appToken()
	}
}

func (e *env) appToken() error {
	if err := e.s.Require(config.NeedSecret, "an app access token"); err != nil {
		return err
	}
	tok, err := e.cfg.AppToken(e.ctx)
	if err != nil {
		return config.Remote(err)
	}
	if tok.ClientID == "" {
		tok.ClientID = e.cfg.ClientID
	}
	return tokenResult("app", tok, e.f.Now()).write(e.out, e.o.JSON)
}

func (e *env) validate() error {
	info, err := e.cfg.Validate(e.ctx, e.o.Validate)
	if err != nil {
		return config.Remote(err)
	}
	return validateResult(info, e.f.Now()).write(e.out, e.o.JSON)
}

func (e *env) revoke() error {
	if err := e.s.Require(config.NeedClientID, "revoking a token"); err != nil {
		return err
	}
	if err := e.cfg.Revoke(e.ctx, e.o.Revoke); err != nil {
		return config.Remote(err)
	}
	if e.o.JSON {
		return writeJSON(e.out, RevokeResult{Revoked: true, ClientID: e.cfg.ClientID})
	}
	_, err := fmt.Fprintln(e.out, "Token revoked.")
	return err
}

func (e *env) refresh() error {
	if err := e.s.Require(config.NeedClientID, "refreshing a token"); err != nil {
		return err
	}
	tok, err := e.cfg.Refresh(e.ctx, e.o.Refresh)
	if err != nil {
		return config.Remote(err)
	}
	// The refresh token may have rotated (public clients' are single-use):
	// the new one is printed even if learning the user fails.
	if err := e.cfg.Identify(e.ctx, tok); err != nil {
		e.note("warning: the token was refreshed but could not be validated: %v", err)
	}
	e.note("Successfully refreshed Access Token.")
	return tokenResult("refresh", tok, e.f.Now()).write(e.out, e.o.JSON)
}

// userToken answers from the store when it can, and otherwise runs the
// chosen login flow and stores its token.
func (e *env) userToken() error {
	need, what := config.NeedSecret, "a user token (authorization code flow)"
	switch {
	case e.o.DCF:
		need, what = config.NeedClientID, "a user token (device code flow)"
	case e.o.Implicit:
		need, what = config.NeedClientID, "a user token (implicit flow)"
	}
	if err := e.s.Require(need, what); err != nil {
		return err
	}
	scopes := e.o.scopes()

	var c *cache
	if !e.o.NoStore {
		var err error
		if c, err = e.openCache(); err != nil {
			return err
		}
		defer c.close()
		if !e.o.Force && !e.o.ForceVerify {
			tok, err := c.lookup(e, scopes)
			if err != nil {
				return err
			}
			if tok != nil {
				r := tokenResult("user", tok, e.f.Now())
				r.Cached = true
				return r.write(e.out, e.o.JSON)
			}
		}
	}

	var tok *twitchauth.Token
	var err error
	switch {
	case e.o.DCF:
		tok, err = e.deviceFlow(scopes)
	default:
		tok, err = e.browserFlow(scopes)
	}
	if err != nil {
		return err
	}
	if e.o.Login != "" && !strings.EqualFold(tok.Login, e.o.Login) && tok.Login != "" {
		e.note("warning: you logged in as %s, not %s", tok.Login, e.o.Login)
	}

	if c != nil && e.o.Implicit && c.holdsRefreshable(e, tok) {
		// An implicit token cannot be refreshed: it does not replace a
		// stored grant that can.
		e.note("The store keeps the refreshable grant of %s; this implicit-flow token is not stored.", tok.Login)
		c = nil
	}
	var storeErr error
	if c != nil {
		stored, err := c.p.AddUserToken(e.ctx, tok)
		var apiErr *twitchauth.APIError
		var urlErr *url.Error
		switch {
		case err == nil:
			tok = stored
		case errors.As(err, &apiErr) || errors.As(err, &urlErr):
			storeErr = config.Remote(fmt.Errorf("the token could not be validated for storing: %w", err))
		default:
			storeErr = cliutil.Exitf(cliutil.ExitInternal, "the token could not be stored: %v", err)
		}
	} else if tok.UserID == "" {
		if err := e.cfg.Identify(e.ctx, tok); err != nil {
			e.note("warning: could not learn the token's user: %v", err)
		}
	}
	if err := tokenResult("user", tok, e.f.Now()).write(e.out, e.o.JSON); err != nil {
		return err
	}
	return storeErr
}

// timeoutErr is the error of a login that did not complete in time.
func timeoutErr(d time.Duration, what string) error {
	return cliutil.Exitf(cliutil.ExitRefused, "no login within %v: %s (run the command again, or give more time with --timeout)", d, what)
}

// interrupted maps the end of ctx to an exit error.
func (e *env) ended(ctx context.Context, d time.Duration, what string) error {
	if errors.Is(context.Cause(ctx), context.DeadlineExceeded) && e.ctx.Err() == nil {
		return timeoutErr(d, what)
	}
	return cliutil.Exitf(cliutil.ExitInternal, "interrupted: %v", e.ctx.Err())
}
