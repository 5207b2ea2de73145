package config_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/twitchauth/twitchauth/internal/cli/config"
)

// Flags override the environment, which overrides the configuration file;
// the secret never appears when settings are printed.
func ExampleResolve() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	env := map[string]string{"XDG_CONFIG_HOME": dir, config.EnvClientSecret: "from-env"}
	getenv := func(k string) string { return env[k] }

	_ = config.WriteFile(filepath.Join(dir, "twitchauth", "config.json"),
		config.File{ClientID: "from-file", ClientSecret: "from-file"})

	s, err := config.Resolve(getenv, config.Overrides{ClientID: "from-flag"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.ClientID, "/", s.ClientIDFrom)
	fmt.Println(s.ClientSecret, "/", s.SecretFrom)
	fmt.Println(s.Require(config.NeedSecret, "an app token") == nil)
	fmt.Println(config.File{ClientID: "id", ClientSecret: "shh"})
	// Output:
	// from-flag / flag
	// from-env / environment
	// true
	// client_id="id" client_secret=(set, hidden) id_url="" api_url=""
}
