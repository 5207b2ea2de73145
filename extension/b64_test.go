package extension

import (
	"bytes"
	"strings"
	"testing"
)

// decodeBoth decodes src with decodePayload and with b64 and fails on any
// difference in acceptance, length or bytes.
func decodeBoth(t *testing.T, src []byte) {
	t.Helper()
	if bytes.ContainsAny(src, "\r\n") {
		return // verify refuses line breaks before decoding; b64 skips them
	}
	want := make([]byte, b64.DecodedLen(len(src))+16)
	got := make([]byte, len(want))
	wn, werr := b64.Decode(want, src)
	gn, gerr := decodePayload(got, src)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%q: b64 says %v, decodePayload %v", src, werr, gerr)
	}
	if werr == nil && (wn != gn || !bytes.Equal(want[:wn], got[:gn])) {
		t.Fatalf("%q: b64 decodes %x, decodePayload %x", src, want[:wn], got[:gn])
	}
}

// TestDecodePayloadMatchesStdlib puts every byte value at every position of
// two 16-character groups and a tail, in tokens of every length up to 70.
func TestDecodePayloadMatchesStdlib(t *testing.T) {
	valid := []byte(seg(strings.Repeat("twitch extension ", 4))) // 91 characters
	for n := range 71 {
		decodeBoth(t, valid[:n])
	}
	for _, n := range []int{32, 35, 46, 47, 48} {
		for p := range n {
			for b := range 256 {
				src := bytes.Clone(valid[:n])
				src[p] = byte(b)
				decodeBoth(t, src)
			}
		}
	}
	// Short destinations leave more to the tail, and nothing is written past
	// a destination's end (the 16-byte stores keep within it).
	src := valid[:64]
	want, _ := b64.DecodeString(string(src))
	for room := len(want); room < len(want)+20; room++ {
		mem := bytes.Repeat([]byte{0xAA}, room+16)
		dst := mem[:room:room]
		n, err := decodePayload(dst, src)
		if err != nil || !bytes.Equal(dst[:n], want) {
			t.Fatalf("room %d: %v %x", room, err, dst[:n])
		}
		if !bytes.Equal(mem[room:], bytes.Repeat([]byte{0xAA}, 16)) {
			t.Fatalf("room %d: decodePayload wrote past the destination: %x", room, mem[room:])
		}
	}
}

// FuzzDecodePayload compares decodePayload with b64 on arbitrary input.
//
//	go test -run '^$' -fuzz FuzzDecodePayload ./extension
func FuzzDecodePayload(f *testing.F) {
	f.Add([]byte(seg(typicalPayload)))
	f.Add([]byte("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9_-_-"))
	f.Add([]byte("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="))
	f.Fuzz(func(t *testing.T, src []byte) {
		decodeBoth(t, src)
	})
}
