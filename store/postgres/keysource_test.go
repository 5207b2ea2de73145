package postgres_test

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/postgres"
)

// Open resolves its key before it connects, so each KeyConfig's error shows
// without a database. FromEnv with the variable unset fails like no key at
// all (ErrNoKey), unlike sqlite, whose default falls back to a key file.
func TestOpenKeySourceErrors(t *testing.T) {
	t.Setenv(store.EnvEncryptionKey, "")
	const url = "postgres://127.0.0.1:1/unused"
	missing := filepath.Join(t.TempDir(), "missing.key")
	for name, tc := range map[string]struct {
		k    store.KeyConfig
		want error
		text string
	}{
		"none":         {k: store.KeyConfig{}, want: postgres.ErrNoKey, text: store.EnvEncryptionKey},
		"env unset":    {k: store.KeyConfig{FromEnv: true}, want: postgres.ErrNoKey, text: store.EnvEncryptionKey},
		"missing file": {k: store.KeyConfig{File: missing}, want: fs.ErrNotExist, text: "postgres: reading the encryption key"},
		"file and env": {k: store.KeyConfig{File: missing, FromEnv: true}, want: store.ErrKeyConfig},
		"short key":    {k: store.KeyConfig{Key: []byte("short")}, want: store.ErrInvalidKey},
	} {
		_, err := postgres.Open(t.Context(), url, postgres.Config{Key: tc.k, Logger: discard()})
		if !errors.Is(err, tc.want) || !strings.Contains(fmt.Sprint(err), tc.text) {
			t.Errorf("%s: Open = %v, want %v containing %q", name, err, tc.want, tc.text)
		}
	}
}
