package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/google/gopacket"
	"golang.org/x/sys/unix"
)

// flushEvery bounds how long a written packet may wait in the buffer: a
// capture killed without warning loses at most that much.
const flushEvery = time.Second

// pcapWriter writes packets as a nanosecond pcap file that tcpdump and
// Wireshark open.
type pcapWriter struct {
	buf  *bufio.Writer
	lt   LinkType
	tag  []byte // scratch for frames that get their VLAN tag back
	head [pcapRecordHeadLen]byte
	// perPacket flushes after every packet; otherwise the buffer is
	// flushed when it fills or flushEvery after the last flush.
	perPacket bool
	flushed   time.Time
	now       func() time.Time
}

// newPcapWriter writes the file header at once, so that the file is a
// capture from the start. The file is what pcapgo's nanosecond Writer
// wrote, with the link type in 32 bits.
func newPcapWriter(w io.Writer, lt LinkType, perPacket bool) (*pcapWriter, error) {
	buf := bufio.NewWriterSize(w, 256<<10)
	var h [pcapHeaderLen]byte
	binary.LittleEndian.PutUint32(h[0:], pcapMagicNano)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], Snaplen)
	binary.LittleEndian.PutUint32(h[20:], uint32(lt))
	if _, err := buf.Write(h[:]); err != nil {
		return nil, fmt.Errorf("writing the pcap header: %w", err)
	}
	p := &pcapWriter{buf: buf, lt: lt, perPacket: perPacket, now: time.Now}
	if err := p.flush(); err != nil {
		return nil, err
	}
	return p, nil
}

// write writes one packet. A frame whose VLAN tag the kernel took off
// (live capture) gets it back, as libpcap does it.
func (p *pcapWriter) write(data []byte, ci gopacket.CaptureInfo) error {
	if len(ci.AncillaryData) > 0 && p.lt == LinkTypeEthernet && len(data) >= 12 {
		if tci, ok := ci.AncillaryData[0].(VLANTag); ok {
			p.tag = append(p.tag[:0], data[:12]...)
			p.tag = binary.BigEndian.AppendUint16(p.tag, etherTypeDot1Q)
			p.tag = binary.BigEndian.AppendUint16(p.tag, uint16(tci))
			p.tag = append(p.tag, data[12:]...)
			data = p.tag
			ci.Length += 4
		}
	}
	if len(data) > Snaplen {
		data = data[:Snaplen]
	}
	ci.CaptureLength = len(data)
	if ci.Length < ci.CaptureLength {
		ci.Length = ci.CaptureLength
	}
	// A packet without a time (a pcapng simple packet) is stamped with
	// the time it is written.
	t := ci.Timestamp
	if t.IsZero() {
		t = p.now()
	}
	h := p.head[:]
	binary.LittleEndian.PutUint32(h[0:4], uint32(t.Unix()))
	binary.LittleEndian.PutUint32(h[4:8], uint32(t.Nanosecond()))
	binary.LittleEndian.PutUint32(h[8:12], uint32(ci.CaptureLength))
	binary.LittleEndian.PutUint32(h[12:16], uint32(ci.Length))
	if _, err := p.buf.Write(h); err != nil {
		return fmt.Errorf("writing a packet: %w", err)
	}
	if _, err := p.buf.Write(data); err != nil {
		return fmt.Errorf("writing a packet: %w", err)
	}
	if p.perPacket {
		return p.flush()
	}
	return p.flushIfDue()
}

// flushIfDue flushes what waited flushEvery or longer; Run calls it on a
// quiet link too.
func (p *pcapWriter) flushIfDue() error {
	if p.buf.Buffered() == 0 || p.now().Sub(p.flushed) < flushEvery {
		return nil
	}
	return p.flush()
}

func (p *pcapWriter) flush() error {
	p.flushed = p.now()
	if err := p.buf.Flush(); err != nil {
		return fmt.Errorf("writing the capture: %w", err)
	}
	return nil
}

// SameFileError says that the file to write is one of the captures read:
// writing it would destroy what is being read.
type SameFileError struct {
	Output, Input string
}

func (e *SameFileError) Error() string {
	if e.Output == e.Input {
		return fmt.Sprintf("%s is both read and written", e.Output)
	}
	return fmt.Sprintf("%s is the same file as %s, which is read", e.Output, e.Input)
}

// ErrDirectory is what CreateOutput returns for a path that names a
// directory.
var ErrDirectory = errors.New("is a directory")

// Input is a file being read, for CreateOutput to refuse writing onto it.
type Input struct {
	Name string
	Info os.FileInfo
}

// OutputFile is a capture file being written. Written to a temporary
// file beside its name and renamed into place by Commit, it replaces an
// existing file only with a whole capture, and a run that fails leaves
// that file as it was; written in place, it holds what was captured so
// far at any moment, as tcpdump's does.
type OutputFile struct {
	f    *os.File
	path string // the final name, symbolic links followed
	tmp  string // "" when written in place
	done bool
}

// CreateOutput opens path for writing a capture, refusing one of inputs
// (the same file by device and inode, through a symbolic or hard link
// too). With inPlace, or when path names a FIFO or a device, the file is
// written where it lies (a regular file truncated first); otherwise the
// capture goes to a temporary file in the same directory, named path's
// name with a ".partial" suffix.
func CreateOutput(path string, inPlace bool, inputs []Input) (*OutputFile, error) {
	final := path
	if fi, err := os.Stat(path); err == nil {
		if fi.IsDir() {
			return nil, fmt.Errorf("%s: %w", path, ErrDirectory)
		}
		for _, in := range inputs {
			if in.Info != nil && os.SameFile(fi, in.Info) {
				return nil, &SameFileError{Output: path, Input: in.Name}
			}
		}
		// A FIFO or a device (a reader such as Wireshark at the other
		// end) holds nothing to replace.
		if !fi.Mode().IsRegular() {
			inPlace = true
		}
		// Replace the file a symbolic link names, not the link.
		if final, err = filepath.EvalSymlinks(path); err != nil {
			return nil, fmt.Errorf("resolving %s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("checking %s: %w", path, err)
	}
	if inPlace {
		// Write only, never read: a FIFO opened for reading and writing
		// has a reader, itself, and takes the capture nowhere. Without
		// blocking: a FIFO nobody reads is an error now, not a hang; the
		// runtime's poller then waits on the reader, and a stop ends it.
		fd, err := unix.Open(final, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_NONBLOCK|unix.O_CLOEXEC, 0o644)
		if err == unix.ENXIO {
			return nil, fmt.Errorf("writing %s: nobody reads the FIFO: start its reader first", path)
		}
		if err != nil {
			return nil, fmt.Errorf("creating %s: %w", path, &fs.PathError{Op: "open", Path: final, Err: err})
		}
		return &OutputFile{f: os.NewFile(uintptr(fd), final), path: final}, nil
	}
	f, err := os.CreateTemp(filepath.Dir(final), filepath.Base(final)+".*.partial")
	if err != nil {
		return nil, fmt.Errorf("creating a file beside %s: %w", path, err)
	}
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(final); err == nil {
		mode = fi.Mode().Perm()
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("creating %s: %w", f.Name(), err)
	}
	return &OutputFile{f: f, path: final, tmp: f.Name()}, nil
}

// Write implements io.Writer.
func (o *OutputFile) Write(p []byte) (int, error) { return o.f.Write(p) }

// Name is where the packets are being written: the temporary file until
// Commit.
func (o *OutputFile) Name() string { return o.f.Name() }

// Commit closes the file and, unless written in place, puts it in place
// of the file named.
func (o *OutputFile) Commit() error {
	if o.done {
		return nil
	}
	o.done = true
	if err := o.f.Close(); err != nil {
		o.remove()
		return fmt.Errorf("writing %s: %w", o.f.Name(), err)
	}
	if o.tmp == "" {
		return nil
	}
	if err := os.Rename(o.tmp, o.path); err != nil {
		o.remove()
		return fmt.Errorf("renaming %s to %s: %w", o.tmp, o.path, err)
	}
	return nil
}

// Abort closes the file and removes it, unless written in place: a file
// written in place keeps what was captured. After Commit it does nothing.
func (o *OutputFile) Abort() {
	if o.done {
		return
	}
	o.done = true
	o.f.Close()
	o.remove()
}

func (o *OutputFile) remove() {
	if o.tmp != "" {
		os.Remove(o.tmp)
	}
}
