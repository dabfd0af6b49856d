package namespaces

import (
	"errors"
	"io/fs"

	"golang.org/x/sys/unix"
)

// statNetNS identifies the network namespace at path. A file from a
// directory listing is opened and checked, since anything may lie there: a
// namespace file is on nsfs (on proc before Linux 3.19) and, where the
// kernel can say (4.11 on), of type CLONE_NEWNET.
func statNetNS(path string, trusted bool) (ID, error) {
	if trusted {
		var st unix.Stat_t
		if err := unix.Stat(path, &st); err != nil {
			return ID{}, &fs.PathError{Op: "stat", Path: path, Err: err}
		}
		return ID{Dev: st.Dev, Inode: st.Ino}, nil
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		return ID{}, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	return fdNetNS(fd, path)
}

// fdNetNS identifies the network namespace open at fd.
func fdNetNS(fd int, path string) (ID, error) {
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err != nil {
		return ID{}, &fs.PathError{Op: "statfs", Path: path, Err: err}
	}
	if sfs.Type != unix.NSFS_MAGIC && sfs.Type != unix.PROC_SUPER_MAGIC {
		return ID{}, &fs.PathError{Op: "open", Path: path, Err: errNotNetNS}
	}
	typ, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
	switch {
	case errors.Is(err, unix.ENOTTY):
		// Older than 4.11: a namespace, of a type the kernel will not say.
	case err != nil:
		return ID{}, &fs.PathError{Op: "ioctl NS_GET_NSTYPE", Path: path, Err: err}
	case typ != unix.CLONE_NEWNET:
		return ID{}, &fs.PathError{Op: "open", Path: path, Err: errNotNetNS}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return ID{}, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	return ID{Dev: st.Dev, Inode: st.Ino}, nil
}
