package twitchtest_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/twitchauth/twitchauth/twitchtest"
)

// A sandbox as a process-local server: get an app token and validate it.
func ExampleNew() {
	s, err := twitchtest.New()
	if err != nil {
		panic(err)
	}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		panic(err)
	}
	defer s.Close()

	c := s.DefaultClient()
	resp, err := http.PostForm(s.IDURL()+"/token", url.Values{
		"client_id": {c.ID}, "client_secret": {c.Secret}, "grant_type": {"client_credentials"},
	})
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, c.Type, c.RedirectURIs)
	// Output: 200 confidential [http://localhost:3000]
}

// Authorize performs the consent without a browser and returns where the
// browser would be redirected.
func ExampleServer_Authorize() {
	s, _ := twitchtest.New()
	_ = s.Listen("127.0.0.1:0")
	defer s.Close()
	c := s.DefaultClient()
	authURL := s.IDURL() + "/authorize?" + url.Values{
		"client_id": {c.ID}, "redirect_uri": {"http://localhost:3000"}, "response_type": {"code"},
		"scope": {"chat:read chat:edit"}, "state": {"xyz"},
	}.Encode()
	u, err := s.Authorize(authURL, "twitchdev")
	if err != nil {
		panic(err)
	}
	fmt.Println(u.Host, u.Query().Get("scope"), u.Query().Get("state"), len(u.Query().Get("code")))
	denied, _ := s.Deny(authURL)
	fmt.Println(strings.SplitN(denied.RawQuery, "&state", 2)[0])
	// Output:
	// localhost:3000 chat:read chat:edit xyz 30
	// error=access_denied&error_description=The+user+denied+you+access
}

// SetFault makes an endpoint fail, here /oauth2/validate with a 503.
func ExampleServer_SetFault() {
	s, _ := twitchtest.New()
	_ = s.Listen("127.0.0.1:0")
	defer s.Close()
	s.SetFault("validate", twitchtest.FaultFunc(func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, `{"status":503,"message":"Service Unavailable"}`, http.StatusServiceUnavailable)
		return true
	}))
	resp, _ := http.Get(s.IDURL() + "/validate")
	resp.Body.Close()
	fmt.Println(resp.StatusCode, s.Requests("validate"))
	// Output: 503 1
}
