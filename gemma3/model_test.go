package gemma3

import (
	"fmt"
	"path/filepath"
	"testing"

	"gemmavk/internal/testutil"
	"gemmavk/kernels/quant"
	"gemmavk/safetensors"
)

// golden holds the transformers outputs for testdata/text-tiny.
type golden struct {
	inputIDs, generated []int
	logits              []float32 // [20, vocab]
	hidden              []float32 // [L+2, 20, H]
	stepLogits          []float32 // [16, vocab]
}

func loadGolden(t *testing.T) *golden {
	t.Helper()
	f, err := safetensors.Open(filepath.Join("testdata", "text-tiny", "golden.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return &golden{
		inputIDs:   testutil.Ints(t, f, "input_ids"),
		generated:  testutil.Ints(t, f, "generated_ids"),
		logits:     testutil.Floats(t, f, "logits"),
		hidden:     testutil.Floats(t, f, "hidden_states"),
		stepLogits: testutil.Floats(t, f, "step_logits"),
	}
}

func loadTiny(t *testing.T) *Model {
	t.Helper()
	m, err := Load(filepath.Join("testdata", "text-tiny"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// checkClose compares with the fixtures' measure (testutil.RelErr).
var checkClose = testutil.CheckClose

// f32Tol is the CPU executor's bound against transformers in f32: both sides
// round differently (f64 sums here), nothing else.
const f32Tol = 1e-4

func TestTinyPrompt(t *testing.T) {
	m, g := loadTiny(t), loadGolden(t)
	s, err := m.NewSession(Options{Ctx: 64})
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(g.inputIDs, StepOptions{AllLogits: true, Hidden: true})
	if err != nil {
		t.Fatal(err)
	}
	checkClose(t, "logits", out.Logits, g.logits, f32Tol)
	T, H := len(g.inputIDs), m.Config.Hidden
	if len(out.Hidden) != m.Config.Layers+2 {
		t.Fatalf("%d hidden states, want %d", len(out.Hidden), m.Config.Layers+2)
	}
	// transformers' hidden_states are the embeddings, the outputs of
	// layers 0..L-2, then the final norm of the last layer's output.
	L := m.Config.Layers
	for i := 0; i <= L; i++ {
		got := out.Hidden[i]
		if i == L {
			got = out.Hidden[L+1]
		}
		checkClose(t, fmt.Sprintf("hidden[%d]", i), got, g.hidden[i*T*H:(i+1)*T*H], f32Tol)
	}
}

// decodeSteps feeds the greedy continuation one token at a time after a
// prompt processed in chunks, checking every step's logits against the
// golden ones (the cache runs past the sliding window of 6).
func decodeSteps(t *testing.T, m *Model, g *golden, chunk int, tol float64) {
	t.Helper()
	decodeStepsWith(t, m, g, Options{Ctx: 64, Chunk: chunk}, tol)
}

// decodeStepsWith is decodeSteps with session options (a device, say).
func decodeStepsWith(t *testing.T, m *Model, g *golden, opt Options, tol float64) {
	t.Helper()
	vocab := m.Config.Vocab
	s, err := m.NewSession(opt)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	prompt := len(g.inputIDs)
	all, err := s.FeedAll(g.inputIDs)
	if err != nil {
		t.Fatal(err)
	}
	checkClose(t, "prompt logits", all, g.logits, tol)
	logits := all[(prompt-1)*vocab:]
	steps := len(g.stepLogits) / vocab
	for i := 0; i < steps; i++ {
		checkClose(t, fmt.Sprintf("step %d", i), logits, g.stepLogits[i*vocab:(i+1)*vocab], tol)
		if got, want := argmax(logits), g.generated[prompt+i]; got != want {
			t.Fatalf("step %d: greedy token %d, want %d", i, got, want)
		}
		if logits, err = s.Feed([]int{g.generated[prompt+i]}); err != nil {
			t.Fatal(err)
		}
	}
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

func TestTinyDecode(t *testing.T) {
	m, g := loadTiny(t), loadGolden(t)
	for _, chunk := range []int{1, 3, 5, 6, 7, 20} {
		t.Run(fmt.Sprintf("chunk=%d", chunk), func(t *testing.T) { decodeSteps(t, m, g, chunk, f32Tol) })
	}
}

// TestTinyGGUF writes the fixture model with the project's GGUF writer and
// checks the reloaded file reproduces the transformers logits.
func TestTinyGGUF(t *testing.T) {
	m, g := loadTiny(t), loadGolden(t)
	for _, tc := range []struct {
		typ quant.Type
		// Q8_0 stores each weight to 1/254 of its block's range; over seven
		// layers that moves the logits by about 1% of their peak.
		tol float64
	}{
		{quant.F32, f32Tol},
		{quant.Q8_0, 0.02},
	} {
		t.Run(tc.typ.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tiny.gguf")
			if err := m.WriteGGUF(path, tc.typ); err != nil {
				t.Fatal(err)
			}
			r, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.Weights.Layers[0].QProj.Type != tc.typ {
				t.Fatalf("q_proj stored as %s, want %s", r.Weights.Layers[0].QProj.Type, tc.typ)
			}
			decodeSteps(t, r, g, 8, tc.tol)
		})
	}
}
