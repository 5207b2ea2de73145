package twitchtest

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// ban is a ban (End zero) or a timeout.
type ban struct {
	ModeratorID string
	Reason      string
	Created     time.Time
	End         time.Time
}

// maxTimeout is Twitch's longest timeout: two weeks, in seconds.
const maxTimeout = 1_209_600

// AddModerator makes moderatorLogin a moderator of broadcasterLogin's
// channel (by default the sandbox's "moderator" moderates "broadcaster").
func (s *Server) AddModerator(broadcasterLogin, moderatorLogin string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.usersByLogin[strings.ToLower(broadcasterLogin)]
	m, ok2 := s.usersByLogin[strings.ToLower(moderatorLogin)]
	if !ok || !ok2 {
		return ErrUnknownUser
	}
	if s.helix.mods == nil {
		s.helix.mods = make(map[string][]string)
	}
	if !slices.Contains(s.helix.mods[b.ID], m.ID) {
		s.helix.mods[b.ID] = append(s.helix.mods[b.ID], m.ID)
	}
	return nil
}

// canModerateLocked reports whether userID may moderate broadcasterID's
// channel: the broadcaster or one of their moderators.
func (s *Server) canModerateLocked(broadcasterID, userID string) bool {
	return broadcasterID == userID || slices.Contains(s.helix.mods[broadcasterID], userID)
}

// activeBanLocked returns the ban of userID in broadcasterID's channel if
// it is in force at now.
func (s *Server) activeBanLocked(broadcasterID, userID string, now time.Time) (*ban, bool) {
	b, ok := s.helix.bans[broadcasterID][userID]
	if !ok || (!b.End.IsZero() && !now.Before(b.End)) {
		return nil, false
	}
	return b, true
}

// moderationParams checks broadcaster_id and moderator_id (the token's
// user, a moderator of the channel) and answers the error itself.
func (s *Server) moderationParams(w http.ResponseWriter, r *http.Request, c *helixCaller) (broadcasterID, moderatorID string, ok bool) {
	q := r.URL.Query()
	broadcasterID, moderatorID = q.Get("broadcaster_id"), q.Get("moderator_id")
	switch {
	case broadcasterID == "":
		writeHelixError(w, http.StatusBadRequest, `Missing required parameter "broadcaster_id"`)
		return "", "", false
	case moderatorID == "":
		writeHelixError(w, http.StatusBadRequest, `Missing required parameter "moderator_id"`)
		return "", "", false
	case moderatorID != c.userID:
		writeHelixError(w, http.StatusUnauthorized, "The ID in moderator_id must match the user ID found in the request's OAuth token.")
		return "", "", false
	}
	s.mu.RLock()
	_, known := s.users[broadcasterID]
	can := s.canModerateLocked(broadcasterID, moderatorID)
	s.mu.RUnlock()
	if !known {
		writeHelixError(w, http.StatusBadRequest, "The broadcaster_id is not valid")
		return "", "", false
	}
	if !can {
		writeHelixError(w, http.StatusForbidden, "The user in moderator_id is not one of the broadcaster's moderators.")
		return "", "", false
	}
	return broadcasterID, moderatorID, true
}

type banBody struct {
	Data *struct {
		UserID   string `json:"user_id"`
		Duration *int   `json:"duration"`
		Reason   string `json:"reason"`
	} `json:"data"`
}

type helixBan struct {
	BroadcasterID string  `json:"broadcaster_id"`
	ModeratorID   string  `json:"moderator_id"`
	UserID        string  `json:"user_id"`
	CreatedAt     string  `json:"created_at"`
	EndTime       *string `json:"end_time"`
}

// helixPostBan serves POST /helix/moderation/bans: a ban, or a timeout when
// data.duration is given.
func (s *Server) helixPostBan(w http.ResponseWriter, r *http.Request, c *helixCaller) {
	bid, mid, ok := s.moderationParams(w, r, c)
	if !ok {
		return
	}
	var b banBody
	if !decodeHelixBody(w, r, &b) {
		return
	}
	if b.Data == nil || b.Data.UserID == "" {
		writeHelixError(w, http.StatusBadRequest, `Missing required field "data.user_id"`)
		return
	}
	if d := b.Data.Duration; d != nil && (*d < 1 || *d > maxTimeout) {
		writeHelixError(w, http.StatusBadRequest, fmt.Sprintf("The duration must be between 1 and %d seconds", maxTimeout))
		return
	}
	if len([]rune(b.Data.Reason)) > 500 {
		writeHelixError(w, http.StatusBadRequest, "The reason may not exceed 500 characters")
		return
	}
	uid := b.Data.UserID
	s.mu.Lock()
	now := s.now()
	_, known := s.users[uid]
	cur, banned := s.activeBanLocked(bid, uid, now)
	var msg string
	switch {
	case !known:
		msg = "The user specified in the user_id field was not found."
	case uid == bid:
		msg = "The user specified in the user_id field may not be banned."
	case banned && cur.End.IsZero():
		// A banned user can be neither banned again nor timed out; a
		// timed-out user may be banned or timed out anew (replacing it).
		msg = "The user specified in the user_id field is already banned."
	}
	if msg != "" {
		s.mu.Unlock()
		writeHelixError(w, http.StatusBadRequest, msg)
		return
	}
	nb := &ban{ModeratorID: mid, Reason: b.Data.Reason, Created: now}
	if b.Data.Duration != nil {
		nb.End = now.Add(time.Duration(*b.Data.Duration) * time.Second)
	}
	if s.helix.bans == nil {
		s.helix.bans = make(map[string]map[string]*ban)
	}
	if s.helix.bans[bid] == nil {
		s.helix.bans[bid] = make(map[string]*ban)
	}
	s.helix.bans[bid][uid] = nb
	s.mu.Unlock()
	out := helixBan{BroadcasterID: bid, ModeratorID: mid, UserID: uid, CreatedAt: rfc3339(nb.Created)}
	if !nb.End.IsZero() {
		e := rfc3339(nb.End)
		out.EndTime = &e
	}
	writeJSON(w, http.StatusOK, helixData{Data: []helixBan{out}})
}

// helixDeleteBan serves DELETE /helix/moderation/bans (204).
func (s *Server) helixDeleteBan(w http.ResponseWriter, r *http.Request, c *helixCaller) {
	bid, _, ok := s.moderationParams(w, r, c)
	if !ok {
		return
	}
	uid := r.URL.Query().Get("user_id")
	if uid == "" {
		writeHelixError(w, http.StatusBadRequest, `Missing required parameter "user_id"`)
		return
	}
	s.mu.Lock()
	_, banned := s.activeBanLocked(bid, uid, s.now())
	if banned {
		delete(s.helix.bans[bid], uid)
	}
	s.mu.Unlock()
	if !banned {
		writeHelixError(w, http.StatusBadRequest, "The user specified in the user_id field is not banned.")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type helixModerator struct {
	UserID    string `json:"user_id"`
	UserLogin string `json:"user_login"`
	UserName  string `json:"user_name"`
}

// helixGetModerators serves GET /helix/moderation/moderators for the
// token's own channel, filtered by user_id, paginated.
func (s *Server) helixGetModerators(w http.ResponseWriter, r *http.Request, c *helixCaller) {
	q := r.URL.Query()
	bid := q.Get("broadcaster_id")
	if bid == "" {
		writeHelixError(w, http.StatusBadRequest, `Missing required parameter "broadcaster_id"`)
		return
	}
	if bid != c.userID {
		writeHelixError(w, http.StatusUnauthorized, "The ID in broadcaster_id must match the user ID found in the request's OAuth token.")
		return
	}
	if tooMany(w, q, "user_id") {
		return
	}
	offset, first, ok := page(w, q)
	if !ok {
		return
	}
	s.mu.RLock()
	var all []helixModerator
	for _, id := range s.helix.mods[bid] {
		u, ok := s.users[id]
		if !ok || (len(q["user_id"]) > 0 && !slices.Contains(q["user_id"], id)) {
			continue
		}
		all = append(all, helixModerator{UserID: u.ID, UserLogin: u.Login, UserName: u.DisplayName})
	}
	s.mu.RUnlock()
	data, next := paginate(all, offset, first)
	writeJSON(w, http.StatusOK, helixData{Data: data, Pagination: &helixPagination{Cursor: next}})
}
