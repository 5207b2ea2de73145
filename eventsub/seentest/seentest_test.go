package seentest_test

import (
	"testing"

	"github.com/twitchauth/twitchauth/eventsub"
	"github.com/twitchauth/twitchauth/eventsub/seentest"
)

func TestMemorySeenStore(t *testing.T) {
	seentest.Run(t, func(*testing.T) eventsub.SeenStore { return eventsub.NewMemorySeenStore(0) })
}
