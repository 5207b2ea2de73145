package sqlite_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/storetest"
)

const (
	crashChildEnv = "TWITCHAUTH_SQLITE_BATCH_CRASH"
	crashBatch    = 300
)

// TestBatchCrashAtomicAndDurable kills (SIGKILL) a process writing batches
// of 300 records at random moments, three times: every batch SaveBatch
// returned is stored in full, and no batch is stored in part.
func TestBatchCrashAtomicAndDurable(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("running as the child")
	}
	path := filepath.Join(t.TempDir(), "tokens.db")
	key, _ := store.GenerateKey()
	returned := 0 // batches the children reported as returned
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for run := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestBatchCrashChild$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path, "TWITCHAUTH_TEST_KEY="+hex.EncodeToString(key),
			fmt.Sprintf("TWITCHAUTH_TEST_RUN=%d", run))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		want := 2 + rng.IntN(3)
		seen := 0
		for seen < want && sc.Scan() {
			if strings.HasPrefix(sc.Text(), "RETURNED ") {
				seen++
			}
		}
		if seen < want {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("run %d: the child reported %d batches, then stopped", run, seen)
		}
		// Somewhere inside the next batch (a batch takes milliseconds).
		time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		_ = cmd.Process.Kill()
		for sc.Scan() { // lines already written before the kill
			if strings.HasPrefix(sc.Text(), "RETURNED ") {
				seen++
			}
		}
		_ = cmd.Wait()
		returned += seen

		s := open(t, path, withKey(key))
		recs, err := s.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		perBatch := map[string]int{}
		for _, r := range recs {
			b, _, _ := strings.Cut(strings.TrimPrefix(r.Key, store.GrantKey(sampleClient, "user:")), "-")
			perBatch[b]++
		}
		for b, n := range perBatch {
			if n != crashBatch {
				t.Errorf("run %d: batch %s is stored in part: %d of %d records", run, b, n, crashBatch)
			}
		}
		if len(recs) < returned*crashBatch {
			t.Errorf("run %d: %d records stored, but %d batches of %d had returned", run, len(recs), returned, crashBatch)
		}
	}
}

// TestBatchCrashChild writes batches until it is killed (see above).
func TestBatchCrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("only run by TestBatchCrashAtomicAndDurable")
	}
	key, _ := hex.DecodeString(os.Getenv("TWITCHAUTH_TEST_KEY"))
	s := open(t, path, withKey(key))
	run := os.Getenv("TWITCHAUTH_TEST_RUN")
	for b := 0; b < 1000; b++ {
		ops := make([]store.SaveOp, crashBatch)
		for i := range ops {
			ops[i].Record = storetest.Sample(store.GrantKey(sampleClient, fmt.Sprintf("user:r%sb%04d-%03d", run, b, i)))
		}
		for i, r := range s.SaveBatch(context.Background(), ops) {
			if r.Err != nil {
				t.Fatalf("op %d: %v", i, r.Err)
			}
		}
		fmt.Printf("RETURNED %d\n", b)
	}
}
