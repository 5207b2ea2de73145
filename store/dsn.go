package store

import (
	"net/url"
	"strings"
)

// redactedPassword replaces a password in RedactDSN's output, as
// net/url.URL.Redacted does.
const redactedPassword = "xxxxx"

// secretParams are the connection parameters whose values are secrets
// (libpq's password and sslpassword), in a URL query or a keyword/value
// string.
var secretParams = []string{"password", "sslpassword"}

// keywordSecretRE finds password=… and sslpassword=… in a libpq
// keyword/value connection string; a value is a single-quoted string (with
// backslash escapes) or runs to the next space.
var keywordSecretRE = lazyRegexp(`(?i)\b((?:ssl)?password)\s*=\s*('(?:[^'\\]|\\.)*'?|[^\s]*)`)

// RedactDSN returns a store specification — a SQLite file path, "memory",
// a PostgreSQL URL (postgres://user:password@host/db?password=…) or a libpq
// keyword/value string (host=… password=…) — fit for a log line or a
// message: every password (the URL's userinfo password, and any password or
// sslpassword parameter) is replaced by "xxxxx". A URL that does not parse
// is not quoted at all. Every DSN the broker and the CLI print goes through
// it.
func RedactDSN(dsn string) string {
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "(a store URL that does not parse)"
		}
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), redactedPassword)
		}
		if u.RawQuery != "" {
			q, err := url.ParseQuery(u.RawQuery)
			if err != nil {
				u.RawQuery = "(query redacted: it does not parse)"
			} else {
				for k := range q {
					for _, p := range secretParams {
						if strings.EqualFold(k, p) {
							q[k] = []string{redactedPassword}
						}
					}
				}
				u.RawQuery = q.Encode()
			}
		}
		return u.String()
	}
	return keywordSecretRE().ReplaceAllString(dsn, "${1}="+redactedPassword)
}
