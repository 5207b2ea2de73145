package scalebench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth/broker"
	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/sqlite"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// Environment variables of the benchmark (see the package doc).
const (
	envSizes = "TWITCHAUTH_SCALE_N"
	envBins  = "TWITCHAUTH_SCALE_BINS"
	envLogs  = "TWITCHAUTH_SCALE_LOGS" // a directory: each serve's whole stderr goes to <bin>-<N>.log there
)

// sizes returns the numbers of grants to measure.
func sizes(tb testing.TB) []int {
	v := os.Getenv(envSizes)
	if v == "" {
		return []int{1_000, 10_000, 100_000}
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			tb.Fatalf("%s=%q: want a comma-separated list of positive numbers", envSizes, v)
		}
		out = append(out, n)
	}
	return out
}

// binary is a serve binary to measure and the variables its processes get
// beside the benchmark's (TWITCHAUTH_SCALE_BINS=name=path@NAME=VALUE@...).
type binary struct {
	name, path string
	env        []string
}

// binaries returns the serve binaries to compare, building this checkout's
// ./cmd/twitchauth where no path is given.
func binaries(tb testing.TB) []binary {
	spec := os.Getenv(envBins)
	if spec == "" {
		spec = "this="
	}
	var out []binary
	var built string
	for _, f := range strings.Split(spec, ",") {
		f, envs, _ := strings.Cut(f, "@")
		name, path, _ := strings.Cut(f, "=")
		var env []string
		if envs != "" {
			env = strings.Split(envs, "@")
		}
		if path == "" {
			if built == "" {
				built = filepath.Join(tb.TempDir(), "twitchauth")
				cmd := exec.Command("go", "build", "-o", built, "../../cmd/twitchauth")
				cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
				if err := cmd.Run(); err != nil {
					tb.Fatalf("building twitchauth: %v", err)
				}
			}
			path = built
		}
		out = append(out, binary{name, path, env})
	}
	return out
}

// fixture is a sandbox that knows N users' tokens and a SQLite store holding
// their grants.
type fixture struct {
	sb     *twitchtest.Server
	client twitchtest.Client
	dbPath string
	encKey string
	users  []string // Twitch user IDs
}

// seed builds the fixture: N sandbox users with minted tokens, stored in
// batches through the store's own SaveBatch (real sealing, real schema).
func seed(tb testing.TB, n int) *fixture {
	tb.Helper()
	ctx := context.Background()
	sb := twitchtest.NewServer(tb, twitchtest.WithUserTokenLifetime(24*time.Hour),
		twitchtest.WithLogger(slog.New(slog.DiscardHandler)))
	cl := sb.DefaultClient()
	key, err := store.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	f := &fixture{sb: sb, client: cl, dbPath: filepath.Join(tb.TempDir(), "broker.db"), encKey: store.EncodeKey(key)}
	st, err := sqlite.Open(ctx, f.dbPath, sqlite.Config{Key: store.KeyConfig{Key: key}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	scopes := []string{"chat:read", "chat:edit"}
	expiry := time.Now().Add(23 * time.Hour)
	var ops []store.SaveOp
	flush := func() {
		for i, r := range st.SaveBatch(ctx, ops) {
			if r.Err != nil {
				tb.Fatalf("seeding %q: %v", ops[i].Record.Key, r.Err)
			}
		}
		ops = ops[:0]
	}
	for i := range n {
		u, err := sb.AddUser(twitchtest.User{ID: strconv.Itoa(700_000_000 + i), Login: fmt.Sprintf("scale%07d", i)})
		if err != nil {
			tb.Fatal(err)
		}
		access, refresh, err := sb.MintUserToken(cl.ID, u.Login, scopes)
		if err != nil {
			tb.Fatal(err)
		}
		f.users = append(f.users, u.ID)
		ops = append(ops, store.SaveOp{Record: store.Record{
			Key: store.GrantKey(cl.ID, store.UserKey(u.ID)), ClientID: cl.ID, UserID: u.ID, Login: u.Login,
			AccessToken: access, RefreshToken: refresh, TokenType: "bearer", Scopes: scopes, Expiry: expiry,
			Status: store.StatusActive,
		}})
		if len(ops) == 1000 {
			flush()
		}
	}
	flush()
	return f
}

// result is one row of the table.
type result struct {
	bin        string
	n          int
	startup    time.Duration // exec to the ready line
	rssStart   float64       // MB, VmRSS at the ready line
	rss        float64       // MB, VmRSS after the validation round and the API phase
	hwm        float64       // MB, VmHWM (peak) at the end
	round      time.Duration // the first validation round
	validated  int           // validate calls the sandbox answered during the round
	failed     int           // "validation failed" log lines
	p50, p99   time.Duration // token API, sequential requests on one connection
	apiSamples int
	heap       float64 // MB, go_memstats_heap_inuse_bytes at the end
}

var (
	resultsMu sync.Mutex
	results   []result
)

// BenchmarkScale measures serve at each size, for each binary (see the
// package doc). Use -benchtime 1x: one start-up and one round per size is
// the measurement; b.N is ignored.
func BenchmarkScale(b *testing.B) {
	bins := binaries(b)
	for _, n := range sizes(b) {
		// Seeded in this benchmark, not a sub-benchmark: every binary
		// measures the same store (a sub-benchmark's TempDir goes when it ends).
		f := seed(b, n)
		for _, bin := range bins {
			b.Run(fmt.Sprintf("bin=%s/N=%d", bin.name, n), func(b *testing.B) {
				r := measure(b, bin, f)
				resultsMu.Lock()
				results = append(results, r)
				resultsMu.Unlock()
				b.ReportMetric(float64(r.startup.Microseconds())/1000, "startup-ms")
				b.ReportMetric(r.rss, "rss-MB")
				b.ReportMetric(r.hwm, "peak-rss-MB")
				b.ReportMetric(r.heap, "go-heap-inuse-MB")
				b.ReportMetric(r.round.Seconds(), "round-s")
				b.ReportMetric(float64(r.round.Microseconds())/float64(n), "round-us/grant")
				b.ReportMetric(float64(r.p50.Microseconds())/1000, "api-p50-ms")
				b.ReportMetric(float64(r.p99.Microseconds())/1000, "api-p99-ms")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
	printTable(os.Stdout)
}

// measure starts bin against f, waits for the first validation round, reads
// the child's memory, times the token API and stops the child.
func measure(b *testing.B, bin binary, f *fixture) result {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	apiKey := broker.GenerateKey()
	dir := b.TempDir()
	// Each binary gets its own copy of the seeded store: a store also
	// records when each grant was validated (store.ValidationClaimer), and a
	// second binary on the first one's store would find nothing due.
	dbPath := filepath.Join(dir, "broker.db")
	if err := copyFile(f.dbPath, dbPath); err != nil {
		b.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin.path, "serve", "--json")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TWITCH") && !strings.HasPrefix(kv, "XDG_") && !strings.HasPrefix(kv, "HOME=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "HOME="+dir,
		"TWITCH_CLIENT_ID="+f.client.ID, "TWITCH_CLIENT_SECRET="+f.client.Secret,
		"TWITCH_ID_URL="+f.sb.IDURL(), "TWITCH_API_URL="+f.sb.APIURL(),
		"TWITCHAUTH_STORE="+dbPath, store.EnvEncryptionKey+"="+f.encKey,
		"TWITCHAUTH_API_KEYS=scale:"+broker.HashKey(apiKey)+":token:user",
		"TWITCHAUTH_KEYS_FILE="+filepath.Join(dir, "keys.json"),
		"TWITCHAUTH_LISTEN=127.0.0.1:0", "TWITCHAUTH_LOG_FORMAT=json", "TWITCHAUTH_LOG_LEVEL=info")
	cmd.Env = append(cmd.Env, bin.env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	var logFile io.Writer = io.Discard
	if d := os.Getenv(envLogs); d != "" {
		lf, err := os.Create(filepath.Join(d, fmt.Sprintf("%s-%d.log", bin.name, len(f.users))))
		if err != nil {
			b.Fatal(err)
		}
		defer lf.Close()
		logFile = lf
	}
	roundDone := make(chan time.Time, 1)
	var failed int
	var tail []string
	var logMu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			logMu.Lock()
			fmt.Fprintln(logFile, line)
			switch {
			case strings.Contains(line, `"msg":"validation round done"`):
				select {
				case roundDone <- time.Now():
				default:
				}
			case strings.Contains(line, `"msg":"validation failed"`):
				failed++
			}
			if tail = append(tail, line); len(tail) > 20 {
				tail = tail[1:]
			}
			logMu.Unlock()
		}
	}()
	before := f.sb.Requests("validate")
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	var ready struct {
		URL string `json:"url"`
	}
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() || json.Unmarshal(sc.Bytes(), &ready) != nil || ready.URL == "" {
		logMu.Lock()
		defer logMu.Unlock()
		b.Fatalf("%s serve printed no ready line; its last log lines:\n%s", bin.name, strings.Join(tail, "\n"))
	}
	readyAt := time.Now()
	go io.Copy(io.Discard, stdout)
	r := result{bin: bin.name, n: len(f.users), startup: readyAt.Sub(start)}
	r.rssStart, _ = procStatusMB(cmd.Process.Pid)

	select {
	case at := <-roundDone:
		r.round = at.Sub(readyAt)
	case <-ctx.Done():
		b.Fatalf("no validation round done within the timeout")
	}
	r.validated = f.sb.Requests("validate") - before
	logMu.Lock()
	r.failed = failed
	logMu.Unlock()
	if r.validated < len(f.users) {
		logMu.Lock()
		b.Errorf("the sandbox answered %d validate calls for %d grants; the last log lines:\n%s", r.validated, len(f.users), strings.Join(tail, "\n"))
		logMu.Unlock()
	}
	if r.failed > 0 {
		b.Errorf("%d validations failed", r.failed)
	}

	r.p50, r.p99, r.apiSamples = apiLatency(b, ready.URL, apiKey, f.users)
	r.rss, r.hwm = procStatusMB(cmd.Process.Pid)
	r.heap = goHeapMB(ready.URL) // after reading RSS: a scrape allocates
	return r
}

// apiLatency times sequential GET /v1/token/user/{id} requests for random
// users on one kept-alive connection, after a warm-up.
func apiLatency(b *testing.B, base, apiKey string, users []string) (p50, p99 time.Duration, n int) {
	const warm, samples = 200, 3000
	c := &http.Client{Timeout: 10 * time.Second}
	rng := rand.New(rand.NewPCG(1, 2))
	d := make([]time.Duration, 0, samples)
	for i := range warm + samples {
		req, _ := http.NewRequest(http.MethodGet, base+"/v1/token/user/"+users[rng.IntN(len(users))], nil)
		req.Header.Set("Authorization", "Bearer "+apiKey)
		t0 := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		el := time.Since(t0)
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("token API answered %s", resp.Status)
		}
		if i >= warm {
			d = append(d, el)
		}
	}
	slices.Sort(d)
	return d[len(d)/2], d[len(d)*99/100], len(d)
}

// goHeapMB reads the child's Go heap in use (MB) from its /metrics.
func goHeapMB(base string) float64 {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_memstats_heap_inuse_bytes "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f / 1e6
		}
	}
	return 0
}

// procStatusMB returns VmRSS and VmHWM of pid in MB (10^6 bytes).
func procStatusMB(pid int) (rss, hwm float64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[0], 64)
		switch name {
		case "VmRSS":
			rss = kb * 1024 / 1e6
		case "VmHWM":
			hwm = kb * 1024 / 1e6
		}
	}
	return rss, hwm
}

// printTable writes the results as the table of docs/scale-out.md.
func printTable(w io.Writer) {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	if len(results) == 0 {
		return
	}
	fmt.Fprintf(w, "\n| binary | N | start-up | RSS at ready | RSS after round + API | peak RSS | Go heap in use | validation round | per grant | token API p50 | token API p99 |\n")
	fmt.Fprintf(w, "|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		fmt.Fprintf(w, "| %s | %d | %d ms | %.0f MB | %.0f MB | %.0f MB | %.0f MB | %.2f s | %.3f ms | %.2f ms | %.2f ms |\n",
			r.bin, r.n, r.startup.Milliseconds(), r.rssStart, r.rss, r.hwm, r.heap, r.round.Seconds(),
			r.round.Seconds()*1000/float64(r.n), float64(r.p50.Microseconds())/1000, float64(r.p99.Microseconds())/1000)
	}
	results = nil
}

// copyFile copies the closed SQLite database src (no -wal file left) to dst.
func copyFile(src, dst string) error {
	if _, err := os.Stat(src + "-wal"); err == nil {
		return fmt.Errorf("%s-wal exists: the seeded store was not closed", src)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o600)
}
