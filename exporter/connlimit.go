package exporter

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// connLimiter bounds the connections a server holds open at once, on
// every listener it wraps together, without letting idle ones lock a
// scrape out: at the bound, a new connection takes the place of the one
// idle the longest, a kept-alive one between requests (which its client
// reopens when it needs it) or one that has sent nothing for newGrace
// (a client sends its request as soon as it connects); only when every
// connection is busy with a request is the new one refused. Waiting for a
// slot instead, as a limiting listener does, lets any client that can
// connect hold every slot with kept-alive or silent connections until
// they time out, and Prometheus's scrapes with them.
type connLimiter struct {
	max int

	mu   sync.Mutex
	open int
	// idle are the open connections between requests, by the remote
	// address the server reports (a TLS connection wraps the one
	// accepted), with the connection to close and since when.
	idle map[string]idleConn
}

type idleConn struct {
	conn net.Conn
	// since is when the connection went idle, or was opened while it has
	// sent nothing yet (fresh); zero while it is busy with a request.
	since time.Time
	fresh bool
}

// newGrace is how long a new connection may send nothing before another
// may take its place: a client's request follows its connect at once.
const newGrace = time.Second

func newConnLimiter(max int) *connLimiter {
	return &connLimiter{max: max, idle: map[string]idleConn{}}
}

// listener wraps l: its connections count against the bound.
func (cl *connLimiter) listener(l net.Listener) net.Listener {
	return &limitedListener{Listener: l, cl: cl}
}

// connState is the server's http.Server.ConnState: it tells idle
// connections from busy ones.
func (cl *connLimiter) connState(c net.Conn, s http.ConnState) {
	key := c.RemoteAddr().String()
	cl.mu.Lock()
	defer cl.mu.Unlock()
	ic, ok := cl.idle[key]
	if !ok {
		return
	}
	switch s {
	case http.StateIdle:
		ic.since, ic.fresh = time.Now(), false
	case http.StateActive:
		ic.since, ic.fresh = time.Time{}, false
	}
	cl.idle[key] = ic
}

// admit counts c in, making room by closing the connection idle the
// longest; false when every connection is busy.
func (cl *connLimiter) admit(c *limitedConn) bool {
	cl.mu.Lock()
	var victim net.Conn
	now := time.Now()
	if cl.open >= cl.max {
		var oldest time.Time
		for _, ic := range cl.idle {
			evictable := !ic.since.IsZero() && (!ic.fresh || now.Sub(ic.since) >= newGrace)
			if evictable && (victim == nil || ic.since.Before(oldest)) {
				victim, oldest = ic.conn, ic.since
			}
		}
		if victim == nil {
			cl.mu.Unlock()
			return false
		}
	}
	cl.open++
	cl.idle[c.key] = idleConn{conn: c, since: now, fresh: true}
	cl.mu.Unlock()
	if victim != nil {
		victim.Close() // counts itself out
	}
	return true
}

func (cl *connLimiter) release(c *limitedConn) {
	cl.mu.Lock()
	cl.open--
	delete(cl.idle, c.key)
	cl.mu.Unlock()
}

type limitedListener struct {
	net.Listener
	cl *connLimiter
}

func (l *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		lc := &limitedConn{Conn: c, cl: l.cl, key: c.RemoteAddr().String()}
		if l.cl.admit(lc) {
			return lc, nil
		}
		c.Close()
	}
}

type limitedConn struct {
	net.Conn
	cl   *connLimiter
	key  string
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.cl.release(c) })
	return err
}
