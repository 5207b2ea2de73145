package extension

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	extjwt "github.com/twitchauth/twitchauth/extension"
	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
)

var (
	secretB64 = base64.StdEncoding.EncodeToString([]byte("an extension secret of 32 bytes!"))
	otherB64  = base64.StdEncoding.EncodeToString([]byte("another secret"))
	now       = time.Unix(1_700_000_000, 0)
)

func clock() time.Time { return now }

func env(vals map[string]string) func(string) string {
	return func(k string) string { return vals[k] }
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	var ee *cliutil.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("error without exit code: %v", err)
	}
	return ee.Code
}

func mint(t *testing.T, o JWTOptions) string {
	t.Helper()
	var out bytes.Buffer
	o.Stdout, o.Now = &out, clock
	if o.Getenv == nil {
		o.Getenv = env(nil)
	}
	if err := RunJWT(&o); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out.String())
}

func TestJWTThenVerify(t *testing.T) {
	tok := mint(t, JWTOptions{Secret: secretB64, Role: "viewer", ChannelID: "141981764", OpaqueUserID: "UG12X345T6J78", UserID: "27419011", TTL: time.Minute, PubSubSend: []string{"broadcast"}})
	if strings.Count(tok, ".") != 2 || strings.Contains(tok, "\n") {
		t.Fatalf("token %q", tok)
	}
	var out bytes.Buffer
	err := RunVerify(context.Background(), &VerifyOptions{Secrets: []string{otherB64, secretB64}, Token: tok, Stdout: &out, Now: clock, Getenv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	var c extjwt.Claims
	if err := json.Unmarshal(out.Bytes(), &c); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if c.Role != extjwt.RoleViewer || c.ChannelID != "141981764" || c.OpaqueUserID != "UG12X345T6J78" || c.UserID != "27419011" ||
		c.Exp != now.Add(time.Minute).Unix() || len(c.PubSubPerms.Send) != 1 {
		t.Fatalf("claims %+v", c)
	}
	if strings.Contains(out.String(), secretB64) {
		t.Fatal("secret printed")
	}
}

func TestJWTJSONAndEnvSecret(t *testing.T) {
	var out bytes.Buffer
	o := JWTOptions{Role: "broadcaster", ChannelID: "1", OpaqueUserID: "U1", TTL: 3 * time.Minute, JSON: true,
		Stdout: &out, Now: clock, Getenv: env(map[string]string{EnvSecret: secretB64})}
	if err := RunJWT(&o); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Token     string        `json:"token"`
		Claims    extjwt.Claims `json:"claims"`
		ExpiresAt time.Time     `json:"expires_at"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Claims.Role != extjwt.RoleBroadcaster || !got.ExpiresAt.Equal(now.Add(3*time.Minute)) || got.Token == "" {
		t.Fatalf("%+v", got)
	}
	if strings.Contains(out.String(), secretB64) {
		t.Fatal("secret printed")
	}
	// Verify from stdin, secrets from the environment (comma-separated).
	var vout bytes.Buffer
	err := RunVerify(context.Background(), &VerifyOptions{Token: "-", Stdin: strings.NewReader(got.Token + "\n"), Stdout: &vout, Now: clock,
		Getenv: env(map[string]string{EnvSecret: otherB64 + ", " + secretB64})})
	if err != nil || !strings.Contains(vout.String(), `"role": "broadcaster"`) {
		t.Fatalf("%v %s", err, vout.String())
	}
}

func TestVerifyRefusals(t *testing.T) {
	tok := mint(t, JWTOptions{Secret: secretB64, Role: "viewer", OpaqueUserID: "U1", TTL: time.Minute})
	cases := []struct {
		name  string
		o     VerifyOptions
		code  int
		inErr string
	}{
		{"wrong secret", VerifyOptions{Secrets: []string{otherB64}, Token: tok}, cliutil.ExitRefused, "signature"},
		{"expired", VerifyOptions{Secrets: []string{secretB64}, Token: tok, Now: func() time.Time { return now.Add(2 * time.Minute) }}, cliutil.ExitRefused, "expired"},
		{"role not allowed", VerifyOptions{Secrets: []string{secretB64}, Token: tok, Roles: []string{"broadcaster"}}, cliutil.ExitRefused, "role"},
		{"garbage", VerifyOptions{Secrets: []string{secretB64}, Token: "a.b"}, cliutil.ExitRefused, "malformed"},
		{"no secret", VerifyOptions{Token: tok}, cliutil.ExitUsage, EnvSecret},
		{"bad secret", VerifyOptions{Secrets: []string{"!!not base64!!"}, Token: tok}, cliutil.ExitUsage, "base64"},
		{"no token", VerifyOptions{Secrets: []string{secretB64}, Stdin: strings.NewReader("")}, cliutil.ExitUsage, "no token"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			c.o.Stdout = &out
			if c.o.Now == nil {
				c.o.Now = clock
			}
			c.o.Getenv = env(nil)
			err := RunVerify(context.Background(), &c.o)
			if got := exitCode(t, err); got != c.code || !strings.Contains(err.Error(), c.inErr) {
				t.Fatalf("exit %d, err %v", got, err)
			}
			if out.Len() != 0 {
				t.Fatalf("printed claims for a refused token: %s", out.String())
			}
			if strings.Contains(err.Error(), secretB64) || strings.Contains(err.Error(), "!!not base64!!") {
				t.Fatalf("secret in error: %v", err)
			}
		})
	}
}

func TestJWTUsageErrors(t *testing.T) {
	cases := []JWTOptions{
		{Secret: secretB64, Role: "admin", OpaqueUserID: "U1", TTL: time.Minute},
		{Secret: secretB64, Role: "viewer", TTL: time.Minute},
		{Secret: secretB64, Role: "viewer", OpaqueUserID: "U1", TTL: -time.Minute},
		{Role: "viewer", OpaqueUserID: "U1", TTL: time.Minute},
		{Secret: "%%%", Role: "viewer", OpaqueUserID: "U1", TTL: time.Minute},
	}
	for i, o := range cases {
		o.Getenv, o.Now = env(nil), clock
		err := RunJWT(&o)
		if exitCode(t, err) != cliutil.ExitUsage {
			t.Fatalf("case %d: %v", i, err)
		}
	}
	// Role external needs no opaque user ID.
	if tok := mint(t, JWTOptions{Secret: secretB64, Role: "external", UserID: "27419011", TTL: time.Minute}); tok == "" {
		t.Fatal("no token")
	}
}

// The cobra wiring: flags reach the options.
func TestCommandWiring(t *testing.T) {
	t.Setenv(EnvSecret, secretB64)
	var out, errOut bytes.Buffer
	cmd := NewCommand(&out, &errOut)
	cmd.SetArgs([]string{"jwt", "--role", "moderator", "--channel-id", "7", "--opaque-user-id", "U7", "--ttl", "1h"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(out.String())
	out.Reset()
	cmd = NewCommand(&out, &errOut)
	cmd.SetArgs([]string{"verify", tok})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"role": "moderator"`) || !strings.Contains(out.String(), `"channel_id": "7"`) {
		t.Fatalf("%s", out.String())
	}
}
