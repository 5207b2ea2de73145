// Package keysrc resolves a store.KeyConfig to the one source it names, for
// the persistent stores (store/sqlite and store/postgres). Each store applies
// its own default when the KeyConfig names none.
package keysrc

import "github.com/twitchauth/twitchauth/store"

// Kind is where a store's encryption key comes from.
type Kind int

const (
	// Default: the KeyConfig names no source; the store's default applies.
	Default Kind = iota
	// Given: the KeyConfig gives the key (Cipher, or Key with
	// PreviousKeys), or is invalid (Source.Err).
	Given
	// File: the key is read from the key file Source.File.
	File
	// Env: the key is read from the environment variable
	// store.EnvEncryptionKey.
	Env
)

// Source is a store.KeyConfig resolved.
type Source struct {
	Kind Kind
	// Cipher is the Cipher given (Kind Given, Err nil).
	Cipher *store.Cipher
	// Err is why the KeyConfig is invalid (Kind Given): more than one
	// source, PreviousKeys without Key, or a bad Key.
	Err error
	// File is the key file's path (Kind File; never empty then).
	File string
}

// Resolve returns the source k names. It reads no file and no environment
// variable: the store does that when it opens.
func Resolve(k store.KeyConfig) Source {
	var s Source
	s.Cipher, s.Err = k.NewCipher()
	switch {
	case s.Err != nil || s.Cipher != nil:
		s.Kind = Given
	case k.File != "":
		s.Kind, s.File = File, k.File
	case k.FromEnv:
		s.Kind = Env
	}
	return s
}
