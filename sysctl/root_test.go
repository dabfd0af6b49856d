package sysctl

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/arpdoctor/arpdoctor/sysctl/sysctltest"
	"golang.org/x/sys/unix"
)

// bothResolvers runs f with the kernel's openat2 and with the walk that
// stands in for it on older kernels.
func bothResolvers(t *testing.T, f func(t *testing.T)) {
	t.Run("openat2", func(t *testing.T) {
		if noOpenat2.Load() {
			t.Skip("the kernel has no openat2")
		}
		f(t)
	})
	t.Run("walk", func(t *testing.T) {
		was := noOpenat2.Load()
		noOpenat2.Store(true)
		t.Cleanup(func() { noOpenat2.Store(was) })
		f(t)
	})
}

func TestTreeRootResolves(t *testing.T) {
	root := t.TempDir()
	mk := func(p string) {
		if err := os.MkdirAll(filepath.Join(root, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, p string) {
		if err := os.Symlink(target, filepath.Join(root, p)); err != nil {
			t.Fatal(err)
		}
	}
	mk("usr/lib/sysctl.d")
	mk("etc/sysctl.d")
	link("usr/lib", "lib")                        // merged /usr, relative
	link("/usr/lib", "etc/abs")                   // absolute: inside the tree
	link("../../../../../../../etc", "etc/climb") // cannot leave the tree
	link("/dev/null", "etc/sysctl.d/masked.conf")
	link("masked.conf", "etc/sysctl.d/masked2.conf")
	link("/dev/null", "etc/masked.d")
	link("loop", "etc/loop")
	link("/etc/loop", "etc/loop2")
	os.Rename(filepath.Join(root, "etc/loop2"), filepath.Join(root, "etc/loop"))
	bothResolvers(t, func(t *testing.T) {
		tr, err := openTree(root)
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		for in, want := range map[string]string{
			"/lib":                "usr/lib",
			"/etc/abs":            "usr/lib",
			"/etc/climb":          "etc",
			"/lib/sysctl.d":       "usr/lib/sysctl.d",
			"/etc/abs/sysctl.d":   "usr/lib/sysctl.d",
			"/etc/climb/sysctl.d": "etc/sysctl.d",
			"/../../etc/sysctl.d": "etc/sysctl.d",
			"/etc/missing/../etc": "",
			"/":                   "",
			"/etc/sysctl.d/..":    "etc",
		} {
			if in == "/etc/missing/../etc" {
				// The kernel resolves ".." after the directory, which
				// must exist.
				if _, err := tr.open(in, unix.O_PATH, 0); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("open(%s) = %v, want not found", in, err)
				}
				continue
			}
			for _, flags := range []int{unix.O_PATH, unix.O_PATH | unix.O_DIRECTORY, unix.O_RDONLY | unix.O_DIRECTORY} {
				f, err := tr.open(in, flags, 0)
				if err != nil {
					t.Errorf("open(%s, %#x): %v", in, flags, err)
					continue
				}
				got, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
				f.Close()
				if w := filepath.Join(root, want); got != w {
					t.Errorf("open(%s, %#x) reached %s, want %s", in, flags, got, w)
				}
			}
		}
		if ents, err := tr.readDir("/lib"); err != nil || len(ents) != 1 || ents[0].Name() != "sysctl.d" {
			t.Errorf("readDir through a link: %v, %v", ents, err)
		}
		for _, name := range []string{"/etc/sysctl.d/masked.conf", "/etc/sysctl.d/masked2.conf", "/etc/masked.d", "/etc/masked.d/x.conf"} {
			if name == "/etc/masked.d/x.conf" {
				if tr.masked(name) {
					t.Errorf("%s is masked, but only its directory is", name)
				}
				continue
			}
			if !tr.masked(name) {
				t.Errorf("%s is not masked", name)
			}
		}
		// Read through a loop, a file is missing, as what a link out of
		// the tree would reach is; written through one, it is an error.
		if _, err := tr.open("/etc/loop/x", unix.O_RDONLY, 0); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("open through a loop: %v, want ENOENT", err)
		}
		if _, err := tr.open("/etc/loop/x", unix.O_WRONLY|unix.O_CREAT, 0o644); !errors.Is(err, syscall.ELOOP) {
			t.Errorf("create through a loop: %v, want ELOOP", err)
		}
		if err := tr.mkdirAll("/etc/loop/x", 0o755); !errors.Is(err, syscall.ELOOP) {
			t.Errorf("mkdir through a loop: %v, want ELOOP", err)
		}
		// mkdir -p through a link to a missing directory makes it where
		// the link leads, inside the tree.
		link("/var/lib/missing/../made", "etc/tomake")
		os.MkdirAll(filepath.Join(root, "var/lib/missing"), 0o755)
		if err := tr.mkdirAll("/etc/tomake/sub", 0o755); err != nil || !tr.isDir("/var/lib/made/sub") {
			t.Errorf("mkdir through a link: %v", err)
		}
		os.RemoveAll(filepath.Join(root, "var"))
		os.Remove(filepath.Join(root, "etc/tomake"))
	})
}

// escapeTree is a machine tree whose every level leads out of it: proc,
// proc/sys, proc/sys/net, the keys' files, etc/sysctl.d, a config file
// and /etc/sysctl.conf are links, absolute, relative and climbing with
// "..", to directories and files outside, which hold tell-tale values.
// It returns the root and the outside directory.
func escapeTree(t *testing.T, variant int) (root, outside string) {
	base := t.TempDir()
	root = filepath.Join(base, "root")
	outside = filepath.Join(base, "outside")
	write := func(dir, p, content string) {
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, p string) {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	// Outside: a whole /proc/sys with values a check would notice, and
	// config files.
	for _, dir := range []string{"proc/sys/net/ipv4/neigh/default", "proc/sys/net/ipv6/neigh/default"} {
		for leaf, v := range map[string]string{"gc_thresh1": "4242", "gc_thresh2": "4343", "gc_thresh3": "4444"} {
			write(outside, dir+"/"+leaf, v+"\n")
		}
	}
	write(outside, "proc/sys/net/ipv4/conf/all/arp_notify", "7\n")
	write(outside, "proc/sys/net/ipv4/conf/eth0/arp_notify", "7\n")
	write(outside, "etc/sysctl.d/50-outside.conf", "net.ipv4.neigh.default.gc_thresh2 = 4545\n")
	write(outside, "outside.conf", "net.ipv4.neigh.default.gc_thresh3 = 4646\n")
	write(outside, "sysctl.conf", "net.ipv4.conf.all.arp_notify = 8\n")
	// rel is the relative link from p's directory in the root to target
	// outside: it climbs with ".." out of the root.
	rel := func(p, target string) string {
		r, err := filepath.Rel(filepath.Dir(filepath.Join(root, p)), filepath.Join(outside, target))
		if err != nil || !strings.HasPrefix(r, "../") {
			t.Fatalf("no climbing link from %s to %s: %s, %v", p, target, r, err)
		}
		return r
	}
	switch variant {
	case 0: // proc itself, absolute
		link(filepath.Join(outside, "proc"), "proc")
		link(filepath.Join(outside, "etc/sysctl.d"), "etc/sysctl.d")
		link(filepath.Join(outside, "sysctl.conf"), "etc/sysctl.conf")
	case 1: // proc/sys, climbing out
		link(rel("proc/sys", "proc/sys"), "proc/sys")
		link(rel("etc/sysctl.d", "etc/sysctl.d"), "etc/sysctl.d")
		link(rel("etc/sysctl.conf", "sysctl.conf"), "etc/sysctl.conf")
	case 2: // proc/sys/net, climbing; a config file, climbing
		link(rel("proc/sys/net", "proc/sys/net"), "proc/sys/net")
		link(rel("etc/sysctl.d/60-x.conf", "outside.conf"), "etc/sysctl.d/60-x.conf")
	case 3: // the keys' own files and directories, absolute and climbing
		for _, fam := range []string{"ipv4", "ipv6"} {
			for _, leaf := range []string{"gc_thresh1", "gc_thresh2", "gc_thresh3"} {
				p := "proc/sys/net/" + fam + "/neigh/default/" + leaf
				link(filepath.Join(outside, p), p)
			}
		}
		link(rel("proc/sys/net/ipv4/conf/all", "proc/sys/net/ipv4/conf/all"), "proc/sys/net/ipv4/conf/all")
		link(filepath.Join(outside, "proc/sys/net/ipv4/conf/eth0"), "proc/sys/net/ipv4/conf/eth0")
		link(filepath.Join(outside, "outside.conf"), "etc/sysctl.d/60-x.conf")
	}
	return root, outside
}

// No path under a root leads out of it: check and fix of a tree whose
// links all point outside read nothing there and write nothing there.
func TestTreeRootConfinesEveryPath(t *testing.T) {
	for variant := range 4 {
		t.Run(strconv.Itoa(variant), func(t *testing.T) {
			bothResolvers(t, func(t *testing.T) {
				root, outside := escapeTree(t, variant)
				before := sysctltest.TreeState(t, outside)
				tells := []string{"4242", "4343", "4444", "4545", "4646", "7", "8"}
				leaked := func(what string, vals []Value) {
					t.Helper()
					for _, v := range vals {
						if slices.Contains(tells, v.Value) {
							t.Errorf("%s read %s = %s from outside the root (%s)", what, v.Key, v.Value, v.Source)
						}
					}
				}

				// Globs are expanded by listing directories of the tree:
				// those too stay inside it.
				live, err := ReadRunning(Running{Root: root}, []Key{"net.ipv4.conf.eth0.arp_notify",
					"net.*.conf.*.arp_notify", "net.ipv?.neigh.*.gc_thresh*"})
				var np *NoProcSysError
				switch {
				case errors.As(err, &np):
				case err != nil:
					t.Fatalf("ReadRunning: %v", err)
				default:
					leaked("ReadRunning", live.Values)
				}
				cfg, err := LoadSystemConfig(root)
				if err != nil {
					t.Fatalf("LoadSystemConfig: %v", err)
				}
				leaked("LoadSystemConfig", cfg.Values(ModeConfig, nil).Values)

				rules, _ := Profile("cloud")
				plan, err := PlanFix(FixOptions{Root: root, Path: DefaultFixPath, Profile: "cloud", Rules: rules, Live: live})
				if err != nil {
					t.Fatalf("PlanFix: %v", err)
				}
				// Whatever the plan, the file lands inside the root or not
				// at all.
				WriteFixFile(root, plan)
				// Set every key the outside tree has, as a plan for a
				// tree that seemed to have them would.
				var changes []LiveChange
				for _, k := range []Key{"net.ipv4.neigh.default.gc_thresh1", "net.ipv6.neigh.default.gc_thresh1",
					"net.ipv4.conf.all.arp_notify", "net.ipv4.conf.eth0.arp_notify"} {
					changes = append(changes, LiveChange{Key: k, To: "0"})
				}
				for i := range changes {
					ApplyLive(root, nil, changes[i:i+1])
				}
				if after := sysctltest.TreeState(t, outside); !mapsEqual(before, after) {
					t.Errorf("outside the root changed:\nbefore %v\nafter  %v", before, after)
				}
			})
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Root "/" is this machine: links resolve as they always do.
func TestTreeRootSlash(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644)
	os.Symlink(filepath.Join(dir, "f"), filepath.Join(dir, "abs"))
	bothResolvers(t, func(t *testing.T) {
		tr, err := openTree("/")
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		b, err := tr.readFile(filepath.Join(dir, "abs"))
		if err != nil || string(b) != "x" {
			t.Errorf("read through a link under /: %q, %v", b, err)
		}
	})
}

// A FIFO, a socket or a device among the config files is refused, and
// reading does not wait for a writer.
func TestSpecialConfigFilesRefused(t *testing.T) {
	for _, kind := range []string{"fifo", "socket"} {
		t.Run(kind, func(t *testing.T) {
			root := sysctltest.CopyTree(t, "testdata/image-unset")
			p := filepath.Join(root, "etc/sysctl.d/50-special.conf")
			want := "a FIFO"
			switch kind {
			case "fifo":
				if err := unix.Mkfifo(p, 0o644); err != nil {
					t.Fatal(err)
				}
			case "socket":
				want = "a socket"
				fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer unix.Close(fd)
				if err := unix.Bind(fd, &unix.SockaddrUnix{Name: p}); err != nil {
					t.Fatal(err)
				}
			}
			_, err := LoadSystemConfig(root)
			var se *SpecialFileError
			if !errors.As(err, &se) || se.Kind != want || se.Path != "/etc/sysctl.d/50-special.conf" {
				t.Errorf("err = %v, want %s refused", err, want)
			}
		})
	}
}

// A FIFO named explicitly is read, through to its writer's end; one that
// nobody writes stops the read at the deadline, or when the context is
// cancelled, instead of hanging.
func TestLoadConfigFilesFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := LoadConfigFiles(ctx, fifo)
			done <- err
		}()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})

	t.Run("writer that never writes", func(t *testing.T) {
		// O_RDWR opens a FIFO without waiting, and counts as a writer.
		w, err := os.OpenFile(fifo, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		was := specialFileTimeout
		specialFileTimeout = 1
		defer func() { specialFileTimeout = was }()
		_, err = LoadConfigFiles(context.Background(), fifo)
		if !errors.Is(err, ErrNoData) || !strings.Contains(err.Error(), "reading "+fifo+": no end of data within") {
			t.Errorf("err = %v, want %v", err, ErrNoData)
		}
	})

	t.Run("writer", func(t *testing.T) {
		go func() {
			w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
			if err != nil {
				return
			}
			w.WriteString("net.ipv4.neigh.default.gc_thresh1 = 0\n")
			w.Close()
		}()
		c, err := LoadConfigFiles(context.Background(), fifo)
		if err != nil {
			t.Fatal(err)
		}
		if a, ok := c.Lookup("net.ipv4.neigh.default.gc_thresh1"); !ok || a.Value != "0" {
			t.Errorf("got %+v, %v", a, ok)
		}
	})
}

// FuzzTreeRoot builds a tree of directories and links from the input,
// links pointing anywhere, and opens paths in it. Whatever is opened must
// be inside the root; and the walk that stands in for openat2 must reach
// what the kernel reaches.
func FuzzTreeRoot(f *testing.F) {
	f.Add("d a\nl a/x /a\nl b ../../..\nl c /c\nq b/a/x\nq c/x\nq ../a")
	f.Add("d etc/sysctl.d\nl proc /proc\nl etc/sysctl.d/x.conf ../../../etc/passwd\nq proc/sys\nq etc/sysctl.d/x.conf")
	f.Add("l a b\nl b a\nq a\nd x/y\nl x/y/z ../../x\nq x/y/z/y/z/..")
	f.Fuzz(func(t *testing.T, in string) {
		if noOpenat2.Load() {
			t.Skip("the kernel has no openat2")
		}
		base := t.TempDir()
		root := filepath.Join(base, "root")
		os.Mkdir(root, 0o755)
		os.Mkdir(filepath.Join(base, "outside"), 0o755)
		var queries []string
		for line := range strings.Lines(in) {
			op, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
			a, b, _ := strings.Cut(rest, " ")
			if strings.Contains(a, "..") || len(a) > 64 || len(b) > 64 || strings.ContainsRune(a+b, 0) {
				continue
			}
			p := filepath.Join(root, a)
			switch op {
			case "d":
				os.MkdirAll(p, 0o755)
			case "l":
				os.MkdirAll(filepath.Dir(p), 0o755)
				os.Symlink(b, p)
			case "q":
				if len(queries) < 8 {
					queries = append(queries, rest)
				}
			}
		}
		tr, err := openTree(root)
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		where := func(q string) (string, error) {
			f, err := tr.open(q, unix.O_PATH, 0)
			if err != nil {
				return "", err
			}
			defer f.Close()
			return os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
		}
		for _, q := range queries {
			noOpenat2.Store(false)
			kernel, kerr := where(q)
			noOpenat2.Store(true)
			walked, werr := where(q)
			noOpenat2.Store(false)
			for _, p := range []string{kernel, walked} {
				if p != "" && p != root && !strings.HasPrefix(p, root+"/") {
					t.Fatalf("%q reached %s, outside %s", q, p, root)
				}
			}
			if kernel != walked || (kerr == nil) != (werr == nil) {
				t.Fatalf("%q: openat2 reached %q (%v), the walk %q (%v)", q, kernel, kerr, walked, werr)
			}
		}
	})
}
