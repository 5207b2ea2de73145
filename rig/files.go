package rig

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"
)

//go:embed assets
var assets embed.FS

// HelperJS returns twitchauth-ext.js, the helper for extension front ends
// (fetchHelix, fetchEBS). It has no dependency on the rig: copy it into your
// extension's folder (Twitch hosts only your own files and its helper) and
// include it after Twitch's helper script. `twitchauth rig --print-helper`
// prints it.
func HelperJS() []byte {
	b, err := assets.ReadFile("assets/twitchauth-ext.js")
	if err != nil {
		panic("rig: embedded helper missing: " + err.Error())
	}
	return b
}

// HelperScriptURL is the address of Twitch's extension helper that
// front ends include; the rig substitutes its own stand-in for it.
const HelperScriptURL = "https://extension-files.twitch.tv/helper/v1/twitch-ext.min.js"

// helperURLPattern matches Twitch's helper URL in any of the forms pages
// use (scheme-relative, with or without .min, with a query).
var helperURLPattern = lazyRegexp(`(?i)(?:https?:)?//extension-files\.twitch\.tv/helper/v1/twitch-ext(?:\.min)?\.js(?:\?[^"'\s>]*)?`)

// headOpen finds the <head> tag, where a missing helper is injected.
var headOpen = lazyRegexp(`(?i)<head(?:\s[^>]*)?>`)

// Header values of X-Twitchauth-Rig-Helper on extension pages.
const (
	helperSubstituted = "substituted"
	helperInjected    = "injected"
)

// rewriteHTML points the page's helper script at the rig's stand-in, or
// injects one when the page has none. rel is the stand-in's URL relative to
// the page.
func rewriteHTML(page []byte, rel string) ([]byte, string) {
	if helperURLPattern().Match(page) {
		return helperURLPattern().ReplaceAllLiteral(page, []byte(rel)), helperSubstituted
	}
	tag := []byte(`<script src="` + rel + `"></script>`)
	if loc := headOpen().FindIndex(page); loc != nil {
		out := make([]byte, 0, len(page)+len(tag))
		out = append(out, page[:loc[1]]...)
		out = append(out, tag...)
		return append(out, page[loc[1]:]...), helperInjected
	}
	return append(tag, page...), helperInjected
}

// viewInfo is one HTML file of the extension.
type viewInfo struct {
	Path string `json:"path"`
	// Anchor is where the channel page shows it: panel, video_overlay,
	// video_component or config (from the file name).
	Anchor string `json:"anchor"`
	// Helper tells whether the page includes Twitch's helper script
	// (Twitch requires it; the rig injects it when missing).
	Helper bool `json:"helper"`
}

// maxViews bounds the HTML files listed.
const maxViews = 200

// views lists the extension's HTML files, skipping hidden folders and
// node_modules.
func (r *Rig) views() ([]viewInfo, error) {
	var out []viewInfo
	err := fs.WalkDir(r.files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules") {
				return fs.SkipDir
			}
			return nil
		}
		ext := strings.ToLower(path.Ext(p))
		if ext != ".html" && ext != ".htm" {
			return nil
		}
		page, err := fs.ReadFile(r.files, p)
		if err != nil {
			return err
		}
		out = append(out, viewInfo{Path: p, Anchor: anchorOf(p), Helper: helperURLPattern().Match(page)})
		if len(out) >= maxViews {
			return errEnoughViews
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnoughViews) {
		return nil, err
	}
	rank := map[string]int{"panel": 0, "video_overlay": 1, "video_component": 2, "mobile": 3, "config": 4, "live_config": 5}
	sort.SliceStable(out, func(i, j int) bool {
		ri, rj := rank[out[i].Anchor], rank[out[j].Anchor]
		if ri != rj {
			return ri < rj
		}
		return out[i].Path < out[j].Path
	})
	return out, nil
}

// anchorOf guesses the extension anchor from a file name, following
// Twitch's conventional names (panel.html, video_overlay.html,
// video_component.html, mobile.html, config.html, live_config.html).
func anchorOf(p string) string {
	n := strings.ToLower(path.Base(p))
	switch {
	case strings.Contains(n, "live_config") || strings.Contains(n, "live-config"):
		return "live_config"
	case strings.Contains(n, "config"):
		return "config"
	case strings.Contains(n, "overlay"):
		return "video_overlay"
	case strings.Contains(n, "component"):
		return "video_component"
	case strings.Contains(n, "mobile"):
		return "mobile"
	default:
		return "panel"
	}
}

// serveExtFile serves the extension's files; HTML pages get the helper
// stand-in and a Content-Security-Policy like Twitch's hosting.
func (r *Rig) serveExtFile(w http.ResponseWriter, req *http.Request) {
	name := strings.TrimSuffix(req.PathValue("path"), "/")
	if name == "" {
		name = "."
	}
	if !fs.ValidPath(name) {
		writeError(w, http.StatusBadRequest, "invalid file path")
		return
	}
	st, err := fs.Stat(r.files, name)
	if err != nil {
		writeError(w, http.StatusNotFound, "the extension folder has no "+name)
		return
	}
	if st.IsDir() {
		if !strings.HasSuffix(req.URL.Path, "/") {
			http.Redirect(w, req, path.Base(req.URL.Path)+"/", http.StatusMovedPermanently)
			return
		}
		name = path.Join(name, "index.html")
		if _, err := fs.Stat(r.files, name); err != nil {
			writeError(w, http.StatusNotFound, "the extension folder has no index.html here")
			return
		}
	}
	ext := strings.ToLower(path.Ext(name))
	if ext != ".html" && ext != ".htm" {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, req, r.files, name)
		return
	}
	page, err := fs.ReadFile(r.files, name)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "reading "+name+": "+err.Error())
		return
	}
	// From the page's folder up to the rig's root.
	dir := path.Dir(req.URL.Path) // "/ext" or "/ext/sub"
	rel := strings.Repeat("../", strings.Count(dir, "/")) + "rig/twitch-ext.min.js"
	out, how := rewriteHTML(page, rel)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Twitchauth-Rig-Helper", how)
	if !r.cfg.DisableCSP {
		h.Set("Content-Security-Policy", r.csp())
	}
	_, _ = w.Write(out)
}

// csp is the policy of extension pages: scripts only from the extension's
// own files (Twitch reviews forbid remote scripts; the helper is served by
// the rig from the same origin), connections to the rig (Helix, PubSub) and
// the EBS.
func (r *Rig) csp() string {
	connect := []string{"'self'"}
	if u, err := url.Parse(r.cfg.EBSURL); err == nil && u.Host != "" {
		connect = append(connect, u.Scheme+"://"+u.Host)
	}
	connect = append(connect, r.cfg.ConnectSources...)
	return strings.Join([]string{
		"default-src 'self'",
		"script-src 'self'",
		"style-src 'self' 'unsafe-inline'",
		"img-src 'self' data: blob: https:",
		"media-src 'self' blob: https:",
		"font-src 'self' data:",
		"connect-src " + strings.Join(connect, " "),
		"frame-ancestors 'self'",
		"base-uri 'self'",
		"form-action 'self'",
	}, "; ")
}

// rigConfigJS is the configuration the stand-in helper starts with.
type rigConfigJS struct {
	EBSURL            string `json:"ebsURL,omitempty"`
	ExpiredRecoveryMS int64  `json:"expiredRecoveryMs"`
}

// serveAsset serves the rig's embedded files; twitch-ext.min.js is the
// stand-in helper, prefixed with its configuration.
func (r *Rig) serveAsset(w http.ResponseWriter, req *http.Request) {
	name := req.PathValue("asset")
	file := name
	if name == "twitch-ext.min.js" || name == "twitch-ext.js" {
		file = "twitch-ext.js"
	}
	if file == "channel.html" || !fs.ValidPath(file) {
		writeError(w, http.StatusNotFound, "no rig asset "+name)
		return
	}
	b, err := assets.ReadFile("assets/" + file)
	if err != nil {
		writeError(w, http.StatusNotFound, "no rig asset "+name)
		return
	}
	if file == "twitch-ext.js" {
		cfg, _ := json.Marshal(rigConfigJS{EBSURL: r.cfg.EBSURL, ExpiredRecoveryMS: r.cfg.ExpiredRecovery.Milliseconds()})
		var buf bytes.Buffer
		buf.WriteString("/* twitchauth rig: a stand-in for " + HelperScriptURL + " */\nwindow.__twitchauthRigConfig = ")
		buf.Write(cfg) // encoding/json escapes <, >, &, U+2028 and U+2029
		buf.WriteString(";\n")
		buf.Write(b)
		b = buf.Bytes()
	}
	ct := mime.TypeByExtension(path.Ext(file))
	if ct == "" {
		ct = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(b)
}

// serveChannelPage serves the page that looks like a Twitch channel.
func (r *Rig) serveChannelPage(w http.ResponseWriter, _ *http.Request) {
	b, err := assets.ReadFile("assets/channel.html")
	if err != nil {
		writeError(w, http.StatusInternalServerError, "embedded channel page missing")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-src 'self'; frame-ancestors 'self'; base-uri 'self'; form-action 'self'")
	_, _ = w.Write(b)
}
