// Package extension implements `twitchauth extension`: `jwt` mints a signed
// extension JWT (for testing an EBS, or a backend token for Helix) and
// `verify` checks one and prints its claims. It owns the commands' flags and
// output only; signing and verification live in the extension package.
package extension

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	extjwt "github.com/twitchauth/twitchauth/extension"
	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
)

// EnvSecret is the environment variable read when no --extension-secret is
// given, so that secrets stay out of shell history. It may hold several
// base64 secrets separated by commas. serve reads the same variable.
const EnvSecret = cliutil.EnvExtensionSecret

// NewCmdExtension returns the `extension` command and its subcommands.
func NewCmdExtension(f *cliutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "extension",
		Short: "Mint and verify Twitch extension JWTs",
		Long: `Mint and verify Twitch extension JWTs (HS256, signed with the extension secret).

The secret is the base64 string from the extension's developer console. Pass
it with --extension-secret or, to keep it out of shell history, in the
environment variable ` + EnvSecret + `. It is never printed.`,
		Args: cobra.ArbitraryArgs,
		RunE: cliutil.Group,
	}
	cmd.AddCommand(NewCmdJWT(f, nil), NewCmdVerify(f, nil))
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
	Lifetime     time.Duration
	JSON         bool

	// Factory gives the output streams, the environment and the clock.
	Factory *cliutil.Factory
}

// addSecretFlag adds --extension-secret, its environment variable and the
// old --secret.
func addSecretFlag(fs *pflag.FlagSet, p any, usage string) {
	switch p := p.(type) {
	case *string:
		cliutil.StringVarP(fs, p, cliutil.FlagExtensionSecret, "", "", usage)
	case *[]string:
		cliutil.StringArrayVarP(fs, p, cliutil.FlagExtensionSecret, "", nil, usage)
	}
	cliutil.WithEnv(fs, cliutil.FlagExtensionSecret, EnvSecret)
	cliutil.Alias(fs, cliutil.FlagExtensionSecret, "secret", "")
}

// NewCmdJWT returns `extension jwt`. runF, when not nil, replaces RunJWT.
func NewCmdJWT(f *cliutil.Factory, runF func(*JWTOptions) error) *cobra.Command {
	o := &JWTOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "jwt",
		Short: "Print a signed extension JWT",
		Long: `Print a signed extension JWT, as Twitch gives an extension front end
(role broadcaster, moderator or viewer) or as an EBS sends to Twitch (role
external, with --user-id the extension owner's user ID).

The token goes to stdout; --json prints {"token","claims","expires_at"} on one
line instead.`,
		Example: `  TWITCH_EXTENSION_SECRET=... twitchauth extension jwt --role viewer \
      --channel-id 141981764 --opaque-user-id UG12X345T6J78`,
		Args: cliutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(o)
			}
			return RunJWT(o)
		},
	}
	fs := cmd.Flags()
	addSecretFlag(fs, &o.Secret, "extension `SECRET`, base64 (visible in the process list: prefer the environment)")
	cliutil.StringVarP(fs, &o.Role, "role", "", "", "`ROLE`: broadcaster, moderator, viewer or external (required)")
	cliutil.StringVarP(fs, &o.ChannelID, "channel-id", "", "", "channel_id claim: the channel's user `ID`")
	cliutil.StringVarP(fs, &o.OpaqueUserID, "opaque-user-id", "", "", "opaque_user_id claim (\"U…\" or \"A…\"; required except for role external)")
	cliutil.StringVarP(fs, &o.UserID, "user-id", "", "", "user_id claim (a viewer who shared their identity, or the owner for role external)")
	cliutil.StringArrayVarP(fs, &o.PubSubListen, "pubsub-listen", "", nil, "pubsub_perms.listen `TARGET` (repeatable)")
	cliutil.StringArrayVarP(fs, &o.PubSubSend, "pubsub-send", "", nil, "pubsub_perms.send `TARGET` (repeatable, e.g. broadcast)")
	fs.DurationVar(&o.Lifetime, "jwt-lifetime", extjwt.DefaultTTL, "lifetime of the token")
	cliutil.Alias(fs, "jwt-lifetime", "ttl", "")
	cliutil.AddJSONFlag(fs, &o.JSON)
	return cmd
}

// RunJWT mints the token described by o and prints it.
func RunJWT(o *JWTOptions) error {
	f := o.factory()
	role := extjwt.Role(o.Role)
	if !slices.Contains(extjwt.AllRoles, role) {
		return cliutil.Exitf(cliutil.ExitUsage, "--role must be broadcaster, moderator, viewer or external")
	}
	if o.OpaqueUserID == "" && role != extjwt.RoleExternal {
		return cliutil.Exitf(cliutil.ExitUsage, "--opaque-user-id is required for role %s", role)
	}
	if o.Lifetime <= 0 {
		return cliutil.Exitf(cliutil.ExitUsage, "--jwt-lifetime must be positive")
	}
	secrets, err := readSecrets(nonEmpty(o.Secret), f.Getenv)
	if err != nil {
		return err
	}
	signer, err := extjwt.NewSigner(extjwt.NewKeyring(secrets[0]), extjwt.SignerConfig{TTL: o.Lifetime, Now: f.Now})
	if err != nil {
		return cliutil.Exit(cliutil.ExitInternal, err)
	}
	claims := extjwt.Claims{
		Exp:          f.Now().Add(o.Lifetime).Unix(),
		OpaqueUserID: o.OpaqueUserID, UserID: o.UserID, ChannelID: o.ChannelID, Role: role,
		PubSubPerms: extjwt.PubSubPerms{Listen: o.PubSubListen, Send: o.PubSubSend},
	}
	tok, err := signer.Sign(claims)
	if err != nil {
		return cliutil.Exit(cliutil.ExitInternal, err)
	}
	if !o.JSON {
		_, err = fmt.Fprintln(f.IO.Out, tok)
		return err
	}
	return cliutil.WriteJSON(f.IO.Out, struct {
		Token     string         `json:"token"`
		Claims    *extjwt.Claims `json:"claims"`
		ExpiresAt time.Time      `json:"expires_at"`
	}{tok, &claims, claims.ExpiresAt().UTC()})
}

func (o *JWTOptions) factory() *cliutil.Factory {
	if o.Factory == nil {
		o.Factory = &cliutil.Factory{}
	}
	return o.Factory.Fill()
}

// VerifyOptions are the flags and argument of `twitchauth extension verify`.
type VerifyOptions struct {
	Secrets []string // base64; empty means EnvSecret
	Token   string   // "-" or empty reads one line from stdin
	Leeway  time.Duration
	Roles   []string // empty: every role
	JSON    bool     // the claims as one compact JSON object

	// Factory gives the streams, the environment and the clock.
	Factory *cliutil.Factory
}

// NewCmdVerify returns `extension verify`. runF, when not nil, replaces
// RunVerify.
func NewCmdVerify(f *cliutil.Factory, runF func(context.Context, *VerifyOptions) error) *cobra.Command {
	o := &VerifyOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "verify [TOKEN|-]",
		Short: "Verify an extension JWT and print its claims",
		Long: `Verify an extension JWT (HS256, one of the given secrets, exp not past,
an allowed role) and print its claims: readable lines, or with --json one
compact JSON object. Without TOKEN, or with "-", the token is read from
standard input. An invalid token exits with status 1 and the reason on stderr.`,
		Args: cliutil.MaxArgs("TOKEN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if strings.TrimSpace(args[0]) == "" {
					return cliutil.Exitf(cliutil.ExitUsage, "TOKEN is empty: pass the token, or - to read it from standard input")
				}
				o.Token = args[0]
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return RunVerify(cmd.Context(), o)
		},
	}
	fs := cmd.Flags()
	addSecretFlag(fs, &o.Secrets, "extension `SECRET`, base64 (repeatable; the environment variable takes several, comma-separated)")
	fs.DurationVar(&o.Leeway, "leeway", 0, "clock skew tolerated on exp")
	cliutil.StringArrayVarP(fs, &o.Roles, "role", "", nil, "allowed `ROLE` (repeatable; default all)")
	cliutil.AddJSONFlag(fs, &o.JSON)
	return cmd
}

// RunVerify verifies o.Token and prints its claims.
func RunVerify(ctx context.Context, o *VerifyOptions) error {
	if o.Factory == nil {
		o.Factory = &cliutil.Factory{}
	}
	f := o.Factory.Fill()
	if ctx == nil {
		ctx = context.Background()
	}
	secrets, err := readSecrets(o.Secrets, f.Getenv)
	if err != nil {
		return err
	}
	token := strings.TrimSpace(o.Token)
	if token == "" || token == "-" {
		line, err := bufio.NewReader(io.LimitReader(f.IO.In, 1<<20)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return cliutil.Exit(cliutil.ExitInternal, fmt.Errorf("reading the token: %w", err))
		}
		if token = strings.TrimSpace(line); token == "" {
			return cliutil.Exitf(cliutil.ExitUsage, "no token: pass TOKEN or pipe it on standard input")
		}
	}
	cfg := extjwt.VerifierConfig{Leeway: o.Leeway, Now: f.Now}
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
	if o.JSON {
		return cliutil.WriteJSON(f.IO.Out, claims)
	}
	return writeClaims(f.IO.Out, claims, f.Now())
}

// writeClaims prints the claims of a valid token as readable lines.
func writeClaims(w io.Writer, c *extjwt.Claims, now time.Time) error {
	var b strings.Builder
	line := func(label, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%s: %s\n", label, v)
		}
	}
	b.WriteString("Valid extension JWT.\n")
	line("Role", string(c.Role))
	line("Channel ID", c.ChannelID)
	line("Opaque User ID", c.OpaqueUserID)
	line("User ID", c.UserID)
	if c.IsUnlinked {
		line("Unlinked", "yes (the user revoked the identity they once shared)")
	}
	line("Client ID", c.ClientID)
	if exp := c.ExpiresAt(); !exp.IsZero() {
		line("Expires At", fmt.Sprintf("%s (in %v)", exp.UTC().Format(time.RFC3339), exp.Sub(now).Round(time.Second)))
	}
	line("PubSub Listen", strings.Join(c.PubSubPerms.Listen, " "))
	line("PubSub Send", strings.Join(c.PubSubPerms.Send, " "))
	_, err := io.WriteString(w, b.String())
	return err
}

// readSecrets parses the given secrets, or those in EnvSecret.
func readSecrets(flags []string, getenv func(string) string) ([]extjwt.Secret, error) {
	vals := flags
	source := "--extension-secret"
	if len(vals) == 0 {
		source = "$" + EnvSecret
		for _, s := range strings.Split(getenv(EnvSecret), ",") {
			if s = strings.TrimSpace(s); s != "" {
				vals = append(vals, s)
			}
		}
	}
	if len(vals) == 0 {
		return nil, cliutil.Exitf(cliutil.ExitUsage, "no extension secret: set $%s or pass --extension-secret", EnvSecret)
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
