package provider

import (
	"context"
	"errors"
	"fmt"

	"github.com/twitchauth/twitchauth/store"
)

// MarkRevoked records that the user revoked the application's grant, as
// Twitch announces at once with an EventSub user.authorization.revoke
// notification (docs/protocol.md#eventsub): the grant's status becomes
// store.StatusRevoked in the store, so that every replica and every restart
// agrees, and its tokens stop being served at once (UserToken and the
// TokenSources answer ErrGrantRevoked) without asking Twitch's /validate.
//
// It reports whether the grant was active until now; only then does
// Hooks.OnRevoked fire. A grant already revoked, dead or removed is left
// as it is (a duplicate notification changes nothing); a user not held
// gives ErrUnknownSubject. A grant is never made active again by anything
// but a new authorization (AddUserToken and its callers): the user must
// connect again.
func (p *Provider) MarkRevoked(ctx context.Context, userID string) (bool, error) {
	key := store.UserKey(userID)
	s, err := p.subjectFor(ctx, key)
	if err != nil {
		return false, err
	}
	was := ""
	changed := false
	uid := userID
	err = p.updateRecord(ctx, s, func(r *store.Record) {
		was = r.Status
		if was == "" {
			was = store.StatusActive
		}
		changed = was == store.StatusActive
		if changed {
			r.Status = store.StatusRevoked
		}
		if r.UserID != "" {
			uid = r.UserID
		}
	})
	if errors.Is(err, store.ErrNotFound) {
		p.dropSubject(key)
		return false, fmt.Errorf("%w: %s was removed", ErrUnknownSubject, key)
	}
	if err != nil {
		return false, fmt.Errorf("twitchauth: marking the grant of user %s revoked: %w", userID, err)
	}
	if !changed {
		return false, nil
	}
	p.log.Warn("grant revoked by the user", "subject", key, "via", "eventsub")
	if h := p.hooks.OnRevoked; h != nil {
		h(User(uid))
	}
	return true, nil
}
