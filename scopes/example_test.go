package scopes_test

import (
	"fmt"

	"github.com/twitchauth/twitchauth/scopes"
)

// The smallest set of scopes for the endpoints a bot calls: Get Polls takes
// the read or the manage scope, and Create Poll needs the manage one, which
// then covers both.
func ExampleFor() {
	need, _ := scopes.For("POST /chat/messages", "GET /polls")
	fmt.Println(need)
	need, _ = scopes.For("POST /chat/messages", "GET /polls", "POST /polls")
	fmt.Println(need)
	// Output:
	// [channel:read:polls user:write:chat]
	// [channel:manage:polls user:write:chat]
}

// What one endpoint requires, including what an app token needs besides.
func ExampleLookup() {
	r, err := scopes.Lookup("POST /chat/messages")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Name, "takes", r.Tokens, "tokens")
	fmt.Println("user token:", r.Need, "from", r.Role)
	for _, g := range r.AppGrants {
		fmt.Println("app token, also:", g)
	}
	fmt.Println("has a scope:", r.Need.SatisfiedBy([]string{"user:write:chat"}))
	// Output:
	// Send Chat Message takes app or user tokens
	// user token: user:write:chat from the user
	// app token, also: user:bot from the user
	// app token, also: channel:bot from the broadcaster (unless the user is a moderator of the channel)
	// has a scope: true
}
