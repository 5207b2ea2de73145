package broker

import (
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/twitchauth/twitchauth"
)

// metrics are the broker's Prometheus collectors, all prefixed twitchauth_.
type metrics struct {
	refreshes       *prometheus.CounterVec
	refreshFailures *prometheus.CounterVec
	validations     *prometheus.CounterVec
	revocations     *prometheus.CounterVec
	helixRequests   *prometheus.CounterVec
	helixRateWaits  prometheus.Counter
	apiRequests     *prometheus.CounterVec
	logins          *prometheus.CounterVec
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
			Help: "Grants lost or removed, by source: validation (the user disconnected the app), api, web.",
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
	}
	reg.MustRegister(m.refreshes, m.refreshFailures, m.validations, m.revocations,
		m.helixRequests, m.apiRequests, m.logins,
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
	for _, k := range []string{"validation", "api", "web"} {
		m.revocations.WithLabelValues(k)
	}
	return m
}

// hooks returns Provider hooks that feed the metrics and call next's hooks.
func (m *metrics) hooks(next twitchauth.Hooks) twitchauth.Hooks {
	return twitchauth.Hooks{
		OnRefresh: func(subject string, tok *twitchauth.Token) {
			m.refreshes.WithLabelValues(subjectKind(subject)).Inc()
			if next.OnRefresh != nil {
				next.OnRefresh(subject, tok)
			}
		},
		OnRefreshFailure: func(err *twitchauth.RefreshError) {
			m.refreshFailures.WithLabelValues(failureKind(err)).Inc()
			if next.OnRefreshFailure != nil {
				next.OnRefreshFailure(err)
			}
		},
		OnRevoked: func(subject, userID string) {
			m.revocations.WithLabelValues("validation").Inc()
			if next.OnRevoked != nil {
				next.OnRevoked(subject, userID)
			}
		},
		OnScopesChanged: next.OnScopesChanged,
	}
}

func (m *metrics) validated(results []twitchauth.ValidationResult) {
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

func (m *metrics) helixStatus(code int) {
	if code == 0 {
		m.helixRequests.WithLabelValues("error").Inc()
		return
	}
	m.helixRequests.WithLabelValues(strconv.Itoa(code)).Inc()
}

func subjectKind(subject string) string {
	if strings.HasPrefix(subject, "user:") {
		return "user"
	}
	return "app"
}

// failureKind classifies a failed renewal for the refresh_failures metric.
func failureKind(err *twitchauth.RefreshError) string {
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
