package reliability

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/broker"
	"github.com/twitchauth/twitchauth/provider"
	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/sqlite"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// buildTwitchauth builds the twitchauth binary into dir.
func buildTwitchauth(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "twitchauth")
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH to build twitchauth")
	}
	cmd := exec.Command(gobin, "build", "-o", bin, "github.com/twitchauth/twitchauth/cmd/twitchauth")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// brokerProc is a running `twitchauth serve`.
type brokerProc struct {
	cmd    *exec.Cmd
	url    string
	stderr *lockedBuffer
	done   chan struct{}
}

var listenRE = regexp.MustCompile(`msg="broker listening" addr=(\S+)`)

// startBroker starts the binary with env and waits for its listening line.
func startBroker(t *testing.T, bin string, env []string, args ...string) *brokerProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	cmd.Env = env
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &brokerProc{cmd: cmd, stderr: newLockedBuffer(), done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			p.stderr.Write([]byte(line + "\n"))
			if m := listenRE.FindStringSubmatch(line); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, pr)
	}()
	go func() {
		cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	select {
	case a := <-addr:
		p.url = "http://" + a
	case <-p.done:
		t.Fatalf("the broker exited before listening:\n%s", p.stderr.String())
	case <-time.After(30 * time.Second):
		p.kill()
		t.Fatalf("the broker did not listen within 30 s:\n%s", p.stderr.String())
	}
	return p
}

// kill sends SIGKILL and waits for the process to end.
func (p *brokerProc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// TestCrashDuringRefreshStorms kills `twitchauth serve` (a built binary, its
// SQLite store in a temporary directory) with SIGKILL while 100 users' tokens
// are being refreshed through its token API. After every kill it checks
// what was persisted, then restarts the broker and checks that each grant
// still refreshes.
//
// What was persisted: for every grant, the refresh token in the store must
// be the newest the sandbox issued, or the one before it — a renewal whose
// answer had left Twitch but whose commit had not happened when the process
// died ("in flight"). Anything older means a saved renewal was lost, so a
// store that never persists fails here in both modes. The renewals in
// flight are counted at each kill.
//
// With Twitch's behaviour for confidential clients (the old refresh token
// stays valid) no grant may be lost. With single-use refresh tokens (public
// clients, or WithSingleUseRefresh) every renewal in flight at a kill loses
// its grant — its old refresh token is spent — and nothing else may: the
// test checks that the grants lost at each kill are exactly those.
func TestCrashDuringRefreshStorms(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a binary")
	}
	kills := 10
	if long() {
		kills = 50
	}
	workers := 32
	if n, err := strconv.Atoi(os.Getenv("TWITCHAUTH_CRASH_WORKERS")); err == nil && n > 0 {
		workers = n
	}
	bin := buildTwitchauth(t, t.TempDir())
	t.Run("confidential", func(t *testing.T) { runCrash(t, bin, false, kills, workers) })
	t.Run("single-use", func(t *testing.T) { runCrash(t, bin, true, kills, workers) })
}

func runCrash(t *testing.T, bin string, singleUse bool, kills, workers int) {
	users := 100
	dir := t.TempDir()
	ctx := testCtx(t, 10*time.Minute)

	var userOpts []twitchtest.Option
	for i := range users {
		userOpts = append(userOpts, twitchtest.WithUser(twitchtest.User{Login: fmt.Sprintf("crash%03d", i)}))
	}
	sb := twitchtest.NewServer(t, append(userOpts,
		twitchtest.WithSingleUseRefresh(singleUse),
		twitchtest.WithUserTokenLifetime(2*time.Minute), // inside the 5-minute margin: every GET refreshes
	)...)
	dc := sb.DefaultClient()

	// Seed the broker's store with 100 grants, as `serve` would open it
	// (key file <store>.key).
	dbPath := filepath.Join(dir, "broker.db")
	os.Unsetenv("TWITCHAUTH_ENCRYPTION_KEY")
	st, err := sqlite.Open(ctx, dbPath, sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &twitchauth.Config{ClientID: dc.ID, ClientSecret: dc.Secret, Endpoints: twitchauth.Endpoints{IDURL: sb.IDURL(), APIURL: sb.APIURL()}}
	p, err := provider.New(ctx, provider.Config{OAuth: cfg, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	grant := func(p *provider.Provider, login string) string {
		access, refresh, err := sb.MintUserToken(dc.ID, login, []string{"chat:read"})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := p.AddUserToken(ctx, &twitchauth.Token{AccessToken: access, RefreshToken: refresh, TokenType: "bearer"})
		if err != nil {
			t.Fatal(err)
		}
		return tok.UserID
	}
	var ids []string
	logins := map[string]string{}
	for i := range users {
		login := fmt.Sprintf("crash%03d", i)
		id := grant(p, login)
		ids = append(ids, id)
		logins[id] = login
	}
	st.Close()
	// reseed gives the users whose grant was lost a new one (as if they
	// signed in again), while the broker is down, so that every storm runs
	// over 100 users.
	reseed := func(lostNow []string) {
		st, err := sqlite.Open(ctx, dbPath, sqlite.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		p, err := provider.New(ctx, provider.Config{OAuth: cfg, Store: st})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range lostNow {
			grant(p, logins[id])
		}
	}

	key := broker.GenerateKey()
	env := []string{
		"HOME=" + dir, "XDG_DATA_HOME=" + dir, "PATH=" + os.Getenv("PATH"), "TWITCHAUTH_LISTEN=127.0.0.1:0",
		"TWITCH_CLIENT_ID=" + dc.ID, "TWITCH_CLIENT_SECRET=" + dc.Secret,
		"TWITCH_ID_URL=" + sb.IDURL(), "TWITCH_API_URL=" + sb.APIURL(),
		"TWITCHAUTH_STORE=" + dbPath, "TWITCHAUTH_KEYS_FILE=" + filepath.Join(dir, "keys.json"),
		"TWITCHAUTH_API_KEYS=crash:" + broker.HashKey(key) + ":token:user,token:refresh",
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	call := func(base, method, path string) (int, error) {
		req, _ := http.NewRequestWithContext(ctx, method, base+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}

	lost := map[string]int{} // user → kill after which the grant was found lost (cleared by reseed)
	totalLost, byKill := 0, map[int]int{}

	// checkPersisted compares every grant's stored refresh token with what
	// the sandbox issued, while the broker is down, and returns the users
	// whose renewal was in flight at the kill (stored = the one before the
	// newest issued).
	checkPersisted := func(kill int, proc *brokerProc) (inFlight map[string]bool) {
		st, err := sqlite.Open(ctx, dbPath, sqlite.Config{Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		inFlight = map[string]bool{}
		for _, id := range ids {
			rec, err := st.Load(ctx, store.GrantKey(dc.ID, store.UserKey(id)))
			if err != nil {
				t.Errorf("after kill %d: user %s: %v", kill, id, err)
				continue
			}
			issued := sb.IssuedRefreshTokens(dc.ID, id)
			switch behind := slices.Index(issued, rec.RefreshToken); behind {
			case 0:
			case 1:
				inFlight[id] = true
			default:
				how := fmt.Sprintf("%d renewals behind the newest issued", behind)
				if behind < 0 {
					how = fmt.Sprintf("older than the last %d issued", len(issued))
				}
				t.Errorf("after kill %d: user %s: the stored refresh token is %s: a saved renewal was lost (broker log mentions unsaved tokens: %v)",
					kill, id, how, strings.Contains(proc.stderr.String(), "not stored"))
			}
		}
		return inFlight
	}
	var inFlightTotal, inFlightMax int
	inFlightMin := -1
	// checkAll refreshes every grant not yet lost through the broker and
	// records the new losses.
	checkAll := func(base string, kill int) (checked, newlyLost int) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		var live []string
		for _, id := range ids {
			if _, ok := lost[id]; !ok {
				live = append(live, id)
			}
		}
		for _, id := range live {
			checked++
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				code, err := call(base, http.MethodPost, "/v1/token/user/"+id+"/refresh")
				if code == http.StatusOK {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if code == http.StatusGone {
					lost[id] = kill
					newlyLost++
					return
				}
				t.Errorf("after kill %d: refreshing user %s: %d %v", kill, id, code, err)
			}()
		}
		wg.Wait()
		return checked, newlyLost
	}

	rng := rand.New(rand.NewPCG(5, 5))
	var stormOK, stormFailed, stormRequests atomic.Int64
	var statusMu sync.Mutex
	statuses := map[string]int{}
	grantsChecked := 0
	refreshesBefore := sb.Requests("token:refresh_token")
	start := time.Now()
	for k := 1; k <= kills; k++ {
		proc := startBroker(t, bin, env)
		if k == 1 {
			n, _ := checkAll(proc.url, 0)
			grantsChecked += n
		}
		// The storm: concurrent refreshes and token reads of every user,
		// until the kill.
		var live []string
		for _, id := range ids {
			if _, ok := lost[id]; !ok {
				live = append(live, id)
			}
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				r := rand.New(rand.NewPCG(uint64(k), uint64(w)))
				for {
					select {
					case <-stop:
						return
					default:
					}
					id := live[r.IntN(len(live))]
					method, path := http.MethodPost, "/v1/token/user/"+id+"/refresh"
					if r.IntN(10) < 3 {
						method, path = http.MethodGet, "/v1/token/user/"+id
					}
					stormRequests.Add(1)
					code, err := call(proc.url, method, path)
					if code == http.StatusOK {
						stormOK.Add(1)
					} else {
						stormFailed.Add(1)
					}
					k := fmt.Sprint(code)
					if err != nil {
						k = "connection error"
					}
					statusMu.Lock()
					statuses[k]++
					statusMu.Unlock()
				}
			})
		}
		time.Sleep(time.Duration(50+rng.IntN(250)) * time.Millisecond)
		proc.kill()
		close(stop)
		wg.Wait()
		client.CloseIdleConnections()

		// What was persisted, then restart and check every grant.
		inFlight := checkPersisted(k, proc)
		inFlightTotal += len(inFlight)
		inFlightMax = max(inFlightMax, len(inFlight))
		if inFlightMin < 0 || len(inFlight) < inFlightMin {
			inFlightMin = len(inFlight)
		}
		lostBefore := maps.Clone(lost)
		proc = startBroker(t, bin, env)
		n, nl := checkAll(proc.url, k)
		grantsChecked += n
		proc.kill()
		for id := range lost {
			if _, old := lostBefore[id]; old {
				continue
			}
			if !singleUse || !inFlight[id] {
				t.Errorf("kill %d lost user %s's grant, whose stored refresh token was %s", k, id,
					map[bool]string{true: "one behind (in flight)", false: "the newest issued"}[inFlight[id]])
			}
		}
		if singleUse && nl != len(inFlight) {
			t.Errorf("kill %d: %d grants lost, %d renewals in flight: with single-use refresh tokens each renewal in flight loses its grant, and only those", k, nl, len(inFlight))
		}
		if nl > 0 {
			totalLost += nl
			byKill[k] = nl
			var lostNow []string
			for id := range lost {
				lostNow = append(lostNow, id)
			}
			reseed(lostNow)
			clear(lost)
		}

	}
	elapsed := time.Since(start)
	t.Logf("single-use refresh tokens: %v; %d storm workers", singleUse, workers)
	t.Logf("crash: %d SIGKILLs in %v during refresh storms of %d users (%d storm requests: %d answered 200, %d failed or cut by the kill); %d upstream refreshes",
		kills, elapsed.Round(time.Millisecond), users, stormRequests.Load(), stormOK.Load(), stormFailed.Load(), sb.Requests("token:refresh_token")-refreshesBefore)
	t.Logf("storm answers: %v", statuses)
	t.Logf("grants checked after restarts: %d; grants lost: %d (by kill: %v)", grantsChecked, totalLost, byKill)
	t.Logf("renewals in flight at the kills (issued by the sandbox, not committed): %d in %d kills, %.1f per kill (min %d, max %d), of %d requests in flight",
		inFlightTotal, kills, float64(inFlightTotal)/float64(kills), inFlightMin, inFlightMax, workers)
	if !singleUse && totalLost > 0 {
		t.Errorf("%d grants lost although the old refresh tokens stay valid", totalLost)
	}
	if singleUse && totalLost > 0 {
		t.Logf("NOTE: %d grants lost to kills inside the answer-to-commit window (%.1f per kill; see RELIABILITY.md)", totalLost, float64(totalLost)/float64(kills))
	}
	if inFlightTotal == 0 {
		t.Error("no renewal was in flight at any kill: the kills did not land inside the answer-to-commit window, so the check proves little")
	}
	if stormOK.Load() == 0 {
		t.Error("no storm request succeeded: the kills did not land during refreshes")
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
