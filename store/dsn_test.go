package store_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/twitchauth/twitchauth/store"
)

func TestRedactDSN(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"memory", "memory"},
		{"/var/lib/twitchauth/broker.db", "/var/lib/twitchauth/broker.db"},
		{"postgres://user:s3cret@db:5432/twitchauth?sslmode=verify-full", "postgres://user:xxxxx@db:5432/twitchauth?sslmode=verify-full"},
		{"postgresql://user@db/twitchauth", "postgresql://user@db/twitchauth"},
		{"postgres://db/x?password=s3cret&sslmode=disable", "postgres://db/x?password=xxxxx&sslmode=disable"},
		{"postgres://db/x?PassWord=s3cret&sslpassword=k3y", "postgres://db/x?PassWord=xxxxx&sslpassword=xxxxx"},
		{"postgres://u:p%40ss@db/x", "postgres://u:xxxxx@db/x"},
		{"postgres://u:s3cret@db/x?%zz", "postgres://u:xxxxx@db/x?(query redacted: it does not parse)"},
		{"postgres://u:s3cret@[::1/x", "(a store URL that does not parse)"},
		{"host=db user=u password=s3cret dbname=x", "host=db user=u password=xxxxx dbname=x"},
		{"host=db password = 's3 cr\\'et' dbname=x", "host=db password=xxxxx dbname=x"},
		{"host=db PASSWORD=s3cret sslpassword=k3y", "host=db PASSWORD=xxxxx sslpassword=xxxxx"},
	} {
		if got := store.RedactDSN(c.in); got != c.want {
			t.Errorf("RedactDSN(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzRedactDSN: the redaction of a URL or a keyword/value string does not
// depend on the password it carries (so no part of it can show), whatever
// the password and the rest of the string.
func FuzzRedactDSN(f *testing.F) {
	for _, s := range []string{"s3cret", "p@ss:word/", "a b", "'quoted'", "x%2Fy", "password=", `back\slash`} {
		f.Add(s, "db.internal:5432", "sslmode=disable", false)
		f.Add(s, "db", "user=u", true)
	}
	f.Fuzz(func(t *testing.T, password, host, extra string, keyword bool) {
		dsn := func(pw string) string {
			if keyword {
				quoted := "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(pw) + "'"
				return "host=" + host + " password=" + quoted + " sslpassword=" + quoted + " " + extra
			}
			u := &url.URL{Scheme: "postgres", User: url.UserPassword("u", pw), Host: host, Path: "/x",
				RawQuery: url.Values{"password": {pw}, "extra": {extra}}.Encode()}
			return u.String()
		}
		if keyword && strings.ContainsAny(host+extra, "'\\=") {
			t.Skip() // the rest of a keyword/value string is the caller's syntax
		}
		a, b := store.RedactDSN(dsn(password)), store.RedactDSN(dsn("other-password"))
		if a != b {
			t.Fatalf("the redaction depends on the password:\n%q\n%q", a, b)
		}
	})
}
