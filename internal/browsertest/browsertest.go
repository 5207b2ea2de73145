// Package browsertest starts a headless Chromium for the project's browser
// tests (chromedp), with the flags this project's machines need: no sandbox
// (CI runs as root), no GPU, and no background networking, component
// updates, sync or QUIC, which would otherwise flood a closed network. It
// owns nothing but that browser's lifetime.
package browsertest

import (
	"context"
	"os"
	"path/filepath"
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

// ScreenshotsEnv names the environment variable that makes Screenshot save
// pictures: a directory (created if missing). Unset, Screenshot does
// nothing, so tests never write outside their temporary directories.
const ScreenshotsEnv = "TWITCHAUTH_SCREENSHOTS"

// Screenshot saves a full-page PNG of the current page of ctx as
// $TWITCHAUTH_SCREENSHOTS/name.png, for a person to look at once; without
// the variable it does nothing. A failure is reported with t.Errorf.
func Screenshot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv(ScreenshotsEnv)
	if dir == "" {
		return
	}
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(c, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Errorf("screenshot %s: %v", name, err)
	}
}

// Viewport sizes for EmulateViewport.
const (
	// PhoneWidth, PhoneHeight: a common phone in portrait (CSS pixels).
	PhoneWidth, PhoneHeight = 390, 844
	// DesktopWidth, DesktopHeight: a laptop screen.
	DesktopWidth, DesktopHeight = 1280, 800
)

// Viewport sets the page's viewport to width × height CSS pixels.
func Viewport(t testing.TB, ctx context.Context, width, height int64) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(c, chromedp.EmulateViewport(width, height)); err != nil {
		t.Fatalf("viewport %dx%d: %v", width, height, err)
	}
}
