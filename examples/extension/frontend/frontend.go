// Package frontend embeds the example extension's front end (panel.html and
// its script, style and the twitchauth-ext.js helper), so that programs such
// as `twitchauth serve --sandbox` can serve it in the rig without a checkout.
package frontend

import "embed"

// Files holds panel.html, panel.js, panel.css and twitchauth-ext.js.
//
//go:embed panel.html panel.js panel.css twitchauth-ext.js
var Files embed.FS
