package siglip

import (
	"errors"
	"fmt"
	"log/slog"
	"math"

	"gemmavk/gpu"
	"gemmavk/graph"
)

// Forward is the encoder and projector as a graph over one image, with
// handles to its input and outputs.
type Forward struct {
	Graph *graph.Graph
	// Patches is the state the caller fills with the unfolded image
	// [Patches, PatchLen] (Unfold) before each run.
	Patches *graph.Tensor
	// Hidden is the encoder output after post_layernorm [Patches, Hv]
	// (HF's last_hidden_state, "vision_last_hidden").
	Hidden *graph.Tensor
	// Features is the projector output [TokensPerImage, TextHidden].
	Features *graph.Tensor
}

// patchesState names the Forward graph's input state.
const patchesState = "patches"

// Build describes the encoder and projector (GEMMA3.md §6.1, §6.2).
func (m *Model) Build() (*Forward, error) {
	c, w := &m.Config, m.Weights
	b := graph.NewBuilder()
	eps := float32(c.LayerNormEps)
	f := &Forward{}
	// Patch embedding: the convolution as a product over unfolded patches.
	f.Patches = b.State(patchesState, c.Patches(), c.PatchLen())
	x := b.Linear(f.Patches, b.Matrix(w.PatchEmbed), b.Vector("patch_embd.bias", w.PatchBias)) // [N, Hv]
	x = b.Add(x, b.Vector("position_embd", w.Positions))
	for i := range w.Layers {
		x = m.layer(b, x, i, eps)
	}
	f.Hidden = b.Output(b.LayerNorm(x, b.Vector("post_ln.weight", w.PostLNW), b.Vector("post_ln.bias", w.PostLNB), eps))
	// Projector: pool the patch grid, Gemma RMSNorm, project to the text width.
	p := b.AvgPool(f.Hidden, c.PatchesPerSide(), c.PoolKernel())       // [tokens, Hv]
	p = b.RMSNorm(p, b.Vector("mm.soft_emb_norm", w.SoftEmbNorm), eps) // (1 + w) in the gain
	f.Features = b.Output(b.MatMul(p, b.Matrix(w.Projection)))         // [tokens, H]
	g, err := b.Build()
	if err != nil {
		return nil, fmt.Errorf("siglip: %w", err)
	}
	f.Graph = g
	return f, nil
}

// layer is one pre-LN encoder layer: x [N, Hv] -> [N, Hv].
func (m *Model) layer(b *graph.Builder, x *graph.Tensor, i int, eps float32) *graph.Tensor {
	c, w := &m.Config, &m.Weights.Layers[i]
	vec := func(name string, v []float32) *graph.Tensor { return b.Vector(fmt.Sprintf("v.blk.%d.%s", i, name), v) }
	h := b.LayerNorm(x, vec("ln1.weight", w.LN1W), vec("ln1.bias", w.LN1B), eps)
	q := b.Linear(h, b.Matrix(w.QProj), vec("attn_q.bias", w.QBias))
	k := b.Linear(h, b.Matrix(w.KProj), vec("attn_k.bias", w.KBias))
	v := b.Linear(h, b.Matrix(w.VProj), vec("attn_v.bias", w.VBias))
	a := b.AttentionFull(q, k, v, graph.FullAttnAttr{Heads: c.Heads, HeadDim: c.HeadDim(),
		Scale: float32(1 / math.Sqrt(float64(c.HeadDim())))})
	x = b.Add(x, b.Linear(a, b.Matrix(w.OutProj), vec("attn_out.bias", w.OutBias)))
	h = b.LayerNorm(x, vec("ln2.weight", w.LN2W), vec("ln2.bias", w.LN2B), eps)
	h = b.Gelu(b.Linear(h, b.Matrix(w.FC1), vec("ffn_up.bias", w.FC1Bias))) // [N, I]
	return b.Add(x, b.Linear(h, b.Matrix(w.FC2), vec("ffn_down.bias", w.FC2Bias)))
}

// Unfold writes the patches of pixels ([C, S, S], row-major planes) as the
// rows of dst ([Patches, C*P*P]): patch n = row*side + col, its values in
// (channel, ky, kx) order, the order of the convolution weight's columns.
func (c *Config) Unfold(dst, pixels []float32) {
	P, S, side := c.PatchSize, c.ImageSize, c.PatchesPerSide()
	i := 0
	for pr := 0; pr < side; pr++ {
		for pc := 0; pc < side; pc++ {
			for ch := 0; ch < c.Channels; ch++ {
				for ky := 0; ky < P; ky++ {
					src := pixels[(ch*S+pr*P+ky)*S+pc*P:]
					i += copy(dst[i:i+P], src[:P])
				}
			}
		}
	}
}

// EncoderOptions configure an Encoder.
type EncoderOptions struct {
	Device  *gpu.Device // run on this device; nil: the CPU executor
	Threads int         // CPU executor goroutines (0: one per core)
	Logger  *slog.Logger
}

// Encoder turns images into image-token features on one executor. It keeps
// the plan, the activation memory and (on a device) the uploaded weights
// and recorded commands between images. Not safe for concurrent use.
type Encoder struct {
	m       *Model
	fwd     *Forward
	plan    *graph.Plan
	patches []float32
	cpu     *graph.CPU
	vk      *graph.Vulkan
	vkEnv   *graph.VulkanEnv
	dev     *gpu.Device
	ran     bool
}

// NewEncoder builds and plans the graph for an executor: the Vulkan one on
// opt.Device, else the CPU one.
func (m *Model) NewEncoder(opt EncoderOptions) (*Encoder, error) {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	fwd, err := m.Build()
	if err != nil {
		return nil, err
	}
	plan, err := graph.NewPlan(fwd.Graph)
	if err != nil {
		return nil, fmt.Errorf("siglip: %w", err)
	}
	e := &Encoder{m: m, fwd: fwd, plan: plan, patches: make([]float32, fwd.Patches.Len())}
	if opt.Device == nil {
		e.cpu = graph.NewCPU(opt.Threads)
		return e, nil
	}
	d := opt.Device
	need := m.WeightBytes() + 4*int64(plan.ArenaLen+len(e.patches))
	if have := int64(d.Caps().DeviceLocalBytes); have > 0 && need > have {
		return nil, fmt.Errorf("siglip: the encoder does not fit %s: %d MiB of weights and activations > %d MiB of device memory: %w",
			d.Info.Name, need>>20, have>>20, gpu.ErrOutOfMemory)
	}
	buf, err := d.Alloc(uint64(4*len(e.patches)), gpu.DeviceLocal)
	if err != nil {
		return nil, fmt.Errorf("siglip: patch buffer: %w", err)
	}
	e.dev = d
	e.vk = graph.NewVulkan(d, graph.VulkanOptions{Logger: opt.Logger})
	e.vkEnv = &graph.VulkanEnv{States: map[string]gpu.Buffer{patchesState: buf}}
	if err := e.vk.Prepare(plan, e.vkEnv); err != nil {
		e.Close()
		return nil, fmt.Errorf("siglip: %w", err)
	}
	opt.Logger.Debug("siglip encoder ready", "device", d.Info.Name, "weights_MiB", e.vk.WeightBytes()>>20,
		"arena_MiB", 4*plan.ArenaLen>>20)
	return e, nil
}

// Encode runs one image: pixels [C, S, S], normalized (GEMMA3.md §7), in;
// features [TokensPerImage, TextHidden] out (a new slice).
func (e *Encoder) Encode(pixels []float32) ([]float32, error) {
	c := &e.m.Config
	if e.cpu == nil && e.vk == nil {
		return nil, errors.New("siglip: encode: the encoder is closed")
	}
	if len(pixels) != c.PixelLen() {
		return nil, fmt.Errorf("siglip: encode: %d pixel values, want %d x %d x %d = %d",
			len(pixels), c.Channels, c.ImageSize, c.ImageSize, c.PixelLen())
	}
	for i, v := range pixels {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("siglip: encode: pixel value %d is %g", i, v)
		}
	}
	c.Unfold(e.patches, pixels)
	e.ran = false
	if e.cpu != nil {
		if err := e.cpu.Run(e.plan, &graph.Env{States: map[string][]float32{patchesState: e.patches}}); err != nil {
			return nil, fmt.Errorf("siglip: %w", err)
		}
	} else {
		if err := e.dev.Upload(e.vkEnv.States[patchesState], f32Bytes(e.patches)); err != nil {
			return nil, fmt.Errorf("siglip: upload pixels: %w", err)
		}
		if err := e.vk.Run(e.plan, nil, e.vkEnv); err != nil {
			return nil, fmt.Errorf("siglip: %w", err)
		}
	}
	e.ran = true
	return e.read(e.fwd.Features)
}

// LastHidden returns the encoder output of the last Encode, after
// post_layernorm: [Patches, Hv] (a new slice).
func (e *Encoder) LastHidden() ([]float32, error) { return e.read(e.fwd.Hidden) }

func (e *Encoder) read(t *graph.Tensor) ([]float32, error) {
	if !e.ran {
		return nil, fmt.Errorf("siglip: %s: no image encoded", t.Name)
	}
	var v []float32
	var err error
	if e.cpu != nil {
		v, err = e.cpu.Read(t)
		v = append([]float32(nil), v...)
	} else {
		v, err = e.vk.Read(t)
	}
	if err != nil {
		return nil, fmt.Errorf("siglip: %w", err)
	}
	return v, nil
}

// Close releases what the encoder holds on its device. The model stays
// open.
func (e *Encoder) Close() {
	e.cpu = nil
	if e.vk != nil {
		e.vk.Close()
		e.vk = nil
	}
	if e.vkEnv != nil {
		for _, b := range e.vkEnv.States {
			e.dev.Free(b)
		}
		e.vkEnv = nil
	}
	e.ran = false
}
