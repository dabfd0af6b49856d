package neigh

import "golang.org/x/sys/unix"

// atClkTck is AT_CLKTCK, the auxiliary-vector entry that carries USER_HZ
// (what sysconf(_SC_CLK_TCK) returns).
const atClkTck = 17

// userHZ returns the unit of the kernel's clock_t values: NDA_CACHEINFO
// ages are in 1/USER_HZ seconds, which is 100 on every Linux architecture
// Go runs on, but the kernel says so in the auxiliary vector, so ask it.
func userHZ() int64 {
	if av, err := unix.Auxv(); err == nil {
		for _, kv := range av {
			if kv[0] == atClkTck && kv[1] > 0 {
				return int64(kv[1])
			}
		}
	}
	return 100
}
