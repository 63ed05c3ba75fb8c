package graph

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"

	"gemmavk/gpu"
)

// Vulkan runs plans on a GPU. Weights are uploaded once, on first use, and
// shared by every plan; each plan gets its activation arena (from the
// memory plan), its per-step input buffers, and one command buffer recorded
// when the plan first runs and replayed on every later run: only the
// contents of the input buffers change between runs, so a decode step is
// recorded once for a whole generation.
//
// State tensors (KV cache halves) are device buffers the caller owns and
// binds by name (VulkanEnv); attention reads them as f16 unless
// VulkanOptions.CacheF32.
type Vulkan struct {
	dev   *gpu.Device
	opt   VulkanOptions
	store *DeviceWeights // opt.Weights, or one of its own
	owns  bool           // the store is the executor's own
	plans map[*Plan]*vkPlan
	last  *vkPlan
}

// VulkanOptions configure a Vulkan executor.
type VulkanOptions struct {
	CacheF32 bool // KV cache states hold f32 instead of f16
	// ExactProducts keeps every matrix product's activations in f32. By
	// default, as llama.cpp's GPU backends do:
	//   - a one-token product with a Q4_0, Q5_0, Q8_0, Q4_K or Q6_K weight
	//     rounds its input to 8 bits per value in blocks of 32
	//     (kernels.QuantizeQ8), where the device has integer dot products;
	//   - a product of several tokens with a weight other than F32 runs on
	//     cooperative matrices (tensor cores), where the device has them,
	//     with its input and the decoded weight rounded to f16
	//     (kernels.MatMulCoopVk);
	//   - attention of several tokens runs on cooperative matrices too,
	//     where the device has them, with the queries (times the scale),
	//     keys, values and softmax probabilities rounded to f16 and f32
	//     sums (kernels.AttentionCoopVk).
	// All are several times faster.
	ExactProducts bool
	Logger        *slog.Logger
	// OnUpload, when set, is called after each weight upload with the
	// bytes it copied, so a caller can show the upload's progress.
	OnUpload func(bytes int64)
	// Weights shares uploaded weights with other executors on the same
	// device (nil: the executor uploads its own and frees them on Close).
	Weights *DeviceWeights

	// handoffRows overrides q8HandoffRows (tests: the small graphs' gated
	// products are far shorter than the real ones).
	handoffRows int
}

// VulkanEnv binds a plan's state tensors to device buffers by name, and
// holds the values of its f32 inputs for the next run.
type VulkanEnv struct {
	States map[string]gpu.Buffer
	Floats map[string][]float32
}

// NewVulkan returns an executor on d.
func NewVulkan(d *gpu.Device, opt VulkanOptions) *Vulkan {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	v := &Vulkan{dev: d, opt: opt, store: opt.Weights, plans: map[*Plan]*vkPlan{}}
	if v.store == nil {
		v.store, v.owns = NewDeviceWeights(d), true
	}
	return v
}

// Device returns the executor's device.
func (v *Vulkan) Device() *gpu.Device { return v.dev }

// vkPlan is a plan made ready on the device.
type vkPlan struct {
	plan                         *Plan
	arena                        gpu.Buffer
	inputs                       map[string]gpu.Buffer // host-visible i32 buffers
	scratch                      []gpu.Buffer
	splitScratch                 gpu.Buffer // shared by split attention (recorder.splitScratch)
	arrivals                     gpu.Buffer // shared arrival counters (recorder.arrivals)
	bound                        []*gpu.Bound
	cmds                         []command
	rec                          *gpu.Recording
	states                       map[string]gpu.Buffer
	dispatches, barriers, copies int
}

// PlanStats counts what one run of a prepared plan records.
type PlanStats struct {
	Dispatches, Barriers, Copies int
	ArenaBytes                   uint64
	// SplitBytes is the scratch that split passes (split-K attention,
	// products cut into runs of K) keep their partial results in: 0 when
	// the plan splits nothing.
	SplitBytes uint64
}

// Stats returns the counts of a prepared plan.
func (v *Vulkan) Stats(p *Plan) (PlanStats, bool) {
	vp, ok := v.plans[p]
	if !ok {
		return PlanStats{}, false
	}
	return PlanStats{vp.dispatches, vp.barriers, vp.copies, vp.arena.Size, vp.splitScratch.Size}, true
}

// Prepare uploads the weights p uses, allocates its arena and records its
// command buffer, if that was not done yet. Run prepares on first use.
func (v *Vulkan) Prepare(p *Plan, env *VulkanEnv) error {
	if _, ok := v.plans[p]; ok {
		return nil
	}
	vp, err := v.prepare(p, env)
	if err != nil {
		return fmt.Errorf("graph: vulkan: %w", err)
	}
	v.plans[p] = vp
	return nil
}

// Run writes the inputs and runs p, preparing it first if needed. env must
// bind the same state buffers on every run of a plan.
func (v *Vulkan) Run(p *Plan, inputs map[string][]int32, env *VulkanEnv) error {
	if err := v.Prepare(p, env); err != nil {
		return err
	}
	vp := v.plans[p]
	for name, b := range vp.states {
		if env == nil || env.States[name] != b {
			return fmt.Errorf("graph: vulkan: state %s is bound to another buffer than when the plan was recorded", name)
		}
	}
	for _, t := range p.Graph.Inputs {
		dst := vp.inputs[t.Name].Bytes()
		if t.DType == F32 {
			var val []float32
			if env != nil {
				val = env.Floats[t.Name]
			}
			if len(val) != t.Len() {
				return fmt.Errorf("graph: vulkan: input %s: got %d values, want %d", t.Name, len(val), t.Len())
			}
			for i, x := range val {
				binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(x))
			}
			continue
		}
		val, ok := inputs[t.Name]
		if !ok || len(val) != t.Len() {
			return fmt.Errorf("graph: vulkan: input %s: got %d values, want %d", t.Name, len(val), t.Len())
		}
		for i, x := range val {
			binary.LittleEndian.PutUint32(dst[4*i:], uint32(x))
		}
	}
	if err := vp.rec.Run(); err != nil {
		return fmt.Errorf("graph: vulkan: %w", err)
	}
	v.last = vp
	return nil
}

// Read copies an output tensor of the last run back from the device.
func (v *Vulkan) Read(t *Tensor) ([]float32, error) {
	vp := v.last
	if vp == nil || t.ID >= len(vp.plan.Offset) || vp.plan.Offset[t.ID] < 0 || vp.plan.Graph.Tensors[t.ID] != t || !t.Output {
		return nil, fmt.Errorf("graph: vulkan: %s is not an output of the last plan run", t.Name)
	}
	buf := make([]byte, 4*t.Len())
	if err := v.dev.Download(buf, v.act(vp, t)); err != nil {
		return nil, fmt.Errorf("graph: vulkan: read %s: %w", t.Name, err)
	}
	out := make([]float32, t.Len())
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
	}
	return out, nil
}

// Release frees what p holds on the device (its arena, inputs and
// recording); weights stay for other plans.
func (v *Vulkan) Release(p *Plan) {
	vp, ok := v.plans[p]
	if !ok {
		return
	}
	vp.rec.Close()
	for _, b := range vp.bound {
		b.Close()
	}
	for _, b := range vp.inputs {
		v.dev.Free(b)
	}
	for _, b := range vp.scratch {
		v.dev.Free(b)
	}
	v.dev.Free(vp.arena)
	delete(v.plans, p)
	if v.last == vp {
		v.last = nil
	}
}

// Close releases every plan and the uploaded weights, unless they are
// shared (VulkanOptions.Weights). The device stays open.
func (v *Vulkan) Close() {
	for p := range v.plans {
		v.Release(p)
	}
	if v.owns {
		v.store.Close()
	}
}

// WeightBytes is the device memory the uploaded weights take (all of the
// shared store's, when there is one).
func (v *Vulkan) WeightBytes() uint64 { return v.store.Bytes() }

// act is the arena view of activation t.
func (v *Vulkan) act(vp *vkPlan, t *Tensor) gpu.Buffer {
	return vp.arena.Slice(uint64(4*vp.plan.Offset[t.ID]), uint64(4*t.Len()))
}

// weight uploads (once) and returns the buffer of a weight tensor.
func (v *Vulkan) weight(t *Tensor) (gpu.Buffer, error) { return v.store.weight(t, v.opt.OnUpload) }

// invFreq uploads (once) RoPE's inverse frequencies for one geometry.
func (v *Vulkan) invFreq(r RopeAttr) (gpu.Buffer, error) { return v.store.invFreq(r) }
