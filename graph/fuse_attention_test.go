package graph

import (
	"fmt"
	"testing"

	"gemmavk/internal/testutil"
	"gemmavk/internal/vktest"
)

// decodeSteps returns n one-token steps of ids.
func decodeSteps(n int) [][]int32 {
	steps := make([][]int32, n)
	for i := range steps {
		steps[i] = []int32{int32(1 + (7*i)%49)}
	}
	return steps
}

// TestFuseAttentionNormRopeRules checks that every one-token attention
// takes its q and k norms, and none of a chunk's or where the executor
// refuses.
func TestFuseAttentionNormRopeRules(t *testing.T) {
	all := func(AttnNormRopeAttr) bool { return true }
	none := func(AttnNormRopeAttr) bool { return false }
	for _, c := range []struct {
		T    int
		can  func(AttnNormRopeAttr) bool
		want int
	}{
		{1, all, 3}, {1, none, 0}, {5, all, 0},
	} {
		t.Run(fmt.Sprintf("T=%d/fused=%d", c.T, c.want), func(t *testing.T) {
			s := buildStackWindow(t, c.T, 64, 16)
			g := Fuse(s.g)
			ops := countOps(FuseAttentionNormRope(g, c.can))
			before := countOps(g)
			if ops[OpAttentionNormRope] != c.want || ops[OpAttention] != before[OpAttention]-c.want ||
				ops[OpRMSNormRoPE] != before[OpRMSNormRoPE]-c.want ||
				ops[OpRMSNormRoPECache] != before[OpRMSNormRoPECache]-c.want {
				t.Errorf("ops %v, from %v: want %d fused", ops, before, c.want)
			}
		})
	}
}

// TestFuseAttentionNormRopeSameResults runs decode steps past the sliding
// window (80, so that the plan's sliding attention runs split-K, the ring
// of 80 wrapping) through the fused and the plain graph: bit-identical on
// the CPU (the fused op calls the plain references in order); on Vulkan,
// with every layer fused, within f16-cache tolerance of the CPU (f32
// products, ExactProducts) and close to the unfused Vulkan graph.
func TestFuseAttentionNormRopeSameResults(t *testing.T) {
	s := buildStackWindow(t, 1, 160, 80)
	steps := decodeSteps(96)
	all := func(AttnNormRopeAttr) bool { return true }
	plain := runCPU(t, s.g, s.logits, steps)
	fused := runCPU(t, FuseAttentionNormRope(Fuse(s.g), all), s.logits, steps)
	for i := range plain {
		testutil.CheckClose(t, fmt.Sprintf("cpu step %d", i), fused[i], plain[i], 0)
	}
	d := vktest.Device(t)
	for _, f32 := range []bool{false, true} {
		t.Run(fmt.Sprintf("f32cache=%v", f32), func(t *testing.T) {
			opt := VulkanOptions{ExactProducts: true, CacheF32: f32}
			v := NewVulkan(d, opt)
			g := FuseAttentionNormRope(Fuse(s.g), v.CanAttentionNormRope)
			v.Close()
			if n := countOps(g)[OpAttentionNormRope]; n != s.layers {
				t.Fatalf("%d of %d layers fused on this device", n, s.layers)
			}
			got := runVulkan(t, d, g, s.logits, steps, opt)
			ref := runVulkan(t, d, Fuse(s.g), s.logits, steps, opt)
			for i := range plain {
				// f16 cache: about 5e-4 relative per cached value.
				testutil.CheckClose(t, fmt.Sprintf("vulkan step %d", i), got[i], plain[i], 2e-3)
				// Against the unfused GPU graph: the norms' sums in another
				// order, a few f32 ulps, and an f16 rounding they may move.
				testutil.CheckClose(t, fmt.Sprintf("vulkan step %d vs unfused", i), got[i], ref[i], 1e-3)
			}
		})
	}
}
