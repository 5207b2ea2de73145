package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// initAllocBudget bounds the heap allocations of this module's package
// initialisers at program start (GODEBUG=inittrace=1), whatever the command:
// compiled regexps and parsed templates are built on first use (issue 21,
// item 5c: `twitchauth --help` set up the sandbox's templates and the
// broker's and rig's regexps, about 9,900 allocations, for commands that
// never use them). The budget is a count, not a time, so it holds on a
// loaded machine.
const (
	initAllocBudget       = 200 // all of this module's packages together
	initAllocBudgetPerPkg = 60  // any one of them
)

func TestStartupInitWorkIsSmall(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"token", "-v"}} {
		cmd := exec.Command(binary, args...)
		cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil && cmd.ProcessState == nil {
			t.Fatal(err)
		} // token -v without a token exits 2; only the trace matters
		total, seen := 0, 0
		trace := stderr.String()
		sc := bufio.NewScanner(strings.NewReader(trace))
		for sc.Scan() {
			// init <pkg> @0.5 ms, 0.01 ms clock, 96 bytes, 3 allocs
			f := strings.Fields(sc.Text())
			if len(f) != 11 || f[0] != "init" || f[10] != "allocs" || !strings.HasPrefix(f[1], "github.com/twitchauth/twitchauth") {
				continue
			}
			n, err := strconv.Atoi(f[9])
			if err != nil {
				t.Fatalf("unreadable inittrace line %q", sc.Text())
			}
			seen++
			total += n
			if n > initAllocBudgetPerPkg {
				t.Errorf("twitchauth %s: package %s allocates %d times at start, budget %d (build it on first use: sync.OnceValue)",
					strings.Join(args, " "), f[1], n, initAllocBudgetPerPkg)
			}
		}
		if seen == 0 {
			t.Fatalf("twitchauth %s: no inittrace lines for this module:\n%.2000s", strings.Join(args, " "), trace)
		}
		if total > initAllocBudget {
			t.Errorf("twitchauth %s: this module's packages allocate %d times at start, budget %d", strings.Join(args, " "), total, initAllocBudget)
		}
		t.Logf("twitchauth %s: %d packages of this module, %d allocations at init", strings.Join(args, " "), seen, total)
	}
}
