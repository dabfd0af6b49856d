package commands

import (
	"encoding/json"
	"testing"
)

// doctorReport is doctor's JSON as a reader decodes it.
type doctorReport struct {
	OK         bool `json:"ok"`
	Complete   bool `json:"complete"`
	Incomplete []struct {
		Check string `json:"check"`
		Why   string `json:"why"`
		Run   string `json:"run"`
	} `json:"incomplete"`
	Checks    []doctorCheck `json:"checks"`
	Diagnosis *struct {
		Certainty string   `json:"certainty"`
		Summary   string   `json:"summary"`
		Next      []string `json:"next"`
	} `json:"diagnosis"`
}

type doctorCheck struct {
	Name     string          `json:"name"`
	Verdict  string          `json:"verdict"`
	Summary  string          `json:"summary"`
	Evidence []string        `json:"evidence"`
	Next     []string        `json:"next"`
	Data     json.RawMessage `json:"data"`
}

func decodeDoctor(t *testing.T, out string) doctorReport {
	t.Helper()
	var rep doctorReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return rep
}
