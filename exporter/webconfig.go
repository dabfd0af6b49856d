package exporter

import (
	"errors"
	"fmt"
	"path/filepath"

	"go.yaml.in/yaml/v3"
	"golang.org/x/sys/unix"
)

// MaxWebConfigFile bounds the web configuration and each file it names: a
// few kilobytes of YAML, of PEM, in practice.
const MaxWebConfigFile = 1 << 20

// ErrNotRegular says a file is a FIFO, a device or a directory: reading it
// could block for ever or never end.
var ErrNotRegular = errors.New("not a regular file")

// ErrKernelFile says a file is one of the kernel's, under /proc or /sys.
var ErrKernelFile = errors.New("a file of /proc or /sys, not a configuration")

// ErrTooLarge says a file holds more than MaxWebConfigFile bytes.
var ErrTooLarge = fmt.Errorf("larger than %d bytes", MaxWebConfigFile)

// WebConfigError says the web configuration, or a file it names under Key
// (such as tls_server_config.cert_file), cannot be read safely.
type WebConfigError struct {
	// Key is the configuration's key that names Path; "" for the
	// configuration itself.
	Key  string
	Path string
	Err  error
}

func (e *WebConfigError) Error() string {
	if e.Key == "" {
		// The configuration itself: its path is the caller's to say.
		return e.Err.Error()
	}
	return e.Key + " " + e.Path + ": " + e.Err.Error()
}

func (e *WebConfigError) Unwrap() error { return e.Err }

// webConfigFiles are the keys of the exporter-toolkit's web configuration
// that name files, which the toolkit reads whole with os.ReadFile.
type webConfigFiles struct {
	TLS struct {
		CertFile     string `yaml:"cert_file"`
		KeyFile      string `yaml:"key_file"`
		ClientCAFile string `yaml:"client_ca_file"`
	} `yaml:"tls_server_config"`
}

// CheckWebConfig reads the exporter-toolkit's web configuration at path,
// and each file it names, as the toolkit would but without blocking and
// within MaxWebConfigFile: a FIFO, a device such as /dev/zero, a file
// whose read blocks (/proc/kmsg) or a huge file would otherwise hang the
// exporter's start or grow it without bound. It does not judge the
// configuration itself: web.Validate does, once this has passed. Relative
// paths are taken from the configuration's directory, as the toolkit
// does.
func CheckWebConfig(path string) error {
	if path == "" {
		return nil
	}
	b, err := readSmallFile(path, MaxWebConfigFile)
	if err != nil {
		return &WebConfigError{Path: path, Err: err}
	}
	var c webConfigFiles
	if err := yaml.Unmarshal(b, &c); err != nil {
		// Malformed: web.Validate says where, in the toolkit's words.
		return nil
	}
	dir := filepath.Dir(path)
	for _, f := range []struct{ key, path string }{
		{"tls_server_config.cert_file", c.TLS.CertFile},
		{"tls_server_config.key_file", c.TLS.KeyFile},
		{"tls_server_config.client_ca_file", c.TLS.ClientCAFile},
	} {
		if f.path == "" {
			continue
		}
		p := f.path
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if _, err := readSmallFile(p, MaxWebConfigFile); err != nil {
			return &WebConfigError{Key: f.key, Path: p, Err: err}
		}
	}
	return nil
}

// readSmallFile reads a regular file, its errors naming no path (the
// caller's error does), of at most limit bytes. It opens it
// without blocking (a FIFO's open waits for a writer), refuses anything
// but a regular file, and reads without blocking either: a "regular"
// file of /proc that would block a read (/proc/kmsg) fails with EAGAIN.
func readSmallFile(path string, limit int) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("opening: %w", err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, ErrNotRegular
	}
	// The kernel's files look regular, but a read may consume what others
	// wait for (/proc/kmsg) or never come: none is a configuration.
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err == nil && (sfs.Type == unix.PROC_SUPER_MAGIC || sfs.Type == unix.SYSFS_MAGIC) {
		return nil, ErrKernelFile
	}
	if st.Size > int64(limit) {
		return nil, ErrTooLarge
	}
	b := make([]byte, 0, min(max(st.Size, 512), int64(limit))+1)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := unix.Read(fd, b[len(b):min(cap(b), limit+1)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			if err == unix.EAGAIN {
				return nil, errors.New("reading would block")
			}
			return nil, fmt.Errorf("reading: %w", err)
		}
		if n == 0 {
			return b, nil
		}
		b = b[:len(b)+n]
		if len(b) > limit {
			return nil, ErrTooLarge
		}
	}
}
