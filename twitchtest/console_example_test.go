package twitchtest_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/twitchauth/twitchauth/twitchtest"
)

// tokenStatus asks for an app token and returns the HTTP status and body.
func tokenStatus(s *twitchtest.Server, id, secret string) (int, string) {
	resp, err := http.PostForm(s.IDURL()+"/token", url.Values{"client_id": {id}, "client_secret": {secret}, "grant_type": {"client_credentials"}})
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Register an application with the developer console's rules, then rotate
// its secret: the old secret is refused at once.
func ExampleServer_RotateClientSecret() {
	s, _ := twitchtest.New()
	_ = s.Listen("127.0.0.1:0")
	defer s.Close()

	app, err := s.RegisterApp("twitchdev", twitchtest.AppRegistration{
		Name:         "My Chat Bot",
		RedirectURIs: []string{"http://localhost:3000"},
		Category:     "Chat Bot",
		Type:         twitchtest.Confidential,
	})
	if err != nil {
		panic(err)
	}
	st, _ := tokenStatus(s, app.ID, app.Secret)
	fmt.Println("before:", st)

	newSecret, _ := s.RotateClientSecret(app.ID)
	st, body := tokenStatus(s, app.ID, app.Secret)
	fmt.Println("old secret:", st, body)
	st, _ = tokenStatus(s, app.ID, newSecret)
	fmt.Println("new secret:", st)

	// The console's rules: http only for localhost, names unique.
	_, err = s.RegisterApp("twitchdev", twitchtest.AppRegistration{Name: "my chat bot", RedirectURIs: []string{"https://bot.example.com"}, Category: "Chat Bot"})
	fmt.Println(errors.Is(err, twitchtest.ErrDuplicate))
	_, err = s.RegisterApp("twitchdev", twitchtest.AppRegistration{Name: "Other Bot", RedirectURIs: []string{"http://bot.example.com"}, Category: "Chat Bot"})
	var ae *twitchtest.AppError
	errors.As(err, &ae)
	fmt.Println(ae.Field, strings.HasPrefix(ae.Message, "Redirect URIs must use HTTPS protocol."))
	// Output:
	// before: 200
	// old secret: 403 {"status":403,"message":"invalid client secret"}
	// new secret: 200
	// true
	// redirect_urls true
}

// A script registers an application through the console's JSON API with a
// console token.
func ExampleServer_ConsoleURL() {
	s, _ := twitchtest.New()
	_ = s.Listen("127.0.0.1:0")
	defer s.Close()

	call := func(method, path, token, body string, v any) int {
		req, _ := http.NewRequest(method, strings.TrimSuffix(s.ConsoleURL(), "/")+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		json.NewDecoder(resp.Body).Decode(v)
		return resp.StatusCode
	}
	var sess struct{ Token string }
	call("POST", "/api/session", "", `{"login":"twitchdev"}`, &sess)

	var app struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	st := call("POST", "/api/apps", sess.Token, `{"name":"Scripted App","redirect_urls":["http://localhost:3000"],"category":"Website Integration","client_type":"confidential"}`, &app)
	fmt.Println("register:", st)
	st, _ = tokenStatus(s, app.ClientID, app.ClientSecret)
	fmt.Println("token:", st)
	// Output:
	// register: 201
	// token: 200
}
