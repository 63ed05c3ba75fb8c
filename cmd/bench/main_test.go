package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"gemmavk/internal/vktest"
)

func TestMain(m *testing.M) { vktest.Main(m) }

// TestBenchTiny runs a tiny synthetic model on the CPU and on Vulkan, one
// repetition each, and parses the JSON.
func TestBenchTiny(t *testing.T) {
	vktest.Device(t)
	var out, errb bytes.Buffer
	args := []string{"--synthetic", "tiny", "--cache", t.TempDir(), "-p", "32", "-n", "8", "-d", "0,16",
		"-r", "1", "--backend", "cpu,vulkan", "-o", "json"}
	if err := run(args, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	var res []Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	seen := map[string]bool{}
	for _, r := range res {
		if !(r.Median > 0) || len(r.Runs) != 1 || r.Min > r.Median || r.Median > r.Max {
			t.Errorf("bad result %+v", r)
		}
		seen[r.Backend+"/"+r.Test+"/"+string(rune('0'+r.Depth/16))] = true
	}
	for _, want := range []string{"cpu/pp32/0", "cpu/tg8/1", "vulkan/pp32/1", "vulkan/tg8/0"} {
		if !seen[want] {
			t.Errorf("no result %s in %v", want, seen)
		}
	}
	if len(res) != 8 {
		t.Errorf("%d results, want 2 backends x 2 tests x 2 depths", len(res))
	}
	if !strings.Contains(errb.String(), "writing synthetic tiny") {
		t.Errorf("no progress on stderr: %q", errb.String())
	}
}

func TestBenchMarkdownAndErrors(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run([]string{"--synthetic", "tiny", "--cache", t.TempDir(), "-p", "", "-n", "4", "-r", "1", "--backend", "cpu"}, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[2], "| tiny q4_k_m (synthetic) | cpu | CPU | tg4 |") {
		t.Errorf("table:\n%s", out.String())
	}
	for _, args := range [][]string{
		{"-n", "4"},
		{"--synthetic", "huge"},
		{"--synthetic", "tiny", "--quant", "q3"},
		{"--synthetic", "tiny", "-n", "x"},
		{"--synthetic", "tiny", "-p", "", "-n", ""},
		{"--synthetic", "tiny", "--backend", "metal"},
		{"--synthetic", "tiny", "-o", "xml"},
	} {
		if err := run(append(args, "--cache", t.TempDir()), &out, &errb); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

func TestBenchProfile(t *testing.T) {
	vktest.Device(t)
	var out, errb bytes.Buffer
	args := []string{"--synthetic", "tiny", "--cache", t.TempDir(), "-p", "", "-n", "4", "-r", "1", "--backend", "vulkan", "--profile"}
	if err := run(args, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	for _, want := range []string{"| kernel | calls | µs | share | weights GB/s |", "| matvec_", "| attention_"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("profile lacks %q:\n%s", want, errb.String())
		}
	}
}
