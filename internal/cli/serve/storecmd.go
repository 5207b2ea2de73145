package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
	"github.com/twitchauth/twitchauth/store"
)

// storeOptions are the inputs of `serve store check|remove`: where the
// broker's store is, resolved like serve's own settings.
type storeOptions struct {
	ConfigPath string
	Store      string // --store; empty: the configuration, then the default
	KeyFile    string // --encryption-key-file
	Getenv     func(string) string
	Stdout     io.Writer
	Stderr     io.Writer
}

// open opens the broker's store as `serve` would.
func (o *storeOptions) open(ctx context.Context) (store.Store, string, func() error, error) {
	flags := map[string][]string{}
	if o.Store != "" {
		flags["store"] = []string{o.Store}
	}
	if o.KeyFile != "" {
		flags["encryption_key_file"] = []string{o.KeyFile}
	}
	so := &Options{ConfigPath: o.ConfigPath, Flags: flags, Getenv: o.Getenv}
	v, err := so.settings()
	if err != nil {
		return nil, "", nil, cliutil.Exit(cliutil.ExitUsage, err)
	}
	spec := v.get("store")
	if spec == "" {
		if spec, err = dataPath(o.Getenv, "broker.db"); err != nil {
			return nil, "", nil, err
		}
	}
	if spec == "memory" {
		return nil, "", nil, cliutil.Exitf(cliutil.ExitUsage, "the memory store lives inside the broker process: there is nothing to check or remove")
	}
	log := slog.New(slog.NewTextHandler(o.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, closeStore, err := openStore(ctx, spec, v.get("encryption_key_file"), log)
	if err != nil {
		return nil, "", nil, err
	}
	return st, spec, closeStore, nil
}

func newStoreCommand(stdout, stderr io.Writer) *cobra.Command {
	o := &storeOptions{Getenv: os.Getenv, Stdout: stdout, Stderr: stderr}
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
configuration file (--config), or the default.`,
	}
	f := cmd.PersistentFlags()
	f.StringVar(&o.ConfigPath, "config", "", "serve's configuration file (JSON, or key = value lines)")
	f.StringVar(&o.Store, "store", "", "token store: a SQLite file path or a postgres:// URL [$TWITCHAUTH_STORE]")
	f.StringVar(&o.KeyFile, "encryption-key-file", "", "file holding the store's encryption key [$TWITCHAUTH_ENCRYPTION_KEY_FILE]")

	check := &cobra.Command{
		Use:   "check",
		Short: "List the records the store cannot read (exit 1 if any)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return runStoreCheck(cmd.Context(), o) },
	}
	remove := &cobra.Command{
		Use:   "remove KEY",
		Short: "Remove one record the store cannot read (KEY as `store check` prints it)",
		Args:  cobra.ExactArgs(1),
		RunE:  func(cmd *cobra.Command, args []string) error { return runStoreRemove(cmd.Context(), o, args[0]) },
	}
	cmd.AddCommand(check, remove)
	return cmd
}

// runStoreCheck lists the unreadable records: exit 0 when there are none,
// 1 when there are.
func runStoreCheck(ctx context.Context, o *storeOptions) error {
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
	fmt.Fprintf(o.Stdout, "%d records readable\n", len(recs))
	if ue == nil {
		return nil
	}
	for _, u := range ue.Records {
		fmt.Fprintf(o.Stdout, "unreadable\t%s\t%v\n", u.Key, u.Err)
	}
	return cliutil.Exitf(cliutil.ExitRefused, "%d record(s) cannot be read: restore the encryption key they were sealed with, "+
		"or remove each with `twitchauth serve store remove KEY`", len(ue.Records))
}

// runStoreRemove deletes one unreadable record. A record that reads fine is
// refused: a connected account is removed through the broker (accounts page,
// DELETE /v1/users/{id}), which revokes its tokens at Twitch first.
func runStoreRemove(ctx context.Context, o *storeOptions, key string) error {
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
	fmt.Fprintf(o.Stderr, "Removed the unreadable record %q (%v).\n", key, loadErr)
	return nil
}

// redactSpec returns a store spec fit for a message: a database URL
// without its password.
func redactSpec(spec string) string { return store.RedactDSN(spec) }
