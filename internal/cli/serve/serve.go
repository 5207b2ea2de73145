// Package serve implements `twitchauth serve`: it configures and runs the
// token broker (package broker) from flags, environment and a configuration
// file, opens the token store, and in --sandbox mode starts the offline
// Twitch sandbox (package twitchtest) in the same process. `serve keys`
// manages the broker's API keys. It owns the command's configuration and
// output only; the server's behaviour lives in package broker.
//
// Files: serve.go is the command and its Options; config.go the settings
// table (flags, environment, file, help) and their resolution; run.go Run,
// the HTTP server and the reload on SIGHUP; openstore.go the store factory;
// extension.go the example extension route (GET /ext/hello); sandbox.go the
// --sandbox demo wiring (sandbox, rig, example extension backend); keys.go
// and storecmd.go the keys and store subcommands.
package serve

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/twitchauth/twitchauth/broker"
	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// Options are the inputs of `twitchauth serve`.
type Options struct {
	// ConfigPath is the configuration file (--config); empty means none.
	ConfigPath string
	// Flags are the settings given as flags, by configuration key.
	Flags map[string][]string
	// Sandbox starts the offline sandbox and wires the broker to it.
	Sandbox bool
	// SandboxListen is the sandbox's listen address (default 127.0.0.1:0).
	SandboxListen string
	// RigDir is the extension front-end folder the rig serves under
	// /sandbox/rig/ in --sandbox mode (default: the example extension).
	RigDir string
	// Reload, when not nil, receives a value for each configuration reload
	// request (SIGHUP): the API keys are read again, the audit log is
	// reopened and the client secret is read again.
	Reload <-chan struct{}
	// JSON prints a ready line (URLs, the sandbox's admin key) on stdout.
	JSON bool
	// Factory gives the streams, the environment and the temporary
	// directory. Getenv, Stdout and Stderr, when set, replace its own.
	Factory *cliutil.Factory
	// Getenv reads the environment (default: the Factory's).
	Getenv func(string) string
	// Stdout and Stderr receive the ready line, and the start banner and
	// the logs (default: the Factory's).
	Stdout, Stderr io.Writer

	// ready, when set, is called once the broker listens (tests).
	ready func(Info)
	// minInterval, when set, replaces the 1m floor of --validation-interval
	// (tests of validation rounds).
	minInterval time.Duration
	// noValidationClaims makes every replica validate every token (tests
	// comparing with the fleet's shared validation).
	noValidationClaims bool
}

// Info describes a running broker (tests).
type Info struct {
	URL      string
	AdminKey string // sandbox mode only
	Sandbox  *twitchtest.Server
	Broker   *broker.Broker
	RigURL   string // sandbox mode only
}

// NewCmdServe returns the `serve` command and its keys and store
// subcommands. runF, when not nil, replaces Run (tests of the flags).
func NewCmdServe(f *cliutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	o := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the token broker: web sign-in, token API, Helix proxy (try --sandbox)",
		Long: `Run the twitchauth token broker.

Users connect their Twitch account on its web pages; internal services get
fresh tokens from its JSON API with an API key; the broker refreshes and
validates every token (hourly, as Twitch requires) and never gives out a
refresh token.

Try it without a Twitch account:

  twitchauth serve --sandbox

Configuration comes from flags, then environment variables, then the
configuration file (--config, one JSON object), then defaults. The banner
and the logs go to stderr; --json also prints a ready line on stdout.
See docs/broker.md. API keys: twitchauth serve keys --help. Unreadable
records in the token store: twitchauth serve store --help.`,
		Args: cliutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Flags = map[string][]string{}
			for _, s := range settings {
				if s.flag == "" || !cmd.Flags().Changed(s.flag) {
					continue
				}
				if s.list {
					v, _ := cmd.Flags().GetStringArray(s.flag)
					o.Flags[s.key] = v
				} else {
					o.Flags[s.key] = []string{cmd.Flags().Lookup(s.flag).Value.String()}
				}
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			ctx := cmd.Context()
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			reload := make(chan struct{}, 1)
			go func() {
				for range hup {
					select {
					case reload <- struct{}{}:
					default:
					}
				}
			}()
			o.Reload = reload
			return Run(ctx, o)
		},
	}
	fs := cmd.Flags()
	for _, s := range settings {
		if s.flag == "" {
			continue
		}
		switch {
		case s.list:
			var l []string
			cliutil.StringArrayVarP(fs, &l, s.flag, "", nil, s.help)
		case s.duration:
			d, err := time.ParseDuration(s.def)
			if err != nil {
				panic(s.key + ": " + err.Error())
			}
			fs.Duration(s.flag, d, s.help)
		default:
			var v string
			cliutil.StringVarP(fs, &v, s.flag, "", s.def, s.help)
		}
		cliutil.WithEnv(fs, s.flag, s.env)
	}
	cliutil.StringVarP(fs, &o.ConfigPath, "config", "", "", "configuration `FILE` (one JSON object; see docs/broker.md)")
	fs.BoolVar(&o.Sandbox, "sandbox", false, "start the offline Twitch sandbox in this process and use it (no Twitch account needed)")
	cliutil.StringVarP(fs, &o.SandboxListen, cliutil.FlagSandboxListen, "", "127.0.0.1:0", "the sandbox's listen `ADDRESS` in --sandbox mode")
	cliutil.StringVarP(fs, &o.RigDir, "rig-dir", "", "", "in --sandbox mode, the extension front-end `FOLDER` served by the rig at /sandbox/rig/ (default: the example extension)")
	cliutil.AddJSONFlag(fs, &o.JSON)
	fs.Lookup(cliutil.FlagJSON).Usage = "also print a ready line (URLs; in --sandbox mode the admin key) as one JSON object on stdout"
	cmd.AddCommand(NewCmdKeys(f, KeysRunFuncs{}), NewCmdStore(f, StoreRunFuncs{}))
	return cmd
}

// Ready is the line --json prints once the broker listens.
type Ready struct {
	URL         string `json:"url"`
	RedirectURI string `json:"redirect_uri"`
	AdminKey    string `json:"admin_key,omitempty"`
	SandboxURL  string `json:"sandbox_url,omitempty"`
	ConsoleURL  string `json:"console_url,omitempty"`
	RigURL      string `json:"rig_url,omitempty"`
}

// fill takes what o does not set from its Factory.
func (o *Options) fill() *cliutil.Factory {
	if o.Factory == nil {
		o.Factory = &cliutil.Factory{}
	}
	f := o.Factory.Fill()
	if o.Getenv == nil {
		o.Getenv = f.Getenv
	}
	if o.Stdout == nil {
		o.Stdout = f.IO.Out
	}
	if o.Stderr == nil {
		o.Stderr = f.IO.ErrOut
	}
	return f
}
