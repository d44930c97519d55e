// SPDX-License-Identifier: LGPL-3.0-only

package wire

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestWireJSONGolden fails when a field name, the order of the fields or a
// value's encoding changes on the wire: the shell plugin (plugin/power.c),
// flux power-query and doc/rpc.md read these names. testdata/
// query-response.json sets every field of a QueryResponse (the answer that
// internal/charge's TestAnswerGolden computes and compares with it); it must
// decode and encode again to the same bytes. A deliberate protocol change
// updates the file with it.
func TestWireJSONGolden(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("testdata", "query-response.json"))
	if err != nil {
		t.Fatal(err)
	}
	var resp QueryResponse
	if err := json.Unmarshal(want, &resp); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(&resp)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := json.Indent(&got, b, "", "  "); err != nil {
		t.Fatal(err)
	}
	got.WriteByte('\n')
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("the JSON of a power-monitor.query response changed:\n got %s\nwant %s", got.Bytes(), want)
	}
}
