package rig_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing/fstest"

	"github.com/twitchauth/twitchauth/rig"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// Mount the rig under a path of a server that also runs the sandbox, as
// `twitchauth serve --sandbox` does. The extension's page gets the rig's
// stand-in for Twitch's helper script, by a URL relative to the page.
func ExampleNew() {
	sb, err := twitchtest.New()
	if err != nil {
		log.Fatal(err)
	}
	defer sb.Close()
	files := fstest.MapFS{"panel.html": {Data: []byte(`<head><script src="https://extension-files.twitch.tv/helper/v1/twitch-ext.min.js"></script></head>`)}}
	r, err := rig.New(rig.Config{Files: files, Sandbox: sb})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	mux := http.NewServeMux()
	mux.Handle("/sandbox/rig/", http.StripPrefix("/sandbox/rig", r))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/sandbox/rig/ext/panel.html")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Header.Get("X-Twitchauth-Rig-Helper"))
	fmt.Println(string(page))
	// Output:
	// substituted
	// <head><script src="../rig/twitch-ext.min.js"></script></head>
}
