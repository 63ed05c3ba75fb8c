package graph

import (
	"math/rand/v2"
	"testing"

	"gemmavk/internal/vktest"
	"gemmavk/kernels/quant"
)

// TestHalfActivationsVulkan runs a prefill-shaped block (norm, products,
// the post-norm seam, gate/up/GELU, down) on a device with cooperative
// matrices, where the norms' and gelu_mul's outputs that only products
// read are stored in f16, against the CPU executor; and checks which
// activations the recorder stores so: not a norm output that a non-product
// (LastRow) also reads, not the residual sum, not a graph output.
// Tolerance: the products round x and W to f16 (as without f16 storage).
func TestHalfActivationsVulkan(t *testing.T) {
	d := vktest.Device(t)
	if !d.Caps().CoopMat {
		d = vktest.Unvalidated(t)
	}
	if !d.Caps().CoopMat {
		t.Skipf("%s has no cooperative matrices", d.Info.Name)
	}
	const T, H, I, eps = 70, 256, 512, 1e-6
	r := rand.New(rand.NewPCG(3, 4))
	b := NewBuilder()
	vec := func(name string, n int) *Tensor { return b.Vector(name, randVec(r, n, 0.5, 1.5)) }
	mat := func(name string, typ quant.Type, rows, cols int) *Tensor {
		return b.Matrix(randWeight(t, r, name, typ, rows, cols))
	}
	x := b.State("x", T, H)
	xs := randVec(r, T*H, -2, 2)
	n0 := b.RMSNorm(x, vec("g0", H), eps)
	o := b.MatMul(n0, mat("o", quant.Q4_K, H, H))
	h := b.Add(x, b.RMSNorm(o, vec("g1", H), eps))
	n1 := b.RMSNorm(h, vec("g2", H), eps)
	f := b.GeluMul(b.MatMul(n1, mat("gate", quant.Q6_K, I, H)), b.MatMul(n1, mat("up", quant.Q4_K, I, H)))
	y := b.Output(b.MatMul(f, mat("down", quant.Q5_0, H, I)))
	last := b.Output(b.LastRow(n0)) // n0 is read by a non-product too
	g, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	g = Fuse(g)
	p, err := NewPlan(g)
	if err != nil {
		t.Fatal(err)
	}
	c := NewCPU(2)
	if err := c.Run(p, &Env{States: map[string][]float32{"x": xs}}); err != nil {
		t.Fatal(err)
	}
	v := NewVulkan(d, VulkanOptions{})
	defer v.Close()
	half := v.halfActs(p)
	var names []string
	for tn, ok := range half {
		if ok {
			names = append(names, tn.Name)
		}
	}
	if len(names) != 2 || !half[n1] || !half[f] {
		t.Errorf("f16 activations %v, want the seam's second norm and gelu_mul's output", names)
	}
	checkStateRun(t, d, v, c, p, xs, 5e-3, y, last)
}
