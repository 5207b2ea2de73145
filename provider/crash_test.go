package provider_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/provider"
	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/sqlite"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// TestProviderCrashBetweenSaveAndHandOut kills a child process with SIGKILL
// right after it received and stored a rotated single-use refresh token, and
// before it handed the new access token out. After each kill a fresh
// Provider on the same SQLite file still holds a working grant.
//
// (The window between Twitch's answer and the fsync of the store cannot be
// closed by any client: a crash there loses the rotated token. The Provider
// keeps it to one local transaction.)
func TestProviderCrashBetweenSaveAndHandOut(t *testing.T) {
	if os.Getenv("TWITCHAUTH_CRASH_CHILD") != "" {
		t.Skip("running as the child")
	}
	s := twitchtest.NewServer(t, twitchtest.WithSingleUseRefresh(true))
	c := s.DefaultClient()
	dbPath := filepath.Join(t.TempDir(), "tokens.db")
	key, _ := store.GenerateKey()
	keyEnc := store.EncodeKey(key)
	cfg := &twitchauth.Config{ClientID: c.ID, ClientSecret: c.Secret,
		Endpoints: twitchauth.Endpoints{IDURL: s.IDURL(), APIURL: s.APIURL()}}

	open := func() (*sqlite.Store, *provider.Provider) {
		st, err := sqlite.Open(context.Background(), dbPath, sqlite.Config{Key: store.KeyConfig{Key: key}})
		if err != nil {
			t.Fatal(err)
		}
		p, err := provider.New(context.Background(), providerConfig(cfg, withStore(st)))
		if err != nil {
			t.Fatal(err)
		}
		return st, p
	}
	st, p := open()
	access, refresh, err := s.MintUserToken(c.ID, "twitchdev", []string{"chat:read"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := p.AddUserToken(context.Background(), &twitchauth.Token{AccessToken: access, RefreshToken: refresh})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	const kills = 5
	for i := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^TestProviderCrashChild$", "-test.v")
		cmd.Env = append(os.Environ(),
			"TWITCHAUTH_CRASH_CHILD=1",
			"CRASH_DB="+dbPath, "CRASH_KEY="+keyEnc, "CRASH_ID_URL="+s.IDURL(),
			"CRASH_CLIENT_ID="+c.ID, "CRASH_USER="+tok.UserID,
			"TWITCH_CLIENT_SECRET="+c.Secret)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		saved := false
		deadline := time.AfterFunc(60*time.Second, func() { _ = cmd.Process.Kill() })
		for sc.Scan() {
			if strings.Contains(sc.Text(), "CRASH-SAVED") {
				saved = true
				break
			}
		}
		deadline.Stop()
		_ = cmd.Process.Kill() // SIGKILL
		_ = cmd.Wait()
		if !saved {
			t.Fatalf("kill %d: the child never reached the point after the save", i)
		}
		// A new process on the same file: the stored refresh token is the
		// rotated one, and it works (a spent one would be refused, the
		// sandbox's refresh tokens being single-use).
		st, p := open()
		before := s.Requests("token:refresh_token")
		if _, err := p.Refresh(context.Background(), provider.User(tok.UserID)); err != nil {
			t.Fatalf("after kill %d the grant no longer works: %v", i, err)
		}
		if s.Requests("token:refresh_token") != before+1 {
			t.Fatal("no refresh was made")
		}
		st.Close()
	}
}

// TestProviderCrashChild is the child of the crash test: it refreshes and
// blocks after the save, announcing it on stdout, waiting to be killed.
func TestProviderCrashChild(t *testing.T) {
	if os.Getenv("TWITCHAUTH_CRASH_CHILD") == "" {
		t.Skip("only run as the crash test's child")
	}
	key, err := store.ParseEncryptionKey(os.Getenv("CRASH_KEY"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), os.Getenv("CRASH_DB"), sqlite.Config{Key: store.KeyConfig{Key: key}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &twitchauth.Config{ClientID: os.Getenv("CRASH_CLIENT_ID"), ClientSecret: os.Getenv("TWITCH_CLIENT_SECRET"),
		Endpoints: twitchauth.Endpoints{IDURL: os.Getenv("CRASH_ID_URL")}}
	p, err := provider.New(context.Background(), providerConfig(cfg, withStore(st)))
	if err != nil {
		t.Fatal(err)
	}
	provider.SetAfterSaveHook(p, func(string) {
		fmt.Println("CRASH-SAVED")
		os.Stdout.Sync()
		time.Sleep(time.Minute) // killed here
	})
	_, err = p.Refresh(context.Background(), provider.User(os.Getenv("CRASH_USER")))
	t.Fatalf("the child was not killed (refresh returned %v)", err)
}
