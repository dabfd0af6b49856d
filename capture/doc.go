// Package capture watches TCP handshakes and the ARP and NDP traffic around
// them, and says which handshakes fail, where and why: above all, when a
// SYN-ACK goes to a MAC that no longer owns the client's IP because the
// server's neighbor entry is stale.
//
// Packets come from a Source: a live Ethernet interface over AF_PACKET
// (OpenLive, no libpcap) or a pcap or pcapng file (OpenFile, NewFileSource).
// Both run the same path: a Filter keeps what the Tracker needs (in the
// kernel as a BPF program for live capture, in Go for files), the Tracker
// decodes it in place, without allocating, and follows every handshake, and
// Run turns the result into Findings and a Summary.
//
// The package returns plain values with JSON tags and never prints: the
// commands package decides how to show them.
package capture
