package configure

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twitchauth/twitchauth/internal/cli/clitest"
	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
	"github.com/twitchauth/twitchauth/internal/cli/config"
)

const secret = "configure-test-secret-0123456789"

func ptr(s string) *string { return &s }

// run runs configure with f's environment and prompt, stdin as input (a
// terminal when tty).
func run(t *testing.T, f *cliutil.Factory, o *Options, stdin string, tty ...bool) (string, string, error) {
	t.Helper()
	var out, errOut clitest.Buffer
	g := *f
	g.IO = &cliutil.IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut, InTTY: len(tty) > 0 && tty[0]}
	o.Factory = &g
	err := Run(context.Background(), o)
	if strings.Contains(out.String()+errOut.String(), secret) || (err != nil && strings.Contains(err.Error(), secret)) {
		t.Fatalf("the secret was printed: %s %s %v", out.String(), errOut.String(), err)
	}
	return out.String(), errOut.String(), err
}

func TestFlagsWriteAndShow(t *testing.T) {
	getenv, _, env := clitest.Env(t, nil)
	f := &cliutil.Factory{Getenv: getenv}
	_, stderr, err := run(t, f, &Options{ClientID: ptr("myid"), SecretStdin: true, IDURL: ptr("http://127.0.0.1:8090/oauth2/")}, secret+"\n")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(env["XDG_CONFIG_HOME"], "twitchauth", "config.json")
	if !strings.Contains(stderr, path) {
		t.Errorf("stderr does not name the file: %s", stderr)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("config file: %v %v", st, err)
	}
	if dst, _ := os.Stat(filepath.Dir(path)); dst.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v", dst.Mode().Perm())
	}
	got, _ := config.ReadFile(path)
	if got.ClientID != "myid" || got.ClientSecret != secret || got.IDURL != "http://127.0.0.1:8090/oauth2" {
		t.Errorf("file = %v", got)
	}

	// A later change keeps the other fields.
	if _, _, err := run(t, f, &Options{APIURL: ptr("http://127.0.0.1:8090/helix")}, ""); err != nil {
		t.Fatal(err)
	}
	if got, _ = config.ReadFile(path); got.ClientSecret != secret || got.APIURL != "http://127.0.0.1:8090/helix" {
		t.Errorf("after update: %v", got)
	}

	out, _, err := run(t, f, &Options{Show: true}, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Configuration file: " + path, "Client ID: myid", "Client Secret: (set, hidden)", "Identity URL: http://127.0.0.1:8090/oauth2"} {
		if !strings.Contains(out, want) {
			t.Errorf("--show lacks %q:\n%s", want, out)
		}
	}

	env[config.EnvClientID] = "envid"
	out, _, _ = run(t, f, &Options{Show: true, JSON: true}, "")
	var s Shown
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	if s.ClientID != "myid" || !s.ClientSecretSet || len(s.EnvOverrides) != 1 || s.EnvOverrides[0] != config.EnvClientID {
		t.Errorf("--show --json = %+v", s)
	}
	// The environment wins over the file when commands resolve settings.
	if r, _ := config.Resolve(getenv, config.Overrides{}); r.ClientID != "envid" || r.ClientSecret != secret {
		t.Errorf("resolve = %v", r)
	}
}

func TestPrompts(t *testing.T) {
	getenv, _, env := clitest.Env(t, nil)
	var readSecret int
	f2 := &cliutil.Factory{Getenv: getenv}
	var in io.Reader
	f2.ReadSecret = func() (string, error) { readSecret++; return cliutil.ReadLine(in) }
	prompted := func(stdin string) (string, string, error) {
		r := strings.NewReader(stdin)
		in = r
		var out, errOut clitest.Buffer
		g := *f2
		g.IO = &cliutil.IOStreams{In: r, Out: &out, ErrOut: &errOut, InTTY: true}
		err := Run(context.Background(), &Options{Factory: &g})
		return out.String(), errOut.String(), err
	}
	_, stderr, err := prompted("promptid\n" + secret + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if readSecret != 1 || !strings.Contains(stderr, "Client ID: ") || !strings.Contains(stderr, "input hidden") {
		t.Errorf("prompts: %q (secret read %d times)", stderr, readSecret)
	}
	got, _ := config.ReadFile(filepath.Join(env["XDG_CONFIG_HOME"], "twitchauth", "config.json"))
	if got.ClientID != "promptid" || got.ClientSecret != secret {
		t.Errorf("file = %v", got)
	}
	// Enter keeps the current values.
	if _, stderr, err = prompted("\n\n"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "Client ID [promptid]") {
		t.Errorf("current value not offered: %s", stderr)
	}
	if got2, _ := config.ReadFile(filepath.Join(env["XDG_CONFIG_HOME"], "twitchauth", "config.json")); got2 != got {
		t.Errorf("Enter changed the file: %v", got2)
	}
}

func TestNoTerminalNoFlags(t *testing.T) {
	getenv, _, _ := clitest.Env(t, nil)
	_, _, err := run(t, &cliutil.Factory{Getenv: getenv}, &Options{}, "")
	var ee *cliutil.ExitError
	if !errors.As(err, &ee) || ee.Code != cliutil.ExitUsage || !strings.Contains(err.Error(), "--client-id") {
		t.Errorf("no terminal: %v", err)
	}
	_, _, err = run(t, &cliutil.Factory{Getenv: getenv}, &Options{IDURL: ptr("ftp://x")}, "")
	if !errors.As(err, &ee) || ee.Code != cliutil.ExitUsage {
		t.Errorf("bad URL: %v", err)
	}
}

// TestUnsetAndEmptyValues: an empty value never clears a setting (an unset
// shell variable would); --unset does, by name.
func TestUnsetAndEmptyValues(t *testing.T) {
	getenv, _, env := clitest.Env(t, nil)
	f := &cliutil.Factory{Getenv: getenv}
	if _, _, err := run(t, f, &Options{ClientID: ptr("myid"), IDURL: ptr("http://127.0.0.1:1/oauth2")}, ""); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(env["XDG_CONFIG_HOME"], "twitchauth", "config.json")
	for _, o := range []*Options{{IDURL: ptr("")}, {ClientID: ptr("  ")}, {Unset: []string{"nope"}}, {Unset: []string{"id-url"}, IDURL: ptr("http://x")}} {
		_, _, err := run(t, f, o, "")
		var ee *cliutil.ExitError
		if !errors.As(err, &ee) || ee.Code != cliutil.ExitUsage {
			t.Errorf("%+v: %v, want exit 2", o, err)
		}
	}
	if got, _ := config.ReadFile(path); got.IDURL == "" || got.ClientID != "myid" {
		t.Fatalf("a refused run changed the file: %v", got)
	}
	if _, _, err := run(t, f, &Options{Unset: []string{"id-url"}}, ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := config.ReadFile(path); got.IDURL != "" || got.ClientID != "myid" {
		t.Errorf("--unset id-url: %v", got)
	}
}
