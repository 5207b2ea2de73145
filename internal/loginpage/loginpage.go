// Package loginpage renders the pages a local login redirect server shows
// in the browser at the end of a Twitch login: the code flow's result page
// (internal/cli/token) and the implicit flow's hand-over page
// (twitchauth.ImplicitPage), so that both look the same. It owns that
// markup only; what the pages say is the caller's.
package loginpage

import (
	"html/template"
	"io"
	"sync"
)

// Kind is how a page's heading is shown.
type Kind int

const (
	// Waiting: the login is being completed (neutral).
	Waiting Kind = iota
	// OK: the login succeeded (green).
	OK
	// Failed: the login failed or was refused (red).
	Failed
)

// Page is one page.
type Page struct {
	Title   string
	Message string
	Kind    Kind
	// PostBack adds the implicit flow's script: it POSTs location.hash (or
	// the query, where Twitch puts denials) back to the page's own path as
	// the form field "fragment", removes it from the address bar, and shows
	// the JSON answer's title and message. It runs under Nonce, which the
	// caller's Content-Security-Policy must allow (script-src 'nonce-…').
	PostBack bool
	Nonce    string
}

// class maps a Kind to its CSS class.
func (p Page) Class() string {
	switch p.Kind {
	case OK:
		return "ok"
	case Failed:
		return "fail"
	}
	return "wait"
}

// Render writes p as a whole HTML document. Its only style is inline
// (style-src 'unsafe-inline'); it loads nothing.
func Render(w io.Writer, p Page) error { return tmpl().Execute(w, p) }

// tmpl is parsed on first use, not at program start (issue 21).
var tmpl = sync.OnceValue(func() *template.Template { return template.Must(template.New("page").Parse(pageSource)) })

const pageSource = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>{{.Title}} – twitchauth</title>
<style>
:root{color-scheme:light dark}
body{font-family:system-ui,sans-serif;margin:0;padding:4em 1.25em;line-height:1.5;background:#f7f7f8;color:#0e0e10}
main{max-width:36em;margin:0 auto}
h1{margin:0 0 .5em;font-size:1.6em;line-height:1.25}
h1.ok{color:#2e7d32} h1.fail{color:#b71c1c} h1.wait{color:#53535f}
.brand{font-size:.8em;letter-spacing:.08em;text-transform:uppercase;color:#6b2fd6;margin:0 0 1em}
@media (prefers-color-scheme:dark){body{background:#0e0e10;color:#efeff1} h1.ok{color:#5cdb95} h1.fail{color:#ff6b6b} h1.wait{color:#adadb8} .brand{color:#bf94ff}}
</style></head>
<body><main>
<p class="brand">twitchauth</p>
<h1 id="title" class="{{.Class}}">{{.Title}}</h1>
<p id="msg">{{.Message}}</p>
{{if .PostBack}}<noscript><p>This page needs JavaScript to hand the login over to the application.</p></noscript>
<script nonce="{{.Nonce}}">
(function () {
  var data = location.hash ? location.hash.substring(1) : location.search.substring(1);
  history.replaceState(null, "", location.pathname);
  var title = document.getElementById("title"), msg = document.getElementById("msg");
  function show(t, m, cls) { title.textContent = t; title.className = cls; msg.textContent = m; document.title = t + " – twitchauth"; }
  fetch(location.pathname, {
    method: "POST",
    headers: {"Content-Type": "application/x-www-form-urlencoded"},
    body: "fragment=" + encodeURIComponent(data),
    cache: "no-store",
    credentials: "same-origin"
  }).then(function (r) { return r.json(); })
    .then(function (j) { show(j.title || "Login", j.message, j.status === "ok" ? "ok" : "fail"); })
    .catch(function () { show("Login failed", "Could not reach the application. You can close this window and try again.", "fail"); });
})();
</script>{{end}}
</main></body></html>
`
