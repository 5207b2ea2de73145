// Package extension implements `twitchauth extension`: `jwt` mints a signed
// extension JWT (for testing an EBS, or a backend token for Helix) and
// `verify` checks one and prints its claims. It owns the commands' flags and
// output only; signing and verification live in the extension package.
package extension

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	extjwt "github.com/twitchauth/twitchauth/extension"
	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
)

// EnvSecret is the environment variable read when no --secret is given,
// so that secrets stay out of shell history. It may hold several base64
// secrets separated by commas.
const EnvSecret = "TWITCH_EXTENSION_SECRET"

// NewCommand returns the `extension` command and its subcommands.
func NewCommand(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "extension",
		Short: "Mint and verify Twitch extension JWTs",
		Long: `Mint and verify Twitch extension JWTs (HS256, signed with the extension secret).

The secret is the base64 string from the extension's developer console. Pass
it with --secret or, to keep it out of shell history, in the environment
variable ` + EnvSecret + `. It is never printed.`,
	}
	cmd.AddCommand(newJWTCommand(stdout), newVerifyCommand(stdout))
	return cmd
}

// JWTOptions are the flags of `twitchauth extension jwt`.
type JWTOptions struct {
	Secret       string // base64; empty means EnvSecret
	Role         string
	ChannelID    string
	OpaqueUserID string
	UserID       string
	PubSubListen []string
	PubSubSend   []string
	TTL          time.Duration
	JSON         bool

	Stdout io.Writer
	Getenv func(string) string // default os.Getenv
	Now    func() time.Time    // default time.Now
}

func newJWTCommand(stdout io.Writer) *cobra.Command {
	o := &JWTOptions{Stdout: stdout}
	cmd := &cobra.Command{
		Use:   "jwt",
		Short: "Print a signed extension JWT",
		Long: `Print a signed extension JWT, as Twitch gives an extension front end
(role broadcaster, moderator or viewer) or as an EBS sends to Twitch (role
external, with --user-id the extension owner's user ID).

Example:
  TWITCH_EXTENSION_SECRET=... twitchauth extension jwt --role viewer \
      --channel-id 141981764 --opaque-user-id UG12X345T6J78`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return RunJWT(o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.Secret, "secret", "", "extension secret, base64 (default $"+EnvSecret+")")
	f.StringVar(&o.Role, "role", "", "role: broadcaster, moderator, viewer or external (required)")
	f.StringVar(&o.ChannelID, "channel-id", "", "channel_id claim")
	f.StringVar(&o.OpaqueUserID, "opaque-user-id", "", `opaque_user_id claim ("U…" or "A…"; required except for role external)`)
	f.StringVar(&o.UserID, "user-id", "", "user_id claim (a viewer who shared their identity, or the owner for role external)")
	f.StringArrayVar(&o.PubSubListen, "pubsub-listen", nil, "pubsub_perms.listen entry (repeatable)")
	f.StringArrayVar(&o.PubSubSend, "pubsub-send", nil, "pubsub_perms.send entry (repeatable, e.g. broadcast)")
	f.DurationVar(&o.TTL, "ttl", extjwt.DefaultTTL, "lifetime of the token")
	f.BoolVar(&o.JSON, "json", false, `print {"token","claims","expires_at"} as JSON`)
	return cmd
}

// RunJWT mints the token described by o and prints it.
func RunJWT(o *JWTOptions) error {
	o.defaults()
	role := extjwt.Role(o.Role)
	if !slices.Contains(extjwt.AllRoles, role) {
		return cliutil.Exitf(cliutil.ExitUsage, "--role must be broadcaster, moderator, viewer or external")
	}
	if o.OpaqueUserID == "" && role != extjwt.RoleExternal {
		return cliutil.Exitf(cliutil.ExitUsage, "--opaque-user-id is required for role %s", role)
	}
	if o.TTL <= 0 {
		return cliutil.Exitf(cliutil.ExitUsage, "--ttl must be positive")
	}
	secrets, err := readSecrets(nonEmpty(o.Secret), o.Getenv)
	if err != nil {
		return err
	}
	signer, err := extjwt.NewSigner(extjwt.NewKeyring(secrets[0]), extjwt.SignerConfig{TTL: o.TTL, Now: o.Now})
	if err != nil {
		return cliutil.Exit(cliutil.ExitInternal, err)
	}
	claims := extjwt.Claims{
		Exp:          o.Now().Add(o.TTL).Unix(),
		OpaqueUserID: o.OpaqueUserID, UserID: o.UserID, ChannelID: o.ChannelID, Role: role,
		PubSubPerms: extjwt.PubSubPerms{Listen: o.PubSubListen, Send: o.PubSubSend},
	}
	tok, err := signer.Sign(claims)
	if err != nil {
		return cliutil.Exit(cliutil.ExitInternal, err)
	}
	if !o.JSON {
		_, err = fmt.Fprintln(o.Stdout, tok)
		return err
	}
	return writeJSON(o.Stdout, struct {
		Token     string         `json:"token"`
		Claims    *extjwt.Claims `json:"claims"`
		ExpiresAt time.Time      `json:"expires_at"`
	}{tok, &claims, claims.ExpiresAt().UTC()})
}

func (o *JWTOptions) defaults() {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
}

// VerifyOptions are the flags and argument of `twitchauth extension verify`.
type VerifyOptions struct {
	Secrets []string // base64; empty means EnvSecret
	Token   string   // "-" or empty reads one line from Stdin
	Leeway  time.Duration
	Roles   []string // empty: every role

	Stdin  io.Reader
	Stdout io.Writer
	Getenv func(string) string // default os.Getenv
	Now    func() time.Time    // default time.Now
}

func newVerifyCommand(stdout io.Writer) *cobra.Command {
	o := &VerifyOptions{Stdout: stdout}
	cmd := &cobra.Command{
		Use:   "verify [TOKEN|-]",
		Short: "Verify an extension JWT and print its claims as JSON",
		Long: `Verify an extension JWT (HS256, one of the given secrets, exp not past,
an allowed role) and print its claims as JSON. Without TOKEN, or with "-",
the token is read from standard input. An invalid token exits with status 1
and the reason on stderr.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Token = args[0]
			}
			o.Stdin = cmd.InOrStdin()
			return RunVerify(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.Secrets, "secret", nil, "extension secret, base64 (repeatable; default $"+EnvSecret+", comma-separated)")
	f.DurationVar(&o.Leeway, "leeway", 0, "clock skew tolerated on exp")
	f.StringArrayVar(&o.Roles, "role", nil, "allowed role (repeatable; default all)")
	return cmd
}

// RunVerify verifies o.Token and prints its claims.
func RunVerify(ctx context.Context, o *VerifyOptions) error {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if ctx == nil {
		ctx = context.Background()
	}
	secrets, err := readSecrets(o.Secrets, o.Getenv)
	if err != nil {
		return err
	}
	token := strings.TrimSpace(o.Token)
	if token == "" || token == "-" {
		if o.Stdin == nil {
			return cliutil.Exitf(cliutil.ExitUsage, "no token: pass TOKEN or pipe it on standard input")
		}
		line, err := bufio.NewReader(io.LimitReader(o.Stdin, 1<<20)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return cliutil.Exit(cliutil.ExitInternal, fmt.Errorf("reading the token: %w", err))
		}
		if token = strings.TrimSpace(line); token == "" {
			return cliutil.Exitf(cliutil.ExitUsage, "no token: pass TOKEN or pipe it on standard input")
		}
	}
	cfg := extjwt.VerifierConfig{Leeway: o.Leeway, Now: o.Now}
	for _, r := range o.Roles {
		cfg.Roles = append(cfg.Roles, extjwt.Role(r))
	}
	v, err := extjwt.NewVerifier(extjwt.NewKeyring(secrets...), cfg)
	if err != nil {
		return cliutil.Exit(cliutil.ExitUsage, err)
	}
	claims, err := v.Verify(ctx, token)
	if err != nil {
		return cliutil.Exit(cliutil.ExitRefused, fmt.Errorf("token refused: %w", err))
	}
	return writeJSON(o.Stdout, claims)
}

// readSecrets parses the given secrets, or those in EnvSecret.
func readSecrets(flags []string, getenv func(string) string) ([]extjwt.Secret, error) {
	vals := flags
	source := "--secret"
	if len(vals) == 0 {
		source = "$" + EnvSecret
		for _, s := range strings.Split(getenv(EnvSecret), ",") {
			if s = strings.TrimSpace(s); s != "" {
				vals = append(vals, s)
			}
		}
	}
	if len(vals) == 0 {
		return nil, cliutil.Exitf(cliutil.ExitUsage, "no extension secret: set $%s or pass --secret", EnvSecret)
	}
	out := make([]extjwt.Secret, 0, len(vals))
	for i, v := range vals {
		s, err := extjwt.ParseSecret(v)
		if err != nil {
			return nil, cliutil.Exitf(cliutil.ExitUsage, "%s (secret %d): %v", source, i+1, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return cliutil.Exit(cliutil.ExitInternal, err)
	}
	return nil
}
