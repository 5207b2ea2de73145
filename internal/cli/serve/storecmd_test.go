package serve

import (
	"bytes"
	"database/sql"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/sqlite"
)

// `serve store check` lists the records the store cannot read (exit 1),
// `serve store remove KEY` removes one of them and refuses a readable
// record, an unknown key and an empty one.
func TestStoreCommand(t *testing.T) {
	t.Setenv(store.EnvEncryptionKey, "")
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "broker.db")
	st, err := sqlite.Open(t.Context(), dbPath, sqlite.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	good := store.GrantKey("cid", store.UserKey("1"))
	bad := store.GrantKey("cid", store.UserKey("2"))
	for _, k := range []string{good, bad} {
		if _, err := st.Save(t.Context(), store.Record{Key: k, ClientID: "cid", AccessToken: "a-" + k, RefreshToken: "r-" + k}, 0); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	raw, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`UPDATE tokens SET access_token = refresh_token WHERE key = ?`, bad); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	run := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		cmd := NewCmdServe(&cliutil.Factory{IO: &cliutil.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errb}, Getenv: os.Getenv}, nil)
		cmd.SetFlagErrorFunc(cliutil.FlagError)
		cmd.SetArgs(append(append([]string{"store"}, args...), "--store", dbPath))
		cmd.SetOut(&out)
		cmd.SetErr(&errb)
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		err := cmd.Execute()
		code := 0
		var ee *cliutil.ExitError
		switch {
		case errors.As(err, &ee):
			code = ee.Code
			errb.WriteString(err.Error())
		case err != nil:
			code = -1
			errb.WriteString(err.Error())
		}
		return out.String(), errb.String(), code
	}
	out, msg, code := run("check")
	if code != cliutil.ExitRefused || !strings.Contains(out, "1 records readable") || !strings.Contains(out, "unreadable\t"+bad) ||
		!strings.Contains(msg, "serve store remove") {
		t.Fatalf("check: exit %d\n%s%s", code, out, msg)
	}
	for _, tc := range []struct {
		key, want string
	}{
		{good, "reads fine"},
		{store.GrantKey("cid", store.UserKey("404")), "no record"},
		{"", "KEY is empty"},
	} {
		if _, msg, code := run("remove", tc.key); code != cliutil.ExitUsage || !strings.Contains(msg, tc.want) {
			t.Errorf("remove %q: exit %d %s; want a usage error saying %q", tc.key, code, msg, tc.want)
		}
	}
	if _, msg, code := run("remove", bad); code != 0 || !strings.Contains(msg, "Removed the unreadable record") {
		t.Fatalf("remove %s: exit %d %s", bad, code, msg)
	}
	if out, msg, code := run("check"); code != 0 || !strings.Contains(out, "1 records readable") {
		t.Fatalf("check after the removal: exit %d %s%s", code, out, msg)
	}
}

// `serve` with its key file deleted beside a database that holds tokens
// refuses to start, names the missing file and says to restore it from
// backup — and creates no new key, so the next start says the same.
func TestServeRefusesAMissingKeyFile(t *testing.T) {
	t.Setenv(store.EnvEncryptionKey, "")
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "broker.db")
	st, err := sqlite.Open(t.Context(), dbPath, sqlite.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Save(t.Context(), store.Record{Key: store.GrantKey("cid", store.UserKey("1")), ClientID: "cid", AccessToken: "a", RefreshToken: "r"}, 0); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if err := os.Remove(dbPath + ".key"); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TWITCH_CLIENT_ID": "cid", "TWITCH_CLIENT_SECRET": "not-used-0123456789", "HOME": dir,
		"TWITCHAUTH_STORE": dbPath, "TWITCHAUTH_LISTEN": "127.0.0.1:0", "TWITCHAUTH_KEYS_FILE": filepath.Join(dir, "keys.json")}
	for attempt := range 2 {
		err := Run(t.Context(), &Options{Getenv: func(k string) string { return env[k] }, Stderr: io.Discard})
		if err == nil || !errors.Is(err, store.ErrKeyFileMissing) {
			t.Fatalf("start %d: %v, want ErrKeyFileMissing", attempt, err)
		}
		for _, want := range []string{dbPath + ".key", "backup", "does not exist"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("start %d: %q does not say %q", attempt, err, want)
			}
		}
		if _, serr := os.Stat(dbPath + ".key"); !errors.Is(serr, fs.ErrNotExist) {
			t.Fatalf("start %d created a new key file beside the encrypted database", attempt)
		}
	}
}
