package serve

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/twitchauth/twitchauth/internal/browsertest"
)

// TestSandboxWalk walks `serve --sandbox` in headless Chromium as a new
// user would: the broker's sign-in, the sandbox's consent page as one user,
// "Connect another account" back to the consent page (signed in as the
// first user), "Not you?" and consent as a second user, the accounts page
// listing both, the developer console through the broker's link (sign in,
// the broker's own application, New Secret's confirmation, then back to
// the broker) and the extension rig through the broker's link (the example
// panel loading with a viewer's token, Exhaust and its countdown).
func TestSandboxWalk(t *testing.T) {
	browsertest.Require(t)
	info, _ := startSandboxBroker(t, nil)
	users := info.Sandbox.Users()
	first, second := users[1], users[2] // broadcaster, moderator
	ctx := browsertest.New(t)
	browsertest.Viewport(t, ctx, browsertest.DesktopWidth, browsertest.DesktopHeight)

	body := func() string {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		v, _ := chromedp.Run(c, chromedp.Evaluate[string](`location.href + '\n' + (document.body ? document.body.innerText : '')`))
		return v
	}
	do := func(name string, a ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(c, a...); err != nil {
			t.Fatalf("%s: %v\nat %s", name, err, body())
		}
	}
	eval := func(expr string) string {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		v, err := chromedp.Run(c, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("%s: %v\nat %s", expr, err, body())
		}
		return v
	}
	// waitFor polls expr until its value contains sub: it also waits out
	// the navigation a click started.
	waitFor := func(what, expr, sub string) string {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			c, cancel := context.WithTimeout(ctx, 5*time.Second)
			v, err := chromedp.Run(c, chromedp.Evaluate[string](expr))
			cancel()
			if err == nil && strings.Contains(v, sub) {
				return v
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: never saw %q (last %q, %v)\nat %s", what, sub, v, err, body())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	text := `document.body ? document.body.innerText : ''`
	// clickLink follows the link whose href is href.
	clickLink := func(name, href string) {
		t.Helper()
		if got := eval(`(function(){var a=document.querySelector('a[href="` + href + `"]');if(!a)return 'none';a.click();return 'ok';})()`); got != "ok" {
			t.Fatalf("%s: no link to %s\nat %s", name, href, body())
		}
	}
	consentAs := func(login string) {
		t.Helper()
		do("pick "+login, chromedp.WaitVisible(chromedp.CSS("select#login")), chromedp.SetValue(chromedp.CSS("select#login"), login),
			chromedp.Click(chromedp.CSS(`button[value="authorize"]`)))
		waitFor("the account of "+login+" on the home page", `document.getElementById('accounts') ? document.getElementById('accounts').innerText : ''`, login)
	}

	// 1. Broker → consent as the first user → the accounts page.
	do("the sign-in page", chromedp.Navigate(info.URL+"/signin"), chromedp.WaitVisible(chromedp.ID("connect")))
	do("connect", chromedp.Click(chromedp.ID("connect")))
	waitFor("the sandbox's consent page", text, "wants to access your Twitch account")
	browsertest.Screenshot(t, ctx, "walk-1-consent")
	consentAs(first.Login)

	// 2. Connect another account: the consent page again, naming the
	// signed-in user; Not you? and the second user.
	do("connect another account", chromedp.Click(chromedp.ID("connect-another")))
	signedIn := waitFor("the consent page names the signed-in user", `document.getElementById('signed-in') ? document.getElementById('signed-in').innerText : ''`, "Signed in as")
	if !strings.Contains(signedIn, first.Login) || !strings.Contains(signedIn, "Not you?") {
		t.Fatalf("signed-in line: %q", signedIn)
	}
	browsertest.Screenshot(t, ctx, "walk-2-consent-signed-in")
	do("not you", chromedp.Click(chromedp.ID("not-you")))
	consentAs(second.Login)
	accounts := eval(`document.getElementById('accounts').innerText`)
	for _, u := range []string{first.ID, second.ID} {
		if n := eval(`String(document.querySelectorAll('#account-` + u + `').length)`); n != "1" {
			t.Fatalf("account %s shown %s times:\n%s", u, n, accounts)
		}
	}
	if n := len(info.Broker.Provider().Users()); n != 2 {
		t.Fatalf("the broker holds %d accounts, want 2", n)
	}
	browsertest.Screenshot(t, ctx, "walk-3-accounts")

	// 3. The developer console through the broker's link.
	clickLink("developer console", info.Sandbox.ConsoleURL())
	do("console sign-in", chromedp.WaitVisible(chromedp.CSS("select#login")), chromedp.SetValue(chromedp.CSS("select#login"), first.Login),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)))
	home := waitFor("the console's applications", text, "twitchauth broker (sandbox)")
	if !strings.Contains(home, "Back to the broker") {
		t.Errorf("the console has no link back to the broker:\n%s", home)
	}
	browsertest.Screenshot(t, ctx, "walk-4-console")
	brokerApp := ""
	for _, c := range info.Sandbox.Clients() {
		if c.Name == "twitchauth broker (sandbox)" {
			brokerApp = c.ID
		}
	}
	clickLink("manage the broker's application", "/console/apps/"+brokerApp)
	waitFor("the broker's application", text, "OAuth Redirect URLs")
	do("New Secret", chromedp.Click(chromedp.ID("new-secret")))
	waitFor("the confirmation", text, "Generate a new client secret")
	browsertest.Screenshot(t, ctx, "walk-5-console-confirm")
	clickLink("cancel", "/console/apps/"+brokerApp)
	waitFor("back on the application", text, "OAuth Redirect URLs")
	if c, _ := info.Sandbox.Client(brokerApp); info.Broker.CredentialProblem() != nil || c.Secret == "" {
		t.Fatalf("cancelling New Secret hurt the broker: %v", info.Broker.CredentialProblem())
	}
	clickLink("back to the broker", strings.TrimRight(info.URL, "/")+"/")
	waitFor("the broker's accounts", `document.getElementById('accounts') ? document.getElementById('accounts').innerText : ''`, second.Login)

	// 4. The rig through the broker's link: the example panel gets a
	// viewer's token and Helix answers it; Exhaust counts down.
	clickLink("extension rig", "/sandbox/rig/")
	waitFor("the rig's status", `document.getElementById('status') ? document.getElementById('status').textContent : ''`, "token expires in")
	waitFor("the panel's Helix call", `(function(){var f=document.getElementById('extension-frame');var d=f&&f.contentDocument;var e=d&&d.getElementById('broadcaster');return e?e.textContent:'';})()`, "Broadcaster")
	eval(`(function(){document.getElementById('exhaust').click();return ''})()`)
	waitFor("the bucket's countdown", `document.getElementById('bucket').textContent`, "resets in")
	browsertest.Screenshot(t, ctx, "walk-6-rig")
}
