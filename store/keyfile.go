package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// LoadOrCreateKeyFile returns the key stored in the file at path, creating
// the file with a new random key (mode 0600, parent directories 0700) if it
// does not exist; created reports whether it did. Several processes may call
// it at once for the same path: exactly one creates the file and all return
// the same key.
//
// The file holds the key as base64 text (see EncodeKey) followed by a newline;
// files holding 32 raw bytes, hexadecimal or other base64 forms are read too.
// A key file that group or others can read or write is refused with an error
// wrapping ErrInsecureKeyFile that tells how to fix it (this check is skipped
// on Windows, where file modes do not describe access).
//
// Losing the key file makes every stored token unreadable: back it up, or
// supply the key through EnvEncryptionKey instead.
func LoadOrCreateKeyFile(path string) (key []byte, created bool, err error) {
	key, err = ReadKeyFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}

	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("store: creating the directory of key file: %w", err)
	}
	key, err = GenerateKey()
	if err != nil {
		return nil, false, err
	}
	// Write the whole file under a temporary name, then link it into place:
	// the link fails if another process created the file meanwhile, and no
	// reader ever sees a half-written key.
	tmp, err := os.CreateTemp(dir, ".twitchauth-key-*") // mode 0600
	if err != nil {
		return nil, false, fmt.Errorf("store: creating key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := writeAndSync(tmp, key); err != nil {
		return nil, false, fmt.Errorf("store: writing key file: %w", err)
	}
	err = os.Link(tmp.Name(), path)
	switch {
	case errors.Is(err, fs.ErrExist):
		// Another process won the race; use its key.
		key, err = ReadKeyFile(path)
		return key, false, err
	case err != nil:
		// Hard links unsupported (some network and FUSE file systems):
		// create the file directly, still refusing to overwrite one.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			key, err = ReadKeyFile(path)
			return key, false, err
		}
		if err != nil {
			return nil, false, fmt.Errorf("store: creating key file: %w", err)
		}
		if err := writeAndSync(f, key); err != nil {
			os.Remove(path)
			return nil, false, fmt.Errorf("store: writing key file: %w", err)
		}
	}
	if err := syncDir(dir); err != nil {
		return nil, false, fmt.Errorf("store: syncing the directory of key file: %w", err)
	}
	return key, true, nil
}

func writeAndSync(f *os.File, key []byte) error {
	_, err := f.WriteString(EncodeKey(key) + "\n")
	if err == nil {
		err = f.Chmod(0o600) // in case the file system ignored the create mode
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ReadKeyFile returns the key stored in the file at path, refusing a file
// that group or others can read or write (see LoadOrCreateKeyFile). A missing
// file gives an error wrapping fs.ErrNotExist. The error never quotes the
// file's content.
func ReadKeyFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("store: key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: key file %s is not a regular file", ErrInvalidKey, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("%w: key file %s has mode %04o, which lets group or others access the key; "+
			"restrict it with: chmod 600 %s", ErrInsecureKeyFile, path, perm, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("store: key file: %w", err)
	}
	if len(data) == KeySize {
		return data, nil // raw bytes
	}
	key, err := ParseEncryptionKey(string(data))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return key, nil
}
