package serve

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/twitchauth/twitchauth/broker"
	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
	"github.com/twitchauth/twitchauth/internal/cli/config"
	"github.com/twitchauth/twitchauth/store"
)

// keyBackend is where `serve keys` keeps the keys: the keys file (one
// broker) or the store's broker.KeysRecord of one application (a fleet on
// PostgreSQL).
type keyBackend interface {
	// where names the place for messages.
	where() string
	list(ctx context.Context) ([]broker.APIKey, error)
	// update replaces the keys with fn's result.
	update(ctx context.Context, fn func([]broker.APIKey) ([]broker.APIKey, error)) error
	// applies says when a running broker applies a change.
	applies() string
	close()
}

type fileKeys struct{ path string }

func (f fileKeys) where() string { return f.path }
func (f fileKeys) list(context.Context) ([]broker.APIKey, error) {
	return broker.ReadKeysFile(f.path)
}
func (f fileKeys) update(_ context.Context, fn func([]broker.APIKey) ([]broker.APIKey, error)) error {
	keys, err := broker.ReadKeysFile(f.path)
	if err != nil {
		return cliutil.Exit(cliutil.ExitUsage, err)
	}
	next, err := fn(keys)
	if err != nil {
		return err
	}
	if err := broker.WriteKeysFile(f.path, next); err != nil {
		return cliutil.Exitf(cliutil.ExitInternal, "writing %s: %v", f.path, err)
	}
	return nil
}
func (f fileKeys) applies() string {
	return "A running broker using this keys file applies it within a second (it reads the file every second; SIGHUP makes it read it at once)."
}
func (fileKeys) close() {}

type storeKeys struct {
	st       store.Store
	clientID string
	name     string
	done     func() error
}

func (s storeKeys) where() string { return s.name }
func (s storeKeys) list(ctx context.Context) ([]broker.APIKey, error) {
	keys, _, err := broker.LoadStoreKeys(ctx, s.st, s.clientID)
	return keys, err
}
func (s storeKeys) update(ctx context.Context, fn func([]broker.APIKey) ([]broker.APIKey, error)) error {
	return broker.UpdateStoreKeys(ctx, s.st, s.clientID, fn)
}
func (storeKeys) applies() string {
	return "Every broker using this store applies it within a second (each replica reads the store's keys every second)."
}
func (s storeKeys) close() { s.done() }

// KeysOptions are the flags every `serve keys` command shares: where the
// keys are.
type KeysOptions struct {
	KeysFile string // --keys-file
	Store    string // --store: a postgres:// URL
	KeyFile  string // --encryption-key-file (with --store)
	ClientID string // --client-id (with --store)
	JSON     bool   // one compact JSON object per line on stdout

	storeSet, keysFileSet bool

	// Factory gives the streams, the environment and the clock.
	Factory *cliutil.Factory
}

// backend opens where the keys are: the store's (--store), or the keys
// file (--keys-file, $TWITCHAUTH_KEYS_FILE, or the default).
func (o *KeysOptions) backend(ctx context.Context) (keyBackend, error) {
	f := o.Factory.Fill()
	if o.storeSet {
		if !strings.HasPrefix(o.Store, "postgres://") && !strings.HasPrefix(o.Store, "postgresql://") {
			return nil, cliutil.Exitf(cliutil.ExitUsage, "--store %s: keys in the store are for fleets on PostgreSQL (postgres://…); one broker keeps its keys in the keys file (--keys-file)", store.RedactDSN(o.Store))
		}
		if o.keysFileSet {
			return nil, cliutil.Exitf(cliutil.ExitUsage, "give --store or --keys-file, not both")
		}
		id := cmp.Or(o.ClientID, f.Getenv(cliutil.EnvClientID))
		if id == "" {
			return nil, cliutil.Exitf(cliutil.ExitUsage, "--store: give --client-id (or set TWITCH_CLIENT_ID): the keys in the store belong to one Twitch application, as its grants do")
		}
		st, done, err := openStore(ctx, o.Store, o.KeyFile, f.Getenv, slog.New(slog.DiscardHandler))
		if err != nil {
			return nil, err
		}
		return storeKeys{st: st, clientID: id, name: "the store " + store.RedactDSN(o.Store) + " (application " + id + ")", done: done}, nil
	}
	if o.KeysFile != "" {
		return fileKeys{o.KeysFile}, nil
	}
	if e := f.Getenv("TWITCHAUTH_KEYS_FILE"); e != "" {
		return fileKeys{e}, nil
	}
	p, err := config.DataPath(f.Getenv, "broker-keys.json")
	if err != nil {
		return nil, err
	}
	return fileKeys{p}, nil
}

// KeyJSON is a key as --json prints it: never the key, except Key right
// after create or rotate.
type KeyJSON struct {
	Name     string            `json:"name"`
	Key      string            `json:"key,omitempty"`
	SHA256   string            `json:"sha256"`
	Perms    []broker.Perm     `json:"perms"`
	Subjects []string          `json:"subjects,omitempty"`
	Helix    []string          `json:"helix,omitempty"`
	Created  *time.Time        `json:"created,omitempty"`
	Expires  *time.Time        `json:"expires,omitempty"`
	Previous []PreviousKeyJSON `json:"previous,omitempty"`
	Where    string            `json:"where,omitempty"`
}

// PreviousKeyJSON is a rotated-out value still in its grace period.
type PreviousKeyJSON struct {
	SHA256 string    `json:"sha256"`
	Until  time.Time `json:"until"`
}

func keyJSON(k broker.APIKey) KeyJSON {
	j := KeyJSON{Name: k.Name, SHA256: k.SHA256, Perms: k.Perms, Subjects: k.Subjects, Helix: k.Helix}
	if !k.Created.IsZero() {
		c := k.Created.UTC()
		j.Created = &c
	}
	if !k.Expires.IsZero() {
		e := k.Expires.UTC()
		j.Expires = &e
	}
	for _, p := range k.Previous {
		j.Previous = append(j.Previous, PreviousKeyJSON{SHA256: p.SHA256, Until: p.Until.UTC()})
	}
	return j
}

// CreateOptions are the flags of `serve keys create`.
type CreateOptions struct {
	*KeysOptions
	Name       string
	Perms      []string
	Subjects   []string
	Helix      []string
	Expires    string
	ExpiresSet bool
}

// RotateOptions are the flags of `serve keys rotate`.
type RotateOptions struct {
	*KeysOptions
	Name  string
	Grace time.Duration
}

// DeleteOptions are the argument of `serve keys delete`.
type DeleteOptions struct {
	*KeysOptions
	Name string
}

// KeysRunFuncs replace the run functions of `serve keys`' subcommands, for
// tests that check what a command line parses into without touching a keys
// file or store (gh's runF seam); a nil field runs the real function.
type KeysRunFuncs struct {
	Create func(context.Context, *CreateOptions) error
	List   func(context.Context, *KeysOptions) error
	Rotate func(context.Context, *RotateOptions) error
	Delete func(context.Context, *DeleteOptions) error
}

// NewCmdKeys returns `serve keys` and its subcommands create, list, rotate
// and delete, with their options and streams from f; runs replaces their
// run functions (the zero value runs the real ones).
func NewCmdKeys(f *cliutil.Factory, runs KeysRunFuncs) *cobra.Command {
	if runs.Create == nil {
		runs.Create = runKeysCreate
	}
	if runs.List == nil {
		runs.List = runKeysList
	}
	if runs.Rotate == nil {
		runs.Rotate = runKeysRotate
	}
	if runs.Delete == nil {
		runs.Delete = runKeysDelete
	}
	o := &KeysOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Manage the broker's API keys (create, list, rotate, delete)",
		Long: `Manage the API keys internal services use to call the broker.

Keys are stored as SHA-256 hashes; the key itself is printed once, at creation
or rotation. They live in the keys file (mode 0600), for one broker, or with
--store in the PostgreSQL store every replica of a fleet shares. A running
broker applies every change within a second: no restart.

Permissions: ` + permNames() + `.
admin implies every permission and signs in to the web pages.

A key may be scoped to subjects (--subject app, user:<id>, intent:<name>,
user:*, intent:*): it is then refused (403) for any other subject on every
route that hands out or uses a token. A key without --subject may use every
subject its permissions reach. --helix "GET /users" limits its Helix proxy
calls to those methods and path prefixes. See docs/broker.md, "API keys".

Data (a new key, the list) goes to stdout, readable or with --json one
compact JSON object per key and line; messages go to stderr.`,
		Args: cobra.ArbitraryArgs,
		RunE: cliutil.Group,
	}
	pf := cmd.PersistentFlags()
	cliutil.StringVarP(pf, &o.KeysFile, "keys-file", "", "", "API keys `FILE` (default $XDG_DATA_HOME/twitchauth/broker-keys.json)")
	cliutil.WithEnv(pf, "keys-file", "TWITCHAUTH_KEYS_FILE")
	cliutil.StringVarP(pf, &o.Store, cliutil.FlagStore, "", "", "keep the keys in the PostgreSQL store at `URL` (postgres://…), shared by every replica, instead of the keys file; needs the store's encryption key ($"+store.EnvEncryptionKey+" or --encryption-key-file)")
	cliutil.StringVarP(pf, &o.KeyFile, "encryption-key-file", "", "", "with --store: `FILE` holding the store's encryption key")
	cliutil.StringVarP(pf, &o.ClientID, cliutil.FlagClientID, "", "", "with --store: the Twitch client `ID` of the application whose brokers use these keys; each application's keys are its own")
	cliutil.WithEnv(pf, cliutil.FlagClientID, cliutil.EnvClientID)
	cliutil.AddJSONFlag(pf, &o.JSON)
	// Each subcommand records where the keys are before it runs.
	where := func(c *cobra.Command) {
		o.storeSet, o.keysFileSet = c.Flags().Changed(cliutil.FlagStore), c.Flags().Changed("keys-file")
	}

	co := &CreateOptions{KeysOptions: o}
	create := &cobra.Command{
		Use:   "create --name NAME --perm PERM [--perm PERM...] [--subject S...] [--helix \"METHOD /path\"...] [--expires 720h]",
		Short: "Create an API key and print it once",
		Args:  cliutil.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			where(c)
			co.ExpiresSet = c.Flags().Changed("expires")
			return runs.Create(c.Context(), co)
		},
	}
	cliutil.StringVarP(create.Flags(), &co.Name, "name", "", "", "`NAME` of the key (letters, digits, . _ -)")
	cliutil.StringArrayVarP(create.Flags(), &co.Perms, "perm", "", nil, "`PERMISSION` (repeatable or comma-separated): "+permNames())
	cliutil.StringArrayVarP(create.Flags(), &co.Subjects, "subject", "", nil, "limit the key to this `SUBJECT` (repeatable or comma-separated): app, user:<id>, intent:<name>, user:*, intent:*")
	cliutil.StringArrayVarP(create.Flags(), &co.Helix, "helix", "", nil, `limit the key's Helix proxy use to a method and path prefix, such as "GET /users" (repeatable; needs --perm helix)`)
	cliutil.StringVarP(create.Flags(), &co.Expires, "expires", "", "", "the key stops working after this duration (720h) or at this time (2026-12-31T00:00:00Z)")
	create.MarkFlagRequired("name")
	create.MarkFlagRequired("perm")

	list := &cobra.Command{
		Use:   "list",
		Short: "List the API keys (names, permissions, subjects; never the keys)",
		Args:  cliutil.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			where(c)
			return runs.List(c.Context(), o)
		},
	}

	ro := &RotateOptions{KeysOptions: o}
	rotate := &cobra.Command{
		Use:   "rotate --name NAME [--grace 24h]",
		Short: "Give a key a new value, printed once; the old one stays valid for a grace period",
		Args:  cliutil.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			where(c)
			return runs.Rotate(c.Context(), ro)
		},
	}
	cliutil.StringVarP(rotate.Flags(), &ro.Name, "name", "", "", "`NAME` of the key to rotate")
	rotate.Flags().DurationVar(&ro.Grace, "grace", 24*time.Hour, "how long the previous key stays valid (0: every previous value is refused at once, for a leaked key)")
	rotate.MarkFlagRequired("name")

	do := &DeleteOptions{KeysOptions: o}
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete an API key (a running broker refuses it within a second)",
		Args:  cliutil.ExactArgs("NAME"),
		RunE: func(c *cobra.Command, args []string) error {
			where(c)
			do.Name = args[0]
			return runs.Delete(c.Context(), do)
		},
	}
	cmd.AddCommand(create, list, rotate, del)
	return cmd
}

func runKeysCreate(ctx context.Context, o *CreateOptions) error {
	f := o.Factory.Fill()
	ps, err := broker.ParsePerms(strings.Join(o.Perms, ","))
	if err != nil {
		return cliutil.Exit(cliutil.ExitUsage, err)
	}
	now := f.Now().UTC().Truncate(time.Second)
	key := broker.GenerateKey()
	k := broker.APIKey{Name: o.Name, SHA256: broker.HashKey(key), Perms: ps, Subjects: splitList(o.Subjects), Helix: o.Helix, Created: now}
	if o.ExpiresSet {
		if k.Expires, err = parseExpiry(o.Expires, now); err != nil {
			return cliutil.Exit(cliutil.ExitUsage, err)
		}
	}
	if err := k.Validate(); err != nil {
		return cliutil.Exit(cliutil.ExitUsage, err)
	}
	be, err := o.backend(ctx)
	if err != nil {
		return err
	}
	defer be.close()
	err = be.update(ctx, func(keys []broker.APIKey) ([]broker.APIKey, error) {
		if slices.ContainsFunc(keys, func(x broker.APIKey) bool { return x.Name == o.Name }) {
			return nil, cliutil.Exitf(cliutil.ExitUsage, "a key named %q exists: rotate it (serve keys rotate --name %s), delete it first, or pick another name", o.Name, o.Name)
		}
		return append(keys, k), nil
	})
	if err != nil {
		return exitErr(err)
	}
	stdout, stderr := f.IO.Out, f.IO.ErrOut
	if o.JSON {
		j := keyJSON(k)
		j.Key, j.Where = key, be.where()
		if err := cliutil.WriteJSON(stdout, j); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(stdout, key)
	}
	fmt.Fprintf(stderr, "Created API key %q in %s: %s.\nThe key is shown once, on stdout; store it in your service's secrets.\n%s\n",
		o.Name, be.where(), describeKey(k, now), be.applies())
	if k.Unscoped() && !slices.Contains(k.Perms, broker.PermAdmin) {
		fmt.Fprintf(stderr, "It may use every subject its permissions reach; --subject limits it (for example --subject intent:chat).\n")
	}
	if _, file := be.(fileKeys); file && k.Unscoped() && len(k.Helix) == 0 && k.Expires.IsZero() {
		fmt.Fprintf(stderr, "To configure it without the keys file instead: \"api_key\": [\"%s:%s:%s\"]\n", o.Name, k.SHA256, joinPerms(k.Perms))
	}
	return nil
}

func runKeysList(ctx context.Context, o *KeysOptions) error {
	f := o.Factory.Fill()
	be, err := o.backend(ctx)
	if err != nil {
		return err
	}
	defer be.close()
	keys, err := be.list(ctx)
	if err != nil {
		return exitErr(err)
	}
	stdout := f.IO.Out
	if o.JSON {
		for _, k := range keys {
			if err := cliutil.WriteJSON(stdout, keyJSON(k)); err != nil {
				return err
			}
		}
		return nil
	}
	if len(keys) == 0 {
		fmt.Fprintf(f.IO.ErrOut, "no API keys in %s\n", be.where())
		return nil
	}
	now := f.Now()
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPERMISSIONS\tSUBJECTS\tHELIX\tEXPIRES\tCREATED\tSHA256")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s…\n", k.Name, joinPerms(k.Perms), subjectsColumn(k), helixColumn(k),
			expiresColumn(k, now), timeColumn(k.Created), k.SHA256[:12])
	}
	tw.Flush()
	for _, k := range keys {
		for _, p := range k.Previous {
			state := "accepted until " + p.Until.UTC().Format(time.RFC3339)
			if !now.Before(p.Until) {
				state = "refused since " + p.Until.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(stdout, "  %s: previous key sha256:%s… %s (rotation grace)\n", k.Name, p.SHA256[:12], state)
		}
	}
	if slices.ContainsFunc(keys, func(k broker.APIKey) bool { return k.Unscoped() && !slices.Contains(k.Perms, broker.PermAdmin) }) {
		fmt.Fprintln(stdout, "\n(any) = unscoped: the key may use every subject its permissions reach — the app, every connected user and every intent.")
	}
	return nil
}

func runKeysRotate(ctx context.Context, o *RotateOptions) error {
	f := o.Factory.Fill()
	if o.Grace < 0 {
		return cliutil.Exitf(cliutil.ExitUsage, "--grace %v: give a duration of 0 (the old key stops at once) or more, such as 24h", o.Grace)
	}
	be, err := o.backend(ctx)
	if err != nil {
		return err
	}
	defer be.close()
	key := broker.GenerateKey()
	now := f.Now().UTC().Truncate(time.Second)
	var rotated broker.APIKey
	err = be.update(ctx, func(keys []broker.APIKey) ([]broker.APIKey, error) {
		i := slices.IndexFunc(keys, func(k broker.APIKey) bool { return k.Name == o.Name })
		if i < 0 {
			return nil, cliutil.Exitf(cliutil.ExitUsage, "no API key named %q in %s", o.Name, be.where())
		}
		keys = slices.Clone(keys)
		keys[i].Rotate(broker.HashKey(key), now, o.Grace)
		rotated = keys[i]
		return keys, nil
	})
	if err != nil {
		return exitErr(err)
	}
	if o.JSON {
		j := keyJSON(rotated)
		j.Key, j.Where = key, be.where()
		if err := cliutil.WriteJSON(f.IO.Out, j); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(f.IO.Out, key)
	}
	old := "Every previous value of the key is refused from now on (--grace 0)."
	if o.Grace > 0 {
		old = fmt.Sprintf("The previous key stays valid for the grace period of %v, until %s; then it is refused.", o.Grace, now.Add(o.Grace).Format(time.RFC3339))
	}
	fmt.Fprintf(f.IO.ErrOut, "Rotated API key %q in %s.\nThe new key is shown once, on stdout; give it to the service. %s\nThe audit log marks requests made with the previous key (key_previous), so you can see who still uses it.\n%s\n",
		o.Name, be.where(), old, be.applies())
	return nil
}

func runKeysDelete(ctx context.Context, o *DeleteOptions) error {
	f := o.Factory.Fill()
	be, err := o.backend(ctx)
	if err != nil {
		return err
	}
	defer be.close()
	err = be.update(ctx, func(keys []broker.APIKey) ([]broker.APIKey, error) {
		kept := slices.DeleteFunc(slices.Clone(keys), func(k broker.APIKey) bool { return k.Name == o.Name })
		if len(kept) == len(keys) {
			return nil, cliutil.Exitf(cliutil.ExitUsage, "no API key named %q in %s", o.Name, be.where())
		}
		return kept, nil
	})
	if err != nil {
		return exitErr(err)
	}
	if o.JSON {
		if err := cliutil.WriteJSON(f.IO.Out, struct {
			Deleted string `json:"deleted"`
			Where   string `json:"where"`
		}{o.Name, be.where()}); err != nil {
			return err
		}
	}
	fmt.Fprintf(f.IO.ErrOut, "Deleted API key %q from %s. %s\n", o.Name, be.where(), be.applies())
	return nil
}

// exitErr keeps an exit code already chosen, else reports a local failure.
func exitErr(err error) error {
	if _, ok := err.(*cliutil.ExitError); ok {
		return err
	}
	return cliutil.Exit(cliutil.ExitInternal, err)
}

// parseExpiry reads --expires: a duration from now, or an RFC 3339 time,
// in the future.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	var t time.Time
	if d, err := time.ParseDuration(s); err == nil {
		t = now.Add(d)
	} else if t, err = time.Parse(time.RFC3339, s); err != nil {
		return time.Time{}, fmt.Errorf("--expires %q: give a duration such as 720h, or a time such as 2026-12-31T00:00:00Z", s)
	}
	if !t.After(now) {
		return time.Time{}, fmt.Errorf("--expires %q: the key would be expired already; give a time in the future", s)
	}
	return t.UTC().Truncate(time.Second), nil
}

// splitList splits repeatable, comma-separated flag values.
func splitList(vs []string) []string {
	var out []string
	for _, v := range vs {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, f)
			}
		}
	}
	return out
}

func joinPerms(ps []broker.Perm) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return strings.Join(s, ",")
}

func subjectsColumn(k broker.APIKey) string {
	switch {
	case slices.Contains(k.Perms, broker.PermAdmin):
		return "(all: admin)"
	case k.Unscoped():
		return "(any)"
	}
	return strings.Join(k.Subjects, ",")
}

func helixColumn(k broker.APIKey) string {
	if !k.Has(broker.PermHelix) {
		return "-"
	}
	if len(k.Helix) == 0 {
		return "(any)"
	}
	return strings.Join(k.Helix, "; ")
}

func expiresColumn(k broker.APIKey, now time.Time) string {
	switch {
	case k.Expires.IsZero():
		return "never"
	case !now.Before(k.Expires):
		return "EXPIRED " + k.Expires.UTC().Format(time.RFC3339)
	}
	return k.Expires.UTC().Format(time.RFC3339)
}

func timeColumn(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// describeKey says what a key may do, for create's message.
func describeKey(k broker.APIKey, now time.Time) string {
	s := joinPerms(k.Perms) + ", subjects " + subjectsColumn(k)
	if len(k.Helix) > 0 {
		s += ", Helix " + strings.Join(k.Helix, "; ")
	}
	if !k.Expires.IsZero() {
		s += ", expires " + k.Expires.UTC().Format(time.RFC3339) + " (in " + k.Expires.Sub(now).Round(time.Minute).String() + ")"
	}
	return s
}

func permNames() string {
	s := make([]string, len(broker.AllPerms))
	for i, p := range broker.AllPerms {
		s[i] = string(p)
	}
	return strings.Join(s, ", ")
}
