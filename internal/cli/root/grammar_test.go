package root_test

import (
	"context"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
	"github.com/twitchauth/twitchauth/internal/cli/root"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// run runs `twitchauth ARGS...` in-process on a test Factory with env (and
// fresh HOME/XDG directories) and stdin in.
func run(t *testing.T, env map[string]string, in string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	dir := t.TempDir()
	full := map[string]string{"HOME": dir + "/home", "XDG_CONFIG_HOME": dir + "/config", "XDG_DATA_HOME": dir + "/data"}
	for k, v := range env {
		full[k] = v
	}
	f, out, errOut := cliutil.NewTestFactory(full, in)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code = root.Run(ctx, f, args)
	return out.String(), errOut.String(), code
}

// sandboxEnv configures every command against a running sandbox, so that a
// bad argument that slipped through would succeed instead of failing for
// want of configuration.
func sandboxEnv(t *testing.T) map[string]string {
	s := twitchtest.NewServer(t)
	c := s.DefaultClient()
	return map[string]string{"TWITCH_CLIENT_ID": c.ID, "TWITCH_CLIENT_SECRET": c.Secret, "TWITCH_ID_URL": s.IDURL(), "TWITCH_API_URL": s.APIURL()}
}

// Defect 1: an empty or white-space token, or a flag where the token
// should be, is a usage error; it never mints an app token.
func TestEmptyTokenIsUsageError(t *testing.T) {
	env := sandboxEnv(t)
	// The configuration works: a plain `token` mints one.
	if out, errOut, code := run(t, env, "", "token"); code != 0 || !strings.HasPrefix(out, "App Access Token: ") {
		t.Fatalf("token with the sandbox: exit %d\n%s%s", code, out, errOut)
	}
	for _, args := range [][]string{
		{"token", "-r", ""}, {"token", "-R", ""}, {"token", "-v", ""}, {"token", "--revoke="}, {"token", "--validate", "  "},
		{"token", "--refresh", "\t"}, {"token", "-r", "-u"}, {"token", "--revoke", "--json"},
	} {
		out, errOut, code := run(t, env, "", args...)
		flag := map[string]string{"-r": "--revoke", "-R": "--refresh", "-v": "--validate"}[args[1]]
		if flag == "" {
			flag, _, _ = strings.Cut(args[1], "=")
		}
		if code != cliutil.ExitUsage || out != "" || !strings.Contains(errOut, "error: "+flag+" needs a token") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 and %q", args, code, out, errOut, flag+" needs a token")
		}
	}
	// Other flags that take a value refuse an empty one too.
	for _, args := range [][]string{{"token", "--client-id", ""}, {"token", "-u", "-s", ""}, {"api", "get", "users", "-q", ""}, {"token", "--store", " "}} {
		if out, errOut, code := run(t, env, "", args...); code != cliutil.ExitUsage || out != "" || !strings.Contains(errOut, "needs a value") {
			t.Errorf("%q: exit %d %q %q", args, code, out, errOut)
		}
	}
}

// Defect 2: an unknown subcommand, or an extra argument, exits 2 with a
// suggestion, at every level.
func TestUnknownCommandsAndExtraArguments(t *testing.T) {
	env := sandboxEnv(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"tokne"}, `unknown command "tokne" for "twitchauth"; did you mean token?`},
		{[]string{"api", "fetch", "users"}, `unknown command "fetch" for "twitchauth api"; did you mean patch?`},
		{[]string{"api", "gte", "users"}, `did you mean get?`},
		{[]string{"extension", "verfy"}, `did you mean verify?`},
		{[]string{"serve", "keys", "lst"}, `did you mean list?`},
		{[]string{"serve", "store", "chek"}, `did you mean check?`},
		{[]string{"serve", "keys", "zzzzzzzz"}, `use create, delete, list, rotate`},
		{[]string{"token", "validate", "abc"}, `unexpected argument "validate": twitchauth token takes no arguments; did you mean --validate?`},
		{[]string{"configure", "show"}, `did you mean --show?`},
		{[]string{"scopes", "--jsn"}, `unknown flag: --jsn; did you mean --json?`},
		{[]string{"extension", "verify", "a", "b"}, `unexpected argument "b"`},
		{[]string{"serve", "keys", "delete", "a", "b"}, `unexpected argument "b"`},
		{[]string{"serve", "keys", "delete"}, `needs NAME`},
		{[]string{"api", "get"}, `needs PATH`},
		{[]string{"api"}, `twitchauth api needs a command: delete, get, patch, post, put`},
		{[]string{"extension"}, `needs a command: jwt, verify`},
		{[]string{"mock", "now"}, `takes no arguments`},
		{[]string{"rig", "dir"}, `did you mean --dir?`},
	} {
		out, errOut, code := run(t, env, "", c.args...)
		if code != cliutil.ExitUsage || !strings.Contains(errOut, c.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 and %q", c.args, code, errOut, c.want)
		}
		if strings.Contains(out, "Usage:") {
			t.Errorf("%q: the help went to stdout", c.args)
		}
	}
	// A group without a command shows its help, on stderr.
	if _, errOut, _ := run(t, env, "", "serve", "keys"); !strings.Contains(errOut, "Available Commands:") {
		t.Errorf("serve keys without a command: %q", errOut)
	}
	// --help is a success, on stdout.
	if out, _, code := run(t, env, "", "api", "--help"); code != 0 || !strings.Contains(out, "Available Commands:") {
		t.Errorf("api --help: exit %d %q", code, out)
	}
}

// Defect 3: -p 0, the help's argument names, --store's help, mock's
// description.
func TestDefect3(t *testing.T) {
	env := sandboxEnv(t)
	for _, p := range []string{"0", "70000", "-1", "x"} {
		if out, errOut, code := run(t, env, "", "token", "-u", "-p", p); code != cliutil.ExitUsage || out != "" || !strings.Contains(errOut, "--port needs a port") {
			t.Errorf("-p %s: exit %d %q %q", p, code, out, errOut)
		}
	}
	help, _, _ := run(t, env, "", "serve", "--help")
	for _, want := range []string{"--keys-file FILE", "--api-key NAME:SHA256:PERM,PERM", "postgres://", "--refresh-margin duration", "[$TWITCHAUTH_LISTEN]"} {
		if !strings.Contains(help, want) {
			t.Errorf("serve --help lacks %q", want)
		}
	}
	if strings.Contains(help, "serve keys string") || strings.Contains(help, "--keys-file serve") {
		t.Errorf("serve --help takes a backticked phrase as an argument name:\n%s", help)
	}
	for _, args := range [][]string{{"serve", "store", "--help"}, {"serve", "keys", "--help"}} {
		if h, _, _ := run(t, env, "", args...); !strings.Contains(h, "postgres://") {
			t.Errorf("%q: --store does not mention postgres://", args)
		}
	}
	top, _, _ := run(t, env, "", "--help")
	var mockLine string
	for _, l := range strings.Split(top, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "mock ") {
			mockLine = l
		}
	}
	if !strings.Contains(mockLine, "Helix") || !strings.Contains(mockLine, "console") || strings.Contains(mockLine, "identity sandbox") {
		t.Errorf("mock's short description: %q", mockLine)
	}
}

// Old spellings work, hidden, with one notice on stderr each time.
func TestDeprecatedAliases(t *testing.T) {
	secret := "c2VjcmV0LW9mLXRoZS1leHRlbnNpb24="
	out, errOut, code := run(t, nil, "", "extension", "jwt", "--secret", secret, "--ttl", "2h", "--role", "viewer", "--opaque-user-id", "U1", "--json")
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.Contains(out, `"token":`) {
		t.Fatalf("extension jwt with old spellings: exit %d %q %q", code, out, errOut)
	}
	for _, want := range []string{"warning: --secret is deprecated and will be removed: use --extension-secret\n", "warning: --ttl is deprecated and will be removed: use --jwt-lifetime\n"} {
		if strings.Count(errOut, want) != 1 {
			t.Errorf("notice %q printed %d times: %q", want, strings.Count(errOut, want), errOut)
		}
	}
	if strings.Contains(errOut, secret) {
		t.Error("the secret was printed")
	}
	_, errOut, code = run(t, nil, "mysecret\n", "configure", "--client-id", "abc", "--secret-stdin")
	if code != 0 || strings.Count(errOut, "--secret-stdin is deprecated") != 1 {
		t.Errorf("configure --secret-stdin: exit %d %q", code, errOut)
	}
	out, errOut, code = run(t, nil, "", "-v")
	if code != 0 || strings.TrimSpace(out) != "twitchauth version test" || !strings.Contains(errOut, "-v is deprecated") {
		t.Errorf("-v: exit %d %q %q", code, out, errOut)
	}
	help, _, _ := run(t, nil, "", "extension", "jwt", "--help")
	if strings.Contains(help, "--ttl") || strings.Contains(help, "--secret ") {
		t.Errorf("an old spelling shows in the help:\n%s", help)
	}
}

// Every listening command says once, in its own words, that the address
// is taken.
func TestPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().String()
	dir := t.TempDir()
	for _, args := range [][]string{
		{"mock", "--listen", addr},
		{"rig", "--dir", dir, "--listen", addr},
		{"rig", "--dir", dir, "--sandbox-listen", addr, "--listen", "127.0.0.1:0"},
		{"serve", "--sandbox", "--listen", addr},
		{"serve", "--sandbox", "--sandbox-listen", addr, "--listen", "127.0.0.1:0"},
	} {
		flag := "--listen"
		if strings.Contains(strings.Join(args, " "), "--sandbox-listen "+addr) {
			flag = "--sandbox-listen"
		}
		_, errOut, code := run(t, nil, "", args...)
		if code != cliutil.ExitInternal || strings.Count(errOut, "already in use") != 1 || !strings.Contains(errOut, "with "+flag+" (port 0 picks a free one)") {
			t.Errorf("%q: exit %d, stderr %q", args, code, errOut)
		}
	}
	port := addr[strings.LastIndex(addr, ":")+1:]
	_, errOut, code := run(t, sandboxEnv(t), "", "token", "-u", "-p", port, "--no-store")
	if code != cliutil.ExitInternal || strings.Count(errOut, "already in use") != 1 || !strings.Contains(errOut, "--port") {
		t.Errorf("token -u on a taken port: exit %d %q", code, errOut)
	}
}

// concept is one row of docs/cli.md's concept table: the flag every
// command named uses for it, and the environment variable it overrides
// there (if any).
type concept struct {
	name  string
	flag  string
	env   map[string]string // command path → environment variable
	typ   string            // pflag type
	where []string          // command paths that have it
}

var concepts = []concept{
	{name: "listen address", flag: "listen", typ: "string", where: []string{"serve", "mock", "rig"}, env: map[string]string{"serve": "TWITCHAUTH_LISTEN"}},
	{name: "sandbox listen address", flag: "sandbox-listen", typ: "string", where: []string{"serve", "rig"}},
	{name: "client ID", flag: "client-id", typ: "string", where: []string{"token", "api get", "mock", "configure", "serve", "serve keys create"},
		env: map[string]string{"token": "TWITCH_CLIENT_ID", "api get": "TWITCH_CLIENT_ID", "serve": "TWITCH_CLIENT_ID", "serve keys create": "TWITCH_CLIENT_ID"}},
	{name: "client secret", flag: "client-secret", typ: "string", where: []string{"api get", "mock", "configure"}, env: map[string]string{"api get": "TWITCH_CLIENT_SECRET"}},
	{name: "client secret (twitch-cli's name)", flag: "secret", typ: "string", where: []string{"token"}, env: map[string]string{"token": "TWITCH_CLIENT_SECRET"}},
	{name: "extension secret", flag: "extension-secret", typ: "string", where: []string{"extension jwt"}, env: map[string]string{"extension jwt": "TWITCH_EXTENSION_SECRET"}},
	{name: "extension secret (several)", flag: "extension-secret", typ: "stringArray", where: []string{"extension verify"}, env: map[string]string{"extension verify": "TWITCH_EXTENSION_SECRET"}},
	{name: "user token", flag: "user-token", typ: "bool", where: []string{"token", "api get"}},
	{name: "stored user", flag: "login", typ: "string", where: []string{"token", "api get"}},
	{name: "token store", flag: "store", typ: "string", where: []string{"token", "api get", "serve", "serve keys list", "serve store check"},
		env: map[string]string{"serve": "TWITCHAUTH_STORE", "serve store check": "TWITCHAUTH_STORE"}},
	{name: "identity URL", flag: "id-url", typ: "string", where: []string{"configure", "serve"}, env: map[string]string{"serve": "TWITCH_ID_URL"}},
	{name: "API URL", flag: "api-url", typ: "string", where: []string{"configure", "serve"}, env: map[string]string{"serve": "TWITCH_API_URL"}},
	{name: "details on stderr", flag: "verbose", typ: "bool", where: []string{"api get"}},
	{name: "log level", flag: "log-level", typ: "string", where: []string{"serve", "mock", "rig"}, env: map[string]string{"serve": "TWITCHAUTH_LOG_LEVEL"}},
	{name: "log format", flag: "log-format", typ: "string", where: []string{"serve", "mock", "rig"}, env: map[string]string{"serve": "TWITCHAUTH_LOG_FORMAT"}},
	{name: "user token lifetime", flag: "user-token-lifetime", typ: "duration", where: []string{"mock"}},
	{name: "app token lifetime", flag: "app-token-lifetime", typ: "duration", where: []string{"mock"}},
	{name: "extension JWT lifetime", flag: "jwt-lifetime", typ: "duration", where: []string{"extension jwt", "rig"}},
	{name: "time limit", flag: "timeout", typ: "duration", where: []string{"token", "api get"}},
	{name: "JSON output", flag: "json", typ: "bool"}, // every command: checked below
}

// oldSpellings are names that must not be visible anywhere (they live on
// as hidden aliases), and where a visible one is allowed.
var oldSpellings = map[string][]string{
	"addr": nil, "sandbox-addr": nil, "ttl": nil, "token-ttl": nil, "token-lifetime": nil, "raw": nil,
	"secret-file": nil, "secret-stdin": nil, "secret": {"token"}, "user": {"mock"},
}

// walk calls fn with every command under c.
func walk(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, s := range c.Commands() {
		walk(s, fn)
	}
}

func path(c *cobra.Command) string { return strings.TrimPrefix(c.CommandPath(), "twitchauth ") }

// allFlags are a command's own flags and those it inherits.
func allFlags(c *cobra.Command) []*pflag.Flag {
	var out []*pflag.Flag
	c.LocalFlags().VisitAll(func(f *pflag.Flag) { out = append(out, f) })
	c.InheritedFlags().VisitAll(func(f *pflag.Flag) { out = append(out, f) })
	return out
}

var argNameRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]*([=:,][A-Z][A-Z0-9_]*)*$`)

// durationWords mark a flag that takes a duration.
var durationWords = []string{"lifetime", "timeout", "interval", "margin", "window", "grace", "leeway", "recovery"}

// TestGrammar walks every command's flags: one name per concept (the
// table above, which docs/cli.md shows), no old spelling visible, usage
// text and argument names on every flag, durations as Go durations, -v
// and -u meaning one thing, --json wherever data is printed, and every
// group refusing unknown commands.
func TestGrammar(t *testing.T) {
	f, _, _ := cliutil.NewTestFactory(nil, "")
	top := root.NewCmdRoot(f)
	top.InitDefaultHelpCmd()
	top.InitDefaultCompletionCmd()
	seen := map[string]map[string]*pflag.Flag{}
	walk(top, func(c *cobra.Command) {
		p := path(c)
		if c.Name() == "help" || c.Name() == "completion" || (c.Parent() != nil && c.Parent().Name() == "completion") {
			return
		}
		if c.HasSubCommands() && c.RunE == nil {
			t.Errorf("%s: a group without RunE shows its help and exits 0 on an unknown command", p)
		}
		if c.Args == nil {
			t.Errorf("%s: no argument check", p)
		}
		flags := map[string]*pflag.Flag{}
		seen[p] = flags
		for _, fl := range allFlags(c) {
			flags[fl.Name] = fl
		}
		if c.Runnable() && !c.HasSubCommands() && flags["json"] == nil {
			t.Errorf("%s: no --json", p)
		}
		for _, fl := range allFlags(c) {
			if fl.Name == "help" {
				continue
			}
			if fl.Hidden {
				if d := fl.Annotations[cliutil.AnnotationDeprecated]; len(d) != 2 {
					t.Errorf("%s --%s: hidden but not a deprecated alias", p, fl.Name)
				}
				continue
			}
			if strings.TrimSpace(fl.Usage) == "" {
				t.Errorf("%s --%s: no usage text", p, fl.Name)
			}
			if strings.Contains(fl.Usage, "`") {
				if name, _ := pflag.UnquoteUsage(fl); !argNameRE.MatchString(name) {
					t.Errorf("%s --%s: the help shows %q as the argument name", p, fl.Name, name)
				}
			}
			if allowed, old := oldSpellings[fl.Name]; old && !contains(allowed, p) {
				t.Errorf("%s: --%s is an old spelling; it must be a hidden alias", p, fl.Name)
			}
			switch fl.Shorthand {
			case "v":
				if p != "token" || fl.Name != "validate" {
					t.Errorf("%s: -v is --%s; it is token's --validate only (twitch-cli)", p, fl.Name)
				}
			case "u":
				if fl.Name != "user-token" {
					t.Errorf("%s: -u is --%s, not --user-token", p, fl.Name)
				}
			}
			for _, w := range durationWords {
				if strings.Contains(fl.Name, w) && fl.Value.Type() != "duration" {
					t.Errorf("%s --%s: a %s that is not a Go duration (%s)", p, fl.Name, w, fl.Value.Type())
				}
			}
			if fl.Name == "listen" || fl.Name == "sandbox-listen" {
				if ap, err := netip.ParseAddrPort(fl.DefValue); err != nil || !ap.Addr().IsLoopback() {
					t.Errorf("%s --%s defaults to %q, not a loopback address", p, fl.Name, fl.DefValue)
				}
			}
			if fl.Name == "json" && (fl.Value.Type() != "bool" || !strings.Contains(fl.Usage, "JSON")) {
				t.Errorf("%s --json: %s %q", p, fl.Value.Type(), fl.Usage)
			}
		}
	})
	for _, c := range concepts {
		for _, p := range c.where {
			fl := seen[p][c.flag]
			if fl == nil || fl.Hidden {
				t.Errorf("%s: %s is not --%s", p, c.name, c.flag)
				continue
			}
			if fl.Value.Type() != c.typ {
				t.Errorf("%s --%s: type %s, want %s", p, c.flag, fl.Value.Type(), c.typ)
			}
			var env string
			if e := fl.Annotations[cliutil.AnnotationEnv]; len(e) == 1 {
				env = e[0]
			}
			if env != c.env[p] {
				t.Errorf("%s --%s: environment variable %q, want %q", p, c.flag, env, c.env[p])
			}
		}
	}
	// rig and serve do not share a default port.
	if seen["rig"]["listen"].DefValue == seen["serve"]["listen"].DefValue {
		t.Errorf("rig and serve both default to %s", seen["rig"]["listen"].DefValue)
	}
	// docs/cli.md's concept table names every flag and variable.
	doc, err := os.ReadFile("../../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(doc), "## One grammar")
	if i < 0 {
		t.Fatal(`docs/cli.md has no "## One grammar" section`)
	}
	table := string(doc[i:])
	for _, c := range concepts {
		if !strings.Contains(table, "`--"+c.flag+"`") {
			t.Errorf("docs/cli.md's concept table lacks --%s (%s)", c.flag, c.name)
		}
		for _, e := range c.env {
			if !strings.Contains(table, "`"+e+"`") {
				t.Errorf("docs/cli.md's concept table lacks %s (--%s)", e, c.flag)
			}
		}
	}
	for old := range oldSpellings {
		if old != "secret" && old != "user" && !strings.Contains(table, "`--"+old+"`") {
			t.Errorf("docs/cli.md does not list the old spelling --%s", old)
		}
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// --json prints one compact object per line wherever it is given.
func TestJSONIsCompactLines(t *testing.T) {
	env := sandboxEnv(t)
	secret := "c2VjcmV0LW9mLXRoZS1leHRlbnNpb24="
	jwt, _, _ := run(t, map[string]string{"TWITCH_EXTENSION_SECRET": secret}, "", "extension", "jwt", "--role", "viewer", "--opaque-user-id", "U1")
	for _, c := range []struct {
		env  map[string]string
		args []string
	}{
		{env, []string{"token", "--json"}},
		{env, []string{"api", "get", "users", "-q", "login=twitchdev", "--json"}},
		{nil, []string{"scopes", "--json", "GET /polls", "POST /polls"}},
		{nil, []string{"configure", "--show", "--json"}},
		{map[string]string{"TWITCH_EXTENSION_SECRET": secret}, []string{"extension", "jwt", "--json", "--role", "viewer", "--opaque-user-id", "U1"}},
		{map[string]string{"TWITCH_EXTENSION_SECRET": secret}, []string{"extension", "verify", "--json", strings.TrimSpace(jwt)}},
	} {
		out, errOut, code := run(t, c.env, "", c.args...)
		if code != 0 || out == "" {
			t.Errorf("%q: exit %d %q %q", c.args, code, out, errOut)
			continue
		}
		for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			if !strings.HasPrefix(line, "{") || !strings.HasSuffix(line, "}") || strings.Contains(line, "\n  ") || strings.Contains(line, `": `) {
				t.Errorf("%q: not one compact object per line: %q", c.args, line)
			}
		}
	}
	// Without --json, extension verify prints readable lines.
	out, _, _ := run(t, map[string]string{"TWITCH_EXTENSION_SECRET": secret}, "", "extension", "verify", strings.TrimSpace(jwt))
	if !strings.Contains(out, "Role: viewer\n") || strings.Contains(out, "{") {
		t.Errorf("extension verify without --json: %q", out)
	}
}
