package testkit

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TwitchCLI returns the twitch-cli binary named by TWITCHAUTH_TWITCH_CLI,
// found on PATH as "twitch" or at /opt/twitch-cli/twitch, or skips the
// test. A TWITCHAUTH_TWITCH_CLI that names no file fails the test.
func TwitchCLI(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("TWITCHAUTH_TWITCH_CLI"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("TWITCHAUTH_TWITCH_CLI=%s: %v", p, err)
		}
		return p
	}
	if p, err := exec.LookPath("twitch"); err == nil {
		return p
	}
	if _, err := os.Stat("/opt/twitch-cli/twitch"); err == nil {
		return "/opt/twitch-cli/twitch"
	}
	t.Skip("twitch-cli not found: set TWITCHAUTH_TWITCH_CLI or put twitch on PATH")
	return ""
}

// CLIRun runs twitch-cli offline (no update check, a throwaway config
// directory) and returns its output. Its exit code says nothing about the
// answer (it exits 0 after a refusal), so callers judge the ✔/✗ lines
// (CLILines).
func CLIRun(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	dir := t.TempDir()
	cmd.Env = append(os.Environ(), "TWITCH_DISABLE_UPDATE_CHECKS=true", "XDG_CONFIG_HOME="+dir, "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("twitch %s: timed out", strings.Join(args, " "))
	}
	if err != nil {
		t.Logf("twitch %s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}

// CLILines returns the lines of out starting with prefix (such as ✔ or ✗),
// trimmed.
func CLILines(out, prefix string) []string {
	var got []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, prefix) {
			got = append(got, l)
		}
	}
	return got
}
