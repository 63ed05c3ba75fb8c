package gemma3

import (
	"errors"
	"fmt"

	"gemmavk/gpu"
	"gemmavk/graph"
	"gemmavk/kernels"
)

// backend runs a session's compiled steps and owns its KV cache.
type backend interface {
	run(c *compiled, ids, pos []int32) error
	// runImages runs a step built with StepOptions.Images.
	runImages(c *compiled, pos, spans []int32, embeds []float32) error
	read(t *graph.Tensor) ([]float32, error)
	cacheBytes() int64
	close()
}

// cpuBackend runs on the CPU executor with an f32 cache in host memory.
type cpuBackend struct {
	exec  *graph.CPU
	cache *Cache
}

func (b *cpuBackend) run(c *compiled, ids, pos []int32) error {
	env := &graph.Env{Inputs: map[string][]int32{"ids": ids, "pos": pos}, States: b.cache.states()}
	return b.exec.Run(c.plan, env)
}

func (b *cpuBackend) runImages(c *compiled, pos, spans []int32, embeds []float32) error {
	env := &graph.Env{Inputs: map[string][]int32{"pos": pos, "spans": spans},
		Floats: map[string][]float32{"embeds": embeds}, States: b.cache.states()}
	return b.exec.Run(c.plan, env)
}

func (b *cpuBackend) read(t *graph.Tensor) ([]float32, error) {
	v, err := b.exec.Read(t)
	return append([]float32(nil), v...), err
}

func (b *cpuBackend) cacheBytes() int64 { return b.cache.Bytes() }
func (b *cpuBackend) close()            {}

// vkBackend runs on the Vulkan executor with the KV cache in device memory:
// f16 by default (Options.CacheF32 for f32), sliding layers as rings of W
// slots, global layers sized to the context.
type vkBackend struct {
	// loop is the decode step recorded with GPU token selection, made on
	// first use for the sampling parameters it was made with.
	loop       *graph.DecodeLoop
	loopPlan   *graph.Plan
	loopParams kernels.SampleParams
	loopVocab  int

	exec   *graph.Vulkan
	env    *graph.VulkanEnv
	bytes  int64
	plans  []*graph.Plan
	device *gpu.Device
}

// newVkBackend allocates the cache on d and checks up front that weights
// and cache fit the device.
func newVkBackend(m *Model, d *gpu.Device, slots []int, opt Options) (*vkBackend, error) {
	c := &m.Config
	elem := int64(2)
	if opt.CacheF32 {
		elem = 4
	}
	width := int64(c.KVHeads * c.HeadDim)
	var cache int64
	for _, s := range slots {
		cache += 2 * int64(s) * width * elem
	}
	weights := m.WeightBytes()
	if have := int64(d.Caps().DeviceLocalBytes); have > 0 && weights+cache > have {
		return nil, fmt.Errorf("gemma3: the model does not fit %s: %s of weights + %s of KV cache for %d tokens > %s of device memory: %w",
			d.Info.Name, human(weights), human(cache), opt.Ctx, human(have), gpu.ErrOutOfMemory)
	}
	b := &vkBackend{
		exec: graph.NewVulkan(d, graph.VulkanOptions{CacheF32: opt.CacheF32, ExactProducts: opt.ExactProducts, Logger: opt.Logger,
			OnUpload: opt.onUpload, Weights: opt.Weights}),
		env:    &graph.VulkanEnv{States: map[string]gpu.Buffer{}},
		bytes:  cache,
		device: d,
	}
	for i, s := range slots {
		kn, vn := cacheNames(i)
		for _, name := range []string{kn, vn} {
			buf, err := d.Alloc(uint64(int64(s)*width*elem), gpu.DeviceLocal)
			if err != nil {
				b.close()
				return nil, fmt.Errorf("gemma3: KV cache (%s for %d tokens): %w", human(cache), opt.Ctx, err)
			}
			b.env.States[name] = buf
		}
	}
	return b, nil
}

func (b *vkBackend) run(c *compiled, ids, pos []int32) error {
	return b.wrapOOM(b.exec.Run(c.plan, map[string][]int32{"ids": ids, "pos": pos}, b.env))
}

// wrapOOM adds the weight and cache sizes to an out-of-memory error.
func (b *vkBackend) wrapOOM(err error) error {
	if errors.Is(err, gpu.ErrOutOfMemory) {
		return fmt.Errorf("gemma3: %w (weights %s, KV cache %s)", err, human(int64(b.exec.WeightBytes())), human(b.bytes))
	}
	return err
}

func (b *vkBackend) runImages(c *compiled, pos, spans []int32, embeds []float32) error {
	b.env.Floats = map[string][]float32{"embeds": embeds}
	defer func() { b.env.Floats = nil }()
	return b.wrapOOM(b.exec.Run(c.plan, map[string][]int32{"pos": pos, "spans": spans}, b.env))
}

func (b *vkBackend) read(t *graph.Tensor) ([]float32, error) { return b.exec.Read(t) }
func (b *vkBackend) cacheBytes() int64                       { return b.bytes }

func (b *vkBackend) close() {
	if b.loop != nil {
		b.loop.Close()
		b.loop = nil
	}
	b.exec.Close()
	for _, buf := range b.env.States {
		b.device.Free(buf)
	}
	b.env.States = map[string]gpu.Buffer{}
}

func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", n>>10)
}
