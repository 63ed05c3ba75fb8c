package graph

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gemmavk/gpu"
	"gemmavk/internal/testutil"
	"gemmavk/internal/vktest"
	"gemmavk/kernels"
	"gemmavk/kernels/quant"
)

func TestMain(m *testing.M) { vktest.Main(m) }

// layers builds a small Gemma-shaped stack (the layer of gemma3/forward.go
// with random weights): every pattern Fuse rewrites appears in it.
type stack struct {
	g              *Graph
	logits         *Tensor
	T, heads, kvh  int
	dim, slots     int
	window, layers int
}

func randWeight(t *testing.T, r *rand.Rand, name string, typ quant.Type, rows, cols int) *kernels.Weight {
	t.Helper()
	v := make([]float32, rows*cols)
	for i := range v {
		v[i] = (2*r.Float32() - 1) * 0.3
	}
	data, err := quant.Quantize(typ, v)
	if err != nil {
		t.Fatal(err)
	}
	w, err := kernels.NewWeight(name, typ, rows, cols, data)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func gains(r *rand.Rand, n int) []float32 {
	g := make([]float32, n)
	for i := range g {
		g[i] = 0.5 + r.Float32()
	}
	return g
}

func buildStack(t *testing.T, T, slots int) *stack {
	t.Helper()
	return buildStackWindow(t, T, slots, 8)
}

// buildStackWindow is buildStack with the sliding layers' window.
func buildStackWindow(t *testing.T, T, slots, window int) *stack {
	t.Helper()
	s := &stack{T: T, heads: 4, kvh: 2, dim: 32, slots: slots, window: window, layers: 3}
	const H, I, V = 64, 96, 50
	r := rand.New(rand.NewPCG(3, 4))
	b := NewBuilder()
	ids, pos := b.Input("ids", T), b.Input("pos", T)
	embed := b.Matrix(randWeight(t, r, "embed", quant.Q8_0, V, H))
	x := b.Embed(ids, embed, 8)
	for i := 0; i < s.layers; i++ {
		vec := func(name string, n int) *Tensor { return b.Vector(fmt.Sprintf("%d.%s", i, name), gains(r, n)) }
		mat := func(name string, rows, cols int) *Tensor {
			return b.Matrix(randWeight(t, r, fmt.Sprintf("%d.%s", i, name), quant.Q8_0, rows, cols))
		}
		a := kernels.Attn{Heads: s.heads, KVHeads: s.kvh, HeadDim: s.dim, Scale: 0.2, Slots: slots}
		if i%2 == 0 {
			a.Window = s.window
			a.Slots = min(slots, s.window)
		}
		ra := func(h int) RopeAttr { return RopeAttr{Heads: h, HeadDim: s.dim, Base: 10000, Factor: 1} }
		an := b.RMSNorm(x, vec("attn_norm", H), 1e-6)
		q := b.RMSNorm(b.MatMul(an, mat("q", s.heads*s.dim, H)), vec("q_norm", s.dim), 1e-6)
		k := b.RMSNorm(b.MatMul(an, mat("k", s.kvh*s.dim, H)), vec("k_norm", s.dim), 1e-6)
		v := b.MatMul(an, mat("v", s.kvh*s.dim, H))
		q, k = b.RoPE(q, pos, ra(s.heads)), b.RoPE(k, pos, ra(s.kvh))
		ck := b.State(fmt.Sprintf("ck.%d", i), a.Slots, s.kvh*s.dim)
		cv := b.State(fmt.Sprintf("cv.%d", i), a.Slots, s.kvh*s.dim)
		o := b.Attention(q, k, v, ck, cv, pos, a)
		x = b.Add(x, b.RMSNorm(b.MatMul(o, mat("o", H, s.heads*s.dim)), vec("post_attn", H), 1e-6))
		f := b.RMSNorm(x, vec("ffn_norm", H), 1e-6)
		gl := b.GeluMul(b.MatMul(f, mat("gate", I, H)), b.MatMul(f, mat("up", I, H)))
		x = b.Add(x, b.RMSNorm(b.MatMul(gl, mat("down", H, I)), vec("post_ffw", H), 1e-6))
	}
	y := b.RMSNorm(x, b.Vector("final", gains(r, H)), 1e-6)
	s.logits = b.Output(b.MatMul(y, embed))
	g, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	s.g = g
	return s
}

func countOps(g *Graph) map[Op]int {
	c := map[Op]int{}
	for _, n := range g.Nodes {
		c[n.Op]++
	}
	return c
}

// cpuCaches returns zeroed f32 caches for every state of g.
func cpuCaches(g *Graph) map[string][]float32 {
	m := map[string][]float32{}
	for _, st := range g.States {
		m[st.Name] = make([]float32, st.Len())
	}
	return m
}

// stepInputs gives each step of token ids its positions, continuing from
// the previous step's.
func stepInputs(steps [][]int32) []map[string][]int32 {
	var out []map[string][]int32
	p0 := int32(0)
	for _, ids := range steps {
		pos := make([]int32, len(ids))
		for i := range pos {
			pos[i] = p0 + int32(i)
		}
		p0 += int32(len(ids))
		out = append(out, map[string][]int32{"ids": ids, "pos": pos})
	}
	return out
}

// runCPU runs steps of T tokens from position 0 (a prompt then decode
// steps) and returns each step's logits.
func runCPU(t *testing.T, g *Graph, logits *Tensor, steps [][]int32) [][]float32 {
	t.Helper()
	p, err := NewPlan(g)
	if err != nil {
		t.Fatal(err)
	}
	c := NewCPU(2)
	states := cpuCaches(g)
	var out [][]float32
	for _, in := range stepInputs(steps) {
		if err := c.Run(p, &Env{Inputs: in, States: states}); err != nil {
			t.Fatal(err)
		}
		v, err := c.Read(logits)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, append([]float32(nil), v...))
	}
	return out
}

// TestFuseRules checks which rules fire: everything in a decode step, and
// no cache write moved before attention where a chunk could overwrite
// ring rows its own queries read.
func TestFuseRules(t *testing.T) {
	for _, c := range []struct {
		T, slots  int
		cacheFuse int // layers whose cache write joins the k norm + RoPE
		geluFuse  int
	}{
		{T: 1, slots: 64, cacheFuse: 3, geluFuse: 3},
		// Chunks of 5: only the global layer (never wraps) fuses its write;
		// gate/up stay matrix products.
		{T: 5, slots: 64, cacheFuse: 1, geluFuse: 0},
		// A context shorter than the window: no ring wraps.
		{T: 5, slots: 6, cacheFuse: 3, geluFuse: 0},
	} {
		t.Run(fmt.Sprintf("T=%d/slots=%d", c.T, c.slots), func(t *testing.T) {
			s := buildStack(t, c.T, c.slots)
			ops := countOps(Fuse(s.g))
			plain := countOps(s.g)
			if ops[OpRMSNormRoPECache] != c.cacheFuse || ops[OpCacheWrite] != s.layers-c.cacheFuse {
				t.Errorf("cache writes fused: %d (plain %d), want %d", ops[OpRMSNormRoPECache], ops[OpCacheWrite], c.cacheFuse)
			}
			if ops[OpRMSNormRoPE]+ops[OpRMSNormRoPECache] != 2*s.layers || ops[OpRoPE] != 0 {
				t.Errorf("norm+rope: %d fused, %d plain RoPE left", ops[OpRMSNormRoPE]+ops[OpRMSNormRoPECache], ops[OpRoPE])
			}
			if ops[OpMatMulGelu] != c.geluFuse {
				t.Errorf("gate/up/gelu fused %d times, want %d", ops[OpMatMulGelu], c.geluFuse)
			}
			// Every residual add takes its post-norm; all but the last take
			// the next pre-norm too (the final norm included).
			if ops[OpAddRMSNorm] != 2*s.layers || ops[OpAdd] != 0 {
				t.Errorf("add+norm fused %d times (%d adds left), want %d", ops[OpAddRMSNorm], ops[OpAdd], 2*s.layers)
			}
			if ops[OpRMSNorm] != 1 { // only the first layer's input norm remains
				t.Errorf("%d plain norms left (plain graph %d), want 1", ops[OpRMSNorm], plain[OpRMSNorm])
			}
		})
	}
}

// TestFuseSameResults runs a prompt and decode steps through the plain and
// the fused graph: bit-identical on the CPU (the fused references call the
// plain ones), and within f16-cache tolerance on Vulkan.
func TestFuseSameResults(t *testing.T) {
	prompt := [][]int32{{3, 17, 5, 44, 9}, {2, 2, 31, 7, 1}}
	for _, T := range []int{5, 1} {
		t.Run(fmt.Sprintf("T=%d", T), func(t *testing.T) {
			s := buildStack(t, T, 64)
			steps := prompt
			if T == 1 {
				steps = nil
				for _, c := range prompt {
					for _, id := range c {
						steps = append(steps, []int32{id})
					}
				}
			}
			plain := runCPU(t, s.g, s.logits, steps)
			fused := runCPU(t, Fuse(s.g), s.logits, steps)
			for i := range plain {
				testutil.CheckClose(t, fmt.Sprintf("cpu step %d", i), fused[i], plain[i], 0)
			}
			d := vktest.Device(t)
			for _, g := range []*Graph{s.g, Fuse(s.g)} {
				got := runVulkan(t, d, g, s.logits, steps, VulkanOptions{ExactProducts: true})
				for i := range plain {
					// f16 cache: about 5e-4 relative per cached value.
					testutil.CheckClose(t, fmt.Sprintf("vulkan step %d (%d nodes)", i, len(g.Nodes)), got[i], plain[i], 2e-3)
				}
			}
			// By default one-token products round their input to 8 bits:
			// up to 1/254 of each 32-block's largest value, through every
			// layer of a random model whose logits are all small.
			got := runVulkan(t, d, Fuse(s.g), s.logits, steps, VulkanOptions{})
			for i := range plain {
				testutil.CheckClose(t, fmt.Sprintf("vulkan 8-bit step %d", i), got[i], plain[i], 0.1)
			}
			if T != 1 {
				return
			}
			// The layer seams folded into the products that read them: the
			// same bits on the CPU, and on Vulkan the 8-bit results again
			// (the seam's sums in another order can move a rounding tie).
			all := func(*kernels.Weight) bool { return true }
			seams := FuseNormMatVec(Fuse(s.g), all)
			if n, m := countOps(seams)[OpAddRMSNorm], countOps(Fuse(s.g))[OpAddRMSNorm]; n >= m {
				t.Errorf("%d seams left of %d", n, m)
			}
			cpu := runCPU(t, seams, s.logits, steps)
			for i := range plain {
				testutil.CheckClose(t, fmt.Sprintf("cpu seams step %d", i), cpu[i], plain[i], 0)
			}
			can := func(w *kernels.Weight) bool { return kernels.MatVecQ8NormSupported(d.Caps(), w.Type, w.Cols) }
			vk := runVulkan(t, d, FuseNormMatVec(Fuse(s.g), can), s.logits, steps, VulkanOptions{})
			for i := range plain {
				testutil.CheckClose(t, fmt.Sprintf("vulkan seams step %d", i), vk[i], got[i], 1e-3)
			}
		})
	}
}

func runVulkan(t *testing.T, d *gpu.Device, g *Graph, logits *Tensor, steps [][]int32, opt VulkanOptions) [][]float32 {
	t.Helper()
	p, err := NewPlan(g)
	if err != nil {
		t.Fatal(err)
	}
	v := NewVulkan(d, opt)
	defer v.Close()
	env := &VulkanEnv{States: map[string]gpu.Buffer{}}
	size := 2 // bytes a cached value takes
	if opt.CacheF32 {
		size = 4
	}
	for _, st := range g.States {
		b, err := d.Alloc(uint64(size*st.Len()), gpu.DeviceLocal)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Free(b)
		env.States[st.Name] = b
	}
	var out [][]float32
	for _, in := range stepInputs(steps) {
		if err := v.Run(p, in, env); err != nil {
			t.Fatal(err)
		}
		x, err := v.Read(logits)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, x)
	}
	return out
}

// TestQ8Handoff checks that a one-token step on 8-bit products hands the
// gated product's output to the down product as 8-bit blocks, with the
// seams folded and without, only where the gated product is long enough
// and nothing else; and that the handed step gives the logits of the step
// that quantizes in the down product.
func TestQ8Handoff(t *testing.T) {
	d := vktest.Device(t)
	if !kernels.MatVecQ8Supported(d.Caps(), quant.Q8_0, 64) {
		t.Skip("no 8-bit products on this device")
	}
	s := buildStack(t, 1, 64)
	can := func(w *kernels.Weight) bool { return kernels.MatVecQ8NormSupported(d.Caps(), w.Type, w.Cols) }
	short := VulkanOptions{handoffRows: 32} // the stack's gated products have 96 rows
	for name, g := range map[string]*Graph{"fused": Fuse(s.g), "seams": FuseNormMatVec(Fuse(s.g), can)} {
		t.Run(name, func(t *testing.T) {
			p, err := NewPlan(g)
			if err != nil {
				t.Fatal(err)
			}
			handed := func(opt VulkanOptions) map[*Tensor]bool {
				v := NewVulkan(d, opt)
				defer v.Close()
				return v.q8Acts(p)
			}
			got := handed(short)
			if len(got) != s.layers {
				t.Errorf("%d activations handed as 8-bit blocks, want one a layer (%d)", len(got), s.layers)
			}
			for a := range got {
				if a.Cols() != 96 {
					t.Errorf("%v handed as 8-bit blocks; only the gated products' outputs should be", a)
				}
			}
			if n := len(handed(VulkanOptions{})); n != 0 {
				t.Errorf("%d activations of 96 values handed as 8-bit blocks (fewer than q8HandoffRows)", n)
			}
			if n := len(handed(VulkanOptions{ExactProducts: true, handoffRows: 32})); n != 0 {
				t.Errorf("%d activations handed as 8-bit blocks with exact products", n)
			}
			steps := [][]int32{{3}, {17}, {5}}
			want := runVulkan(t, d, g, s.logits, steps, VulkanOptions{})
			out := runVulkan(t, d, g, s.logits, steps, short)
			for i := range want {
				testutil.CheckClose(t, fmt.Sprintf("step %d", i), out[i], want[i], 1e-3)
			}
		})
	}
}
