package serve

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/twitchauth/twitchauth/broker"
	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
)

func newKeysCommand(stdout, stderr io.Writer) *cobra.Command {
	var keysFile string
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Manage the broker's API keys (create, list, delete)",
		Long: `Manage the API keys internal services use to call the broker.

Keys are stored as SHA-256 hashes in the keys file (mode 0600); the key itself
is printed once, at creation. Permissions: ` + permNames() + `.
admin implies every permission and signs in to the web pages.`,
	}
	cmd.PersistentFlags().StringVar(&keysFile, "keys-file", "", "API keys file (default $TWITCHAUTH_KEYS_FILE or $XDG_DATA_HOME/twitchauth/broker-keys.json)")
	path := func() (string, error) {
		if keysFile != "" {
			return keysFile, nil
		}
		if e := os.Getenv("TWITCHAUTH_KEYS_FILE"); e != "" {
			return e, nil
		}
		return dataPath(os.Getenv, "broker-keys.json")
	}

	var name string
	var perms []string
	create := &cobra.Command{
		Use:   "create --name NAME --perm PERM [--perm PERM...]",
		Short: "Create an API key and print it once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ps, err := broker.ParsePerms(strings.Join(perms, ","))
			if err != nil {
				return cliutil.Exit(cliutil.ExitUsage, err)
			}
			p, err := path()
			if err != nil {
				return err
			}
			keys, err := broker.ReadKeysFile(p)
			if err != nil {
				return cliutil.Exit(cliutil.ExitUsage, err)
			}
			key := broker.GenerateKey()
			k := broker.APIKey{Name: name, SHA256: broker.HashKey(key), Perms: ps, Created: time.Now().UTC().Truncate(time.Second)}
			if err := k.Validate(); err != nil {
				return cliutil.Exit(cliutil.ExitUsage, err)
			}
			if slices.ContainsFunc(keys, func(o broker.APIKey) bool { return o.Name == name }) {
				return cliutil.Exitf(cliutil.ExitUsage, "a key named %q exists: delete it first or pick another name", name)
			}
			if err := broker.WriteKeysFile(p, append(keys, k)); err != nil {
				return cliutil.Exitf(cliutil.ExitInternal, "writing %s: %v", p, err)
			}
			fmt.Fprintln(stdout, key)
			fmt.Fprintf(stderr, "Created API key %q (%s) in %s.\nThe key is shown once, above; store it in your service's secrets.\nTo configure it without the keys file instead: api_key = %s:%s:%s\nRestart the broker to load it.\n",
				name, strings.Join(perms, ","), p, name, k.SHA256, strings.Join(perms, ","))
			return nil
		},
	}
	create.Flags().StringVar(&name, "name", "", "name of the key (letters, digits, . _ -)")
	create.Flags().StringArrayVar(&perms, "perm", nil, "permission (repeatable or comma-separated): "+permNames())
	create.MarkFlagRequired("name")
	create.MarkFlagRequired("perm")

	list := &cobra.Command{
		Use:   "list",
		Short: "List the API keys (names and permissions, never the keys)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := path()
			if err != nil {
				return err
			}
			keys, err := broker.ReadKeysFile(p)
			if err != nil {
				return cliutil.Exit(cliutil.ExitUsage, err)
			}
			if len(keys) == 0 {
				fmt.Fprintf(stderr, "no API keys in %s\n", p)
				return nil
			}
			for _, k := range keys {
				ps := make([]string, len(k.Perms))
				for i, x := range k.Perms {
					ps[i] = string(x)
				}
				created := "-"
				if !k.Created.IsZero() {
					created = k.Created.Format(time.RFC3339)
				}
				fmt.Fprintf(stdout, "%s\t%s\t%s\tsha256:%s…\n", k.Name, strings.Join(ps, ","), created, k.SHA256[:12])
			}
			return nil
		},
	}

	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete an API key (restart the broker to apply)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := path()
			if err != nil {
				return err
			}
			keys, err := broker.ReadKeysFile(p)
			if err != nil {
				return cliutil.Exit(cliutil.ExitUsage, err)
			}
			kept := slices.DeleteFunc(slices.Clone(keys), func(k broker.APIKey) bool { return k.Name == args[0] })
			if len(kept) == len(keys) {
				return cliutil.Exitf(cliutil.ExitUsage, "no API key named %q in %s", args[0], p)
			}
			if err := broker.WriteKeysFile(p, kept); err != nil {
				return cliutil.Exitf(cliutil.ExitInternal, "writing %s: %v", p, err)
			}
			fmt.Fprintf(stderr, "Deleted API key %q. Restart the broker to apply.\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, del)
	return cmd
}

func permNames() string {
	s := make([]string, len(broker.AllPerms))
	for i, p := range broker.AllPerms {
		s[i] = string(p)
	}
	return strings.Join(s, ", ")
}
