package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// RunConfig says what Run reads, how, and where the results go.
type RunConfig struct {
	// Sources are read one after the other. Each is a capture point with
	// its own clock: several files are matched handshake by handshake
	// (taken at the server and at the client, say) rather than joined.
	Sources []Source
	// Filter selects the packets traced (and written).
	Filter Filter
	// Write, when set, receives the packets that passed the filter as a
	// pcap file: the header at once, the packets at least every second.
	Write io.Writer
	// PacketBuffered writes each packet to Write as soon as it is read.
	PacketBuffered bool
	// Count stops the run after this many packets passed the filter; 0
	// for no limit.
	Count int
	// Duration stops the run after this long: wall-clock time for a live
	// capture, capture time for files. 0 for no limit.
	Duration time.Duration
	// HandshakeTimeout and MaxHandshakes configure each source's Tracker.
	HandshakeTimeout time.Duration
	MaxHandshakes    int
	// Host answers for the live host (see HostView); nil for files.
	Host HostView
	// CountOK counts the handshakes that worked without building their
	// findings (see TrackerConfig.CountOK); with several sources they are
	// built all the same, to be matched.
	CountOK bool
	// Emit receives each finding when it is made. With several sources,
	// findings are held to be matched and come after the last source is
	// read, in the order of their times; what is held is bounded (about
	// MaxHandshakes × 64 bytes), and beyond it the oldest come out
	// early, matched with what was read so far (Summary.Unmatched).
	Emit func(Finding)
}

// LinkTypeMismatchError says that sources of different link types cannot
// be written to one pcap file.
type LinkTypeMismatchError struct {
	First, Other         string
	FirstType, OtherType LinkType
}

func (e *LinkTypeMismatchError) Error() string {
	return fmt.Sprintf("one pcap file holds one link type, and %s is %s while %s is %s",
		e.First, e.FirstType, e.Other, e.OtherType)
}

// WriteLinkType is the link type of the pcap file that Run writes from
// sources: theirs, when they share one.
func WriteLinkType(sources []Source) (LinkType, error) {
	if len(sources) == 0 {
		return 0, errors.New("no packet source")
	}
	lt := sources[0].LinkType()
	for _, s := range sources[1:] {
		if s.LinkType() != lt {
			return 0, &LinkTypeMismatchError{First: sources[0].Name(), FirstType: lt, Other: s.Name(), OtherType: s.LinkType()}
		}
	}
	return lt, nil
}

// stopper is a source that can be told to end from another goroutine (a
// live capture).
type stopper interface{ Stop() }

// kernelCounter is a source whose kernel counts packets (a live capture).
type kernelCounter interface {
	KernelStats() (received, dropped uint64)
}

// Run reads every source through the filter into trackers, gives the
// findings to cfg.Emit as they come, and returns the summary. It stops at
// the end of the input, after Count packets or Duration, or when ctx is
// cancelled, and in each case gives verdicts on what is still open and
// finishes the written file. A source that fails (a corrupt file) ends
// the run: the summary covers what came before, and the error says where
// it failed.
func Run(ctx context.Context, cfg RunConfig) (*Summary, error) {
	if len(cfg.Sources) == 0 {
		return nil, errors.New("no packet source")
	}
	if cfg.Emit == nil {
		return nil, errors.New("no Emit function for findings")
	}
	if err := cfg.Filter.Validate(); err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, ctx: ctx}
	r.tally = newTally(&r.sum)
	if cfg.Write != nil {
		lt, err := WriteLinkType(cfg.Sources)
		if err != nil {
			return nil, err
		}
		w, err := newPcapWriter(cfg.Write, lt, cfg.PacketBuffered)
		if err != nil {
			return nil, err
		}
		r.writer = w
	}
	if len(cfg.Sources) > 1 {
		names := make([]string, len(cfg.Sources))
		for i, s := range cfg.Sources {
			names[i] = s.Name()
		}
		limit := cfg.MaxHandshakes
		if limit <= 0 {
			limit = DefaultMaxHandshakes
		}
		r.matcher = newMatcher(names, limit, r.emit)
	}

	stopAll := func(reason string) {
		r.stopReason.CompareAndSwap(nil, &reason)
		r.stop.Store(true)
		for _, s := range cfg.Sources {
			if st, ok := s.(stopper); ok {
				st.Stop()
			}
		}
	}
	if ctx.Err() != nil {
		stopAll(StoppedInterrupted)
	}
	defer context.AfterFunc(ctx, func() { stopAll(StoppedInterrupted) })()
	if cfg.Duration > 0 {
		for _, s := range cfg.Sources {
			if _, live := s.(stopper); live {
				t := time.AfterFunc(cfg.Duration, func() { stopAll(StoppedDuration) })
				defer t.Stop()
				break
			}
		}
	}

	r.sum.Stopped = StoppedEndOfInput
	var runErr error
	for i, src := range cfg.Sources {
		stopped, err := r.read(i, src)
		if err != nil {
			r.sum.Stopped, runErr = StoppedError, err
			break
		}
		if stopped != "" {
			r.sum.Stopped = stopped
			break
		}
	}
	if r.matcher != nil {
		r.matcher.flush()
		r.sum.Unmatched = r.matcher.early
	}
	r.tally.finish()
	if r.writer != nil {
		if err := r.writer.flush(); err != nil && runErr == nil {
			runErr = err
		}
	}
	return &r.sum, runErr
}

type runner struct {
	cfg        RunConfig
	ctx        context.Context
	sum        Summary
	tally      *tally
	writer     *pcapWriter
	matcher    *matcher
	matched    int
	stop       atomic.Bool
	stopReason atomic.Pointer[string]
	ids        uint64
}

// nextID numbers the findings of every source in one sequence.
func (r *runner) nextID() uint64 {
	r.ids++
	return r.ids
}

// read runs one source to its end; it returns why it stopped early, if
// it did.
func (r *runner) read(i int, src Source) (stopped string, err error) {
	tr, err := NewTracker(TrackerConfig{
		Source:           src.Name(),
		LinkType:         src.LinkType(),
		HandshakeTimeout: r.cfg.HandshakeTimeout,
		MaxHandshakes:    r.cfg.MaxHandshakes,
		Host:             r.cfg.Host,
		Emit:             func(f Finding) { r.found(i, f) },
		CountOK:          r.cfg.CountOK && r.matcher == nil,
		NextID:           r.nextID,
	})
	if err != nil {
		return "", fmt.Errorf("%s: %w", src.Name(), err)
	}
	lt := src.LinkType()
	r.sum.Sources = append(r.sum.Sources, SourceSummary{Name: src.Name(), LinkType: lt.String()})
	st := &r.sum.Sources[len(r.sum.Sources)-1]
	if u := unavailable(src.Name(), lt); u != nil {
		r.sum.Unavailable = append(r.sum.Unavailable, *u)
	}
	_, live := src.(stopper)
	var first time.Time
	for {
		if r.stop.Load() {
			stopped = *r.stopReason.Load()
			break
		}
		data, ci, rerr := src.ReadPacketData()
		if rerr == ErrTimeoutExpired {
			tr.Advance(ci.Timestamp)
			if r.writer != nil {
				if err = r.writer.flushIfDue(); err != nil {
					break
				}
			}
			continue
		}
		if rerr == io.EOF {
			// A pipe ends early when the context is done, perhaps before
			// Run's own AfterFunc has said why.
			if p := r.stopReason.Load(); p != nil {
				stopped = *p
			} else if r.ctx.Err() != nil {
				stopped = StoppedInterrupted
			}
			break
		}
		if rerr != nil {
			err = rerr
			break
		}
		if !live && r.cfg.Duration > 0 {
			if first.IsZero() {
				first = ci.Timestamp
			} else if ci.Timestamp.Sub(first) > r.cfg.Duration {
				stopped = StoppedDuration
				break
			}
		}
		st.Packets++
		if st.First.IsZero() {
			st.First = ci.Timestamp
		}
		st.Last = ci.Timestamp
		kept := r.cfg.Filter.match(lt, data)
		if kept == dropped {
			continue
		}
		st.Matched++
		if r.writer != nil {
			if werr := r.writer.write(data, ci); werr != nil {
				err = werr
				break
			}
		}
		tr.packet(data, ci, kept)
		r.matched++
		if r.cfg.Count > 0 && r.matched >= r.cfg.Count {
			stopped = StoppedCount
			break
		}
	}
	tr.Close()
	ts := tr.Stats()
	st.Undecodable = ts.Undecodable
	r.sum.Evicted += ts.Evicted
	if ts.OK > 0 {
		r.sum.Handshakes[HandshakeOK] += ts.OK
	}
	if kc, ok := src.(kernelCounter); ok {
		_, st.KernelDrops = kc.KernelStats()
	}
	return stopped, err
}

// found takes a finding from source i's tracker.
func (r *runner) found(i int, f Finding) {
	switch {
	case r.matcher == nil:
		r.emit(f)
	case f.Kind.IsHandshake():
		r.matcher.hold(i, f)
	default:
		r.matcher.holdOther(f)
	}
}

func (r *runner) emit(f Finding) {
	r.tally.add(&f)
	r.cfg.Emit(f)
}
