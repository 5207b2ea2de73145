// Package configure implements `twitchauth configure`: it writes the
// configuration file ($XDG_CONFIG_HOME/twitchauth/config.json, mode 0600) from
// flags or, on a terminal, from prompts, and shows it with --show (the client
// secret masked). It owns the command's flags, prompts and output; the file
// format, paths and precedence live in package config. It never prints the
// client secret.
package configure

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
	"github.com/twitchauth/twitchauth/internal/cli/config"
)

// Options are the flags of `twitchauth configure`. A nil field was not
// given; an empty string clears the setting.
type Options struct {
	ClientID    *string
	Secret      *string
	SecretStdin bool // read the secret from stdin's first line
	IDURL       *string
	APIURL      *string
	Show        bool
	JSON        bool
}

func (o *Options) anySetting() bool {
	return o.ClientID != nil || o.Secret != nil || o.SecretStdin || o.IDURL != nil || o.APIURL != nil
}

// NewCommand returns the `configure` command for the real program.
func NewCommand(stdout, stderr io.Writer) *cobra.Command {
	return New(config.Default(), os.Stdin, stdout, stderr)
}

// New returns the `configure` command with the given dependencies.
func New(f *config.Factory, stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	o := &Options{}
	var clientID, secret, idURL, apiURL string
	cmd := &cobra.Command{
		Use:   "configure",
		Short: "Save the application's client ID and secret (or show them with --show)",
		Long: `Save the Twitch application's client ID and secret for the other commands.

Without flags on a terminal it prompts (the secret is not echoed). The file is
$XDG_CONFIG_HOME/twitchauth/config.json (~/.config/twitchauth/config.json),
mode 0600. The environment overrides it (TWITCH_CLIENT_ID, TWITCH_CLIENT_SECRET,
TWITCH_ID_URL, TWITCH_API_URL), and flags of each command override both.
--id-url and --api-url point the commands at another identity service or API,
such as the sandbox started by "twitchauth mock"; an empty value means Twitch.`,
		Example: `  twitchauth configure
  twitchauth configure --client-id ID --secret-stdin < secret.txt
  twitchauth configure --id-url http://127.0.0.1:8090/oauth2 --api-url http://127.0.0.1:8090/helix
  twitchauth configure --show`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fl := cmd.Flags()
			if fl.Changed("client-id") {
				o.ClientID = &clientID
			}
			if fl.Changed("secret") {
				o.Secret = &secret
			}
			if fl.Changed("id-url") {
				o.IDURL = &idURL
			}
			if fl.Changed("api-url") {
				o.APIURL = &apiURL
			}
			return Run(cmd.Context(), o, stdin, stdout, stderr, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&clientID, "client-id", "", "the application's client ID")
	fl.StringVar(&secret, "secret", "", "the application's client secret (visible to other local users in the process list: prefer --secret-stdin or the prompt)")
	fl.BoolVar(&o.SecretStdin, "secret-stdin", false, "read the client secret from the first line of stdin")
	fl.StringVar(&idURL, "id-url", "", `identity service base URL (default Twitch's, "https://id.twitch.tv/oauth2")`)
	fl.StringVar(&apiURL, "api-url", "", `Helix base URL (default Twitch's, "https://api.twitch.tv/helix")`)
	fl.BoolVar(&o.Show, "show", false, "print the configuration (the secret masked) instead of changing it")
	fl.BoolVar(&o.JSON, "json", false, "print one JSON object on stdout")
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
func Run(ctx context.Context, o *Options, in io.Reader, out, errOut io.Writer, f *config.Factory) error {
	if f == nil {
		f = config.Default()
	}
	f.Fill()
	path, err := config.ConfigPath(f.Getenv)
	if err != nil {
		return err
	}
	cur, warning, err := config.ReadFile(path)
	if err != nil {
		return err
	}
	if warning != "" {
		fmt.Fprintln(errOut, "warning:", warning)
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
			return cliutil.Exitf(cliutil.ExitUsage, "--secret and --secret-stdin cannot be combined")
		}
		if o.ClientID != nil {
			next.ClientID = strings.TrimSpace(*o.ClientID)
		}
		if o.Secret != nil {
			next.ClientSecret = strings.TrimSpace(*o.Secret)
		}
		if o.SecretStdin {
			s, err := config.ReadLine(in)
			if err != nil {
				return cliutil.Exitf(cliutil.ExitUsage, "--secret-stdin: reading the secret from stdin: %v", err)
			}
			next.ClientSecret = strings.TrimSpace(s)
		}
		if o.IDURL != nil {
			next.IDURL = strings.TrimRight(strings.TrimSpace(*o.IDURL), "/")
		}
		if o.APIURL != nil {
			next.APIURL = strings.TrimRight(strings.TrimSpace(*o.APIURL), "/")
		}
	} else {
		if !f.IsTerminal(in) {
			return cliutil.Exitf(cliutil.ExitUsage,
				"stdin is not a terminal, so there is nobody to ask: pass --client-id and --secret-stdin (or --secret), or set %s and %s",
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
func prompt(in io.Reader, errOut io.Writer, cur config.File, f *config.Factory) (config.File, error) {
	next := cur
	if cur.ClientID != "" {
		fmt.Fprintf(errOut, "Client ID [%s]: ", cur.ClientID)
	} else {
		fmt.Fprint(errOut, "Client ID: ")
	}
	id, err := config.ReadLine(in)
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
	secret, err := f.ReadSecret(in)
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
		enc := json.NewEncoder(out)
		enc.SetEscapeHTML(false)
		return enc.Encode(s)
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
