package graph

import (
	"fmt"
	"strings"
	"testing"

	"gemmavk/gpu"
	"gemmavk/internal/testutil"
	"gemmavk/internal/vktest"
	"gemmavk/kernels"
)

// TestFuseMatMulGeluRules checks where the prefill gate/up/GELU rule fires:
// every layer of a chunk of several tokens, on the plain graph or Fuse's
// output, and never for one token or weights can refuses.
func TestFuseMatMulGeluRules(t *testing.T) {
	all := func(wg, wu *kernels.Weight) bool { return true }
	none := func(wg, wu *kernels.Weight) bool { return false }
	for _, c := range []struct {
		T     int
		fuse  bool
		can   func(wg, wu *kernels.Weight) bool
		fused int // OpMatMulGelu nodes after the rule (per layer)
	}{
		{5, false, all, 1},
		{5, true, all, 1},
		{5, true, none, 0},
		{1, false, all, 0},
		{1, true, all, 1}, // Fuse's own one-token rule
	} {
		t.Run(fmt.Sprintf("T=%d/fuse=%v/fused=%d", c.T, c.fuse, c.fused), func(t *testing.T) {
			s := buildStack(t, c.T, 64)
			g := s.g
			if c.fuse {
				g = Fuse(g)
			}
			before := countOps(g)
			ops := countOps(FuseMatMulGelu(g, c.can))
			if ops[OpMatMulGelu] != c.fused*s.layers {
				t.Errorf("%d gated products, want %d", ops[OpMatMulGelu], c.fused*s.layers)
			}
			if ops[OpGeluMul] != s.layers-ops[OpMatMulGelu] {
				t.Errorf("%d gelu_mul left with %d fused of %d layers", ops[OpGeluMul], ops[OpMatMulGelu], s.layers)
			}
			if fused := ops[OpMatMulGelu] - before[OpMatMulGelu]; ops[OpMatMul] != before[OpMatMul]-2*fused {
				t.Errorf("%d products left of %d after fusing %d pairs", ops[OpMatMul], before[OpMatMul], fused)
			}
		})
	}
}

// TestFuseMatMulGeluSameResults runs a prompt through the plain graph and
// the prefill-fused one: bit-identical on the CPU (OpMatMulGelu of several
// tokens runs MatMul, MatMul and GeluMul). On Vulkan the rule fires only
// where the executor runs the fused kernel (cooperative matrices); there
// the results match the unfused graph's, whose products round alike.
func TestFuseMatMulGeluSameResults(t *testing.T) {
	prompt := [][]int32{{3, 17, 5, 44, 9}, {2, 2, 31, 7, 1}}
	s := buildStack(t, 5, 64)
	all := func(wg, wu *kernels.Weight) bool { return true }
	plain := runCPU(t, s.g, s.logits, prompt)
	for i, g := range []*Graph{FuseMatMulGelu(s.g, all), FuseMatMulGelu(Fuse(s.g), all)} {
		got := runCPU(t, g, s.logits, prompt)
		for j := range plain {
			testutil.CheckClose(t, fmt.Sprintf("cpu graph %d step %d", i, j), got[j], plain[j], 0)
		}
	}

	d := vktest.Device(t)
	v := NewVulkan(d, VulkanOptions{})
	defer v.Close()
	g := FuseMatMulGelu(Fuse(s.g), v.CanMatMulGelu)
	n := countOps(g)[OpMatMulGelu]
	if !d.Caps().CoopMat {
		if n != 0 {
			t.Fatalf("%d gated products fused without cooperative matrices", n)
		}
		t.Skipf("%s has no cooperative matrices: the prefill rule does not fire", d.Info.Name)
	}
	if n != s.layers {
		t.Fatalf("%d gated products fused, want %d", n, s.layers)
	}
	want := runVulkan(t, d, Fuse(s.g), s.logits, prompt, VulkanOptions{})
	got := runVulkan(t, d, g, s.logits, prompt, VulkanOptions{})
	for i := range want {
		// The same f16-rounded products, summed in the same order; only
		// the GELU moves into another kernel.
		testutil.CheckClose(t, fmt.Sprintf("vulkan step %d", i), got[i], want[i], 1e-5)
	}
}

// TestMatMulGeluVulkanRefuses checks that a graph holding OpMatMulGelu of
// several tokens the executor cannot fuse fails to record instead of
// running another kernel.
func TestMatMulGeluVulkanRefuses(t *testing.T) {
	d := vktest.Device(t)
	if d.Caps().CoopMat {
		t.Skipf("%s has cooperative matrices: the fused kernel runs", d.Info.Name)
	}
	s := buildStack(t, 5, 64)
	g := FuseMatMulGelu(Fuse(s.g), func(wg, wu *kernels.Weight) bool { return true })
	p, err := NewPlan(g)
	if err != nil {
		t.Fatal(err)
	}
	env := &VulkanEnv{States: map[string]gpu.Buffer{}}
	for _, st := range g.States {
		b, err := d.Alloc(uint64(2*st.Len()), gpu.DeviceLocal)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Free(b)
		env.States[st.Name] = b
	}
	v := NewVulkan(d, VulkanOptions{})
	defer v.Close()
	err = v.Prepare(p, env)
	if err == nil || !strings.Contains(err.Error(), "not fused") {
		t.Fatalf("OpMatMulGelu of 5 tokens without cooperative matrices: %v", err)
	}
}
