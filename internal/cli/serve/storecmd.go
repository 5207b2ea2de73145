package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
	"github.com/twitchauth/twitchauth/internal/cli/config"
	"github.com/twitchauth/twitchauth/store"
)

// StoreOptions are the inputs of `serve store check|remove`: where the
// broker's store is, resolved like serve's own settings.
type StoreOptions struct {
	ConfigPath string
	Store      string // --store; empty: the configuration, then the default
	KeyFile    string // --encryption-key-file
	JSON       bool   // one compact JSON object per line on stdout

	// Factory gives the streams and the environment.
	Factory *cliutil.Factory
}

// open opens the broker's store as `serve` would.
func (o *StoreOptions) open(ctx context.Context) (store.Store, string, func() error, error) {
	flags := map[string][]string{}
	if o.Store != "" {
		flags["store"] = []string{o.Store}
	}
	if o.KeyFile != "" {
		flags["encryption_key_file"] = []string{o.KeyFile}
	}
	f := o.Factory.Fill()
	so := &Options{ConfigPath: o.ConfigPath, Flags: flags, Getenv: f.Getenv}
	v, notes, err := so.settings()
	if err != nil {
		return nil, "", nil, cliutil.Exit(cliutil.ExitUsage, err)
	}
	for _, n := range notes {
		fmt.Fprintln(f.IO.ErrOut, "warning:", n)
	}
	spec := v.get("store")
	if spec == "" {
		if spec, err = config.DataPath(f.Getenv, "broker.db"); err != nil {
			return nil, "", nil, err
		}
	}
	if spec == "memory" {
		return nil, "", nil, cliutil.Exitf(cliutil.ExitUsage, "the memory store lives inside the broker process: there is nothing to check or remove")
	}
	log := slog.New(slog.NewTextHandler(f.IO.ErrOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, closeStore, err := openStore(ctx, spec, v.get("encryption_key_file"), f.Getenv, log)
	if err != nil {
		return nil, "", nil, err
	}
	return st, spec, closeStore, nil
}

// StoreRunFuncs replace the run functions of `serve store check` and
// `serve store remove KEY`, for tests (gh's runF seam); a nil field runs
// the real function.
type StoreRunFuncs struct {
	Check  func(context.Context, *StoreOptions) error
	Remove func(ctx context.Context, o *StoreOptions, key string) error
}

// NewCmdStore returns `serve store` and its subcommands check and remove,
// with their options and streams from f; runs replaces their run functions
// (the zero value runs the real ones).
func NewCmdStore(f *cliutil.Factory, runs StoreRunFuncs) *cobra.Command {
	if runs.Check == nil {
		runs.Check = runStoreCheck
	}
	if runs.Remove == nil {
		runs.Remove = runStoreRemove
	}
	o := &StoreOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Check the broker's token store for unreadable records, and remove one",
		Long: `Check the broker's token store, and remove a record it cannot read.

A record is unreadable when its tokens are corrupt or were sealed with an
encryption key the broker does not hold. The broker keeps serving every
other grant and lists such records on /readyz and its accounts page; it never
deletes them itself. Restore the key they were sealed with if you can
(TWITCHAUTH_ENCRYPTION_KEY=new,old); otherwise remove them here.

The store is found as serve finds it: --store, TWITCHAUTH_STORE, the
configuration file (--config), or the default. "check" prints on stdout,
readable or with --json one compact JSON object per line.`,
		Args: cobra.ArbitraryArgs,
		RunE: cliutil.Group,
	}
	fs := cmd.PersistentFlags()
	cliutil.StringVarP(fs, &o.ConfigPath, "config", "", "", "serve's configuration `FILE` (one JSON object)")
	cliutil.StringVarP(fs, &o.Store, cliutil.FlagStore, "", "", "token `STORE`: a SQLite file path or a postgres:// URL")
	cliutil.WithEnv(fs, cliutil.FlagStore, "TWITCHAUTH_STORE")
	cliutil.StringVarP(fs, &o.KeyFile, "encryption-key-file", "", "", "`FILE` holding the store's encryption key")
	cliutil.WithEnv(fs, "encryption-key-file", "TWITCHAUTH_ENCRYPTION_KEY_FILE")
	cliutil.AddJSONFlag(fs, &o.JSON)

	check := &cobra.Command{
		Use:   "check",
		Short: "List the records the store cannot read (exit 1 if any)",
		Args:  cliutil.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return runs.Check(cmd.Context(), o) },
	}
	remove := &cobra.Command{
		Use:   "remove KEY",
		Short: "Remove one record the store cannot read (KEY as \"store check\" prints it)",
		Args:  cliutil.ExactArgs("KEY"),
		RunE:  func(cmd *cobra.Command, args []string) error { return runs.Remove(cmd.Context(), o, args[0]) },
	}
	cmd.AddCommand(check, remove)
	return cmd
}

// runStoreCheck lists the unreadable records: exit 0 when there are none,
// 1 when there are.
func runStoreCheck(ctx context.Context, o *StoreOptions) error {
	st, spec, closeStore, err := o.open(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	recs, err := st.List(ctx)
	var ue *store.UnreadableError
	if err != nil && !errors.As(err, &ue) {
		return cliutil.Exitf(cliutil.ExitInternal, "listing the records of %s: %v", redactSpec(spec), err)
	}
	out := o.Factory.IO.Out
	var unreadable []store.UnreadableRecord
	if ue != nil {
		unreadable = ue.Records
	}
	if o.JSON {
		if err := cliutil.WriteJSON(out, struct {
			Readable   int `json:"readable"`
			Unreadable int `json:"unreadable"`
		}{len(recs), len(unreadable)}); err != nil {
			return err
		}
		for _, u := range unreadable {
			if err := cliutil.WriteJSON(out, struct {
				Key string `json:"key"`
				Err string `json:"error"`
			}{u.Key, u.Err.Error()}); err != nil {
				return err
			}
		}
	} else {
		fmt.Fprintf(out, "%d records readable\n", len(recs))
		for _, u := range unreadable {
			fmt.Fprintf(out, "unreadable\t%s\t%v\n", u.Key, u.Err)
		}
	}
	if ue == nil {
		return nil
	}
	return cliutil.Exitf(cliutil.ExitRefused, "%d record(s) cannot be read: restore the encryption key they were sealed with, "+
		"or remove each with `twitchauth serve store remove KEY`", len(ue.Records))
}

// runStoreRemove deletes one unreadable record. A record that reads fine is
// refused: a connected account is removed through the broker (accounts page,
// DELETE /v1/users/{id}), which revokes its tokens at Twitch first.
func runStoreRemove(ctx context.Context, o *StoreOptions, key string) error {
	if key == "" {
		return cliutil.Exitf(cliutil.ExitUsage, "give the KEY of the record to remove, as `twitchauth serve store check` prints it")
	}
	st, spec, closeStore, err := o.open(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	_, loadErr := st.Load(ctx, key)
	switch err := loadErr; {
	case errors.Is(err, store.ErrNotFound):
		return cliutil.Exitf(cliutil.ExitUsage, "no record %q in %s (list them with `twitchauth serve store check`)", key, redactSpec(spec))
	case err == nil:
		return cliutil.Exitf(cliutil.ExitUsage, "the record %q reads fine: disconnect the account on the broker's accounts page "+
			"or with DELETE /v1/users/{id}, which also revokes its tokens at Twitch", key)
	case !errors.Is(err, store.ErrCorrupt) && !errors.Is(err, store.ErrWrongKey):
		return cliutil.Exitf(cliutil.ExitInternal, "reading %q: %v", key, err)
	}
	if err := st.Delete(ctx, key); err != nil {
		return cliutil.Exitf(cliutil.ExitInternal, "removing %q: %v", key, err)
	}
	fmt.Fprintf(o.Factory.IO.ErrOut, "Removed the unreadable record %q (%v).\n", key, loadErr)
	return nil
}

// redactSpec returns a store spec fit for a message: a database URL
// without its password.
func redactSpec(spec string) string { return store.RedactDSN(spec) }
