package namespaces

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// nsMount is a network namespace bind-mounted somewhere, as the mount
// table shows it.
type nsMount struct {
	id         ID
	mountPoint string
}

// parseNetNSMounts returns the network namespaces bound to files in a
// mount table (the format of /proc/PID/mountinfo), in table order. The
// table itself says which namespace each is: the mount's device and, as its
// root, "net:[inode]", so nothing needs to be opened, and a namespace
// mounted where this process cannot reach is still identified. Lines it
// cannot read are skipped.
func parseNetNSMounts(table string) []nsMount {
	var out []nsMount
	for line := range strings.SplitSeq(table, "\n") {
		// Most lines of a node's table are other mounts: pass them by
		// before splitting them into fields.
		if !strings.Contains(line, "net:[") {
			continue
		}
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw
		// (mount ID, parent ID, major:minor, root, mount point, options,
		// optional fields up to "-", then type, source, super options).
		left, right, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f := strings.Fields(left)
		r := strings.Fields(right)
		if len(f) < 5 || len(r) < 1 {
			continue
		}
		// Kernels before 3.19 showed namespace files on proc.
		if r[0] != "nsfs" && r[0] != "proc" {
			continue
		}
		ino, ok := netNSInode(f[3])
		if !ok {
			continue
		}
		maj, min, ok := strings.Cut(f[2], ":")
		if !ok {
			continue
		}
		ma, err1 := strconv.ParseUint(maj, 10, 32)
		mi, err2 := strconv.ParseUint(min, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, nsMount{
			id:         ID{Dev: unix.Mkdev(uint32(ma), uint32(mi)), Inode: ino},
			mountPoint: unescapeMountPath(f[4]),
		})
	}
	return out
}

// netNSInode reads "net:[4026531840]", as the kernel names a network
// namespace in readlink(2) of /proc/PID/ns/net and in mount roots.
func netNSInode(s string) (uint64, bool) {
	rest, ok := strings.CutPrefix(s, "net:[")
	if !ok {
		return 0, false
	}
	num, ok := strings.CutSuffix(rest, "]")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(num, 10, 64)
	return n, err == nil
}

// unescapeMountPath undoes the kernel's octal escapes in mountinfo paths
// (\040 for a space, \011 tab, \012 newline, \134 backslash).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return '0' <= c && c <= '7' }
