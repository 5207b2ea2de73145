package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/time/rate"

	"github.com/twitchauth/twitchauth/internal/browsertest"

	"github.com/twitchauth/twitchauth/examples/extension/backend"
	"github.com/twitchauth/twitchauth/extension"
	"github.com/twitchauth/twitchauth/rig"
	"github.com/twitchauth/twitchauth/twitchtest"
)

var quiet = slog.New(slog.DiscardHandler)

// secretOf returns the sandbox extension's secret as the developer console
// shows it (base64).
func secretOf(t testing.TB, sb *twitchtest.Server) string {
	t.Helper()
	secs, err := sb.ExtensionSecrets(sb.ExtensionClient().ID)
	if err != nil {
		t.Fatal(err)
	}
	return secs[0].Content
}

func TestFromEnv(t *testing.T) {
	files := map[string][]byte{"/s": []byte(" c2VjcmV0\n")}
	read := func(p string) ([]byte, error) {
		if b, ok := files[p]; ok {
			return b, nil
		}
		return nil, os.ErrNotExist
	}
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	cfg, err := fromEnv(env("TWITCH_EXTENSION_SECRET_FILE", "/s", "EBS_ALLOWED_ORIGINS", "http://127.0.0.1:8070, http://x"), read)
	if err != nil || len(cfg.Secrets) != 1 || string(cfg.Secrets[0].Secret) != "secret" || len(cfg.AllowedOrigins) != 2 || cfg.Addr != "127.0.0.1:8081" {
		t.Errorf("from a secret file: %+v %v", cfg, err)
	}
	// The older names still work, with one warning each.
	var warned []string
	old := withDeprecated(env("EXTENSION_SECRET_FILE", "/s", "EXTENSION_CLIENT_ID", "abc"), func(o, _ string) { warned = append(warned, o) })
	if cfg, err := fromEnv(old, read); err != nil || len(cfg.Secrets) != 1 || cfg.ClientID != "abc" || len(warned) != 2 {
		t.Errorf("older names: %+v %v, warned %v", cfg, err, warned)
	}
	for name, getenv := range map[string]func(string) string{
		"no secret":      env("EBS_ALLOWED_ORIGINS", "http://x"),
		"missing file":   env("TWITCH_EXTENSION_SECRET_FILE", "/nope", "EBS_ALLOWED_ORIGINS", "http://x"),
		"bad secret":     env("TWITCH_EXTENSION_SECRET", "!!!", "EBS_ALLOWED_ORIGINS", "http://x"),
		"no origin":      env("TWITCH_EXTENSION_SECRET", "c2VjcmV0"),
		"only blank env": env("TWITCH_EXTENSION_SECRET", " , ", "TWITCH_EXTENSION_CLIENT_ID", "abc"),
	} {
		if _, err := fromEnv(getenv, read); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestEBS checks the backend over HTTP: 200 with a greeting for a valid
// token, 401 for an expired one (readable by the rig's origin), 429 past the
// viewer's burst, CORS preflight.
func TestEBS(t *testing.T) {
	sb := twitchtest.NewServer(t)
	sec, _ := extension.ParseSecret(secretOf(t, sb))
	const origin = "http://127.0.0.1:8080"
	// A burst of 2 that refills once an hour: the sleep below (up to 1 s)
	// must not refill the viewer's bucket before the 429 check.
	h, err := newHandler(config{Secrets: []extension.Secret{sec}, AllowedOrigins: []string{origin}, ViewerRate: rate.Every(time.Hour), ViewerBurst: 2, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	vw, _ := sb.User("viewer")
	ch, _ := sb.User("broadcaster")
	tok, err := sb.MintExtensionJWT(twitchtest.ExtJWTOptions{Role: "viewer", ChannelID: ch.ID, UserID: vw.ID})
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, token string) (*http.Response, string) {
		req, _ := http.NewRequest(method, srv.URL+"/api/greeting", nil)
		req.Header.Set("Origin", origin)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if method == http.MethodOptions {
			req.Header.Set("Access-Control-Request-Method", "GET")
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	if resp, _ := call(http.MethodOptions, ""); resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != origin {
		t.Errorf("preflight: %d %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	resp, body := call("GET", tok)
	var g backend.Reply
	if err := json.Unmarshal([]byte(body), &g); err != nil || resp.StatusCode != 200 || g.Message != "Hello, viewer "+vw.ID+"! Your JWT checks out." || g.ChannelID != ch.ID || !g.Linked {
		t.Errorf("greeting: %d %s", resp.StatusCode, body)
	}
	expired, _ := sb.MintExtensionJWT(twitchtest.ExtJWTOptions{Role: "viewer", ChannelID: ch.ID, TTL: time.Nanosecond})
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 10*time.Millisecond)))
	if resp, _ := call("GET", expired); resp.StatusCode != 401 || resp.Header.Get("Access-Control-Allow-Origin") != origin {
		t.Errorf("expired: %d", resp.StatusCode)
	}
	call("GET", tok) // the burst of 2 is spent
	if resp, _ := call("GET", tok); resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("past the burst: %d %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// TestHelperCopyIsCurrent keeps frontend/twitchauth-ext.js equal to the
// helper the rig serves (extensions ship their own copy; Twitch hosts no
// third-party scripts).
func TestHelperCopyIsCurrent(t *testing.T) {
	b, err := os.ReadFile("frontend/twitchauth-ext.js")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, rig.HelperJS()) {
		t.Fatal("frontend/twitchauth-ext.js differs from the rig's; refresh it: go run ./cmd/twitchauth rig --print-helper > examples/extension/frontend/twitchauth-ext.js")
	}
}

// TestPanelInRig loads the example in the rig in headless Chromium as a
// logged-in viewer: the broadcaster's name from Helix and the EBS's
// greeting appear; an expired token is handled (401, new token, retry) and
// so is an exhausted Helix bucket (429, Ratelimit-Reset, retry).
func TestPanelInRig(t *testing.T) {
	browsertest.Require(t)
	// A 6-second viewer window keeps the 429 wait short (Exhaust holds the
	// bucket empty for one window); the bucket still holds 30 requests, as
	// on Twitch.
	sb := twitchtest.NewServer(t, twitchtest.WithExtensionViewerRateLimit(30, 6*time.Second))

	rigSrv := httptest.NewUnstartedServer(nil)
	rigOrigin := "http://" + rigSrv.Listener.Addr().String()

	sec, err := extension.ParseSecret(secretOf(t, sb))
	if err != nil {
		t.Fatal(err)
	}
	ebsHandler, err := newHandler(config{Secrets: []extension.Secret{sec}, AllowedOrigins: []string{rigOrigin}, ViewerRate: 5, ViewerBurst: 20, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ebs := httptest.NewServer(ebsHandler)
	t.Cleanup(ebs.Close)

	r, err := rig.New(rig.Config{Files: os.DirFS("frontend"), Sandbox: sb, EBSURL: ebs.URL, ExpiredRecovery: 2 * time.Second, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	rigSrv.Config.Handler = r
	rigSrv.Start()
	t.Cleanup(func() { r.Close(); rigSrv.Close() })

	browserCtx := browsertest.New(t)

	// eval runs a JavaScript expression returning a string.
	eval := func(expr string) (string, error) {
		ctx, cancel := context.WithTimeout(browserCtx, 5*time.Second)
		defer cancel()
		return chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	}
	frameText := func(id string) string {
		return `(function(){var f=document.getElementById('extension-frame');var d=f&&f.contentDocument;var e=d&&d.getElementById('` + id + `');return e?e.textContent:'';})()`
	}
	topText := func(id string) string {
		return `(function(){var e=document.getElementById('` + id + `');return e?e.textContent:'';})()`
	}
	dump := func() string {
		ev, _ := eval(frameText("events"))
		lg, _ := eval(topText("log"))
		st, _ := eval(topText("status"))
		return "\nstatus: " + st + "\npanel events: " + ev + "\nrig log: " + lg
	}
	// waitFor polls expr until it returns a string for which ok holds.
	waitFor := func(name, expr string, ok func(string) bool, within time.Duration) string {
		t.Helper()
		deadline := time.Now().Add(within)
		var last string
		var err error
		for time.Now().Before(deadline) {
			if last, err = eval(expr); err == nil && ok(last) {
				return last
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("%s: not seen within %v (last %q, %v)%s", name, within, last, err, dump())
		return ""
	}
	click := func(name, expr string) {
		t.Helper()
		if _, err := eval(`(function(){` + expr + `.click();return 'ok';})()`); err != nil {
			t.Fatalf("clicking %s: %v%s", name, err, dump())
		}
	}
	contains := func(s string) func(string) bool { return func(v string) bool { return strings.Contains(v, s) } }

	navCtx, cancelNav := context.WithTimeout(browserCtx, 15*time.Second)
	err = chromedp.Do(navCtx, chromedp.Navigate(rigSrv.URL+"/?view=panel.html&viewer=viewer&identity=linked"))
	cancelNav()
	if err != nil {
		t.Fatalf("opening the rig: %v", err)
	}
	vw, _ := sb.User("viewer")

	// 1. The viewer sees the broadcaster (Helix) and the backend's reply.
	waitFor("broadcaster from Helix", frameText("broadcaster"), func(s string) bool { return s == "Broadcaster" }, 15*time.Second)
	waitFor("EBS greeting", frameText("ebs"), contains("Hello, viewer "+vw.ID+"! Your JWT checks out."), 10*time.Second)
	waitFor("viewer line", frameText("viewer"), contains("viewer U"), 5*time.Second)

	// 2. Expired token: the next onAuthorized carries an expired JWT; a
	// refresh gets 401 from Helix and the EBS, waits for the fresh token
	// and retries.
	click("Expire token", `document.getElementById('expire')`)
	waitFor("expired token delivered", topText("log"), contains("(expired token)"), 10*time.Second)
	click("panel Refresh", `document.getElementById('extension-frame').contentDocument.getElementById('refresh')`)
	ev := waitFor("Helix 401 handled", frameText("events"), func(s string) bool {
		return strings.Contains(s, "helix: 200 after retrying a 401") && strings.Contains(s, "ebs: 200 after retrying a 401")
	}, 15*time.Second)
	if !strings.Contains(ev, "helix: 401, waiting for a new token from onAuthorized") || !strings.Contains(ev, "ebs: 401, waiting for a new token") {
		t.Errorf("the 401 steps are missing from the panel: %s", ev)
	}

	// 3. Exhausted bucket: the rig holds it empty until its reset (the
	// 6-second window), so Helix answers 429 whenever Refresh is pressed
	// before then; fetchHelix waits until Ratelimit-Reset, the panel
	// counts down, and the retry succeeds. Both countdowns last only until
	// the reset, and a loaded machine can spend that long on a few
	// DevTools round trips: the page records every text the two fields
	// take, and presses Refresh itself as soon as the exhaust is logged.
	if _, err := evalAsync(browserCtx, 15*time.Second, `new Promise(function(resolve, reject){
		var seen = window.__seen = {bucket: [], broadcaster: []};
		var watch = function(key, el){
			new MutationObserver(function(){ seen[key].push(el.textContent); })
				.observe(el, {childList: true, characterData: true, subtree: true});
		};
		var panel = document.getElementById('extension-frame').contentDocument;
		watch('bucket', document.getElementById('bucket'));
		watch('broadcaster', panel.getElementById('broadcaster'));
		document.getElementById('exhaust').click();
		var tries = 0;
		var timer = setInterval(function(){
			if (document.getElementById('log').textContent.indexOf(' exhausted: Helix answers 429 until ') >= 0) {
				clearInterval(timer);
				panel.getElementById('refresh').click();
				resolve('ok');
			} else if (++tries > 500) {
				clearInterval(timer);
				reject(new Error('the exhaust was not logged'));
			}
		}, 20);
	})`); err != nil {
		t.Fatalf("exhausting the bucket and pressing Refresh: %v%s", err, dump())
	}
	ev = waitFor("Helix 429 handled", frameText("events"), contains("helix: 200 after retrying a 429"), 15*time.Second)
	if !strings.Contains(ev, "helix: 429, waiting for the rate limit to reset") {
		t.Errorf("the 429 step is missing from the panel: %s", ev)
	}
	seen := func(key string) string {
		s, _ := eval(`window.__seen.` + key + `.join("\n")`)
		return s
	}
	if b := seen("bucket"); !strings.Contains(b, "resets in") || !strings.Contains(b, "429 until") {
		t.Errorf("the bucket status never counted down to the reset: %q", b)
	}
	if b := seen("broadcaster"); !strings.Contains(b, "rate-limited: retrying in") {
		t.Errorf("the panel never counted down to its retry: %q", b)
	}
	if got, _ := eval(frameText("broadcaster")); got != "Broadcaster" {
		t.Errorf("broadcaster after the 429: %q", got)
	}

	// 4. Switching to the broadcaster fires onAuthorized again with the new
	// role; the panel reloads.
	if _, err := eval(`(function(){var s=document.getElementById('viewer');s.value='broadcaster';s.dispatchEvent(new Event('change'));return 'ok';})()`); err != nil {
		t.Fatal(err)
	}
	waitFor("broadcaster greeting", frameText("ebs"), contains("Hello, broadcaster!"), 10*time.Second)
	if err := ctxErr(browserCtx); err != nil {
		t.Fatal(err)
	}
}

// evalAsync runs a JavaScript expression that returns a promise of a
// string, and waits for it.
func evalAsync(browserCtx context.Context, within time.Duration, expr string) (string, error) {
	ctx, cancel := context.WithTimeout(browserCtx, within)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
}

func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
