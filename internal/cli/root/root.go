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

// NewCmdRoot returns the root command with every subcommand on f.
func NewCmdRoot(f *cliutil.Factory) *cobra.Command {
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
	// Subcommands (one line each; keep this list sorted).
	cmd.AddCommand(api.NewCmdAPI(f, nil))
	cmd.AddCommand(configure.NewCmdConfigure(f, nil))
	cmd.AddCommand(extension.NewCmdExtension(f))
	cmd.AddCommand(mock.NewCmdMock(f, nil))
	cmd.AddCommand(rig.NewCmdRig(f, nil))
	cmd.AddCommand(scopes.NewCmdScopes(f, nil))
	cmd.AddCommand(serve.NewCmdServe(f, nil))
	cmd.AddCommand(token.NewCmdToken(f, nil))
	return cmd
}

// Run runs the command line args on f and returns the process exit code.
// The error, if any, is printed on f's stderr.
func Run(ctx context.Context, f *cliutil.Factory, args []string) int {
	cmd := NewCmdRoot(f)
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
