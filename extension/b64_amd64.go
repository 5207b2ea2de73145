//go:build amd64 && !purego

package extension

import (
	"errors"

	"golang.org/x/sys/cpu"
)

var haveSSSE3 = cpu.X86.HasSSSE3

// errPayloadBase64 is decodePayload's error for a byte outside base64url
// (kept here, not in errors.go: only amd64 uses it; Verify reports it as
// ErrMalformed).
var errPayloadBase64 = errors.New("extension: payload is not base64url")

// decodeBlocks16 decodes blocks groups of 16 base64url characters from src
// into 12 bytes each at dst, storing 16 bytes per group (4 past its 12), and
// reports whether every character was in the alphabet.
//
//go:noescape
func decodeBlocks16(dst, src *byte, blocks int) bool

// decodePayload is b64.Decode for a segment without CR or LF (verify refuses
// them first; the standard decoder skips them): whole groups of 16
// characters with SSSE3, the rest (and the strict check of the last
// character) with b64 (issue 21).
func decodePayload(dst, src []byte) (int, error) {
	blocks := len(src) / 16
	if room := (len(dst) - 4) / 12; blocks > room {
		blocks = room
	}
	if !haveSSSE3 || blocks <= 0 {
		return b64.Decode(dst, src)
	}
	if !decodeBlocks16(&dst[0], &src[0], blocks) {
		return 0, errPayloadBase64
	}
	n, err := b64.Decode(dst[blocks*12:], src[blocks*16:])
	if err != nil {
		return 0, err
	}
	return blocks*12 + n, nil
}
