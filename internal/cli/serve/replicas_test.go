package serve

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/broker"
	"github.com/twitchauth/twitchauth/internal/pgtest"
	"github.com/twitchauth/twitchauth/provider"
	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/postgres"
	"github.com/twitchauth/twitchauth/twitchtest"
)

const replicaChildEnv = "TWITCHAUTH_SERVE_REPLICA"

// TestBrokerReplicasOneRefreshPerUser runs three `twitchauth serve`
// processes (this test binary re-executed into serve.Run) on one PostgreSQL
// database and one sandbox whose refresh tokens are single-use, so that two
// refreshes of one grant would revoke it. 10,000 concurrent token requests,
// spread over the replicas across the users' expiry, cause exactly one
// upstream refresh per user, and every grant still works at the end.
func TestBrokerReplicasOneRefreshPerUser(t *testing.T) {
	if os.Getenv(replicaChildEnv) != "" {
		t.Skip("running as a replica")
	}
	const (
		replicas     = 3
		users        = 10
		requests     = 10_000
		renewTimeout = 5 * time.Second // 1.5 times it is the refresh lease, hence the takeover time; above a loaded machine's round trips
	)
	dbURL := pgtest.Start(t)
	sb := twitchtest.NewServer(t, twitchtest.WithSingleUseRefresh(true))
	cl := sb.DefaultClient()
	key, _ := store.GenerateKey()
	encKey := store.EncodeKey(key)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// The grants, stored before the brokers start.
	st, err := postgres.Open(ctx, dbURL, postgres.Config{Key: store.KeyConfig{Key: key}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := &twitchauth.Config{ClientID: cl.ID, ClientSecret: cl.Secret, Endpoints: twitchauth.Endpoints{IDURL: sb.IDURL(), APIURL: sb.APIURL()}}
	p, err := provider.New(ctx, provider.Config{OAuth: cfg, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, u := range sb.Users() {
		if len(ids) == users {
			break
		}
		access, refresh, err := sb.MintUserToken(cl.ID, u.Login, []string{"chat:read"})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := p.AddUserToken(ctx, &twitchauth.Token{AccessToken: access, RefreshToken: refresh})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tok.UserID)
	}
	for len(ids) < users { // the sandbox has few default users: add some
		u, err := sb.AddUser(twitchtest.User{Login: fmt.Sprintf("replicauser%d", len(ids))})
		if err != nil {
			t.Fatal(err)
		}
		access, refresh, _ := sb.MintUserToken(cl.ID, u.Login, []string{"chat:read"})
		tok, err := p.AddUserToken(ctx, &twitchauth.Token{AccessToken: access, RefreshToken: refresh})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tok.UserID)
	}

	apiKey := broker.GenerateKey()
	sb.ResetCounters()
	var urls []string
	var procs []*exec.Cmd
	for i := range replicas {
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestBrokerReplicaChild$")
		cmd.Env = append(os.Environ(), replicaChildEnv+"=1",
			"TWITCH_CLIENT_ID="+cl.ID, "TWITCH_CLIENT_SECRET="+cl.Secret,
			"TWITCH_ID_URL="+sb.IDURL(), "TWITCH_API_URL="+sb.APIURL(),
			"TWITCHAUTH_STORE="+dbURL, store.EnvEncryptionKey+"="+encKey,
			"TWITCHAUTH_API_KEYS=svc:"+broker.HashKey(apiKey)+":token:user",
			"TWITCHAUTH_KEYS_FILE="+filepath.Join(t.TempDir(), "keys.json"),
			"TWITCHAUTH_LISTEN=127.0.0.1:0", "TWITCHAUTH_LOG_LEVEL=warn",
			"TWITCHAUTH_RENEW_TIMEOUT="+renewTimeout.String())
		out, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, cmd)
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "REPLICA-READY "); ok {
				urls = append(urls, u)
				break
			}
		}
		go io.Copy(io.Discard, out)
		if len(urls) != i+1 {
			t.Fatalf("replica %d did not start", i)
		}
	}

	// The grants were validated when added (AddUserToken): the fleet
	// validates none of them at start-up (fleet_test.go), so no round runs
	// beside the requests below.
	time.Sleep(500 * time.Millisecond)
	if n := sb.Requests("validate"); n != 0 {
		t.Fatalf("the replicas validated %d tokens at start-up, want none (validated by the fleet within the hour)", n)
	}

	// Move every grant's expiry to 1.5 s from now (past the brokers' 5 min
	// refresh margin): the replicas learn it through the store's
	// notifications, and the requests below cross that instant.
	cross := time.Now().Add(provider.DefaultRefreshMargin + 1500*time.Millisecond)
	crossAt := cross.Add(-provider.DefaultRefreshMargin)
	for _, id := range ids {
		rec, err := st.Load(ctx, store.GrantKey(cl.ID, store.UserKey(id)))
		if err != nil {
			t.Fatal(err)
		}
		rec.Expiry = cross
		if _, err := st.Save(ctx, rec, rec.Version); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond) // notifications reach the replicas
	sb.ResetCounters()

	// 10,000 requests over about 3 s, from 48 workers, round-robin over
	// the replicas and the users.
	var next, failed atomic.Int64
	var firstErr atomic.Value
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	for range 48 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := next.Add(1) - 1
				if n >= requests {
					return
				}
				if n%4 == 0 {
					<-tick.C // about 4 requests per millisecond
				}
				req, _ := http.NewRequestWithContext(ctx, "GET", urls[n%replicas]+"/v1/token/user/"+ids[(n/replicas)%users], nil)
				req.Header.Set("Authorization", "Bearer "+apiKey)
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%d %s", resp.StatusCode, body))
				}
			}
		}()
	}
	wg.Wait()
	if time.Now().Before(crossAt) {
		t.Fatal("the requests ended before the expiry: the test did not cross it")
	}
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed, first: %v", failed.Load(), requests, firstErr.Load())
	}
	if got := sb.Requests("token:refresh_token"); got != users {
		t.Fatalf("upstream refreshes = %d, want exactly one per user (%d)", got, users)
	}
	t.Logf("%d requests over %d replicas: %d upstream refreshes for %d users", requests, replicas, sb.Requests("token:refresh_token"), users)
	// Phase 2: replica 0 takes a grant's lease and hangs in the refresh
	// request (the sandbox holds it); it is killed with SIGKILL. Another
	// replica takes over once the lease lapses, with one refresh upstream.
	victim := ids[0]
	sb.SetFault("token", twitchtest.FirstN(1, twitchtest.Hang(20*time.Second)))
	rec, err := st.Load(ctx, store.GrantKey(cl.ID, store.UserKey(victim)))
	if err != nil {
		t.Fatal(err)
	}
	rec.Expiry = time.Now().Add(provider.DefaultRefreshMargin - time.Minute) // due for renewal
	if _, err := st.Save(ctx, rec, rec.Version); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the replicas adopt it
	sb.ResetCounters()
	get := func(url string, timeout time.Duration) (int, error) {
		rctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		req, _ := http.NewRequestWithContext(rctx, "GET", url+"/v1/token/user/"+victim, nil)
		req.Header.Set("Authorization", "Bearer "+apiKey)
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	go get(urls[0], 30*time.Second) // replica 0 takes the lease and hangs upstream
	for deadline := time.Now().Add(10 * time.Second); sb.Requests("token") == 0; {
		if time.Now().After(deadline) {
			t.Fatal("replica 0 never asked for the refresh")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := procs[0].Process.Kill(); err != nil { // SIGKILL, lease held
		t.Fatal(err)
	}
	killed := time.Now()
	code, err := get(urls[1], 30*time.Second)
	takeover := time.Since(killed)
	if err != nil || code != 200 {
		t.Fatalf("replica 1 after the kill: %d %v", code, err)
	}
	if got := sb.Requests("token:refresh_token"); got != 1 {
		t.Fatalf("refreshes processed after the kill = %d (token requests %d, takeover %v), want 1", got, sb.Requests("token"), takeover)
	}
	t.Logf("replica killed holding the lease: replica 1 served a renewed token %v later (renew timeout %v), %d upstream refresh",
		takeover.Round(time.Millisecond), renewTimeout, sb.Requests("token:refresh_token"))
	sb.SetFault("token", nil)

	// Every grant still works: its stored refresh token is the live one.
	for _, id := range ids {
		rec, err := st.Load(ctx, store.GrantKey(cl.ID, store.UserKey(id)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cfg.Refresh(ctx, rec.RefreshToken); err != nil {
			t.Fatalf("user %s: grant lost: %v", id, err)
		}
	}
}

// TestBrokerReplicaChild is one replica of the test above.
func TestBrokerReplicaChild(t *testing.T) {
	if os.Getenv(replicaChildEnv) == "" {
		t.Skip("only run as a replica")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := Run(ctx, &Options{Getenv: os.Getenv, Stderr: os.Stderr, ready: func(i Info) {
		fmt.Println("REPLICA-READY " + i.URL)
	}})
	if err != nil {
		t.Fatal(err)
	}
}
