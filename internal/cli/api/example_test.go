package api_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/twitchauth/twitchauth/internal/cli/api"
	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
	"github.com/twitchauth/twitchauth/internal/cli/config"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// `twitchauth api get users -q login=twitchdev --raw` against the sandbox:
// the app access token is fetched (and kept in the token store), the call
// goes through the Transport, and the JSON answer is printed.
func ExampleRun() {
	client := twitchtest.Client{ID: "exampleclient0123456789abcdef", Secret: "example-secret-0123456789abcdef",
		Name: "example", RedirectURIs: []string{"http://localhost:3000"}}
	srv, err := twitchtest.New(twitchtest.WithClient(client))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	dir, _ := os.MkdirTemp("", "api-example")
	defer os.RemoveAll(dir)
	env := map[string]string{
		"HOME": dir, "XDG_CONFIG_HOME": dir + "/config", "XDG_DATA_HOME": dir + "/data",
		config.EnvClientID: client.ID, config.EnvClientSecret: client.Secret,
		config.EnvIDURL: srv.IDURL(), config.EnvAPIURL: srv.APIURL(),
	}
	f := &cliutil.Factory{IO: &cliutil.IOStreams{Out: os.Stdout, ErrOut: os.Stderr},
		Getenv: func(k string) string { return env[k] }, Logger: slog.New(slog.DiscardHandler)}

	o := &api.Options{Method: "GET", Path: []string{"users"}, Query: []string{"login=twitchdev"}, JSON: true, Factory: f}
	if err := api.Run(context.Background(), o); err != nil {
		fmt.Println("error:", err)
	}
	// Output:
	// {"data":[{"id":"141981764","login":"twitchdev","display_name":"TwitchDev","type":"","broadcaster_type":"","description":"","profile_image_url":"https://static-cdn.jtvnw.net/jtv_user_pictures/twitchdev-profile_image-300x300.png","offline_image_url":"","view_count":0,"created_at":"2012-02-29T07:00:08Z"}]}
}
