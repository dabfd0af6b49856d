package commands

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"strings"

	"github.com/fatih/color"
	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
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

// table is rows of text under a header. On a terminal it renders aligned
// with its header; elsewhere as tab-separated lines without a header, for
// cut and awk -F'\t' (scripts should prefer -o json).
type table struct {
	header []string
	rows   [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) render(w io.Writer, tty bool) error {
	if !tty {
		bw := bufio.NewWriterSize(w, 64<<10)
		for _, r := range t.rows {
			bw.WriteString(strings.Join(r, "\t"))
			bw.WriteByte('\n')
		}
		return bw.Flush()
	}
	var buf bytes.Buffer
	cell := tw.CellConfig{
		Alignment:  tw.CellAlignment{Global: tw.AlignLeft},
		Formatting: tw.CellFormatting{AutoFormat: tw.Off},
		Padding:    tw.CellPadding{Global: tw.Padding{Right: "  ", Overwrite: true}},
	}
	tbl := tablewriter.NewTable(&buf,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders:  tw.BorderNone,
			Symbols:  tw.NewSymbols(tw.StyleNone),
			Settings: tw.Settings{Separators: tw.SeparatorsNone, Lines: tw.LinesNone},
		})),
		tablewriter.WithConfig(tablewriter.Config{Header: cell, Row: cell}),
	)
	tbl.Header(t.header)
	if err := tbl.Bulk(t.rows); err != nil {
		return err
	}
	if err := tbl.Render(); err != nil {
		return err
	}
	// Padding leaves trailing blanks on every line; drop them.
	for line := range strings.Lines(buf.String()) {
		if _, err := io.WriteString(w, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return err
		}
	}
	return nil
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
