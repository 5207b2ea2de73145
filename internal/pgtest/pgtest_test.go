package pgtest_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/twitchauth/twitchauth/internal/pgtest"
)

// Two tests get two different, empty, working databases on one cluster.
func TestStartGivesSeparateDatabases(t *testing.T) {
	if os.Getenv(pgtest.EnvURL) != "" {
		t.Skip("using an external server")
	}
	var names []string
	var pids []int
	for range 2 {
		t.Run("db", func(t *testing.T) {
			url := pgtest.Start(t)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			conn, err := pgx.Connect(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			var name, addr string
			var pid int
			if err := conn.QueryRow(ctx, `SELECT current_database(), host(inet_server_addr()), pg_backend_pid()`).Scan(&name, &addr, &pid); err != nil {
				t.Fatal(err)
			}
			if addr != "127.0.0.1" {
				t.Errorf("server address %s, want 127.0.0.1", addr)
			}
			var tables int
			if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&tables); err != nil || tables != 0 {
				t.Errorf("new database has %d tables (%v), want 0", tables, err)
			}
			if _, err := conn.Exec(ctx, `CREATE TABLE x (id int)`); err != nil {
				t.Fatal(err)
			}
			names = append(names, name)
			pids = append(pids, pid)
		})
	}
	if len(names) == 2 && names[0] == names[1] {
		t.Fatalf("both tests got database %s", names[0])
	}
}

// A test binary killed with SIGKILL (as by go test -timeout's hard kill, or
// the OOM killer) leaves no postgres process behind: the cluster is stopped
// by its parent-death signal.
func TestClusterDiesWithTheTestBinary(t *testing.T) {
	if os.Getenv("PGTEST_CHILD") != "" {
		url := pgtest.Start(t)
		fmt.Println("URL", url)
		os.Stdout.Sync()
		time.Sleep(time.Minute) // killed here
		return
	}
	if os.Getenv(pgtest.EnvURL) != "" {
		t.Skip("using an external server")
	}
	pgtest.Start(t) // skips here when PostgreSQL is missing
	cmd := exec.Command(os.Args[0], "-test.run=^TestClusterDiesWithTheTestBinary$")
	cmd.Env = append(os.Environ(), "PGTEST_CHILD=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(60*time.Second, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	var childURL string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "URL "); ok {
			childURL = u
			break
		}
	}
	if childURL == "" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatal("the child did not start a cluster")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(ctx, childURL); err != nil {
		t.Fatalf("the child's cluster does not answer: %v", err)
	} else {
		conn.Close(ctx)
	}
	_ = cmd.Process.Kill() // SIGKILL: no cleanup runs in the child
	_ = cmd.Wait()
	deadline := time.Now().Add(15 * time.Second)
	for {
		cctx, ccancel := context.WithTimeout(ctx, time.Second)
		conn, err := pgx.Connect(cctx, childURL)
		ccancel()
		if err != nil {
			return // gone
		}
		conn.Close(ctx)
		if time.Now().After(deadline) {
			t.Fatal("the child's postgres still accepts connections 15 s after the child was killed")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
