package clitest

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"
)

// Ports holds loopback sockets that a test bound before registering their
// ports (as redirect URIs), and hands them to the command under test through
// its Factory's Listen. Unlike FreePort's port, probed free and closed, a
// held port cannot be taken by another process (or by the kernel, for an
// outgoing connection's source port) before the command listens on it.
//
// The command's Close does not release a held socket: it stops the
// command's server and leaves the socket bound for the next run. The sockets
// are closed when the test ends.
type Ports struct {
	t    testing.TB
	mu   sync.Mutex
	held map[string]*heldPort // by "127.0.0.1:PORT"
}

type heldPort struct {
	l   *net.TCPListener
	cur *handedPort // the last one handed out, nil before
}

// NewPorts returns an empty Ports whose sockets close at the end of t.
func NewPorts(t testing.TB) *Ports {
	p := &Ports{t: t, held: map[string]*heldPort{}}
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, h := range p.held {
			h.l.Close()
		}
	})
	return p
}

// Reserve binds a free port on 127.0.0.1, holds it and returns it.
func (p *Ports) Reserve() int {
	p.t.Helper()
	l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.held[l.Addr().String()] = &heldPort{l: l}
	return l.Addr().(*net.TCPAddr).Port
}

// Take stops handing the port out and returns its socket, still bound: a
// command that then listens on the port finds it in use. The caller closes
// it.
func (p *Ports) Take(port int) net.Listener {
	p.t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p.mu.Lock()
	defer p.mu.Unlock()
	h, ok := p.held[addr]
	if !ok {
		p.t.Fatalf("port %d is not held", port)
	}
	delete(p.held, addr)
	return h.l
}

// Closed reports whether the last command handed port closed it (stopped
// its server). It is false if the port was never handed out.
func (p *Ports) Closed(port int) bool {
	p.mu.Lock()
	h, ok := p.held[fmt.Sprintf("127.0.0.1:%d", port)]
	var cur *handedPort
	if ok {
		cur = h.cur
	}
	p.mu.Unlock()
	if cur == nil {
		return false
	}
	cur.mu.Lock()
	defer cur.mu.Unlock()
	return cur.closed
}

// Listen is a Factory.Listen: it hands out the held socket of address, once
// the previous command it was handed to has stopped accepting, and listens
// for real on any other address.
func (p *Ports) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	p.mu.Lock()
	h, ok := p.held[address]
	var prev *handedPort
	if ok {
		prev = h.cur
	}
	p.mu.Unlock()
	if !ok || network != "tcp" {
		return new(net.ListenConfig).Listen(ctx, network, address)
	}
	if prev != nil {
		select {
		case <-prev.idle:
		case <-time.After(10 * time.Second):
			return nil, fmt.Errorf("clitest: the previous command on %s never closed its listener", address)
		}
	}
	if err := h.l.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	cur := &handedPort{l: h.l, idle: make(chan struct{})}
	p.mu.Lock()
	h.cur = cur
	p.mu.Unlock()
	return cur, nil
}

// handedPort is a held socket as one command sees it: Close wakes and
// ends its Accepts without closing the socket.
type handedPort struct {
	l      *net.TCPListener
	mu     sync.Mutex
	closed bool
	active int           // Accept calls under way
	idle   chan struct{} // closed once closed and no Accept is under way
}

func (h *handedPort) Accept() (net.Conn, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, net.ErrClosed
	}
	h.active++
	h.mu.Unlock()
	c, err := h.l.Accept()
	h.mu.Lock()
	h.active--
	closed := h.closed
	if closed && h.active == 0 {
		close(h.idle)
	}
	h.mu.Unlock()
	if closed {
		if c != nil {
			c.Close()
		}
		return nil, net.ErrClosed
	}
	return c, err
}

func (h *handedPort) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	if h.active == 0 {
		close(h.idle)
	}
	return h.l.SetDeadline(time.Now()) // wakes a blocked Accept; the socket stays bound
}

func (h *handedPort) Addr() net.Addr { return h.l.Addr() }
