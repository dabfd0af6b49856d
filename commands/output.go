package commands

import (
	"bufio"
	"encoding/json"
	"io"
	"strings"

	"github.com/arpdoctor/arpdoctor/internal/words"
	"github.com/fatih/color"
	"github.com/mattn/go-runewidth"
)

// writeJSON writes v as one JSON document and a newline.
func writeJSON(w io.Writer, v any) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	return bw.Flush()
}

// palette colors text when color is on, and leaves it alone otherwise.
type palette struct{ on bool }

func (p palette) paint(s string, attrs ...color.Attribute) string {
	if !p.on || s == "" {
		return s
	}
	c := color.New(attrs...)
	c.EnableColor()
	return c.Sprint(s)
}

func (p palette) red(s string) string    { return p.paint(s, color.FgRed) }
func (p palette) yellow(s string) string { return p.paint(s, color.FgYellow) }
func (p palette) green(s string) string  { return p.paint(s, color.FgGreen) }
func (p palette) bold(s string) string   { return p.paint(s, color.Bold) }
func (p palette) faint(s string) string  { return p.paint(s, color.Faint) }

// table is rows of text under a header, the one way every command prints
// a table: the same columns, aligned with blanks, under the same header,
// on a terminal and in a pipe (as ip and arp do), so that awk '{print $1}'
// and column -t keep working. Colors come only from paint, after a cell is
// padded, and only when the palette is on.
type table struct {
	header []string
	rows   [][]string
	// paint decorates a data cell (row from 0) after padding; nil for
	// none.
	paint func(row, col int, cell string) string
}

// placeholder stands for a missing value in every table, so that splitting
// a line on blanks keeps its columns.
const placeholder = "-"

// add adds a row. Each cell is escaped (interface names, DNS names and
// config values come from outside and may hold control characters), and an
// empty one becomes the placeholder.
func (t *table) add(cells ...string) {
	row := make([]string, len(cells))
	for i, c := range cells {
		if c == "" {
			c = placeholder
		}
		row[i] = escape(c)
	}
	t.rows = append(t.rows, row)
}

// tableStyle says how a table is printed.
type tableStyle struct {
	// noHeaders leaves the header out (--no-headers, for scripts).
	noHeaders bool
	p         palette
	// width is the terminal's: the last column wraps at blanks to fit
	// it, continued under itself. 0 (a pipe) never wraps.
	width int
}

func (t *table) render(w io.Writer, st tableStyle) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	widths := make([]int, len(t.header))
	measure := func(r []string) {
		for i, c := range r {
			if i < len(widths) {
				widths[i] = max(widths[i], runewidth.StringWidth(c))
			}
		}
	}
	if !st.noHeaders {
		measure(t.header)
	}
	for _, r := range t.rows {
		measure(r)
	}
	line := func(row int, r []string) {
		col := 0
		for i, c := range r {
			last := i == len(r)-1
			cell := c
			if !last {
				cell += strings.Repeat(" ", widths[i]-runewidth.StringWidth(c))
				col += widths[i] + 2
			} else if st.width > 0 {
				cell = wrap(cell, st.width-col, 0)
				cell = strings.ReplaceAll(cell, "\n", "\n"+strings.Repeat(" ", col))
			}
			switch {
			case row < 0:
				cell = paintWord(cell, st.p.bold)
			case t.paint != nil && st.p.on:
				cell = t.paint(row, i, cell)
			}
			bw.WriteString(cell)
			if !last {
				bw.WriteString("  ")
			}
		}
		bw.WriteByte('\n')
	}
	if !st.noHeaders {
		line(-1, t.header)
	}
	for i, r := range t.rows {
		line(i, r)
	}
	return bw.Flush()
}

// paintWord colors the word of a padded cell, leaving the padding plain.
func paintWord(cell string, color func(string) string) string {
	word := strings.TrimRight(cell, " ")
	return color(word) + cell[len(word):]
}

// escape makes text from outside safe to print on a terminal: see
// words.Escape.
func escape(s string) string { return words.Escape(s) }

// wrap breaks a line at blanks to fit width cells, the continuation
// indented by indent blanks; width 0 (not a terminal) leaves it whole.
func wrap(line string, width, indent int) string {
	if width <= 0 || runewidth.StringWidth(line) <= width || width <= indent+10 {
		return line
	}
	var b strings.Builder
	col := 0
	for i, word := range strings.Split(line, " ") {
		ww := runewidth.StringWidth(word)
		switch {
		case i == 0:
		case col+1+ww > width && col > indent:
			b.WriteString("\n" + strings.Repeat(" ", indent))
			col = indent
			if word == "" {
				continue
			}
		default:
			b.WriteByte(' ')
			col++
		}
		b.WriteString(word)
		col += ww
	}
	return b.String()
}

// jsonAppender is a value that writes its own JSON, faster than
// encoding/json does it.
type jsonAppender interface {
	AppendJSON([]byte) []byte
}

// writeJSONArray writes a slice as one JSON array and a newline, streaming
// each element's own encoding.
func writeJSONArray[T any, P interface {
	*T
	jsonAppender
}](w io.Writer, items []T) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	buf := make([]byte, 0, 512)
	bw.WriteByte('[')
	for i := range items {
		buf = buf[:0]
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = P(&items[i]).AppendJSON(buf)
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	bw.WriteString("]\n")
	return bw.Flush()
}

// namedValue is a string flag whose value's name shows in help
// ("--netns NAME|PATH"), without the backquotes pflag reads it from: those
// would show raw in the descriptions that shell completion prints.
type namedValue struct {
	p    *string
	name string
}

func (v namedValue) String() string     { return *v.p }
func (v namedValue) Set(s string) error { *v.p = s; return nil }
func (v namedValue) Type() string       { return v.name }

// namedList is namedValue for a repeatable flag.
type namedList struct {
	p    *[]string
	name string
	set  bool
}

func (v *namedList) String() string { return strings.Join(*v.p, ",") }
func (v *namedList) Set(s string) error {
	if !v.set {
		*v.p, v.set = nil, true // the first use replaces the default
	}
	*v.p = append(*v.p, s)
	return nil
}
func (v *namedList) Type() string { return v.name }
