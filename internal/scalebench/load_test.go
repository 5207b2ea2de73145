package scalebench

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/provider"
	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/sqlite"
)

// BenchmarkProviderLoad opens the store of N grants and loads it into a
// Provider, in this process, reporting the live heap the loaded Provider
// holds per grant. With -cpuprofile or -memprofile it shows where start-up
// time and memory go. N is the first of TWITCHAUTH_SCALE_N.
func BenchmarkProviderLoad(b *testing.B) {
	n := sizes(b)[0]
	f := seed(b, n)
	key, err := store.ParseEncryptionKey(f.encKey)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	cfg := &twitchauth.Config{ClientID: f.client.ID, ClientSecret: f.client.Secret,
		Endpoints: twitchauth.Endpoints{IDURL: f.sb.IDURL(), APIURL: f.sb.APIURL()}}
	var keep *provider.Provider
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var live uint64
	b.ResetTimer()
	for range b.N {
		st, err := sqlite.Open(ctx, f.dbPath, sqlite.Config{Key: store.KeyConfig{Key: key}, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		p, err := provider.New(ctx, provider.Config{OAuth: cfg, Store: st})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		keep = p
		runtime.GC()
		runtime.ReadMemStats(&ms)
		live = ms.HeapAlloc - base
		if path := os.Getenv("TWITCHAUTH_SCALE_HEAPPROFILE"); path != "" {
			writeHeapProfile(b, path) // what the loaded Provider holds
		}
		if len(keep.Users()) != n {
			b.Fatalf("loaded %d of %d grants", len(keep.Users()), n)
		}
		keep = nil
		st.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(live)/float64(n), "live-B/grant")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "load-ms")
}

// BenchmarkValidationRound runs one ValidateAll of N grants in this
// process, against the in-process sandbox: with -cpuprofile it shows where
// a round's time goes (the sandbox's share included, under twitchtest).
func BenchmarkValidationRound(b *testing.B) {
	n := sizes(b)[0]
	f := seed(b, n)
	key, _ := store.ParseEncryptionKey(f.encKey)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, f.dbPath, sqlite.Config{Key: store.KeyConfig{Key: key}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	cfg := &twitchauth.Config{ClientID: f.client.ID, ClientSecret: f.client.Secret,
		Endpoints: twitchauth.Endpoints{IDURL: f.sb.IDURL(), APIURL: f.sb.APIURL()}}
	p, err := provider.New(ctx, provider.Config{OAuth: cfg, Store: st})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		for _, r := range p.ValidateAll(ctx) {
			if r.Err != nil || !r.Valid {
				b.Fatalf("%+v", r)
			}
		}
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N*n), "us/grant")
}

func writeHeapProfile(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}
