package config

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"golang.org/x/term"
)

// Factory hands a command its dependencies. Commands never reach for
// os.Getenv, time.Now, a terminal or a browser directly, so that tests can
// run them in-process with fakes. Build it with Default and replace fields.
type Factory struct {
	// Getenv reads the environment (os.Getenv by default).
	Getenv func(string) string
	// HTTPClient makes every request to Twitch; nil means the client
	// library's default (30 s timeout).
	HTTPClient *http.Client
	// OpenBrowser opens url in the user's browser. Failures are ignored by
	// the commands: the URL is always printed too.
	OpenBrowser func(ctx context.Context, url string) error
	// Now is the clock (time.Now by default).
	Now func() time.Time
	// IsTerminal reports whether a stream (os.Stdin, os.Stderr…) is a
	// terminal. Anything but an *os.File is not.
	IsTerminal func(stream any) bool
	// ReadSecret reads a line from in without echoing it when in is a
	// terminal (a password prompt).
	ReadSecret func(in io.Reader) (string, error)
	// Logger receives debug logs (never a secret); discarded by default.
	Logger *slog.Logger
	// Listen opens a local listening socket (the login redirect server's):
	// net.ListenConfig's Listen by default. Tests hand over a socket they
	// bound beforehand, so that the port they registered stays theirs.
	Listen func(ctx context.Context, network, address string) (net.Listener, error)
}

// Default returns the Factory of the real program.
func Default() *Factory {
	return &Factory{
		Getenv:      os.Getenv,
		OpenBrowser: OpenBrowser,
		Now:         time.Now,
		IsTerminal:  IsTerminal,
		ReadSecret:  ReadSecret,
		Logger:      slog.New(slog.DiscardHandler),
		Listen:      new(net.ListenConfig).Listen,
	}
}

// Fill sets every nil field of f from Default, so that tests only set what
// they fake.
func (f *Factory) Fill() *Factory {
	d := Default()
	if f.Getenv == nil {
		f.Getenv = d.Getenv
	}
	if f.OpenBrowser == nil {
		f.OpenBrowser = d.OpenBrowser
	}
	if f.Now == nil {
		f.Now = d.Now
	}
	if f.IsTerminal == nil {
		f.IsTerminal = d.IsTerminal
	}
	if f.ReadSecret == nil {
		f.ReadSecret = d.ReadSecret
	}
	if f.Logger == nil {
		f.Logger = d.Logger
	}
	if f.Listen == nil {
		f.Listen = d.Listen
	}
	return f
}

// IsTerminal reports whether stream is an *os.File connected to a terminal.
func IsTerminal(stream any) bool {
	f, ok := stream.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// ReadSecret reads one line from in, without echo when in is a terminal.
func ReadSecret(in io.Reader) (string, error) {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		b, err := term.ReadPassword(int(f.Fd()))
		return strings.TrimSpace(string(b)), err
	}
	return ReadLine(in)
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

// OpenBrowser starts the platform's URL opener (xdg-open, open, or
// rundll32 on Windows) without waiting for it. On Linux and the BSDs it does
// nothing unless a graphical session is present (DISPLAY or WAYLAND_DISPLAY),
// so that a text-mode browser never takes over an SSH terminal.
func OpenBrowser(ctx context.Context, url string) error {
	var name string
	var args []string
	switch runtime.GOOS {
	case "darwin":
		name = "open"
	case "windows":
		name, args = "rundll32", []string{"url.dll,FileProtocolHandler"}
	default:
		if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
			return errors.New("no graphical session")
		}
		name = "xdg-open"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return fmt.Errorf("no browser opener: %w", err)
	}
	// Not CommandContext: the browser must outlive this command.
	cmd := exec.Command(path, append(args, url)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait() //nolint:errcheck // reap the opener; its status does not matter
	return nil
}
