package neigh

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ProcStats are a table's counters as /proc/net/stat/arp_cache (or
// ndisc_cache) shows them, summed over CPUs. They include
// unresolved_discards, which netlink does not report: packets dropped
// because their neighbor never resolved.
type ProcStats map[string]uint64

// ReadProcStats reads the counters of a table ("arp_cache",
// "ndisc_cache") under root ("/" for this machine). The files exist only
// in the initial network namespace; elsewhere the error satisfies
// errors.Is(err, fs.ErrNotExist).
func ReadProcStats(root, table string) (ProcStats, error) {
	path := filepath.Join(root, "proc/net/stat", table)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s, err := parseProcStats(f)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return s, nil
}

// parseProcStats reads the header of column names and one row of hex
// counters per CPU. "entries" is the table's size, the same on every row;
// every other column is summed.
func parseProcStats(r io.Reader) (ProcStats, error) {
	sc := bufio.NewScanner(r)
	if !sc.Scan() {
		return nil, fmt.Errorf("no header")
	}
	names := strings.Fields(sc.Text())
	stats := ProcStats{}
	rows := 0
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if len(fields) != len(names) {
			return nil, fmt.Errorf("row %d has %d columns, the header %d", rows+1, len(fields), len(names))
		}
		for i, v := range fields {
			n, err := strconv.ParseUint(v, 16, 64)
			if err != nil {
				return nil, fmt.Errorf("row %d, %s: %w", rows+1, names[i], err)
			}
			if names[i] == "entries" {
				stats[names[i]] = n
			} else {
				stats[names[i]] += n
			}
		}
		rows++
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if rows == 0 {
		return nil, fmt.Errorf("no rows")
	}
	return stats, nil
}
