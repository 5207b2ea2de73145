package store

import (
	"fmt"
)

// KeyConfig says where a persistent store's encryption key comes from: the
// Key field of sqlite.Config and postgres.Config. Set at most one of
// Cipher, Key, File and FromEnv; with none, the store's default applies (see
// its Open). Every replica sharing a database must be given the same keys.
type KeyConfig struct {
	// Cipher encrypts and decrypts with a ready Cipher.
	Cipher *Cipher
	// Key is a 32-byte primary key, and PreviousKeys older keys still
	// accepted for reading (key rotation; see NewCipher).
	Key          []byte
	PreviousKeys [][]byte
	// File reads the key from an existing key file (see ReadKeyFile).
	File string
	// FromEnv reads the keys from the environment variable EnvEncryptionKey
	// ("new,old" during a rotation), and fails if it is unset.
	FromEnv bool
}

// NewCipher returns the Cipher of k when k names one directly (Cipher, or
// Key with PreviousKeys), and nil when k names a file, the environment or
// nothing (the store resolves those). It fails when k sets more than one
// source.
func (k KeyConfig) NewCipher() (*Cipher, error) {
	n := 0
	for _, set := range []bool{k.Cipher != nil, k.Key != nil, k.File != "", k.FromEnv} {
		if set {
			n++
		}
	}
	switch {
	case n > 1:
		return nil, ErrKeyConfig
	case len(k.PreviousKeys) > 0 && k.Key == nil:
		return nil, fmt.Errorf("%w: PreviousKeys without Key", ErrKeyConfig)
	case k.Cipher != nil:
		return k.Cipher, nil
	case k.Key != nil:
		return NewCipher(k.Key, k.PreviousKeys...)
	}
	return nil, nil
}
