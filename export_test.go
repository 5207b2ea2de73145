package twitchauth

import (
	"context"
	"time"
)

// SetSleep replaces the wait between device-flow polls (tests only).
func SetSleep(c *Config, f func(ctx context.Context, d time.Duration) error) { c.sleep = f }
