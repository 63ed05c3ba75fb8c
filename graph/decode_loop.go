package graph

import (
	"encoding/binary"
	"fmt"

	"gemmavk/gpu"
	"gemmavk/kernels"
)

// DecodeLoop replays a one-token plan with token selection on the GPU.
// Each run samples the next token from the step's logits, writes it to a
// host-visible ring and into the plan's "ids" input, and moves "pos" on:
// consecutive runs need nothing from the host, which only reads finished
// tokens from the ring.
type DecodeLoop struct {
	v  *Vulkan
	vp *vkPlan
	// Two identical recordings, so that one step can be queued while the
	// previous runs (a recording cannot be pending twice).
	recs    [2]*gpu.Recording
	next    int
	pending []*gpu.Recording
	bound   []*gpu.Bound
	state   gpu.Buffer // {seed, step}, host-visible
	ring    gpu.Buffer // int32 [ringLen], host-visible
	scratch gpu.Buffer
	ringLen int
	step    uint32
}

// DecodeRing is the number of tokens the ring holds.
const DecodeRing = 64

// NewDecodeLoop records p (a one-token step whose output logits is [1, V'])
// followed by the selection of a token among the first vocab logits with
// params (temperature 0: greedy) and the advance of the inputs. It fails
// with an error wrapping kernels.ErrSampleUnsupported for parameters the
// GPU sampler does not cover.
func (v *Vulkan) NewDecodeLoop(p *Plan, env *VulkanEnv, logits *Tensor, vocab int, params kernels.SampleParams) (*DecodeLoop, error) {
	if err := v.Prepare(p, env); err != nil {
		return nil, err
	}
	vp := v.plans[p]
	if p.Offset[logits.ID] < 0 || !logits.Output || logits.Rows() != 1 || vocab > logits.Cols() {
		return nil, fmt.Errorf("graph: decode loop: %v is not a one-row output of the plan", logits)
	}
	ids, pos := vp.inputs["ids"], vp.inputs["pos"]
	if !ids.Valid() || !pos.Valid() || ids.Size < 4 || pos.Size < 4 {
		return nil, fmt.Errorf("graph: decode loop: the plan has no one-token ids and pos inputs")
	}
	sel, err := kernels.SampleVk(v.dev.Caps(), vocab, params, kernels.SampleOut{Ring: DecodeRing, Advance: true, Feed: true})
	if err != nil {
		return nil, fmt.Errorf("graph: decode loop: %w", err)
	}
	l := &DecodeLoop{v: v, vp: vp, ringLen: DecodeRing}
	fail := func(err error) (*DecodeLoop, error) {
		l.Close()
		return nil, fmt.Errorf("graph: decode loop: %w", err)
	}
	if l.state, err = v.dev.Alloc(kernels.SampleStateBytes, gpu.Upload); err != nil {
		return fail(err)
	}
	if l.ring, err = v.dev.Alloc(uint64(4*DecodeRing), gpu.Readback); err != nil {
		return fail(err)
	}
	if l.scratch, err = v.dev.Alloc(uint64(kernels.SampleScratchBytes(vocab)), gpu.DeviceLocal); err != nil {
		return fail(err)
	}
	lg := v.act(vp, logits).Slice(0, uint64(4*vocab))
	for _, ds := range sel {
		b, err := v.dev.Bind(ds, lg, l.scratch, l.state, l.ring, ids, pos)
		if err != nil {
			return fail(err)
		}
		l.bound = append(l.bound, b)
	}
	for i := range l.recs {
		rec, err := v.dev.NewRecorder(gpu.RecordOptions{})
		if err != nil {
			return fail(err)
		}
		// A replay may follow the previous one on the queue at once: wait
		// for everything before it.
		rec.Barrier()
		emit(rec, vp.cmds)
		for _, b := range l.bound {
			rec.Barrier()
			rec.Dispatch(b)
		}
		if l.recs[i], err = rec.End(); err != nil {
			return fail(err)
		}
	}
	return l, nil
}

// Start sets the first step's input token and position and the sampler's
// seed. Steps still queued from before are waited for first.
func (l *DecodeLoop) Start(id, pos int32, seed uint32) {
	l.Drain()
	binary.LittleEndian.PutUint32(l.vp.inputs["ids"].Bytes(), uint32(id))
	binary.LittleEndian.PutUint32(l.vp.inputs["pos"].Bytes(), uint32(pos))
	st := l.state.Bytes()
	binary.LittleEndian.PutUint32(st, seed)
	binary.LittleEndian.PutUint32(st[4:], 0)
	l.step = 0
}

// Step returns the token of the next decode step, running it if it is not
// queued yet. With ahead set (the caller will take another step, and the
// context has room for it) the step after it is queued first, so the GPU
// goes from one step to the next without waiting for the host. The GPU has
// already made each selected token the following step's input.
func (l *DecodeLoop) Step(ahead bool) (int32, error) {
	if len(l.pending) == 0 {
		if err := l.submit(); err != nil {
			return 0, err
		}
	}
	if ahead && len(l.pending) < len(l.recs) {
		if err := l.submit(); err != nil {
			return 0, err
		}
	}
	r := l.pending[0]
	l.pending = l.pending[1:]
	if err := r.Wait(); err != nil {
		return 0, fmt.Errorf("graph: decode loop: %w", err)
	}
	tok := make([]byte, 4)
	if err := l.v.dev.ReadHost(tok, l.ring.Slice(uint64(4*(int(l.step)%l.ringLen)), 4)); err != nil {
		return 0, err
	}
	l.step++
	return int32(binary.LittleEndian.Uint32(tok)), nil
}

func (l *DecodeLoop) submit() error {
	r := l.recs[l.next]
	l.next = 1 - l.next
	if err := r.Submit(); err != nil {
		return fmt.Errorf("graph: decode loop: %w", err)
	}
	l.pending = append(l.pending, r)
	l.v.last = l.vp
	return nil
}

// Drain waits for queued steps. Their tokens are dropped (a step queued
// ahead of a stop token); they only wrote cache rows past the tokens kept,
// which later steps overwrite.
func (l *DecodeLoop) Drain() {
	for _, r := range l.pending {
		r.Wait()
	}
	l.pending = nil
}

// Close releases the loop's recordings and buffers; the plan stays.
func (l *DecodeLoop) Close() {
	l.Drain()
	for _, r := range l.recs {
		if r != nil {
			r.Close()
		}
	}
	for _, b := range l.bound {
		b.Close()
	}
	for _, b := range []gpu.Buffer{l.state, l.ring, l.scratch} {
		l.v.dev.Free(b)
	}
}
