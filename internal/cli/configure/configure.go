// Package configure implements `twitchauth configure`: it writes the
// configuration file ($XDG_CONFIG_HOME/twitchauth/config.json, mode 0600) from
// flags or, on a terminal, from prompts, and shows it with --show (the client
// secret masked). It owns the command's flags, prompts and output; the file
// format, paths and precedence live in package config. It never prints the
// client secret.
package configure

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
	"github.com/twitchauth/twitchauth/internal/cli/config"
)

// Options are the flags of `twitchauth configure`. A nil field was not
// given.
type Options struct {
	ClientID    *string
	Secret      *string
	SecretStdin bool // read the secret from stdin's first line
	IDURL       *string
	APIURL      *string
	// Unset names the settings to remove (client-id, client-secret,
	// id-url, api-url): an empty value is refused instead, so that an unset
	// shell variable cannot clear a setting.
	Unset []string
	Show  bool
	JSON  bool

	// Factory gives the streams, the environment and the prompt.
	Factory *cliutil.Factory
}

func (o *Options) anySetting() bool {
	return o.ClientID != nil || o.Secret != nil || o.SecretStdin || o.IDURL != nil || o.APIURL != nil || len(o.Unset) > 0
}

// unsettable are the names --unset takes.
var unsettable = []string{cliutil.FlagClientID, cliutil.FlagClientSecret, cliutil.FlagIDURL, cliutil.FlagAPIURL}

// NewCmdConfigure returns the `configure` command. runF, when not nil,
// replaces Run (tests of the flags).
func NewCmdConfigure(f *cliutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	o := &Options{Factory: f}
	var clientID, secret, idURL, apiURL string
	cmd := &cobra.Command{
		Use:   "configure",
		Short: "Save the application's client ID and secret (or show them with --show)",
		Long: `Save the Twitch application's client ID and secret for the other commands.

Without flags on a terminal it prompts (the secret is not echoed). The file is
$XDG_CONFIG_HOME/twitchauth/config.json (~/.config/twitchauth/config.json),
plain JSON, mode 0600. The environment overrides it (TWITCH_CLIENT_ID,
TWITCH_CLIENT_SECRET, TWITCH_ID_URL, TWITCH_API_URL), and flags of each command
override both. --id-url and --api-url point the commands at another identity
service or API, such as the sandbox started by "twitchauth mock"; --unset id-url
goes back to Twitch's.`,
		Example: `  twitchauth configure
  twitchauth configure --client-id ID --client-secret-stdin < secret.txt
  twitchauth configure --id-url http://127.0.0.1:8090/oauth2 --api-url http://127.0.0.1:8090/helix
  twitchauth configure --unset id-url --unset api-url
  twitchauth configure --show`,
		Args: cliutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fl := cmd.Flags()
			if cliutil.Changed(fl, cliutil.FlagClientID) {
				o.ClientID = &clientID
			}
			if cliutil.Changed(fl, cliutil.FlagClientSecret) {
				o.Secret = &secret
			}
			if cliutil.Changed(fl, cliutil.FlagIDURL) {
				o.IDURL = &idURL
			}
			if cliutil.Changed(fl, cliutil.FlagAPIURL) {
				o.APIURL = &apiURL
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return Run(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	cliutil.StringVarP(fl, &clientID, cliutil.FlagClientID, "", "", "the application's client `ID`")
	cliutil.StringVarP(fl, &secret, cliutil.FlagClientSecret, "", "", "the application's client `SECRET` (visible to other local users in the process list: prefer --client-secret-stdin or the prompt)")
	cliutil.Alias(fl, cliutil.FlagClientSecret, "secret", "")
	fl.BoolVar(&o.SecretStdin, "client-secret-stdin", false, "read the client secret from the first line of stdin")
	cliutil.Alias(fl, "client-secret-stdin", "secret-stdin", "")
	cliutil.StringVarP(fl, &idURL, cliutil.FlagIDURL, "", "", "identity service base `URL` (default Twitch's, https://id.twitch.tv/oauth2)")
	cliutil.StringVarP(fl, &apiURL, cliutil.FlagAPIURL, "", "", "Helix base `URL` (default Twitch's, https://api.twitch.tv/helix)")
	cliutil.StringArrayVarP(fl, &o.Unset, "unset", "", nil, "remove the setting `NAME` from the file: "+strings.Join(unsettable, ", ")+" (repeatable)")
	fl.BoolVar(&o.Show, "show", false, "print the configuration (the secret masked) instead of changing it")
	cliutil.AddJSONFlag(fl, &o.JSON)
	return cmd
}

// Shown is what configure prints with --json: the file's settings, the
// secret reduced to whether it is set.
type Shown struct {
	Path            string   `json:"path"`
	ClientID        string   `json:"client_id"`
	ClientSecretSet bool     `json:"client_secret_set"`
	IDURL           string   `json:"id_url,omitempty"`
	APIURL          string   `json:"api_url,omitempty"`
	EnvOverrides    []string `json:"env_overrides"`
}

// Run runs `twitchauth configure`. The returned error carries the exit code.
func Run(ctx context.Context, o *Options) error {
	f := o.Factory
	if f == nil {
		f = &cliutil.Factory{}
	}
	f.Fill()
	in, out, errOut := f.IO.In, f.IO.Out, f.IO.ErrOut
	path, err := config.ConfigPath(f.Getenv)
	if err != nil {
		return err
	}
	cur, err := config.ReadFile(path)
	if err != nil {
		return err
	}
	if o.Show {
		if o.anySetting() {
			return cliutil.Exitf(cliutil.ExitUsage, "--show cannot be combined with settings")
		}
		return show(out, o.JSON, path, cur, f.Getenv)
	}

	next := cur
	if o.anySetting() {
		if o.Secret != nil && o.SecretStdin {
			return cliutil.Exitf(cliutil.ExitUsage, "--client-secret and --client-secret-stdin cannot be combined")
		}
		for _, name := range o.Unset {
			given := map[string]bool{cliutil.FlagClientID: o.ClientID != nil, cliutil.FlagClientSecret: o.Secret != nil || o.SecretStdin,
				cliutil.FlagIDURL: o.IDURL != nil, cliutil.FlagAPIURL: o.APIURL != nil}
			switch {
			case !slices.Contains(unsettable, name):
				return cliutil.Exitf(cliutil.ExitUsage, "--unset %q: give one of %s", name, strings.Join(unsettable, ", "))
			case given[name]:
				return cliutil.Exitf(cliutil.ExitUsage, "--unset %s and --%s cannot be combined", name, name)
			}
			switch name {
			case cliutil.FlagClientID:
				next.ClientID = ""
			case cliutil.FlagClientSecret:
				next.ClientSecret = ""
			case cliutil.FlagIDURL:
				next.IDURL = ""
			case cliutil.FlagAPIURL:
				next.APIURL = ""
			}
		}
		for _, v := range []struct {
			flag string
			p    *string
		}{{cliutil.FlagClientID, o.ClientID}, {cliutil.FlagClientSecret, o.Secret}, {cliutil.FlagIDURL, o.IDURL}, {cliutil.FlagAPIURL, o.APIURL}} {
			if v.p != nil && strings.TrimSpace(*v.p) == "" {
				return cliutil.Exitf(cliutil.ExitUsage, "--%s needs a value (to remove the setting: --unset %s)", v.flag, v.flag)
			}
		}
		if o.ClientID != nil {
			next.ClientID = strings.TrimSpace(*o.ClientID)
		}
		if o.Secret != nil {
			next.ClientSecret = strings.TrimSpace(*o.Secret)
		}
		if o.SecretStdin {
			s, err := cliutil.ReadLine(in)
			if err != nil {
				return cliutil.Exitf(cliutil.ExitUsage, "--client-secret-stdin: reading the secret from stdin: %v", err)
			}
			if next.ClientSecret = strings.TrimSpace(s); next.ClientSecret == "" {
				return cliutil.Exitf(cliutil.ExitUsage, "--client-secret-stdin: the first line of stdin is empty")
			}
		}
		if o.IDURL != nil {
			next.IDURL = strings.TrimRight(strings.TrimSpace(*o.IDURL), "/")
		}
		if o.APIURL != nil {
			next.APIURL = strings.TrimRight(strings.TrimSpace(*o.APIURL), "/")
		}
	} else {
		if !f.IO.InTTY {
			return cliutil.Exitf(cliutil.ExitUsage,
				"stdin is not a terminal, so there is nobody to ask: pass --client-id and --client-secret-stdin (or --client-secret), or set %s and %s",
				config.EnvClientID, config.EnvClientSecret)
		}
		if next, err = prompt(in, errOut, cur, f); err != nil {
			return err
		}
	}
	if strings.ContainsAny(next.ClientID, " \t\r\n") {
		return cliutil.Exitf(cliutil.ExitUsage, "the client ID %q contains white space", next.ClientID)
	}
	if strings.ContainsAny(next.ClientSecret, " \t\r\n") {
		return cliutil.Exitf(cliutil.ExitUsage, "the client secret contains white space")
	}
	for _, u := range []struct{ flag, v string }{{"--id-url", next.IDURL}, {"--api-url", next.APIURL}} {
		if err := config.CheckURL(u.v); err != nil {
			return cliutil.Exitf(cliutil.ExitUsage, "%s %q: %v", u.flag, config.RedactURL(u.v), err)
		}
	}
	if err := config.WriteFile(path, next); err != nil {
		return err
	}
	fmt.Fprintf(errOut, "Configuration saved to %s.\n", path)
	if o.JSON {
		return show(out, true, path, next, f.Getenv)
	}
	return nil
}

// prompt asks for the client ID and secret on a terminal; Enter keeps the
// current value.
func prompt(in io.Reader, errOut io.Writer, cur config.File, f *cliutil.Factory) (config.File, error) {
	next := cur
	if cur.ClientID != "" {
		fmt.Fprintf(errOut, "Client ID [%s]: ", cur.ClientID)
	} else {
		fmt.Fprint(errOut, "Client ID: ")
	}
	id, err := cliutil.ReadLine(in)
	if err != nil {
		return cur, cliutil.Exitf(cliutil.ExitUsage, "reading the client ID: %v", err)
	}
	if id = strings.TrimSpace(id); id != "" {
		next.ClientID = id
	}
	if cur.ClientSecret != "" {
		fmt.Fprint(errOut, "Client Secret (input hidden; Enter keeps the current one): ")
	} else {
		fmt.Fprint(errOut, "Client Secret (input hidden; Enter for none, a public client): ")
	}
	secret, err := f.ReadSecret()
	fmt.Fprintln(errOut)
	if err != nil {
		return cur, cliutil.Exitf(cliutil.ExitUsage, "reading the client secret: %v", err)
	}
	if secret = strings.TrimSpace(secret); secret != "" {
		next.ClientSecret = secret
	}
	if next.ClientID == "" {
		return cur, cliutil.Exitf(cliutil.ExitUsage, "no client ID given: find it in the Twitch developer console (https://dev.twitch.tv/console/apps)")
	}
	return next, nil
}

// show prints the file's settings, the secret masked, and which environment
// variables override them.
func show(out io.Writer, asJSON bool, path string, c config.File, getenv func(string) string) error {
	s := Shown{Path: path, ClientID: c.ClientID, ClientSecretSet: c.ClientSecret != "", IDURL: c.IDURL, APIURL: c.APIURL, EnvOverrides: []string{}}
	for _, env := range []string{config.EnvClientID, config.EnvClientSecret, config.EnvIDURL, config.EnvAPIURL} {
		if getenv(env) != "" {
			s.EnvOverrides = append(s.EnvOverrides, env)
		}
	}
	if asJSON {
		return cliutil.WriteJSON(out, s)
	}
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	lines := []string{
		"Configuration file: " + path,
		"Client ID: " + or(c.ClientID, "(not set)"),
		"Client Secret: " + config.MaskSecret(c.ClientSecret),
		"Identity URL: " + or(c.IDURL, "(Twitch: https://id.twitch.tv/oauth2)"),
		"API URL: " + or(c.APIURL, "(Twitch: https://api.twitch.tv/helix)"),
	}
	for _, env := range s.EnvOverrides {
		lines = append(lines, env+" is set in the environment and overrides the file.")
	}
	for _, l := range lines {
		if _, err := fmt.Fprintln(out, l); err != nil {
			return err
		}
	}
	return nil
}
