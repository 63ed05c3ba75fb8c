package graph

import (
	"math"
	"math/rand/v2"
	"testing"

	"gemmavk/gpu"
	"gemmavk/internal/testutil"
	"gemmavk/internal/vktest"
	"gemmavk/kernels/quant"
)

func randVec(r *rand.Rand, n int, lo, hi float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = lo + (hi-lo)*r.Float32()
	}
	return v
}

// visionBlock is one pre-LN encoder layer and the pooling projector
// (GEMMA3.md §6.1, §6.2) over a state x of [grid*grid, H] tokens, with its
// outputs.
type visionBlock struct {
	g             *Graph
	x             []float32
	hidden, feats *Tensor
}

func buildVisionBlock(t *testing.T) *visionBlock {
	t.Helper()
	const grid, k, H, I, heads = 6, 3, 24, 40, 3
	r := rand.New(rand.NewPCG(7, 8))
	vb := &visionBlock{}
	b := NewBuilder()
	vec := func(name string, n int, lo, hi float32) *Tensor { return b.Vector(name, randVec(r, n, lo, hi)) }
	mat := func(name string, rows, cols int) *Tensor {
		return b.Matrix(randWeight(t, r, name, quant.F16, rows, cols))
	}
	T := grid * grid
	x := b.State("x", T, H)
	vb.x = randVec(r, T*H, -2, 2)
	h := b.LayerNorm(x, vec("ln1.w", H, 0.5, 1.5), vec("ln1.b", H, -0.2, 0.2), 1e-6)
	q := b.Linear(h, mat("q", H, H), vec("q.b", H, -0.1, 0.1))
	kk := b.Linear(h, mat("k", H, H), vec("k.b", H, -0.1, 0.1))
	v := b.Linear(h, mat("v", H, H), vec("v.b", H, -0.1, 0.1))
	a := b.AttentionFull(q, kk, v, FullAttnAttr{Heads: heads, HeadDim: H / heads, Scale: float32(1 / math.Sqrt(H/heads))})
	x2 := b.Add(x, b.Linear(a, mat("o", H, H), vec("o.b", H, -0.1, 0.1)))
	f := b.Gelu(b.Linear(b.LayerNorm(x2, vec("ln2.w", H, 0.5, 1.5), vec("ln2.b", H, -0.2, 0.2), 1e-6),
		mat("fc1", I, H), vec("fc1.b", I, -0.1, 0.1)))
	x3 := b.Add(x2, b.Linear(f, mat("fc2", H, I), vec("fc2.b", H, -0.1, 0.1)))
	vb.hidden = b.Output(x3)
	p := b.RMSNorm(b.AvgPool(x3, grid, k), vec("soft", H, 0.5, 1.5), 1e-6)
	vb.feats = b.Output(b.MatMul(p, mat("proj", 16, H)))
	g, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	vb.g = g
	return vb
}

// TestVisionOpsCPU checks the CPU executor's vision ops one by one against
// the loops of their definitions, on a graph holding each once.
func TestVisionOpsCPU(t *testing.T) {
	vb := buildVisionBlock(t)
	p, err := NewPlan(vb.g)
	if err != nil {
		t.Fatal(err)
	}
	// Each vision node's output against its definition applied to the
	// node's own inputs, every value computed by the executor.
	for _, n := range p.Steps {
		want := refVision(t, n, func(x *Tensor) []float32 {
			if x.Vector != nil {
				return x.Vector
			}
			if x.Name == "x" {
				return vb.x
			}
			return runTo(t, vb, x)
		})
		if want == nil {
			continue
		}
		testutil.CheckClose(t, n.Op.String(), runTo(t, vb, n.Out), want, 1e-6)
	}
}

// runTo runs the block on the CPU with t as its only output and returns it.
func runTo(t *testing.T, vb *visionBlock, out *Tensor) []float32 {
	t.Helper()
	g := *vb.g
	g.Outputs = []*Tensor{out}
	was := out.Output
	out.Output = true
	defer func() { out.Output = was }()
	p, err := NewPlan(&g)
	if err != nil {
		t.Fatal(err)
	}
	c := NewCPU(2)
	if err := c.Run(p, &Env{States: map[string][]float32{"x": vb.x}}); err != nil {
		t.Fatal(err)
	}
	v, err := c.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), v...)
}

// refVision computes a vision op's output from its inputs with plain loops
// (nil for the text ops, tested elsewhere).
func refVision(t *testing.T, n *Node, in func(*Tensor) []float32) []float32 {
	t.Helper()
	y := make([]float32, n.Out.Len())
	switch n.Op {
	case OpLayerNorm:
		x, w, b := in(n.In[0]), in(n.In[1]), in(n.In[2])
		N := len(w)
		for r := 0; r < len(x)/N; r++ {
			row := x[r*N : (r+1)*N]
			var s, ss float64
			for _, v := range row {
				s += float64(v)
			}
			mean := s / float64(N)
			for _, v := range row {
				ss += (float64(v) - mean) * (float64(v) - mean)
			}
			inv := 1 / math.Sqrt(ss/float64(N)+1e-6)
			for j, v := range row {
				y[r*N+j] = float32((float64(v)-mean)*inv*float64(w[j]) + float64(b[j]))
			}
		}
	case OpAddBias:
		x, b := in(n.In[0]), in(n.In[1])
		for i := range y {
			y[i] = x[i] + b[i%len(b)]
		}
	case OpGelu:
		x := in(n.In[0])
		for i, u := range x {
			v := float64(u)
			y[i] = float32(0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v))))
		}
	case OpAttentionFull:
		a := n.Attr.(FullAttnAttr)
		q, k, v := in(n.In[0]), in(n.In[1]), in(n.In[2])
		T, w, d := n.In[0].Rows(), a.Heads*a.HeadDim, a.HeadDim
		for i := 0; i < T; i++ {
			for h := 0; h < a.Heads; h++ {
				s := make([]float64, T)
				m := math.Inf(-1)
				for j := range s {
					for c := 0; c < d; c++ {
						s[j] += float64(q[i*w+h*d+c]) * float64(k[j*w+h*d+c])
					}
					s[j] *= float64(a.Scale)
					m = math.Max(m, s[j])
				}
				var sum float64
				for j := range s {
					s[j] = math.Exp(s[j] - m)
					sum += s[j]
				}
				for c := 0; c < d; c++ {
					var o float64
					for j := range s {
						o += s[j] / sum * float64(v[j*w+h*d+c])
					}
					y[i*w+h*d+c] = float32(o)
				}
			}
		}
	case OpAvgPool:
		p := n.Attr.(PoolAttr)
		x, C := in(n.In[0]), n.In[0].Cols()
		g := p.Grid / p.K
		for m := 0; m < g*g; m++ {
			for c := 0; c < C; c++ {
				var s float64
				for dr := 0; dr < p.K; dr++ {
					for dc := 0; dc < p.K; dc++ {
						s += float64(x[((m/g*p.K+dr)*p.Grid+m%g*p.K+dc)*C+c])
					}
				}
				y[m*C+c] = float32(s / float64(p.K*p.K))
			}
		}
	default:
		return nil
	}
	return y
}

// TestVisionOpsVulkan runs the block on the Vulkan executor against the
// CPU executor. Tolerance: f32 throughout; sums run in other orders and
// the GPU's exp and GELU differ by a few ulp.
func TestVisionOpsVulkan(t *testing.T) {
	d := vktest.Device(t)
	vb := buildVisionBlock(t)
	p, err := NewPlan(vb.g)
	if err != nil {
		t.Fatal(err)
	}
	c := NewCPU(2)
	if err := c.Run(p, &Env{States: map[string][]float32{"x": vb.x}}); err != nil {
		t.Fatal(err)
	}
	// f32 products: the ops' arithmetic is checked against the CPU's at
	// 1e-5 (on cooperative matrices the products would round to f16).
	v := NewVulkan(d, VulkanOptions{ExactProducts: true})
	defer v.Close()
	checkStateRun(t, d, v, c, p, vb.x, 1e-5, vb.hidden, vb.feats)
}

// checkStateRun runs p on v with x bound to its state "x", and compares
// outs with their values in c, which has run p on the same x, within tol.
func checkStateRun(t *testing.T, d *gpu.Device, v *Vulkan, c *CPU, p *Plan, x []float32, tol float64, outs ...*Tensor) {
	t.Helper()
	xb, err := d.Alloc(uint64(4*len(x)), gpu.DeviceLocal)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Free(xb)
	if err := d.Upload(xb, vktest.F32Bytes(x)); err != nil {
		t.Fatal(err)
	}
	if err := v.Run(p, nil, &VulkanEnv{States: map[string]gpu.Buffer{"x": xb}}); err != nil {
		t.Fatal(err)
	}
	for _, o := range outs {
		want, err := c.Read(o)
		if err != nil {
			t.Fatal(err)
		}
		got, err := v.Read(o)
		if err != nil {
			t.Fatal(err)
		}
		testutil.CheckClose(t, o.Name, got, want, tol)
	}
}
