package neigh

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends the entry as a JSON object, the same object
// encoding/json writes for it from the struct tags (a test holds the two
// together), several times faster: listing a table of tens of thousands
// of entries is dominated by this.
func (e *Entry) AppendJSON(b []byte) []byte {
	b = append(b, `{"ip":"`...)
	b = e.IP.AppendTo(b)
	b = append(b, `","family":`...)
	b = appendJSONString(b, string(e.Family))
	b = append(b, `,"mac":`...)
	b = appendJSONString(b, e.MAC)
	b = append(b, `,"interface":`...)
	b = appendJSONString(b, e.Interface)
	b = append(b, `,"ifindex":`...)
	b = strconv.AppendInt(b, int64(e.IfIndex), 10)
	b = append(b, `,"state":"`...)
	b = append(b, e.State.String()...)
	b = append(b, `","flags":`...)
	b = e.Flags.appendJSON(b)
	b = append(b, `,"probes":`...)
	b = strconv.AppendUint(b, uint64(e.Probes), 10)
	b = append(b, `,"confirmed_ago_s":`...)
	b = e.ConfirmedAgo.appendJSON(b)
	b = append(b, `,"used_ago_s":`...)
	b = e.UsedAgo.appendJSON(b)
	b = append(b, `,"updated_ago_s":`...)
	b = e.UpdatedAgo.appendJSON(b)
	if e.Name != "" {
		b = append(b, `,"name":`...)
		b = appendJSONString(b, e.Name)
	}
	return append(b, '}')
}

// MarshalJSON writes the flags as an array of names, [] when none is set.
func (f Flags) MarshalJSON() ([]byte, error) { return f.appendJSON(nil), nil }

func (f Flags) appendJSON(b []byte) []byte {
	if f == 0 {
		return append(b, "[]"...)
	}
	b = append(b, '[')
	for i, n := range f.Names() {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, n)
	}
	return append(b, ']')
}

// MarshalJSON writes the age in seconds, to the centisecond the kernel
// reports.
func (a Age) MarshalJSON() ([]byte, error) { return a.appendJSON(nil), nil }

func (a Age) appendJSON(b []byte) []byte {
	cs := time.Duration(a).Round(10*time.Millisecond) / (10 * time.Millisecond)
	if cs < 0 {
		b = append(b, '-')
		cs = -cs
	}
	b = strconv.AppendInt(b, int64(cs/100), 10)
	switch frac := cs % 100; {
	case frac == 0:
	case frac%10 == 0:
		b = append(b, '.', byte('0'+frac/10))
	default:
		b = append(b, '.', byte('0'+frac/10), byte('0'+frac%10))
	}
	return b
}

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, invalid UTF-8 replaced, as encoding/json does
// (without its HTML escaping).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// AppendJSON appends the event as one JSON object with the keys time,
// event, ip, interface, mac, old_mac, state and old_state (empty strings
// where they do not apply), and message for a resync.
func (ev *Event) AppendJSON(b []byte) []byte {
	b = append(b, `{"time":"`...)
	b = ev.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","event":`...)
	b = appendJSONString(b, string(ev.Kind))
	e := &ev.Entry
	b = append(b, `,"ip":"`...)
	if e.IP.IsValid() {
		b = e.IP.AppendTo(b)
	}
	b = append(b, `","interface":`...)
	b = appendJSONString(b, e.Interface)
	b = append(b, `,"mac":`...)
	b = appendJSONString(b, e.MAC)
	b = append(b, `,"old_mac":`...)
	b = appendJSONString(b, ev.OldMAC)
	b = append(b, `,"state":"`...)
	if ev.Kind != EventResync {
		b = append(b, e.State.String()...)
	}
	b = append(b, `","old_state":"`...)
	if ev.HasOld {
		b = append(b, ev.OldState.String()...)
	}
	b = append(b, '"')
	if ev.Message != "" {
		b = append(b, `,"message":`...)
		b = appendJSONString(b, ev.Message)
	}
	return append(b, '}')
}

// MarshalJSON writes the event as AppendJSON does.
func (ev Event) MarshalJSON() ([]byte, error) { return ev.AppendJSON(nil), nil }

// UnmarshalJSON reads an array of flag names, as MarshalJSON writes it.
func (f *Flags) UnmarshalJSON(b []byte) error {
	var names []string
	if err := json.Unmarshal(b, &names); err != nil {
		return err
	}
	*f = 0
	for _, name := range names {
		found := false
		for _, n := range flagNames {
			if n.name == name {
				*f |= n.f
				found = true
			}
		}
		if !found {
			return fmt.Errorf("unknown neighbor flag %q", name)
		}
	}
	return nil
}

// UnmarshalJSON reads seconds, as MarshalJSON writes them.
func (a *Age) UnmarshalJSON(b []byte) error {
	var s float64
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*a = Age(time.Duration(math.Round(s*100)) * 10 * time.Millisecond)
	return nil
}
