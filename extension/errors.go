package extension

import "errors"

// The extension package's errors in one place; match them with errors.Is.

// errExpRange marks a NumericDate too large to be a time (|v| >= 2^62 s)
// or not representable as a float64.
var errExpRange = errors.New("NumericDate out of range")

// ErrNoSigningSecret means no secret in the keyring is active now.
var ErrNoSigningSecret = errors.New("extension: no active extension secret to sign with")

// Errors returned by Verify and the middleware, to match with errors.Is.
// Every error other than ErrExpired means the token is invalid.
var (
	// ErrMissing means the request carried no JWT.
	ErrMissing = errors.New("extension: no JWT in the request (send Authorization: Bearer <token> or x-extension-jwt)")
	// ErrTooLarge means the token is longer than the verifier accepts.
	ErrTooLarge = errors.New("extension: JWT too large")
	// ErrMalformed means the token is not three base64url parts holding
	// JSON objects of the expected shape.
	ErrMalformed = errors.New("extension: malformed JWT")
	// ErrAlgorithm means the header does not name HS256.
	ErrAlgorithm = errors.New("extension: JWT algorithm is not HS256")
	// ErrSignature means no extension secret in force produced the signature.
	ErrSignature = errors.New("extension: JWT signature matches no extension secret in force")
	// ErrMissingExp means the payload has no exp claim.
	ErrMissingExp = errors.New("extension: JWT has no exp claim")
	// ErrExpired means the token was valid but its exp has passed.
	ErrExpired = errors.New("extension: JWT expired")
	// ErrRole means the role claim is missing or not among the allowed roles.
	ErrRole = errors.New("extension: JWT role not allowed")
)
