// Package browsertest starts a headless Chromium for the project's browser
// tests (chromedp), with the flags this project's machines need: no sandbox
// (CI runs as root), no GPU, and no background networking, component
// updates, sync or QUIC, which would otherwise flood a closed network. It
// owns nothing but that browser's lifetime.
package browsertest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumPath is where Debian's chromium package installs the browser.
const ChromiumPath = "/usr/bin/chromium"

// Require skips t when Chromium is not installed, except in CI (CI=true),
// where a missing browser fails the test.
func Require(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(ChromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium is required in CI (apt-get install -y chromium): %v", err)
		}
		t.Skipf("chromium not installed at %s", ChromiumPath)
	}
}

// New starts a headless Chromium with a fresh profile in a temporary
// directory and returns the context of its first tab; the browser stops
// when t ends. It calls Require first. Bound every action run on the
// returned context with a timeout of its own (a context derived from it).
func New(t testing.TB) context.Context {
	t.Helper()
	Require(t)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(ChromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	t.Cleanup(cancelAlloc)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	// Start the browser on browserCtx itself: the context of the first run
	// owns the browser, and bounded contexts derived later would close it.
	startCtx, cancelStart := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelStart()
	stopWatch := context.AfterFunc(startCtx, cancelBrowser)
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	stopWatch()
	return browserCtx
}
