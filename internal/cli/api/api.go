package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
	"github.com/twitchauth/twitchauth/internal/cli/config"
)

// DefaultPages is how many pages -P follows when no number is given.
const DefaultPages = 10

// DefaultTimeout bounds one Helix request, long enough for the Transport to
// wait out a 429 (a bucket refills within a minute).
const DefaultTimeout = 2 * time.Minute

// Options are the arguments and flags of `twitchauth api METHOD PATH`.
type Options struct {
	// Method is GET, POST, PUT, PATCH or DELETE.
	Method string
	// Path is the Helix path relative to the API base URL ("users",
	// "/moderation/bans", "users?login=twitchdev"). Several elements are
	// joined with "/", as twitch-cli does ("moderation bans").
	Path []string
	// Query are -q key=value pairs, added to any query in Path (a key given
	// several times is sent several times).
	Query []string
	// Body is -b: a JSON document, @FILE, or - (or @-) for stdin.
	Body string

	// User uses the stored user token (from `twitchauth token -u`) instead
	// of the app access token.
	User bool
	// Login picks the stored user when several are stored (with User).
	Login string

	// Paginate follows the "after" cursors (GET only), for at most Pages
	// pages; Pages 0 means until the last page.
	Paginate bool
	Pages    int

	// NoScopeCheck sends the request even when the stored grant lacks the
	// scopes the endpoint needs (by default it is refused before sending;
	// see twitchauth.TransportConfig.NoScopeCheck).
	NoScopeCheck bool

	// JSON prints the JSON answer as one compact line instead of
	// indented (--json; the old --raw).
	JSON bool
	// Verbose prints the request line, the HTTP status and the rate-limit
	// headers on stderr.
	Verbose bool

	ClientID string // overrides the configuration (not saved)
	Secret   string // overrides the configuration (not saved)
	// Store is the token store file (default
	// $XDG_DATA_HOME/twitchauth/tokens.db).
	Store string
	// NoStore gets a fresh app access token instead of the stored one and
	// stores nothing (app token only).
	NoStore bool
	// Timeout bounds each request (default DefaultTimeout).
	Timeout time.Duration

	// Factory gives the streams, environment, clock and HTTP client.
	Factory *cliutil.Factory
}

// NewCmdAPI returns the `api` command and its get, post, put, patch and
// delete subcommands. runF, when not nil, replaces Run (tests of the flags).
func NewCmdAPI(f *cliutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	o := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Call the Twitch API (Helix) with the app token or a stored user token",
		Long: `Call a Helix endpoint and print its JSON answer, like twitch-cli's "twitch api".

PATH is relative to the Helix base URL ("users", "/moderation/bans"); a query
string in PATH is accepted, and -q key=value adds parameters (repeat the flag,
or the key, for several values). -b sends a JSON body: the JSON itself,
@FILE, or - for stdin; it is checked before anything is sent.

The request goes out with the app access token (client credentials, kept in the
token store) unless -u asks for the user token stored by "twitchauth token -u"
(--login NAME picks one when several users are stored). A token Helix refuses
(401) is refreshed once and the request sent again; a 429 waits for the bucket.

The answer goes to stdout, indented (--json: one compact line), also when Helix
refuses the call; --verbose shows the request, status and rate-limit headers on
stderr. Exit codes: 0 for a 2xx answer, 1 when Helix refused the call (4xx; its
message goes to stderr), 2 bad usage or missing configuration, 3 network or a
5xx, 4 local failure.`,
		Example: `  twitchauth api get users -q login=twitchdev
  twitchauth api get streams -q first=100 -P=5
  twitchauth api get users -u
  twitchauth api post moderation/bans -u -q broadcaster_id=1 -q moderator_id=1 \
      -b '{"data":{"user_id":"2","reason":"spam"}}'
  twitchauth api patch channels -u -q broadcaster_id=1 -b @channel.json
  twitchauth api delete moderation/bans -u -q broadcaster_id=1 -q moderator_id=1 -q user_id=2`,
		Args: cobra.ArbitraryArgs,
		RunE: cliutil.Group,
	}
	fl := cmd.PersistentFlags()
	cliutil.StringArrayVarP(fl, &o.Query, "query", "q", nil, "query parameter `KEY=VALUE` (repeatable)")
	cliutil.StringVarP(fl, &o.Body, "body", "b", "", "JSON `BODY`: the JSON itself, @FILE, or - for stdin")
	fl.BoolVarP(&o.User, cliutil.FlagUserToken, "u", false, "use the user token stored by \"twitchauth token -u\" instead of the app token")
	cliutil.Alias(fl, cliutil.FlagUserToken, "user", "")
	cliutil.StringVarP(fl, &o.Login, cliutil.FlagLogin, "", "", "act as the stored user `LOGIN`, when several are stored (with -u)")
	fl.BoolVar(&o.NoScopeCheck, "no-scope-check", false, "send the request even if the user token lacks the scopes the endpoint needs (see twitchauth scopes)")
	cliutil.AddJSONFlag(fl, &o.JSON)
	cliutil.Alias(fl, cliutil.FlagJSON, "raw", "")
	fl.BoolVar(&o.Verbose, cliutil.FlagVerbose, false, "print the request, HTTP status and rate-limit headers on stderr")
	cliutil.Alias(fl, cliutil.FlagVerbose, "", "v")
	cliutil.StringVarP(fl, &o.ClientID, cliutil.FlagClientID, "", "", "client ID to use instead of the configured one (not saved)")
	cliutil.WithEnv(fl, cliutil.FlagClientID, config.EnvClientID)
	cliutil.StringVarP(fl, &o.Secret, cliutil.FlagClientSecret, "", "", "client secret to use instead of the configured one (not saved; visible in the process list: prefer the environment)")
	cliutil.WithEnv(fl, cliutil.FlagClientSecret, config.EnvClientSecret)
	cliutil.Alias(fl, cliutil.FlagClientSecret, "secret", "")
	cliutil.StringVarP(fl, &o.Store, cliutil.FlagStore, "", "", "token store `FILE` (default $XDG_DATA_HOME/twitchauth/tokens.db)")
	fl.BoolVar(&o.NoStore, "no-store", false, "get a new app token for this call and store nothing (app token only)")
	fl.DurationVar(&o.Timeout, cliutil.FlagTimeout, DefaultTimeout, "bound on each request, waits for the rate limit included")

	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		sub := &cobra.Command{
			Use:   strings.ToLower(m) + " PATH",
			Short: "Send a " + m + " request to a Helix endpoint",
			Args:  cliutil.MinArgs("PATH, the Helix endpoint (such as users)"),
			RunE: func(cmd *cobra.Command, args []string) error {
				o.Method, o.Path = m, args
				if fl := cmd.Flags().Lookup("autopaginate"); fl != nil {
					o.Paginate = fl.Changed
				}
				if runF != nil {
					return runF(cmd.Context(), o)
				}
				return Run(cmd.Context(), o)
			},
		}
		if m == http.MethodGet {
			sub.Flags().IntVarP(&o.Pages, "autopaginate", "P", 0,
				fmt.Sprintf("follow the pagination cursors and print the merged data: -P (%d pages), -P=N (N pages), -P=0 (every page)", DefaultPages))
			sub.Flags().Lookup("autopaginate").NoOptDefVal = fmt.Sprint(DefaultPages)
		}
		cmd.AddCommand(sub)
	}
	return cmd
}

// check refuses contradictory or malformed options.
func (o *Options) check() error {
	switch o.Method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return cliutil.Exitf(cliutil.ExitUsage, "method %q: use get, post, put, patch or delete", o.Method)
	}
	if len(o.Path) == 0 {
		return cliutil.Exitf(cliutil.ExitUsage, "no PATH: name the Helix endpoint, such as \"users\"")
	}
	if o.Paginate && o.Method != http.MethodGet {
		return cliutil.Exitf(cliutil.ExitUsage, "--autopaginate only applies to get")
	}
	if o.Paginate && o.Pages < 0 {
		return cliutil.Exitf(cliutil.ExitUsage, "--autopaginate=%d: give a number of pages, or 0 for every page", o.Pages)
	}
	if o.Login != "" && !o.User {
		return cliutil.Exitf(cliutil.ExitUsage, "--login only applies to user tokens: add -u")
	}
	if o.NoStore && (o.User || o.Store != "") {
		return cliutil.Exitf(cliutil.ExitUsage, "--no-store only applies to the app token, without --store: user tokens come from the store")
	}
	if o.Timeout < 0 {
		return cliutil.Exitf(cliutil.ExitUsage, "--timeout must be positive")
	}
	return nil
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
}

func (e *env) note(format string, args ...any) {
	fmt.Fprintf(e.errOut, format+"\n", args...)
}

// Run runs `twitchauth api` with the options o. The JSON answer goes to
// the Factory's stdout; --verbose details, warnings and notes to its
// stderr; its stdin is read for a body of "-". The returned error carries
// the exit code (cliutil.ExitError).
func Run(ctx context.Context, o *Options) error {
	f := o.Factory
	if f == nil {
		f = &cliutil.Factory{}
	}
	f.Fill()
	in, out, errOut := f.IO.In, f.IO.Out, f.IO.ErrOut
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if err := o.check(); err != nil {
		return err
	}
	// Everything the user typed is checked before any configuration,
	// store or network is touched.
	req, err := o.request(in)
	if err != nil {
		return err
	}
	s, err := config.Resolve(f.Getenv, config.Overrides{ClientID: o.ClientID, ClientSecret: o.Secret})
	if err != nil {
		return err
	}
	e := &env{ctx: ctx, o: o, in: in, out: out, errOut: errOut, f: f, s: s}
	if o.User {
		err = s.Require(config.NeedClientID, "a call with a user token")
	} else {
		err = s.Require(config.NeedSecret, "a call with the app access token")
	}
	if err != nil {
		return err
	}
	sess, err := e.open()
	if err != nil {
		return err
	}
	defer sess.close()
	c := newCaller(e, sess)
	if o.Paginate {
		return c.paginate(req)
	}
	return c.single(req)
}
