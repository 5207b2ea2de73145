package cliutil

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The names every command gives the same concept (docs/cli.md, "One
// grammar"). A command that has the concept uses this name; an older
// spelling survives only as a hidden alias (Alias) that prints a notice.
const (
	FlagListen          = "listen"           // a server's listen address, host:port
	FlagSandboxListen   = "sandbox-listen"   // the in-process sandbox's listen address
	FlagJSON            = "json"             // data as one compact JSON object per line on stdout
	FlagVerbose         = "verbose"          // a one-shot command's details on stderr
	FlagLogLevel        = "log-level"        // a server's log level
	FlagLogFormat       = "log-format"       // a server's log format
	FlagClientID        = "client-id"        // the Twitch application's client ID
	FlagClientSecret    = "client-secret"    // its client secret (token: --secret, twitch-cli's name)
	FlagExtensionSecret = "extension-secret" // an extension's shared secret (base64)
	FlagUserToken       = "user-token"       // -u: act with (or get) a user token
	FlagLogin           = "login"            // pick a stored user by login
	FlagStore           = "store"            // the token store
	FlagIDURL           = "id-url"           // the identity service's base URL
	FlagAPIURL          = "api-url"          // Helix's base URL
	FlagTimeout         = "timeout"          // how long one operation may take
)

// Environment variables shared by several commands.
const (
	EnvClientID        = "TWITCH_CLIENT_ID"
	EnvClientSecret    = "TWITCH_CLIENT_SECRET"
	EnvIDURL           = "TWITCH_ID_URL"
	EnvAPIURL          = "TWITCH_API_URL"
	EnvExtensionSecret = "TWITCH_EXTENSION_SECRET"
)

// Flag annotations (pflag.Flag.Annotations).
const (
	// AnnotationEnv names the environment variable a flag overrides.
	AnnotationEnv = "twitchauth_env"
	// AnnotationDeprecated, on a hidden alias, holds how it was spelled
	// and what to use instead.
	AnnotationDeprecated = "twitchauth_deprecated"
)

// WithEnv records that the flag name of fs overrides the environment
// variable env, and says so at the end of its usage ("[$TWITCH_CLIENT_ID]").
func WithEnv(fs *pflag.FlagSet, name, env string) {
	fl := fs.Lookup(name)
	if fl == nil {
		panic("cliutil.WithEnv: no flag --" + name)
	}
	fl.Usage += " [$" + env + "]"
	setAnnotation(fl, AnnotationEnv, env)
}

func setAnnotation(fl *pflag.Flag, key string, v ...string) {
	if fl.Annotations == nil {
		fl.Annotations = map[string][]string{}
	}
	fl.Annotations[key] = v
}

// Alias adds a hidden, deprecated spelling of the flag canonical: --old
// (when old is not empty) and -oldShort (when not empty) set the same value,
// and a one-line notice is printed when they are used (Notices). With
// only oldShort, the alias is a shorthand that canonical no longer has.
func Alias(fs *pflag.FlagSet, canonical, old, oldShort string) {
	c := fs.Lookup(canonical)
	if c == nil {
		panic("cliutil.Alias: no flag --" + canonical)
	}
	name, spelled := old, "--"+old
	if old == "" {
		name, spelled = oldShort, "-"+oldShort
	}
	fl := &pflag.Flag{
		Name: name, Shorthand: oldShort, Value: c.Value, DefValue: c.DefValue, NoOptDefVal: c.NoOptDefVal,
		Usage: "deprecated: use --" + canonical, Hidden: true,
	}
	setAnnotation(fl, AnnotationDeprecated, spelled, "--"+canonical)
	fs.AddFlag(fl)
}

// AliasFor adds a hidden, deprecated boolean spelling --old (and -oldShort)
// that means --canonical=value, such as --verbose for --log-level debug.
func AliasFor(fs *pflag.FlagSet, old, oldShort, canonical, value string) {
	if fs.Lookup(canonical) == nil {
		panic("cliutil.AliasFor: no flag --" + canonical)
	}
	fl := &pflag.Flag{
		Name: old, Shorthand: oldShort, Value: &setter{fs: fs, name: canonical, value: value}, DefValue: "false",
		NoOptDefVal: "true", Usage: "deprecated: use --" + canonical + " " + value, Hidden: true,
	}
	spelled := "--" + old
	if oldShort != "" {
		spelled += " (-" + oldShort + ")"
	}
	setAnnotation(fl, AnnotationDeprecated, spelled, "--"+canonical+" "+value)
	fs.AddFlag(fl)
}

// setter is a boolean flag that sets another flag when true.
type setter struct {
	fs          *pflag.FlagSet
	name, value string
	on          bool
}

func (s *setter) String() string { return fmt.Sprint(s.on) }
func (s *setter) Type() string   { return "bool" }
func (s *setter) IsBoolFlag() bool {
	return true
}
func (s *setter) Set(v string) error {
	switch v {
	case "true", "1":
		s.on = true
		return s.fs.Set(s.name, s.value)
	case "false", "0":
		return nil
	}
	return fmt.Errorf("not a boolean: %q", v)
}

// Notices prints one line on w for each deprecated spelling cmd was given.
func Notices(cmd *cobra.Command, w io.Writer) {
	cmd.Flags().Visit(func(fl *pflag.Flag) {
		if d := fl.Annotations[AnnotationDeprecated]; len(d) == 2 {
			fmt.Fprintf(w, "warning: %s is deprecated and will be removed: use %s\n", d[0], d[1])
		}
	})
}

// EmptyValueError is the error of an empty or white-space value given to a
// flag that needs one ("--revoke needs a token").
type EmptyValueError struct {
	// Needs is what the flag needs ("a token", "a value").
	Needs string
	// Hint says more (a value that looks like a flag).
	Hint string
}

func (e *EmptyValueError) Error() string { return "needs " + e.Needs + e.Hint }

// stringValue is a string flag that refuses an empty or white-space value:
// `token -r "$TOK"` with TOK unset must not turn into something else.
type stringValue struct {
	p     *string
	needs string
	token bool // also refuse a value that looks like a flag
}

func (v *stringValue) String() string { return *v.p }
func (v *stringValue) Type() string   { return "string" }
func (v *stringValue) Set(s string) error {
	if strings.TrimSpace(s) == "" {
		return &EmptyValueError{Needs: v.needs}
	}
	if v.token && strings.HasPrefix(s, "-") {
		return &EmptyValueError{Needs: v.needs, Hint: fmt.Sprintf(` (got %q, a flag: is the variable holding the token empty?)`, s)}
	}
	*v.p = s
	return nil
}

// StringVarP defines a string flag that refuses an empty value (exit 2,
// "--name needs a value").
func StringVarP(fs *pflag.FlagSet, p *string, name, short, def, usage string) {
	*p = def
	fs.VarP(&stringValue{p: p, needs: "a value"}, name, short, usage)
}

// TokenVarP defines a flag that takes a token: an empty value, or one
// that starts with "-", is refused ("--revoke needs a token").
func TokenVarP(fs *pflag.FlagSet, p *string, name, short, usage string) {
	fs.VarP(&stringValue{p: p, needs: "a token", token: true}, name, short, usage)
}

// arrayValue is a repeatable string flag that refuses empty values.
type arrayValue struct {
	p       *[]string
	changed bool
}

func (v *arrayValue) String() string { return "[" + strings.Join(*v.p, ",") + "]" }
func (v *arrayValue) Type() string   { return "stringArray" }
func (v *arrayValue) Set(s string) error {
	if strings.TrimSpace(s) == "" {
		return &EmptyValueError{Needs: "a value"}
	}
	if !v.changed {
		*v.p = nil
		v.changed = true
	}
	*v.p = append(*v.p, s)
	return nil
}

// StringArrayVarP defines a repeatable string flag whose values may not be
// empty.
func StringArrayVarP(fs *pflag.FlagSet, p *[]string, name, short string, def []string, usage string) {
	*p = slices.Clone(def)
	fs.VarP(&arrayValue{p: p}, name, short, usage)
}

// AddJSONFlag adds --json: the command's data as one compact JSON object
// per line on stdout.
func AddJSONFlag(fs *pflag.FlagSet, p *bool) {
	fs.BoolVar(p, FlagJSON, false, "print the data as JSON: one compact object per line on stdout")
}

// Changed reports whether the flag name, or a deprecated alias of it, was
// given.
func Changed(fs *pflag.FlagSet, name string) bool {
	if fs.Changed(name) {
		return true
	}
	found := false
	fs.Visit(func(fl *pflag.Flag) {
		if d := fl.Annotations[AnnotationDeprecated]; len(d) == 2 && d[1] == "--"+name {
			found = true
		}
	})
	return found
}

// portValue is a TCP port flag: 1 to 65535 (0, "any free port", cannot be
// registered as a redirect URI).
type portValue struct{ p *int }

func (v *portValue) String() string { return fmt.Sprint(*v.p) }
func (v *portValue) Type() string   { return "int" }
func (v *portValue) Set(s string) error {
	var n int
	if _, err := fmt.Sscan(strings.TrimSpace(s), &n); err != nil || fmt.Sprint(n) != strings.TrimSpace(s) {
		return &EmptyValueError{Needs: "a port number", Hint: fmt.Sprintf(" (got %q)", s)}
	}
	if n < 1 || n > 65535 {
		return &EmptyValueError{Needs: "a port between 1 and 65535", Hint: fmt.Sprintf(" (got %d)", n)}
	}
	*v.p = n
	return nil
}

// PortVarP defines a port flag that refuses 0 and values out of range.
func PortVarP(fs *pflag.FlagSet, p *int, name, short string, def int, usage string) {
	*p = def
	fs.VarP(&portValue{p: p}, name, short, usage)
}

// AddLogFlags adds a server's --log-level and --log-format.
func AddLogFlags(fs *pflag.FlagSet, level, format *string) {
	StringVarP(fs, level, FlagLogLevel, "", "info", "log `LEVEL`: debug, info, warn or error")
	StringVarP(fs, format, FlagLogFormat, "", "text", "log `FORMAT`: text or json")
}

// NewLogger returns a server's logger on w (stderr) at level in format, as
// --log-level and --log-format give them.
func NewLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, Exitf(ExitUsage, "--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, Exitf(ExitUsage, "--log-format %q: use text or json", format)
}
