package serve

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/twitchauth/twitchauth/internal/browsertest"
)

// syncBuffer is a bytes.Buffer safe for the logger and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startSandboxBroker runs `twitchauth serve --sandbox` in-process on free
// loopback ports and returns its Info once it listens.
func startSandboxBroker(t testing.TB, extra map[string][]string) (Info, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &syncBuffer{}
	flags := map[string][]string{"listen": {"127.0.0.1:0"}, "log_level": {"warn"}}
	for k, v := range extra {
		flags[k] = v
	}
	ready := make(chan Info, 1)
	done := make(chan error, 1)
	o := &Options{
		Sandbox: true, SandboxListen: "127.0.0.1:0", Flags: flags,
		Getenv: func(string) string { return "" },
		Stderr: stderr, Stdout: stderr,
		ready: func(i Info) { ready <- i },
	}
	go func() { done <- Run(ctx, o) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("serve did not stop within 15s of cancellation")
		}
	})
	select {
	case info := <-ready:
		return info, stderr
	case err := <-done:
		t.Fatalf("serve stopped before listening: %v\n%s", err, stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not start within 30s\n%s", stderr)
	}
	panic("unreachable")
}

// TestSandboxBrowserEndToEnd clicks through the broker in real headless
// Chromium: sign-in page, Connect, the sandbox's consent page (pick a user,
// Authorize), the home page listing the account, Validate, then Revoke and
// its confirmation; the account is gone. The loopback browser is the
// operator without a sign-in (its navigation got a session), and every
// button it pressed carried that session's CSRF token.
func TestSandboxBrowserEndToEnd(t *testing.T) {
	browsertest.Require(t)
	info, logs := startSandboxBroker(t, nil)
	if !strings.Contains(logs.String(), info.AdminKey) || !strings.Contains(logs.String(), info.URL+"/") {
		t.Fatalf("the banner lacks the URL or the admin key:\n%s", logs)
	}
	user := info.Sandbox.Users()[1]

	browserCtx := browsertest.New(t)

	fail := func(name string, err error) {
		t.Helper()
		c2, cancel2 := context.WithTimeout(browserCtx, 5*time.Second)
		defer cancel2()
		loc, _ := chromedp.Run(c2, chromedp.Location())
		html, _ := chromedp.Run(c2, chromedp.OuterHTML(chromedp.CSS("body")))
		t.Fatalf("%s: %v\nat %s\n%s", name, err, loc, html)
	}
	// step runs actions with a bounded wait.
	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(browserCtx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, actions...); err != nil {
			fail(name, err)
		}
	}
	read := func(name string, a chromedp.Action[string]) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(browserCtx, 30*time.Second)
		defer cancel()
		v, err := chromedp.Run(ctx, a)
		if err != nil {
			fail(name, err)
		}
		return v
	}
	card := "account-" + user.ID

	step("open the sign-in page",
		chromedp.Navigate(info.URL+"/signin"),
		chromedp.WaitVisible(chromedp.ID("connect")),
	)
	if text := read("sign-in text", chromedp.Text(chromedp.CSS("main"))); !strings.Contains(text, "chat:read") {
		t.Errorf("the sign-in page does not list the scopes: %q", text)
	}
	step("connect and reach the sandbox consent page",
		chromedp.Click(chromedp.ID("connect")),
		chromedp.WaitVisible(chromedp.CSS("select#login")),
	)
	step("pick a user and authorize",
		chromedp.SetValue(chromedp.CSS("select#login"), user.Login),
		chromedp.Click(chromedp.CSS(`button[value="authorize"]`)),
		chromedp.WaitVisible(chromedp.ID(card)),
	)
	text := read("account card", chromedp.Text(chromedp.ID(card)))
	if !strings.Contains(text, user.Login) || !strings.Contains(text, "active") || !strings.Contains(text, "chat:read") {
		t.Fatalf("the home page's account card: %q", text)
	}
	if loc := read("location", chromedp.Location()); loc != info.URL+"/?done=connected" {
		t.Errorf("landed on %s", loc)
	}
	validatesBefore := info.Sandbox.Requests("validate")
	step("validate",
		chromedp.Click(chromedp.CSS("#"+card+" button.validate")),
	)
	// The flash of the previous page is visible too: wait for the new one.
	for deadline := time.Now().Add(20 * time.Second); ; {
		if loc := read("location", chromedp.Location()); strings.HasSuffix(loc, "done=validated") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after validate: still on %s", read("location", chromedp.Location()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	step("the validated page", chromedp.WaitVisible(chromedp.ID("flash")))
	if text := read("flash", chromedp.Text(chromedp.ID("flash"))); !strings.Contains(text, "validated") {
		t.Fatalf("after validate: %q", text)
	}
	if text := read("last validated", chromedp.Text(chromedp.CSS("#"+card+" .validated"))); !strings.HasSuffix(text, "ago") {
		t.Errorf("last validated after the button: %q", text)
	}
	if info.Sandbox.Requests("validate") <= validatesBefore {
		t.Error("the validate button did not reach Twitch's /validate")
	}
	revokesBefore := info.Sandbox.Requests("revoke")
	step("revoke asks for confirmation",
		chromedp.Click(chromedp.CSS("#"+card+" button.revoke")),
		chromedp.WaitVisible(chromedp.ID("confirm")),
	)
	if n := len(info.Broker.Provider().Users()); n != 1 {
		t.Fatalf("%d accounts held before the revoke is confirmed", n)
	}
	step("confirm revoke and disconnect",
		chromedp.Click(chromedp.ID("confirm")),
		chromedp.WaitVisible(chromedp.ID("empty")),
	)
	if text := read("flash", chromedp.Text(chromedp.ID("flash"))); !strings.Contains(text, "revoked") {
		t.Errorf("after revoke: %q", text)
	}
	if n := len(info.Broker.Provider().Users()); n != 0 {
		t.Fatalf("%d accounts held after revoke", n)
	}
	if info.Sandbox.Requests("revoke") <= revokesBefore {
		t.Fatal("the sandbox saw no revocation")
	}
}

// TestSandboxBrowserIntentMove walks the operator's intent flow in real
// headless Chromium (which applies the pages' Content-Security-Policy, also
// to a form's redirect to Twitch): /signin?intent=broadcaster, Connect as
// broadcaster (the form posts with the session's CSRF token and is
// redirected to the consent page), consent as one user (the intent is
// bound), again as another (the intent stays, and the page offers the
// move), the move's confirmation, and the accounts page listing the change.
func TestSandboxBrowserIntentMove(t *testing.T) {
	browsertest.Require(t)
	info, _ := startSandboxBroker(t, nil)
	first, second := info.Sandbox.Users()[1], info.Sandbox.Users()[2]
	browserCtx := browsertest.New(t)
	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(browserCtx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, actions...); err != nil {
			c2, cancel2 := context.WithTimeout(browserCtx, 5*time.Second)
			defer cancel2()
			loc, _ := chromedp.Run(c2, chromedp.Location())
			html, _ := chromedp.Run(c2, chromedp.OuterHTML(chromedp.CSS("body")))
			t.Fatalf("%s: %v\nat %s\n%s", name, err, loc, html)
		}
	}
	// consentAs signs login in on the sandbox's consent page; switch first
	// presses "Not you?" (the sandbox remembers the last user, as Twitch does).
	consentAs := func(login string, switchUser bool) []chromedp.Action[chromedp.Void] {
		a := []chromedp.Action[chromedp.Void]{
			chromedp.Navigate(info.URL + "/signin?intent=broadcaster"),
			chromedp.Click(chromedp.ID("connect")),
		}
		if switchUser {
			a = append(a, chromedp.WaitVisible(chromedp.ID("not-you")), chromedp.Click(chromedp.ID("not-you")))
		}
		return append(a,
			chromedp.WaitVisible(chromedp.CSS("select#login")),
			chromedp.SetValue(chromedp.CSS("select#login"), login),
			chromedp.Click(chromedp.CSS(`button[value="authorize"]`)),
		)
	}
	step("connect the first user for the intent", append(consentAs(first.Login, false), chromedp.WaitVisible(chromedp.ID("account-"+first.ID)))...)
	if got := info.Broker.Provider().Intents()["broadcaster"]; got != first.ID {
		t.Fatalf("intent broadcaster -> %q after the operator's sign-in, want %s", got, first.ID)
	}
	step("another user consents: the intent stays", append(consentAs(second.Login, true), chromedp.WaitVisible(chromedp.ID("heading")))...)
	if got := info.Broker.Provider().Intents()["broadcaster"]; got != first.ID {
		t.Fatalf("a second sign-in moved the intent to %q", got)
	}
	step("the explicit move", chromedp.Click(chromedp.CSS("a.button")), chromedp.WaitVisible(chromedp.ID("confirm")),
		chromedp.Click(chromedp.ID("confirm")), chromedp.WaitVisible(chromedp.ID("intent-changes")))
	if got := info.Broker.Provider().Intents()["broadcaster"]; got != second.ID {
		t.Fatalf("after the move: intent broadcaster -> %q, want %s", got, second.ID)
	}
}
