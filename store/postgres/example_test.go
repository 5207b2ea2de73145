package postgres_test

import (
	"context"
	"github.com/twitchauth/twitchauth/store"
	"log"
	"os"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/provider"
	"github.com/twitchauth/twitchauth/store/postgres"
)

// One replica of a service sharing its grants with the others through
// PostgreSQL: the Provider takes the store's lease before refreshing (one
// refresh per grant across replicas) and Watch keeps its cache in step with
// the other replicas. Every replica runs the same code with the same
// TWITCHAUTH_ENCRYPTION_KEY. (Not run by go test: it needs a server.)
func Example() {
	ctx := context.Background()
	// The key comes from TWITCHAUTH_ENCRYPTION_KEY (required).
	s, err := postgres.Open(ctx, os.Getenv("DATABASE_URL"), postgres.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	cfg := &twitchauth.Config{ClientID: os.Getenv("TWITCH_CLIENT_ID"), ClientSecret: os.Getenv("TWITCH_CLIENT_SECRET")}
	p, err := provider.New(ctx, provider.Config{OAuth: cfg, Store: s})
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		for {
			// Watch returns when its connection fails (after reloading
			// everything): watch again.
			if err := p.Watch(ctx); err != nil {
				log.Printf("watch: %v", err)
			}
			time.Sleep(time.Second)
		}
	}()
	tok, err := p.Token(ctx, provider.User("141981764"))
	if err != nil {
		log.Fatal(err)
	}
	_ = tok // call Helix with it
}

// Lease gives one process at a time a key for a bounded time, across every
// process sharing the database.
func ExampleStore_Lease() {
	ctx := context.Background()
	s, err := postgres.Open(ctx, os.Getenv("DATABASE_URL"), postgres.Config{Key: store.KeyConfig{FromEnv: true}})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	release, err := s.Lease(ctx, "user:141981764", 30*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	defer release()
	// ... at most one process runs this for the key, for at most 30 s ...
}
