package cliutil

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

// This file is the only one under internal/cli that may reach the process:
// its environment, clock, standard streams, terminal and browser. Every
// command gets them from the Factory, so that a test runs any command
// in-process with fakes (TestFactoryIsTheOnlyDoor enforces it).

// IOStreams are a command's standard streams and whether each is a
// terminal.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	// InTTY, OutTTY and ErrTTY say whether In, Out and ErrOut are
	// terminals (false in tests unless set).
	InTTY, OutTTY, ErrTTY bool
}

// SystemIO returns the process's standard streams.
func SystemIO() *IOStreams {
	return &IOStreams{
		In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		InTTY: isTerminal(os.Stdin), OutTTY: isTerminal(os.Stdout), ErrTTY: isTerminal(os.Stderr),
	}
}

// TestIO returns streams over buffers, none a terminal: stdin reads in,
// and the returned buffers collect what the command writes.
func TestIO(in string) (ios *IOStreams, stdout, stderr *Buffer) {
	stdout, stderr = &Buffer{}, &Buffer{}
	return &IOStreams{In: strings.NewReader(in), Out: stdout, ErrOut: stderr}, stdout, stderr
}

// Factory hands every command its dependencies. Commands never reach for
// os.Getenv, time.Now, os.Stdout, a terminal or a browser directly. Root
// builds one with System; tests build one with fakes (any nil field is
// filled from System by Fill, except IO, which defaults to empty test
// streams).
type Factory struct {
	// IO are the standard streams.
	IO *IOStreams
	// Getenv reads the environment (os.Getenv).
	Getenv func(string) string
	// Now is the clock (time.Now).
	Now func() time.Time
	// TempDir is the directory for temporary files (os.TempDir).
	TempDir func() string
	// HTTPClient makes every request to Twitch; nil means the client
	// library's default (30 s timeout).
	HTTPClient *http.Client
	// OpenBrowser opens url in the user's browser. Failures are ignored by
	// the commands: the URL is always printed too.
	OpenBrowser func(ctx context.Context, url string) error
	// ReadSecret reads a line from f.IO.In without echoing it when it is a
	// terminal (a password prompt).
	ReadSecret func() (string, error)
	// Logger receives debug logs of the one-shot commands (never a
	// secret); discarded by default. The servers (serve, mock, rig) build
	// their own from --log-level and --log-format, on f.IO.ErrOut.
	Logger *slog.Logger
	// Listen opens a local listening socket (net.ListenConfig's Listen).
	// Tests hand over a socket they bound beforehand, so that a port they
	// registered stays theirs.
	Listen func(ctx context.Context, network, address string) (net.Listener, error)
	// Version is the program's version.
	Version string
}

// System returns the Factory of the real program.
func System(version string) *Factory {
	f := &Factory{IO: SystemIO(), Version: version}
	return f.Fill()
}

// Fill sets every nil field of f from the real program's, except IO (empty
// test streams when nil), so that tests set only what they fake. It
// returns f.
func (f *Factory) Fill() *Factory {
	if f.IO == nil {
		f.IO, _, _ = TestIO("")
	}
	if f.Getenv == nil {
		f.Getenv = os.Getenv
	}
	if f.Now == nil {
		f.Now = time.Now
	}
	if f.TempDir == nil {
		f.TempDir = os.TempDir
	}
	if f.OpenBrowser == nil {
		getenv := f.Getenv
		f.OpenBrowser = func(ctx context.Context, url string) error { return openBrowser(ctx, getenv, url) }
	}
	if f.ReadSecret == nil {
		io := f.IO
		f.ReadSecret = func() (string, error) { return readSecret(io) }
	}
	if f.Logger == nil {
		f.Logger = slog.New(slog.DiscardHandler)
	}
	if f.Listen == nil {
		f.Listen = new(net.ListenConfig).Listen
	}
	if f.Version == "" {
		f.Version = "dev"
	}
	return f
}

// NewTestFactory returns a Factory for tests: the environment is env only
// (nothing of the test process leaks in), the streams are buffers (stdin
// reads in), no browser opens.
func NewTestFactory(env map[string]string, in string) (f *Factory, stdout, stderr *Buffer) {
	ios, stdout, stderr := TestIO(in)
	f = &Factory{
		IO:          ios,
		Getenv:      func(k string) string { return env[k] },
		OpenBrowser: func(context.Context, string) error { return errors.New("no browser in tests") },
		Version:     "test",
	}
	return f.Fill(), stdout, stderr
}

func isTerminal(stream any) bool {
	f, ok := stream.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// readSecret reads one line from the input, without echo on a terminal.
func readSecret(ios *IOStreams) (string, error) {
	if f, ok := ios.In.(*os.File); ok && ios.InTTY && term.IsTerminal(int(f.Fd())) {
		b, err := term.ReadPassword(int(f.Fd()))
		return strings.TrimSpace(string(b)), err
	}
	return ReadLine(ios.In)
}

// openBrowser starts the platform's URL opener (xdg-open, open, or
// rundll32 on Windows) without waiting for it. On Linux and the BSDs it does
// nothing unless a graphical session is present (DISPLAY or WAYLAND_DISPLAY),
// so that a text-mode browser never takes over an SSH terminal.
func openBrowser(_ context.Context, getenv func(string) string, url string) error {
	var name string
	var args []string
	switch runtime.GOOS {
	case "darwin":
		name = "open"
	case "windows":
		name, args = "rundll32", []string{"url.dll,FileProtocolHandler"}
	default:
		if getenv("DISPLAY") == "" && getenv("WAYLAND_DISPLAY") == "" {
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
