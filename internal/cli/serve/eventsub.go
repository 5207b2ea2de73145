package serve

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/twitchauth/twitchauth/broker"
	"github.com/twitchauth/twitchauth/eventsub"
	"github.com/twitchauth/twitchauth/internal/cli/config"
)

// eventSubSecret returns the EventSub webhook secret: from
// eventsub_secret_file when set (a file only its owner may read), else from
// eventsub_secret; "" when neither is set (no EventSub callback). A secret
// Twitch would refuse (10 to 100 ASCII characters) is an error that never
// quotes it.
func eventSubSecret(v values) (eventsub.Secret, error) {
	var s string
	if path := v.get("eventsub_secret_file"); path != "" {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("eventsub_secret_file: %w", err)
		}
		if err := config.CheckPrivate(path, true); err != nil {
			return "", err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("eventsub_secret_file: %w", err)
		}
		if s = strings.TrimSpace(string(b)); s == "" {
			return "", fmt.Errorf("eventsub_secret_file %s is empty", path)
		}
	} else if _, set := v["eventsub_secret_file"]; set {
		return "", fmt.Errorf("--eventsub-secret-file is empty: give a file path")
	} else {
		s = v.get("eventsub_secret")
	}
	if s == "" {
		return "", nil
	}
	sec := eventsub.Secret(s)
	if err := sec.Check(); err != nil {
		return "", fmt.Errorf("the EventSub secret: %w (generate one with: head -c 32 /dev/urandom | base64)", err)
	}
	return sec, nil
}

// eventSubSecret is --sandbox mode's EventSub secret: the configured one,
// else a new random one, so that the broker subscribes to the in-process
// sandbox's user.authorization.revoke and .grant by itself.
func (s *sandbox) eventSubSecret(configured eventsub.Secret) eventsub.Secret {
	if configured != "" {
		return configured
	}
	b := make([]byte, 24)
	rand.Read(b)
	return eventsub.Secret(hex.EncodeToString(b))
}

// reloadEventSubSecret reads the EventSub secret again (SIGHUP) and hands a
// changed one to the broker, which replaces its subscriptions.
func reloadEventSubSecret(o *Options, b *broker.Broker, log *slog.Logger) {
	if b.EventSubCallback() == "" {
		return
	}
	v, _, err := o.settings()
	if err != nil {
		return // reported by the client secret's reload
	}
	sec, err := eventSubSecret(v)
	switch {
	case err != nil:
		log.Error("reload: EventSub secret not read; keeping the current one", "err", err)
	case sec == "":
		if !o.Sandbox {
			log.Warn("reload: the EventSub secret is no longer configured; keeping the current one until a restart")
		}
	default:
		if err := b.SetEventSubSecret(sec); err != nil {
			log.Error("reload: the EventSub secret was not accepted", "err", err)
		}
	}
}
