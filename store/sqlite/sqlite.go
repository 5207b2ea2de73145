package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	sqlitedrv "modernc.org/sqlite" // also registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/internal/keysrc"
)

// ErrSchemaTooNew is returned by Open when the database was migrated by a
// newer version of this package.
var ErrSchemaTooNew = errors.New("database schema is newer than this program")

// DefaultBusyTimeout is how long a statement waits for another connection or
// process holding the write lock before failing with "database is locked".
const DefaultBusyTimeout = 5 * time.Second

// KeyFileSuffix is appended to the database path to name the default key
// file.
const KeyFileSuffix = ".key"

// Store is a store.Store kept in a SQLite database file. It is safe for
// concurrent use, and several processes may share the file.
type Store struct {
	db     *sql.DB
	cipher *store.Cipher
	path   string
	closed atomic.Bool
	now    func() time.Time
}

var _ store.Store = (*Store)(nil)

// Config configures Open. The zero Config is valid.
type Config struct {
	// Key says where the encryption key comes from (one of its fields at
	// most). Without one, Open uses the environment variable
	// store.EnvEncryptionKey if it is set, and otherwise the key file
	// path+KeyFileSuffix, created on first use.
	Key store.KeyConfig
	// BusyTimeout is how long a write waits for another connection or
	// process to release the database lock (default DefaultBusyTimeout).
	BusyTimeout time.Duration
	// Logger receives events such as applied migrations, a created key
	// file, or tightened file modes (default: slog.Default()).
	Logger *slog.Logger
}

type options struct {
	key         keysrc.Source // Default: env if set, else <path>.key
	busyTimeout time.Duration
	logger      *slog.Logger
	now         func() time.Time
}

// options is Config resolved.
func (c Config) options() options {
	o := options{busyTimeout: c.BusyTimeout, logger: c.Logger, now: time.Now}
	if o.busyTimeout <= 0 {
		o.busyTimeout = DefaultBusyTimeout
	}
	o.key = keysrc.Resolve(c.Key)
	return o
}

// Open opens (creating if needed) the SQLite database at path, applies any
// pending schema migrations and returns a Store ready for use. Close it when
// done.
//
// The encryption key comes from cfg.Key. Without one, Open uses the
// environment variable store.EnvEncryptionKey if it is set, and otherwise the
// key file path+".key", created on first use.
//
// The database is opened in WAL mode with synchronous=FULL (a Save that
// returns nil has been fsynced), foreign keys on, and a busy timeout. The
// parent directory is created with mode 0700 if missing; the database file and
// its -wal and -shm files get mode 0600.
func Open(ctx context.Context, path string, cfg Config) (*Store, error) {
	o := cfg.options()
	if o.logger == nil {
		o.logger = slog.Default()
	}
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: Open needs a file path, got %q (use store.NewMemory for an in-memory store)", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if o.key.Err != nil {
		return nil, o.key.Err
	}
	if err := prepareFiles(abs, o.logger); err != nil {
		return nil, err
	}

	db, err := sql.Open("sqlite", dsn(abs, o.busyTimeout))
	if err != nil {
		return nil, fmt.Errorf("sqlite: opening %s: %w", abs, err)
	}
	// Writers serialize on the database lock anyway; a few connections let
	// reads proceed beside a write without opening one per goroutine.
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	s := &Store{db: db, path: abs, now: o.now}
	if err := s.init(ctx, &o); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// journalMode reads the journal mode on a new connection, which runs the
// DSN's pragmas first. Turning a new file to WAL needs an exclusive lock,
// and SQLite answers SQLITE_BUSY at once, without its busy handler, when
// another process is doing the same (several replicas started together on
// a new file): the attempt is repeated, with a growing pause, for up to
// the busy timeout.
func (s *Store) journalMode(ctx context.Context, busyTimeout time.Duration) (string, error) {
	deadline := time.Now().Add(busyTimeout)
	pause := 5 * time.Millisecond
	for {
		var mode string
		err := s.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode)
		if err == nil || !isBusy(err) || time.Now().Add(pause).After(deadline) {
			return mode, err
		}
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return "", ctx.Err()
		}
		pause = min(2*pause, 200*time.Millisecond)
	}
}

// isBusy reports whether err is SQLite's SQLITE_BUSY (primary code 5, any
// extended code).
func isBusy(err error) bool {
	var se *sqlitedrv.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// init checks the database's modes, migrates its schema, finds the key
// (never creating one for a database that holds tokens), checks that the
// key reads the database, and moves records stored under keys of the
// older form (see rekey).
func (s *Store) init(ctx context.Context, o *options) error {
	log := o.logger
	mode, err := s.journalMode(ctx, o.busyTimeout)
	if err != nil {
		return fmt.Errorf("sqlite: opening %s: %w", s.path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("sqlite: %s: journal mode is %q, not WAL; is the file on a network file system? Use a local disk", s.path, mode)
	}
	var sync int
	if err := s.db.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync); err != nil {
		return fmt.Errorf("sqlite: %s: %w", s.path, err)
	}
	if sync != 2 { // FULL
		return fmt.Errorf("sqlite: %s: synchronous is %d, want 2 (FULL)", s.path, sync)
	}
	applied, err := migrate(ctx, s.db)
	for _, v := range applied {
		log.Info("sqlite store: applied schema migration", "path", s.path, "version", v)
	}
	if err != nil {
		return err
	}
	tightenModes(s.path, log)
	var hasTokens bool
	if err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM tokens)`).Scan(&hasTokens); err != nil {
		return s.wrap("reading the key ids", err)
	}
	cipher, source, err := s.resolveCipher(ctx, o, hasTokens)
	if err != nil {
		return err
	}
	if hasTokens {
		if err := s.verifyKey(ctx, cipher, source); err != nil {
			return err
		}
	}
	s.cipher = cipher
	return s.rekey(ctx, log)
}

// verifyKey refuses a cipher that opens none of the database's tokens
// (store.ErrKeyMismatch, naming the key ids found). Finding one token
// sealed with a key the cipher holds is enough, and with the right key the
// first row is one: opening a store of 100,000 grants no longer reads every
// token first (issue 21). Only a mismatch counts them all, for its message.
func (s *Store) verifyKey(ctx context.Context, c *store.Cipher, source string) error {
	ids := c.KeyIDs()
	// The key id as sealedKeyIDs reads it, compared with the hexadecimal ids.
	q := `SELECT EXISTS (SELECT 1 FROM tokens WHERE length(access_token) >= ? AND substr(access_token, 1, 1) = ?
	AND lower(hex(substr(access_token, 2, ?))) IN (?` + strings.Repeat(", ?", len(ids)-1) + `))`
	args := []any{store.SealOverhead, []byte{store.SealFormatV1}, store.SealKeyIDSize}
	for _, id := range ids {
		args = append(args, id)
	}
	var opens bool
	if err := s.db.QueryRowContext(ctx, q, args...).Scan(&opens); err != nil {
		return s.wrap("reading the key ids", err)
	}
	if opens {
		return nil
	}
	counts, err := s.sealedKeyIDs(ctx)
	if err != nil {
		return err
	}
	if err := c.VerifyKey(counts, source); err != nil {
		return fmt.Errorf("sqlite: %s: %w", s.path, err)
	}
	return nil
}

// sealedKeyIDs counts the tokens in the database by the id of the key that
// sealed them (store.SealedKeyID). SQLite counts them (one row per key id
// comes back), so that opening a store of 100,000 grants does not copy every
// token into Go first.
func (s *Store) sealedKeyIDs(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT CASE WHEN length(access_token) >= ? AND substr(access_token, 1, 1) = ?
	THEN lower(hex(substr(access_token, 2, ?))) ELSE '' END AS id, count(*) FROM tokens GROUP BY id`,
		store.SealOverhead, []byte{store.SealFormatV1}, store.SealKeyIDSize)
	if err != nil {
		return nil, s.wrap("reading the key ids", err)
	}
	defer rows.Close()
	ids := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, s.wrap("reading the key ids", err)
		}
		ids[id] += n
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("reading the key ids", err)
	}
	return ids, nil
}

// resolveCipher returns the Cipher from the key options and a description
// of where its key came from, for messages. A missing key file is created
// only for a database that holds no token yet.
func (s *Store) resolveCipher(ctx context.Context, o *options, hasTokens bool) (*store.Cipher, string, error) {
	dbPath := s.path
	keyFile := o.key.File
	switch o.key.Kind {
	case keysrc.Given:
		return o.key.Cipher, "the key given to sqlite.Open", nil
	case keysrc.Env:
		c, ok, err := store.CipherFromEnv()
		if err != nil {
			return nil, "", err
		}
		if !ok {
			return nil, "", fmt.Errorf("sqlite: %w: %s is not set", store.ErrInvalidKey, store.EnvEncryptionKey)
		}
		return c, store.EnvEncryptionKey, nil
	case keysrc.Default:
		c, ok, err := store.CipherFromEnv()
		if ok {
			return c, store.EnvEncryptionKey, err
		}
		keyFile = dbPath + KeyFileSuffix
	}
	source := "the key file " + keyFile
	key, err := store.ReadKeyFile(keyFile)
	if errors.Is(err, fs.ErrNotExist) {
		if hasTokens {
			var n int
			if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM tokens`).Scan(&n); err != nil {
				return nil, "", s.wrap("counting the tokens", err)
			}
			return nil, "", fmt.Errorf("sqlite: %w", store.MissingKeyFileError(keyFile, dbPath, n))
		}
		var created bool
		key, created, err = store.LoadOrCreateKeyFile(keyFile)
		if created {
			o.logger.Warn("sqlite store: created a new encryption key file; back it up, tokens cannot be read without it",
				"path", keyFile)
		}
	}
	if err != nil {
		return nil, "", err
	}
	c, err := store.NewCipher(key)
	return c, source, err
}

// prepareFiles creates the parent directory (0700) and the database file
// (0600) before SQLite opens it, so that SQLite, which gives the -wal and
// -shm files the database file's mode, never creates a world-readable file.
func prepareFiles(path string, log *slog.Logger) error {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("sqlite: creating directory: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: opening database file: %w", err)
	}
	f.Close()
	tightenModes(path, log)
	return nil
}

// tightenModes sets mode 0600 on the database, -wal and -shm files where
// group or others have access, logging what it changed.
func tightenModes(path string, log *slog.Logger) {
	if runtime.GOOS == "windows" {
		return
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(p, 0o600); err != nil {
			log.Warn("sqlite store: database file is accessible to group or others and could not be restricted",
				"path", p, "mode", fmt.Sprintf("%04o", fi.Mode().Perm()), "err", err)
			continue
		}
		log.Warn("sqlite store: restricted database file mode to 0600",
			"path", p, "was", fmt.Sprintf("%04o", fi.Mode().Perm()))
	}
}

func dsn(absPath string, busy time.Duration) string {
	p := filepath.ToSlash(absPath)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // Windows drive letter
	}
	u := url.URL{Scheme: "file", Path: p}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "fullfsync(ON)") // macOS: flush the drive's cache too (F_FULLFSYNC); ignored elsewhere
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate") // take the write lock at BEGIN: no deadlock on lock upgrade
	return u.String() + "?" + q.Encode()
}

// Path returns the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// KeyID returns the id of the key that encrypts new values (see
// store.Cipher.KeyID), for diagnostics.
func (s *Store) KeyID() string { return s.cipher.KeyID() }

// Close closes the database. Later calls return store.ErrClosed; closing
// twice is not an error.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.db.Close()
}
