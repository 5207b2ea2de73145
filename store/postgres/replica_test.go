package postgres_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/internal/pgtest"
	"github.com/twitchauth/twitchauth/provider"
	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/postgres"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// Settings of the replica test. Tokens live 3 s, so that expiries happen
// during the test; the children renew at expiry (no margin) and bound a
// renewal by 5 s (the lease lasts 1.5 times that: 7.5 s), well above a
// loaded CI machine's worst round trip: a refresh abandoned at its deadline
// after it reached the sandbox spends the single-use refresh token without
// an answer, which loses the grant whatever the client does.
const (
	replicaTokenLifetime = 3 * time.Second
	replicaRenewTimeout  = 5 * time.Second
	replicaLeasePoll     = 50 * time.Millisecond
	replicaCount         = 3
	replicaUsers         = 10
	replicaRequests      = 10_000
	replicaHeader        = "X-Test-Replica" // set by each child's HTTP client: who sent a request
)

// TestReplicasOneRefreshAcrossProcesses runs three Providers in three
// processes (this test binary, re-executed) on one PostgreSQL database and
// one sandbox whose public client has single-use refresh tokens, so that two
// refreshes of one grant would revoke it.
//
// Phase 1: 10,000 token requests spread over the replicas across the
// users' expiry cause exactly one upstream refresh per user.
//
// Phase 2: a replica holding a refresh lease hangs in the upstream request
// (a latency fault on the sandbox's token endpoint) and is killed with
// SIGKILL; the others take over once the lease lapses.
//
// At the end every user's stored refresh token still refreshes: no grant
// was lost.
func TestReplicasOneRefreshAcrossProcesses(t *testing.T) {
	if os.Getenv("TWITCHAUTH_REPLICA_CHILD") != "" {
		t.Skip("running as a child")
	}
	url := pgtest.Start(t)
	sb := twitchtest.NewServer(t, twitchtest.WithUserTokenLifetime(replicaTokenLifetime))
	client := sb.PublicClient()
	cfg := &twitchauth.Config{ClientID: client.ID, Endpoints: twitchauth.Endpoints{IDURL: sb.IDURL(), APIURL: sb.APIURL()}}
	key, err := store.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()

	// The grants, added by a setup process (this one) before the replicas start.
	setup := open(t, url, withKey(key))
	p0, err := provider.New(ctx, provider.Config{OAuth: cfg, Store: setup})
	if err != nil {
		t.Fatal(err)
	}
	var users []string
	for i := range replicaUsers {
		u, err := sb.AddUser(twitchtest.User{Login: fmt.Sprintf("replica_user_%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		access, refresh, err := sb.MintUserToken(client.ID, u.Login, []string{"chat:read"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p0.AddUserToken(ctx, &twitchauth.Token{AccessToken: access, RefreshToken: refresh, TokenType: "bearer"}); err != nil {
			t.Fatal(err)
		}
		users = append(users, u.ID)
	}
	firstExpiry := latestExpiry(t, setup, cfg.ClientID, users)

	// The fault used in phase 2: it catches the first token request sent
	// while armed and holds it until its sender dies, so that the refresh
	// never reaches the sandbox's handler (the refresh token stays unspent).
	var armed atomic.Bool
	caught := make(chan string, 1)
	sb.SetFault("token", twitchtest.FaultFunc(func(w http.ResponseWriter, r *http.Request) bool {
		if !armed.CompareAndSwap(true, false) {
			return false
		}
		caught <- r.Header.Get(replicaHeader)
		select {
		case <-r.Context().Done(): // the replica died
		case <-time.After(30 * time.Second):
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		return true
	}))

	replicas := make([]*replica, replicaCount)
	for i := range replicas {
		replicas[i] = startReplica(t, i, url, key, cfg)
	}
	for _, r := range replicas {
		r.expect(t, "READY", 30*time.Second)
	}
	sb.ResetCounters()

	// Phase 1: requests spread evenly over one second around the expiry.
	start := time.Now()
	window := time.Second
	at := firstExpiry.Add(-window / 2)
	if at.Before(time.Now().Add(50 * time.Millisecond)) {
		t.Logf("the replicas started late: the burst begins %v after the expiry", time.Since(firstExpiry).Round(time.Millisecond))
		at = time.Now().Add(50 * time.Millisecond)
	}
	per := replicaRequests / replicaCount
	for i, r := range replicas {
		n := per
		if i == 0 {
			n += replicaRequests - per*replicaCount
		}
		r.send(t, fmt.Sprintf("burst %d %d %d %s", n, at.UnixNano(), window.Nanoseconds(), strings.Join(users, ",")))
	}
	total, failed := 0, 0
	for _, r := range replicas {
		line := r.expect(t, "BURST", 60*time.Second)
		var ok, bad int
		var first string
		if _, err := fmt.Sscanf(line, "BURST %d %d", &ok, &bad); err != nil {
			t.Fatalf("replica %d: bad line %q", r.id, line)
		}
		if bad > 0 {
			first = line
		}
		total += ok + bad
		failed += bad
		if first != "" {
			t.Errorf("replica %d: %s", r.id, first)
		}
	}
	refreshes := sb.Requests("token:refresh_token")
	t.Logf("phase 1: %d requests over %d replicas in %v, %d failed; %d upstream refreshes for %d users",
		total, replicaCount, time.Since(start).Round(time.Millisecond), failed, refreshes, len(users))
	if total != replicaRequests || failed != 0 {
		t.Fatalf("phase 1: %d of %d requests answered, %d failed", total, replicaRequests, failed)
	}
	if refreshes != len(users) {
		t.Fatalf("phase 1: %d upstream refreshes, want exactly one per user (%d)", refreshes, len(users))
	}

	// Phase 2: replica 0 refreshes one user and hangs holding the lease;
	// it is killed, and the others take over.
	victim, u := replicas[0], users[0]
	sb.ResetCounters()
	armed.Store(true)
	victim.send(t, "refresh "+u)
	select {
	case who := <-caught:
		if who != strconv.Itoa(victim.id) {
			t.Fatalf("the fault caught a request from replica %q, want %d", who, victim.id)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the victim's refresh never reached the sandbox")
	}
	killed := time.Now()
	victim.kill()
	// The survivors are told the token they hold is refused (as after a 401
	// from Helix): both must end up with one new token between them.
	held, err := setup.Load(ctx, store.GrantKey(cfg.ClientID, store.UserKey(u)))
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		id  int
		err string
		at  time.Time
	}
	results := make(chan result, replicaCount)
	for _, r := range replicas[1:] {
		go func() {
			for range 20 { // a try may time out waiting for the lease
				r.send(t, "invalidate "+u+" "+held.AccessToken)
				line, err := r.next("REFRESH", 30*time.Second)
				if err != nil {
					results <- result{id: r.id, err: err.Error()}
					return
				}
				if line == "REFRESH ok" {
					results <- result{id: r.id, at: time.Now()}
					return
				}
				if time.Since(killed) > 20*time.Second {
					results <- result{id: r.id, err: line}
					return
				}
			}
			results <- result{id: r.id, err: "gave up"}
		}()
	}
	var takeover time.Duration
	for range replicas[1:] {
		res := <-results
		if res.err != "" {
			t.Fatalf("replica %d never renewed after the kill: %s", res.id, res.err)
		}
		if d := res.at.Sub(killed); takeover == 0 || d < takeover {
			takeover = d
		}
	}
	phase2 := sb.Requests("token:refresh_token")
	t.Logf("phase 2: replica %d killed holding the lease on %s; first survivor renewed %v after the kill (renew timeout %v); %d upstream refresh(es) reached the sandbox",
		victim.id, store.UserKey(u), takeover.Round(time.Millisecond), replicaRenewTimeout, phase2)
	if phase2 != 1 {
		t.Fatalf("phase 2: %d upstream refreshes reached the sandbox, want exactly 1 (the survivors share one)", phase2)
	}

	// No grant lost: each user's stored refresh token is the live one (a
	// refresh token spent twice would have revoked the grant, the stored one
	// with it). This asks the sandbox directly, once the survivors stopped:
	// a served access token is no proof — with no refresh margin it may
	// expire between being served and being validated.
	for _, r := range replicas[1:] {
		r.send(t, "quit")
		r.wait(t, 30*time.Second)
	}
	for _, id := range users {
		rec, err := setup.Load(ctx, store.GrantKey(cfg.ClientID, store.UserKey(id)))
		if err != nil {
			t.Fatal(err)
		}
		if rec.Status != store.StatusActive {
			t.Errorf("user %s: the stored grant is %s", id, rec.Status)
			continue
		}
		if _, err := cfg.Refresh(ctx, rec.RefreshToken); err != nil {
			t.Errorf("user %s: grant lost, the stored refresh token is refused: %v", id, err)
		}
	}
}

func latestExpiry(t *testing.T, s store.Store, clientID string, users []string) time.Time {
	t.Helper()
	var latest time.Time
	for _, id := range users {
		rec, err := s.Load(t.Context(), store.GrantKey(clientID, store.UserKey(id)))
		if err != nil {
			t.Fatal(err)
		}
		if rec.Expiry.After(latest) {
			latest = rec.Expiry
		}
	}
	return latest
}

// replica is a child process running a Provider.
type replica struct {
	id    int
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	mu    sync.Mutex
}

func startReplica(t *testing.T, id int, url string, key []byte, cfg *twitchauth.Config) *replica {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestReplicaChild$")
	cmd.Env = append(os.Environ(),
		"TWITCHAUTH_REPLICA_CHILD=1",
		"REPLICA_ID="+strconv.Itoa(id),
		"REPLICA_DB="+url,
		store.EnvEncryptionKey+"="+store.EncodeKey(key),
		"REPLICA_ID_URL="+cfg.Endpoints.IDURL,
		"REPLICA_CLIENT_ID="+cfg.ClientID)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &replica{id: id, cmd: cmd, stdin: stdin, lines: make(chan string, 1024)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
		close(r.lines)
	}()
	t.Cleanup(r.kill)
	return r
}

func (r *replica) send(t *testing.T, cmd string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := io.WriteString(r.stdin, cmd+"\n"); err != nil {
		t.Errorf("replica %d: sending %q: %v", r.id, strings.Fields(cmd)[0], err)
	}
}

// expect returns the next line starting with prefix, skipping others.
func (r *replica) expect(t *testing.T, prefix string, timeout time.Duration) string {
	t.Helper()
	line, err := r.next(prefix, timeout)
	if err != nil {
		t.Fatal(err)
	}
	return line
}

func (r *replica) next(prefix string, timeout time.Duration) (string, error) {
	deadline := time.After(timeout)
	for {
		select {
		case line, ok := <-r.lines:
			if !ok {
				return "", fmt.Errorf("replica %d exited while the test waited for %s", r.id, prefix)
			}
			if strings.HasPrefix(line, prefix) {
				return line, nil
			}
		case <-deadline:
			return "", fmt.Errorf("replica %d: no %s within %v", r.id, prefix, timeout)
		}
	}
}

// wait waits for the replica to exit (after "quit").
func (r *replica) wait(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case _, ok := <-r.lines:
			if !ok {
				r.kill() // reaps it
				return
			}
		case <-deadline:
			t.Fatalf("replica %d did not exit within %v", r.id, timeout)
		}
	}
}

func (r *replica) kill() {
	if r.cmd.ProcessState == nil {
		_ = r.cmd.Process.Kill() // SIGKILL
		_ = r.cmd.Wait()
	}
}

// TestReplicaChild is one replica of TestReplicasOneRefreshAcrossProcesses:
// a Provider on the shared database, watching it, driven by commands on
// stdin:
//
//	burst N START_UNIX_NANO SPREAD_NANOS USER,USER,…  N UserToken calls spread over SPREAD from START → "BURST ok failed [first error]"
//	refresh USER                                     Provider.Refresh → "REFRESH ok" or "REFRESH err …"
//	invalidate USER ACCESS_TOKEN                     Provider.Invalidate → "REFRESH ok" or "REFRESH err …"
//	quit
func TestReplicaChild(t *testing.T) {
	if os.Getenv("TWITCHAUTH_REPLICA_CHILD") == "" {
		t.Skip("only run as a child of TestReplicasOneRefreshAcrossProcesses")
	}
	ctx := context.Background()
	st, err := postgres.Open(ctx, os.Getenv("REPLICA_DB"), postgres.Config{LeasePoll: replicaLeasePoll, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	id := os.Getenv("REPLICA_ID")
	cfg := &twitchauth.Config{
		ClientID:   os.Getenv("REPLICA_CLIENT_ID"),
		Endpoints:  twitchauth.Endpoints{IDURL: os.Getenv("REPLICA_ID_URL")},
		HTTPClient: &http.Client{Transport: headerTransport{id}, Timeout: time.Minute},
	}
	p, err := provider.New(ctx, provider.Config{OAuth: cfg, Store: st, RefreshMargin: -1, RenewTimeout: replicaRenewTimeout})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			_ = p.Watch(ctx) // returns only if the connection fails: watch again
			time.Sleep(100 * time.Millisecond)
		}
	}()
	var out sync.Mutex
	say := func(format string, args ...any) {
		out.Lock()
		defer out.Unlock()
		fmt.Printf(format+"\n", args...)
	}
	say("READY")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "burst":
			n, _ := strconv.Atoi(f[1])
			startNs, _ := strconv.ParseInt(f[2], 10, 64)
			spread, _ := strconv.ParseInt(f[3], 10, 64)
			users := strings.Split(f[4], ",")
			go func() {
				var ok, failed atomic.Int32
				var firstErr atomic.Value
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() {
						time.Sleep(time.Until(time.Unix(0, startNs+spread*int64(i)/int64(n))))
						rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
						defer cancel()
						if _, err := p.Token(rctx, provider.User(users[i%len(users)])); err != nil {
							failed.Add(1)
							firstErr.CompareAndSwap(nil, err.Error())
							return
						}
						ok.Add(1)
					})
				}
				wg.Wait()
				first, _ := firstErr.Load().(string)
				say("BURST %d %d %s", ok.Load(), failed.Load(), first)
			}()
		case "refresh":
			go func() {
				rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				defer cancel()
				if _, err := p.Refresh(rctx, provider.User(f[1])); err != nil {
					say("REFRESH err %v", err)
					return
				}
				say("REFRESH ok")
			}()
		case "invalidate":
			go func() {
				rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				defer cancel()
				if _, err := p.Invalidate(rctx, provider.User(f[1]), f[2]); err != nil {
					say("REFRESH err %v", err)
					return
				}
				say("REFRESH ok")
			}()
		case "quit":
			return
		}
	}
}

// headerTransport marks each request with the replica that sent it.
type headerTransport struct{ id string }

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(replicaHeader, h.id)
	return http.DefaultTransport.RoundTrip(r)
}
