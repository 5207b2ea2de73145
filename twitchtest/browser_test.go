package twitchtest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/twitchauth/twitchauth/internal/browsertest"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// tab drives one headless Chromium tab for the sandbox's pages.
type tab struct {
	t   *testing.T
	ctx context.Context
}

func newTab(t *testing.T) *tab { return &tab{t: t, ctx: browsertest.New(t)} }

func (p *tab) do(name string, a ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	c, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(c, a...); err != nil {
		body, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
		p.t.Fatalf("%s: %v\n%s", name, err, body)
	}
}

func (p *tab) eval(expr string) string {
	p.t.Helper()
	c, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[string](expr))
	if err != nil {
		p.t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// styled checks the page's form controls follow the dark theme (no native
// white boxes) and that the page does not scroll sideways at phone width;
// it saves a screenshot at both widths.
func (p *tab) styled(name string) {
	p.t.Helper()
	if bad := p.eval(`Array.from(document.querySelectorAll('select,input:not([type=hidden]):not([type=radio]):not([type=checkbox]),textarea,button')).filter(function (e) {
			// A light box (or light text on nothing) is a native widget left unstyled.
			var m = getComputedStyle(e).backgroundColor.match(/[\d.]+/g).map(Number);
			var light = 0.2126 * m[0] + 0.7152 * m[1] + 0.0722 * m[2] > 160;
			return (m.length < 4 || m[3] > 0) && light;
		}).map(function (e) { return e.outerHTML.slice(0, 80) + ' ' + getComputedStyle(e).backgroundColor; }).join('\n')`); bad != "" {
		p.t.Errorf("%s: light native controls on the dark theme:\n%s", name, bad)
	}
	browsertest.Screenshot(p.t, p.ctx, name)
	browsertest.Viewport(p.t, p.ctx, browsertest.PhoneWidth, browsertest.PhoneHeight)
	if w := p.eval(`document.documentElement.scrollWidth > innerWidth ? document.documentElement.scrollWidth + ' > ' + innerWidth : ''`); w != "" {
		p.t.Errorf("%s scrolls sideways at phone width: %s", name, w)
	}
	browsertest.Screenshot(p.t, p.ctx, name+"-phone")
	browsertest.Viewport(p.t, p.ctx, browsertest.DesktopWidth, browsertest.DesktopHeight)
}

// TestSandboxPagesInBrowser walks the consent page (user picker, then
// "Signed in as X · Not you?" under force_verify, the switch to another
// user), the sign-out page and the developer console's pages (New Secret's
// confirmation) in headless Chromium, checking the dark theme and phone
// width of each.
func TestSandboxPagesInBrowser(t *testing.T) {
	browsertest.Require(t)
	s := twitchtest.NewServer(t, twitchtest.WithConsoleHome("Back to the app", "http://127.0.0.1:1/"))
	// The application: a page at the redirect URI that shows what came back.
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("the app got: " + r.URL.RawQuery))
	}))
	defer app.Close()
	c, err := s.AddClient(twitchtest.Client{Name: "Browser App", RedirectURIs: []string{app.URL + "/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	p := newTab(t)
	browsertest.Viewport(t, p.ctx, browsertest.DesktopWidth, browsertest.DesktopHeight)
	authorize := authorizeURL(s, c, url.Values{"scope": {"chat:read user:read:email"}, "redirect_uri": {app.URL + "/cb"}})

	// Nobody signed in: the picker.
	p.do("consent page", chromedp.Navigate(authorize), chromedp.WaitVisible(chromedp.CSS("select#login")))
	if text := p.eval(`document.querySelector('main').innerText`); !strings.Contains(text, "Browser App wants to access your Twitch account") || !strings.Contains(text, "user:read:email") {
		t.Errorf("consent page text: %s", text)
	}
	p.styled("sandbox-consent-picker")
	// Authorize as broadcaster: the browser goes to the (unreachable)
	// redirect URI with a code; the sandbox has signed broadcaster in.
	p.do("authorize as broadcaster", chromedp.SetValue(chromedp.CSS("select#login"), "broadcaster"), chromedp.Click(chromedp.CSS(`button[value="authorize"]`)))
	waitLocation(t, p, "code=")

	// force_verify: the page names broadcaster; Not you? brings the picker.
	p.do("signed-in consent page", chromedp.Navigate(authorize+"&force_verify=true"), chromedp.WaitVisible(chromedp.ID("signed-in")))
	if text := p.eval(`document.getElementById('signed-in').innerText`); !strings.Contains(text, "Signed in as Broadcaster") || !strings.Contains(text, "Not you?") {
		t.Errorf("signed-in line: %q", text)
	}
	p.styled("sandbox-consent-signed-in")
	p.do("Not you?", chromedp.Click(chromedp.ID("not-you")), chromedp.WaitVisible(chromedp.CSS("select#login")))
	p.do("authorize as moderator", chromedp.SetValue(chromedp.CSS("select#login"), "moderator"), chromedp.Click(chromedp.CSS(`button[value="authorize"]`)))
	loc := waitLocation(t, p, "code=")
	u, _ := url.Parse(loc)
	if v := exchangeCodeAt(t, s, c, u.Query().Get("code"), app.URL+"/cb"); v["login"] != "moderator" {
		t.Fatalf("the switched consent issued a token for %v", v["login"])
	}

	// Sign out.
	p.do("sign-out page", chromedp.Navigate(s.URL()+"/signout"), chromedp.WaitVisible(chromedp.ID("sign-out")))
	if text := p.eval(`document.getElementById('signed-in').innerText`); !strings.Contains(text, "Moderator") {
		t.Errorf("sign-out page: %q", text)
	}
	p.styled("sandbox-signout")
	p.do("sign out", chromedp.Click(chromedp.ID("sign-out")))
	waitText(t, p, "You are signed out")
	p.do("consent after sign-out", chromedp.Navigate(authorize), chromedp.WaitVisible(chromedp.CSS("select#login")))

	// The console: sign in, register, Manage, New Secret asks first.
	p.do("console sign-in", chromedp.Navigate(s.ConsoleURL()), chromedp.WaitVisible(chromedp.CSS("select#login")))
	p.styled("console-signin")
	p.do("sign in", chromedp.SetValue(chromedp.CSS("select#login"), "twitchdev"), chromedp.Click(chromedp.CSS(`button[type="submit"]`)))
	waitText(t, p, "Register Your Application")
	p.do("register form", chromedp.Navigate(s.URL()+"/console/apps/new"), chromedp.WaitVisible(chromedp.ID("name")))
	p.styled("console-register")
	p.do("register", chromedp.SetValue(chromedp.ID("name"), "Browser Chat Bot"), chromedp.SetValue(chromedp.ID("redirect_urls"), "http://localhost:3000"),
		chromedp.SetValue(chromedp.ID("category"), "Chat Bot"), chromedp.Click(chromedp.CSS(`button.primary`)), chromedp.WaitVisible(chromedp.ID("secret-box")))
	if text := p.eval(`document.getElementById('secret-box').innerText`); strings.Contains(text, "stopped working") || !strings.Contains(text, "first secret") {
		t.Errorf("the first secret's box: %q", text)
	}
	first := p.eval(`document.getElementById('client-secret').textContent`)
	p.styled("console-app")
	p.do("New Secret", chromedp.Click(chromedp.ID("new-secret")), chromedp.WaitVisible(chromedp.ID("confirm-new-secret")))
	p.styled("console-confirm-secret")
	appID := p.eval(`document.querySelector('a[href^="/console/apps/"]').getAttribute('href').split('/').pop()`)
	if app, _ := s.Client(appID); app.Secret != first {
		t.Fatal("the confirmation page changed the secret")
	}
	p.do("confirm", chromedp.Click(chromedp.ID("confirm-new-secret")), chromedp.WaitVisible(chromedp.ID("secret-box")))
	if text := p.eval(`document.getElementById('secret-box').innerText`); !strings.Contains(text, "previous secret stopped working") {
		t.Errorf("the new secret's box: %q", text)
	}
	p.do("console home", chromedp.Navigate(s.ConsoleURL()), chromedp.WaitVisible(chromedp.ID("home-link")))
	p.styled("console-home")
}

// waitLocation waits until the tab's URL contains sub (a navigation to an
// unreachable redirect URI still updates it) and returns it.
func waitLocation(t *testing.T, p *tab, sub string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		loc := p.eval(`location.href`)
		if strings.Contains(loc, sub) {
			return loc
		}
		if time.Now().After(deadline) {
			t.Fatalf("the browser did not reach a URL with %q: at %s", sub, loc)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitText waits until the page's text contains sub.
func waitText(t *testing.T, p *tab, sub string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(p.eval(`document.body ? document.body.innerText : ''`), sub) {
		if time.Now().After(deadline) {
			t.Fatalf("the page never said %q:\n%s", sub, p.eval(`document.body ? document.body.innerText : ''`))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
