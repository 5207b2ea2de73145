package extension

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
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

// fac is a Factory over the environment vals, stdin in and the clock clk
// (the fixed clock when nil).
func fac(vals map[string]string, in string, clk func() time.Time) (*cliutil.Factory, *cliutil.Buffer) {
	f, out, _ := cliutil.NewTestFactory(vals, in)
	f.Now = clock
	if clk != nil {
		f.Now = clk
	}
	return f, out
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
	f, out := fac(nil, "", nil)
	o.Factory = f
	if err := RunJWT(&o); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out.String())
}

func TestJWTThenVerify(t *testing.T) {
	tok := mint(t, JWTOptions{Secret: secretB64, Role: "viewer", ChannelID: "141981764", OpaqueUserID: "UG12X345T6J78", UserID: "27419011", Lifetime: time.Minute, PubSubSend: []string{"broadcast"}})
	if strings.Count(tok, ".") != 2 || strings.Contains(tok, "\n") {
		t.Fatalf("token %q", tok)
	}
	f, out := fac(nil, "", nil)
	err := RunVerify(context.Background(), &VerifyOptions{Secrets: []string{otherB64, secretB64}, Token: tok, JSON: true, Factory: f})
	if err != nil {
		t.Fatal(err)
	}
	var c extjwt.Claims
	if err := json.Unmarshal([]byte(out.String()), &c); err != nil {
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
	f, out := fac(map[string]string{EnvSecret: secretB64}, "", nil)
	o := JWTOptions{Role: "broadcaster", ChannelID: "1", OpaqueUserID: "U1", Lifetime: 3 * time.Minute, JSON: true, Factory: f}
	if err := RunJWT(&o); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Token     string        `json:"token"`
		Claims    extjwt.Claims `json:"claims"`
		ExpiresAt time.Time     `json:"expires_at"`
	}
	if strings.Count(out.String(), "\n") != 1 {
		t.Fatalf("--json is not one line: %q", out.String())
	}
	if err := json.Unmarshal([]byte(out.String()), &got); err != nil {
		t.Fatal(err)
	}
	if got.Claims.Role != extjwt.RoleBroadcaster || !got.ExpiresAt.Equal(now.Add(3*time.Minute)) || got.Token == "" {
		t.Fatalf("%+v", got)
	}
	if strings.Contains(out.String(), secretB64) {
		t.Fatal("secret printed")
	}
	// Verify from stdin, secrets from the environment (comma-separated).
	vf, vout := fac(map[string]string{EnvSecret: otherB64 + ", " + secretB64}, got.Token+"\n", nil)
	err := RunVerify(context.Background(), &VerifyOptions{Token: "-", Factory: vf})
	// Readable lines by default.
	if err != nil || !strings.Contains(vout.String(), "Role: broadcaster\n") || !strings.Contains(vout.String(), "Channel ID: 1\n") ||
		!strings.Contains(vout.String(), "Expires At: "+now.Add(3*time.Minute).UTC().Format(time.RFC3339)+" (in 3m0s)") {
		t.Fatalf("%v %s", err, vout.String())
	}
}

func TestVerifyRefusals(t *testing.T) {
	tok := mint(t, JWTOptions{Secret: secretB64, Role: "viewer", OpaqueUserID: "U1", Lifetime: time.Minute})
	cases := []struct {
		name  string
		o     VerifyOptions
		code  int
		inErr string
	}{
		{"wrong secret", VerifyOptions{Secrets: []string{otherB64}, Token: tok}, cliutil.ExitRefused, "signature"},
		{"expired", VerifyOptions{Secrets: []string{secretB64}, Token: tok, Factory: &cliutil.Factory{Now: func() time.Time { return now.Add(2 * time.Minute) }}}, cliutil.ExitRefused, "expired"},
		{"role not allowed", VerifyOptions{Secrets: []string{secretB64}, Token: tok, Roles: []string{"broadcaster"}}, cliutil.ExitRefused, "role"},
		{"garbage", VerifyOptions{Secrets: []string{secretB64}, Token: "a.b"}, cliutil.ExitRefused, "malformed"},
		{"no secret", VerifyOptions{Token: tok}, cliutil.ExitUsage, EnvSecret},
		{"bad secret", VerifyOptions{Secrets: []string{"!!not base64!!"}, Token: tok}, cliutil.ExitUsage, "base64"},
		{"no token", VerifyOptions{Secrets: []string{secretB64}}, cliutil.ExitUsage, "no token"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var clk func() time.Time
			if c.o.Factory != nil {
				clk = c.o.Factory.Now
			}
			f, out := fac(nil, "", clk)
			c.o.Factory = f
			err := RunVerify(context.Background(), &c.o)
			if got := exitCode(t, err); got != c.code || !strings.Contains(err.Error(), c.inErr) {
				t.Fatalf("exit %d, err %v", got, err)
			}
			if out.String() != "" {
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
		{Secret: secretB64, Role: "admin", OpaqueUserID: "U1", Lifetime: time.Minute},
		{Secret: secretB64, Role: "viewer", Lifetime: time.Minute},
		{Secret: secretB64, Role: "viewer", OpaqueUserID: "U1", Lifetime: -time.Minute},
		{Role: "viewer", OpaqueUserID: "U1", Lifetime: time.Minute},
		{Secret: "%%%", Role: "viewer", OpaqueUserID: "U1", Lifetime: time.Minute},
	}
	for i, o := range cases {
		o.Factory, _ = fac(nil, "", nil)
		err := RunJWT(&o)
		if exitCode(t, err) != cliutil.ExitUsage {
			t.Fatalf("case %d: %v", i, err)
		}
	}
	// Role external needs no opaque user ID.
	if tok := mint(t, JWTOptions{Secret: secretB64, Role: "external", UserID: "27419011", Lifetime: time.Minute}); tok == "" {
		t.Fatal("no token")
	}
}

// The cobra wiring: flags (and the old spellings) reach the options. The
// notices of old spellings are root's (internal/cli/root's grammar test).
func TestCommandWiring(t *testing.T) {
	f, out, errOut := cliutil.NewTestFactory(map[string]string{EnvSecret: secretB64}, "")
	f.Now = clock
	cmd := NewCmdExtension(f)
	cmd.SetArgs([]string{"jwt", "--role", "moderator", "--channel-id", "7", "--opaque-user-id", "U7", "--ttl", "1h"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if errOut.String() != "" {
		t.Errorf("stderr: %q", errOut.String())
	}
	tok := strings.TrimSpace(out.String())
	out.Reset()
	cmd = NewCmdExtension(f)
	cmd.SetArgs([]string{"verify", "--json", tok})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"role":"moderator"`) || !strings.Contains(out.String(), `"channel_id":"7"`) ||
		!strings.Contains(out.String(), fmt.Sprintf(`"exp":%d`, now.Add(time.Hour).Unix())) {
		t.Fatalf("%s", out.String())
	}
}
