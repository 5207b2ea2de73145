package root_test

import (
	"context"
	"testing"

	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
	"github.com/twitchauth/twitchauth/internal/cli/root"
)

// startAllocBudget bounds the heap allocations of one in-process run of a
// command line that builds one command at most: `twitchauth --help` lists
// the commands from the root's table without building them, and `token -v`
// builds token alone (issue 21, item 5c). Building the whole tree, every
// command's flags and subcommands, took about 1,000 allocations; the lazy
// root takes under 300. The budget is a count, not a time.
const startAllocBudget = 450

func TestHelpBuildsNoCommand(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"token", "-v"}, {"tokne"}} {
		n := testing.AllocsPerRun(10, func() {
			f, _, _ := cliutil.NewTestFactory(map[string]string{"HOME": t.TempDir()}, "")
			root.Run(context.Background(), f, args)
		})
		if n > startAllocBudget {
			t.Errorf("twitchauth %q: %.0f allocations, budget %d: does Run build commands that this command line never runs?", args, n, startAllocBudget)
		}
		t.Logf("twitchauth %q: %.0f allocations", args, n)
	}
}

// TestLazyHelpIsTheFullTreesHelp checks the root's table of commands
// against the commands themselves: `twitchauth --help` from the lazy root
// prints what the whole tree prints, and so does a mistyped command's
// suggestion.
func TestLazyHelpIsTheFullTreesHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"tokne"}, {"srve"}, {}} {
		f, out, errOut := cliutil.NewTestFactory(nil, "")
		code := root.Run(context.Background(), f, args)
		lazy := out.String() + "\x00" + errOut.String()

		f, out, errOut = cliutil.NewTestFactory(nil, "")
		full := root.NewCmdRoot(f)
		full.SetArgs(args)
		var want string
		if err := full.Execute(); err != nil {
			want = out.String() + "\x00" + errOut.String() + "error: " + err.Error() + "\n"
		} else {
			want = out.String() + "\x00" + errOut.String()
		}
		if lazy != want {
			t.Errorf("twitchauth %q (exit %d) from the lazy root:\n%s\nfrom the whole tree:\n%s", args, code, lazy, want)
		}
	}
}
