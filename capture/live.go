package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/google/gopacket"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// LiveConfig says where to capture.
type LiveConfig struct {
	// NetNS is the network namespace of the interface (see
	// neigh.OpenNetNS); "" is the current one.
	NetNS string
	// Interface is the Ethernet interface to capture on.
	Interface string
	// Filter is attached to the socket, so that the kernel drops what the
	// tracker does not need before it is copied.
	Filter Filter
	// IdleTick is how long a read waits for a packet before it returns
	// ErrTimeoutExpired, which is when verdicts come on a quiet link; 0 is
	// 200 ms. A longer tick wakes a long-running capture less often.
	IdleTick time.Duration
}

// idleTick is how long a live read waits for a packet before it returns
// ErrTimeoutExpired, so that verdicts come on a quiet link.
const idleTick = 200 * time.Millisecond

// The receive ring: 8 blocks of 512 KiB, each handed to user space when
// full or 50 ms after its first packet. Packets come in batches, with one
// wake-up per block rather than one per packet.
const (
	ringBlockSize = 512 << 10
	ringBlocks    = 8
	ringFrameSize = 2048
	ringBlockTOV  = 50 // milliseconds
)

// LiveSource captures on an Ethernet interface with an AF_PACKET socket
// (no libpcap), in a network namespace without moving the process into
// it. Packets are read from a TPACKET_V3 ring mapped on the socket, not
// with a recvmsg per packet (as pcapgo's EthernetHandle reads them): the
// filter passes every segment without payload, thousands of ACKs a second
// on a busy link, and a system call and a wake-up for each cost more CPU
// than tcpdump's ring. The socket is made here rather than by pcapgo,
// which keeps its descriptor to itself and starts receiving from every
// interface, unfiltered, before it binds and filters.
type LiveSource struct {
	fd       int
	ifname   string
	idleTick time.Duration
	// wake is an eventfd that Stop signals; mu keeps Stop, which may come
	// from any goroutine, from writing to it once Close has closed it.
	mu      sync.Mutex
	wake    int
	stopped bool
	ring    []byte
	block   int  // the block being read
	held    bool // the block is ours until every packet in it is read
	left    int  // packets of the block not read yet
	next    int  // offset in the block of the next packet
	drops   uint64
	packets uint64
	fds     [2]unix.PollFd // the socket and the eventfd, for poll(2)
}

// OpenLive opens a capture on cfg.Interface in cfg.NetNS with cfg.Filter
// attached in the kernel.
func OpenLive(cfg LiveConfig) (*LiveSource, error) {
	prog, err := cfg.Filter.Program(LinkTypeEthernet)
	if err != nil {
		return nil, fmt.Errorf("building the packet filter: %w", err)
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("assembling the packet filter: %w", err)
	}
	ns, err := neigh.OpenNetNS(cfg.NetNS)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	s := &LiveSource{ifname: cfg.Interface, fd: -1, wake: -1, idleTick: cfg.IdleTick}
	if s.idleTick <= 0 {
		s.idleTick = idleTick
	}
	// The socket is made inside the namespace and stays there, first of
	// all, so that a missing privilege is named before anything else.
	// Protocol 0: it receives nothing until it is bound, after the filter
	// and the ring are in place.
	err = ns.Do(func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
				return &neigh.PrivilegeError{Op: "capturing on " + cfg.Interface, Cap: neigh.CapNetRaw}
			}
			return fmt.Errorf("opening a packet socket: %w", err)
		}
		s.fd = fd
		return nil
	})
	if err != nil {
		return nil, err
	}
	ifindex, err := ethernetIndex(cfg.NetNS, cfg.Interface)
	if err == nil {
		err = s.setUp(raw, ifindex)
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// ethernetIndex looks the capture's interface up, over netlink in its
// namespace, and checks it carries Ethernet frames.
func ethernetIndex(netns, ifname string) (int, error) {
	c, err := neigh.Open(netns)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	ifi, err := c.InterfaceByName(ifname)
	if err != nil {
		return 0, err
	}
	if len(ifi.MAC) != 6 && ifi.Flags&unix.IFF_LOOPBACK == 0 {
		return 0, fmt.Errorf("interface %s is not Ethernet: live capture reads Ethernet frames; capture with tcpdump -w and read the file with -r", ifname)
	}
	return ifi.Index, nil
}

func (s *LiveSource) setUp(filter []bpf.RawInstruction, ifindex int) error {
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: (*unix.SockFilter)(unsafe.Pointer(&filter[0]))}
	if err := unix.SetsockoptSockFprog(s.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
		return fmt.Errorf("attaching the packet filter on %s: %w", s.ifname, err)
	}
	if err := unix.SetsockoptInt(s.fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fmt.Errorf("capturing on %s: TPACKET_V3: %w", s.ifname, err)
	}
	req := unix.TpacketReq3{
		Block_size:     ringBlockSize,
		Block_nr:       ringBlocks,
		Frame_size:     ringFrameSize,
		Frame_nr:       ringBlockSize * ringBlocks / ringFrameSize,
		Retire_blk_tov: ringBlockTOV,
	}
	if err := unix.SetsockoptTpacketReq3(s.fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fmt.Errorf("capturing on %s: making the receive ring: %w", s.ifname, err)
	}
	var err error
	s.ring, err = unix.Mmap(s.fd, 0, ringBlockSize*ringBlocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("capturing on %s: mapping the receive ring: %w", s.ifname, err)
	}
	s.wake, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fmt.Errorf("making an eventfd: %w", err)
	}
	s.fds = [2]unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN | unix.POLLERR}, {Fd: int32(s.wake), Events: unix.POLLIN}}
	if err := unix.Bind(s.fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}); err != nil {
		return fmt.Errorf("capturing on %s: %w", s.ifname, err)
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Name implements Source.
func (s *LiveSource) Name() string { return s.ifname }

// LinkType implements Source: always Ethernet.
func (s *LiveSource) LinkType() LinkType { return LinkTypeEthernet }

// Offsets in the ring's block descriptor (struct tpacket_block_desc with
// tpacket_hdr_v1) and packet header (struct tpacket3_hdr), in the
// host's byte order.
const (
	blockStatusOff  = 8
	blockPacketsOff = 12
	blockFirstOff   = 16
	pktNextOff      = 0
	pktSecOff       = 4
	pktNsecOff      = 8
	pktSnaplenOff   = 12
	pktLenOff       = 16
	pktStatusOff    = 20
	pktMacOff       = 24
	pktVLANTCIOff   = 32
)

// ReadPacketData implements gopacket.PacketDataSource. It returns
// ErrTimeoutExpired when no packet came for a while, and io.EOF once Stop
// was called. The data is valid until the next call.
func (s *LiveSource) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	fds := s.fds[:]
	for {
		if s.left > 0 {
			return s.packet()
		}
		if s.held {
			// Every packet of the block is read: give it back.
			atomic.StoreUint32(s.word(s.block*ringBlockSize+blockStatusOff), unix.TP_STATUS_KERNEL)
			s.block = (s.block + 1) % ringBlocks
			s.held = false
		}
		base := s.block * ringBlockSize
		if atomic.LoadUint32(s.word(base+blockStatusOff))&unix.TP_STATUS_USER != 0 {
			s.held = true
			s.left = int(*s.word(base + blockPacketsOff))
			s.next = int(*s.word(base + blockFirstOff))
			continue
		}
		fds[0].Revents, fds[1].Revents = 0, 0
		n, err := unix.Poll(fds, int(s.idleTick/time.Millisecond))
		switch {
		case errors.Is(err, unix.EINTR):
		case err != nil:
			return nil, gopacket.CaptureInfo{}, fmt.Errorf("waiting for packets on %s: %w", s.ifname, err)
		case fds[1].Revents != 0:
			return nil, gopacket.CaptureInfo{}, io.EOF
		case fds[0].Revents&unix.POLLERR != 0:
			// The interface went away, or down.
			errno, _ := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR)
			return nil, gopacket.CaptureInfo{}, fmt.Errorf("capturing on %s: %w", s.ifname, unix.Errno(errno))
		case n == 0:
			return nil, gopacket.CaptureInfo{Timestamp: time.Now()}, ErrTimeoutExpired
		}
	}
}

// packet returns the next packet of the block held.
func (s *LiveSource) packet() ([]byte, gopacket.CaptureInfo, error) {
	p := s.block*ringBlockSize + s.next
	mac := int(binary.NativeEndian.Uint16(s.ring[p+pktMacOff:]))
	snaplen := int(*s.word(p + pktSnaplenOff))
	ci := gopacket.CaptureInfo{
		Timestamp:     time.Unix(int64(*s.word(p + pktSecOff)), int64(*s.word(p + pktNsecOff))),
		CaptureLength: snaplen,
		Length:        int(*s.word(p + pktLenOff)),
	}
	if *s.word(p + pktStatusOff)&unix.TP_STATUS_VLAN_VALID != 0 {
		ci.AncillaryData = []any{VLANTag(*s.word(p + pktVLANTCIOff))}
	}
	s.next += int(*s.word(p + pktNextOff))
	s.left--
	s.packets++
	return s.ring[p+mac : p+mac+snaplen], ci, nil
}

// word is the 32-bit word of the ring at off.
func (s *LiveSource) word(off int) *uint32 {
	return (*uint32)(unsafe.Pointer(&s.ring[off]))
}

// VLANTag is the 802.1Q tag control information the kernel took off a
// frame (VLAN offload), found in a live packet's capture info
// AncillaryData.
type VLANTag uint16

// Stop makes ReadPacketData return io.EOF; it may be called from any
// goroutine, any number of times.
func (s *LiveSource) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped || s.wake < 0 {
		return
	}
	s.stopped = true
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	unix.Write(s.wake, one[:])
}

// KernelStats returns the packets the kernel passed through the filter
// and those it dropped because the ring was full.
func (s *LiveSource) KernelStats() (received, dropped uint64) {
	if st, err := unix.GetsockoptTpacketStatsV3(s.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
		// The kernel resets its counters on each read.
		s.drops += uint64(st.Drops)
	}
	return s.packets, s.drops
}

// Close releases the ring and the socket; call it after reading has
// stopped.
func (s *LiveSource) Close() error {
	if s.ring != nil {
		unix.Munmap(s.ring)
		s.ring = nil
	}
	if s.fd >= 0 {
		unix.Close(s.fd)
		s.fd = -1
	}
	s.mu.Lock()
	if s.wake >= 0 {
		unix.Close(s.wake)
		s.wake = -1
	}
	s.mu.Unlock()
	return nil
}
