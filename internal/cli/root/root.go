// Package root assembles the twitchauth command tree. Each command lives in
// its own folder under internal/cli as an Options struct and a run function;
// this package only wires them together and maps errors to exit codes.
package root

import (
	"errors"
	"fmt"
	"io"
	"os"

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

// New returns the root command. Subcommands are added here, one line each.
func New(version string, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:           "twitchauth",
		Short:         "Get and keep Twitch tokens: CLI, broker and offline sandbox",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	// Subcommands (one line each; keep this list sorted).
	cmd.AddCommand(api.NewCommand(stdout, stderr))
	cmd.AddCommand(configure.NewCommand(stdout, stderr))
	cmd.AddCommand(extension.NewCommand(stdout, stderr))
	cmd.AddCommand(mock.NewCommand(stdout, stderr))
	cmd.AddCommand(rig.NewCommand(stdout, stderr))
	cmd.AddCommand(scopes.NewCommand(stdout, stderr))
	cmd.AddCommand(serve.NewCommand(stdout, stderr))
	cmd.AddCommand(token.NewCommand(stdout, stderr))
	return cmd
}

// Main runs the command line and returns the process exit code.
func Main(version string, args []string) int {
	cmd := New(version, os.Stdout, os.Stderr)
	cmd.SetArgs(args)
	err := cmd.Execute()
	if err == nil {
		return cliutil.ExitOK
	}
	fmt.Fprintln(os.Stderr, "error:", err)
	var ee *cliutil.ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return cliutil.ExitUsage
}
