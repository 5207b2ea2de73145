package broker

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/twitchauth/twitchauth/provider"
)

// healthTimeout bounds the store reads behind one health report (the
// Provider reads its unreadable records again).
const healthTimeout = 2 * time.Second

// health returns the Provider's health, within healthTimeout.
func (b *Broker) health(ctx context.Context) provider.Health {
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	return b.provider.Health(ctx)
}

// degradation words what is wrong with the grants, one sentence per
// problem, for /readyz and the home page; nil when nothing is.
func degradation(h provider.Health) []string {
	var out []string
	if n := len(h.Unsaved); n > 0 {
		out = append(out, fmt.Sprintf("degraded: %d grant%s not persisted (%s): the store refused to save the renewed token; "+
			"it is served from memory and saved again automatically once the store accepts writes, but would be lost if the broker stopped before that",
			n, plural(n), joinSubjects(h.Unsaved)))
	}
	if n := len(h.Unreadable); n > 0 {
		var keys []string
		for _, u := range h.Unreadable {
			keys = append(keys, fmt.Sprintf("%q (%v)", u.Key, u.Err))
		}
		out = append(out, fmt.Sprintf("degraded: %d stored record%s cannot be read and %s not served: %s. "+
			"Restore the encryption key they were sealed with, or remove each with `twitchauth serve store remove KEY` (nothing is removed automatically)",
			n, plural(n), map[bool]string{true: "is", false: "are"}[n == 1], strings.Join(keys, "; ")))
	}
	return out
}

// problems are the grants' problems (degradation) and the EventSub
// subscriptions' (esBroker.problem).
func (b *Broker) problems(ctx context.Context) []string {
	out := degradation(b.health(ctx))
	if p := b.es.problem(); p != "" {
		out = append(out, p)
	}
	return out
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// handleReadyz answers /readyz: 503 when the broker cannot serve (the
// store unreachable, the client credentials refused), 200 "degraded" with
// the problems when it serves but some grants are in trouble, 200 "ready"
// otherwise.
func (b *Broker) handleReadyz(w http.ResponseWriter, r *http.Request) {
	problems := b.problems(r.Context())
	if err := b.ready(r.Context()); err != nil {
		body := map[string]any{"status": "not ready", "error": err.Error()}
		if len(problems) > 0 {
			body["problems"] = problems
		}
		writeJSON(w, http.StatusServiceUnavailable, body)
		return
	}
	if len(problems) > 0 {
		writeJSON(w, http.StatusOK, map[string]any{"status": "degraded", "problems": problems})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// healthCollector exports the Provider's health at scrape time.
type healthCollector struct {
	b                   *Broker
	unsaved, unreadable *prometheus.Desc
}

func newHealthCollector(b *Broker) *healthCollector {
	return &healthCollector{
		b: b,
		unsaved: prometheus.NewDesc("twitchauth_grants_unpersisted",
			"Grants whose renewed token the store refused to save: served from memory and retried, lost if the broker stops first.", nil, nil),
		unreadable: prometheus.NewDesc("twitchauth_store_unreadable_records",
			"Stored records that cannot be read (corrupt, or sealed with another encryption key); their grants are not served.", nil, nil),
	}
}

func (c *healthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.unsaved
	ch <- c.unreadable
}

func (c *healthCollector) Collect(ch chan<- prometheus.Metric) {
	h := c.b.health(context.Background())
	ch <- prometheus.MustNewConstMetric(c.unsaved, prometheus.GaugeValue, float64(len(h.Unsaved)))
	ch <- prometheus.MustNewConstMetric(c.unreadable, prometheus.GaugeValue, float64(len(h.Unreadable)))
}

// joinSubjects lists subjects in their textual form.
func joinSubjects(subs []provider.Subject) string {
	out := make([]string, len(subs))
	for i, s := range subs {
		out[i] = s.String()
	}
	return strings.Join(out, ", ")
}
