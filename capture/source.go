package capture

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/google/gopacket"
)

// Source is where packets come from: a live interface or a capture file.
// Each packet is read with ReadPacketData; at the end of the input it
// returns io.EOF. The data it returns may be reused by the next call.
type Source interface {
	gopacket.PacketDataSource
	// Name says where the packets come from: a file name, "-" for
	// standard input, or an interface.
	Name() string
	// LinkType is the link type of the packets.
	LinkType() LinkType
	Close() error
}

// ErrTimeoutExpired is what a live source's ReadPacketData returns when no
// packet came for a while, with the current time as the capture info's
// timestamp, so that verdicts come on time on a quiet link.
var ErrTimeoutExpired = errors.New("no packet before the read timeout")

// ErrNotCapture is wrapped by the error for data that is neither pcap nor
// pcapng.
var ErrNotCapture = errors.New("not a pcap or pcapng file")

// CorruptError says where a capture file stops making sense.
type CorruptError struct {
	Source string
	// Packet is the number of the packet that could not be read,
	// counting from 1; 0 for the file's header.
	Packet int
	// Offset is the byte offset of its record (pcap) or of the block
	// that failed (pcapng); in the uncompressed data when Gzip.
	Offset int64
	Gzip   bool
	Err    error
}

func (e *CorruptError) Error() string {
	where := "offset"
	if e.Gzip {
		where = "uncompressed offset"
	}
	if e.Packet == 0 {
		return fmt.Sprintf("%s: file header at %s %d: %v", e.Source, where, e.Offset, e.Err)
	}
	return fmt.Sprintf("%s: packet %d at %s %d: %v", e.Source, e.Packet, where, e.Offset, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// FileSource reads a pcap or pcapng file.
type FileSource struct {
	name   string
	closer io.Closer
	info   os.FileInfo     // of the file read, when it is one
	ctx    context.Context // stops reading a pipe; nil for none
	// read returns the next packet, valid until the next call.
	read  func() ([]byte, gopacket.CaptureInfo, error)
	lt    LinkType
	gzip  bool
	guard *ngGuard // pcapng only
	// packets read so far, and where the next pcap record starts.
	packets int
	offset  int64
	err     error
}

// OpenFile opens a pcap or pcapng file, or standard input for "-". A
// pipe or FIFO is read so that ctx stops the wait for more of it: the
// source then ends as if at the end of the input.
func OpenFile(ctx context.Context, path string) (*FileSource, error) {
	if path == "-" {
		return OpenReader(ctx, "-", os.Stdin)
	}
	f, err := openCapture(ctx, path)
	if err != nil {
		return nil, err
	}
	s, err := OpenReader(ctx, path, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	s.closer = multiCloser{s.closer, f}
	return s, nil
}

// openCapture opens path for reading. Opening a FIFO waits for a writer:
// that wait ends when ctx is done.
func openCapture(ctx context.Context, path string) (*os.File, error) {
	if fi, err := os.Stat(path); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("opening capture: %w", err)
		}
		return f, nil
	}
	type opened struct {
		f   *os.File
		err error
	}
	done := make(chan opened, 1)
	go func() {
		f, err := os.Open(path)
		done <- opened{f, err}
	}()
	select {
	case o := <-done:
		if o.err != nil {
			return nil, fmt.Errorf("opening capture: %w", o.err)
		}
		return o.f, nil
	case <-ctx.Done():
	}
	// Be the writer the open waits for, and close what it opened.
	if w, err := os.OpenFile(path, os.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
		w.Close()
	}
	go func() {
		if o := <-done; o.f != nil {
			o.f.Close()
		}
	}()
	return nil, fmt.Errorf("opening %s: %w", path, context.Cause(ctx))
}

// OpenReader reads a capture from r, named name in findings and errors,
// as NewFileSource does. When r is a pipe, FIFO, socket or terminal, a
// read waiting for data ends when ctx is done. Closing the source does
// not close r.
func OpenReader(ctx context.Context, name string, r io.Reader) (*FileSource, error) {
	f, ok := r.(*os.File)
	if !ok {
		return NewFileSource(name, r)
	}
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	var closer io.Closer
	if info.Mode()&(os.ModeNamedPipe|os.ModeSocket|os.ModeCharDevice) != 0 {
		cf, err := newCtxFile(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		r, closer = cf, cf
	}
	s, err := newFileSource(name, bufio.NewReaderSize(r, 1<<20), false)
	if err != nil {
		if closer != nil {
			closer.Close()
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("reading %s: %w", name, context.Cause(ctx))
		}
		return nil, err
	}
	s.info, s.ctx, s.closer = info, ctx, closer
	return s, nil
}

// ctxFile reads a pipe or terminal through the runtime's poller, from a
// duplicate of its descriptor set non-blocking, so that a read waiting
// for data returns when the context is done.
type ctxFile struct {
	f    *os.File
	stop func() bool
}

func newCtxFile(ctx context.Context, f *os.File) (*ctxFile, error) {
	sc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	nfd := -1
	if cerr := sc.Control(func(fd uintptr) { nfd, err = unix.Dup(int(fd)) }); cerr != nil {
		return nil, cerr
	}
	if err != nil {
		return nil, fmt.Errorf("duplicating the descriptor: %w", err)
	}
	unix.CloseOnExec(nfd)
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return nil, fmt.Errorf("making the descriptor non-blocking: %w", err)
	}
	c := &ctxFile{f: os.NewFile(uintptr(nfd), f.Name())}
	c.stop = context.AfterFunc(ctx, func() { c.f.SetReadDeadline(time.Unix(1, 0)) })
	return c, nil
}

func (c *ctxFile) Read(p []byte) (int, error) { return c.f.Read(p) }

// Close gives the descriptor back its blocking mode, which it shares
// with the process that passed it (a shell's terminal), and closes the
// duplicate.
func (c *ctxFile) Close() error {
	c.stop()
	if sc, err := c.f.SyscallConn(); err == nil {
		sc.Control(func(fd uintptr) { unix.SetNonblock(int(fd), false) })
	}
	return c.f.Close()
}

type multiCloser []io.Closer

func (m multiCloser) Close() error {
	var errs []error
	for _, c := range m {
		if c != nil {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

// Info describes the file read, or is nil when the source reads no file
// (bytes in memory). CreateOutput uses it to refuse writing onto it.
func (s *FileSource) Info() os.FileInfo { return s.info }

const (
	pcapMagicMicro    = 0xa1b2c3d4
	pcapMagicNano     = 0xa1b23c4d
	pcapHeaderLen     = 24
	pcapRecordHeadLen = 16
	gzipMagic         = 0x1f8b
)

// NewFileSource reads a capture from r, named name in findings and errors:
// pcap (microsecond or nanosecond, either byte order) or pcapng, either
// possibly gzip-compressed.
func NewFileSource(name string, r io.Reader) (*FileSource, error) {
	return newFileSource(name, bufio.NewReaderSize(r, 1<<20), false)
}

func newFileSource(name string, br *bufio.Reader, gzipped bool) (*FileSource, error) {
	head, err := br.Peek(pcapHeaderLen)
	if len(head) < 4 {
		if err == nil || err == io.EOF {
			return nil, fmt.Errorf("%s: %w: only %d bytes", name, ErrNotCapture, len(head))
		}
		if gzipped {
			return nil, &CorruptError{Source: name, Gzip: true, Err: fmt.Errorf("gzip: %w", err)}
		}
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	s := &FileSource{name: name, gzip: gzipped}
	switch {
	case binary.BigEndian.Uint16(head) == gzipMagic && !gzipped:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, &CorruptError{Source: name, Err: fmt.Errorf("gzip: %w", err)}
		}
		return newFileSource(name, bufio.NewReaderSize(zr, 1<<20), true)
	case binary.LittleEndian.Uint32(head) == ngSectionHeader:
		s.guard = newNgGuard(br)
		ng, err := newNgReader(s.guard)
		switch {
		case err == errNoInterface:
			// A section without interfaces holds no packets.
			s.read = func() ([]byte, gopacket.CaptureInfo, error) { return nil, gopacket.CaptureInfo{}, io.EOF }
			s.lt = LinkTypeEthernet
			return s, nil
		case err != nil:
			return nil, s.corrupt(err)
		}
		s.read, s.lt = ng.read, s.guard.firstLinkType
	default:
		var order binary.ByteOrder
		switch {
		case isPcapMagic(binary.LittleEndian.Uint32(head)):
			order = binary.LittleEndian
		case isPcapMagic(binary.BigEndian.Uint32(head)):
			order = binary.BigEndian
		default:
			return nil, fmt.Errorf("%s: %w (it starts with %x)", name, ErrNotCapture, head[:4])
		}
		if len(head) < pcapHeaderLen {
			return nil, &CorruptError{Source: name, Gzip: gzipped,
				Err: fmt.Errorf("the file ends inside the pcap header (%d of %d bytes)", len(head), pcapHeaderLen)}
		}
		// The link type's top bits carry FCS information (pcap-linktype(7)).
		s.lt = LinkType(order.Uint32(head[20:24]) & 0x03ffffff)
		pr, err := newPcapReader(br, order)
		if err != nil {
			return nil, &CorruptError{Source: name, Gzip: gzipped, Err: fmt.Errorf("reading the pcap header: %w", err)}
		}
		s.read = pr.read
		s.offset = pcapHeaderLen
	}
	if err := CheckLinkType(s.lt); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
}

func isPcapMagic(m uint32) bool { return m == pcapMagicMicro || m == pcapMagicNano }

// Name implements Source.
func (s *FileSource) Name() string { return s.name }

// LinkType implements Source.
func (s *FileSource) LinkType() LinkType { return s.lt }

// Close closes the file (not standard input, nor a reader given to
// OpenReader).
func (s *FileSource) Close() error {
	if s.closer == nil {
		return nil
	}
	return s.closer.Close()
}

// ReadPacketData implements gopacket.PacketDataSource. The data is valid
// until the next call. After an error, every call returns it again.
func (s *FileSource) ReadPacketData() (data []byte, ci gopacket.CaptureInfo, err error) {
	if s.err != nil {
		return nil, ci, s.err
	}
	defer func() {
		// The readers index buffers with lengths from the file; whatever
		// they trip on is a corrupt file, not a reason to crash.
		if r := recover(); r != nil {
			data, err = nil, s.corrupt(fmt.Errorf("the pcap reader failed: %v", r))
		}
		if err != nil {
			s.err = err
		}
	}()
	data, ci, err = s.read()
	switch {
	case err != nil && s.ctx != nil && s.ctx.Err() != nil:
		// Told to stop while waiting for a pipe.
		return nil, ci, io.EOF
	case err == io.EOF && s.guard == nil && ci.CaptureLength > 0:
		// A record whose data is missing reads as the end of the input.
		return nil, ci, s.corrupt(io.ErrUnexpectedEOF)
	case err == io.EOF:
		return nil, ci, io.EOF
	case err != nil:
		return nil, ci, s.corrupt(err)
	}
	s.packets++
	if s.guard == nil {
		s.offset += pcapRecordHeadLen + int64(len(data))
	}
	if ci.Length < ci.CaptureLength {
		ci.Length = ci.CaptureLength
	}
	return data, ci, nil
}

// corrupt says which packet could not be read, and where.
func (s *FileSource) corrupt(err error) error {
	e := &CorruptError{Source: s.name, Packet: s.packets + 1, Offset: s.offset, Gzip: s.gzip, Err: err}
	var ng *ngError
	switch {
	case errors.As(err, &ng):
		e.Offset = ng.offset
	case s.guard != nil:
		e.Offset = s.guard.blockOff
	}
	if errors.Is(err, io.ErrUnexpectedEOF) && ng == nil {
		e.Err = errors.New("the file ends inside the packet (a capture cut short)")
	}
	return e
}
