// Package mock implements `twitchauth mock`: it runs the offline Twitch
// sandbox (package twitchtest: OAuth, Helix, EventSub, the developer
// console) as a process, prints a banner on stderr when ready (with --json,
// one JSON line describing it on stdout), logs to stderr and stops cleanly
// when its context ends (SIGINT/SIGTERM). It owns the command's flags and output only; the sandbox's
// behaviour lives in twitchtest.
package mock

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// DefaultListen is the loopback address the sandbox listens on by default.
const DefaultListen = "127.0.0.1:8090"

// Options are the flags of `twitchauth mock`.
type Options struct {
	Listen            string
	ClientID          string
	ClientSecret      string
	RedirectURIs      []string
	PublicClientID    string
	Users             []string
	AutoApprove       string
	UserTokenLifetime time.Duration
	AppTokenLifetime  time.Duration
	// HelixLimit and HelixWindow are the size of Helix's app and user
	// buckets and the time an empty one takes to refill.
	HelixLimit  int
	HelixWindow time.Duration
	// ViewerLimit and ViewerWindow are the same for each extension
	// viewer's bucket (Helix JWTs).
	ViewerLimit  int
	ViewerWindow time.Duration
	StateFile    string
	// LogLevel and LogFormat shape the logs on stderr.
	LogLevel, LogFormat string
	// JSON prints the ready line on stdout.
	JSON bool

	// Factory gives the streams.
	Factory *cliutil.Factory
}

// NewCmdMock returns the `mock` command. runF, when not nil, replaces Run
// (tests of the flags).
func NewCmdMock(f *cliutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	o := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "mock",
		Short: "Run the offline Twitch sandbox: OAuth, Helix, EventSub and the developer console",
		Long: `Run the offline Twitch sandbox on a loopback address: the identity service
(id.twitch.tv/oauth2), a Helix subset with rate limits, EventSub webhooks, the
developer console and a user's Connections page.

When ready it prints a banner on stderr (URLs, clients with their secrets,
users). With --json it also prints one JSON line on stdout, for scripts:
  {"url":…,"id_url":"http://127.0.0.1:8090/oauth2","api_url":"http://127.0.0.1:8090/helix",
   "console_url":"http://127.0.0.1:8090/console/",
   "clients":[{"id":…,"secret":…,"type":"confidential","redirect_uris":[…],"name":…},…],
   "users":[{"id":…,"login":…},…]}
Point a client's identity base URL at id_url. Logs go to stderr and never
contain secrets (the banner shows the secrets the sandbox made up, not one
given with --client-secret). Stop it with Ctrl-C (SIGINT) or SIGTERM.

console_url is the sandbox's developer console: sign in as a sandbox user to
register applications (name, OAuth redirect URLs, category, client type),
rotate client secrets and create extensions, as on dev.twitch.tv/console.
Its apps are the sandbox's clients and persist with --state-file.

The sandbox also serves EventSub webhook subscriptions
(/helix/eventsub/subscriptions, loopback callbacks) and a user's Connections
page (/settings/connections): disconnecting an app there revokes its tokens
and delivers user.authorization.revoke.

Without flags it creates a confidential client (redirect http://localhost:3000),
a public client (same redirect; device code flow, as on Twitch its code
exchange is refused), an extension client and the users twitchdev,
broadcaster, moderator and viewer, with random IDs and secrets.

Rate limits: Helix answers 429 {"error":"Too Many Requests",...} when the
caller's bucket is empty: the app bucket of a client (app tokens), the bucket
of each user of a client (user tokens), each extension viewer's (Helix JWTs).
Buckets refill continuously; every answer carries Ratelimit-Limit,
Ratelimit-Remaining and Ratelimit-Reset. To rehearse a 429:
  - shrink the bucket: --helix-limit 5 --helix-window 1m, then send six
    requests with one token within the minute; or
  - hold a bucket empty until its reset (one window), without timing:
      curl -s -X POST http://127.0.0.1:8090/_sandbox/ratelimit/exhaust \
        -d '{"client_id":"<id>","user_id":"<user id>"}'
    (no user_id: the app bucket; "opaque_user_id" instead: an extension
    viewer's). Loopback callers only; it answers the bucket's limit and reset.`,
		Args: cliutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return Run(cmd.Context(), o)
		},
	}
	fs := cmd.Flags()
	cliutil.StringVarP(fs, &o.Listen, cliutil.FlagListen, "", DefaultListen, "listen `ADDRESS` (host:port; port 0 picks a free port)")
	cliutil.Alias(fs, cliutil.FlagListen, "addr", "")
	cliutil.StringVarP(fs, &o.ClientID, cliutil.FlagClientID, "", "", "`ID` of the confidential client (random if not given)")
	cliutil.StringVarP(fs, &o.ClientSecret, cliutil.FlagClientSecret, "", "", "`SECRET` of the confidential client (random if not given)")
	cliutil.StringArrayVarP(fs, &o.RedirectURIs, "redirect-uri", "", nil, "redirect `URI` of the confidential client (repeatable; default http://localhost:3000)")
	cliutil.StringVarP(fs, &o.PublicClientID, "public-client-id", "", "", "`ID` of the public client (random if not given)")
	cliutil.StringArrayVarP(fs, &o.Users, "user", "", nil, "sandbox user `LOGIN` (repeatable; default twitchdev, broadcaster, moderator, viewer)")
	cliutil.StringVarP(fs, &o.AutoApprove, "auto-approve", "", "", "act as if `LOGIN` is signed in and consents to everything (authorize and device codes approve at once)")
	fs.DurationVar(&o.UserTokenLifetime, "user-token-lifetime", twitchtest.DefaultUserTokenLifetime, "lifetime of user access tokens")
	cliutil.Alias(fs, "user-token-lifetime", "token-lifetime", "")
	fs.DurationVar(&o.AppTokenLifetime, "app-token-lifetime", twitchtest.DefaultAppTokenLifetime, "lifetime of app access tokens")
	fs.IntVar(&o.HelixLimit, "helix-limit", twitchtest.DefaultHelixRatePoints, "points in each Helix app and user bucket (Twitch: 800)")
	fs.DurationVar(&o.HelixWindow, "helix-window", twitchtest.DefaultRatePeriod, "time an empty Helix app or user bucket takes to refill")
	fs.IntVar(&o.ViewerLimit, "viewer-limit", twitchtest.DefaultExtensionViewerRatePoints, "Helix requests per window per extension viewer (Twitch: 30)")
	fs.DurationVar(&o.ViewerWindow, "viewer-window", twitchtest.DefaultRatePeriod, "time an extension viewer's empty Helix bucket takes to refill")
	cliutil.StringVarP(fs, &o.StateFile, "state-file", "", "", "persist clients, users, grants and tokens to this JSON `FILE` (mode 0600)")
	cliutil.AddLogFlags(fs, &o.LogLevel, &o.LogFormat)
	cliutil.AliasFor(fs, "verbose", "v", cliutil.FlagLogLevel, "debug")
	cliutil.AddJSONFlag(fs, &o.JSON)
	fs.Lookup(cliutil.FlagJSON).Usage = "also print the ready line (URLs, clients, users) as one JSON object on stdout"
	return cmd
}

// loginRE is Twitch's login syntax.
var loginRE = lazyRegexp(`^[a-z0-9_]{1,25}$`)

// ReadyClient is a client as the ready line lists it.
type ReadyClient struct {
	ID           string   `json:"id"`
	Secret       string   `json:"secret,omitempty"`
	Type         string   `json:"type"`
	RedirectURIs []string `json:"redirect_uris"`
	Name         string   `json:"name"`
}

// ReadyUser is a user as the ready line lists it.
type ReadyUser struct {
	ID    string `json:"id"`
	Login string `json:"login"`
}

// Ready is the JSON line printed on stdout once the sandbox listens.
type Ready struct {
	URL         string        `json:"url"`
	IDURL       string        `json:"id_url"`
	APIURL      string        `json:"api_url"`
	ConsoleURL  string        `json:"console_url"`
	Clients     []ReadyClient `json:"clients"`
	Users       []ReadyUser   `json:"users"`
	AutoApprove string        `json:"auto_approve,omitempty"`
}

// Run starts the sandbox, prints the banner (and with JSON the ready
// line) and serves until ctx ends.
func Run(ctx context.Context, o *Options) error {
	f := o.Factory
	if f == nil {
		f = &cliutil.Factory{}
	}
	f.Fill()
	stdout, stderr := f.IO.Out, f.IO.ErrOut
	if o.Listen == "" {
		o.Listen = DefaultListen
	}
	log, err := cliutil.NewLogger(stderr, cmp.Or(o.LogLevel, "info"), cmp.Or(o.LogFormat, "text"))
	if err != nil {
		return err
	}
	opts, err := o.serverOptions(log)
	if err != nil {
		return cliutil.Exit(cliutil.ExitUsage, err)
	}
	s, err := twitchtest.New(opts...)
	if err != nil {
		return cliutil.Exit(cliutil.ExitUsage, err)
	}
	l, err := cliutil.Listen(ctx, f, o.Listen, cliutil.FlagListen)
	if err != nil {
		s.Close()
		return err
	}
	if err := s.Serve(l); err != nil {
		s.Close()
		return cliutil.Exit(cliutil.ExitInternal, err)
	}
	ready := Ready{URL: s.URL(), IDURL: s.IDURL(), APIURL: s.APIURL(), ConsoleURL: s.ConsoleURL(), AutoApprove: o.AutoApprove}
	for _, c := range s.Clients() {
		ru := c.RedirectURIs
		if ru == nil {
			ru = []string{}
		}
		ready.Clients = append(ready.Clients, ReadyClient{ID: c.ID, Secret: c.Secret, Type: string(c.Type), RedirectURIs: ru, Name: c.Name})
	}
	for _, u := range s.Users() {
		ready.Users = append(ready.Users, ReadyUser{ID: u.ID, Login: u.Login})
	}
	// The banner comes first: whoever sees the ready line finds it on stderr.
	if _, err := io.WriteString(stderr, banner(ready, o, s.ConnectionsURL())); err != nil {
		s.Close()
		return cliutil.Exit(cliutil.ExitInternal, err)
	}
	if o.JSON {
		if err := cliutil.WriteJSON(stdout, ready); err != nil {
			s.Close()
			return cliutil.Exit(cliutil.ExitInternal, fmt.Errorf("write ready line: %w", err))
		}
	}
	<-ctx.Done()
	log.Info("stopping sandbox")
	if err := s.Close(); err != nil {
		return cliutil.Exit(cliutil.ExitInternal, err)
	}
	return nil
}

// banner describes the running sandbox for a person: URLs, clients (with
// their secrets: the sandbox's are throwaway), users and the rate limits.
func banner(r Ready, o *Options, connections string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "twitchauth mock: Twitch sandbox at %s\n", r.URL)
	fmt.Fprintf(&b, "  identity (id_url)  %s\n  Helix (api_url)    %s\n", r.IDURL, r.APIURL)
	fmt.Fprintf(&b, "  developer console  %s (sign in as a sandbox user to register apps and rotate secrets)\n", r.ConsoleURL)
	fmt.Fprintf(&b, "  connections        %s (disconnect an app: EventSub user.authorization.revoke)\n", connections)
	for _, c := range r.Clients {
		line := fmt.Sprintf("  client %-12s %s", c.Type, c.ID)
		switch {
		case c.Secret != "" && c.ID == o.ClientID && o.ClientSecret != "":
			line += " secret (as given with --client-secret)"
		case c.Secret != "":
			line += " secret " + c.Secret
		}
		if len(c.RedirectURIs) > 0 {
			line += " redirect " + strings.Join(c.RedirectURIs, " ")
		}
		b.WriteString(line + " (" + c.Name + ")\n")
	}
	var users []string
	for _, u := range r.Users {
		users = append(users, u.Login+" ("+u.ID+")")
	}
	fmt.Fprintf(&b, "  users              %s\n", strings.Join(users, ", "))
	if r.AutoApprove != "" {
		fmt.Fprintf(&b, "  auto-approve       %s (every consent and device code is approved at once)\n", r.AutoApprove)
	}
	fmt.Fprintf(&b, "  Helix buckets      %d points per %v (app, user), %d per %v (extension viewer); see --help to trigger a 429\n",
		o.HelixLimit, o.HelixWindow, o.ViewerLimit, o.ViewerWindow)
	b.WriteString("Use it: twitchauth configure --id-url " + r.IDURL + " --api-url " + r.APIURL + " (--json prints this as one JSON line on stdout)\n")
	return b.String()
}

func (o *Options) serverOptions(log *slog.Logger) ([]twitchtest.Option, error) {
	if o.UserTokenLifetime <= 0 || o.AppTokenLifetime <= 0 {
		return nil, errors.New("--user-token-lifetime and --app-token-lifetime must be positive")
	}
	if o.HelixLimit <= 0 || o.HelixWindow <= 0 {
		return nil, fmt.Errorf("--helix-limit (%d) and --helix-window (%v) must be positive (Twitch: 800 points per 1m)", o.HelixLimit, o.HelixWindow)
	}
	if o.ViewerLimit <= 0 || o.ViewerWindow <= 0 {
		return nil, fmt.Errorf("--viewer-limit (%d) and --viewer-window (%v) must be positive (Twitch: 30 per 1m)", o.ViewerLimit, o.ViewerWindow)
	}
	opts := []twitchtest.Option{
		twitchtest.WithLogger(log),
		twitchtest.WithUserTokenLifetime(o.UserTokenLifetime),
		twitchtest.WithAppTokenLifetime(o.AppTokenLifetime),
		twitchtest.WithHelixRateLimit(o.HelixLimit, o.HelixWindow),
		twitchtest.WithExtensionViewerRateLimit(o.ViewerLimit, o.ViewerWindow),
	}
	if o.ClientID != "" || o.ClientSecret != "" || len(o.RedirectURIs) > 0 {
		ru := o.RedirectURIs
		if len(ru) == 0 {
			ru = []string{"http://localhost:3000"}
		}
		opts = append(opts, twitchtest.WithClient(twitchtest.Client{ID: o.ClientID, Secret: o.ClientSecret, Name: "Sandbox App", Type: twitchtest.Confidential, RedirectURIs: ru}))
	}
	if o.PublicClientID != "" {
		opts = append(opts, twitchtest.WithClient(twitchtest.Client{ID: o.PublicClientID, Name: "Sandbox Public App", Type: twitchtest.Public, RedirectURIs: []string{"http://localhost:3000"}}))
	}
	for _, login := range o.Users {
		if !loginRE().MatchString(login) {
			return nil, fmt.Errorf("--user %q: a Twitch login is 1-25 lowercase letters, digits or underscores", login)
		}
		opts = append(opts, twitchtest.WithUser(twitchtest.User{Login: login}))
	}
	if o.AutoApprove != "" {
		opts = append(opts, twitchtest.WithAutoApprove(o.AutoApprove))
	}
	if o.StateFile != "" {
		opts = append(opts, twitchtest.WithStateFile(o.StateFile))
	}
	return opts, nil
}
