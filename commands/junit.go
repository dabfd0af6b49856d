package commands

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/arpdoctor/arpdoctor/sysctl"
)

// JUnit XML, as Jenkins, GitLab and GitHub test reporters read it: one test
// case per result; FAIL is a failure (and WARN, with --strict), NOT
// VISIBLE is skipped, and other verdicts show their message as output.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut *junitText    `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",cdata"`
}

// junitText keeps its lines as they are, where character data would have
// its newlines escaped.
type junitText struct {
	Text string `xml:",cdata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

func writeJUnit(w io.Writer, rep *sysctl.Report, strict bool) error {
	suiteName := "arpdoctor sysctl check (" + string(rep.Mode) + ")"
	if rep.Profile != "" {
		suiteName = "arpdoctor sysctl check --profile " + rep.Profile + " (" + string(rep.Mode) + ")"
	}
	s := junitSuite{Name: suiteName}
	for _, r := range rep.Results {
		c := junitCase{Name: r.Rule + ": " + r.Key, Classname: "arpdoctor.sysctl." + r.Rule}
		detail := xmlText(fmt.Sprintf("%s = %s (%s)\n%s", r.Key, dash(r.Value), dash(r.Source), r.Message))
		switch {
		case r.Status == sysctl.StatusFail || strict && r.Status == sysctl.StatusWarn:
			c.Failure = &junitFailure{Message: r.Message, Type: string(r.Status), Text: detail}
			s.Failures++
		case r.Status == sysctl.StatusNotVisible:
			c.Skipped = &junitSkipped{Message: r.Message}
			s.Skipped++
		default:
			c.SystemOut = &junitText{Text: string(r.Status) + ": " + detail}
		}
		s.Cases = append(s.Cases, c)
	}
	s.Tests = len(s.Cases)
	for i := range s.Cases {
		if f := s.Cases[i].Failure; f != nil {
			f.Message = xmlText(f.Message)
		}
		if k := s.Cases[i].Skipped; k != nil {
			k.Message = xmlText(k.Message)
		}
	}
	doc := junitSuites{Name: "arpdoctor sysctl check", Tests: s.Tests, Failures: s.Failures, Skipped: s.Skipped, Suites: []junitSuite{s}}
	out, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s%s\n", xml.Header, out)
	return err
}

// xmlText replaces what XML 1.0 cannot hold (control characters a config
// value may carry, invalid UTF-8) with U+FFFD, so that the report parses.
func xmlText(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return r
		case r < 0x20, r == utf8.RuneError, r >= 0xFFFE && r <= 0xFFFF:
			return utf8.RuneError
		}
		return r
	}, s)
}
