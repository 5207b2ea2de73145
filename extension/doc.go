// Package extension verifies and signs Twitch extension JWTs and protects an
// extension backend service (EBS) with net/http middleware.
//
// Twitch hands every extension front end a JWT (onAuthorized's auth.token),
// signed with HS256 (docs/protocol.md#extensions) using one of the extension's shared secrets. The front end
// sends it to the EBS, usually as "Authorization: Bearer <jwt>" or in an
// "x-extension-jwt" header. The EBS verifies it with [Verifier], reads the
// typed [Claims], and may call Twitch itself with a short-lived backend JWT
// (role "external") minted by [Signer].
//
// Secrets rotate: creating a new one leaves the previous one valid for about
// an hour, so a [Keyring] holds several at once, each with its own activation
// and expiry. [HelixSecrets] keeps a Keyring current from Twitch's
// GET /helix/extensions/jwt/secrets endpoint.
//
// [NewMiddleware] combines verification, per-viewer and per-channel rate limits
// and CORS for the extension's origin (https://<client-id>.ext-twitch.tv).
//
// What this package owns: extension JWT parsing, verification, signing, the
// extension-secret keyring and its Helix refresh, and the EBS middleware. What
// it must not touch: it never imports the twitchauth root package (user and
// app OAuth tokens) nor the twitchtest sandbox; the sandbox mints its own
// extension JWTs from the documented shapes, and the two meet only over HTTP.
//
// Verification is specialised for speed (hand-rolled parsing of the three
// parts, a pooled HMAC, a single-pass JSON reader into the fixed claim set);
// its behaviour is cross-checked against github.com/golang-jwt/jwt/v5 by the
// tests and the FuzzVerify target. Payloads in the shape Twitch sends take a
// fast path (issue 21): decoded on the stack (16 characters at a time with
// SSSE3 on amd64), scanned in one pass, and copied into one allocation of
// about 300 bytes; anything else falls back to the general reader, and the
// two are compared by TestFastClaimsAgrees and FuzzFastClaims. Measured on
// the shared, loaded 2-core machine (go test ./extension -run '^$' -bench
// Verify -count 8, medians of two runs): 1.06–1.26 µs per typical viewer
// token, 2.1–2.5× the floor of decoding the signature and HMAC-SHA256 of
// header.payload (0.43–0.59 µs), 7–10× faster than golang-jwt. Issue 21's
// target of 2× is not reached: HMAC is about half of the time, and the one
// allocation of the returned Claims (288 bytes, with its GC) about a sixth.
package extension
