package provider_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth/provider"
	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// sharedStore is a store.Memory shared by several Providers standing for
// replicas, with a per-key lease (store.Leaser) and change notifications
// (store.Watcher), as a PostgreSQL store gives across processes.
type sharedStore struct {
	*store.Memory
	mu       sync.Mutex
	leases   map[string]chan struct{}
	watchers []func(string)
}

func newSharedStore() *sharedStore {
	return &sharedStore{Memory: store.NewMemory(), leases: map[string]chan struct{}{}}
}

func (s *sharedStore) Lease(ctx context.Context, key string, ttl time.Duration) (func(), error) {
	for {
		s.mu.Lock()
		ch, held := s.leases[key]
		if !held {
			ch = make(chan struct{})
			s.leases[key] = ch
			s.mu.Unlock()
			var once sync.Once
			return func() {
				once.Do(func() {
					s.mu.Lock()
					delete(s.leases, key)
					s.mu.Unlock()
					close(ch)
				})
			}, nil
		}
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (s *sharedStore) notify(key string) {
	s.mu.Lock()
	ws := append([]func(string){}, s.watchers...)
	s.mu.Unlock()
	for _, w := range ws {
		w(key)
	}
}

func (s *sharedStore) Save(ctx context.Context, rec store.Record, v int64) (store.Record, error) {
	r, err := s.Memory.Save(ctx, rec, v)
	if err == nil {
		s.notify(rec.Key)
	}
	return r, err
}

func (s *sharedStore) Delete(ctx context.Context, key string) error {
	err := s.Memory.Delete(ctx, key)
	if err == nil {
		s.notify(key)
	}
	return err
}

func (s *sharedStore) Watch(ctx context.Context, changed func(string)) error {
	s.mu.Lock()
	s.watchers = append(s.watchers, changed)
	s.mu.Unlock()
	<-ctx.Done()
	return ctx.Err()
}

// TestProviderReplicasOneRefresh: three Providers share a leasing store and a
// public client's single-use refresh tokens; thousands of concurrent
// requests across an expiry cause exactly one upstream refresh, and no
// grant is revoked by reuse.
func TestProviderReplicasOneRefresh(t *testing.T) {
	s := newSandbox(t)
	cfg := public(s)
	shared := newSharedStore()
	clock := newProvClock()
	var replicas []*provider.Provider
	for range 3 {
		p := newProvider(t, cfg, withStore(shared), withClock(clock.Now))
		wctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		go p.Watch(wctx)
		replicas = append(replicas, p)
	}
	var users []string
	for _, u := range s.Users()[:3] {
		users = append(users, provUser(t, s, replicas[0], cfg.ClientID, u.Login, nil).UserID)
	}
	clock.Advance(5 * time.Hour)
	s.ResetCounters()
	// A slow refresh answer makes the replicas' renewals overlap: without
	// the lease each would refresh (and spend the single-use token).
	s.SetFault("token", twitchtest.Latency(150*time.Millisecond))
	var wg sync.WaitGroup
	errs := make(chan error, 3000)
	for i := range 3000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Every replica asks for every user (i%3 picks the replica,
			// i/3 the user).
			if _, err := replicas[i%3].Token(context.Background(), provider.User(users[(i/3)%len(users)])); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := s.Requests("token:refresh_token"); got != len(users) {
		t.Fatalf("upstream refreshes = %d, want exactly one per user (%d)", got, len(users))
	}
	// Revocation on one replica reaches the others through the watch.
	if err := replicas[1].RemoveUser(context.Background(), users[0], true); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := replicas[2].Token(context.Background(), provider.User(users[0])); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("replica 2 still serves a token removed by replica 1")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lateListenStore is a store.Memory whose Watch lets a change be committed
// after the Provider loaded but before the notification channel is live (on
// PostgreSQL: between New's load and the LISTEN), then reports "" as the
// PostgreSQL store does once it listens.
type lateListenStore struct {
	*store.Memory
	beforeLive func()
}

func (s *lateListenStore) Watch(ctx context.Context, changed func(string)) error {
	s.beforeLive()
	changed("")
	<-ctx.Done()
	return ctx.Err()
}

// TestWatchCatchesUpWhenLive: a grant removed by another replica after this
// one loaded, but before its watch was listening, is not served once the
// watch is live: the Provider reloads when the store says it listens.
func TestWatchCatchesUpWhenLive(t *testing.T) {
	s := newSandbox(t)
	cfg := public(s)
	mem := store.NewMemory()
	other := newProvider(t, cfg, withStore(mem))
	user := provUser(t, s, other, cfg.ClientID, s.Users()[0].Login, nil).UserID
	late := &lateListenStore{Memory: mem}
	p := newProvider(t, cfg, withStore(late))
	if _, err := p.Token(context.Background(), provider.User(user)); err != nil {
		t.Fatal(err)
	}
	late.beforeLive = func() {
		if err := other.RemoveUser(context.Background(), user, false); err != nil {
			t.Error(err)
		}
	}
	wctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Watch(wctx)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := p.Token(context.Background(), provider.User(user))
		if errors.Is(err, provider.ErrUnknownSubject) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a grant removed before the watch was live is still served 5 s after it listens (err %v)", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
