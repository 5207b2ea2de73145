package twitchtest

import (
	"bytes"
	"html/template"
	"net/http"
)

// The sandbox's HTML pages: plain forms that work without JavaScript.
var pages = template.Must(template.New("layout").Parse(`{{define "head"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · Twitch sandbox</title>
<style>
body{font-family:system-ui,sans-serif;background:#0e0e10;color:#efeff1;margin:0;display:flex;justify-content:center}
main{background:#18181b;margin:3rem 1rem;padding:2rem;border-radius:8px;max-width:32rem;width:100%}
h1{font-size:1.3rem} .sandbox{color:#bf94ff;font-size:.8rem;text-transform:uppercase;letter-spacing:.1em}
ul{padding-left:1.2rem} li{margin:.4rem 0} code{background:#26262c;padding:0 .2rem;border-radius:3px}
.error{border-left:4px solid #eb0400;padding-left:1rem} .muted{color:#adadb8;font-size:.9rem}
button{font-size:1rem;padding:.5rem 1.2rem;border-radius:4px;border:0;margin-right:.5rem;cursor:pointer}
button.primary{background:#9147ff;color:#fff} button.secondary{background:#3a3a3d;color:#efeff1}
select,input{font:inherit;font-size:1rem;padding:.4rem .5rem;margin:.3rem 0 1rem;background:#0e0e10;color:#efeff1;border:1px solid #3a3a3d;border-radius:4px;color-scheme:dark}
</style></head><body><main><p class="sandbox">Twitch sandbox (twitchtest) — not twitch.tv</p>{{end}}
{{define "foot"}}</main></body></html>{{end}}

{{define "error"}}{{template "head" .}}
<div class="error"><h1>{{.Title}}</h1><p>{{.Message}}</p>
{{with .Details}}<ul>{{range .}}<li><code>{{.}}</code></li>{{end}}</ul>{{end}}</div>
{{template "foot"}}{{end}}

{{define "consent"}}{{template "head" .}}
<h1><strong>{{.AppName}}</strong> wants to access your Twitch account</h1>
{{if .Scopes}}<p>This will allow {{.AppName}} to:</p>
<ul>{{range .Scopes}}<li>{{.Description}} <span class="muted"><code>{{.Name}}</code></span></li>{{end}}</ul>
{{else}}<p>{{.AppName}} asks for no permissions beyond your public profile.</p>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="consent_id" value="{{.ConsentID}}">
<label for="login">Sign in as</label><br>
<select id="login" name="login">{{range .Users}}<option value="{{.Login}}"{{if eq .Login $.Selected}} selected{{end}}>{{.DisplayName}} ({{.Login}}, id {{.ID}})</option>{{end}}</select><br>
<button class="primary" type="submit" name="action" value="authorize">Authorize</button>
<button class="secondary" type="submit" name="action" value="cancel">Cancel</button>
</form>
<p class="muted">You will be redirected to <code>{{.RedirectURI}}</code></p>
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
`))

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
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
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
