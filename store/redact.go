package store

import (
	"fmt"
	"log/slog"
	"time"
)

const redacted = "[REDACTED]"

func redact(token string) string {
	if token == "" {
		return `""`
	}
	return redacted
}

// String formats r for humans with its tokens redacted, so that printing a
// Record with fmt (%v, %+v, %s) never reveals a token.
func (r Record) String() string {
	return fmt.Sprintf("store.Record{Key:%q Version:%d ClientID:%q UserID:%q Login:%q AccessToken:%s RefreshToken:%s "+
		"TokenType:%q Scopes:%q Expiry:%s Intents:%q Status:%q LastValidated:%s UpdatedAt:%s}",
		r.Key, r.Version, r.ClientID, r.UserID, r.Login, redact(r.AccessToken), redact(r.RefreshToken),
		r.TokenType, r.Scopes, fmtTime(r.Expiry), r.Intents, r.Status, fmtTime(r.LastValidated), fmtTime(r.UpdatedAt))
}

// GoString is String, so that %#v redacts the tokens too.
func (r Record) GoString() string { return r.String() }

// LogValue makes log/slog log r without its tokens: it logs whether each
// token is present instead.
func (r Record) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("key", r.Key),
		slog.Int64("version", r.Version),
		slog.String("user_id", r.UserID),
		slog.String("login", r.Login),
		slog.Bool("has_access_token", r.AccessToken != ""),
		slog.Bool("has_refresh_token", r.RefreshToken != ""),
		slog.Any("scopes", r.Scopes),
		slog.Time("expiry", r.Expiry),
		slog.Any("intents", r.Intents),
		slog.String("status", r.Status),
	)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return t.Format(time.RFC3339Nano)
}
