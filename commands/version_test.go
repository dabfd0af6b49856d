package commands

import (
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	code, out, _ := run(t, false, "version")
	if code != 0 || !strings.HasPrefix(out, "arpdoctor ") || !strings.Contains(out, "linux/") {
		t.Errorf("version: %d %q", code, out)
	}
	code, out, _ = run(t, false, "version", "-o", "json")
	if code != 0 || !strings.Contains(out, `"version":`) || !strings.Contains(out, `"go":"go1.`) {
		t.Errorf("version -o json: %d %q", code, out)
	}
	version = "v9.9.9"
	defer func() { version = "" }()
	if v := Version(); v.Version != "v9.9.9" {
		t.Errorf("link-time version ignored: %+v", v)
	}
}
