// Package gemmavk embeds the engine in a Go program: load a Gemma 3 model
// once, then chat with it, complete raw prompts, or serve several
// conversations at a time from sessions that share the loaded weights.
//
//	m, err := gemmavk.Load("gemma-3-270m-it-q4_k_m.gguf", gemmavk.Options{})
//	...
//	defer m.Close()
//	chat, err := m.NewChat("You are terse.")
//	for tok, err := range chat.Stream(ctx, "Why is the sky blue?") {
//		...
//		fmt.Print(tok.Text)
//	}
//
// A Model runs on one executor: a Vulkan GPU, where its weights are uploaded
// once and shared by every session (graph.DeviceWeights), or the CPU. Each
// Session (and each Chat, which owns one) has its own KV cache. Sessions
// compute one at a time: a session holds the model's turn for one prefill
// chunk or one decode step, then passes it on, first come first served, so
// concurrent generations interleave token by token. Tokens are handed to the
// caller outside the turn: a slow reader delays only its own generation.
package gemmavk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"gemmavk/gemma3"
	"gemmavk/gpu"
	"gemmavk/graph"
	"gemmavk/kernels"
	"gemmavk/siglip"
)

// Options configure Load.
type Options struct {
	// Device picks the executor: "auto" (the default: a Vulkan GPU when
	// there is one, else the CPU; a software Vulkan device such as lavapipe
	// counts as none unless DeviceName names it), "vulkan" (a Vulkan device
	// is required) or "cpu".
	Device string
	// DeviceName is a Vulkan device index or part of its name (empty: the
	// GEMMAVK_DEVICE variable, else the first discrete GPU).
	DeviceName string
	Ctx        int // context of each session in tokens (0: min(4096, trained length))
	Chunk      int // prefill chunk in tokens (0: 256 on the CPU, 512 on a GPU)
	Threads    int // CPU threads (0: one per core)
	// MMProj is a llama.cpp mmproj GGUF holding the vision tower to pair
	// with a GGUF text model (see OpenVision). An HF checkpoint directory
	// whose config.json has a vision_config brings its own tower without
	// it. With a tower, Vision is true and chats may hold images.
	MMProj string
	// Logger receives diagnostics (nil: none).
	Logger *slog.Logger
	// Progress, when set, is told how loading goes: Stage "load" (reading
	// the model file), then on a GPU "upload" (weights to device memory,
	// Done and Total in bytes; the last report has Done == Total).
	Progress func(Progress)
}

// Progress reports one step of loading.
type Progress struct {
	Stage       string // "load" or "upload"
	Done, Total int64  // bytes (or 0 and 1, 1 and 1 for a step without a size)
}

// Model is a loaded model on its executor, ready to open sessions.
type Model struct {
	g       *gemma3.Model
	ownsG   bool
	opt     Options
	dev     *gpu.Device
	weights *graph.DeviceWeights
	note    string
	turn    turnLock
	chunk   int

	vis       *siglip.Model   // the vision tower, nil without one
	visSource string          // where it came from
	enc       *siglip.Encoder // made at the first image; guarded by turn

	mu    sync.Mutex
	spare *Session // the session Load prepared, for the first NewSession
	pool  *Pool    // for Complete, made on first use
}

// Info describes where a model runs.
type Info struct {
	Backend     string // "cpu" or "vulkan"
	Device      string // the Vulkan device's name, or "CPU"
	Note        string // why the CPU runs under Device "auto", if it does
	Layers      int
	Vocab       int
	WeightBytes int64 // in the file's encoding
	Ctx         int   // context of each session
	Vision      bool  // whether images are accepted (see ErrNoVision)
}

// Load reads a model (a GGUF file, or a Hugging Face checkpoint directory)
// and its vision tower when it has one (Options.MMProj, or a multimodal
// checkpoint directory's own; see OpenVision), and settles its executor:
// on a GPU it uploads the weights and records the decode step now, so that
// a model that does not fit fails here (the vision encoder is made on the
// same executor at the first image). Under
// Device "auto" a weight encoding the GPU shaders do not decode falls back
// to the CPU (Info.Note says so).
func Load(path string, opt Options) (*Model, error) {
	progress(opt, "load", 0, 1)
	g, err := gemma3.Load(path)
	if err != nil {
		return nil, err
	}
	v, src, err := OpenVision(g, path, opt.MMProj)
	if err != nil {
		g.Close()
		return nil, fmt.Errorf("gemmavk: vision tower: %w", err)
	}
	progress(opt, "load", 1, 1)
	m, err := open(g, opt, v, src)
	if err != nil {
		g.Close()
		return nil, err
	}
	m.ownsG = true
	return m, nil
}

// FromModel wraps a model loaded (or built) with package gemma3, as Load
// does after reading the file; its vision tower can only come from
// Options.MMProj. Close leaves g open.
func FromModel(g *gemma3.Model, opt Options) (*Model, error) {
	v, src, err := OpenVision(g, "", opt.MMProj)
	if err != nil {
		return nil, fmt.Errorf("gemmavk: vision tower: %w", err)
	}
	return open(g, opt, v, src)
}

func progress(opt Options, stage string, done, total int64) {
	if opt.Progress != nil {
		opt.Progress(Progress{Stage: stage, Done: done, Total: total})
	}
}

// open settles the executor of g, with its vision tower v (from src; nil:
// none), which the model then owns.
func open(g *gemma3.Model, opt Options, v *siglip.Model, src string) (*Model, error) {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Device == "" {
		opt.Device = "auto"
	}
	m := &Model{g: g, opt: opt, vis: v, visSource: src}
	d, note, err := OpenDevice(opt.Device, opt.DeviceName)
	if err != nil {
		m.closeVision()
		return nil, err
	}
	m.note = note
	if d != nil {
		m.setDevice(d)
	}
	m.chunk = m.defaultChunk()
	s, err := m.newSession()
	if err == nil {
		// Record the decode step now: weights upload once, and a model too
		// big for the device fails here rather than at the first request.
		err = s.g.Prepare(1)
	}
	if err != nil && d != nil && opt.Device == "auto" && errors.Is(err, kernels.ErrNoGPUDecoder) {
		// A weight encoding the shaders do not decode: the CPU can.
		if s != nil {
			s.g.Close()
		}
		m.closeDevice()
		m.note = fmt.Sprintf("%v; using the CPU executor", err)
		m.chunk = m.defaultChunk()
		s, err = m.newSession()
	}
	if err != nil {
		if s != nil {
			s.g.Close()
		}
		m.closeVision()
		m.closeDevice()
		return nil, err
	}
	if m.weights != nil {
		n := int64(m.weights.Bytes())
		progress(opt, "upload", n, n)
	}
	m.spare = s
	return m, nil
}

func (m *Model) setDevice(d *gpu.Device) {
	m.dev, m.weights = d, graph.NewDeviceWeights(d)
	total := uploadBytes(m.g)
	m.weights.OnUpload = func(n uint64) { progress(m.opt, "upload", min(int64(n), total-1), total) }
}

// uploadBytes is what the GPU executor uploads for g: the matrices and the
// norm gains.
func uploadBytes(g *gemma3.Model) int64 {
	w := g.Weights
	n := g.WeightBytes() + 4*int64(len(w.FinalNorm))
	for _, l := range w.Layers {
		for _, v := range [][]float32{l.InputNorm, l.QNorm, l.KNorm, l.PostAttnNorm, l.PreFFNorm, l.PostFFNorm} {
			n += 4 * int64(len(v))
		}
	}
	return n
}

func (m *Model) closeDevice() {
	if m.dev == nil {
		return
	}
	m.weights.Close()
	m.dev.Close()
	m.dev, m.weights = nil, nil
}

func (m *Model) defaultChunk() int {
	switch {
	case m.opt.Chunk > 0:
		return m.opt.Chunk
	case m.dev != nil:
		return 512 // GPU prefill: larger products keep the GEMM busy
	}
	return 256
}

// OpenDevice settles an executor choice: for "auto" it looks for a Vulkan
// GPU and returns nil (the CPU) with a one-line note when there is none or
// only a software one (unless name picks it); for "vulkan" a missing device
// is an error; "cpu" returns nil. name is a device index or part of its
// name (empty: GEMMAVK_DEVICE, else the first discrete GPU).
func OpenDevice(backend, name string) (d *gpu.Device, note string, err error) {
	switch backend {
	case "cpu":
		return nil, "", nil
	case "auto", "vulkan", "":
	default:
		return nil, "", fmt.Errorf("gemmavk: device %q: want auto, vulkan or cpu", backend)
	}
	d, err = gpu.Open(gpu.Options{Select: name})
	if err == nil {
		if backend != "vulkan" && d.Info.Type == gpu.TypeCPU && name == "" {
			// A software rasterizer (lavapipe) runs the same math on the
			// same cores, several times slower than the CPU executor.
			note = fmt.Sprintf("the only Vulkan device is %s, a software one; using the CPU executor (--backend vulkan uses it anyway)", d.Info.Name)
			d.Close()
			return nil, note, nil
		}
		return d, "", nil
	}
	if backend == "vulkan" {
		return nil, "", fmt.Errorf("--backend vulkan: %w", err)
	}
	if errors.Is(err, gpu.ErrNoDevice) {
		return nil, fmt.Sprintf("%v; using the CPU executor", err), nil
	}
	return nil, fmt.Sprintf("Vulkan: %v; using the CPU executor", err), nil
}

// Gemma returns the underlying gemma3 model (configuration, weights,
// tokenizer).
func (m *Model) Gemma() *gemma3.Model { return m.g }

// Device returns the Vulkan device the model runs on, or nil on the CPU.
func (m *Model) Device() *gpu.Device { return m.dev }

// Info describes where the model runs.
func (m *Model) Info() Info {
	c := &m.g.Config
	in := Info{Backend: "cpu", Device: "CPU", Note: m.note, Layers: c.Layers, Vocab: c.Vocab,
		WeightBytes: m.g.WeightBytes(), Ctx: m.ctx(), Vision: m.Vision()}
	if m.dev != nil {
		in.Backend, in.Device = "vulkan", m.dev.Info.Name
	}
	return in
}

func (m *Model) ctx() int {
	if m.opt.Ctx > 0 {
		return m.opt.Ctx
	}
	return min(4096, m.g.Config.MaxPositions)
}

// Close releases the sessions kept by the model (Complete's), the uploaded
// weights and the device, and the model file when Load opened it. Sessions
// and chats opened by the caller must be closed first.
func (m *Model) Close() error {
	m.mu.Lock()
	if m.pool != nil {
		m.pool.Close()
		m.pool = nil
	}
	if m.spare != nil {
		m.spare.g.Close()
		m.spare = nil
	}
	m.mu.Unlock()
	m.closeVision() // its encoder before the device
	m.closeDevice()
	if m.ownsG {
		return m.g.Close()
	}
	return nil
}

// newSession opens a gemma3 session on the model's executor.
func (m *Model) newSession() (*Session, error) {
	// A session allocates its cache on the device, which serves one
	// goroutine at a time: wait for the turn.
	m.turn.lock(context.Background())
	defer m.turn.unlock()
	g, err := m.g.NewSession(gemma3.Options{Ctx: m.opt.Ctx, Chunk: m.chunk, Threads: m.opt.Threads,
		Logger: m.opt.Logger, Device: m.dev, Weights: m.weights})
	if err != nil {
		return nil, err
	}
	return &Session{m: m, g: g}, nil
}

// NewSession opens a session: an empty KV cache of Options.Ctx tokens (on a
// GPU, in device memory) over the model's shared weights.
func (m *Model) NewSession() (*Session, error) {
	m.mu.Lock()
	s := m.spare
	m.spare = nil
	m.mu.Unlock()
	if s != nil {
		return s, nil
	}
	return m.newSession()
}
