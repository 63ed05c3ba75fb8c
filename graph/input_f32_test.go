package graph

import (
	"strings"
	"testing"

	"gemmavk/internal/testutil"
	"gemmavk/internal/vktest"
)

// TestInputF32 binds an f32 input by name on both executors: y = x + x is
// exact, and a missing or short input is an error naming it.
func TestInputF32(t *testing.T) {
	b := NewBuilder()
	x := b.InputF32("x", 3, 4)
	y := b.Output(b.Add(x, x))
	g, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(g)
	if err != nil {
		t.Fatal(err)
	}
	xv := []float32{1, -2, 3.5, 0, 1e-3, 7, -8, 9, 0.25, 11, 12, -13}
	want := make([]float32, len(xv))
	for i, v := range xv {
		want[i] = v + v
	}
	bad := []map[string][]float32{nil, {"x": xv[:5]}}
	t.Run("cpu", func(t *testing.T) {
		c := NewCPU(2)
		if err := c.Run(p, &Env{Floats: map[string][]float32{"x": xv}}); err != nil {
			t.Fatal(err)
		}
		got, err := c.Read(y)
		if err != nil {
			t.Fatal(err)
		}
		testutil.CheckClose(t, "y", got, want, 0)
		for i, f := range bad {
			if err := c.Run(p, &Env{Floats: f}); err == nil || !strings.Contains(err.Error(), "input x") {
				t.Errorf("bad input %d: error %v", i, err)
			}
		}
	})
	t.Run("vulkan", func(t *testing.T) {
		v := NewVulkan(vktest.Device(t), VulkanOptions{})
		defer v.Close()
		if err := v.Run(p, nil, &VulkanEnv{Floats: map[string][]float32{"x": xv}}); err != nil {
			t.Fatal(err)
		}
		got, err := v.Read(y)
		if err != nil {
			t.Fatal(err)
		}
		testutil.CheckClose(t, "y", got, want, 0)
		for i, f := range bad {
			err := v.Run(p, nil, &VulkanEnv{Floats: f})
			if err == nil || !strings.Contains(err.Error(), "input x") {
				t.Errorf("bad input %d: error %v", i, err)
			}
		}
		if err := v.Run(p, nil, nil); err == nil {
			t.Error("no env: no error")
		}
	})
}
