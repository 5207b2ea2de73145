package rig_test

import (
	"context"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/twitchauth/twitchauth/internal/browsertest"
	"github.com/twitchauth/twitchauth/rig"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// TestChannelPageInBrowser opens the rig's channel page (with the example
// extension) in headless Chromium: styled controls, Exhaust showing a
// countdown to the reset and a readable time in the log, legible headings
// in the light theme, and at phone width one column with the chat under
// the channel and no sideways scrolling.
func TestChannelPageInBrowser(t *testing.T) {
	browsertest.Require(t)
	sb := twitchtest.NewServer(t)
	r, err := rig.New(rig.Config{Files: os.DirFS("../examples/extension/frontend"), Sandbox: sb, EBSURL: "http://127.0.0.1:9", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	t.Cleanup(func() { r.Close(); srv.Close() })
	ctx := browsertest.New(t)
	browsertest.Viewport(t, ctx, browsertest.DesktopWidth, browsertest.DesktopHeight)
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
	waitFor := func(what, expr, sub string) string {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			v := eval(expr)
			if strings.Contains(v, sub) {
				return v
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %q never contained %q", what, v, sub)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	c, cancel := context.WithTimeout(ctx, 15*time.Second)
	err = chromedp.Do(c, chromedp.Navigate(srv.URL+"/?view=panel.html&viewer=viewer"))
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	waitFor("status", `document.getElementById('status').textContent`, "token expires in")

	// Controls are styled, not native light widgets on the dark page.
	if bad := eval(`Array.from(document.querySelectorAll('#controls select,#controls button,#devtools input,#devtools textarea,#devtools select')).filter(function (e) {
			var m = getComputedStyle(e).backgroundColor.match(/[\d.]+/g).map(Number);
			return 0.2126 * m[0] + 0.7152 * m[1] + 0.0722 * m[2] > 160;
		}).map(function (e) { return e.id || e.outerHTML.slice(0, 60); }).join(', ')`); bad != "" {
		t.Errorf("light controls on the dark theme: %s", bad)
	}

	// Exhaust: the bucket's countdown and a readable reset time.
	eval(`(function(){document.getElementById('exhaust').click();return ''})()`)
	bucket := waitFor("bucket countdown", `document.getElementById('bucket').textContent`, "resets in")
	if !strings.Contains(bucket, "429 until ") {
		t.Errorf("bucket: %q", bucket)
	}
	line := waitFor("exhaust log line", `document.getElementById('log').textContent`, " exhausted: ")
	reset := waitFor("reset in the log", `(function(){var m=document.getElementById('log').textContent.match(/Ratelimit-Reset (\d+)/);return m?m[1]:''})()`, "")
	n, _ := strconv.ParseInt(reset, 10, 64)
	local := eval(`new Date(` + strconv.FormatInt(n*1000, 10) + `).toLocaleTimeString()`)
	if n == 0 || !strings.Contains(line, "until "+local) {
		t.Errorf("the log does not say when the bucket resets in local time (%s): %s", local, line)
	}
	browsertest.Screenshot(t, ctx, "rig-desktop")

	// Light theme: every heading and label reads at WCAG AA (4.5:1).
	eval(`(function(){var s=document.getElementById('theme');s.value='light';s.dispatchEvent(new Event('change'));return ''})()`)
	waitFor("light theme", `document.body.className`, "theme-light")
	if low := eval(`(function(){
		function lum(c){var m=c.match(/[\d.]+/g).map(Number).slice(0,3).map(function(v){v/=255;return v<=0.03928?v/12.92:Math.pow((v+0.055)/1.055,2.4);});return 0.2126*m[0]+0.7152*m[1]+0.0722*m[2];}
		var bg=lum(getComputedStyle(document.body).backgroundColor), out=[];
		document.querySelectorAll('h2,#controls label,.muted,.brand,#status').forEach(function(e){
			var l=lum(getComputedStyle(e).color), r=(Math.max(l,bg)+0.05)/(Math.min(l,bg)+0.05);
			if(r<4.5) out.push((e.id||e.tagName+' '+e.textContent.slice(0,20))+' '+r.toFixed(2));
		});
		return out.join(', ');})()`); low != "" {
		t.Errorf("low-contrast text in the light theme: %s", low)
	}
	browsertest.Screenshot(t, ctx, "rig-light")
	eval(`(function(){var s=document.getElementById('theme');s.value='dark';s.dispatchEvent(new Event('change'));return ''})()`)

	// Phone width: one column, chat under the channel, nothing overlaps.
	browsertest.Viewport(t, ctx, browsertest.PhoneWidth, browsertest.PhoneHeight)
	if w := eval(`document.documentElement.scrollWidth > innerWidth ? document.documentElement.scrollWidth + ' > ' + innerWidth : ''`); w != "" {
		t.Errorf("the channel page scrolls sideways at phone width: %s", w)
	}
	if layout := eval(`(function(){var s=document.getElementById('stage').getBoundingClientRect(),c=document.getElementById('chat').getBoundingClientRect();
		return c.top >= s.bottom - 1 ? '' : 'chat '+JSON.stringify(c)+' overlaps stage '+JSON.stringify(s);})()`); layout != "" {
		t.Errorf("phone layout: %s", layout)
	}
	browsertest.Screenshot(t, ctx, "rig-phone")
}
