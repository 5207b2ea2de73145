package twitchtest

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// stream is a live stream; its title, game, language and tags are the
// channel's.
type stream struct {
	ID          string
	UserID      string
	ViewerCount int
	StartedAt   time.Time
}

// channelInfo is the part of a channel PATCH /helix/channels changes.
type channelInfo struct {
	Language       string
	GameID         string
	Title          string
	Delay          int
	Tags           []string
	Labels         []string
	BrandedContent bool
}

// games is the sandbox's category catalogue (Twitch's IDs).
var games = map[string]string{
	"509658":     "Just Chatting",
	"509670":     "Science & Technology",
	"1469308723": "Software and Game Development",
	"27471":      "Minecraft",
	"33214":      "Fortnite",
	"21779":      "League of Legends",
}

// defaultLive are the default users live at start, with their channel.
var defaultLive = []struct {
	login   string
	viewers int
	info    channelInfo
}{
	{"twitchdev", 1250, channelInfo{Language: "en", GameID: "1469308723", Title: "TwitchDev Office Hours", Tags: []string{"English", "Developers"}}},
	{"broadcaster", 342, channelInfo{Language: "en", GameID: "509658", Title: "Sandbox stream", Tags: []string{"English"}}},
	{"moderator", 17, channelInfo{Language: "de", GameID: "27471", Title: "Minecraft im Sandkasten", Tags: []string{"Deutsch"}}},
}

// seedHelix makes the default users' streams live and the moderator a
// moderator of the broadcaster, when those users exist. Helix data is not
// persisted, so this runs at every start.
func (s *Server) seedHelix() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for i, d := range defaultLive {
		u, ok := s.usersByLogin[d.login]
		if !ok {
			continue
		}
		info := d.info
		info.Tags = slices.Clone(d.info.Tags)
		s.channelsMap()[u.ID] = &info
		s.streamsMap()[u.ID] = &stream{ID: newNumericID() + "0" + strconv.Itoa(i), UserID: u.ID, ViewerCount: d.viewers, StartedAt: now.Add(-time.Duration(i+1) * 37 * time.Minute).Truncate(time.Second)}
	}
	b, okb := s.usersByLogin["broadcaster"]
	m, okm := s.usersByLogin["moderator"]
	if okb && okm {
		s.helix.mods = map[string][]string{b.ID: {m.ID}}
	}
}

func (s *Server) streamsMap() map[string]*stream {
	if s.helix.streams == nil {
		s.helix.streams = make(map[string]*stream)
	}
	return s.helix.streams
}

func (s *Server) channelsMap() map[string]*channelInfo {
	if s.helix.channels == nil {
		s.helix.channels = make(map[string]*channelInfo)
	}
	return s.helix.channels
}

// channelLocked returns the channel of userID (defaults when never set).
func (s *Server) channelLocked(userID string) channelInfo {
	if c, ok := s.helix.channels[userID]; ok {
		return *c
	}
	return channelInfo{Language: "en"}
}

// SetStreamLive starts (or updates) a live stream on login's channel with
// viewers viewers; the stream's title and game are the channel's.
func (s *Server) SetStreamLive(login string, viewers int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.usersByLogin[strings.ToLower(login)]
	if !ok {
		return ErrUnknownUser
	}
	if st, ok := s.helix.streams[u.ID]; ok {
		st.ViewerCount = viewers
		return nil
	}
	s.streamsMap()[u.ID] = &stream{ID: newNumericID() + newNumericID()[:2], UserID: u.ID, ViewerCount: viewers, StartedAt: s.now().Truncate(time.Second)}
	return nil
}

// SetStreamOffline ends login's stream, if live.
func (s *Server) SetStreamOffline(login string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.usersByLogin[strings.ToLower(login)]
	if !ok {
		return ErrUnknownUser
	}
	delete(s.helix.streams, u.ID)
	return nil
}

// cursor encodes and decodes the sandbox's opaque pagination cursors
// (base64 of a small JSON object, like Twitch's).
type cursor struct {
	Offset int `json:"o"`
}

func encodeCursor(offset int) string {
	b, _ := json.Marshal(cursor{Offset: offset})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, false
	}
	var c cursor
	if json.Unmarshal(b, &c) != nil || c.Offset < 0 {
		return 0, false
	}
	return c.Offset, true
}

// page reads first (default 20, 1..100) and after, and answers 400 itself
// when they are malformed.
func page(w http.ResponseWriter, q url.Values) (offset, first int, ok bool) {
	first = 20
	if v := q.Get("first"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			writeHelixError(w, http.StatusBadRequest, `The parameter "first" was malformed: the value must be greater than or equal to 1 and less than or equal to 100`)
			return 0, 0, false
		}
		first = n
	}
	if v := q.Get("after"); v != "" {
		n, ok := decodeCursor(v)
		if !ok {
			writeHelixError(w, http.StatusBadRequest, `The parameter "after" was malformed: invalid cursor`)
			return 0, 0, false
		}
		offset = n
	}
	return offset, first, true
}

// paginate returns items[offset:offset+first] and the cursor of the next
// page ("" when there is none).
func paginate[T any](items []T, offset, first int) ([]T, string) {
	if offset > len(items) {
		offset = len(items)
	}
	end := min(offset+first, len(items))
	next := ""
	if end < len(items) {
		next = encodeCursor(end)
	}
	out := items[offset:end]
	if out == nil {
		out = []T{}
	}
	return out, next
}

// tooMany answers 400 when a repeated parameter exceeds 100 values.
func tooMany(w http.ResponseWriter, q url.Values, names ...string) bool {
	for _, n := range names {
		if len(q[n]) > maxHelixIDs {
			writeHelixError(w, http.StatusBadRequest, fmt.Sprintf("The parameter %q may not be specified more than 100 times", n))
			return true
		}
	}
	return false
}

type helixStream struct {
	ID           string   `json:"id"`
	UserID       string   `json:"user_id"`
	UserLogin    string   `json:"user_login"`
	UserName     string   `json:"user_name"`
	GameID       string   `json:"game_id"`
	GameName     string   `json:"game_name"`
	Type         string   `json:"type"`
	Title        string   `json:"title"`
	Tags         []string `json:"tags"`
	ViewerCount  int      `json:"viewer_count"`
	StartedAt    string   `json:"started_at"`
	Language     string   `json:"language"`
	ThumbnailURL string   `json:"thumbnail_url"`
	TagIDs       []string `json:"tag_ids"`
	IsMature     bool     `json:"is_mature"`
}

// helixGetStreams serves GET /helix/streams: live streams by viewer count,
// filtered by user_id, user_login, game_id, language and type, paginated
// with first and after.
func (s *Server) helixGetStreams(w http.ResponseWriter, r *http.Request, _ *helixCaller) {
	q := r.URL.Query()
	if tooMany(w, q, "user_id", "user_login", "game_id", "language") {
		return
	}
	switch q.Get("type") {
	case "", "all", "live":
	default:
		writeHelixError(w, http.StatusBadRequest, `The parameter "type" was malformed: the value must be one of "all", "live"`)
		return
	}
	offset, first, ok := page(w, q)
	if !ok {
		return
	}
	logins := make(map[string]bool)
	for _, l := range q["user_login"] {
		logins[strings.ToLower(l)] = true
	}
	s.mu.RLock()
	var all []helixStream
	for _, st := range s.helix.streams {
		u, ok := s.users[st.UserID]
		if !ok {
			continue
		}
		if (len(q["user_id"]) > 0 || len(logins) > 0) && !slices.Contains(q["user_id"], u.ID) && !logins[strings.ToLower(u.Login)] {
			continue
		}
		ch := s.channelLocked(u.ID)
		if len(q["game_id"]) > 0 && !slices.Contains(q["game_id"], ch.GameID) {
			continue
		}
		if len(q["language"]) > 0 && !slices.Contains(q["language"], ch.Language) {
			continue
		}
		all = append(all, helixStream{
			ID: st.ID, UserID: u.ID, UserLogin: u.Login, UserName: u.DisplayName,
			GameID: ch.GameID, GameName: games[ch.GameID], Type: "live", Title: ch.Title,
			Tags: nonNil(ch.Tags), ViewerCount: st.ViewerCount, StartedAt: rfc3339(st.StartedAt), Language: ch.Language,
			ThumbnailURL: "https://static-cdn.jtvnw.net/previews-ttv/live_user_" + u.Login + "-{width}x{height}.jpg",
			TagIDs:       []string{},
		})
	}
	s.mu.RUnlock()
	slices.SortFunc(all, func(a, b helixStream) int {
		return cmp.Or(cmp.Compare(b.ViewerCount, a.ViewerCount), cmp.Compare(a.ID, b.ID))
	})
	data, next := paginate(all, offset, first)
	writeJSON(w, http.StatusOK, helixData{Data: data, Pagination: &helixPagination{Cursor: next}})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}

type helixChannel struct {
	BroadcasterID       string   `json:"broadcaster_id"`
	BroadcasterLogin    string   `json:"broadcaster_login"`
	BroadcasterName     string   `json:"broadcaster_name"`
	BroadcasterLanguage string   `json:"broadcaster_language"`
	GameID              string   `json:"game_id"`
	GameName            string   `json:"game_name"`
	Title               string   `json:"title"`
	Delay               int      `json:"delay"`
	Tags                []string `json:"tags"`
	Labels              []string `json:"content_classification_labels"`
	IsBrandedContent    bool     `json:"is_branded_content"`
}

// helixGetChannels serves GET /helix/channels?broadcaster_id=… (1 to 100).
func (s *Server) helixGetChannels(w http.ResponseWriter, r *http.Request, _ *helixCaller) {
	q := r.URL.Query()
	ids := q["broadcaster_id"]
	if len(ids) == 0 {
		writeHelixError(w, http.StatusBadRequest, `Missing required parameter "broadcaster_id"`)
		return
	}
	if tooMany(w, q, "broadcaster_id") {
		return
	}
	s.mu.RLock()
	out := []helixChannel{}
	for _, id := range ids {
		u, ok := s.users[id]
		if !ok {
			continue
		}
		ch := s.channelLocked(id)
		out = append(out, helixChannel{
			BroadcasterID: u.ID, BroadcasterLogin: u.Login, BroadcasterName: u.DisplayName,
			BroadcasterLanguage: ch.Language, GameID: ch.GameID, GameName: games[ch.GameID], Title: ch.Title,
			Delay: ch.Delay, Tags: nonNil(ch.Tags), Labels: nonNil(ch.Labels), IsBrandedContent: ch.BrandedContent,
		})
	}
	s.mu.RUnlock()
	writeJSON(w, http.StatusOK, helixData{Data: out})
}

// patchChannelBody is Modify Channel Information's body; absent fields are
// left unchanged.
type patchChannelBody struct {
	GameID              *string   `json:"game_id"`
	BroadcasterLanguage *string   `json:"broadcaster_language"`
	Title               *string   `json:"title"`
	Delay               *int      `json:"delay"`
	Tags                *[]string `json:"tags"`
	Labels              *[]struct {
		ID        string `json:"id"`
		IsEnabled bool   `json:"is_enabled"`
	} `json:"content_classification_labels"`
	IsBrandedContent *bool `json:"is_branded_content"`
}

// contentLabels are Twitch's content classification label IDs.
var contentLabels = []string{"DebatedSocialIssuesAndPolitics", "DrugsIntoxication", "SexualThemes", "ViolentGraphic", "Gambling", "ProfanityVulgarity", "MatureGame"}

// helixPatchChannels serves PATCH /helix/channels?broadcaster_id=… for the
// token's own channel (204).
func (s *Server) helixPatchChannels(w http.ResponseWriter, r *http.Request, c *helixCaller) {
	id := r.URL.Query().Get("broadcaster_id")
	if id == "" {
		writeHelixError(w, http.StatusBadRequest, `Missing required parameter "broadcaster_id"`)
		return
	}
	if id != c.userID {
		writeHelixError(w, http.StatusUnauthorized, "The ID in broadcaster_id must match the user ID found in the request's OAuth token.")
		return
	}
	var b patchChannelBody
	if !decodeHelixBody(w, r, &b) {
		return
	}
	if b == (patchChannelBody{}) {
		writeHelixError(w, http.StatusBadRequest, "The request must update at least one field")
		return
	}
	if msg := validatePatch(&b); msg != "" {
		writeHelixError(w, http.StatusBadRequest, msg)
		return
	}
	s.mu.Lock()
	ch := s.channelLocked(id)
	if b.GameID != nil {
		ch.GameID = *b.GameID
		if ch.GameID == "0" {
			ch.GameID = ""
		}
	}
	if b.BroadcasterLanguage != nil {
		ch.Language = *b.BroadcasterLanguage
	}
	if b.Title != nil {
		ch.Title = *b.Title
	}
	if b.Delay != nil {
		ch.Delay = *b.Delay
	}
	if b.Tags != nil {
		ch.Tags = slices.Clone(*b.Tags)
	}
	if b.Labels != nil {
		for _, l := range *b.Labels {
			ch.Labels = slices.DeleteFunc(ch.Labels, func(x string) bool { return x == l.ID })
			if l.IsEnabled {
				ch.Labels = append(ch.Labels, l.ID)
			}
		}
	}
	if b.IsBrandedContent != nil {
		ch.BrandedContent = *b.IsBrandedContent
	}
	s.channelsMap()[id] = &ch
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// validatePatch returns the 400 message for an invalid body, or "".
func validatePatch(b *patchChannelBody) string {
	if b.GameID != nil && *b.GameID != "" && *b.GameID != "0" {
		if _, ok := games[*b.GameID]; !ok {
			return "The game_id is not valid"
		}
	}
	if b.BroadcasterLanguage != nil {
		l := *b.BroadcasterLanguage
		if l != "other" && (len(l) != 2 || strings.ToLower(l) != l || !unicode.IsLetter(rune(l[0])) || !unicode.IsLetter(rune(l[1]))) {
			return "The broadcaster_language must be an ISO 639-1 two-letter code or other"
		}
	}
	if b.Title != nil && strings.TrimSpace(*b.Title) == "" {
		return "The title field may not contain an empty string"
	}
	if b.Title != nil && len([]rune(*b.Title)) > 140 {
		return "The title may not exceed 140 characters"
	}
	if b.Delay != nil && (*b.Delay < 0 || *b.Delay > 900) {
		return "The delay must be between 0 and 900 seconds"
	}
	if b.Tags != nil {
		if len(*b.Tags) > 10 {
			return "A channel may have at most 10 tags"
		}
		for _, t := range *b.Tags {
			if t == "" || len([]rune(t)) > 25 || strings.IndexFunc(t, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) >= 0 {
				return "Tags must be 1 to 25 letters or digits, without spaces or special characters"
			}
		}
	}
	if b.Labels != nil {
		for _, l := range *b.Labels {
			if !slices.Contains(contentLabels, l.ID) {
				return "Unknown content classification label " + strconv.Quote(l.ID)
			}
		}
	}
	return ""
}
