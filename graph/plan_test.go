package graph

import (
	"fmt"
	"testing"

	"gemmavk/kernels"
	"gemmavk/kernels/quant"
)

// chain builds x -> n blocks of (norm, matmul, add residual) -> output, the
// shape of a decoder stack.
func chain(t *testing.T, n, T, H int) (*Graph, *Tensor) {
	t.Helper()
	b := NewBuilder()
	ids := b.Input("ids", T)
	data, err := quant.Quantize(quant.F32, make([]float32, H*H))
	if err != nil {
		t.Fatal(err)
	}
	w, err := kernels.NewWeight("w", quant.F32, H, H, data)
	if err != nil {
		t.Fatal(err)
	}
	wt := b.Matrix(w)
	gain := b.Vector("g", make([]float32, H))
	x := b.Embed(ids, wt, 1)
	for i := 0; i < n; i++ {
		x = b.Add(x, b.MatMul(b.RMSNorm(x, gain, 1e-6), wt))
	}
	out := b.Output(b.LastRow(x))
	g, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return g, out
}

func TestPlanMemory(t *testing.T) {
	for _, n := range []int{1, 2, 8, 30} {
		t.Run(fmt.Sprintf("blocks=%d", n), func(t *testing.T) {
			g, out := chain(t, n, 5, 16)
			p, err := NewPlan(g)
			if err != nil {
				t.Fatal(err)
			}
			// Liveness intervals from the plan itself.
			def, last := map[int]int{}, map[int]int{}
			for i, s := range p.Steps {
				for _, in := range s.In {
					last[in.ID] = i
				}
				if s.Out != nil {
					def[s.Out.ID], last[s.Out.ID] = i, i
				}
			}
			last[out.ID] = len(p.Steps)
			for a := range def {
				for b := range def {
					if a >= b || def[a] > last[b] || def[b] > last[a] {
						continue
					}
					ta, tb := g.Tensors[a], g.Tensors[b]
					oa, ob := p.Offset[a], p.Offset[b]
					if oa < ob+tb.Len() && ob < oa+ta.Len() {
						t.Fatalf("%s [%d,%d) and %s [%d,%d) overlap while both live", ta.Name, oa, oa+ta.Len(), tb.Name, ob, ob+tb.Len())
					}
				}
			}
			for id := range def {
				if o := p.Offset[id]; o < 0 || o+g.Tensors[id].Len() > p.ArenaLen {
					t.Fatalf("%s outside the arena", g.Tensors[id].Name)
				}
			}
			// Reuse: a deep chain needs a few live tensors, not all of them.
			if n >= 8 && p.ArenaLen*4 > p.Unpacked {
				t.Errorf("arena %d of %d unpacked: no reuse", p.ArenaLen, p.Unpacked)
			}
			t.Logf("arena %d floats, unpacked %d", p.ArenaLen, p.Unpacked)
		})
	}
}

func TestPlanDropsDeadNodes(t *testing.T) {
	b := NewBuilder()
	ids := b.Input("ids", 2)
	data, _ := quant.Quantize(quant.F32, make([]float32, 8*4))
	w, err := kernels.NewWeight("w", quant.F32, 8, 4, data)
	if err != nil {
		t.Fatal(err)
	}
	x := b.Embed(ids, b.Matrix(w), 1)
	b.Add(x, x) // unused
	b.Output(b.LastRow(x))
	g, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(g)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Steps) != 2 {
		t.Fatalf("%d steps, want 2 (embed, last_row)", len(p.Steps))
	}
}

func TestBuilderShapeErrors(t *testing.T) {
	data, _ := quant.Quantize(quant.F32, make([]float32, 8*4))
	w, err := kernels.NewWeight("w", quant.F32, 8, 4, data)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		build func(b *Builder)
	}{
		{"matmul inner dim", func(b *Builder) {
			x := b.Embed(b.Input("ids", 2), b.Matrix(w), 1) // [2, 4]
			b.MatMul(b.Add(x, x), b.Matrix(w))              // fine
			b.MatMul(b.MatMul(x, b.Matrix(w)), b.Matrix(w)) // [2, 8] by [8, 4]: wrong
		}},
		{"add lengths", func(b *Builder) {
			x := b.Embed(b.Input("ids", 2), b.Matrix(w), 1)
			b.Add(x, b.LastRow(x))
		}},
		{"norm groups", func(b *Builder) {
			x := b.Embed(b.Input("ids", 2), b.Matrix(w), 1)
			b.RMSNorm(x, b.Vector("g", make([]float32, 3)), 1e-6)
		}},
		{"rope heads", func(b *Builder) {
			x := b.Embed(b.Input("ids", 2), b.Matrix(w), 1)
			b.RoPE(x, b.Input("pos", 2), RopeAttr{Heads: 3, HeadDim: 2, Base: 1e4, Factor: 1})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBuilder()
			tc.build(b)
			if _, err := b.Build(); err == nil {
				t.Fatal("Build accepted a misshapen graph")
			}
		})
	}
}
