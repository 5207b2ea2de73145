package token

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/internal/browsertest"
)

// TestLoginPagesInBrowser opens the implicit flow's page in headless
// Chromium after a token redirect and after a denial: its script hands the
// fragment over, takes it off the address bar and turns the heading into
// the result, styled as the code flow's page is (same font, width and
// heading colours), at desktop and phone width.
func TestLoginPagesInBrowser(t *testing.T) {
	browsertest.Require(t)
	ctx := browsertest.New(t)
	run := func(name string, a ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := chromedp.Do(c, a...); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	eval := func(expr string) string {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		v, err := chromedp.Run(c, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}
	// look is what the two pages must share.
	look := func() string {
		return eval(`(function(){var b=getComputedStyle(document.body),m=getComputedStyle(document.querySelector('main')),h=getComputedStyle(document.getElementById('title'));
			return [b.fontFamily,b.backgroundColor,m.maxWidth,h.color,h.fontSize].join(' | ');})()`)
	}

	// The code flow's result pages, as the command serves them.
	code := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			page(w, http.StatusForbidden, "Access denied", "You did not authorize the application. You can close this window.", false)
			return
		}
		page(w, http.StatusOK, "Logged in", "You are logged in to Twitch as twitchdev. You can close this window and return to the terminal.", true)
	}))
	defer code.Close()
	run("code flow page", chromedp.Navigate(code.URL+"/"), chromedp.WaitVisible(chromedp.ID("title")))
	okLook := look()
	run("code flow failure", chromedp.Navigate(code.URL+"/fail"), chromedp.WaitVisible(chromedp.ID("title")))
	failLook := look()
	if okLook == failLook {
		t.Fatalf("success and failure headings look alike: %s", okLook)
	}

	for _, tc := range []struct {
		name, suffix, title, look string
		denied                    bool
	}{
		{"implicit-done", "#access_token=abcdefghij0123456789abcdefghij&scope=chat%3Aread&state=STATE&token_type=bearer", "Logged in", okLook, false},
		{"implicit-denied", "?error=access_denied&error_description=The+user+denied+you+access&state=STATE", "Access denied", failLook, true},
	} {
		state := twitchauth.NewState()
		var mu sync.Mutex
		var got error
		delivered := false
		srv := httptest.NewServer(twitchauth.ImplicitPage(state, func(_ *twitchauth.Token, err error) {
			mu.Lock()
			got, delivered = err, true
			mu.Unlock()
		}))
		run(tc.name, chromedp.Navigate(srv.URL+"/"+strings.Replace(tc.suffix, "STATE", state, 1)))
		deadline := time.Now().Add(10 * time.Second)
		for eval(`document.getElementById('title').textContent`) != tc.title {
			if time.Now().After(deadline) {
				t.Fatalf("%s: heading %q, want %q", tc.name, eval(`document.getElementById('title').textContent`), tc.title)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if l := look(); l != tc.look {
			t.Errorf("%s looks unlike the code flow's page:\n got %s\nwant %s", tc.name, l, tc.look)
		}
		if loc := eval(`location.href`); strings.Contains(loc, "access_token") || strings.Contains(loc, "error=") {
			t.Errorf("%s: the address bar still carries the redirect: %s", tc.name, loc)
		}
		mu.Lock()
		if !delivered || (got != nil) != tc.denied {
			t.Errorf("%s: delivered %v, err %v", tc.name, delivered, got)
		}
		mu.Unlock()
		browsertest.Screenshot(t, ctx, "cli-"+tc.name)
		if tc.denied {
			browsertest.Viewport(t, ctx, browsertest.PhoneWidth, browsertest.PhoneHeight)
			if w := eval(`String(document.documentElement.scrollWidth <= innerWidth)`); w != "true" {
				t.Errorf("the page scrolls sideways at phone width")
			}
			browsertest.Screenshot(t, ctx, "cli-implicit-denied-phone")
			browsertest.Viewport(t, ctx, browsertest.DesktopWidth, browsertest.DesktopHeight)
		}
		srv.Close()
	}
}
