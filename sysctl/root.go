package sysctl

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// errMasked says a config file is a symbolic link to /dev/null, the way
// sysctl.d(5) tells to disable a file of the same name in a later
// directory.
var errMasked = errors.New("masked: a link to /dev/null")

// maxSymlinks bounds the links followed for one path, as the kernel's
// MAXSYMLINKS does.
const maxSymlinks = 40

// noOpenat2 is set once the kernel has said it has no openat2(2) (before
// Linux 5.6, or a seccomp filter that refuses it); tests set it to run the
// fallback.
var noOpenat2 atomic.Bool

// treeRoot opens the files of a machine whose files are under a
// directory, such as an image's tree: every path, and every symbolic link
// met on the way, is resolved as it would be on that machine, an absolute
// link starting again at the root and ".." never climbing above it. An
// untrusted tree's /proc -> /proc, or /etc/sysctl.d -> ../../../../etc,
// stays inside the tree, so reading or writing under it never reaches
// this machine's own files. Root "/" is this machine, as usual.
//
// The kernel does the confinement where it can (openat2 with
// RESOLVE_IN_ROOT, which no rename or link race defeats); elsewhere, each
// component is opened in turn beneath a directory already held open,
// without following links, so that the same rules hold.
type treeRoot struct {
	name string
	fd   int // an O_PATH descriptor of the root directory
}

// openTree opens the directory root for resolving paths inside it.
func openTree(root string) (*treeRoot, error) {
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: root, Err: err}
	}
	return &treeRoot{name: root, fd: fd}, nil
}

func (r *treeRoot) Close() error { return unix.Close(r.fd) }

// open opens name, an absolute path on the tree's machine, with the flags
// of open(2); O_CLOEXEC is always added.
func (r *treeRoot) open(name string, flags int, mode uint32) (*os.File, error) {
	fd, err := r.openFD(name, flags|unix.O_CLOEXEC, mode)
	if err == unix.ELOOP && flags&(unix.O_CREAT|unix.O_WRONLY|unix.O_RDWR) == 0 {
		// A link that loops within the tree, or that leads out of it and
		// back in (proc -> /proc is R/proc -> R/proc): what it would reach
		// is not in the tree, as if it were missing.
		err = unix.ENOENT
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

func (r *treeRoot) openFD(name string, flags int, mode uint32) (int, error) {
	if !noOpenat2.Load() {
		how := &unix.OpenHow{Flags: uint64(flags), Mode: uint64(mode),
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
		rel := strings.TrimLeft(name, "/")
		if rel == "" {
			rel = "."
		}
		for range 16 {
			fd, err := unix.Openat2(r.fd, rel, how)
			if err == unix.EINTR {
				continue
			}
			if err == unix.EAGAIN {
				// A rename or mount raced with a ".." lookup: the kernel
				// asks to try again rather than risk leaving the root.
				continue
			}
			if err == unix.ENOSYS {
				noOpenat2.Store(true)
				break
			}
			return fd, err
		}
		if !noOpenat2.Load() {
			return -1, unix.EAGAIN
		}
	}
	return r.walk(name, flags, mode)
}

// walk resolves name one component at a time, each opened beneath the
// directory before it without following links; a link's target is read
// and resolved in turn, an absolute one from the root. Directories on the
// way are held open, so ".." returns to the directory the walk came from,
// not to wherever a renamed directory's parent is now.
func (r *treeRoot) walk(name string, flags int, mode uint32) (int, error) {
	var dirs []int // beneath the root, innermost last
	defer func() {
		for _, fd := range dirs {
			unix.Close(fd)
		}
	}()
	cur := func() int {
		if len(dirs) == 0 {
			return r.fd
		}
		return dirs[len(dirs)-1]
	}
	remaining := strings.Split(name, "/")
	links := 0
	follow := func(c string) error {
		if links++; links > maxSymlinks {
			return unix.ELOOP
		}
		target, err := readlinkat(cur(), c)
		if err != nil {
			return err
		}
		if path.IsAbs(target) {
			for _, fd := range dirs {
				unix.Close(fd)
			}
			dirs = nil
		}
		remaining = append(strings.Split(target, "/"), remaining...)
		return nil
	}
	for len(remaining) > 0 {
		c := remaining[0]
		remaining = remaining[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(dirs) > 0 {
				unix.Close(dirs[len(dirs)-1])
				dirs = dirs[:len(dirs)-1]
			}
			continue
		}
		if isLast(remaining) {
			fd, err := unix.Openat(cur(), c, flags|unix.O_NOFOLLOW, mode)
			// O_NOFOLLOW met a link: open fails (ELOOP, or ENOTDIR with
			// O_DIRECTORY), or O_PATH opens the link itself.
			if err == nil && flags&unix.O_PATH != 0 && isSymlinkFD(fd) {
				unix.Close(fd)
				err = unix.ELOOP
			} else if err != unix.ELOOP && err != unix.ENOTDIR {
				return fd, err
			}
			if !isSymlinkAt(cur(), c) {
				return -1, err
			}
			if ferr := follow(c); ferr != nil {
				return -1, ferr
			}
			continue
		}
		fd, err := unix.Openat(cur(), c, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, err
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return -1, err
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			dirs = append(dirs, fd)
		case unix.S_IFLNK:
			unix.Close(fd)
			if err := follow(c); err != nil {
				return -1, err
			}
		default:
			unix.Close(fd)
			return -1, unix.ENOTDIR
		}
	}
	// The name was the root, or ended in "..": open that directory.
	return unix.Openat(cur(), ".", flags, mode)
}

func isLast(remaining []string) bool {
	for _, c := range remaining {
		if c != "" && c != "." {
			return false
		}
	}
	return true
}

func isSymlinkFD(fd int) bool {
	var st unix.Stat_t
	return unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK
}

func isSymlinkAt(dirfd int, name string) bool {
	var st unix.Stat_t
	return unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK
}

func readlinkat(dirfd int, name string) (string, error) {
	for size := 256; size <= 1<<16; size *= 4 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
	return "", unix.ENAMETOOLONG
}

// masked reports whether name is a link, or a chain of links, to
// /dev/null: sysctl.d(5)'s way to disable a file or a directory. On the
// tree's machine the link would reach its own /dev/null, which an image's
// tree need not have, so the targets are compared rather than opened.
func (r *treeRoot) masked(name string) bool {
	name = path.Clean("/" + name)
	for range maxSymlinks {
		if name == "/dev/null" {
			return true
		}
		dir, base := path.Split(name)
		if base == "" {
			return false
		}
		d, err := r.open(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
		if err != nil {
			return false
		}
		target, err := readlinkat(int(d.Fd()), base)
		d.Close()
		if err != nil {
			return false
		}
		if !path.IsAbs(target) {
			target = path.Join(dir, target)
		}
		name = path.Clean(target)
	}
	return false
}

// readDir lists a directory of the tree, sorted by name as os.ReadDir
// sorts.
func (r *treeRoot) readDir(name string) ([]fs.DirEntry, error) {
	d, err := r.open(name, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	ents, err := d.ReadDir(-1)
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return ents, err
}

// stat describes name, following links inside the tree.
func (r *treeRoot) stat(name string) (fs.FileInfo, error) {
	f, err := r.open(name, unix.O_PATH, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Stat()
}

// kind names what name is, for errors: "a socket", "a FIFO".
func (r *treeRoot) kind(name string) string {
	fi, err := r.stat(name)
	if err != nil {
		return "not a regular file"
	}
	return fileKind(fi.Mode())
}

func (r *treeRoot) isDir(name string) bool {
	fi, err := r.stat(name)
	return err == nil && fi.IsDir()
}

// mkdirAll makes the directory name and its missing parents inside the
// tree. A link on the way to a directory that is missing is followed, as
// mkdir -p follows it: the directory is made where the link leads, inside
// the tree.
func (r *treeRoot) mkdirAll(name string, perm uint32) error {
	links := 0
	return r.mkdirAllLinks(name, perm, &links)
}

func (r *treeRoot) mkdirAllLinks(name string, perm uint32, links *int) error {
	name = path.Clean("/" + name)
	if r.isDir(name) {
		return nil
	}
	if name == "/" {
		return &fs.PathError{Op: "mkdir", Path: name, Err: unix.ENOTDIR}
	}
	parent, base := path.Split(name)
	if err := r.mkdirAllLinks(parent, perm, links); err != nil {
		return err
	}
	d, err := r.open(parent, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer d.Close()
	err = unix.Mkdirat(int(d.Fd()), base, perm)
	if err == unix.EEXIST && isSymlinkAt(int(d.Fd()), base) {
		if *links++; *links > maxSymlinks {
			return &fs.PathError{Op: "mkdir", Path: name, Err: unix.ELOOP}
		}
		target, err := readlinkat(int(d.Fd()), base)
		if err != nil {
			return &fs.PathError{Op: "mkdir", Path: name, Err: err}
		}
		if !path.IsAbs(target) {
			target = path.Join(parent, target)
		}
		return r.mkdirAllLinks(target, perm, links)
	}
	if err != nil {
		return &fs.PathError{Op: "mkdir", Path: name, Err: err}
	}
	return nil
}

// fileKind names what a file that should be a regular file is instead.
func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "not a regular file"
}

// SpecialFileError says a file that should hold settings is a FIFO, a
// device or a socket: reading one could block for ever or never end.
type SpecialFileError struct {
	Path string
	Kind string // "a FIFO", "a character device", ...
}

func (e *SpecialFileError) Error() string {
	return fmt.Sprintf("%s is %s, not a regular file", e.Path, e.Kind)
}

// isDevNull reports whether fi is the null device itself (major 1, minor
// 3), which systemd takes as masking a config file like a link to it.
func isDevNull(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && fi.Mode()&fs.ModeCharDevice != 0 && unix.Major(st.Rdev) == 1 && unix.Minor(st.Rdev) == 3
}
