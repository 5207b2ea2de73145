package rig

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// event is one message on a PubSub stream: a PubSub message (Kind
// "message") or a configuration change (Kind "config").
type event struct {
	Kind        string          `json:"-"`
	Target      string          `json:"target,omitempty"`
	ContentType string          `json:"content_type,omitempty"`
	Message     string          `json:"message,omitempty"`
	Config      *configSegments `json:"config,omitempty"`
}

// subscriber is one open stream.
type subscriber struct {
	listen []string // the token's pubsub_perms.listen
	ch     chan event
}

// hub fans messages out to the open streams. A subscriber that cannot keep
// up (its buffer of 64 is full) misses messages rather than slowing others.
type hub struct {
	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	closed chan struct{}
	once   sync.Once
}

func newHub() *hub { return &hub{subs: make(map[*subscriber]struct{}), closed: make(chan struct{})} }

func (h *hub) subscribe(listen []string) *subscriber {
	s := &subscriber{listen: listen, ch: make(chan event, 64)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

func (h *hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	delete(h.subs, s)
	h.mu.Unlock()
}

// publish delivers e to the subscribers allowed to hear it and returns how
// many got it.
func (h *hub) publish(e event) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for s := range h.subs {
		if e.Kind == "message" && !permits(s.listen, e.Target) {
			continue
		}
		select {
		case s.ch <- e:
			n++
		default:
		}
	}
	return n
}

func (h *hub) close() { h.once.Do(func() { close(h.closed) }) }

// pubsubRequest is the body of /api/pubsub/send and /api/pubsub/publish.
// Message is a string; Twitch.ext.send JSON-encodes objects before sending.
type pubsubRequest struct {
	Target      string `json:"target"`
	ContentType string `json:"content_type"`
	Message     string `json:"message"`
}

// pubsubTarget: "broadcast", "global" or "whisper-<opaque user ID>".
var pubsubTarget = lazyRegexp(`^(broadcast|global|whisper-[UA][A-Za-z0-9]{1,64})$`)

func (p *pubsubRequest) check() error {
	if !pubsubTarget().MatchString(p.Target) {
		return fmt.Errorf("target %q is not broadcast, global or whisper-<opaque user ID>", p.Target)
	}
	if p.ContentType == "" {
		p.ContentType = "application/json"
	}
	if len(p.ContentType) > 100 {
		return fmt.Errorf("content_type is longer than 100 bytes")
	}
	if len(p.Message) > MaxPubSubMessage {
		return fmt.Errorf("message is %d bytes; Extension PubSub messages are limited to %d", len(p.Message), MaxPubSubMessage)
	}
	return nil
}

// deliveryResponse reports how many open streams got a message.
type deliveryResponse struct {
	Delivered int `json:"delivered"`
}

// apiPubSubSend is Twitch.ext.send: the token must be allowed to send to
// the target (pubsub_perms.send; by default only the broadcaster's is).
func (r *Rig) apiPubSubSend(w http.ResponseWriter, req *http.Request) {
	c, ok := r.caller(w, req)
	if !ok {
		return
	}
	var p pubsubRequest
	if !readJSON(w, req, &p) {
		return
	}
	if err := p.check(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if p.Target == "global" || !permits(c.PubsubPerms.Send, p.Target) {
		writeError(w, http.StatusForbidden, fmt.Sprintf("this token (role %s) may not send to %q: pubsub_perms.send is %q", c.Role, p.Target, c.PubsubPerms.Send))
		return
	}
	n := r.hub.publish(event{Kind: "message", Target: p.Target, ContentType: p.ContentType, Message: p.Message})
	writeJSON(w, http.StatusOK, deliveryResponse{Delivered: n})
}

// apiPubSubPublish sends a message as the extension's backend would through
// Send Extension PubSub Message; it takes no token (it is the developer's
// control, like the EBS).
func (r *Rig) apiPubSubPublish(w http.ResponseWriter, req *http.Request) {
	var p pubsubRequest
	if !readJSON(w, req, &p) {
		return
	}
	if err := p.check(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	n := r.hub.publish(event{Kind: "message", Target: p.Target, ContentType: p.ContentType, Message: p.Message})
	writeJSON(w, http.StatusOK, deliveryResponse{Delivered: n})
}

// apiPubSubListen streams, as server-sent events, the messages the token
// may listen to ("message" events) and configuration changes ("config"
// events). The token travels in the Authorization header of a POST, never
// in the URL, so the helper reads the stream with fetch rather than
// EventSource.
func (r *Rig) apiPubSubListen(w http.ResponseWriter, req *http.Request) {
	c, ok := r.caller(w, req)
	if !ok {
		return
	}
	s := r.hub.subscribe(c.PubsubPerms.Listen)
	defer r.hub.unsubscribe(s)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, ": twitchauth rig pubsub\n\n"); err != nil {
		return
	}
	if err := rc.Flush(); err != nil {
		r.log.Warn("rig: PubSub stream cannot flush; a proxy may buffer it", "err", err)
	}
	tick := time.NewTicker(r.cfg.KeepAlive)
	defer tick.Stop()
	for {
		select {
		case <-req.Context().Done():
			return
		case <-r.hub.closed:
			return
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
		case e := <-s.ch:
			b, err := json.Marshal(e)
			if err != nil {
				continue
			}
			if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.Kind, b); err != nil {
				return
			}
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
