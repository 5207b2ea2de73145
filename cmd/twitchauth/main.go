// Command twitchauth gets and keeps Twitch tokens: a CLI compatible with
// twitch-cli's token flags, a token broker (serve) and an offline Twitch
// sandbox (mock). See the README for every command.
package main

import (
	"os"

	"github.com/twitchauth/twitchauth/internal/cli/root"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	os.Exit(root.Main(version, os.Args[1:]))
}
