package broker

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestSecretRotationReportedAndMended: the secret is rotated in the sandbox
// console while the broker runs. The next renewal fails; /readyz and the home
// page say what happened and what to do (never the secret); the grant is
// kept; the new secret, given through the admin API, restores everything
// without a restart.
func TestSecretRotationReportedAndMended(t *testing.T) {
	e := newEnv(t)
	u := sandboxUser(t, e.sb, 0)
	e.connect(e.browser(), u.Login).Body.Close()
	if resp, body := e.do("GET", "/readyz", ""); resp.StatusCode != 200 {
		t.Fatalf("readyz before: %d %s", resp.StatusCode, body)
	}
	newSecret, err := e.sb.RotateClientSecret(e.client.ID)
	if err != nil {
		t.Fatal(err)
	}
	resp, body := e.do("POST", "/v1/token/user/"+u.ID+"/refresh", e.keys[PermTokenRefresh])
	if resp.StatusCode < 400 {
		t.Fatalf("refresh with a rotated secret: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do("GET", "/readyz", "")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "rotated") ||
		!strings.Contains(string(body), "/v1/admin/client-secret") {
		t.Fatalf("readyz after rotation: %d %s", resp.StatusCode, body)
	}
	home := e.page("/")
	if !strings.Contains(home, `id="credentials"`) || !strings.Contains(home, "Token renewals are failing") {
		t.Fatalf("home page does not report the refused secret:\n%s", home)
	}
	for _, s := range []string{e.client.Secret, newSecret} {
		if strings.Contains(home, s) || strings.Contains(string(body), s) {
			t.Fatal("a secret is shown")
		}
	}
	// The grant survived (a refused secret is not a dead grant).
	if resp, body := e.do("GET", "/v1/users", e.admin); !strings.Contains(string(body), `"active"`) {
		t.Fatalf("users after a refused secret: %d %s", resp.StatusCode, body)
	}

	// A wrong new secret is refused with an explanation; the right one mends.
	if resp, body := e.put("/v1/admin/client-secret", `{"client_secret":"not-it"}`, e.admin); resp.StatusCode != http.StatusUnprocessableEntity ||
		strings.Contains(string(body), "not-it") {
		t.Fatalf("wrong new secret: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.put("/v1/admin/client-secret", `{"client_secret":"`+newSecret+`"}`, e.admin); resp.StatusCode != 200 {
		t.Fatalf("new secret: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.do("GET", "/readyz", ""); resp.StatusCode != 200 {
		t.Fatalf("readyz after the new secret: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.do("POST", "/v1/token/user/"+u.ID+"/refresh", e.keys[PermTokenRefresh]); resp.StatusCode != 200 {
		t.Fatalf("refresh after the new secret: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(e.page("/"), `id="credentials"`) {
		t.Fatal("the home page still reports the refused secret")
	}
	// Bad requests to the admin route: 400 JSON.
	if resp, _ := e.put("/v1/admin/client-secret", `{"secret":1}`, e.admin); resp.StatusCode != 400 {
		t.Fatalf("malformed body: %d", resp.StatusCode)
	}
}

func (e *env) put(path, body, key string) (*http.Response, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest("PUT", e.srv.URL+path, bytes.NewReader([]byte(body)))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// page fetches a page as the operator (admin session).
func (e *env) page(path string) string {
	e.t.Helper()
	c := e.browser()
	req, _ := http.NewRequest("POST", e.srv.URL+"/login", strings.NewReader("key="+e.admin))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", e.srv.URL)
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = c.Get(e.srv.URL + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
