package neigh

import (
	"context"
	"errors"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// slowResolver answers some addresses and hangs on the others until the
// lookup's context ends, as a dead DNS server does.
type slowResolver struct {
	names   map[string]string
	lookups atomic.Int32
}

func (r *slowResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	r.lookups.Add(1)
	if n, ok := r.names[addr]; ok {
		return []string{n}, nil
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestResolveNamesIsBounded(t *testing.T) {
	var es []Entry
	for i := range 40 {
		es = append(es, Entry{IP: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})})
	}
	es = append(es, Entry{IP: netip.MustParseAddr("192.0.2.1"), Interface: "eth1"}) // same IP, other interface
	r := &slowResolver{names: map[string]string{"192.0.2.1": "gw.example.", "192.0.2.2": "db.example."}}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	done := make(chan struct{})
	go func() { ResolveNames(ctx, r, es); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("ResolveNames did not return after its context ended")
	}
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("returned before the deadline although lookups hang")
	}
	if es[1].Name != "gw.example" || es[2].Name != "db.example" || es[40].Name != "gw.example" || es[3].Name != "" {
		t.Errorf("names: %q %q %q %q", es[1].Name, es[2].Name, es[40].Name, es[3].Name)
	}
	if n := r.lookups.Load(); n > 40 {
		t.Errorf("%d lookups for 40 distinct addresses", n)
	}
}
