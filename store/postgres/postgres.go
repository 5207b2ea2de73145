package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/internal/keysrc"
)

// ErrSchemaTooNew is returned by Open when the database was migrated by a
// newer version of this package.
var ErrSchemaTooNew = errors.New("database schema is newer than this program")

// ErrNoKey is returned by Open when no encryption key was given: a server
// database has no key file beside it, so the key must come from an option
// or from store.EnvEncryptionKey.
var ErrNoKey = errors.New("postgres: no encryption key")

// DefaultLeasePoll is how often a Lease waiter checks whether a lease
// lapsed, besides being woken at once when its holder releases it.
const DefaultLeasePoll = 200 * time.Millisecond

// Notification channels (LISTEN/NOTIFY) used by the store.
const (
	// RecordsChannel carries the key of every record saved or deleted.
	RecordsChannel = "twitchauth_records"
	// LeasesChannel carries the key of every lease released.
	LeasesChannel = "twitchauth_leases"
)

// Store is a store.Store kept in a PostgreSQL database, shared by any number
// of processes. It also implements store.Leaser and store.Watcher. It is
// safe for concurrent use.
type Store struct {
	pool      *pgxpool.Pool
	cipher    *store.Cipher
	log       *slog.Logger
	now       func() time.Time
	leasePoll time.Duration
	target    string // host:port/database, for messages (no password)
	closed    atomic.Bool

	lmu      sync.Mutex
	waiters  map[string]map[chan struct{}]struct{} // lease key → waiters to wake on release
	lstarted bool                                  // the lease listener is running
	done     chan struct{}                         // closed by Close
	bg       sync.WaitGroup                        // background goroutines
}

var (
	_ store.Store   = (*Store)(nil)
	_ store.Leaser  = (*Store)(nil)
	_ store.Watcher = (*Store)(nil)
)

// Config configures Open. The zero Config is valid when the environment
// variable store.EnvEncryptionKey holds the key.
type Config struct {
	// Key says where the encryption key comes from (one of its fields at
	// most); without one, from the environment variable
	// store.EnvEncryptionKey. A key file is read, never created: every
	// replica must use the same key.
	Key store.KeyConfig
	// Logger receives events such as applied migrations or a lease that
	// could not be released (default: slog.Default()). It is never given a
	// token or a key.
	Logger *slog.Logger
	// MaxConns bounds the connection pool (default: pgxpool's default, the
	// larger of 4 and the number of CPUs, or pool_max_conns in the URL).
	// Watch and the lease listener each hold one more connection outside
	// the pool.
	MaxConns int32
	// LeasePoll is how often a Lease waiter checks for a lapsed lease
	// (default DefaultLeasePoll). A released lease wakes its waiters at
	// once through NOTIFY; polling is what notices a holder that died.
	LeasePoll time.Duration
}

type options struct {
	key       keysrc.Source // Default, like Env: the environment variable, else ErrNoKey
	logger    *slog.Logger
	maxConns  int32
	leasePoll time.Duration
	now       func() time.Time
}

// options is Config resolved.
func (c Config) options() options {
	o := options{logger: c.Logger, maxConns: c.MaxConns, leasePoll: c.LeasePoll, now: time.Now}
	if o.leasePoll <= 0 {
		o.leasePoll = DefaultLeasePoll
	}
	o.key = keysrc.Resolve(c.Key)
	return o
}

// Open connects to the PostgreSQL database at url (a postgres:// URL or a
// key=value connection string, as libpq and pgx accept), applies any pending
// schema migrations and returns a Store ready for use. Close it when done.
//
// An encryption key is required: from cfg.Key or, without one, from the
// environment variable store.EnvEncryptionKey; otherwise Open fails with an
// error wrapping ErrNoKey. Every replica sharing the database must use the
// same key.
//
// Replicas may Open the same database at once: migrations run under a
// transaction-scoped advisory lock, so each is applied exactly once.
func Open(ctx context.Context, url string, cfg Config) (*Store, error) {
	o := cfg.options()
	if o.logger == nil {
		o.logger = slog.Default()
	}
	if o.leasePoll <= 0 {
		o.leasePoll = DefaultLeasePoll
	}
	cipher, source, err := resolveCipher(&o)
	if err != nil {
		return nil, err
	}
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors may quote the connection string (and its
		// password): do not pass them on.
		return nil, errors.New("postgres: cannot parse the database URL (want postgres://user:password@host:port/database?sslmode=...)")
	}
	if o.maxConns > 0 {
		pc.MaxConns = o.maxConns
	}
	// A Save that returns nil must be durable: never run with
	// synchronous_commit=off, whatever the server or role default says.
	pc.AfterConnect = func(ctx context.Context, c *pgx.Conn) error { return ensureSyncCommit(ctx, c) }
	s := &Store{
		cipher:    cipher,
		log:       o.logger,
		now:       o.now,
		leasePoll: o.leasePoll,
		target:    describe(pc.ConnConfig),
		waiters:   map[string]map[chan struct{}]struct{}{},
		done:      make(chan struct{}),
	}
	s.pool, err = pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres %s: %w", s.target, err)
	}
	applied, err := migrate(ctx, s.pool)
	for _, v := range applied {
		s.log.Info("postgres store: applied schema migration", "database", s.target, "version", v)
	}
	if err == nil {
		err = s.checkKey(ctx, source)
	}
	if err == nil {
		err = s.rekey(ctx)
	}
	if err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("postgres %s: %w", s.target, err)
	}
	return s, nil
}

// checkKey refuses a key that opens none of the database's tokens (see
// store.Cipher.VerifyKey); source says where the key came from.
func (s *Store) checkKey(ctx context.Context, source string) error {
	rows, err := s.pool.Query(ctx, `SELECT access_token FROM tokens`)
	if err != nil {
		return fmt.Errorf("reading the key ids: %w", err)
	}
	ids := map[string]int{}
	var v []byte
	_, err = pgx.ForEachRow(rows, []any{&v}, func() error {
		ids[store.SealedKeyID(v)]++
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading the key ids: %w", err)
	}
	return s.cipher.VerifyKey(ids, source)
}

func ensureSyncCommit(ctx context.Context, c *pgx.Conn) error {
	var mode string
	if err := c.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&mode); err != nil {
		return err
	}
	if mode == "off" {
		_, err := c.Exec(ctx, `SET synchronous_commit = on`)
		return err
	}
	return nil
}

func describe(c *pgx.ConnConfig) string {
	return fmt.Sprintf("%s:%d/%s", c.Host, c.Port, c.Database)
}

// resolveCipher returns the Cipher from the key options and a description
// of where its key came from, for messages.
func resolveCipher(o *options) (*store.Cipher, string, error) {
	switch o.key.Kind {
	case keysrc.Given:
		if o.key.Err != nil {
			return nil, "", o.key.Err
		}
		return o.key.Cipher, "the key given to postgres.Open", nil
	case keysrc.File:
		key, err := store.ReadKeyFile(o.key.File)
		if err != nil {
			return nil, "", fmt.Errorf("postgres: reading the encryption key: %w", err)
		}
		c, err := store.NewCipher(key)
		return c, "the key file " + o.key.File, err
	}
	// keysrc.Default and keysrc.Env alike.
	c, ok, err := store.CipherFromEnv()
	if err != nil {
		return nil, "", err
	}
	if !ok {
		return nil, "", fmt.Errorf("%w: set %s to the same 32-byte key (base64) on every replica, or set Config.Key "+
			"(generate one with: head -c 32 /dev/urandom | base64)", ErrNoKey, store.EnvEncryptionKey)
	}
	return c, store.EnvEncryptionKey, nil
}

// KeyID returns the id of the key that encrypts new values (see
// store.Cipher.KeyID), for diagnostics.
func (s *Store) KeyID() string { return s.cipher.KeyID() }

// Pool returns the connection pool, for health checks and metrics
// (Pool().Ping, Pool().Stat). Do not write to the store's tables through it.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes the store: its pool, the lease listener, and any Watch (which
// returns store.ErrClosed). Leases still held lapse by themselves. Later
// calls return store.ErrClosed; closing twice is not an error.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	close(s.done)
	s.bg.Wait()
	s.pool.Close()
	return nil
}
