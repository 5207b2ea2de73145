package scopes

// To regenerate table_gen.go, copy Twitch's reference.html,
// eventsub-subscription-types.html and scopes.html (the public repository
// github.com/DmitryScaletta/twitch-api-swagger keeps them under tmp/) into a
// directory outside this repository, then run
//
//	TWITCH_DOCS_HTML=DIR TWITCH_DOCS_COMMIT=SHA TWITCH_DOCS_DATE=YYYY-MM-DD go generate ./scopes
//
// and update the Scopes section of docs/protocol.md with the new source.
//go:generate go run ../internal/gen/scopes -dir ${TWITCH_DOCS_HTML} -commit ${TWITCH_DOCS_COMMIT} -commit-date ${TWITCH_DOCS_DATE} -o table_gen.go
