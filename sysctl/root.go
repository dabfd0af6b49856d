package sysctl

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// errMasked says a config file is a symbolic link to /dev/null, the way
// sysctl.d(5) tells to disable a file of the same name in a later
// directory.
var errMasked = errors.New("masked: a link to /dev/null")

// maxSymlinks bounds the links followed for one path, as the kernel's
// MAXSYMLINKS does.
const maxSymlinks = 40

// resolveInRoot turns name, an absolute path on the machine whose files
// are under root, into a path on this machine. Symbolic links are followed
// as they would be on that machine: an absolute target starts again at
// root, and ".." never climbs above it. That keeps an image's
// /etc/sysctl.d/99-sysctl.conf -> /etc/sysctl.conf inside the image instead
// of reading this machine's file. Missing components are kept as they are,
// so that opening the result fails with fs.ErrNotExist.
func resolveInRoot(root, name string) (string, error) {
	remaining := splitPath(name)
	var done []string
	links := 0
	missing := false
	for len(remaining) > 0 {
		c := remaining[0]
		remaining = remaining[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		if missing {
			done = append(done, c)
			continue
		}
		host := filepath.Join(root, filepath.Join(done...), c)
		fi, err := os.Lstat(host)
		if errors.Is(err, fs.ErrNotExist) {
			missing = true
			done = append(done, c)
			continue
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			done = append(done, c)
			continue
		}
		if links++; links > maxSymlinks {
			return "", fmt.Errorf("%s: too many levels of symbolic links", name)
		}
		target, err := os.Readlink(host)
		if err != nil {
			return "", err
		}
		if !path.IsAbs(target) {
			target = path.Join("/", path.Join(done...), target)
		}
		if path.Clean(target) == "/dev/null" {
			return "", errMasked
		}
		done = nil
		remaining = append(splitPath(target), remaining...)
	}
	return filepath.Join(root, filepath.Join(done...)), nil
}

func splitPath(p string) []string { return strings.Split(p, "/") }
