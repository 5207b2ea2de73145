package serve

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/twitchauth/twitchauth/internal/pgtest"
	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/postgres"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// Environment of TestBrokerFleetValidatesOncePerInterval.
const (
	// fleetChildEnv makes TestBrokerFleetChild run one replica.
	fleetChildEnv = "TWITCHAUTH_SERVE_FLEET_REPLICA"
	// FleetReplicasEnv sets the number of replicas (default 3; 1 gives the
	// single-process figure and skips the kill).
	fleetReplicasEnv = "TWITCHAUTH_FLEET_REPLICAS"
	// fleetNoClaimsEnv=1 runs the replicas as before validation claims
	// (provider.Config.NoValidationClaims): the anchor, which fails the
	// test with one validation per replica per token per round.
	fleetNoClaimsEnv = "TWITCHAUTH_FLEET_NO_CLAIMS"
)

// validateLog records, per access token, the times of its /validate calls
// and, per replica, how many it made.
type validateLog struct {
	mu        sync.Mutex
	calls     map[string][]time.Time
	byReplica map[int]int
}

// handler counts the /validate calls that reach the sandbox through
// /r<replica>/oauth2/validate and passes every request on.
func (l *validateLog) handler(sb http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest := strings.TrimPrefix(r.URL.Path, "/r")
		num, path, ok := strings.Cut(rest, "/")
		replica, err := strconv.Atoi(num)
		if !ok || err != nil {
			http.NotFound(w, r)
			return
		}
		r.URL.Path = "/" + path
		if r.URL.Path == "/oauth2/validate" {
			auth := r.Header.Get("Authorization")
			tok := auth[strings.IndexByte(auth, ' ')+1:]
			l.mu.Lock()
			l.calls[tok] = append(l.calls[tok], time.Now())
			l.byReplica[replica]++
			l.mu.Unlock()
		}
		sb.ServeHTTP(w, r)
	})
}

// least and most return the fewest and most calls of a token of tokens.
func (l *validateLog) spread(tokens []string) (least, most int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	least = -1
	for _, t := range tokens {
		n := len(l.calls[t])
		if least < 0 || n < least {
			least = n
		}
		most = max(most, n)
	}
	return least, most
}

func (l *validateLog) wait(t testing.TB, tokens []string, n int, within time.Duration) (least, most int) {
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(10 * time.Millisecond) {
		least, most = l.spread(tokens)
		if least >= n {
			return least, most
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v the least validated token had %d validations, want %d", within, least, n)
		}
	}
}

// rate returns the mean over tokens of their validations per interval
// since from: (calls − 1) intervals over the time from the first call to
// the last, which does not depend on where the window cuts the rounds.
func (l *validateLog) rate(tokens []string, from time.Time, interval time.Duration) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var sum float64
	for _, t := range tokens {
		var in []time.Time
		for _, at := range l.calls[t] {
			if !at.Before(from) {
				in = append(in, at)
			}
		}
		if len(in) < 2 {
			continue
		}
		sum += float64(len(in)-1) * float64(interval) / float64(in[len(in)-1].Sub(in[0]))
	}
	return sum / float64(len(tokens))
}

func (l *validateLog) replicas() map[int]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.byReplica)
}

// TestBrokerFleetValidatesOncePerInterval runs three `twitchauth serve`
// processes (this test binary re-executed into serve.Run) on one PostgreSQL
// database with a 6 s validation interval and counts, at the sandbox, the
// /validate calls of each of 96 tokens: over two rounds each token is
// validated exactly once per round by the fleet (not three times), the
// replicas sharing the work. Then a replica is killed (SIGKILL) while it
// holds claims in the third round: every token is still validated within
// the interval plus the claim lease of its previous validation.
func TestBrokerFleetValidatesOncePerInterval(t *testing.T) {
	if os.Getenv(fleetChildEnv) != "" {
		t.Skip("running as a replica")
	}
	replicas := 3
	if v := os.Getenv(fleetReplicasEnv); v != "" {
		replicas, _ = strconv.Atoi(v)
	}
	// Round 1 validates never-validated grants and spreads their next
	// validation over the second half of the interval (a cold start's burst
	// flattens): the interval is long beside a round (under 1 s here) so
	// that rounds do not overlap even on a loaded machine.
	const (
		users    = 96 // three claim batches of 32 (8 × the validation concurrency 4)
		interval = 6 * time.Second
		lease    = 3 * time.Second
	)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	// 30 ms per /validate: a batch of 32 takes about 0.25 s, so that the
	// kill below finds a replica holding claims.
	f := startFleet(ctx, t, replicas, users, interval, lease, 30*time.Millisecond, os.Getenv(fleetNoClaimsEnv) == "1")
	log, tokens, procs, dbURL := f.log, f.tokens, f.procs, f.dbURL

	// Two rounds: each token exactly once per round, by the fleet.
	var perRound []map[int]int
	prev := map[int]int{}
	for round := 1; round <= 2; round++ {
		least, most := log.wait(t, tokens, round, interval+lease+20*time.Second)
		if most != round {
			t.Fatalf("round %d: a token was validated %d times (the least %d), want exactly %d: %d replicas did not share the round (validations per replica %v)",
				round, most, least, round, replicas, log.replicas())
		}
		now := log.replicas()
		d := map[int]int{}
		for r, n := range now {
			d[r] = n - prev[r]
		}
		perRound, prev = append(perRound, d), now
	}
	t.Logf("%d replicas, %d tokens: %.2f validate calls per token per round over 2 rounds; per replica, round 1 %v, round 2 %v",
		replicas, users, float64(total(prev))/float64(2*users), perRound[0], perRound[1])
	if replicas < 2 {
		return
	}
	shared := 0
	for _, n := range perRound[1] {
		if n > 0 {
			shared++
		}
	}
	if shared < 2 {
		t.Errorf("round 2 was validated by %d replica(s) of %d (%v): the work was not shared", shared, replicas, perRound[1])
	}

	// Round 3: once round 2 is recorded (no claim left), kill the first
	// replica seen holding claims (its process ID is part of its claims'
	// owner, host/pid/random), with the keys it holds.
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	heldKeys := func(ownerLike string) []string {
		rows, err := conn.Query(ctx, `SELECT key FROM validation_schedule WHERE claimed_by LIKE $1 AND claim_until > now()`, ownerLike)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return keys
	}
	for deadline := time.Now().Add(10 * time.Second); len(heldKeys("%")) > 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("round 2's claims were never released")
		}
	}
	victim, held := -1, []string(nil)
	for deadline := time.Now().Add(interval + 10*time.Second); victim < 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no replica was seen holding a claim in round 3")
		}
		for i, p := range procs {
			if held = heldKeys(fmt.Sprintf("%%/%d/%%", p.Process.Pid)); len(held) > 0 {
				victim = i
				break
			}
		}
	}
	if err := procs[victim].Process.Kill(); err != nil { // SIGKILL, claims held
		t.Fatal(err)
	}
	killed := time.Now()
	log.wait(t, tokens, 3, interval+lease+20*time.Second)
	log.mu.Lock()
	defer log.mu.Unlock()
	var worst, worstHeld time.Duration
	for _, tok := range tokens {
		calls := log.calls[tok]
		gap := calls[2].Sub(calls[1])
		worst = max(worst, gap)
		// The bound, with a margin for a loaded machine's scheduling.
		if gap > interval+lease+time.Second {
			t.Errorf("a token waited %v between its 2nd and 3rd validation, want at most the interval plus the lease (%v)", gap, interval+lease)
		}
	}
	// Each grant the dead replica held was validated by another replica
	// once the claim lapsed (and perhaps by the dead one before it died,
	// unrecorded), within the interval plus the lease of its previous one.
	twice := 0
	for _, key := range held {
		calls := log.calls[f.byKey[key]]
		last := calls[len(calls)-1]
		if last.Before(killed.Add(lease / 2)) {
			t.Errorf("grant %s, claimed by the dead replica, was not validated again after its claim lapsed (calls %v, killed %v)", key, calls, killed)
			continue
		}
		if len(calls) > 3 {
			twice++
		}
		worstHeld = max(worstHeld, last.Sub(calls[1]))
	}
	t.Logf("replica %d killed holding %d claims: another replica validated them once the claims lapsed, at most %v after their previous validation (interval %v + lease %v; %d had been validated by the dead replica too, unrecorded); every other token within %v",
		victim, len(held), worstHeld.Round(time.Millisecond), interval, lease, twice, worst.Round(time.Millisecond))
}

// fleet is a running fleet of serve replicas on one PostgreSQL database.
type fleet struct {
	log    *validateLog
	tokens []string          // the grants' access tokens
	byKey  map[string]string // store key → access token
	procs  []*exec.Cmd
	dbURL  string
}

// startFleet stores users grants, never validated, in a new database and
// starts replicas `serve` processes on it, validating every interval
// through a sandbox that answers /validate after latency and counts the
// calls. noClaims runs them as before claims.
func startFleet(ctx context.Context, tb testing.TB, replicas, users int, interval, lease, latency time.Duration, noClaims bool) *fleet {
	tb.Helper()
	dbURL := pgtest.Start(tb)
	sb := twitchtest.NewServer(tb)
	if latency > 0 {
		sb.SetFault("validate", twitchtest.Latency(latency))
	}
	log := &validateLog{calls: map[string][]time.Time{}, byReplica: map[int]int{}}
	front := httptest.NewServer(log.handler(sb.Handler()))
	tb.Cleanup(front.Close)
	cl := sb.DefaultClient()
	key, _ := store.GenerateKey()

	// The grants, never validated (due at once), stored before the brokers
	// start.
	st, err := postgres.Open(ctx, dbURL, postgres.Config{Key: store.KeyConfig{Key: key}})
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	var tokens []string
	byKey := map[string]string{}
	for i := range users {
		u, err := sb.AddUser(twitchtest.User{Login: fmt.Sprintf("fleetuser%d", i)})
		if err != nil {
			tb.Fatal(err)
		}
		access, refresh, err := sb.MintUserToken(cl.ID, u.Login, []string{"chat:read"})
		if err != nil {
			tb.Fatal(err)
		}
		rec := store.Record{
			Key: store.GrantKey(cl.ID, store.UserKey(u.ID)), ClientID: cl.ID, UserID: u.ID, Login: u.Login,
			AccessToken: access, RefreshToken: refresh, TokenType: "bearer", Scopes: []string{"chat:read"},
			Expiry: time.Now().Add(4 * time.Hour), Status: store.StatusActive,
		}
		if _, err := st.Save(ctx, rec, 0); err != nil {
			tb.Fatal(err)
		}
		tokens = append(tokens, access)
		byKey[rec.Key] = access
	}

	var procs []*exec.Cmd
	for i := range replicas {
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestBrokerFleetChild$")
		cmd.Env = append(os.Environ(), fleetChildEnv+"=1",
			"TWITCH_CLIENT_ID="+cl.ID, "TWITCH_CLIENT_SECRET="+cl.Secret,
			"TWITCH_ID_URL="+front.URL+fmt.Sprintf("/r%d/oauth2", i), "TWITCH_API_URL="+sb.APIURL(),
			"TWITCHAUTH_STORE="+dbURL, store.EnvEncryptionKey+"="+store.EncodeKey(key),
			"TWITCHAUTH_KEYS_FILE="+filepath.Join(tb.TempDir(), "keys.json"),
			"TWITCHAUTH_LISTEN=127.0.0.1:0", "TWITCHAUTH_LOG_LEVEL=error",
			"TWITCHAUTH_VALIDATION_INTERVAL="+interval.String(), "TWITCHAUTH_VALIDATION_LEASE="+lease.String())
		if noClaims {
			cmd.Env = append(cmd.Env, fleetNoClaimsEnv+"=1")
		}
		cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
		if err := cmd.Start(); err != nil {
			tb.Fatal(err)
		}
		procs = append(procs, cmd)
		tb.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	}
	return &fleet{log: log, tokens: tokens, byKey: byKey, procs: procs, dbURL: dbURL}
}

// BenchmarkFleetValidation counts /validate calls per token per interval
// of 1 and 3 `serve` replicas on one PostgreSQL (96 grants, a 2 s interval,
// the sandbox answering at once so that a round is short beside the
// interval, as an hourly one is), with claims and, as the anchor, as before
// them (every replica validates every token). Each iteration is one interval
// of the running fleet, after its start-up round; the metric is
// calls/token/interval (the minimum is 1: Twitch wants one per hour).
//
// go test -run '^$' -bench FleetValidation -benchtime 5x ./internal/cli/serve/
func BenchmarkFleetValidation(b *testing.B) {
	const users, interval, lease = 96, 2 * time.Second, 2 * time.Second
	for _, c := range []struct {
		name     string
		replicas int
		noClaims bool
	}{{"claims-1", 1, false}, {"claims-3", 3, false}, {"anchor-no-claims-1", 1, true}, {"anchor-no-claims-3", 3, true}} {
		b.Run(c.name, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			f := startFleet(ctx, b, c.replicas, users, interval, lease, 0, c.noClaims)
			f.log.wait(b, f.tokens, 1, 30*time.Second) // the start-up round
			time.Sleep(interval / 2)                   // its last batch ends
			from := time.Now()
			b.ResetTimer()
			for range b.N {
				time.Sleep(interval)
			}
			b.StopTimer()
			b.ReportMetric(f.log.rate(f.tokens, from, interval), "calls/token/interval")
		})
	}
}

func total(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// TestBrokerFleetChild is one replica of the test above.
func TestBrokerFleetChild(t *testing.T) {
	if os.Getenv(fleetChildEnv) == "" {
		t.Skip("only run as a replica")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := &Options{Getenv: os.Getenv, Stderr: os.Stderr, minInterval: time.Second}
	if os.Getenv(fleetNoClaimsEnv) == "1" {
		o.noValidationClaims = true
	}
	if err := Run(ctx, o); err != nil {
		t.Fatal(err)
	}
}
