package serve

import (
	"cmp"
	"context"
	"log/slog"
	"net/url"
	"strings"

	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/postgres"
	"github.com/twitchauth/twitchauth/store/sqlite"
)

// openStore is the store factory: one case per kind of store. The
// encryption key comes from TWITCHAUTH_ENCRYPTION_KEY (read with getenv),
// else from keyFile.
func openStore(ctx context.Context, spec, keyFile string, getenv func(string) string, log *slog.Logger) (store.Store, func() error, error) {
	var primary []byte
	var previous [][]byte
	if k := getenv(store.EnvEncryptionKey); k != "" {
		var err error
		if primary, previous, err = store.ParseEncryptionKeys(k); err != nil {
			return nil, nil, cliutil.Exitf(cliutil.ExitUsage, "%s: %v", store.EnvEncryptionKey, err)
		}
	}
	switch {
	case strings.HasPrefix(spec, "postgres://"), strings.HasPrefix(spec, "postgresql://"):
		// Every replica must use the same key: from TWITCHAUTH_ENCRYPTION_KEY,
		// or a key file given explicitly (never created here).
		cfg := postgres.Config{Logger: log}
		switch {
		case primary != nil:
			cfg.Key = store.KeyConfig{Key: primary, PreviousKeys: previous}
		case keyFile != "":
			cfg.Key = store.KeyConfig{File: keyFile}
		default:
			return nil, nil, cliutil.Exitf(cliutil.ExitUsage, "opening the token store: %v: set %s to the same 32-byte key (base64) on every replica, "+
				"or give --encryption-key-file (generate one with: head -c 32 /dev/urandom | base64)", postgres.ErrNoKey, store.EnvEncryptionKey)
		}
		s, err := postgres.Open(ctx, spec, cfg)
		if err != nil {
			return nil, nil, cliutil.Exitf(cliutil.ExitInternal, "opening the token store: %w", err)
		}
		return s, func() error { s.Close(); return nil }, nil
	case spec == "memory":
		log.Warn("the memory store forgets every grant when the broker stops")
		m := store.NewMemory()
		return m, m.Close, nil
	case strings.Contains(spec, "://"):
		u, _ := url.Parse(spec)
		scheme := "?"
		if u != nil {
			scheme = u.Scheme
		}
		return nil, nil, cliutil.Exitf(cliutil.ExitUsage, "unknown store kind %q: give a SQLite file path, a postgres:// URL or memory", scheme)
	default:
		path := strings.TrimPrefix(spec, "sqlite:")
		cfg := sqlite.Config{Logger: log}
		if primary != nil {
			cfg.Key = store.KeyConfig{Key: primary, PreviousKeys: previous}
		} else {
			cfg.Key = store.KeyConfig{File: cmp.Or(keyFile, path+sqlite.KeyFileSuffix)}
		}
		s, err := sqlite.Open(ctx, path, cfg)
		if err != nil {
			return nil, nil, cliutil.Exitf(cliutil.ExitInternal, "opening the token store: %w", err)
		}
		return s, s.Close, nil
	}
}
