package keysrc_test

import (
	"errors"
	"testing"

	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/internal/keysrc"
)

// Each KeyConfig resolves to the one source it names, and an invalid one to
// Given with its error, so that a store reports it instead of falling back
// to its default key.
func TestResolve(t *testing.T) {
	key := make([]byte, 32)
	c, err := store.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		k    store.KeyConfig
		kind keysrc.Kind
		file string
		err  bool
	}{
		"none":          {k: store.KeyConfig{}, kind: keysrc.Default},
		"cipher":        {k: store.KeyConfig{Cipher: c}, kind: keysrc.Given},
		"key":           {k: store.KeyConfig{Key: key}, kind: keysrc.Given},
		"short key":     {k: store.KeyConfig{Key: []byte("short")}, kind: keysrc.Given, err: true},
		"file":          {k: store.KeyConfig{File: "k"}, kind: keysrc.File, file: "k"},
		"env":           {k: store.KeyConfig{FromEnv: true}, kind: keysrc.Env},
		"file and env":  {k: store.KeyConfig{File: "k", FromEnv: true}, kind: keysrc.Given, err: true},
		"previous only": {k: store.KeyConfig{PreviousKeys: [][]byte{key}}, kind: keysrc.Given, err: true},
	} {
		s := keysrc.Resolve(tc.k)
		if s.Kind != tc.kind || s.File != tc.file || (s.Err != nil) != tc.err {
			t.Errorf("%s: Resolve = %+v, want kind %d, file %q, error %v", name, s, tc.kind, tc.file, tc.err)
		}
		if tc.kind == keysrc.Given && !tc.err && s.Cipher == nil {
			t.Errorf("%s: Resolve gave no Cipher", name)
		}
		if tc.err && !errors.Is(s.Err, store.ErrKeyConfig) && !errors.Is(s.Err, store.ErrInvalidKey) {
			t.Errorf("%s: Resolve error %v, want ErrKeyConfig or ErrInvalidKey", name, s.Err)
		}
	}
}
