package neigh_test

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/arpdoctor/arpdoctor/neigh"
)

func TestOpenErrors(t *testing.T) {
	file := t.TempDir() + "/plain"
	os.WriteFile(file, nil, 0o644)
	// A FIFO would block the open for ever: refused at once.
	fifo := t.TempDir() + "/fifo"
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for spec, want := range map[string]string{
		"arpdt-no-such-ns":  `network namespace "arpdt-no-such-ns" not found: no /run/netns/arpdt-no-such-ns`,
		"/nonexistent/ns":   "network namespace /nonexistent/ns not found",
		"/proc/self/ns/uts": "/proc/self/ns/uts is not a network namespace",
		file:                file + " is not a network namespace",
		fifo:                fifo + " is not a network namespace",
		"..":                `invalid network namespace name ".."`,
	} {
		_, err := neigh.Open(spec)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Open(%q) = %v, want %q...", spec, err, want)
		}
	}
}
