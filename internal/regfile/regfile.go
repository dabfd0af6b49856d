// Package regfile reads small files whose path comes from outside, where a
// FIFO, a device or an endless "regular" file may stand in for the file
// expected: a proc root given on the command line, a web configuration and
// the certificates it names.
package regfile

import (
	"errors"
	"io/fs"

	"golang.org/x/sys/unix"
)

// Errors, in an *fs.PathError that names the file.
var (
	// ErrNotRegular says the file is a FIFO, a device or a directory:
	// reading it could block for ever or never end.
	ErrNotRegular = errors.New("not a regular file")
	// ErrTooLarge says the file holds more than the caller's limit.
	ErrTooLarge = errors.New("larger than expected")
	// ErrWouldBlock says a file that looks regular would block a read
	// (/proc/kmsg).
	ErrWouldBlock = errors.New("reading would block")
)

// Read reads the regular file at path into buf (its contents replaced,
// grown as needed), at most limit bytes, and returns what it read, valid
// until buf is reused. The file is opened without blocking (a FIFO's open
// waits for a writer), refused unless regular, and read without blocking
// either. check, when not nil, vets the open file before it is read; its
// error is returned as it is, in an *fs.PathError.
func Read(path string, buf []byte, limit int, check func(fd int, st *unix.Stat_t) error) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, &fs.PathError{Op: "open", Path: path, Err: ErrNotRegular}
	}
	if check != nil {
		if err := check(fd, &st); err != nil {
			return nil, &fs.PathError{Op: "open", Path: path, Err: err}
		}
	}
	if st.Size > int64(limit) {
		return nil, &fs.PathError{Op: "read", Path: path, Err: ErrTooLarge}
	}
	b := buf[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := unix.Read(fd, b[len(b):min(cap(b), limit+1)])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return nil, &fs.PathError{Op: "read", Path: path, Err: ErrWouldBlock}
		case err != nil:
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		case n == 0:
			return b, nil
		}
		b = b[:len(b)+n]
		if len(b) > limit {
			return nil, &fs.PathError{Op: "read", Path: path, Err: ErrTooLarge}
		}
	}
}
