package twitchtest

import (
	"bytes"
	"html/template"
	"net/http"
	"sync"
)

// The sandbox's HTML pages: plain forms that work without JavaScript.
// They are parsed on first use, not at program start (issue 21: a
// twitchauth command that runs no sandbox parses no template).
var pages = sync.OnceValue(func() *template.Template {
	t := layoutPages()
	template.Must(t.New("connections").Parse(connectionsPage))
	return t
})

// layoutPages parses the layout and the sandbox's own pages.
func layoutPages() *template.Template {
	return template.Must(template.New("layout").Parse(layoutSource))
}

const layoutSource = `{{define "head"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · Twitch sandbox</title>
<style>
:root{color-scheme:dark}
body{font-family:system-ui,sans-serif;background:#0e0e10;color:#efeff1;margin:0;display:flex;justify-content:center;line-height:1.45}
main{background:#18181b;margin:3rem 1rem;padding:2rem;border-radius:8px;max-width:32rem;width:100%;box-sizing:border-box}
h1{font-size:1.3rem;line-height:1.3} h2{font-size:1.1rem} h3{font-size:1rem;margin-top:1.5rem}
.sandbox{color:#bf94ff;font-size:.8rem;text-transform:uppercase;letter-spacing:.1em;margin-top:0}
ul{padding-left:1.2rem} li{margin:.4rem 0} code{background:#26262c;padding:0 .2rem;border-radius:3px;overflow-wrap:anywhere}
a{color:#bf94ff} .error{border-left:4px solid #eb0400;padding-left:1rem} .muted{color:#adadb8;font-size:.9rem}
label{display:inline-block;margin-top:.5rem;font-weight:600}
button{font:inherit;font-size:1rem;padding:.5rem 1.2rem;border-radius:4px;border:0;margin:.25rem .5rem .25rem 0;cursor:pointer}
button.primary{background:#9147ff;color:#fff} button.primary:hover{background:#772ce8}
button.secondary{background:#3a3a3d;color:#efeff1} button.secondary:hover{background:#464649}
button.danger{background:#eb0400;color:#fff} button.danger:hover{background:#bf0300}
a.button{display:inline-block;font-size:1rem;padding:.5rem 1.2rem;border-radius:4px;background:#3a3a3d;color:#efeff1;text-decoration:none} a.button:hover{background:#464649}
button.link{background:none;color:#bf94ff;padding:0;margin:0;font-size:inherit;text-decoration:underline}
button:focus-visible,select:focus,input:focus,textarea:focus{outline:2px solid #bf94ff;outline-offset:1px}
select,input,textarea{font:inherit;font-size:1rem;color:#efeff1;background:#0e0e10;border:1px solid #53535f;border-radius:4px;padding:.45rem .55rem;margin:.3rem 0 1rem;max-width:100%;box-sizing:border-box}
input[type=radio],input[type=checkbox]{margin:0 .3rem 0 0;accent-color:#9147ff}
.account{background:#26262c;border-radius:6px;padding:.6rem .8rem}
.actions{display:flex;flex-wrap:wrap;gap:.5rem;margin-top:1rem} .actions button{margin:0}
@media (max-width:480px){main{margin:0;border-radius:0;padding:1.25rem;min-height:100vh}}
</style></head><body><main><p class="sandbox">Twitch sandbox (twitchtest) — not twitch.tv</p>{{end}}
{{define "foot"}}</main></body></html>{{end}}

{{define "error"}}{{template "head" .}}
<div class="error"><h1>{{.Title}}</h1><p>{{.Message}}</p>
{{with .Details}}<ul>{{range .}}<li><code>{{.}}</code></li>{{end}}</ul>{{end}}</div>
{{template "foot"}}{{end}}

{{define "consent"}}{{template "head" .}}
<h1><strong>{{.AppName}}</strong> wants to access your Twitch account</h1>
<form method="post" action="{{.Action}}">
<input type="hidden" name="consent_id" value="{{.ConsentID}}">
{{with .SignedIn}}<p class="account" id="signed-in">Signed in as <strong>{{.DisplayName}}</strong> <span class="muted">({{.Login}}, id {{.ID}})</span> · <button class="link" id="not-you" type="submit" name="action" value="switch">Not you?</button></p>
<input type="hidden" name="login" value="{{.Login}}">
{{else}}<label for="login">Sign in as</label><br>
<select id="login" name="login">{{range .Users}}<option value="{{.Login}}">{{.DisplayName}} ({{.Login}}, id {{.ID}})</option>{{end}}</select><br>
<span class="muted">A sandbox has no passwords: pick the user who signs in.</span>{{end}}
{{if .Scopes}}<p>This will allow {{.AppName}} to:</p>
<ul>{{range .Scopes}}<li>{{.Description}} <span class="muted"><code>{{.Name}}</code></span></li>{{end}}</ul>
{{else}}<p>{{.AppName}} asks for no permissions beyond your public profile.</p>{{end}}
<div class="actions">
<button class="primary" type="submit" name="action" value="authorize">Authorize</button>
<button class="secondary" type="submit" name="action" value="cancel">Cancel</button>
</div>
</form>
<p class="muted">You will be redirected to <code>{{.RedirectURI}}</code></p>
{{template "foot"}}{{end}}

{{define "signout"}}{{template "head" .}}
<h1>Sign out of the Twitch sandbox</h1>
{{with .SignedIn}}<p class="account" id="signed-in">Signed in as <strong>{{.DisplayName}}</strong> <span class="muted">({{.Login}}, id {{.ID}})</span></p>
{{else}}<p id="signed-in">Nobody is signed in.</p>{{end}}
<form method="post" action="{{.Action}}"><div class="actions"><button class="primary" id="sign-out" type="submit">Sign out</button></div></form>
<p class="muted">After signing out, the next consent page asks which sandbox user signs in.</p>
{{template "foot"}}{{end}}

{{define "activate"}}{{template "head" .}}
<h1>Activate your device</h1>
<p>Enter the code shown on your device.</p>
<form method="post" action="{{.Action}}">
<label for="code">Code</label><br>
<input id="code" name="user_code" value="{{.UserCode}}" maxlength="8" autocomplete="off" required><br>
<label for="login">Sign in as</label><br>
<select id="login" name="login">{{range .Users}}<option value="{{.Login}}"{{if eq .Login $.Selected}} selected{{end}}>{{.DisplayName}} ({{.Login}}, id {{.ID}})</option>{{end}}</select><br>
{{with .AppName}}<p><strong>{{.}}</strong> will be able to:</p>{{end}}
{{with .Scopes}}<ul>{{range .}}<li>{{.Description}} <span class="muted"><code>{{.Name}}</code></span></li>{{end}}</ul>{{end}}
<button class="primary" type="submit" name="action" value="authorize">Authorize</button>
<button class="secondary" type="submit" name="action" value="deny">Deny</button>
</form>
{{template "foot"}}{{end}}

{{define "done"}}{{template "head" .}}
<h1>{{.Title}}</h1><p>{{.Message}}</p>
{{template "foot"}}{{end}}
`

// scopeView is a scope as the pages show it.
type scopeView struct{ Name, Description string }

func scopeViews(scopes []string) []scopeView {
	out := make([]scopeView, 0, len(scopes))
	for _, s := range scopes {
		out = append(out, scopeView{Name: s, Description: scopeCatalogue[s]})
	}
	return out
}

// pageError is an error shown as an HTML page (never a redirect).
type pageError struct {
	Status  int
	Title   string
	Message string
	Details []string
}

func (e *pageError) Error() string {
	msg := e.Title + ": " + e.Message
	for _, d := range e.Details {
		msg += " [" + d + "]"
	}
	return msg
}

func renderPage(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := pages().ExecuteTemplate(&buf, name, data); err != nil {
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func renderError(w http.ResponseWriter, e *pageError) {
	renderPage(w, e.Status, "error", e)
}
