package twitchtest_test

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/twitchauth/twitchauth/twitchtest"
)

// A front end calls Helix with the viewer's Helix JWT and the Extension
// authorization scheme; Twitch's per-viewer bucket applies.
func ExampleServer_MintHelixJWT() {
	s, err := twitchtest.New()
	if err != nil {
		panic(err)
	}
	defer s.Close()
	if err := s.Listen("127.0.0.1:0"); err != nil {
		panic(err)
	}
	ext := s.ExtensionClient()
	helixToken, err := s.MintHelixJWT(twitchtest.HelixJWTOptions{OpaqueUserID: "U12345"})
	if err != nil {
		panic(err)
	}
	req, _ := http.NewRequest("GET", s.APIURL()+"/streams?first=1", nil)
	req.Header.Set("Client-Id", ext.ID)
	req.Header.Set("Authorization", "Extension "+helixToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("Ratelimit-Limit"), resp.Header.Get("Ratelimit-Remaining"))
	// Output: 200 30 29
}

// An EBS signs an external JWT to send an extension PubSub message; the
// test then reads what was sent.
func ExampleServer_MintExtensionJWT() {
	s, err := twitchtest.New()
	if err != nil {
		panic(err)
	}
	defer s.Close()
	if err := s.Listen("127.0.0.1:0"); err != nil {
		panic(err)
	}
	ext := s.ExtensionClient()
	b, _ := s.User("broadcaster")
	tok, err := s.MintExtensionJWT(twitchtest.ExtJWTOptions{
		Role: twitchtest.RoleExternal, UserID: b.ID, ChannelID: b.ID,
		PubsubPerms: &twitchtest.PubsubPerms{Send: []string{"broadcast"}},
	})
	if err != nil {
		panic(err)
	}
	body := fmt.Sprintf(`{"target":["broadcast"],"broadcaster_id":%q,"message":"hello"}`, b.ID)
	req, _ := http.NewRequest("POST", s.APIURL()+"/extensions/pubsub", strings.NewReader(body))
	req.Header.Set("Client-Id", ext.ID)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, s.PubSubMessages(ext.ID)[0].Message)
	// Output: 204 hello
}
