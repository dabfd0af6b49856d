// Package neigh reads and changes the Linux neighbor table (ARP for IPv4,
// NDP for IPv6) over netlink, in the current network namespace or in another
// one, without moving the process into it.
//
// It returns plain values with JSON tags and never prints: the commands
// package decides how to show them.
package neigh
