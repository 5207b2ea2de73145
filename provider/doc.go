// Package provider keeps Twitch tokens valid for one application: its app
// token and the grants of many users, keyed by user ID, with named intents
// ("chat", "broadcaster") pointing at users. It is the lifecycle built on
// the protocol client of package twitchauth.
//
// A Subject names whose token is wanted — App(), User(id) or Intent(name),
// with one textual form "app", "user:<id>", "intent:<name>" (ParseSubject)
// — and every method that acts on a token takes one: Token, TokenSource,
// Refresh, Invalidate, Validate, TokenWithScopes; the Hooks receive one.
//
//	p, err := provider.New(ctx, provider.Config{OAuth: cfg, Store: st})
//	tok, err := p.Token(ctx, provider.Intent("chat"))
//	hx := twitchauth.NewHelix(twitchauth.NewTransport(twitchauth.TransportConfig{
//		Config: cfg, Source: p.TokenSource(provider.User(userID)),
//	}))
//
// A Provider renews each token with exactly one upstream request however
// many goroutines ask (after expiry or a 401), saves every rotated refresh
// token to a store.Store before handing out the new access token, and
// validates every token at start and hourly, as Twitch requires
// (RunValidation). Stores shared by several processes (PostgreSQL) add a
// per-grant lease, so that one replica refreshes, and a change feed
// (Watch) that keeps every replica's cache coherent. Health lists what the
// Provider knows to be wrong (tokens the store refused, records it cannot
// read).
//
// The files follow the concepts: provider.go (Config, the token API),
// subject.go, cache.go (the lock-free cache and its coherence with the
// store), renew.go (the renewal, step by step), accounts.go (users and
// intents), tokensource.go, validate.go, health.go, errors.go.
//
// The package owns the token lifecycle. It speaks to Twitch only through
// package twitchauth and persists only through package store; it never
// imports the sandbox (package twitchtest), nor the broker.
package provider
