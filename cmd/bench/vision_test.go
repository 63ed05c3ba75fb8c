package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gemmavk/internal/vktest"
	"gemmavk/kernels/quant"
	"gemmavk/siglip"
)

// TestBenchVisionTiny times the tiny synthetic vision model on the CPU and
// on Vulkan, two repetitions each, and parses the JSON.
func TestBenchVisionTiny(t *testing.T) {
	vktest.Device(t)
	var out, errb bytes.Buffer
	args := []string{"--vision", "--synthetic", "tiny", "-r", "2", "--backend", "cpu,vulkan", "-o", "json"}
	if err := run(args, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	var res []VisionResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	if len(res) != 2 || res[0].Backend != "cpu" || res[1].Backend != "vulkan" {
		t.Fatalf("results %+v, want cpu then vulkan", res)
	}
	for _, r := range res {
		if !(r.Median > 0) || len(r.Runs) != 2 || r.Min > r.Median || r.Median > r.Max || !(r.TFLOPS > 0) ||
			r.Image != 64 || r.Model != "siglip tiny F16 (synthetic)" {
			t.Errorf("bad result %+v", r)
		}
	}
}

// TestBenchVisionFile times a model file (-m) on the CPU, with the
// markdown table, and checks the flag errors of the vision mode.
func TestBenchVisionFile(t *testing.T) {
	cfg, err := siglip.SyntheticConfig("tiny")
	if err != nil {
		t.Fatal(err)
	}
	m, err := siglip.Synthetic(cfg, quant.F32, 3)
	if err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	if err := siglip.WriteMMProj(&file, m.Config, m.Weights, quant.F16); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "mmproj-tiny.gguf")
	if err := os.WriteFile(path, file.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if err := run([]string{"--vision", "-m", path, "-r", "1", "--backend", "cpu"}, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[2], "| mmproj-tiny.gguf | cpu | CPU | 64 | ") {
		t.Errorf("table:\n%s", out.String())
	}
	for _, args := range [][]string{
		{"--vision", "--synthetic", "huge"},
		{"--vision", "--synthetic", "tiny", "--quant", "q4_k_m"},
		{"--vision", "-m", filepath.Join(t.TempDir(), "absent.gguf")},
	} {
		if err := run(append(args, "--backend", "cpu", "-r", "1"), &out, &errb); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
