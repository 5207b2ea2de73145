package broker

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/provider"
)

// metrics are the broker's Prometheus collectors, all prefixed twitchauth_.
type metrics struct {
	refreshes       *prometheus.CounterVec
	refreshFailures *prometheus.CounterVec
	validations     *prometheus.CounterVec
	revocations     *prometheus.CounterVec
	helixRequests   *prometheus.CounterVec
	helixCodes      *codeCounters // helixRequests by code
	apiRequests     *prometheus.CounterVec
	logins          *prometheus.CounterVec
	handouts        *prometheus.CounterVec
	keys            prometheus.Gauge
	keysReloadOK    prometheus.Gauge

	// eventsubRevoking holds the user IDs whose revocation an EventSub
	// message is applying, so that OnRevoked counts it as source=eventsub.
	eventsubRevoking sync.Map
}

func newMetrics(reg prometheus.Registerer, accounts func() float64) *metrics {
	m := &metrics{
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twitchauth_refreshes_total",
			Help: "Tokens renewed (app tokens fetched again, user tokens refreshed), by subject kind.",
		}, []string{"subject"}),
		refreshFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twitchauth_refresh_failures_total",
			Help: "Failed renewals by kind: dead (the user must authorize again), config (client credentials refused), transient (network, 5xx, store).",
		}, []string{"kind"}),
		validations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twitchauth_validations_total",
			Help: "Token validations by result: valid, renewed, revoked, error.",
		}, []string{"result"}),
		revocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twitchauth_revocations_total",
			Help: "Grants lost or removed, by source: eventsub (Twitch announced that the user disconnected the app), validation (the hourly validation found it), api, web.",
		}, []string{"source"}),
		helixRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twitchauth_helix_requests_total",
			Help: "Requests through the Helix proxy, by the HTTP status code answered to the caller (\"error\" when Helix could not be reached).",
		}, []string{"code"}),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twitchauth_api_requests_total",
			Help: "Token API requests by route and HTTP status code.",
		}, []string{"route", "code"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twitchauth_logins_total",
			Help: "Twitch sign-ins through the web pages, by result.",
		}, []string{"result"}),
		// The labels are bounded by configuration, not by traffic: key is
		// the name of a key that exists (a deleted key's series are
		// removed); subject is app, intent:<name> for bound intents,
		// user:<id> only for users a key lists by ID, and user:* for every
		// other user (the audit log names each user).
		handouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twitchauth_token_handouts_total",
			Help: "Tokens handed out by the token API (via=api) or used by the Helix proxy (via=helix), by API key and subject (app, intent:<name>, user:<id> for users the key lists, user:* otherwise).",
		}, []string{"key", "subject", "via"}),
		keys: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "twitchauth_api_keys",
			Help: "API keys accepted now.",
		}),
		keysReloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "twitchauth_api_keys_last_reload_success",
			Help: "1 when the last reading of the API keys' sources (keys file, store) succeeded, 0 when one of them could not be read (its previous keys stay in use).",
		}),
	}
	m.helixCodes = &codeCounters{vec: m.helixRequests}
	reg.MustRegister(m.refreshes, m.refreshFailures, m.validations, m.revocations,
		m.helixRequests, m.apiRequests, m.logins, m.handouts, m.keys, m.keysReloadOK,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "twitchauth_accounts",
			Help: "User grants held (any status).",
		}, accounts),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	// Make the usual series visible at zero before the first event.
	for _, k := range []string{"app", "user"} {
		m.refreshes.WithLabelValues(k)
	}
	for _, k := range []string{"dead", "config", "transient"} {
		m.refreshFailures.WithLabelValues(k)
	}
	for _, k := range []string{"valid", "renewed", "revoked", "error"} {
		m.validations.WithLabelValues(k)
	}
	for _, k := range []string{"eventsub", "validation", "api", "web"} {
		m.revocations.WithLabelValues(k)
	}
	return m
}

// hooks returns Provider hooks that feed the metrics and call next's hooks.
func (m *metrics) hooks(next provider.Hooks) provider.Hooks {
	return provider.Hooks{
		OnRefresh: func(subject provider.Subject, tok *twitchauth.Token) {
			m.refreshes.WithLabelValues(subjectKind(subject)).Inc()
			if next.OnRefresh != nil {
				next.OnRefresh(subject, tok)
			}
		},
		OnRefreshFailure: func(err *provider.RefreshError) {
			m.refreshFailures.WithLabelValues(failureKind(err)).Inc()
			if next.OnRefreshFailure != nil {
				next.OnRefreshFailure(err)
			}
		},
		OnRevoked: func(subject provider.Subject) {
			source := "validation"
			if _, ok := m.eventsubRevoking.Load(subject.UserID()); ok {
				source = "eventsub"
			}
			m.revocations.WithLabelValues(source).Inc()
			if next.OnRevoked != nil {
				next.OnRevoked(subject)
			}
		},
		OnScopesChanged: next.OnScopesChanged,
	}
}

func (m *metrics) validated(results []provider.ValidationResult) {
	for _, r := range results {
		switch {
		case r.Revoked:
			m.validations.WithLabelValues("revoked").Inc()
		case r.Err != nil || !r.Valid:
			m.validations.WithLabelValues("error").Inc()
		case r.Renewed:
			m.validations.WithLabelValues("renewed").Inc()
		default:
			m.validations.WithLabelValues("valid").Inc()
		}
	}
}

func (m *metrics) handout(key, subject, via string) {
	m.handouts.WithLabelValues(key, subject, via).Inc()
}

// forgetKey removes the series of a deleted key.
func (m *metrics) forgetKey(name string) {
	m.handouts.DeletePartialMatch(prometheus.Labels{"key": name})
}

func (m *metrics) keysReloaded(ok bool, n int) {
	m.keys.Set(float64(n))
	if ok {
		m.keysReloadOK.Set(1)
	} else {
		m.keysReloadOK.Set(0)
	}
}

// auditCollector exports an AuditLog's counters at scrape time.
type auditCollector struct {
	a                             *AuditLog
	written, syncs, errs, dropped *prometheus.Desc
	failing                       *prometheus.Desc
}

func newAuditCollector(a *AuditLog) *auditCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &auditCollector{a: a,
		written: d("twitchauth_audit_entries_total", "Audit entries written to the audit log and synced."),
		syncs:   d("twitchauth_audit_syncs_total", "fsync calls of the audit log (each covers a batch of entries)."),
		errs:    d("twitchauth_audit_write_errors_total", "Failed writes or fsyncs of the audit log (each retried every second)."),
		dropped: d("twitchauth_audit_dropped_total", "Audit entries dropped because the queue was full while the file could not be written (audited requests are refused meanwhile)."),
		failing: d("twitchauth_audit_failing", "1 while the audit log cannot be written (audited requests answer 503)."),
	}
}

func (c *auditCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.written, c.syncs, c.errs, c.dropped, c.failing} {
		ch <- d
	}
}

func (c *auditCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.a.Stats()
	ch <- prometheus.MustNewConstMetric(c.written, prometheus.CounterValue, float64(s.Written))
	ch <- prometheus.MustNewConstMetric(c.syncs, prometheus.CounterValue, float64(s.Syncs))
	ch <- prometheus.MustNewConstMetric(c.errs, prometheus.CounterValue, float64(s.Errors))
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(s.Dropped))
	failing := 0.0
	if c.a.Err() != nil {
		failing = 1
	}
	ch <- prometheus.MustNewConstMetric(c.failing, prometheus.GaugeValue, failing)
}

func (m *metrics) helixStatus(code int) {
	if code == 0 {
		m.helixRequests.WithLabelValues("error").Inc()
		return
	}
	m.helixCodes.inc(code)
}

// codeCounters caches the counters of a CounterVec whose last label is an
// HTTP status code, the other labels fixed (issue 21: WithLabelValues
// formatted the code, hashed the labels and took a lock on every proxied
// request). The vectors it serves are never reset or pruned.
type codeCounters struct {
	vec    *prometheus.CounterVec
	labels []string // the labels before the code
	byCode sync.Map // int → prometheus.Counter
}

func (c *codeCounters) inc(code int) {
	if v, ok := c.byCode.Load(code); ok {
		v.(prometheus.Counter).Inc()
		return
	}
	ctr := c.vec.WithLabelValues(append(append([]string(nil), c.labels...), strconv.Itoa(code))...)
	c.byCode.Store(code, ctr)
	ctr.Inc()
}

func subjectKind(subject provider.Subject) string {
	if subject.UserID() != "" {
		return "user"
	}
	return "app"
}

// failureKind classifies a failed renewal for the refresh_failures metric.
func failureKind(err *provider.RefreshError) string {
	switch {
	case err.Dead:
		return "dead"
	case isConfigError(err):
		return "config"
	default:
		return "transient"
	}
}

// isConfigError reports whether err means the broker's client credentials are
// wrong (an operator must fix the configuration).
func isConfigError(err error) bool { return credentialError(err) != nil }
