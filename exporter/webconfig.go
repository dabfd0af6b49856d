package exporter

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/arpdoctor/arpdoctor/internal/regfile"
	"go.yaml.in/yaml/v3"
	"golang.org/x/sys/unix"
)

// MaxWebConfigFile bounds the web configuration and each file it names: a
// few kilobytes of YAML, of PEM, in practice.
const MaxWebConfigFile = 1 << 20

// ErrNotRegular says a file is a FIFO, a device or a directory: reading it
// could block for ever or never end.
var ErrNotRegular = regfile.ErrNotRegular

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

// readSmallFile reads a regular file of at most limit bytes without
// blocking (see regfile.Read), refusing the kernel's files; its errors
// name no path (the caller's error does).
func readSmallFile(path string, limit int) ([]byte, error) {
	b, err := regfile.Read(path, nil, limit, notKernelFile)
	if errors.Is(err, regfile.ErrTooLarge) {
		return nil, ErrTooLarge
	}
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		return nil, pe.Err
	}
	return b, err
}

// notKernelFile refuses the kernel's files: they look regular, but a read
// may consume what others wait for (/proc/kmsg) or never come, and none
// is a configuration.
func notKernelFile(fd int, _ *unix.Stat_t) error {
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err == nil && (sfs.Type == unix.PROC_SUPER_MAGIC || sfs.Type == unix.SYSFS_MAGIC) {
		return ErrKernelFile
	}
	return nil
}
