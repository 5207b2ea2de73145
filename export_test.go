package twitchauth

import (
	"context"
	"github.com/twitchauth/twitchauth/internal/ratelimit"
	"time"
)

// SetSleep replaces the wait between device-flow polls (tests only).
func SetSleep(c *Config, f func(ctx context.Context, d time.Duration) error) { c.sleep = f }

// Bucket returns the pacer's view of a bucket (tests only).
func (p *Pacer) Bucket(key string) (ratelimit.Header, bool) { return p.snapshot(key) }
