// Package root assembles the twitchauth command tree. Each command lives in
// its own folder under internal/cli as NewCmdX(f, runF), an Options struct
// and a run function (gh's pattern); this package builds the one Factory,
// wires the commands to it, sets the grammar every command shares (flag
// errors, deprecated spellings, unknown commands) and maps errors to exit
// codes.
package root

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/twitchauth/twitchauth/internal/cli/api"
	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
	"github.com/twitchauth/twitchauth/internal/cli/configure"
	"github.com/twitchauth/twitchauth/internal/cli/extension"
	"github.com/twitchauth/twitchauth/internal/cli/mock"
	"github.com/twitchauth/twitchauth/internal/cli/rig"
	"github.com/twitchauth/twitchauth/internal/cli/scopes"
	"github.com/twitchauth/twitchauth/internal/cli/serve"
	"github.com/twitchauth/twitchauth/internal/cli/token"
)

// subcommand is one of the root's commands: its name and one-line
// description, which the root's help lists without building it, and its
// constructor.
type subcommand struct {
	name, short string
	build       func(*cliutil.Factory) *cobra.Command
}

// subcommands are the root's commands (keep this list sorted). Each short
// description must be the command's own Short: TestSubcommandsTable checks
// it.
var subcommands = []subcommand{
	{"api", "Call the Twitch API (Helix) with the app token or a stored user token",
		func(f *cliutil.Factory) *cobra.Command { return api.NewCmdAPI(f, nil) }},
	{"configure", "Save the application's client ID and secret (or show them with --show)",
		func(f *cliutil.Factory) *cobra.Command { return configure.NewCmdConfigure(f, nil) }},
	{"extension", "Mint and verify Twitch extension JWTs",
		extension.NewCmdExtension},
	{"mock", "Run the offline Twitch sandbox: OAuth, Helix, EventSub and the developer console",
		func(f *cliutil.Factory) *cobra.Command { return mock.NewCmdMock(f, nil) }},
	{"rig", "Run an extension's front end in a local Twitch channel page (offline)",
		func(f *cliutil.Factory) *cobra.Command { return rig.NewCmdRig(f, nil) }},
	{"scopes", "Show which token and scopes Helix endpoints and EventSub types need",
		func(f *cliutil.Factory) *cobra.Command { return scopes.NewCmdScopes(f, nil) }},
	{"serve", "Run the token broker: web sign-in, token API, Helix proxy (try --sandbox)",
		func(f *cliutil.Factory) *cobra.Command { return serve.NewCmdServe(f, nil) }},
	{"token", "Get, validate, refresh or revoke Twitch tokens (twitch-cli compatible flags)",
		func(f *cliutil.Factory) *cobra.Command { return token.NewCmdToken(f, nil) }},
}

// allCommands asks newCmdRoot to build every subcommand.
const allCommands = "*"

// annotationPlaceholder marks a subcommand that was not built: it has the
// name and description of the real one, for the root's help and its
// suggestions, and nothing else.
const annotationPlaceholder = "twitchauth:placeholder"

// NewCmdRoot returns the root command with every subcommand on f.
func NewCmdRoot(f *cliutil.Factory) *cobra.Command {
	return newCmdRoot(f, allCommands)
}

// newCmdRoot returns the root command with the subcommand named build (or
// all of them for allCommands) built on f and the others as placeholders.
// Building a command defines all its flags and subcommands; `twitchauth
// --help` or `token -v` need one command at most, so the others are not
// built (issue 21, item 5c: building the whole tree was 60% of the work
// after the package initialisers; TestHelpBuildsNoCommand guards it).
func newCmdRoot(f *cliutil.Factory, build string) *cobra.Command {
	f.Fill()
	cmd := &cobra.Command{
		Use:           "twitchauth",
		Short:         "Get and keep Twitch tokens: CLI, broker and offline sandbox",
		Version:       f.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.ArbitraryArgs,
		RunE:          cliutil.Group,
		PersistentPreRun: func(c *cobra.Command, _ []string) {
			cliutil.Notices(c, f.IO.ErrOut)
		},
	}
	cmd.SetIn(f.IO.In)
	cmd.SetOut(f.IO.Out)
	cmd.SetErr(f.IO.ErrOut)
	cmd.SetFlagErrorFunc(cliutil.FlagError)
	// --version only: -v is token's --validate (twitch-cli); the old -v
	// still works, with a notice.
	cmd.Flags().Bool("version", false, "print the version and exit")
	cliutil.Alias(cmd.Flags(), "version", "", "v")
	for _, s := range subcommands {
		if build == allCommands || build == s.name {
			cmd.AddCommand(s.build(f))
			continue
		}
		cmd.AddCommand(&cobra.Command{
			Use: s.name, Short: s.short, Annotations: map[string]string{annotationPlaceholder: "true"},
			RunE: func(*cobra.Command, []string) error {
				return cliutil.Exitf(cliutil.ExitInternal, "internal error: twitchauth %s was not built", s.name)
			},
		})
	}
	return cmd
}

// commandFor returns the subcommand that args run, by name, or
// allCommands when it takes the whole tree (help TOPIC, completion) or
// cannot be told by a plain reading. The root's flags take no value, so
// the first argument that is not a flag names the command; "" means none
// (the root's own help or version, an unknown command).
func commandFor(args []string) string {
	for _, a := range args {
		switch {
		case a == "--":
			return allCommands
		case strings.HasPrefix(a, "-"):
			continue
		}
		for _, s := range subcommands {
			if a == s.name {
				return a
			}
		}
		if a == "help" || a == "completion" || strings.HasPrefix(a, "__") {
			return allCommands
		}
		return ""
	}
	return ""
}

// Run runs the command line args on f and returns the process exit code.
// The error, if any, is printed on f's stderr.
func Run(ctx context.Context, f *cliutil.Factory, args []string) int {
	cmd := newCmdRoot(f, commandFor(args))
	if c, _, err := cmd.Find(args); err == nil && c.Annotations[annotationPlaceholder] != "" {
		cmd = NewCmdRoot(f) // a reading commandFor did not foresee: build them all
	}
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if v := cmd.Flags().Lookup("v"); v != nil && v.Changed {
		// --version stops cobra before the hooks that print notices.
		fmt.Fprintln(f.IO.ErrOut, "warning: -v is deprecated and will be removed: use --version")
	}
	if err == nil {
		return cliutil.ExitOK
	}
	fmt.Fprintln(f.IO.ErrOut, "error:", err)
	var ee *cliutil.ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return cliutil.ExitUsage
}

// Main runs the real program: the system's Factory, stopped by SIGINT or
// SIGTERM (each command then ends cleanly).
func Main(version string, args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, cliutil.System(version), args)
}
