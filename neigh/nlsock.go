package neigh

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// nlSocket is a blocking rtnetlink socket that runs dumps and hands each
// message to a callback straight out of one reused receive buffer. Listing
// a table of tens of thousands of neighbors this way allocates almost
// nothing beyond the entries themselves; the general-purpose netlink
// library copies every message twice and builds a struct per neighbor,
// which made listing several times slower than ip(8).
type nlSocket struct {
	// mu serialises exchanges: one request and its replies at a time.
	mu  sync.Mutex
	fd  int
	seq uint32
	buf []byte
}

// errDumpInterrupted: the kernel marked the dump NLM_F_DUMP_INTR, the table
// changed while it was being read and the result may be inconsistent.
var errDumpInterrupted = errors.New("netlink dump interrupted")

// openNetlink opens an rtnetlink socket in the calling thread's network
// namespace; it stays there whatever the thread does next.
func openNetlink() (*nlSocket, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("opening netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("binding netlink socket: %w", err)
	}
	// The kernel sizes each dump batch after the buffer the reader
	// offers, up to 32 KiB; 64 KiB leaves room for any batch.
	return &nlSocket{fd: fd, buf: make([]byte, 64<<10)}, nil
}

func (s *nlSocket) close() error { return unix.Close(s.fd) }

// dump sends a NLM_F_DUMP request of type typ with body (the family
// header), and calls f with the payload of each reply message of type
// want. The payload is valid only during the call. It returns
// errDumpInterrupted after a complete but inconsistent dump.
func (s *nlSocket) dump(typ uint16, body []byte, want uint16, f func(payload []byte)) error {
	return s.exchange(typ, unix.NLM_F_DUMP, body, want, f)
}

// request sends a request that changes something (flags such as
// NLM_F_CREATE|NLM_F_REPLACE) and waits for the kernel's acknowledgement;
// a refusal comes back as its errno.
func (s *nlSocket) request(typ, flags uint16, body []byte) error {
	return s.exchange(typ, flags|unix.NLM_F_ACK, body, 0, func([]byte) {})
}

// exchange sends one request and reads the replies to it until the
// kernel's NLMSG_DONE or NLMSG_ERROR.
func (s *nlSocket) exchange(typ, flags uint16, body []byte, want uint16, f func(payload []byte)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	req := make([]byte, unix.NLMSG_HDRLEN+len(body))
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], typ)
	binary.NativeEndian.PutUint16(req[6:], unix.NLM_F_REQUEST|flags)
	binary.NativeEndian.PutUint32(req[8:], s.seq)
	copy(req[unix.NLMSG_HDRLEN:], body)
	if err := sendto(s.fd, req); err != nil {
		return fmt.Errorf("sending netlink request: %w", err)
	}
	intr := false
	for {
		n, fromKernel, err := recv(s.fd, s.buf)
		if err != nil {
			return fmt.Errorf("receiving netlink reply: %w", err)
		}
		if !fromKernel {
			continue
		}
		if n > len(s.buf) {
			return fmt.Errorf("netlink reply of %d bytes truncated to %d", n, len(s.buf))
		}
		b := s.buf[:n]
		for len(b) >= unix.NLMSG_HDRLEN {
			l := int(binary.NativeEndian.Uint32(b))
			mtyp := binary.NativeEndian.Uint16(b[4:])
			flags := binary.NativeEndian.Uint16(b[6:])
			seq := binary.NativeEndian.Uint32(b[8:])
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				return fmt.Errorf("malformed netlink message (length %d of %d)", l, len(b))
			}
			payload := b[unix.NLMSG_HDRLEN:l]
			b = b[min(len(b), (l+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1)):]
			if seq != s.seq {
				continue // a late reply to an earlier request
			}
			if flags&unix.NLM_F_DUMP_INTR != 0 {
				intr = true
			}
			switch mtyp {
			case unix.NLMSG_DONE, unix.NLMSG_ERROR:
				if len(payload) >= 4 {
					if errno := -int32(binary.NativeEndian.Uint32(payload)); errno > 0 {
						return syscall.Errno(errno)
					}
				}
				if intr {
					return errDumpInterrupted
				}
				return nil
			case want:
				if want != 0 {
					f(payload)
				}
			}
		}
	}
}

func sendto(fd int, b []byte) error {
	for {
		err := unix.Sendto(fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		if err != unix.EINTR {
			return err
		}
	}
}

// recv reads one datagram and says whether the kernel sent it; with
// MSG_TRUNC the length is the datagram's real one, so a truncation shows.
func recv(fd int, buf []byte) (n int, fromKernel bool, err error) {
	for {
		n, from, err := unix.Recvfrom(fd, buf, unix.MSG_TRUNC)
		if err != unix.EINTR {
			sa, ok := from.(*unix.SockaddrNetlink)
			return n, ok && sa.Pid == 0, err
		}
	}
}

// Multicast groups of rtnetlink (RTMGRP_*), as bind(2) takes them.
const (
	rtmgrpLink  = 0x1
	rtmgrpNeigh = 0x4
)

// subSocket is a non-blocking rtnetlink socket subscribed to multicast
// groups, read through the Go runtime's poller: a reader blocked on it
// costs nothing and wakes the moment the kernel sends, and closing it
// wakes the reader.
type subSocket struct {
	f   *os.File
	rc  syscall.RawConn
	buf []byte
}

// subscribe opens a subscription in the calling thread's namespace.
// rcvbuf sizes the socket's receive buffer; a burst larger than it
// overruns the socket (ENOBUFS) and the reader must resynchronise.
func subscribe(groups uint32, rcvbuf int) (*subSocket, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("opening netlink socket: %w", err)
	}
	if rcvbuf > 0 {
		// SO_RCVBUFFORCE passes net.core.rmem_max with CAP_NET_ADMIN;
		// without it SO_RCVBUF gets what the limit allows.
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf) != nil {
			unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("subscribing to neighbor events: %w", err)
	}
	f := os.NewFile(uintptr(fd), "rtnetlink")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &subSocket{f: f, rc: rc, buf: make([]byte, 64<<10)}, nil
}

// errOverrun: the kernel dropped events because the socket's buffer was
// full; what the reader holds is no longer the kernel's view.
var errOverrun = errors.New("netlink socket overrun: events were lost")

// recv waits for the next datagram and calls f with each message's type
// and payload, valid only during the call.
func (s *subSocket) recv(f func(typ uint16, payload []byte)) error {
	var n int
	var from unix.Sockaddr
	var rerr error
	err := s.rc.Read(func(fd uintptr) bool {
		n, from, rerr = unix.Recvfrom(int(fd), s.buf, unix.MSG_TRUNC)
		return rerr != unix.EAGAIN && rerr != unix.EINTR
	})
	switch {
	case err != nil:
		return err
	case rerr == unix.ENOBUFS:
		return errOverrun
	case rerr != nil:
		return fmt.Errorf("receiving neighbor events: %w", rerr)
	case n > len(s.buf):
		return errOverrun // a truncated datagram is lost events too
	}
	if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
		return nil
	}
	b := s.buf[:n]
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(binary.NativeEndian.Uint32(b))
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return nil
		}
		f(binary.NativeEndian.Uint16(b[4:]), b[unix.NLMSG_HDRLEN:l])
		b = b[min(len(b), (l+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1)):]
	}
	return nil
}

// drain discards whatever is queued on the socket. After an overrun the
// kernel drops further events silently until the queue has been emptied
// once (the socket stays "congested"), and what is queued predates the
// dump that replaces it: both are reasons to empty the queue before
// resynchronising.
func (s *subSocket) drain() error {
	var rerr error
	err := s.rc.Read(func(fd uintptr) bool {
		for {
			_, _, rerr = unix.Recvfrom(int(fd), s.buf, unix.MSG_DONTWAIT)
			if rerr == unix.EAGAIN {
				rerr = nil
				return true
			}
			if rerr != nil && rerr != unix.ENOBUFS && rerr != unix.EINTR {
				return true
			}
		}
	})
	if err != nil {
		return err
	}
	return rerr
}

// close wakes a blocked recv, which then returns an error.
func (s *subSocket) close() error { return s.f.Close() }
