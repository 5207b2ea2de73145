package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/sqlite"
)

// Open a SQLite store, create a user's record, then update it with
// compare-and-swap the way the Provider saves a rotated refresh token.
func Example() {
	dir, err := os.MkdirTemp("", "twitchauth-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	// With no key option the key comes from TWITCHAUTH_ENCRYPTION_KEY or, if
	// that is unset, from the key file tokens.db.key, created on first use.
	s, err := sqlite.Open(ctx, filepath.Join(dir, "tokens.db"), sqlite.Config{Key: store.KeyConfig{File: filepath.Join(dir, "tokens.key")}})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	// Keys hold the application's client ID and the subject.
	key := store.GrantKey("hof5gwx0su6owfnys0yan9c87zr6t", store.UserKey("141981764"))

	// Create: expectVersion 0 means "must not exist yet".
	rec, err := s.Save(ctx, store.Record{
		Key:          key,
		ClientID:     "hof5gwx0su6owfnys0yan9c87zr6t",
		UserID:       "141981764",
		Login:        "twitchdev",
		AccessToken:  "access-1",
		RefreshToken: "refresh-1",
		Scopes:       []string{"chat:read"},
		Intents:      []string{"chat"},
	}, 0)
	if err != nil {
		log.Fatal(err)
	}

	// Update: name the version that was read. A concurrent writer that got
	// there first makes this fail with store.ErrConflict instead of losing
	// its rotated token.
	loaded, err := s.Load(ctx, key)
	if err != nil {
		log.Fatal(err)
	}
	loaded.AccessToken, loaded.RefreshToken = "access-2", "refresh-2"
	if _, err := s.Save(ctx, loaded, loaded.Version); err != nil {
		log.Fatal(err)
	}

	// Saving again from the stale first copy is refused.
	_, err = s.Save(ctx, rec, rec.Version)
	var conflict *store.ConflictError
	if errors.As(err, &conflict) {
		fmt.Println("conflict: reload and retry; newer version exists:", conflict.Current > rec.Version)
	}

	now, err := s.Load(ctx, key)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(now.Login, now.RefreshToken, now.Scopes)
	// Output:
	// conflict: reload and retry; newer version exists: true
	// twitchdev refresh-2 [chat:read]
}
