package store_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/twitchauth/twitchauth/store"
)

// The compare-and-swap loop a Provider runs to change a record: load, modify,
// save with the loaded version, and start over on a conflict.
func ExampleStore_compareAndSwap() {
	ctx := context.Background()
	var s store.Store = store.NewMemory()
	key := store.GrantKey("hof5gwx0su6owfnys0yan9c87zr6t", store.AppKey())
	if _, err := s.Save(ctx, store.Record{Key: key, AccessToken: "old"}, 0); err != nil {
		panic(err)
	}

	update := func(change func(*store.Record)) (store.Record, error) {
		for {
			rec, err := s.Load(ctx, key)
			if err != nil {
				return store.Record{}, err
			}
			change(&rec)
			saved, err := s.Save(ctx, rec, rec.Version)
			if errors.Is(err, store.ErrConflict) {
				continue // someone else saved first: redo the change on their version
			}
			return saved, err
		}
	}
	rec, err := update(func(r *store.Record) { r.AccessToken = "new" })
	fmt.Println(rec.AccessToken, err)
	// Output: new <nil>
}

// Seal a token for a record field and open it again; a value moved to
// another record fails to open.
func ExampleCipher() {
	key, _ := store.GenerateKey() // or ParseEncryptionKey, CipherFromEnv, LoadOrCreateKeyFile
	c, err := store.NewCipher(key)
	if err != nil {
		panic(err)
	}
	sealed, _ := c.Seal("user:1", "refresh_token", []byte("secret"))
	plain, err := c.Open("user:1", "refresh_token", sealed)
	fmt.Println(string(plain), err)
	_, err = c.Open("user:2", "refresh_token", sealed)
	fmt.Println(errors.Is(err, store.ErrCorrupt))
	// Output:
	// secret <nil>
	// true
}
