package cliutil

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
)

// WriteJSON writes v as one compact JSON object and a newline: the form of
// every command's --json output. HTML characters are not escaped.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return Exit(ExitInternal, err)
	}
	return nil
}

// ReadLine reads one line from in (without its line ending). It reads byte
// by byte so that nothing after the line is consumed.
func ReadLine(in io.Reader) (string, error) {
	var sb strings.Builder
	br, ok := in.(io.ByteReader)
	if !ok {
		br = &byteReader{r: in}
	}
	for {
		c, err := br.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) && sb.Len() > 0 {
				break
			}
			return "", err
		}
		if c == '\n' {
			break
		}
		sb.WriteByte(c)
		if sb.Len() > 4096 {
			return "", errors.New("input line too long")
		}
	}
	return strings.TrimRight(sb.String(), "\r"), nil
}

type byteReader struct {
	r   io.Reader
	buf [1]byte
}

func (b *byteReader) ReadByte() (byte, error) {
	n, err := b.r.Read(b.buf[:])
	if n == 1 {
		return b.buf[0], nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return 0, err
}

// Buffer is a bytes.Buffer safe for a command writing while a test reads.
// OnWrite, if set, is called with the whole content after each write.
type Buffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	OnWrite func(content string)
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	n, err := b.b.Write(p)
	s := b.b.String()
	f := b.OnWrite
	b.mu.Unlock()
	if f != nil {
		f(s)
	}
	return n, err
}

// String returns the content written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Reset empties the buffer.
func (b *Buffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.Reset()
}
