package neigh

import (
	"context"
	"strings"
	"sync"
)

// Resolver looks up the names of an address; *net.Resolver is one.
type Resolver interface {
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// resolveWorkers bounds the reverse lookups in flight.
const resolveWorkers = 16

// ResolveNames fills each entry's Name with the first reverse-DNS name of
// its IP, looking up each distinct IP once, concurrently. It returns when
// every lookup is done or ctx ends, whichever comes first: entries whose
// lookup did not finish keep an empty Name. This is what keeps a slow or
// dead DNS server from hanging the listing, as it hangs `arp -a`.
func ResolveNames(ctx context.Context, r Resolver, entries []Entry) {
	byIP := map[string][]int{}
	var ips []string
	for i := range entries {
		ip := entries[i].IP.String()
		if _, seen := byIP[ip]; !seen {
			ips = append(ips, ip)
		}
		byIP[ip] = append(byIP[ip], i)
	}
	var (
		mu    sync.Mutex
		names = map[string]string{}
		jobs  = make(chan string)
		wg    sync.WaitGroup
	)
	for range min(resolveWorkers, len(ips)) {
		wg.Go(func() {
			for ip := range jobs {
				hosts, err := r.LookupAddr(ctx, ip)
				if err != nil || len(hosts) == 0 {
					continue
				}
				mu.Lock()
				names[ip] = strings.TrimSuffix(hosts[0], ".")
				mu.Unlock()
			}
		})
	}
	done := make(chan struct{})
	go func() {
		defer close(jobs)
		for _, ip := range ips {
			select {
			case jobs <- ip:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	mu.Lock()
	defer mu.Unlock()
	for ip, name := range names {
		for _, i := range byIP[ip] {
			entries[i].Name = name
		}
	}
}
