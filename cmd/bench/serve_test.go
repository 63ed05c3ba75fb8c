package main

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestBenchServe runs the serving measurement on the tiny synthetic model
// on the CPU and checks that every test reports tokens.
func TestBenchServe(t *testing.T) {
	var out, errb bytes.Buffer
	args := []string{"--synthetic", "tiny", "--cache", t.TempDir(), "-n", "8", "--serve-streams", "1,3",
		"--serve-prompt", "100", "-r", "1", "--backend", "cpu", "-o", "json"}
	if err := run(args, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	var res []ServeResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	if len(res) != 3 || res[0].Test != "streams1 tg8" || res[1].Streams != 3 || res[2].Test != "ttft pp100" {
		t.Fatalf("results %+v", res)
	}
	for _, r := range res {
		if !(r.TTFTms > 0) || (r.Streams > 0 && r.Test != "ttft pp100" && !(r.Aggregate > 0)) {
			t.Errorf("bad result %+v", r)
		}
	}
}
