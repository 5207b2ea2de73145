package provider

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/twitchauth/twitchauth"

	"github.com/twitchauth/twitchauth/store"
)

// AddUserFromCode exchanges an authorization code and holds the user's
// grant, with the given intents pointing at the user.
func (p *Provider) AddUserFromCode(ctx context.Context, code string, intents ...string) (*twitchauth.Token, error) {
	tok, err := p.cfg().ExchangeCode(ctx, code)
	if err != nil {
		return nil, err
	}
	return p.AddUserToken(ctx, tok, intents...)
}

// AddUserFromDevice waits for the device flow da to complete (see
// Config.PollDevice) and holds the user's grant.
func (p *Provider) AddUserFromDevice(ctx context.Context, da *twitchauth.DeviceAuth, intents ...string) (*twitchauth.Token, error) {
	tok, err := p.cfg().PollDevice(ctx, da)
	if err != nil {
		return nil, err
	}
	return p.AddUserToken(ctx, tok, intents...)
}

// AddUserToken holds an existing user token (from a code exchange, a device
// flow, another program). It is validated first, to learn its user and
// scopes; an app token is refused. Adding a user already held replaces their
// grant.
func (p *Provider) AddUserToken(ctx context.Context, tok *twitchauth.Token, intents ...string) (*twitchauth.Token, error) {
	if tok == nil || tok.AccessToken == "" {
		return nil, errors.New("twitchauth: AddUserToken: no access token")
	}
	info, err := p.cfg().Validate(ctx, tok.AccessToken)
	if err != nil {
		return nil, err
	}
	if info.IsApp() {
		return nil, errors.New("twitchauth: AddUserToken: this is an app access token, not a user token")
	}
	t := *tok
	t.UserID, t.Login, t.ClientID = info.UserID, info.Login, info.ClientID
	t.Scopes = slices.Clone(info.Scopes)
	if info.ExpiresIn > 0 {
		t.Expiry = p.now().Add(info.ExpiresIn)
	}
	key := store.UserKey(t.UserID)
	rec := store.Record{
		Key: p.storeKey(key), ClientID: t.ClientID, UserID: t.UserID, Login: t.Login,
		AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, TokenType: t.TokenType,
		Scopes: t.Scopes, Expiry: t.Expiry, Status: store.StatusActive, LastValidated: p.now(),
	}
	var expect int64
	if old, err := p.store.Load(ctx, rec.Key); err == nil {
		expect = old.Version
		rec.Intents = old.Intents
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	for _, in := range intents {
		if !slices.Contains(rec.Intents, in) {
			rec.Intents = append(rec.Intents, in)
		}
	}
	s := p.addSubject(key, nil)
	e, err := p.save(ctx, s, rec, expect)
	if err != nil {
		return nil, fmt.Errorf("twitchauth: storing the grant of user %s: %w", t.UserID, err)
	}
	p.publish(s, e)
	for _, in := range intents {
		if err := p.SetIntent(ctx, in, t.UserID); err != nil {
			return nil, err
		}
	}
	return e.token(), nil
}

// SetIntent points intent at the user (who must be held), removing it from
// any other user.
func (p *Provider) SetIntent(ctx context.Context, intent, userID string) error {
	if intent == "" {
		return errors.New("twitchauth: empty intent name")
	}
	p.intentMu.Lock()
	defer p.intentMu.Unlock()
	return p.setIntent(ctx, intent, userID)
}

// SetIntentIf points intent at the user to (who must be held), or at nobody
// when to is "", but only if it now points at from ("" = at nobody);
// otherwise it changes nothing and returns an error wrapping
// ErrIntentChanged that names the current user. Unlike SetIntent it never
// moves an intent away from a user the caller did not name: use it when
// moving an intent must be a deliberate act. Calls in one process are
// serialised; processes sharing a store can still race (the most recently
// saved record wins, as with SetIntent).
func (p *Provider) SetIntentIf(ctx context.Context, intent, from, to string) error {
	if intent == "" {
		return errors.New("twitchauth: empty intent name")
	}
	p.intentMu.Lock()
	defer p.intentMu.Unlock()
	cur := ""
	if key, ok := (*p.intents.Load())[intent]; ok {
		cur, _ = store.UserIDFromKey(key)
	}
	if cur != from {
		now := "nobody"
		if cur != "" {
			now = "user " + cur
		}
		return fmt.Errorf("%w: intent %q points at %s", ErrIntentChanged, intent, now)
	}
	if to == from {
		return nil
	}
	if to != "" {
		return p.setIntent(ctx, intent, to)
	}
	s := p.lookup(store.UserKey(from))
	if s == nil {
		return nil
	}
	return p.updateRecord(ctx, s, func(r *store.Record) {
		r.Intents = slices.DeleteFunc(r.Intents, func(x string) bool { return x == intent })
	})
}

// setIntent is SetIntent with p.intentMu held.
func (p *Provider) setIntent(ctx context.Context, intent, userID string) error {
	target := store.UserKey(userID)
	if _, err := p.subjectFor(ctx, target); err != nil {
		return err
	}
	for key, s := range p.subjects.all() {
		e := s.cur.Load()
		if e == nil {
			continue
		}
		has := slices.Contains(e.g.intentList(), intent)
		if (key == target) == has {
			continue
		}
		if err := p.updateRecord(ctx, s, func(r *store.Record) {
			if key == target {
				if !slices.Contains(r.Intents, intent) {
					r.Intents = append(r.Intents, intent)
				}
			} else {
				r.Intents = slices.DeleteFunc(r.Intents, func(x string) bool { return x == intent })
			}
		}); err != nil {
			return err
		}
	}
	return nil
}

// updateRecord applies change to the stored record of s with CAS retries
// and publishes the result.
func (p *Provider) updateRecord(ctx context.Context, s *subject, change func(*store.Record)) error {
	for range 5 {
		rec, err := p.store.Load(ctx, p.storeKey(s.key))
		if err != nil {
			return err
		}
		change(&rec)
		saved, err := p.store.Save(ctx, rec, rec.Version)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return err
		}
		p.publish(s, p.newEntry(saved, false))
		return nil
	}
	return fmt.Errorf("twitchauth: updating %s: too many concurrent writers", s.key)
}

// RemoveUser forgets the user's grant. With revoke, the access and refresh
// tokens are revoked at Twitch first (a failure to revoke is returned and
// the grant is kept).
func (p *Provider) RemoveUser(ctx context.Context, userID string, revoke bool) error {
	key := store.UserKey(userID)
	rec, err := p.store.Load(ctx, p.storeKey(key))
	if errors.Is(err, store.ErrNotFound) {
		p.dropSubject(key)
		return fmt.Errorf("%w: %s", ErrUnknownSubject, key)
	}
	if err != nil {
		return err
	}
	if revoke {
		for _, t := range []string{rec.AccessToken, rec.RefreshToken} {
			if t == "" {
				continue
			}
			if err := p.cfg().Revoke(ctx, t); err != nil && !errors.Is(err, twitchauth.ErrInvalidToken) {
				return err
			}
		}
	}
	if err := p.store.Delete(ctx, p.storeKey(key)); err != nil {
		return err
	}
	p.dropSubject(key)
	return nil
}

// Account describes one held grant, for listings.
type Account struct {
	UserID, Login string
	Scopes        []string
	Intents       []string
	Expiry        time.Time
	LastValidated time.Time
	// Status is store.StatusActive, StatusRevoked or StatusDead.
	Status string
}

// Users lists the users whose grants are held, sorted by login.
func (p *Provider) Users() []Account {
	var out []Account
	for key, s := range p.subjects.all() {
		if e := s.cur.Load(); key != store.AppKey() && e != nil {
			out = append(out, accountOf(e))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Login < out[j].Login })
	return out
}

// UserCount is len(Users()) without building the list: the number of
// users whose grants are held. It allocates nothing, for gauges scraped
// often over many grants.
func (p *Provider) UserCount() int {
	return p.subjects.count(func(s *subject) bool { return s.key != store.AppKey() && s.cur.Load() != nil })
}

// User returns the grant held for userID, without listing every user.
func (p *Provider) User(userID string) (Account, bool) {
	s := p.lookup(store.UserKey(userID))
	if s == nil {
		return Account{}, false
	}
	e := s.cur.Load()
	if e == nil || e.g.status == stRemoved {
		return Account{}, false
	}
	return accountOf(e), true
}

func accountOf(e *entry) Account {
	return Account{
		UserID: e.g.userID, Login: e.g.login, Scopes: slices.Clone(e.g.scopes),
		Intents: slices.Clone(e.g.intentList()), Expiry: timeOf(e.g.expiry),
		LastValidated: timeOf(e.g.lastValidated), Status: e.g.status.String(),
	}
}

// LookupLogin returns the user ID of a held user by login (case-insensitive).
func (p *Provider) LookupLogin(login string) (string, bool) {
	p.loginMu.RLock()
	id, ok := p.logins[strings.ToLower(login)]
	p.loginMu.RUnlock()
	return id, ok
}

// Intents returns the intent → user ID map.
func (p *Provider) Intents() map[string]string {
	out := map[string]string{}
	for in, key := range *p.intents.Load() {
		id, _ := store.UserIDFromKey(key)
		out[in] = id
	}
	return out
}
