package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/storetest"
)

// walkKeys is more rows than Walk's batches hold together (walk.go), so
// that the reading goroutine is still reading when the caller stops.
const walkKeys = 2500

func seedWalk(t *testing.T, s interface {
	SaveBatch(context.Context, []store.SaveOp) []store.SaveResult
}) []string {
	t.Helper()
	var ops []store.SaveOp
	var keys []string
	for i := range walkKeys {
		r := walkRecord(i)
		ops = append(ops, store.SaveOp{Record: r})
		keys = append(keys, r.Key)
	}
	for _, r := range s.SaveBatch(t.Context(), ops) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	return keys
}

// walkRecord is the i-th record of seedWalk: its text columns differ from
// row to row, so that a value kept from the wrong row shows.
func walkRecord(i int) store.Record {
	r := storetest.Sample(fmt.Sprintf("walkclient/user:%06d", i))
	r.Scopes = append(r.Scopes, fmt.Sprintf("scope:%d", i))
	r.TokenType = fmt.Sprintf("bearer%d", i%7)
	r.AccessToken += fmt.Sprint(i)
	r.Intents = []string{fmt.Sprintf("intent%d", i)}
	return r
}

// goroutinesSettle waits (bounded) for the goroutine count to fall to n.
func goroutinesSettle(n int) int {
	got := runtime.NumGoroutine()
	for i := 0; i < 200 && got > n; i++ {
		time.Sleep(5 * time.Millisecond)
		got = runtime.NumGoroutine()
	}
	return got
}

// Walk hands over every row in key order, each record whole, across the
// batches its reading goroutine fills (two stages: walk.go).
func TestWalkAcrossBatches(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "tokens.db"))
	seedWalk(t, s)
	i := 0
	err := s.Walk(t.Context(), func(r store.Record) error {
		want := walkRecord(i).Normalize()
		want.Version, want.UpdatedAt = r.Version, r.UpdatedAt
		if !reflect.DeepEqual(r, want) {
			return fmt.Errorf("record %d is\n%+v, want\n%+v", i, r, want)
		}
		i++
		return nil
	})
	if err != nil || i != walkKeys {
		t.Fatalf("Walk = %v after %d records, want nil after %d", err, i, walkKeys)
	}
}

// A Walk that ends early — fn's error, or its context cancelled — returns
// that error and leaves no goroutine behind and no query open: the store
// still writes and closes.
func TestWalkStoppedEarlyCleansUp(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "tokens.db"))
	keys := seedWalk(t, s)
	base := runtime.NumGoroutine()
	stop := errors.New("enough")
	n := 0
	err := s.Walk(t.Context(), func(store.Record) error {
		if n++; n == 300 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 300 {
		t.Fatalf("Walk = %v after %d records, want fn's error after 300", err, n)
	}
	if got := goroutinesSettle(base); got > base {
		t.Fatalf("%d goroutines after a stopped Walk, %d before: its reader still runs", got, base)
	}

	ctx, cancel := context.WithCancel(t.Context())
	n = 0
	err = s.Walk(ctx, func(store.Record) error {
		if n++; n == 10 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Walk with its context cancelled = %v after %d records, want context.Canceled", err, n)
	}
	if got := goroutinesSettle(base); got > base {
		t.Fatalf("%d goroutines after a cancelled Walk, %d before", got, base)
	}
	mustSave(t, s, storetest.Sample(keys[0]), mustLoad(t, s, keys[0]).Version)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
