package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gemmavk/gpu"
	"gemmavk/internal/testutil"
	"gemmavk/internal/vktest"
	"gemmavk/safetensors"
)

const tinyDir = "../../gemma3/testdata/text-tiny"

func runArgs(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), err
}

// TestLogitsMode checks --ids/--logits against the transformers logits of
// the tiny fixture model.
func TestLogitsMode(t *testing.T) {
	g, err := safetensors.Open(filepath.Join(tinyDir, "golden.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ids := testutil.Ints(t, g, "input_ids")
	var sb strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&sb, " %d", id)
	}
	out := filepath.Join(t.TempDir(), "logits.safetensors")
	if _, stderr, err := runArgs(t, "", "-m", tinyDir, "--ids", sb.String(), "--logits", out, "--chunk", "7"); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	f, err := safetensors.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ti, ok := f.Tensor("logits")
	if !ok || ti.DType != "F32" || len(ti.Shape) != 2 || ti.Shape[0] != len(ids) || ti.Shape[1] != 1024 {
		t.Fatalf("logits tensor %+v", ti)
	}
	testutil.CheckClose(t, "logits", testutil.Floats(t, f, "logits"), testutil.Floats(t, g, "logits"), 1e-4)
}

func TestTokenizeMode(t *testing.T) {
	tok := testutil.AssetPath(t, "tokenizer/tokenizer.json")
	out, stderr, err := runArgs(t, "Hi<end_of_turn>", "--tokenizer", tok, "--tokenize")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var ids []int
	if err := json.Unmarshal([]byte(out), &ids); err != nil {
		t.Fatalf("output %q is not a JSON array: %v", out, err)
	}
	// GEMMA3.md §8.4: "Hi" is 10979; <end_of_turn> is one special id.
	if len(ids) != 2 || ids[0] != 10979 || ids[1] != 106 {
		t.Fatalf("ids %v, want [10979 106]", ids)
	}
}

func TestBadInvocations(t *testing.T) {
	junk := filepath.Join(t.TempDir(), "junk.gguf")
	if err := os.WriteFile(junk, []byte("this is not a model file at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no model", []string{"-p", "hi"}, "no model"},
		{"missing file", []string{"-m", "/nonexistent/model.gguf", "-p", "hi"}, "no such file"},
		{"not gguf", []string{"-m", junk, "-p", "hi"}, "gguf"},
		{"ids without logits", []string{"-m", tinyDir, "--ids", "2 3"}, "--ids and --logits"},
		{"bad id", []string{"-m", tinyDir, "--ids", "2 x", "--logits", "/dev/null"}, "not a token id"},
		{"id out of range", []string{"-m", tinyDir, "--ids", "2 99999", "--logits", filepath.Join(t.TempDir(), "o")}, "outside the vocabulary"},
		{"bad backend", []string{"-m", tinyDir, "--backend", "metal", "-p", "x"}, "backend"},
		{"bad top-p", []string{"-m", tinyDir, "--top-p", "-1", "-p", "x"}, "top"},
		{"no tokenizer", []string{"-m", tinyDir, "-p", "hello"}, "tokenizer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := runArgs(t, "", tc.args...)
			if err == nil {
				t.Fatalf("accepted %v", tc.args)
			}
			if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tc.want)) {
				t.Fatalf("error %q does not mention %q (stderr %s)", err, tc.want, stderr)
			}
		})
	}
}

// realModelPath is the fetched 270M GGUF.
func realModelPath(t *testing.T) string {
	return testutil.AssetPath(t, "models/gemma-3-270m-q4_k_m.gguf")
}

// TestChatTurns drives the interactive chat through stdin: two turns, a
// /reset, and end of input.
func TestChatTurns(t *testing.T) {
	model := realModelPath(t)
	out, stderr, err := runArgs(t, "What is 2+2?\nAnd 3+3?\n/reset\nHello\n", "-m", model, "-n", "6", "--ctx", "256")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if n := strings.Count(out, "> "); n != 5 {
		t.Errorf("%d prompts shown, want 5 (3 messages, /reset, end):\n%s", n, out)
	}
	if !strings.Contains(stderr, "conversation cleared") {
		t.Errorf("no /reset acknowledgement in %q", stderr)
	}
	if len(strings.TrimSpace(strings.ReplaceAll(out, ">", ""))) == 0 {
		t.Errorf("no answers in %q", out)
	}
}

// TestPromptStats checks -p streams text and ends with the rate line.
func TestPromptStats(t *testing.T) {
	model := realModelPath(t)
	out, stderr, err := runArgs(t, "", "-m", model, "--raw", "-p", "The capital of France is", "-n", "8")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if len(strings.TrimSpace(out)) == 0 {
		t.Fatal("no text generated")
	}
	if !strings.Contains(stderr, "t/s") || !strings.Contains(stderr, "generation: 8 tokens") {
		t.Fatalf("stats line missing or wrong: %q", stderr)
	}
}

// TestCPUFallbackLine: without a usable Vulkan driver, generation runs on
// the CPU and says so in exactly one line.
func TestCPUFallbackLine(t *testing.T) {
	t.Setenv("VK_DRIVER_FILES", filepath.Join(t.TempDir(), "no-such-icd.json"))
	t.Setenv("VK_ICD_FILENAMES", filepath.Join(t.TempDir(), "no-such-icd.json"))
	_, stderr, err := runArgs(t, "", "-m", realModelPath(t), "--raw", "-p", "a b", "-n", "1")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var lines []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, "CPU executor") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "no Vulkan device") {
		t.Errorf("stderr has %d fallback lines, want one naming the missing device:\n%s", len(lines), stderr)
	}
}

func TestListDevices(t *testing.T) {
	vktest.Device(t)
	out, stderr, err := runArgs(t, "", "--list-devices")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.HasPrefix(out, "* 0: ") || !strings.Contains(out, "Vulkan 1.") {
		t.Errorf("--list-devices printed %q", out)
	}
}

func TestMain(m *testing.M) { vktest.Main(m) }

// TestVulkanBackend generates on the Vulkan executor and says where it
// runs in one line; --backend vulkan without a device is an error.
func TestVulkanBackend(t *testing.T) {
	vktest.Device(t)
	out, stderr, err := runArgs(t, "", "-m", realModelPath(t), "--backend", "vulkan", "--raw",
		"-p", "The capital of France is", "-n", "4", "--ctx", "64")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "run: Vulkan: ") || !strings.Contains(stderr, "KV cache") {
		t.Errorf("no device line on stderr:\n%s", stderr)
	}
	if !strings.HasPrefix(out, " the capital") {
		t.Errorf("greedy continuation %q, want the CPU's \" the capital…\"", out)
	}
	t.Setenv("VK_DRIVER_FILES", filepath.Join(t.TempDir(), "no-such-icd.json"))
	t.Setenv("VK_ICD_FILENAMES", filepath.Join(t.TempDir(), "no-such-icd.json"))
	if _, _, err := runArgs(t, "", "-m", realModelPath(t), "--backend", "vulkan", "-p", "x", "-n", "1"); err == nil ||
		!strings.Contains(err.Error(), "no Vulkan device") {
		t.Errorf("--backend vulkan without a driver: err = %v", err)
	}
}

// TestAutoSkipsSoftwareDevice: with only lavapipe, --backend auto runs on
// the CPU executor and says why in one line.
func TestAutoSkipsSoftwareDevice(t *testing.T) {
	d := vktest.Device(t)
	if d.Info.Type != gpu.TypeCPU {
		t.Skipf("%s is a GPU: auto uses it", d.Info.Name)
	}
	_, stderr, err := runArgs(t, "", "-m", realModelPath(t), "--raw", "-p", "a b", "-n", "1")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "a software one; using the CPU executor") || !strings.Contains(stderr, "run: CPU |") {
		t.Errorf("stderr:\n%s", stderr)
	}
}
