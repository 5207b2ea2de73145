package main

import (
	"os/exec"
	"strings"
	"testing"
)

// testOnlyPackages are this module's helpers for tests: the binary must not
// link them (nor package testing, which they import).
var testOnlyPackages = []string{
	"github.com/twitchauth/twitchauth/store/storetest",
	"github.com/twitchauth/twitchauth/eventsub/seentest",
	"github.com/twitchauth/twitchauth/internal/pgtest",
	"github.com/twitchauth/twitchauth/internal/browsertest",
	"github.com/twitchauth/twitchauth/internal/cli/clitest",
	"github.com/twitchauth/twitchauth/internal/testkit",
}

// TestBinaryDoesNotLinkTesting guards that the twitchauth binary does not
// link package testing: `mock` and `serve --sandbox` start the sandbox with
// twitchtest.New, and package twitchtest must not import testing (its
// NewServer takes twitchtest.TB, not testing.TB). Linking testing would add
// its code and its flag registrations to every user's binary.
func TestBinaryDoesNotLinkTesting(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	out, err := exec.Command(gobin, "list", "-deps", "github.com/twitchauth/twitchauth/cmd/twitchauth").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list -deps listed %d packages; want the binary's whole closure", len(deps))
	}
	for _, d := range deps {
		if d == "testing" || strings.HasPrefix(d, "testing/") {
			t.Errorf("the twitchauth binary links %s; find the importer with: go list -deps -f '{{.ImportPath}}: {{.Imports}}' ./cmd/twitchauth | grep testing", d)
		}
		for _, p := range testOnlyPackages {
			if d == p {
				t.Errorf("the twitchauth binary links the test helper %s", d)
			}
		}
	}
}
