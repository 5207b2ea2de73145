package store_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/twitchauth/twitchauth/store"
)

// A KeyConfig names one source; two are refused instead of one silently
// winning (the functional options it replaces let the last one win).
func TestKeyConfigOneSource(t *testing.T) {
	key := bytes.Repeat([]byte{1}, 32)
	c, err := store.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, k := range map[string]store.KeyConfig{
		"cipher and key":       {Cipher: c, Key: key},
		"key and file":         {Key: key, File: "k"},
		"file and env":         {File: "k", FromEnv: true},
		"previous without key": {PreviousKeys: [][]byte{key}},
	} {
		if _, err := k.NewCipher(); !errors.Is(err, store.ErrKeyConfig) {
			t.Errorf("%s: NewCipher() = %v, want ErrKeyConfig", name, err)
		}
	}
	if got, err := (store.KeyConfig{Cipher: c}).NewCipher(); err != nil || got != c {
		t.Errorf("Cipher: %v, %v", got, err)
	}
	if got, err := (store.KeyConfig{Key: key}).NewCipher(); err != nil || got == nil {
		t.Errorf("Key: %v, %v", got, err)
	}
	for _, k := range []store.KeyConfig{{}, {File: "k"}, {FromEnv: true}} {
		if got, err := k.NewCipher(); err != nil || got != nil {
			t.Errorf("%+v: NewCipher() = %v, %v; want nil, nil (the store resolves it)", k, got, err)
		}
	}
}
