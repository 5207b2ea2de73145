package serve

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
)

// TestKeysAndStoreCommandsParseIntoOptions drives `serve keys` and `serve
// store` through their runF seams: what a command line parses into is
// checked without a terminal, a keys file, a store or the process
// environment (issue 18, gh's structure).
func TestKeysAndStoreCommandsParseIntoOptions(t *testing.T) {
	f, _, _ := cliutil.NewTestFactory(map[string]string{"TWITCHAUTH_KEYS_FILE": "/env/keys.json"}, "")

	var created *CreateOptions
	var rotated *RotateOptions
	var deleted *DeleteOptions
	var listed *KeysOptions
	runs := KeysRunFuncs{
		Create: func(_ context.Context, o *CreateOptions) error { created = o; return nil },
		List:   func(_ context.Context, o *KeysOptions) error { listed = o; return nil },
		Rotate: func(_ context.Context, o *RotateOptions) error { rotated = o; return nil },
		Delete: func(_ context.Context, o *DeleteOptions) error { deleted = o; return nil },
	}
	exec := func(args ...string) {
		t.Helper()
		cmd := NewCmdKeys(f, runs)
		cmd.SetArgs(args)
		if err := cmd.ExecuteContext(context.Background()); err != nil {
			t.Fatalf("keys %q: %v", args, err)
		}
	}

	exec("create", "--name", "bot", "--perm", "token,helix", "--subject", "user:1", "--helix", "GET /users", "--expires", "720h", "--json")
	if created == nil || created.Name != "bot" || !slices.Equal(created.Perms, []string{"token,helix"}) ||
		!slices.Equal(created.Subjects, []string{"user:1"}) || !slices.Equal(created.Helix, []string{"GET /users"}) ||
		created.Expires != "720h" || !created.ExpiresSet || !created.JSON {
		t.Fatalf("create parsed into %+v", created)
	}
	// No flag: the keys file is resolved later, from the Factory's
	// environment, by the run function (KeysOptions.backend).
	if created.KeysFile != "" || created.keysFileSet || created.storeSet || created.Factory != f {
		t.Errorf("create: keys file %q (set %v, store set %v), own Factory %v", created.KeysFile, created.keysFileSet, created.storeSet, created.Factory == f)
	}

	exec("list", "--keys-file", "/flag/keys.json")
	if listed == nil || listed.KeysFile != "/flag/keys.json" || !listed.keysFileSet {
		t.Fatalf("list parsed into %+v", listed)
	}

	exec("rotate", "--name", "bot", "--grace", "0s")
	if rotated == nil || rotated.Name != "bot" || rotated.Grace != 0 {
		t.Fatalf("rotate parsed into %+v", rotated)
	}
	exec("rotate", "--name", "bot")
	if rotated.Grace != 24*time.Hour {
		t.Errorf("rotate's default grace %s, want 24h", rotated.Grace)
	}

	exec("delete", "--store", "postgres://db/x", "bot")
	if deleted == nil || deleted.Name != "bot" || deleted.Store != "postgres://db/x" || !deleted.storeSet {
		t.Fatalf("delete parsed into %+v", deleted)
	}

	var checked *StoreOptions
	var removed string
	sruns := StoreRunFuncs{
		Check:  func(_ context.Context, o *StoreOptions) error { checked = o; return nil },
		Remove: func(_ context.Context, o *StoreOptions, key string) error { checked, removed = o, key; return nil },
	}
	for _, args := range [][]string{{"check", "--store", "/srv/broker.db", "--json"}, {"remove", "--encryption-key-file", "/k", "client:abc/user:1"}} {
		cmd := NewCmdStore(f, sruns)
		cmd.SetArgs(args)
		if err := cmd.ExecuteContext(context.Background()); err != nil {
			t.Fatalf("store %q: %v", args, err)
		}
	}
	if checked == nil || checked.KeyFile != "/k" || removed != "client:abc/user:1" {
		t.Fatalf("store remove parsed into %+v, key %q", checked, removed)
	}
}
