package config

import (
	"context"

	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/sqlite"
)

// OpenStore opens the encrypted token store that the CLI's commands share:
// path, or the default StorePath; the key from TWITCHAUTH_ENCRYPTION_KEY
// (as "new,old" to rotate) or the key file beside the database, created
// with mode 0600 on first use. It returns the path it opened. A failure is an
// ExitError whose message ends with hint, when given.
func OpenStore(ctx context.Context, f *cliutil.Factory, path, hint string) (string, *sqlite.Store, error) {
	if path == "" {
		var err error
		if path, err = StorePath(f.Getenv); err != nil {
			return "", nil, err
		}
	}
	cfg := sqlite.Config{Logger: f.Logger}
	if k := f.Getenv(store.EnvEncryptionKey); k != "" {
		primary, previous, err := store.ParseEncryptionKeys(k)
		if err != nil {
			return "", nil, cliutil.Exitf(cliutil.ExitUsage, "%s: %v", store.EnvEncryptionKey, err)
		}
		cfg.Key = store.KeyConfig{Key: primary, PreviousKeys: previous}
	} else {
		cfg.Key = store.KeyConfig{File: path + sqlite.KeyFileSuffix}
	}
	st, err := sqlite.Open(ctx, path, cfg)
	if err != nil {
		if hint != "" {
			hint = " (" + hint + ")"
		}
		return "", nil, cliutil.Exitf(cliutil.ExitInternal, "opening the token store %s: %w%s", path, err, hint)
	}
	return path, st, nil
}
