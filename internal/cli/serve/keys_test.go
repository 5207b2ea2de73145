package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth/broker"
	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
	"github.com/twitchauth/twitchauth/internal/pgtest"
	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// keysCLI runs `serve keys ARGS... [extra]` and returns stdout, stderr and
// the error.
func keysCLI(extra ...string) func(args ...string) (string, string, error) {
	return func(args ...string) (string, string, error) {
		var out, errb bytes.Buffer
		cmd := NewCmdServe(&cliutil.Factory{IO: &cliutil.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errb}, Getenv: os.Getenv}, nil)
		cmd.SetFlagErrorFunc(cliutil.FlagError)
		cmd.SetArgs(append(append([]string{"keys"}, args...), extra...))
		cmd.SetOut(&out)
		cmd.SetErr(&errb)
		err := cmd.Execute()
		return out.String(), errb.String(), err
	}
}

func exitCode(err error) int {
	var ee *cliutil.ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	if err != nil {
		return -1
	}
	return 0
}

func TestKeysCommand(t *testing.T) {
	keysFile := filepath.Join(t.TempDir(), "keys.json")
	run := keysCLI("--keys-file", keysFile)
	out, msg, err := run("create", "--name", "bot", "--perm", "token:user,helix")
	if err != nil {
		t.Fatal(err, msg)
	}
	key := strings.TrimSpace(out)
	if !strings.HasPrefix(key, broker.KeyPrefix) || !strings.Contains(msg, "every subject its permissions reach") || !strings.Contains(msg, "within a second") {
		t.Fatalf("created key %q, message %q", key, msg)
	}
	keys, err := broker.ReadKeysFile(keysFile)
	if err != nil || len(keys) != 1 || keys[0].SHA256 != broker.HashKey(key) || !keys[0].Has(broker.PermHelix) || keys[0].Has(broker.PermTokenApp) {
		t.Fatalf("keys file: %+v %v", keys, err)
	}
	data, _ := os.ReadFile(keysFile)
	if strings.Contains(string(data), key) {
		t.Fatal("the keys file holds the key itself")
	}
	if st, _ := os.Stat(keysFile); st.Mode().Perm() != 0o600 {
		t.Errorf("keys file mode %v", st.Mode().Perm())
	}
	out, msg, err = run("create", "--name", "chat", "--perm", "token:intent", "--perm", "helix",
		"--subject", "intent:chat", "--subject", "user:123,app", "--helix", "GET /users", "--helix", "POST /chat/messages", "--expires", "720h")
	if err != nil {
		t.Fatal(err, msg)
	}
	chatKey := strings.TrimSpace(out)
	keys, _ = broker.ReadKeysFile(keysFile)
	k := keys[1]
	if k.Name != "chat" || strings.Join(k.Subjects, " ") != "intent:chat user:123 app" || len(k.Helix) != 2 ||
		time.Until(k.Expires) < 719*time.Hour || time.Until(k.Expires) > 721*time.Hour {
		t.Fatalf("scoped key: %+v", k)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"create", "--name", "bot", "--perm", "helix"}, "exists"},
		{[]string{"create", "--name", "x", "--perm", "root"}, "unknown permission"},
		{[]string{"create", "--name", "x", "--perm", "admin", "--subject", "app"}, "cannot be scoped"},
		{[]string{"create", "--name", "x", "--perm", "token:user", "--subject", "user:login:bob"}, "user ID"},
		{[]string{"create", "--name", "x", "--perm", "token:user", "--helix", "GET /users"}, "helix permission"},
		{[]string{"create", "--name", "x", "--perm", "helix", "--helix", "GET"}, "METHOD /path"},
		{[]string{"create", "--name", "x", "--perm", "helix", "--expires", "soon"}, "--expires"},
		{[]string{"create", "--name", "x", "--perm", "helix", "--expires", "-1h"}, "expired already"},
		{[]string{"create", "--name", "x", "--perm", "helix", "--store", "broker.db"}, "PostgreSQL"},
		{[]string{"create", "--name", "x", "--perm", "helix", "--store", ""}, "--store needs a value"},
		{[]string{"rotate", "--name", "nobody"}, "no API key"},
		{[]string{"rotate", "--name", "bot", "--grace", "-1h"}, "--grace"},
		{[]string{"delete", "nobody"}, "no API key"},
	} {
		_, _, err := run(c.args...)
		if exitCode(err) != cliutil.ExitUsage || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v (exit %d), want a usage error saying %q", c.args, err, exitCode(err), c.want)
		}
	}
	t.Setenv("TWITCH_CLIENT_ID", "")
	if _, _, err := keysCLI()("create", "--name", "x", "--perm", "helix", "--store", "postgres://127.0.0.1:1/db"); exitCode(err) != cliutil.ExitUsage || !strings.Contains(err.Error(), "--client-id") {
		t.Errorf("--store without a client ID: %v", err)
	}
	out, _, err = run("list")
	if err != nil || strings.Contains(out, key) || strings.Contains(out, chatKey) {
		t.Fatalf("list: %q %v", out, err)
	}
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[0], "SUBJECTS") ||
		!regexpMatch(`^bot\s+token:user,helix\s+\(any\)\s+\(any\)\s+never\s`, lines[1]) ||
		!regexpMatch(`^chat\s+token:intent,helix\s+intent:chat,user:123,app\s+GET /users; POST /chat/messages\s+20`, lines[2]) ||
		!strings.Contains(out, "(any) = unscoped: the key may use every subject its permissions reach") {
		t.Fatalf("list:\n%s", out)
	}

	out, msg, err = run("rotate", "--name", "bot", "--grace", "2h")
	if err != nil {
		t.Fatal(err, msg)
	}
	newKey := strings.TrimSpace(out)
	keys, _ = broker.ReadKeysFile(keysFile)
	if !strings.HasPrefix(newKey, broker.KeyPrefix) || newKey == key || keys[0].SHA256 != broker.HashKey(newKey) ||
		len(keys[0].Previous) != 1 || keys[0].Previous[0].SHA256 != broker.HashKey(key) || !strings.Contains(msg, "grace period of 2h0m0s") {
		t.Fatalf("rotate: %q %q %+v", out, msg, keys[0])
	}
	if out, _, _ := run("list"); !strings.Contains(out, "bot: previous key sha256:"+broker.HashKey(key)[:12]+"… accepted until") {
		t.Errorf("list after rotate:\n%s", out)
	}
	if _, _, err := run("delete", "bot"); err != nil {
		t.Fatal(err)
	}
	if keys, _ := broker.ReadKeysFile(keysFile); len(keys) != 1 || keys[0].Name != "chat" {
		t.Fatalf("after delete: %+v", keys)
	}
}

// startServe runs `twitchauth serve` (normal mode, against sb) in this
// process with flags until the test ends; reload, when not nil, is its
// SIGHUP channel.
func startServe(t *testing.T, sb *twitchtest.Server, flags map[string][]string, reload chan struct{}) (Info, *syncBuffer) {
	t.Helper()
	cl := sb.DefaultClient()
	env := map[string]string{"TWITCH_CLIENT_ID": cl.ID, "TWITCH_CLIENT_SECRET": cl.Secret, "TWITCH_ID_URL": sb.IDURL(), "TWITCH_API_URL": sb.APIURL()}
	flags["listen"] = []string{"127.0.0.1:0"}
	if _, ok := flags["log_level"]; !ok {
		flags["log_level"] = []string{"info"}
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan Info, 1)
	done := make(chan error, 1)
	logs := &syncBuffer{}
	o := &Options{Flags: flags, Getenv: func(k string) string { return env[k] }, Stderr: logs, ready: func(i Info) { ready <- i }}
	if reload != nil {
		o.Reload = reload
	}
	go func() { done <- Run(ctx, o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	select {
	case info := <-ready:
		return info, logs
	case err := <-done:
		t.Fatalf("serve stopped: %v\n%s", err, logs)
	}
	panic("unreachable")
}

func getStatus(t *testing.T, url, key string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// within5s polls cond until it holds, failing after the 5 s bound of
// issue 23.
func within5s(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("%s: not within 5s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
	return time.Since(start)
}

// TestRunningServeAppliesKeyChanges: `serve keys create`, `rotate` and
// `delete` take effect in a running `twitchauth serve` within 5 s without
// a restart or a signal; the audit log records the requests and the key
// changes, and SIGHUP reopens it after logrotate renamed it.
func TestRunningServeAppliesKeyChanges(t *testing.T) {
	dir := t.TempDir()
	keysFile, auditFile := filepath.Join(dir, "keys.json"), filepath.Join(dir, "audit.jsonl")
	run := keysCLI("--keys-file", keysFile)
	sb := twitchtest.NewServer(t)
	reload := make(chan struct{}, 1)
	info, logs := startServe(t, sb, map[string][]string{"store": {filepath.Join(dir, "broker.db")}, "keys_file": {keysFile}, "audit_log": {auditFile}}, reload)
	app := info.URL + "/v1/token/app"

	out, msg, err := run("create", "--name", "svc", "--perm", "token:app", "--subject", "app")
	if err != nil {
		t.Fatal(err, msg)
	}
	key := strings.TrimSpace(out)
	d := within5s(t, "created key accepted", func() bool { return getStatus(t, app, key) == 200 })
	t.Logf("created key accepted after %v", d.Round(time.Millisecond))

	out, _, err = run("rotate", "--name", "svc", "--grace", "1h")
	if err != nil {
		t.Fatal(err)
	}
	rotated := strings.TrimSpace(out)
	within5s(t, "rotated key accepted", func() bool { return getStatus(t, app, rotated) == 200 })
	if got := getStatus(t, app, key); got != 200 {
		t.Errorf("previous key during its grace period: %d", got)
	}
	if _, _, err := run("rotate", "--name", "svc", "--grace", "0"); err != nil {
		t.Fatal(err)
	}
	within5s(t, "previous values refused after a rotation without grace", func() bool {
		return getStatus(t, app, key) == 401 && getStatus(t, app, rotated) == 401
	})

	out, _, _ = run("create", "--name", "gone", "--perm", "token:app")
	gone := strings.TrimSpace(out)
	within5s(t, "second key accepted", func() bool { return getStatus(t, app, gone) == 200 })
	if _, _, err := run("delete", "gone"); err != nil {
		t.Fatal(err)
	}
	d = within5s(t, "deleted key refused", func() bool { return getStatus(t, app, gone) == 401 })
	t.Logf("deleted key refused by the running broker after %v", d.Round(time.Millisecond))

	// logrotate: rename, then SIGHUP.
	if err := os.Rename(auditFile, auditFile+".1"); err != nil {
		t.Fatal(err)
	}
	reload <- struct{}{}
	within5s(t, "audit log reopened", func() bool { return strings.Contains(logs.String(), "audit log reopened") })
	getStatus(t, app, gone) // not audited: an unknown key
	out, _, _ = run("create", "--name", "late", "--perm", "token:app")
	late := strings.TrimSpace(out)
	within5s(t, "third key accepted", func() bool { return getStatus(t, app, late) == 200 })
	info.Broker.ReloadKeys(context.Background())

	rotatedLog, _ := os.ReadFile(auditFile + ".1")
	var actions []string
	for _, l := range strings.Split(strings.TrimSpace(string(rotatedLog)), "\n") {
		var e broker.AuditEntry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		if e.Route == "keys" {
			actions = append(actions, e.Key+" "+e.Action)
		}
	}
	if strings.Join(actions, ", ") != "svc key created, svc key rotated, svc key rotated, gone key created, gone key deleted" {
		t.Errorf("key changes in the audit log: %q", actions)
	}
	for _, s := range []string{key, rotated, gone, late} {
		if strings.Contains(string(rotatedLog), s) {
			t.Error("the audit log holds an API key")
		}
	}
	within5s(t, "the new audit file written", func() bool {
		cur, _ := os.ReadFile(auditFile)
		var created, used bool
		for _, l := range bytes.Split(bytes.TrimSpace(cur), []byte("\n")) {
			var e broker.AuditEntry
			json.Unmarshal(l, &e)
			created = created || e.Key == "late" && e.Action == "key created"
			used = used || e.Key == "late" && e.Route == "token_app" && e.Status == 200
		}
		return created && used
	})
	if st, _ := os.Stat(auditFile); st.Mode().Perm() != 0o600 {
		t.Errorf("reopened audit file mode %v", st.Mode().Perm())
	}
}

// TestFleetRevocationOnPostgres runs three `twitchauth serve` replicas (this
// test binary re-executed) on one PostgreSQL database, each with a keys
// file of its own (they share no filesystem): a key created with `serve
// keys --store` is accepted by every replica, and once deleted refused by
// every replica, within 5 s.
func TestFleetRevocationOnPostgres(t *testing.T) {
	if os.Getenv(replicaChildEnv) != "" {
		t.Skip("running as a replica")
	}
	const replicas = 3
	dbURL := pgtest.Start(t)
	sb := twitchtest.NewServer(t)
	cl := sb.DefaultClient()
	key, _ := store.GenerateKey()
	encKey := store.EncodeKey(key)
	t.Setenv(store.EnvEncryptionKey, encKey) // for `serve keys --store` in this process
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var urls []string
	for i := range replicas {
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestBrokerReplicaChild$")
		cmd.Env = append(os.Environ(), replicaChildEnv+"=1",
			"TWITCH_CLIENT_ID="+cl.ID, "TWITCH_CLIENT_SECRET="+cl.Secret,
			"TWITCH_ID_URL="+sb.IDURL(), "TWITCH_API_URL="+sb.APIURL(),
			"TWITCHAUTH_STORE="+dbURL, store.EnvEncryptionKey+"="+encKey,
			"TWITCHAUTH_KEYS_FILE="+filepath.Join(t.TempDir(), "keys.json"),
			"TWITCHAUTH_LISTEN=127.0.0.1:0", "TWITCHAUTH_LOG_LEVEL=warn")
		out, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "REPLICA-READY "); ok {
				urls = append(urls, u)
				break
			}
		}
		go io.Copy(io.Discard, out)
		if len(urls) != i+1 {
			t.Fatalf("replica %d did not start", i)
		}
	}
	run := keysCLI("--store", dbURL, "--client-id", cl.ID)
	out, msg, err := run("create", "--name", "fleet-bot", "--perm", "token:app", "--subject", "app")
	if err != nil {
		t.Fatal(err, msg)
	}
	if !strings.Contains(msg, "Every broker using this store") || strings.Contains(msg, "password") {
		t.Errorf("create message: %q", msg)
	}
	apiKey := strings.TrimSpace(out)
	for i, u := range urls {
		d := within5s(t, fmt.Sprintf("replica %d accepts the created key", i), func() bool { return getStatus(t, u+"/v1/token/app", apiKey) == 200 })
		t.Logf("replica %d accepted the created key after %v", i, d.Round(time.Millisecond))
	}
	if out, _, err := run("list"); err != nil || !strings.Contains(out, "fleet-bot") {
		t.Fatalf("list from the store: %q %v", out, err)
	}
	if _, _, err := run("delete", "fleet-bot"); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	for i, u := range urls {
		within5s(t, fmt.Sprintf("replica %d refuses the deleted key", i), func() bool { return getStatus(t, u+"/v1/token/app", apiKey) == 401 })
		t.Logf("replica %d refused the deleted key %v after the delete", i, time.Since(deleted).Round(time.Millisecond))
	}
}

func regexpMatch(pattern, s string) bool {
	return regexpMust(pattern).MatchString(s)
}

var regexpCache = map[string]*regexp.Regexp{}

func regexpMust(p string) *regexp.Regexp {
	if re, ok := regexpCache[p]; ok {
		return re
	}
	re := regexp.MustCompile(p)
	regexpCache[p] = re
	return re
}
