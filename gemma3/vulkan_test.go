package gemma3

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"gemmavk/gpu"
	"gemmavk/graph"
	"gemmavk/internal/vktest"
)

func TestMain(m *testing.M) { vktest.Main(m) }

// vkTol bounds the Vulkan executor against transformers: the KV cache
// holds keys and values in f16 (about 5e-4 relative each), the rest is f32
// in another summation order.
const vkTol = 2e-3

// TestTinyVulkan runs the fixture through the Vulkan executor: prompt
// logits and hidden states, then every decode step past the sliding window
// at several prefill chunk sizes, with the cache in f16 and in f32.
func TestTinyVulkan(t *testing.T) {
	d := vktest.Device(t)
	m, g := loadTiny(t), loadGolden(t)
	s, err := m.NewSession(Options{Ctx: 64, Device: d})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.Run(g.inputIDs, StepOptions{AllLogits: true, Hidden: true})
	if err != nil {
		t.Fatal(err)
	}
	checkClose(t, "logits", out.Logits, g.logits, vkTol)
	T, H, L := len(g.inputIDs), m.Config.Hidden, m.Config.Layers
	for i := 0; i <= L; i++ {
		got := out.Hidden[i]
		if i == L {
			got = out.Hidden[L+1]
		}
		checkClose(t, fmt.Sprintf("hidden[%d]", i), got, g.hidden[i*T*H:(i+1)*T*H], vkTol)
	}
	for _, c := range []struct {
		chunk int
		f32   bool
		tol   float64
	}{
		{1, false, vkTol}, {5, false, vkTol}, {20, false, vkTol},
		// With an f32 cache (and f32 products and attention inputs, which
		// cooperative matrices would round to f16) only the summation
		// order differs.
		{7, true, f32Tol},
	} {
		t.Run(fmt.Sprintf("chunk=%d/f32cache=%v", c.chunk, c.f32), func(t *testing.T) {
			decodeStepsWith(t, m, g, Options{Ctx: 64, Chunk: c.chunk, Device: d, CacheF32: c.f32, ExactProducts: c.f32}, c.tol)
		})
	}
}

// TestLongContextVulkan feeds the tiny model (sliding window 6) a prompt
// of many windows in chunks that do not divide it, then decodes past it:
// the next-token logits on Vulkan match the CPU executor's at every step,
// which exercises the ring buffers wrapping many times and the window.
// With a 512-token context the global layers' decode attention runs
// split-K (kernels.AttentionSplits).
func TestLongContextVulkan(t *testing.T) {
	d := vktest.Device(t)
	m := loadTiny(t)
	if m.Config.SlidingWindow >= 40 {
		t.Fatalf("sliding window %d: the prompt must span several", m.Config.SlidingWindow)
	}
	r := rand.New(rand.NewPCG(7, 8))
	prompt := make([]int, 490)
	for i := range prompt {
		prompt[i] = 1 + r.IntN(m.Config.Vocab-1)
	}
	for _, f32 := range []bool{false, true} {
		t.Run(fmt.Sprintf("f32cache=%v", f32), func(t *testing.T) {
			tol := vkTol
			if f32 {
				tol = f32Tol
			}
			cpu, err := m.NewSession(Options{Ctx: 512, Chunk: 61})
			if err != nil {
				t.Fatal(err)
			}
			vk, err := m.NewSession(Options{Ctx: 512, Chunk: 61, Device: d, CacheF32: f32})
			if err != nil {
				t.Fatal(err)
			}
			defer vk.Close()
			want, got := feedBoth(t, cpu, vk, prompt)
			checkClose(t, "after the prompt", got, want, tol)
			for i := 0; i < 5; i++ {
				want, got = feedBoth(t, cpu, vk, []int{argmax(want)})
				checkClose(t, fmt.Sprintf("decode step %d", i), got, want, tol)
			}
			short, err := m.NewSession(Options{Ctx: 4, Device: d, CacheF32: f32})
			if err != nil {
				t.Fatal(err)
			}
			defer short.Close()
			if err := short.Prepare(1); err != nil {
				t.Fatal(err)
			}
			long, _ := vk.PlanStats(1)
			base, _ := short.PlanStats(1)
			globals := 0
			for _, k := range m.Config.Kinds {
				if k == Global {
					globals++
				}
			}
			fused := 0
			for _, n := range vk.plans[planKey{1, StepOptions{}}].plan.Steps {
				if n.Op == graph.OpAttentionNormRope {
					fused++
				}
			}
			t.Logf("%d of %d global layers take their q/k norms into attention", fused, globals)
			// One-token split-K attention is one dispatch like the unsplit
			// one, and its partial results take the plan's split scratch;
			// where it also takes the q/k norms (OpAttentionNormRope), the
			// two normrope dispatches go.
			if long.Dispatches != base.Dispatches-2*fused {
				t.Errorf("decode step: %d dispatches at context 512, %d at 4 (%d of %d global layers fused)",
					long.Dispatches, base.Dispatches, fused, globals)
			}
			if long.SplitBytes == 0 || base.SplitBytes != 0 {
				t.Errorf("split scratch %d bytes at context 512, %d at 4: split-K not used at 512 only", long.SplitBytes, base.SplitBytes)
			}
		})
	}
}

// feedBoth feeds ids to sessions a and b and returns the logits of the
// last id from each.
func feedBoth(t *testing.T, a, b *Session, ids []int) (fa, fb []float32) {
	t.Helper()
	fa, err := a.Feed(ids)
	if err != nil {
		t.Fatal(err)
	}
	if fb, err = b.Feed(ids); err != nil {
		t.Fatal(err)
	}
	return fa, fb
}

// TestTooBigForDevice: weights and KV cache beyond the device's memory are
// refused before anything is allocated, with the sizes in the message.
func TestTooBigForDevice(t *testing.T) {
	d := vktest.Device(t)
	m, err := Synthetic("tiny", "q8_0", 1)
	if err != nil {
		t.Fatal(err)
	}
	m.Config.MaxPositions = 1 << 30
	m.Config.Kinds[len(m.Config.Kinds)-1] = Global // a cache as long as the context
	before := d.InUse()
	_, err = m.NewSession(Options{Ctx: 1 << 28, Device: d})
	if !errors.Is(err, gpu.ErrOutOfMemory) || !strings.Contains(err.Error(), "KV cache") ||
		!strings.Contains(err.Error(), "of device memory") {
		t.Fatalf("err = %v, want a clear out-of-memory error", err)
	}
	if d.InUse() != before {
		t.Errorf("%d bytes left allocated", d.InUse()-before)
	}
	t.Log(err)
}

// TestUploadProgress: Options.Progress sees the weight upload grow to what
// the executor holds, ending with done == total, once, for both ways the
// upload can happen (Prepare, or the first step of an unprepared session).
func TestUploadProgress(t *testing.T) {
	d := vktest.Device(t)
	m := loadTiny(t)
	for _, prepare := range []bool{true, false} {
		t.Run(fmt.Sprintf("prepare=%v", prepare), func(t *testing.T) {
			type call struct{ done, total int64 }
			var calls []call
			s, err := m.NewSession(Options{Ctx: 16, Device: d, Progress: func(done, total int64) {
				calls = append(calls, call{done, total})
			}})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if prepare {
				err = s.Prepare(1)
			} else {
				_, err = s.Run([]int{2, 3}, StepOptions{})
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Run([]int{4}, StepOptions{}); err != nil {
				t.Fatal(err)
			}
			if len(calls) < 2 {
				t.Fatalf("%d progress calls, want one per weight", len(calls))
			}
			held := int64(s.be.(*vkBackend).exec.WeightBytes())
			for i, c := range calls {
				if c.done <= 0 || c.done > c.total || (i > 0 && c.done <= calls[i-1].done) {
					t.Fatalf("call %d: %+v after %+v", i, c, calls[max(i-1, 0)])
				}
				if last := i == len(calls)-1; (c.done == c.total) != last {
					t.Fatalf("call %d of %d: %+v; only the last should be complete", i, len(calls), c)
				}
			}
			if last := calls[len(calls)-1]; last.done != held {
				t.Errorf("last call %+v, the executor holds %d bytes of weights", last, held)
			}
		})
	}
}
