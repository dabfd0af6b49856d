// Package sysctl checks and fixes the kernel settings behind neighbor-cache
// (ARP and NDP) trouble: the garbage-collection thresholds that let stale
// entries live on or let the table overflow, and the per-interface and ARP
// settings around them.
//
// It reads values three ways: live, from /proc/sys under a root (in any
// network namespace) with the table-wide values taken over netlink where
// /proc/sys lacks them; from the sysctl config files under a root, merged as
// procps' `sysctl --system` and systemd-sysctl merge them, which is what the
// machine will set at boot; or from config files named one by one. Rules
// and profiles judge those values, and a fix plan writes one config file of
// its own, atomically, and applies the values live.
//
// Everything returns plain values with JSON tags; the package never prints
// and never exits. The commands package decides how to show them.
package sysctl
