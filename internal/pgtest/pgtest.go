// Package pgtest gives tests a throwaway PostgreSQL server: one cluster per
// test binary, created in a temporary directory on first use, and a new empty
// database for every test that asks (Start).
//
// It owns only that cluster: its data directory, its postmaster process and
// the databases it creates. It must not touch any other PostgreSQL server,
// except the one named by EnvURL, where it only creates and drops databases
// called t_<random>.
//
// The cluster is made with the PostgreSQL binaries found in EnvBinDir,
// /usr/lib/postgresql/<newest>/bin, or the PATH. It uses trust
// authentication, listens on 127.0.0.1 only (on a free port) and on a Unix
// socket inside its data directory, and runs with fsync=off: it is a test
// database, thrown away at the end, so durability across a power loss does
// not matter and skipping fsync makes the tests faster. PostgreSQL refuses
// to run as root, so when the test runs as root the cluster runs as the
// postgres user.
//
// The postmaster is started directly as a child of the test binary (the
// equivalent of pg_ctl start -w, polling until it accepts connections) with a
// parent-death signal, so that no postgres process survives the test binary,
// even when it is killed by -timeout or SIGKILL. Stop shuts it down like
// pg_ctl stop -m fast and removes the data directory. Call it from TestMain,
// most simply with Main:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// Without a TestMain, the cluster is stopped when the last test using it
// finishes (and started again by a later test).
//
// When no binaries are found, Start skips the test, or fails it when the
// environment variable CI is "true" (a CI machine must run these tests).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names an environment variable holding the URL of an existing
// PostgreSQL server (a superuser or a role with CREATEDB) to use instead of a
// throwaway cluster, for example a CI service container.
const EnvURL = "TWITCHAUTH_TEST_POSTGRES_URL"

// EnvBinDir names an environment variable holding the directory of the
// PostgreSQL server binaries (initdb, postgres).
const EnvBinDir = "TWITCHAUTH_TEST_POSTGRES_BIN"

// ErrNoPostgres is returned (wrapped) when no PostgreSQL binaries are found.
var ErrNoPostgres = errors.New("pgtest: PostgreSQL server binaries (initdb, postgres) not found")

// startTimeout bounds initdb plus the wait for the server to accept
// connections.
const startTimeout = 60 * time.Second

type cluster struct {
	dir    string // temporary directory: data/, socket, log
	admin  string // URL of the postgres database, as superuser
	cmd    *exec.Cmd
	exited chan struct{}
	log    string
}

var (
	mu       sync.Mutex
	cur      *cluster // nil: not started
	users    int      // tests using cur (without Main)
	mainMode bool     // Main owns the cluster's lifetime
)

// Main runs the tests of m and then stops the cluster, exiting with m's
// result. Use it as a package's TestMain.
func Main(m *testing.M) {
	mu.Lock()
	mainMode = true
	mu.Unlock()
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Start returns the URL of a new, empty database on the shared throwaway
// cluster (or on the server named by EnvURL), starting the cluster on first
// use. The database is dropped when the test ends.
func Start(t testing.TB) string {
	t.Helper()
	admin, err := acquire(t)
	if err != nil {
		if errors.Is(err, ErrNoPostgres) && os.Getenv("CI") != "true" {
			t.Skipf("%v; install PostgreSQL (Debian: apt-get install postgresql) or set %s", err, EnvURL)
		}
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := "t_" + randomHex(8)
	if err := adminExec(ctx, admin, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// FORCE ends sessions the test left open (PostgreSQL 13+).
		if err := adminExec(ctx, admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("pgtest: dropping database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// acquire returns the admin URL of the server, starting the cluster if
// needed, and arranges the release of this test's use of it.
func acquire(t testing.TB) (string, error) {
	if u := os.Getenv(EnvURL); u != "" {
		return u, nil
	}
	mu.Lock()
	defer mu.Unlock()
	if cur == nil {
		c, err := startCluster()
		if err != nil {
			return "", err
		}
		cur = c
	}
	if !mainMode {
		users++
		t.Cleanup(func() {
			mu.Lock()
			defer mu.Unlock()
			users--
			if users == 0 && !mainMode {
				stopLocked()
			}
		})
	}
	return cur.admin, nil
}

// Stop shuts the cluster down (fast shutdown: sessions are ended) and removes
// its directory. It is safe to call when no cluster runs.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	stopLocked()
}

func stopLocked() {
	if cur == nil {
		return
	}
	c := cur
	cur = nil
	c.stop()
}

func (c *cluster) stop() {
	if c.cmd != nil && c.cmd.Process != nil {
		_ = c.cmd.Process.Signal(syscall.SIGINT) // "fast" shutdown
		select {
		case <-c.exited:
		case <-time.After(20 * time.Second):
			_ = c.cmd.Process.Signal(syscall.SIGQUIT) // "immediate" shutdown
			select {
			case <-c.exited:
			case <-time.After(10 * time.Second):
				_ = c.cmd.Process.Kill()
				<-c.exited
			}
		}
	}
	_ = os.RemoveAll(c.dir)
}

// binDir finds the directory holding initdb and postgres.
func binDir() (string, error) {
	has := func(dir string) bool {
		for _, b := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if d := os.Getenv(EnvBinDir); d != "" {
		if has(d) {
			return d, nil
		}
		return "", fmt.Errorf("%w in %s=%s", ErrNoPostgres, EnvBinDir, d)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { // newest major version first
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if has(d) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil && has(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("%w (looked in %s, /usr/lib/postgresql/*/bin and the PATH)", ErrNoPostgres, EnvBinDir)
}

// runAs returns the credentials to run PostgreSQL with: the postgres user
// when we are root (PostgreSQL refuses to run as root), else nil (ourselves).
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root, and PostgreSQL refuses to run as root, but there is no postgres user to run it as: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("pgtest: postgres user has uid %q gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

func startCluster() (*cluster, error) {
	if runtime.GOOS == "windows" {
		return nil, fmt.Errorf("%w: pgtest does not run clusters on Windows", ErrNoPostgres)
	}
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	sweepStale()
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range 3 { // a free port can be taken between probing and binding
		c, err := tryStart(bin, cred)
		if err == nil {
			return c, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func tryStart(bin string, cred *syscall.Credential) (_ *cluster, err error) {
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	c := &cluster{dir: dir, log: filepath.Join(dir, "postgres.log"), exited: make(chan struct{})}
	defer func() {
		if err != nil {
			c.stop()
		}
	}()
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("pgtest: giving %s to the postgres user: %w", dir, err)
		}
	}
	data := filepath.Join(dir, "data")
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()

	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
		"-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Env = append(os.Environ(), "LC_ALL=C")
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pgtest: initdb: %v\n%s", err, out)
	}

	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(c.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	defer logf.Close()
	c.cmd = exec.Command(filepath.Join(bin, "postgres"),
		"-D", data,
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+dir,
		"-c", "fsync=off", // a throwaway test database (see the package doc)
		"-c", "full_page_writes=off",
		"-c", "max_connections=300",
		"-c", "shared_buffers=32MB",
	)
	c.cmd.Dir = dir
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	c.cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: cred,
		Setpgid:    true, // a ^C on the terminal reaches us, and Stop, not postgres directly
		Pdeathsig:  syscall.SIGQUIT,
	}
	// Pdeathsig fires when the thread that started the child exits: start it
	// from a thread that never exits (one locked for the process's lifetime).
	if err := startOnPinnedThread(c.cmd); err != nil {
		return nil, fmt.Errorf("pgtest: starting postgres: %w", err)
	}
	go func() { _ = c.cmd.Wait(); close(c.exited) }()

	c.admin = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	for {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		conn, err := pgx.Connect(pctx, c.admin)
		pcancel()
		if err == nil {
			conn.Close(context.Background())
			return c, nil
		}
		select {
		case <-c.exited:
			return nil, fmt.Errorf("pgtest: postgres exited during start-up:\n%s", tail(c.log))
		case <-ctx.Done():
			return nil, fmt.Errorf("pgtest: postgres did not accept connections within %v (%v):\n%s", startTimeout, err, tail(c.log))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

var (
	pinnedOnce sync.Once
	pinned     chan func()
)

// startOnPinnedThread starts cmd from an OS thread that stays alive until the
// process exits, so the parent-death signal is sent only when the test
// binary itself dies.
func startOnPinnedThread(cmd *exec.Cmd) error {
	pinnedOnce.Do(func() {
		pinned = make(chan func())
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives as long as the process
			for f := range pinned {
				f()
			}
		}()
	})
	errc := make(chan error, 1)
	pinned <- func() { errc <- cmd.Start() }
	return <-errc
}

// ownerFile, in a cluster's directory, holds the pid of the test binary
// that made it.
const ownerFile = "owner.pid"

// sweepStale removes the directories of clusters whose test binary was
// killed before it could remove them (their postgres died with it).
func sweepStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "pgtest-*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = os.RemoveAll(d)
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func adminExec(ctx context.Context, admin, sql string) error {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	s := strings.TrimSpace(string(b))
	if len(s) > 4000 {
		s = "…" + s[len(s)-4000:]
	}
	return s
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
