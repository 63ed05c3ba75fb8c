package gemma3

import (
	"errors"
	"fmt"
	"log/slog"

	"gemmavk/gpu"
	"gemmavk/graph"
	"gemmavk/kernels"
)

// ErrContextFull is returned (wrapped, with the numbers) when a step would
// go past the context the session was opened with. Nothing is evaluated
// and the cache is left as it was.
var ErrContextFull = errors.New("context full")

// Options configure a session.
type Options struct {
	Ctx     int // context length in tokens (0: min(4096, trained length))
	Chunk   int // prefill chunk size (0: 256 on the CPU, 512 on a GPU)
	Threads int // CPU threads (0: one per core)
	// Logger receives diagnostics such as each plan's memory (nil: none).
	Logger *slog.Logger
	// Device runs the session on a GPU through the Vulkan executor, with the
	// KV cache in device memory (nil: the CPU executor).
	Device *gpu.Device
	// CacheF32 keeps the GPU KV cache in f32 instead of f16.
	CacheF32 bool
	// ExactProducts keeps the GPU's matrix products and prefill attention
	// in f32 (see graph.VulkanOptions.ExactProducts; by default the
	// one-token products with quantized weights round activations to 8
	// bits, and prefill products and attention on tensor cores to f16).
	ExactProducts bool
	// Progress, when set, is called as weights upload to the GPU (during
	// Prepare, or the first step without it) with the bytes done and the
	// total; the last call has done == total. The CPU executor reads the
	// mapped weights in place and never calls it.
	Progress func(done, total int64)

	onUpload func(bytes int64) // set by NewSession from Progress
	// Weights, with Device, shares one upload of the weights among the
	// sessions given the same store (nil: the session uploads its own).
	Weights *graph.DeviceWeights
}

// Session is one sequence being evaluated: its KV cache, the tokens fed so
// far, and the plans compiled for each chunk shape.
type Session struct {
	m      *Model
	opt    Options
	slots  []int
	be     backend
	tokens []int
	plans  map[planKey]*compiled
	// lastLogits are the logits after the last fed token, so Generate can
	// continue a session without a new prompt.
	lastLogits []float32
	upload     *uploadMeter // nil without Options.Progress or on the CPU
}

type planKey struct {
	T   int
	opt StepOptions
}

type compiled struct {
	step *Step
	plan *graph.Plan
}

// NewSession opens a sequence with an empty cache.
func (m *Model) NewSession(opt Options) (*Session, error) {
	if opt.Ctx == 0 {
		opt.Ctx = min(4096, m.Config.MaxPositions)
	}
	if opt.Chunk <= 0 {
		opt.Chunk = 256
		if opt.Device != nil {
			opt.Chunk = 512 // GPU prefill: larger products keep the GEMM busy
		}
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Session{m: m, opt: opt, plans: map[planKey]*compiled{}}
	if opt.Device == nil {
		cache, err := m.NewCache(opt.Ctx)
		if err != nil {
			return nil, err
		}
		s.slots, s.be = cache.Slots, &cpuBackend{exec: graph.NewCPU(opt.Threads), cache: cache}
		return s, nil
	}
	slots, err := m.cacheSlots(opt.Ctx)
	if err != nil {
		return nil, err
	}
	if opt.Progress != nil {
		s.upload = &uploadMeter{total: uploadBytes(m.Weights), report: opt.Progress}
		opt.onUpload = s.upload.add
	}
	be, err := newVkBackend(m, opt.Device, slots, opt)
	if err != nil {
		return nil, err
	}
	s.slots, s.be = slots, be
	return s, nil
}

// Close releases what the session holds on a GPU (plans, uploaded weights,
// KV cache). CPU sessions hold nothing to release.
func (s *Session) Close() {
	if s.be != nil {
		s.be.close()
	}
}

// Prepare compiles (and, on a GPU, uploads weights for and records) the
// plan of a step of T tokens ahead of use, so that a generation does not
// pay for it mid-way and a model too big for the device fails early.
func (s *Session) Prepare(T int) error {
	c, err := s.compile(T, StepOptions{})
	if err != nil {
		return err
	}
	vb, ok := s.be.(*vkBackend)
	if !ok {
		return nil
	}
	err = vb.exec.Prepare(c.plan, vb.env)
	if err == nil && s.upload != nil {
		s.upload.finish()
	}
	return err
}

// uploadMeter turns the executor's per-weight upload sizes into
// Options.Progress calls.
type uploadMeter struct {
	done, total int64
	report      func(done, total int64)
}

func (u *uploadMeter) add(n int64) {
	u.done += n
	u.total = max(u.total, u.done) // a weight the estimate missed
	if u.done < u.total {
		u.report(u.done, u.total)
	}
}

// finish reports the upload complete, once, if anything was uploaded.
func (u *uploadMeter) finish() {
	if u.done > 0 && u.total > 0 {
		u.report(u.done, u.done)
		u.total = 0
	}
}

// uploadBytes estimates what the Vulkan executor uploads: every weight
// matrix and norm gain.
func uploadBytes(w *Weights) int64 {
	n := int64(4 * len(w.FinalNorm))
	for _, m := range []*kernels.Weight{w.Embed, w.Output} {
		if m != nil {
			n += m.DeviceBytes()
		}
	}
	for _, l := range w.Layers {
		for _, m := range []*kernels.Weight{l.QProj, l.KProj, l.VProj, l.OProj, l.Gate, l.Up, l.Down} {
			n += m.DeviceBytes()
		}
		for _, v := range [][]float32{l.InputNorm, l.QNorm, l.KNorm, l.PostAttnNorm, l.PreFFNorm, l.PostFFNorm} {
			n += int64(4 * len(v))
		}
	}
	return n
}

// ProfileStep times one step of T tokens on the GPU per shader variant
// (see graph.Vulkan.Profile), feeding the session's last T tokens again at
// their own positions (the cache rows they rewrite get the same values):
// T = 1 is a decode step, more a prefill chunk. False on the CPU.
func (s *Session) ProfileStep(T int) ([]graph.KernelTime, bool, error) {
	vb, ok := s.be.(*vkBackend)
	if !ok {
		return nil, false, nil
	}
	n := len(s.tokens)
	if T < 1 || T > n {
		return nil, true, fmt.Errorf("gemma3: profile: a step of %d tokens, the session holds %d", T, n)
	}
	c, err := s.compile(T, StepOptions{})
	if err != nil {
		return nil, true, err
	}
	ids := make([]int32, T)
	pos := make([]int32, T)
	for i := range ids {
		ids[i] = int32(s.tokens[n-T+i])
		pos[i] = int32(n - T + i)
	}
	k, err := vb.exec.Profile(c.plan, map[string][]int32{"ids": ids, "pos": pos}, vb.env)
	return k, true, err
}

// PlanStats reports the commands a prepared GPU step of T tokens records
// (dispatches, barriers, copies); false on the CPU or before preparing.
func (s *Session) PlanStats(T int) (graph.PlanStats, bool) {
	vb, ok := s.be.(*vkBackend)
	c, found := s.plans[planKey{T, StepOptions{}}]
	if !ok || !found {
		return graph.PlanStats{}, false
	}
	return vb.exec.Stats(c.plan)
}

// Model returns the session's model.
func (s *Session) Model() *Model { return s.m }

// Pos is the number of tokens in the cache: the position of the next token.
func (s *Session) Pos() int { return len(s.tokens) }

// Ctx is the session's context length.
func (s *Session) Ctx() int { return s.opt.Ctx }

// Tokens returns the ids fed so far.
func (s *Session) Tokens() []int { return s.tokens }

// CacheBytes is the KV cache's size.
func (s *Session) CacheBytes() int64 { return s.be.cacheBytes() }

// Reset empties the sequence. Old cache rows are never read again: every
// key a query reads was written at or after its chunk's start.
func (s *Session) Reset() { s.tokens, s.lastLogits = s.tokens[:0], nil }

// Outputs are copies of what one chunk computed.
type Outputs struct {
	Logits []float32   // [T or 1, vocab]
	Hidden [][]float32 // with StepOptions.Hidden
}

func (s *Session) compile(T int, opt StepOptions) (*compiled, error) {
	k := planKey{T, opt}
	if c, ok := s.plans[k]; ok {
		return c, nil
	}
	st, err := s.m.BuildStep(T, s.slots, opt)
	if err != nil {
		return nil, err
	}
	g := st.Graph
	if vk, gpu := s.be.(*vkBackend); gpu {
		g = graph.Fuse(g) // fewer dispatches and barriers; same values
		if T == 1 {
			g = graph.FuseNormMatVec(g, vk.exec.CanNormMatVec)
			// The q/k norms, RoPE and cache write inside attention.
			g = graph.FuseAttentionNormRope(g, vk.exec.CanAttentionNormRope)
		}
	}
	p, err := graph.NewPlan(g)
	if err != nil {
		return nil, err
	}
	c := &compiled{step: st, plan: p}
	s.plans[k] = c
	s.opt.Logger.Debug("plan", "tokens", T, "steps", len(p.Steps),
		"arena_KiB", p.ArenaLen*4>>10, "unpacked_KiB", p.Unpacked*4>>10)
	return c, nil
}

// checkRoom reports ErrContextFull when n more tokens do not fit.
func (s *Session) checkRoom(n int) error {
	if s.Pos()+n > s.opt.Ctx {
		return fmt.Errorf("gemma3: %w: %d tokens cached + %d new exceed the context of %d", ErrContextFull, s.Pos(), n, s.opt.Ctx)
	}
	return nil
}

// Run evaluates ids as one chunk at the next positions.
func (s *Session) Run(ids []int, opt StepOptions) (*Outputs, error) {
	return s.run(ids, opt, nil)
}

// run evaluates one chunk; img, when not nil, holds the image features of
// its soft tokens (images.go) and opt.Images is set.
func (s *Session) run(ids []int, opt StepOptions, img *imageChunk) (*Outputs, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("gemma3: no tokens to evaluate")
	}
	if err := s.checkRoom(len(ids)); err != nil {
		return nil, err
	}
	for _, id := range ids {
		if img != nil && id == img.token {
			continue // never looked up (GEMMA3.md §6.3)
		}
		if id < 0 || id >= s.m.Config.Vocab {
			return nil, fmt.Errorf("gemma3: token id %d outside the vocabulary of %d", id, s.m.Config.Vocab)
		}
	}
	c, err := s.compile(len(ids), opt)
	if err != nil {
		return nil, err
	}
	idv, posv := make([]int32, len(ids)), make([]int32, len(ids))
	for t, id := range ids {
		idv[t], posv[t] = int32(id), int32(s.Pos()+t)
	}
	if img != nil {
		err = s.runImages(c, idv, posv, img)
	} else {
		err = s.be.run(c, idv, posv)
	}
	if err != nil {
		return nil, err
	}
	if s.upload != nil {
		s.upload.finish() // a session used without Prepare uploads on its first step
	}
	s.tokens = append(s.tokens, ids...)
	read := s.be.read
	out := &Outputs{}
	if out.Logits, err = read(c.step.Logits); err != nil {
		return nil, err
	}
	s.lastLogits = out.Logits[len(out.Logits)-s.m.Config.Vocab:]
	for _, h := range c.step.Hidden {
		v, err := read(h)
		if err != nil {
			return nil, err
		}
		out.Hidden = append(out.Hidden, v)
	}
	return out, nil
}

// Feed evaluates ids in prefill chunks and returns the logits of the last
// one. The whole input is checked against the context first.
func (s *Session) Feed(ids []int) ([]float32, error) {
	var logits []float32
	err := s.feed(ids, StepOptions{}, func(o *Outputs) { logits = o.Logits })
	return logits, err
}

// FeedAll evaluates ids in prefill chunks and returns the logits of every
// position, [len(ids), vocab].
func (s *Session) FeedAll(ids []int) ([]float32, error) {
	all := make([]float32, 0, len(ids)*s.m.Config.Vocab)
	err := s.feed(ids, StepOptions{AllLogits: true}, func(o *Outputs) { all = append(all, o.Logits...) })
	return all, err
}

func (s *Session) feed(ids []int, opt StepOptions, take func(*Outputs)) error {
	if err := s.checkRoom(len(ids)); err != nil {
		return err
	}
	for len(ids) > 0 {
		n := min(len(ids), s.opt.Chunk)
		o, err := s.Run(ids[:n], opt)
		if err != nil {
			return err
		}
		take(o)
		ids = ids[n:]
	}
	return nil
}
