package wire

import (
	"encoding/json"
	"testing"
)

func TestJobIDAcceptsNumberOrString(t *testing.T) {
	for in, want := range map[string]JobID{
		`{"jobid": 1234}`:       "1234",
		`{"jobid": "ƒ2Xyz"}`:    "ƒ2Xyz",
		`{"jobid": "0x4d2"}`:    "0x4d2",
		`{"ranks": "0-3"}`:      "",
		`{"jobid": "f3s9Rz3G"}`: "f3s9Rz3G",
	} {
		var r QueryRequest
		if err := json.Unmarshal([]byte(in), &r); err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if r.JobID != want {
			t.Errorf("%s: jobid %q, want %q", in, r.JobID, want)
		}
	}
	for _, in := range []string{`{"jobid": -1}`, `{"jobid": 1.5}`, `{"jobid": true}`, `{"jobid": [1]}`} {
		var r QueryRequest
		if err := json.Unmarshal([]byte(in), &r); err == nil {
			t.Errorf("%s: accepted as %q", in, r.JobID)
		}
	}
}
