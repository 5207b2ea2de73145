// Package mock implements `twitchauth mock`: it runs the offline Twitch
// identity sandbox (package twitchtest) as a process, prints one JSON line
// describing it on stdout when ready, logs to stderr and stops cleanly on
// SIGINT/SIGTERM. It owns the command's flags and output only; the sandbox's
// behaviour lives in twitchtest.
package mock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"regexp"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// DefaultAddr is the loopback address the sandbox listens on by default.
const DefaultAddr = "127.0.0.1:8090"

// Options are the flags of `twitchauth mock`.
type Options struct {
	Addr             string
	ClientID         string
	ClientSecret     string
	RedirectURIs     []string
	PublicClientID   string
	Users            []string
	AutoApprove      string
	TokenLifetime    time.Duration
	AppTokenLifetime time.Duration
	// HelixLimit and HelixWindow are the size of Helix's app and user
	// buckets and the time an empty one takes to refill.
	HelixLimit  int
	HelixWindow time.Duration
	// ViewerLimit and ViewerWindow are the same for each extension
	// viewer's bucket (Helix JWTs).
	ViewerLimit  int
	ViewerWindow time.Duration
	StateFile    string
	Verbose      bool

	Stdout io.Writer // the ready line
	Stderr io.Writer // logs
}

// NewCommand returns the `mock` command.
func NewCommand(stdout, stderr io.Writer) *cobra.Command {
	o := &Options{Stdout: stdout, Stderr: stderr}
	cmd := &cobra.Command{
		Use:   "mock",
		Short: "Run the offline Twitch identity sandbox (id.twitch.tv/oauth2 look-alike)",
		Long: `Run the offline Twitch identity sandbox on a loopback address.

When ready it prints one JSON line on stdout:
  {"url":…,"id_url":"http://127.0.0.1:8090/oauth2","api_url":"http://127.0.0.1:8090/helix",
   "console_url":"http://127.0.0.1:8090/console/",
   "clients":[{"id":…,"secret":…,"type":"confidential","redirect_uris":[…],"name":…},…],
   "users":[{"id":…,"login":…},…]}
Point a client's identity base URL at id_url. Logs go to stderr and never
contain secrets. Stop it with Ctrl-C (SIGINT) or SIGTERM.

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
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return Run(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Addr, "addr", DefaultAddr, "listen address (host:port; port 0 picks a free port)")
	f.StringVar(&o.ClientID, "client-id", "", "ID of the confidential client (random if empty)")
	f.StringVar(&o.ClientSecret, "client-secret", "", "secret of the confidential client (random if empty)")
	f.StringArrayVar(&o.RedirectURIs, "redirect-uri", nil, "redirect URI of the confidential client (repeatable; default http://localhost:3000)")
	f.StringVar(&o.PublicClientID, "public-client-id", "", "ID of the public client (random if empty)")
	f.StringArrayVar(&o.Users, "user", nil, "sandbox user login (repeatable; default twitchdev, broadcaster, moderator, viewer)")
	f.StringVar(&o.AutoApprove, "auto-approve", "", "act as if LOGIN is signed in and consents to everything (authorize and device codes approve at once)")
	f.DurationVar(&o.TokenLifetime, "token-lifetime", twitchtest.DefaultUserTokenLifetime, "lifetime of user access tokens")
	f.DurationVar(&o.AppTokenLifetime, "app-token-lifetime", twitchtest.DefaultAppTokenLifetime, "lifetime of app access tokens")
	f.IntVar(&o.HelixLimit, "helix-limit", twitchtest.DefaultHelixRatePoints, "points in each Helix app and user bucket (Twitch: 800)")
	f.DurationVar(&o.HelixWindow, "helix-window", twitchtest.DefaultRatePeriod, "time an empty Helix app or user bucket takes to refill")
	f.IntVar(&o.ViewerLimit, "viewer-limit", twitchtest.DefaultExtensionViewerRatePoints, "Helix requests per window per extension viewer (Twitch: 30)")
	f.DurationVar(&o.ViewerWindow, "viewer-window", twitchtest.DefaultRatePeriod, "time an extension viewer's empty Helix bucket takes to refill")
	f.StringVar(&o.StateFile, "state-file", "", "persist clients, users, grants and tokens to this JSON file (mode 0600)")
	f.BoolVarP(&o.Verbose, "verbose", "v", false, "log every issued token event (debug level)")
	return cmd
}

// loginRE is Twitch's login syntax.
var loginRE = regexp.MustCompile(`^[a-z0-9_]{1,25}$`)

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

// Run starts the sandbox, prints the ready line and serves until ctx ends.
func Run(ctx context.Context, o *Options) error {
	stdout, stderr := o.Stdout, o.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	level := slog.LevelInfo
	if o.Verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	opts, err := o.serverOptions(log)
	if err != nil {
		return cliutil.Exit(cliutil.ExitUsage, err)
	}
	s, err := twitchtest.New(opts...)
	if err != nil {
		return cliutil.Exit(cliutil.ExitUsage, err)
	}
	if err := s.Listen(o.Addr); err != nil {
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
	line, err := json.Marshal(ready)
	if err != nil {
		s.Close()
		return cliutil.Exit(cliutil.ExitInternal, err)
	}
	// The banner comes first: whoever sees the ready line finds it on stderr.
	fmt.Fprintf(stderr, "twitchauth mock: Twitch sandbox at %s (id_url %s, api_url %s)\n"+
		"twitchauth mock: developer console at %s: sign in as a sandbox user to register apps and rotate secrets\n"+
		"twitchauth mock: Helix buckets %d points per %v (app, user), %d per %v (extension viewer); see --help to trigger a 429\n"+
		"twitchauth mock: a user's connections at %s: disconnect an app (EventSub user.authorization.revoke)\n",
		ready.URL, ready.IDURL, ready.APIURL, ready.ConsoleURL, o.HelixLimit, o.HelixWindow, o.ViewerLimit, o.ViewerWindow, s.ConnectionsURL())
	if _, err := fmt.Fprintf(stdout, "%s\n", line); err != nil {
		s.Close()
		return cliutil.Exit(cliutil.ExitInternal, fmt.Errorf("write ready line: %w", err))
	}
	<-ctx.Done()
	log.Info("stopping sandbox")
	if err := s.Close(); err != nil {
		return cliutil.Exit(cliutil.ExitInternal, err)
	}
	return nil
}

func (o *Options) serverOptions(log *slog.Logger) ([]twitchtest.Option, error) {
	if o.TokenLifetime <= 0 || o.AppTokenLifetime <= 0 {
		return nil, errors.New("--token-lifetime and --app-token-lifetime must be positive")
	}
	if o.HelixLimit <= 0 || o.HelixWindow <= 0 {
		return nil, fmt.Errorf("--helix-limit (%d) and --helix-window (%v) must be positive (Twitch: 800 points per 1m)", o.HelixLimit, o.HelixWindow)
	}
	if o.ViewerLimit <= 0 || o.ViewerWindow <= 0 {
		return nil, fmt.Errorf("--viewer-limit (%d) and --viewer-window (%v) must be positive (Twitch: 30 per 1m)", o.ViewerLimit, o.ViewerWindow)
	}
	opts := []twitchtest.Option{
		twitchtest.WithLogger(log),
		twitchtest.WithUserTokenLifetime(o.TokenLifetime),
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
		if !loginRE.MatchString(login) {
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
