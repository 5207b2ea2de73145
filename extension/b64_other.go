//go:build !amd64 || purego

package extension

// decodePayload is b64.Decode; amd64 has a faster one.
func decodePayload(dst, src []byte) (int, error) { return b64.Decode(dst, src) }
