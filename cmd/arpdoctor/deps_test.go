package main

import (
	"os/exec"
	"strings"
	"testing"
)

// Packages whose initialization costs every command start-up time and
// memory (gopacket's layers fill several 65,536-entry tables): the
// binary must not link them; tests may.
var heavyPackages = []string{
	"github.com/google/gopacket/layers",
	"github.com/google/gopacket/pcapgo",
}

func TestBinaryLinksNoHeavyPackages(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to list the binary's packages")
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		deps[p] = true
	}
	if !deps["github.com/arpdoctor/arpdoctor/capture"] {
		t.Fatalf("go list -deps does not list capture: %s", out)
	}
	for _, p := range heavyPackages {
		if deps[p] {
			t.Errorf("the binary links %s", p)
		}
	}
}
