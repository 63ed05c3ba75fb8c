package graph

import (
	"fmt"
	"runtime"
	"sync"

	"gemmavk/kernels"
)

// Env binds a plan's caller-owned tensors by name: per-step inputs (i32,
// and f32 ones in Floats) and the persistent state buffers (KV cache).
type Env struct {
	Inputs map[string][]int32
	States map[string][]float32
	Floats map[string][]float32
}

// CPU runs plans with the kernels references, splitting each op's rows
// across Threads goroutines. It keeps its arena between runs.
type CPU struct {
	threads int
	arena   []float32
	plan    *Plan
}

// NewCPU returns a CPU executor using threads goroutines (<= 0: one per core).
func NewCPU(threads int) *CPU {
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	return &CPU{threads: threads}
}

// Read returns an output tensor of the last run as a view into the arena,
// valid until the next run.
func (c *CPU) Read(t *Tensor) ([]float32, error) {
	if c.plan == nil || t.ID >= len(c.plan.Offset) || c.plan.Offset[t.ID] < 0 || c.plan.Graph.Tensors[t.ID] != t {
		return nil, fmt.Errorf("graph: cpu: %s is not an activation of the last plan run", t.Name)
	}
	o := c.plan.Offset[t.ID]
	return c.arena[o : o+t.Len()], nil
}

type binding struct {
	f []float32
	i []int32
}

// Run executes every step of p in order.
func (c *CPU) Run(p *Plan, env *Env) error {
	if cap(c.arena) < p.ArenaLen {
		c.arena = make([]float32, p.ArenaLen)
	}
	c.arena = c.arena[:p.ArenaLen]
	c.plan = p
	bind := make([]binding, len(p.Graph.Tensors))
	for _, t := range p.Graph.Inputs {
		if t.DType == F32 {
			v, ok := env.Floats[t.Name]
			if !ok || len(v) != t.Len() {
				return fmt.Errorf("graph: cpu: input %s: got %d values, want %d", t.Name, len(v), t.Len())
			}
			bind[t.ID].f = v
			continue
		}
		v, ok := env.Inputs[t.Name]
		if !ok || len(v) != t.Len() {
			return fmt.Errorf("graph: cpu: input %s: got %d values, want %d", t.Name, len(v), t.Len())
		}
		bind[t.ID].i = v
	}
	for _, t := range p.Graph.States {
		v, ok := env.States[t.Name]
		if !ok || len(v) != t.Len() {
			return fmt.Errorf("graph: cpu: state %s: got %d values, want %d", t.Name, len(v), t.Len())
		}
		bind[t.ID].f = v
	}
	f32 := func(t *Tensor) []float32 {
		switch {
		case t.Kind == Activation:
			o := p.Offset[t.ID]
			return c.arena[o : o+t.Len()]
		case t.Vector != nil:
			return t.Vector
		}
		return bind[t.ID].f
	}
	for _, n := range p.Steps {
		if err := c.step(n, f32, func(t *Tensor) []int32 { return bind[t.ID].i }); err != nil {
			return fmt.Errorf("graph: cpu: %s -> %v: %w", n.Op, n.Out, err)
		}
	}
	return nil
}

func (c *CPU) step(n *Node, f32 func(*Tensor) []float32, i32 func(*Tensor) []int32) error {
	in := n.In
	switch n.Op {
	case OpEmbed:
		ids := i32(in[0])
		return c.parallelErr(len(ids), func(lo, hi int) error {
			return kernels.Embed(f32(n.Out), ids, in[1].Matrix, n.Attr.(EmbedAttr).Scale, lo, hi)
		})
	case OpRMSNorm:
		g := f32(in[1])
		c.parallel(in[0].Len()/len(g), func(lo, hi int) {
			kernels.RMSNorm(f32(n.Out), f32(in[0]), g, n.Attr.(NormAttr).Eps, lo, hi)
		})
	case OpMatMul:
		w := in[1].Matrix
		c.parallel(w.Rows, func(lo, hi int) {
			kernels.MatMul(f32(n.Out), f32(in[0]), w, in[0].Rows(), make([]float32, 4*w.Cols), lo, hi)
		})
	case OpRoPE:
		r := n.Attr.(RopeAttr)
		out := f32(n.Out)
		copy(out, f32(in[0]))
		c.parallel(in[0].Rows(), func(lo, hi int) {
			kernels.RoPE(out, i32(in[1]), r.Heads, r.HeadDim, r.Base, r.Factor, lo, hi)
		})
	case OpAttention:
		var spans []int32
		if len(in) > 6 {
			spans = i32(in[6])
		}
		return c.attention(n.attn(), f32(n.Out), f32(in[0]), f32(in[1]), f32(in[2]), f32(in[3]), f32(in[4]), i32(in[5]), spans)
	case OpCacheWrite:
		// Sequential: rows of a chunk longer than the ring land on the same slot.
		pos := i32(in[4])
		kernels.CacheWrite(f32(in[2]), f32(in[3]), f32(in[0]), f32(in[1]), pos, n.attn(), 0, len(pos))
	case OpAdd:
		c.parallel(n.Out.Len(), func(lo, hi int) { kernels.Add(f32(n.Out), f32(in[0]), f32(in[1]), lo, hi) })
	case OpGeluMul:
		c.parallel(n.Out.Len(), func(lo, hi int) { kernels.GeluMul(f32(n.Out), f32(in[0]), f32(in[1]), lo, hi) })
	case OpLastRow:
		x := f32(in[0])
		copy(f32(n.Out), x[len(x)-in[0].Cols():])
	default:
		if ok, err := c.fused(n, f32, i32); ok || err != nil {
			return err
		}
		if ok, err := c.vision(n, f32); ok || err != nil {
			return err
		}
		return fmt.Errorf("op %d has no CPU implementation", n.Op)
	}
	return nil
}

// attention runs kernels.AttentionSpans over the chunk at positions pos
// (consecutive, the cache holding what they need).
func (c *CPU) attention(a kernels.Attn, out, q, k, v, ck, cv []float32, pos, spans []int32) error {
	if err := a.CheckCache(int(pos[0])); err != nil {
		return err
	}
	for t, p := range pos {
		if int(p) != int(pos[0])+t {
			return fmt.Errorf("positions %v are not consecutive", pos)
		}
	}
	keys := int(pos[len(pos)-1]) + 1
	c.parallel(len(pos)*a.Heads, func(lo, hi int) {
		kernels.AttentionSpans(out, q, k, v, ck, cv, pos, spans, a, make([]float32, keys), lo, hi)
	})
	return nil
}

// parallel splits [0, n) into one contiguous range per thread.
func (c *CPU) parallel(n int, fn func(lo, hi int)) {
	_ = c.parallelErr(n, func(lo, hi int) error { fn(lo, hi); return nil })
}

func (c *CPU) parallelErr(n int, fn func(lo, hi int) error) error {
	k := c.threads
	if k > n {
		k = n
	}
	if k <= 1 {
		return fn(0, n)
	}
	errs := make([]error, k)
	var wg sync.WaitGroup
	for w := 0; w < k; w++ {
		lo, hi := n*w/k, n*(w+1)/k
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = fn(lo, hi)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
