package broker_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/broker"
	"github.com/twitchauth/twitchauth/store/sqlite"
)

// A broker for one application, with its tokens in SQLite and one API key
// for a chat bot that may read user tokens and call Helix.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	st, err := sqlite.Open(ctx, "/var/lib/twitchauth/broker.db", sqlite.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	botKey := broker.GenerateKey() // give it to the bot; keep only the hash
	keys, err := broker.NewKeySet(broker.APIKey{
		Name: "bot", SHA256: broker.HashKey(botKey),
		Perms: []broker.Perm{broker.PermTokenUser, broker.PermHelix},
	})
	if err != nil {
		log.Fatal(err)
	}
	b, err := broker.New(ctx, broker.Config{
		Twitch: &twitchauth.Config{
			ClientID:     os.Getenv("TWITCH_CLIENT_ID"),
			ClientSecret: os.Getenv("TWITCH_CLIENT_SECRET"),
			Scopes:       []string{"chat:read", "chat:edit"},
		},
		Store:     st,
		PublicURL: "http://localhost:8080",
		Keys:      keys,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("register this redirect URI with Twitch:", b.RedirectURI())
	l, err := net.Listen("tcp", "127.0.0.1:8080")
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(b.Serve(ctx, l)) // validation loop included; graceful on ctx end
}

// API keys are stored as SHA-256 hashes; a key spec names the key and its
// permissions.
func ExampleParseKeySpec() {
	k, err := broker.ParseKeySpec("dashboard:" + broker.HashKey("tak_example") + ":users:read,token:app")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(k.Name, k.Perms, k.Has(broker.PermUsersRead), k.Has(broker.PermUsersDelete))
	// Output: dashboard [users:read token:app] true false
}

// A fleet's keys live in the store every replica shares: a chat bot's key
// scoped to the chat intent, with an expiry. Every broker using the store
// applies the change within a second; deleting it revokes it as fast.
func ExampleUpdateStoreKeys() {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, "/var/lib/twitchauth/broker.db", sqlite.Config{}) // in a fleet: postgres.Open
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	botKey := broker.GenerateKey() // shown once: give it to the bot
	err = broker.UpdateStoreKeys(ctx, st, os.Getenv("TWITCH_CLIENT_ID"), func(keys []broker.APIKey) ([]broker.APIKey, error) {
		return append(keys, broker.APIKey{
			Name: "chat-bot", SHA256: broker.HashKey(botKey),
			Perms:    []broker.Perm{broker.PermTokenIntent, broker.PermTokenRefresh, broker.PermHelix},
			Subjects: []string{"intent:chat"},
			Helix:    []string{"POST /chat/messages"},
			Expires:  time.Now().Add(30 * 24 * time.Hour),
		}), nil
	})
	if err != nil {
		log.Fatal(err)
	}
}

// An audit log records every request made with an API key; the broker
// refuses those requests (503) while it cannot write it.
func ExampleOpenAuditLog() {
	audit, err := broker.OpenAuditLog("/var/log/twitchauth/audit.jsonl", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer audit.Close() // writes what is queued
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			audit.Reopen() // after logrotate renamed the file
		}
	}()
	cfg := broker.Config{Audit: audit, KeysFile: "/var/lib/twitchauth/broker-keys.json" /* Twitch, Store, PublicURL… */}
	_ = cfg
}
