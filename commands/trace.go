package commands

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/arpdoctor/arpdoctor/capture"
	"github.com/arpdoctor/arpdoctor/diagnose"
	"github.com/arpdoctor/arpdoctor/internal/words"
	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/spf13/cobra"
)

type traceOptions struct {
	*globalOptions
	Interface        string
	Reads            []string
	Write            string
	Ports            []int
	Hosts            []string
	Duration         time.Duration
	Count            int
	HandshakeTimeout time.Duration
	MaxHandshakes    int
	Verbose          bool
	PacketBuffered   bool

	filter capture.Filter
}

func newTraceCmd(g *globalOptions) *cobra.Command { return traceCommand(g, runTrace) }

// traceCommand builds the command around its run function, which tests
// replace to see the options.
func traceCommand(g *globalOptions, runF func(context.Context, *traceOptions) error) *cobra.Command {
	o := &traceOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "trace",
		Short: "Trace TCP handshakes and name the stale neighbor entry that breaks them",
		Long: `Watch TCP handshakes, live on an interface or in capture files, and say
which fail, where and why. When a server sends its SYN-ACK to another MAC
than the client's SYN came from, its neighbor entry for the client is
stale: trace says so, with both MACs, and the command to run next.

Findings, one line each (docs/findings-trace.md explains every kind):
  synack_to_wrong_mac     the SYN-ACK went to a MAC the client no longer has
  synack_unacknowledged   SYN-ACK sent, no ACK came back
  syn_unanswered          SYNs and nothing back (the client's view)
  reset                   the SYN was answered with RST: refused, not lost
  unanswered_arp_probe    the host probed its cached MAC and nobody answered
  mac_changed             ARP or NDP shows an IP at a new MAC
  duplicate_ip            two MACs keep claiming one IP
  handshake_ok            counted; shown with -v
A handshake gets its verdict when it completes or is reset, at the end of
the input, or when it has gone without a packet (in capture time) for as
long as its client could still be retransmitting its SYN: 3 s after a
single SYN; after several, 2.4 times the largest gap between them (backoff
sends the next within twice the last gap), rounded up to 3, 6, 12, 24,
48... s; never longer than --handshake-timeout. Its default, 65 s, covers
Linux's default SYN schedule, whose last gap is 32 s: a handshake that
never completes gets its verdict about 2 minutes after its first SYN, as
its client gives up. A stale entry does not wait: synack_to_wrong_mac
comes as soon as the client's retransmitted SYN is answered at the same
wrong MAC again, while the client still retries ("outcome":"retrying").
A handshake that completes after a verdict of failure (that one, a
shorter --handshake-timeout, an unusual client) gets a second line that
updates the first ("update of the 07:08:09.000 synack_to_wrong_mac
finding: ..."; in JSON "correction":true and "corrects":ID), and counts
once in the summary.

Live (-i) capture uses an AF_PACKET socket with a kernel filter that lets
through only SYN, FIN and RST segments, segments without payload, ARP and
NDP: data never reaches user space. It needs CAP_NET_RAW; with --netns the
socket is opened inside that namespace. Ctrl-C, --duration or --count stop
it cleanly.

-r reads pcap or pcapng (Ethernet, Linux cooked SLL/SLL2 as tcpdump -i any
writes, raw IP), "-" for standard input. Several -r files are capture
points (the server's and the client's): each handshake is matched across
them by endpoints and sequence numbers, whatever their clocks, and trace
says where the packet was lost. With -r, --duration counts capture time.

-w writes the packets that passed the filter as a pcap file: the header at
once, the packets at least every second (-U: each at once). Reading files,
it writes beside the name given and renames into place at the end, also
after Ctrl-C, so that a run that fails leaves an existing file as it was;
it refuses to write onto a file it reads. A live capture writes the file
in place, as tcpdump does, so that a capture killed outright keeps what it
saw.

Output is a line per finding, then a summary; -o json streams one JSON
object per finding (handshake_ok included), then {"kind":"summary",...}.
Exit 1 when a problem was found, 0 when none, 2 on trouble.`,
		Example: `  arpdoctor trace -i eth0 --port 6379
  arpdoctor --netns blue trace -i eth0 --duration 30s -w handshakes.pcap
  arpdoctor trace -r server.pcap -r client.pcap
  tcpdump -i any -w - 'tcp[tcpflags] & (tcp-syn|tcp-rst) != 0 or arp' | arpdoctor trace -r - -o json`,
		Args:        cobra.NoArgs,
		Annotations: outputs("table", "json"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("write") && o.Write == "" {
				return flagErrorf("-w needs a file name")
			}
			if err := o.validate(); err != nil {
				return err
			}
			return runF(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.Interface, "interface", "i", "", "capture live on this Ethernet interface")
	f.StringArrayVarP(&o.Reads, "read", "r", nil, `read this pcap or pcapng file ("-" for standard input); repeat for the captures of several hosts`)
	f.StringVarP(&o.Write, "write", "w", "", "write the packets that passed the filter to this pcap file")
	f.IntSliceVar(&o.Ports, "port", nil, "only TCP segments from or to this port (repeatable)")
	f.StringSliceVar(&o.Hosts, "host", nil, "only packets from, to or about this IP or CIDR prefix (repeatable)")
	f.DurationVar(&o.Duration, "duration", 0, "stop after this long (capture time with -r); 0 for no limit")
	f.IntVar(&o.Count, "count", 0, "stop after this many packets passed the filter; 0 for no limit")
	f.DurationVar(&o.HandshakeTimeout, "handshake-timeout", capture.DefaultHandshakeTimeout, "wait at most this long without a packet for an open handshake (the wait is derived from its SYN retransmissions; the default covers Linux's SYN schedule)")
	f.IntVar(&o.MaxHandshakes, "max-handshakes", capture.DefaultMaxHandshakes, "track at most this many handshakes at once; the oldest beyond are evicted")
	f.BoolVarP(&o.Verbose, "verbose", "v", false, "show handshakes that worked too")
	f.BoolVarP(&o.PacketBuffered, "packet-buffered", "U", false, "with -w, write each packet to the file as soon as it is captured")
	return cmd
}

// validate checks the flags and builds the filter.
func (o *traceOptions) validate() error {
	switch {
	case o.Interface == "" && len(o.Reads) == 0:
		return flagErrorf("give -i INTERFACE to capture live, or -r FILE to read a capture")
	case o.Interface != "" && len(o.Reads) > 0:
		return flagErrorf("-i and -r exclude each other: capture live or read files")
	case o.NetNS != "" && o.Interface == "":
		return flagErrorf("--netns is for live capture (-i): a capture file is read where it lies")
	case o.Write == "-":
		return flagErrorf("-w - would mix the capture with the report on standard output: give a file name")
	case o.PacketBuffered && o.Write == "":
		return flagErrorf("-U (--packet-buffered) is for the file -w writes: give -w FILE too")
	case o.Duration < 0:
		return flagErrorf("--duration must not be negative")
	case o.Count < 0:
		return flagErrorf("--count must not be negative")
	case o.MaxHandshakes < 1 || o.MaxHandshakes > maxMaxHandshakes:
		return flagErrorf("--max-handshakes %d: want 1 to %d", o.MaxHandshakes, maxMaxHandshakes)
	}
	if err := inRange("--handshake-timeout", o.HandshakeTimeout, time.Millisecond, 10*time.Minute); err != nil {
		return err
	}
	stdin := 0
	for _, r := range o.Reads {
		if r == "-" {
			stdin++
		}
		if r == "" {
			return flagErrorf("-r needs a file name, or - for standard input")
		}
	}
	if stdin > 1 {
		return flagErrorf("standard input (-r -) can be read only once")
	}
	var f capture.Filter
	for _, p := range o.Ports {
		if p < 1 || p > 65535 {
			return flagErrorf("--port %d: want 1 to 65535", p)
		}
		f.Ports = append(f.Ports, uint16(p))
	}
	for _, h := range o.Hosts {
		p, err := neigh.ParsePrefix(h)
		if err != nil {
			return &FlagError{Err: fmt.Errorf("--host: %w", err)}
		}
		f.Hosts = append(f.Hosts, p)
	}
	if err := f.Validate(); err != nil {
		return &FlagError{Err: fmt.Errorf("--port/--host: %w", err)}
	}
	o.filter = f
	return nil
}

func runTrace(ctx context.Context, o *traceOptions) error {
	var sources []capture.Source
	defer func() {
		for _, s := range sources {
			s.Close()
		}
	}()
	var host capture.HostView
	live := o.Interface != ""
	if live {
		lc, err := o.openCapture(o.NetNS, o.Interface, o.filter)
		if err != nil {
			return err
		}
		defer lc.Close()
		host = lc.Host
		if lc.HostErr != nil {
			fmt.Fprintf(o.io.ErrOut, "arpdoctor: warning: findings will not show the kernel's neighbor entries: %s\n", words.OneLine(lc.HostErr.Error()))
		}
		sources = append(sources, lc.Source) // closed twice: harmless
	} else {
		for _, path := range o.Reads {
			var src *capture.FileSource
			var err error
			if path == "-" {
				src, err = capture.OpenReader(ctx, "-", o.io.In)
			} else {
				src, err = capture.OpenFile(ctx, path)
			}
			if err != nil {
				if ctx.Err() != nil && errors.Is(err, context.Cause(ctx)) {
					// Interrupted before a capture began: nothing to report.
					return nil
				}
				return err
			}
			sources = append(sources, src)
		}
	}

	// Everything is checked before the file to write is touched; it is
	// written beside its name and renamed into place at the end, so that
	// a run that fails leaves an existing file as it was. A live capture
	// is written in place, as tcpdump does: killed, it keeps what it saw.
	var written *capture.OutputFile
	if o.Write != "" {
		if _, err := capture.WriteLinkType(sources); err != nil {
			return fmt.Errorf("-w: %w", err)
		}
		var inputs []capture.Input
		for _, s := range sources {
			if fs, ok := s.(*capture.FileSource); ok && fs.Info() != nil {
				inputs = append(inputs, capture.Input{Name: fs.Name(), Info: fs.Info()})
			}
		}
		f, err := capture.CreateOutput(o.Write, live, inputs)
		var same *capture.SameFileError
		switch {
		case errors.As(err, &same):
			return flagErrorf("-w %s: %s: give another file to write", o.Write, same)
		case errors.Is(err, capture.ErrDirectory):
			return flagErrorf("-w %s: a directory: give a file name", o.Write)
		case err != nil:
			return err
		}
		written = f
		defer written.Abort()
	}

	out := bufio.NewWriterSize(o.io.Out, 64<<10)
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	v := &traceView{
		out:     out,
		enc:     enc,
		json:    o.Output == "json",
		verbose: o.Verbose,
		live:    live,
		multi:   len(sources) > 1,
		netns:   o.NetNS,
		suggest: o.suggest,
		p:       palette{on: o.color},
		width:   o.termWidth(),
	}
	if live {
		where := ""
		if o.NetNS != "" {
			where = " in network namespace " + o.NetNS
		}
		fmt.Fprintf(o.io.ErrOut, "capturing on %s%s; Ctrl-C stops and prints the summary\n", escape(o.Interface), escape(where))
	}
	cfg := capture.RunConfig{
		Sources:          sources,
		Filter:           o.filter,
		Count:            o.Count,
		Duration:         o.Duration,
		HandshakeTimeout: o.HandshakeTimeout,
		MaxHandshakes:    o.MaxHandshakes,
		Host:             host,
		Emit:             v.finding,
		// Text without -v shows no handshake that worked: count them.
		CountOK: o.Output != "json" && !o.Verbose,
	}
	if written != nil {
		cfg.Write = written
		cfg.PacketBuffered = o.PacketBuffered
	}
	limitMemory(o.MaxHandshakes)
	sum, runErr := capture.Run(ctx, cfg)
	if written != nil {
		if runErr != nil && !live {
			written.Abort()
		} else if err := written.Commit(); err != nil && runErr == nil {
			runErr = err
		}
	}
	if sum != nil {
		v.summary(sum)
	}
	if err := v.out.Flush(); err != nil && runErr == nil {
		runErr = err
	}
	if v.err != nil && runErr == nil {
		runErr = v.err
	}
	var ce *capture.CorruptError
	if errors.As(runErr, &ce) {
		return fmt.Errorf("reading %w; the findings before it are above", runErr)
	}
	if runErr != nil {
		return runErr
	}
	if sum.Problems > 0 {
		return ErrProblems
	}
	return nil
}

// limitMemory asks the garbage collector to keep the heap near what trace
// holds: the handshake records (about 200 bytes each, at most
// maxHandshakes of them) and a little more for buffers and the neighbors
// followed. Left alone, the collector lets the heap grow to twice what is
// live before it runs. An explicit GOMEMLIMIT wins.
func limitMemory(maxHandshakes int) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetMemoryLimit(24<<20 + int64(maxHandshakes)*256)
}

// traceView renders findings as they come and the summary at the end.
type traceView struct {
	out     *bufio.Writer
	enc     *json.Encoder // on out, for -o json
	json    bool
	verbose bool
	live    bool
	multi   bool
	netns   string
	// suggest puts sudo where the commands need it; nil leaves them.
	suggest func([]diagnose.Command) []diagnose.Command
	p       palette
	// width is the terminal's, to wrap long findings; 0 in a pipe.
	width int
	err   error
}

// jsonFinding is a finding with the commands to run next.
type jsonFinding struct {
	capture.Finding
	Next []string `json:"next,omitempty"`
}

func (v *traceView) finding(f capture.Finding) {
	if v.err != nil {
		return
	}
	next := v.nextCommands(&f)
	if v.json {
		v.err = v.enc.Encode(jsonFinding{Finding: f, Next: next})
	} else if f.Kind != capture.HandshakeOK || v.verbose || f.Correction {
		v.text(&f, next)
	}
	if v.live && v.err == nil {
		v.err = v.out.Flush()
	}
}

func (v *traceView) text(f *capture.Finding, next []string) {
	when := f.Time.Local().Format("15:04:05.000")
	label := fmt.Sprintf("%s %s:", f.Severity, f.Kind)
	switch f.Severity {
	case capture.Problem:
		label = v.p.red(label)
	case capture.Info:
		label = v.p.yellow(label)
	case capture.OK:
		label = v.p.green(label)
	}
	source := ""
	if v.multi {
		source = " [" + escape(strings.Join(seenIn(f), ", ")) + "]"
	}
	if f.Correction {
		// The handshake's first line stands above, at the time of its
		// first SYN: this one, at the time of its end, says it replaces
		// that one.
		when = f.End.Local().Format("15:04:05.000")
		source += fmt.Sprintf(" update of the %s %s finding:", f.Time.Local().Format("15:04:05.000"), f.CorrectsKind)
	}
	// The message quotes names from the capture and the kernel: escaped;
	// on a terminal it wraps under itself.
	msg := escape(f.Message)
	if v.width > 0 {
		msg = strings.TrimLeft(wrap(strings.Repeat(" ", 4)+msg, v.width, 4), " ")
	}
	fmt.Fprintf(v.out, "%s%s %s %s\n", v.p.faint(when), source, label, msg)
	for _, n := range next {
		fmt.Fprintf(v.out, "  next: %s\n", v.p.bold(escape(n)))
	}
}

func seenIn(f *capture.Finding) []string {
	if len(f.SeenIn) > 0 {
		return f.SeenIn
	}
	return []string{f.Source}
}

// nextCommands are what to run about a problem.
func (v *traceView) nextCommands(f *capture.Finding) []string {
	var out []string
	next := diagnose.TraceNext(f, v.netns)
	if v.suggest != nil {
		next = v.suggest(next)
	}
	for _, c := range next {
		out = append(out, c.String())
	}
	return out
}

func (v *traceView) summary(s *capture.Summary) {
	if v.err != nil {
		return
	}
	if v.json {
		v.err = v.enc.Encode(s)
		return
	}
	w := v.out
	total := 0
	for _, n := range s.Handshakes {
		total += n
	}
	problems := fmt.Sprintf("%d %s", s.Problems, words.Plural(s.Problems, "problem", "problems"))
	if s.Problems > 0 {
		problems = v.p.red(problems)
	} else {
		problems = v.p.green(problems)
	}
	fmt.Fprintf(w, "%s %d %s%s; %s\n", v.p.bold("summary:"), total, words.Plural(total, "handshake", "handshakes"),
		countsByKind(s.Handshakes), problems)
	if n := countsByKind(s.Neighbors); n != "" {
		fmt.Fprintf(w, "neighbors%s\n", n)
	}
	if len(s.TopPeers) > 0 {
		var peers []string
		for _, p := range s.TopPeers {
			peers = append(peers, fmt.Sprintf("%s (%s)", p.IP, strings.TrimPrefix(countsByKind(p.Kinds), ": ")))
		}
		fmt.Fprintf(w, "top peers with problems: %s\n", strings.Join(peers, ", "))
	}
	for _, src := range s.Sources {
		line := fmt.Sprintf("%s: %d %s, %d passed the filter", escape(src.Name), src.Packets, words.Plural(src.Packets, "packet", "packets"), src.Matched)
		if src.Undecodable > 0 {
			line += fmt.Sprintf(", %d undecodable", src.Undecodable)
		}
		if src.KernelDrops > 0 {
			line += fmt.Sprintf(", %d dropped by the kernel (the socket's buffer was full)", src.KernelDrops)
		}
		fmt.Fprintln(w, v.p.faint(line+" ("+src.LinkType+")"))
	}
	for _, u := range s.Unavailable {
		kinds := make([]string, len(u.Kinds))
		for i, k := range u.Kinds {
			kinds[i] = string(k)
		}
		fmt.Fprintf(w, "not possible in %s: %s: %s\n", escape(u.Source), strings.Join(kinds, ", "), u.Reason)
	}
	if s.Evicted > 0 {
		fmt.Fprintf(w, "%s %d handshakes and probes evicted without a verdict to stay within --max-handshakes\n", v.p.yellow("warning:"), s.Evicted)
	}
	if s.Unmatched > 0 {
		fmt.Fprintf(w, "%s %d handshake verdicts reported before every capture was read, to stay within --max-handshakes: their sides in later captures are reported apart\n", v.p.yellow("warning:"), s.Unmatched)
	}
	if s.Stopped != capture.StoppedEndOfInput && s.Stopped != capture.StoppedError {
		fmt.Fprintf(w, "stopped: %s\n", s.Stopped)
	}
}

// countsByKind writes ": 3 handshake_ok, 1 reset" in the order of
// capture.Kinds, or "" when there is nothing to count.
func countsByKind(m map[capture.Kind]int) string {
	var parts []string
	for _, k := range capture.Kinds {
		if n := m[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, k))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return ": " + strings.Join(parts, ", ")
}
