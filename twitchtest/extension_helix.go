package twitchtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// PubSubMessage is a message an EBS sent through POST
// /helix/extensions/pubsub.
type PubSubMessage struct {
	ClientID      string
	BroadcasterID string // empty for a global broadcast
	Targets       []string
	Global        bool
	Message       string
	SentAt        time.Time
}

// ExtensionChatMessage is a message an EBS sent through POST
// /helix/extensions/chat.
type ExtensionChatMessage struct {
	ClientID         string
	BroadcasterID    string
	ExtensionVersion string
	Text             string
	SentAt           time.Time
}

// PubSubMessages returns the PubSub messages sent by the extension clientID
// (every extension when empty), oldest first; the sandbox keeps the last
// 1,000.
func (s *Server) PubSubMessages(clientID string) []PubSubMessage {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []PubSubMessage
	for _, m := range s.helix.pubsub {
		if clientID == "" || m.ClientID == clientID {
			m.Targets = slices.Clone(m.Targets)
			out = append(out, m)
		}
	}
	return out
}

// ExtensionChatMessages returns the extension chat messages sent by
// clientID (every extension when empty), oldest first; the sandbox keeps the
// last 1,000.
func (s *Server) ExtensionChatMessages(clientID string) []ExtensionChatMessage {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []ExtensionChatMessage
	for _, m := range s.helix.chat {
		if clientID == "" || m.ClientID == clientID {
			out = append(out, m)
		}
	}
	return out
}

func appendBounded[T any](list []T, v T) []T {
	if len(list) >= maxRecorded {
		list = slices.Delete(list, 0, len(list)-maxRecorded+1)
	}
	return append(list, v)
}

// requireExternal answers 403 unless the EBS JWT has role external.
func requireExternal(w http.ResponseWriter, c *helixCaller) bool {
	if c.jwt == nil || c.jwt.Role != RoleExternal {
		writeHelixError(w, http.StatusForbidden, `The JWT's role must be "external"`)
		return false
	}
	return true
}

// maxPubSubMessage is Twitch's PubSub message limit: 5 KB (docs/protocol.md#extensions).
const maxPubSubMessage = 5 * 1024

// helixPostPubSub serves POST /helix/extensions/pubsub (204).
func (s *Server) helixPostPubSub(w http.ResponseWriter, r *http.Request, c *helixCaller) {
	if !requireExternal(w, c) {
		return
	}
	var b struct {
		Target            []string `json:"target"`
		BroadcasterID     string   `json:"broadcaster_id"`
		IsGlobalBroadcast bool     `json:"is_global_broadcast"`
		Message           *string  `json:"message"`
	}
	if !decodeHelixBody(w, r, &b) {
		return
	}
	switch {
	case len(b.Target) == 0:
		writeHelixError(w, http.StatusBadRequest, `Missing required field "target"`)
		return
	case b.Message == nil:
		writeHelixError(w, http.StatusBadRequest, `Missing required field "message"`)
		return
	case len(*b.Message) > maxPubSubMessage:
		writeHelixError(w, http.StatusBadRequest, "The message may not exceed 5 KB")
		return
	case !b.IsGlobalBroadcast && b.BroadcasterID == "":
		writeHelixError(w, http.StatusBadRequest, `Missing required field "broadcaster_id"`)
		return
	case c.jwt.UserID == "":
		writeHelixError(w, http.StatusForbidden, "The JWT must include user_id")
		return
	}
	channel := b.BroadcasterID
	if b.IsGlobalBroadcast {
		channel = "all"
	}
	if c.jwt.ChannelID != channel {
		writeHelixError(w, http.StatusForbidden, fmt.Sprintf("The JWT's channel_id must be %q", channel))
		return
	}
	var send []string
	if c.jwt.PubsubPerms != nil {
		send = c.jwt.PubsubPerms.Send
	}
	for _, t := range b.Target {
		valid := t == "broadcast" || t == "global" || strings.HasPrefix(t, "whisper-") && len(t) > len("whisper-")
		if !valid || (t == "global") != b.IsGlobalBroadcast {
			writeHelixError(w, http.StatusBadRequest, fmt.Sprintf("Invalid target %q", t))
			return
		}
		if !permsAllow(send, t) {
			writeHelixError(w, http.StatusForbidden, fmt.Sprintf("The JWT's pubsub_perms.send does not include %q", t))
			return
		}
	}
	if !b.IsGlobalBroadcast {
		s.mu.RLock()
		_, ok := s.users[b.BroadcasterID]
		s.mu.RUnlock()
		if !ok {
			writeHelixError(w, http.StatusBadRequest, "The broadcaster_id is not valid")
			return
		}
	}
	now := s.now()
	if ok, _ := s.limiter.take("pubsub:"+c.clientID+":"+channel, s.pubsubLimit(), 1, now); !ok {
		s.count("helix:429")
		writeHelixError(w, http.StatusTooManyRequests, msgHelixRateLimited)
		return
	}
	m := PubSubMessage{ClientID: c.clientID, Targets: slices.Clone(b.Target), Global: b.IsGlobalBroadcast, Message: *b.Message, SentAt: now}
	if !b.IsGlobalBroadcast {
		m.BroadcasterID = b.BroadcasterID
	}
	s.mu.Lock()
	s.helix.pubsub = appendBounded(s.helix.pubsub, m)
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// maxExtensionChat is Twitch's limit on extension chat messages.
const maxExtensionChat = 280

// helixPostExtensionChat serves POST /helix/extensions/chat?broadcaster_id=
// (204). The JWT's channel_id must be the broadcaster (see doc.go).
func (s *Server) helixPostExtensionChat(w http.ResponseWriter, r *http.Request, c *helixCaller) {
	if !requireExternal(w, c) {
		return
	}
	bid := r.URL.Query().Get("broadcaster_id")
	if bid == "" {
		writeHelixError(w, http.StatusBadRequest, `Missing required parameter "broadcaster_id"`)
		return
	}
	var b struct {
		Text             string `json:"text"`
		ExtensionID      string `json:"extension_id"`
		ExtensionVersion string `json:"extension_version"`
	}
	if !decodeHelixBody(w, r, &b) {
		return
	}
	switch {
	case b.Text == "" || b.ExtensionID == "" || b.ExtensionVersion == "":
		writeHelixError(w, http.StatusBadRequest, "The text, extension_id and extension_version fields are required")
		return
	case len([]rune(b.Text)) > maxExtensionChat:
		writeHelixError(w, http.StatusBadRequest, "The text may not exceed 280 characters")
		return
	case b.ExtensionID != c.clientID:
		writeHelixError(w, http.StatusBadRequest, "The extension_id must be the Client-Id")
		return
	case c.jwt.ChannelID != bid:
		writeHelixError(w, http.StatusForbidden, fmt.Sprintf("The JWT's channel_id must be %q", bid))
		return
	}
	s.mu.Lock()
	_, ok := s.users[bid]
	if ok {
		s.helix.chat = appendBounded(s.helix.chat, ExtensionChatMessage{ClientID: c.clientID, BroadcasterID: bid, ExtensionVersion: b.ExtensionVersion, Text: b.Text, SentAt: s.now()})
	}
	s.mu.Unlock()
	if !ok {
		writeHelixError(w, http.StatusBadRequest, "The broadcaster_id is not valid")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// secretsResponse is Get/Create Extension Secrets' data entry.
type secretsResponse struct {
	FormatVersion int               `json:"format_version"`
	Secrets       []ExtensionSecret `json:"secrets"`
}

// extensionIDParam checks ?extension_id= against the Client-Id.
func extensionIDParam(w http.ResponseWriter, r *http.Request, c *helixCaller) bool {
	id := r.URL.Query().Get("extension_id")
	switch {
	case id == "":
		writeHelixError(w, http.StatusBadRequest, `Missing required parameter "extension_id"`)
		return false
	case id != c.clientID:
		writeHelixError(w, http.StatusBadRequest, "The extension_id must be the Client-Id")
		return false
	}
	return true
}

// helixGetSecrets serves GET /helix/extensions/jwt/secrets?extension_id=.
func (s *Server) helixGetSecrets(w http.ResponseWriter, r *http.Request, c *helixCaller) {
	if !requireExternal(w, c) || !extensionIDParam(w, r, c) {
		return
	}
	sec, err := s.ExtensionSecrets(c.clientID)
	if err != nil {
		writeHelixError(w, http.StatusInternalServerError, "internal error")
		return
	}
	writeJSON(w, http.StatusOK, helixData{Data: []secretsResponse{{FormatVersion: 1, Secrets: sec}}})
}

// helixPostSecrets serves POST /helix/extensions/jwt/secrets?extension_id=
// &delay=: a new secret, active after delay seconds (default and minimum
// 300).
func (s *Server) helixPostSecrets(w http.ResponseWriter, r *http.Request, c *helixCaller) {
	if !requireExternal(w, c) || !extensionIDParam(w, r, c) {
		return
	}
	delay := DefaultExtensionSecretDelay
	if v := r.URL.Query().Get("delay"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || time.Duration(n)*time.Second < DefaultExtensionSecretDelay {
			writeHelixError(w, http.StatusBadRequest, "The delay must be a number of seconds, at least 300")
			return
		}
		delay = time.Duration(n) * time.Second
	}
	sec, err := s.RotateExtensionSecret(c.clientID, delay)
	if err != nil {
		writeHelixError(w, http.StatusInternalServerError, "internal error")
		return
	}
	writeJSON(w, http.StatusOK, helixData{Data: []secretsResponse{{FormatVersion: 1, Secrets: sec}}})
}

type liveChannel struct {
	BroadcasterID   string `json:"broadcaster_id"`
	BroadcasterName string `json:"broadcaster_name"`
	GameName        string `json:"game_name"`
	GameID          string `json:"game_id"`
	Title           string `json:"title"`
}

// helixGetLiveChannels serves GET /helix/extensions/live?extension_id=: the
// live channels with the extension active in a slot. Unlike most endpoints,
// its pagination field is the cursor string itself, as on Twitch.
func (s *Server) helixGetLiveChannels(w http.ResponseWriter, r *http.Request, _ *helixCaller) {
	q := r.URL.Query()
	ext := q.Get("extension_id")
	if ext == "" {
		writeHelixError(w, http.StatusBadRequest, `Missing required parameter "extension_id"`)
		return
	}
	offset, first, ok := page(w, q)
	if !ok {
		return
	}
	s.mu.RLock()
	var all []liveChannel
	for uid := range s.helix.streams {
		u, ok := s.users[uid]
		cur := s.helix.userExt[uid]
		if !ok || !hasActiveExtension(cur, ext) {
			continue
		}
		ch := s.channelLocked(uid)
		all = append(all, liveChannel{BroadcasterID: uid, BroadcasterName: u.DisplayName, GameName: games[ch.GameID], GameID: ch.GameID, Title: ch.Title})
	}
	s.mu.RUnlock()
	slices.SortFunc(all, func(a, b liveChannel) int { return strings.Compare(a.BroadcasterID, b.BroadcasterID) })
	data, next := paginate(all, offset, first)
	writeJSON(w, http.StatusOK, struct {
		Data       []liveChannel `json:"data"`
		Pagination string        `json:"pagination,omitempty"`
	}{data, next})
}

func hasActiveExtension(a activeExtensions, id string) bool {
	for _, slots := range a {
		for _, sl := range slots {
			if sl.Active && sl.ID == id {
				return true
			}
		}
	}
	return false
}

// mintRequest is POST /_sandbox/extension/jwt's body.
type mintRequest struct {
	ClientID     string       `json:"client_id"`
	ChannelID    string       `json:"channel_id"`
	Role         string       `json:"role"`
	UserID       string       `json:"user_id"`
	OpaqueUserID string       `json:"opaque_user_id"`
	IsUnlinked   bool         `json:"is_unlinked"`
	PubsubPerms  *PubsubPerms `json:"pubsub_perms"`
	TTL          int64        `json:"ttl"` // seconds
}

// mintResponse is its answer. HelixToken is given for front-end roles.
type mintResponse struct {
	ClientID     string `json:"client_id"`
	ChannelID    string `json:"channel_id,omitempty"`
	Role         string `json:"role"`
	UserID       string `json:"user_id,omitempty"`
	OpaqueUserID string `json:"opaque_user_id,omitempty"`
	Token        string `json:"token"`
	HelixToken   string `json:"helix_token,omitempty"`
	Exp          int64  `json:"exp"`
}

// handleMintExtensionJWT serves POST /_sandbox/extension/jwt, the sandbox's
// own endpoint that mints what the extension helper's onAuthorized hands a
// front end (token, helixToken) or an EBS token, for tests not written in
// Go. It answers only loopback callers.
func (s *Server) handleMintExtensionJWT(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		writeError(w, http.StatusForbidden, "the minting endpoint answers loopback callers only")
		return
	}
	var req mintRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxHelixBody))
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid request body")
		return
	}
	if req.TTL < 0 {
		writeError(w, http.StatusBadRequest, "ttl must be a positive number of seconds")
		return
	}
	if req.ClientID == "" {
		req.ClientID = s.ExtensionClient().ID
	}
	if req.Role != RoleExternal && req.OpaqueUserID == "" {
		if req.UserID != "" {
			req.OpaqueUserID = "U" + req.UserID
		} else {
			req.OpaqueUserID = "A" + randString(20, mixedAlnum)
		}
	}
	ttl := time.Duration(req.TTL) * time.Second
	tok, exp, err := s.mintExtensionJWT(ExtJWTOptions{ClientID: req.ClientID, ChannelID: req.ChannelID, Role: req.Role, UserID: req.UserID, OpaqueUserID: req.OpaqueUserID, IsUnlinked: req.IsUnlinked, PubsubPerms: req.PubsubPerms, TTL: ttl})
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, ErrUnknownClient) || errors.Is(err, ErrNotExtension) {
			status = http.StatusNotFound
		}
		writeError(w, status, strings.TrimPrefix(err.Error(), "twitchtest: "))
		return
	}
	resp := mintResponse{ClientID: req.ClientID, ChannelID: req.ChannelID, Role: req.Role, UserID: req.UserID, OpaqueUserID: req.OpaqueUserID, Token: tok, Exp: exp.Unix()}
	if req.Role != RoleExternal {
		if resp.HelixToken, _, err = s.mintHelixJWT(HelixJWTOptions{ClientID: req.ClientID, OpaqueUserID: req.OpaqueUserID, UserID: req.UserID, TTL: ttl}); err != nil {
			writeError(w, http.StatusInternalServerError, "internal error")
			return
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// extensionCounterNames are the counters of the sandbox's extension routes.
var extensionCounterNames = []string{"extension_jwt"}
