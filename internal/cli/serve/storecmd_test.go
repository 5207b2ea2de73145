package serve

import (
	"bytes"
	"database/sql"
	"errors"
	"log/slog"
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
	st, err := sqlite.Open(t.Context(), dbPath, sqlite.WithLogger(slog.New(slog.DiscardHandler)))
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
		cmd := NewCommand(&out, &errb)
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
		{"", "give the KEY"},
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
