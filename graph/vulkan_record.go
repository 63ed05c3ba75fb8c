package graph

import (
	"fmt"

	"gemmavk/gpu"
	"gemmavk/kernels"
	"gemmavk/kernels/quant"
)

// hazards tracks what the commands recorded since the last barrier read
// and wrote, so that a barrier is recorded exactly where a command reads
// what an earlier one wrote (read after write) or writes what an earlier
// one read or wrote (write after read or write: arena ranges are reused).
type hazards struct {
	reads, writes []gpu.Buffer
}

func overlapsAny(b gpu.Buffer, set []gpu.Buffer) bool {
	for _, s := range set {
		if b.Overlaps(s) {
			return true
		}
	}
	return false
}

// conflict reports whether a command with these reads and writes must wait
// for the commands recorded since the last barrier.
func (h *hazards) conflict(reads, writes []gpu.Buffer) bool {
	for _, r := range reads {
		if overlapsAny(r, h.writes) {
			return true
		}
	}
	for _, w := range writes {
		if overlapsAny(w, h.writes) || overlapsAny(w, h.reads) {
			return true
		}
	}
	return false
}

// command is one recorded command of a plan: a dispatch, a copy, or (both
// nil) a barrier. Plans keep their commands so that a second recording
// (DecodeLoop) can replay them with more appended.
type command struct {
	bound    *gpu.Bound
	dst, src gpu.Buffer
	// weight is the bytes of weights the dispatch reads, for profiles.
	weight uint64
}

// emit records cmds.
func emit(rec *gpu.Recorder, cmds []command) {
	for _, c := range cmds {
		switch {
		case c.bound != nil:
			rec.Dispatch(c.bound)
		case c.dst.Valid():
			rec.CopyBuffer(c.dst, c.src)
		default:
			rec.Barrier()
		}
	}
}

// recorder turns plan steps into commands.
type recorder struct {
	v   *Vulkan
	vp  *vkPlan
	h   hazards
	env *VulkanEnv
	// half holds the activations stored in f16 (halfActs).
	half map[*Tensor]bool
	// q8 holds the activations handed from one product to the next as
	// 8-bit blocks (q8Acts).
	q8 map[*Tensor]bool
}

// before adds a barrier when the next command conflicts with the commands
// since the last one, then notes the command's accesses.
func (r *recorder) before(reads, writes []gpu.Buffer) {
	if r.h.conflict(reads, writes) {
		r.vp.cmds = append(r.vp.cmds, command{})
		r.vp.barriers++
		r.h = hazards{}
	}
	r.h.reads = append(r.h.reads, reads...)
	r.h.writes = append(r.h.writes, writes...)
}

// dispatch binds ds to bufs (in binding order) and records it. Only the
// buffers in reads and writes take part in hazard tracking; weights, which
// no command writes, need not.
func (r *recorder) dispatch(ds gpu.Dispatch, bufs []gpu.Buffer, reads, writes []gpu.Buffer) error {
	b, err := r.v.dev.Bind(ds, bufs...)
	if err != nil {
		return err
	}
	r.vp.bound = append(r.vp.bound, b)
	r.before(reads, writes)
	r.vp.cmds = append(r.vp.cmds, command{bound: b})
	r.vp.dispatches++
	return nil
}

// weighs adds n to the weight bytes the last dispatch reads.
func (r *recorder) weighs(n uint64) { r.vp.cmds[len(r.vp.cmds)-1].weight += n }

func (r *recorder) copy(dst, src gpu.Buffer) {
	r.before([]gpu.Buffer{src}, []gpu.Buffer{dst})
	r.vp.cmds = append(r.vp.cmds, command{dst: dst, src: src})
	r.vp.copies++
}

// buf returns the device buffer of any tensor of the plan.
func (r *recorder) buf(t *Tensor) (gpu.Buffer, error) {
	switch t.Kind {
	case Activation:
		return r.v.act(r.vp, t), nil
	case Input:
		return r.vp.inputs[t.Name], nil
	case State:
		b, ok := r.env.States[t.Name]
		if !ok || !b.Valid() {
			return gpu.Buffer{}, fmt.Errorf("state %s is not bound", t.Name)
		}
		r.vp.states[t.Name] = b
		return b, nil
	}
	return r.v.weight(t)
}

// bufs returns the buffers of ts, in order.
func (r *recorder) bufs(ts ...*Tensor) ([]gpu.Buffer, error) {
	out := make([]gpu.Buffer, len(ts))
	for i, t := range ts {
		b, err := r.buf(t)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

// prepare allocates p's arena and inputs and records its command buffer.
func (v *Vulkan) prepare(p *Plan, env *VulkanEnv) (vp *vkPlan, err error) {
	if env == nil {
		env = &VulkanEnv{}
	}
	vp = &vkPlan{plan: p, inputs: map[string]gpu.Buffer{}, states: map[string]gpu.Buffer{}}
	defer func() {
		if err != nil {
			v.plans[p] = vp
			v.Release(p)
		}
	}()
	if vp.arena, err = v.dev.Alloc(uint64(4*max(p.ArenaLen, 1)), gpu.DeviceLocal); err != nil {
		return vp, fmt.Errorf("activation arena: %w", err)
	}
	for _, t := range p.Graph.Inputs {
		b, err := v.dev.Alloc(uint64(4*t.Len()), gpu.Upload)
		if err != nil {
			return vp, fmt.Errorf("input %s: %w", t.Name, err)
		}
		vp.inputs[t.Name] = b
	}
	r := &recorder{v: v, vp: vp, env: env, half: v.halfActs(p), q8: v.q8Acts(p)}
	for _, n := range p.Steps {
		if err := r.step(n); err != nil {
			return vp, fmt.Errorf("%s -> %v: %w", n.Op, n.Out, err)
		}
	}
	rec, err := v.dev.NewRecorder(gpu.RecordOptions{})
	if err != nil {
		return vp, err
	}
	emit(rec, vp.cmds)
	if vp.rec, err = rec.End(); err != nil {
		return vp, err
	}
	v.opt.Logger.Debug("vulkan plan recorded", "steps", len(p.Steps), "dispatches", vp.dispatches,
		"barriers", vp.barriers, "copies", vp.copies, "arena_KiB", vp.arena.Size>>10)
	return vp, nil
}

// step records the commands of one plan node.
func (r *recorder) step(n *Node) error {
	c := r.v.dev.Caps()
	in := n.In
	var out gpu.Buffer
	if n.Out != nil {
		out = r.v.act(r.vp, n.Out)
	}
	one := func(ds gpu.Dispatch, err error, ts ...*Tensor) error {
		if err != nil {
			return err
		}
		bufs, err := r.bufs(ts...)
		if err != nil {
			return err
		}
		return r.dispatch(ds, append(bufs, out), bufs, []gpu.Buffer{out})
	}
	switch n.Op {
	case OpEmbed:
		return r.embed(n, out)
	case OpRMSNorm:
		g := len(in[1].Vector)
		if r.half[n.Out] {
			ds, err := kernels.RMSNormHalfVk(c, in[0].Len()/g, g, n.Attr.(NormAttr).Eps)
			return one(ds, err, in[0], in[1])
		}
		return one(kernels.RMSNormVk(c, in[0].Len()/g, g, n.Attr.(NormAttr).Eps), nil, in[0], in[1])
	case OpMatMul:
		return r.matmul(n, out)
	case OpRoPE:
		// RoPE rotates in place: copy the input to the output first.
		src, err := r.buf(in[0])
		if err != nil {
			return err
		}
		r.copy(out, src)
		ra := n.Attr.(RopeAttr)
		inv, err := r.v.invFreq(ra)
		if err != nil {
			return err
		}
		pos, err := r.buf(in[1])
		if err != nil {
			return err
		}
		ds := kernels.RoPEVk(c, in[0].Rows(), ra.Heads, ra.HeadDim)
		return r.dispatch(ds, []gpu.Buffer{out, pos, inv}, []gpu.Buffer{out, pos}, []gpu.Buffer{out})
	case OpAttention:
		return r.attention(n, out)
	case OpCacheWrite:
		a := n.attn()
		ds, err := kernels.CacheWriteVk(c, a, in[0].Rows(), r.v.opt.CacheF32)
		if err != nil {
			return err
		}
		bufs, err := r.bufs(in[0], in[1], in[4], in[2], in[3])
		if err != nil {
			return err
		}
		return r.dispatch(ds, bufs, bufs[:3], bufs[3:])
	case OpAdd:
		return one(kernels.AddVk(c, n.Out.Len()), nil, in[0], in[1])
	case OpGeluMul:
		if r.half[n.Out] {
			ds, err := kernels.GeluMulHalfVk(c, n.Out.Len())
			return one(ds, err, in[0], in[1])
		}
		return one(kernels.GeluMulVk(c, n.Out.Len()), nil, in[0], in[1])
	case OpLastRow:
		src, err := r.buf(in[0])
		if err != nil {
			return err
		}
		row := uint64(4 * in[0].Cols())
		r.copy(out, src.Slice(uint64(4*in[0].Len())-row, row))
		return nil
	}
	return r.fused(n, out)
}

// fused records the fused ops (Fuse).
func (r *recorder) fused(n *Node, out gpu.Buffer) error {
	c := r.v.dev.Caps()
	in := n.In
	switch n.Op {
	case OpRMSNormRoPE, OpRMSNormRoPECache:
		a := n.Attr.(NormRopeAttr)
		inv, err := r.v.invFreq(a.Rope)
		if err != nil {
			return err
		}
		if n.Op == OpRMSNormRoPE {
			b, err := r.bufs(in[0], in[1], in[2])
			if err != nil {
				return err
			}
			ds := kernels.RMSNormRoPEVk(c, in[0].Rows(), a.Rope.Heads, a.Rope.HeadDim, a.Eps)
			return r.dispatch(ds, []gpu.Buffer{b[0], b[1], b[2], inv, out}, b, []gpu.Buffer{out})
		}
		b, err := r.bufs(in[0], in[1], in[2], in[3], in[4], in[5])
		if err != nil {
			return err
		}
		ds, err := kernels.RMSNormRoPECacheVk(c, a.Attn, in[0].Rows(), a.Eps, r.v.opt.CacheF32)
		if err != nil {
			return err
		}
		return r.dispatch(ds, []gpu.Buffer{b[0], b[1], b[2], inv, out, b[3], b[4], b[5]},
			b[:4], []gpu.Buffer{out, b[4], b[5]})
	case OpMatMulGelu:
		wg := in[1].Matrix
		lower := kernels.MatVecGeluVk
		switch {
		case r.q8[n.Out]:
			lower = kernels.MatVecGeluQ8OutVk
		case r.v.q8(wg):
			lower = kernels.MatVecGeluQ8Vk
		}
		ds, err := lower(c, wg.Type, wg.Rows, wg.Cols)
		if err != nil {
			return err
		}
		b, err := r.bufs(in[1], in[2], in[0])
		if err != nil {
			return err
		}
		if err := r.dispatch(ds, append(b, out), b[2:], []gpu.Buffer{out}); err != nil {
			return err
		}
		r.weighs(b[0].Size + b[1].Size)
		return nil
	case OpNormMatMul, OpNormMatMulGelu:
		return r.normMatMul(n, out)
	case OpAttentionNormRope:
		return r.attentionNormRope(n, out)
	case OpAddRMSNorm:
		g := len(in[2].Vector)
		second := len(in) > 3
		b, err := r.bufs(in[0], in[1], in[2])
		if err != nil {
			return err
		}
		g2, f := b[2], out // unused bindings when there is no second norm
		writes := []gpu.Buffer{out}
		if second {
			if g2, err = r.buf(in[3]); err != nil {
				return err
			}
			f = r.v.act(r.vp, n.Out2)
			writes = append(writes, f)
		}
		ds := kernels.AddRMSNormVk(c, in[0].Len()/g, g, n.Attr.(NormAttr).Eps, second)
		if second && r.half[n.Out2] {
			if ds, err = kernels.AddRMSNormHalfVk(c, in[0].Len()/g, g, n.Attr.(NormAttr).Eps); err != nil {
				return err
			}
		}
		return r.dispatch(ds, []gpu.Buffer{b[0], b[1], b[2], g2, out, f}, b[:2], writes)
	}
	return r.vision(n, out)
}

// attention records a chunk's attention: one dispatch, or split-K when the
// cache is long enough for it to pay: for one token, one attention_decode
// dispatch whose last workgroup per kv head merges the splits (the plan's
// scratch holds the partials, its arrival counters count the workgroups
// in) where the device suits it, else a first pass and a combine pass. The
// split count is fixed when the plan is recorded (from the cache size),
// since a replayed step cannot change its dispatches; splits past the
// current keys write empty partials. A chunk of several tokens runs on
// cooperative matrices where the device has them (unless ExactProducts),
// split-K too when its causal blocks' key ranges are uneven enough
// (kernels.AttentionCoopSplits).
func (r *recorder) attention(n *Node, out gpu.Buffer) error {
	c := r.v.dev.Caps()
	a, in := n.attn(), n.In
	T := in[0].Rows()
	opts := kernels.AttnOpts{CacheF32: r.v.opt.CacheF32, Spans: len(in) > 6}
	bufs, err := r.bufs(in[0], in[1], in[2], in[3], in[4], in[5])
	if err != nil {
		return err
	}
	var spans []gpu.Buffer // binding 7, after the output
	if opts.Spans {
		if spans, err = r.bufs(in[6]); err != nil {
			return err
		}
	}
	coop := T > 1 && !r.v.opt.ExactProducts && kernels.AttentionCoopSupported(c, a)
	splits := attnSplits(c, a, T)
	if coop && !opts.Spans {
		// The causal chunk's long key ranges, split to balance the blocks.
		splits = kernels.AttentionCoopSplits(c, a, T)
	}
	if splits <= 1 {
		var ds gpu.Dispatch
		if coop {
			ds, err = kernels.AttentionCoopVk(c, a, T, opts)
		} else {
			ds, err = kernels.AttentionVk(c, a, T, opts)
		}
		if err != nil {
			return err
		}
		return r.dispatch(ds, append(append(bufs, out), spans...), append(bufs, spans...), []gpu.Buffer{out})
	}
	scratchSize := uint64(kernels.AttentionSplitScratch(a, T, splits))
	if T == 1 && !opts.Spans && kernels.AttentionDecodeSupported(c, a, opts.CacheF32) {
		ds, err := kernels.AttentionDecodeVk(c, a, splits, opts.CacheF32)
		if err != nil {
			return err
		}
		return r.merged(ds, scratchSize, a.KVHeads, bufs, out, nil, nil)
	}
	var ds []gpu.Dispatch
	if coop {
		ds, err = kernels.AttentionCoopSplitVk(c, a, T, splits, opts)
	} else {
		ds, err = kernels.AttentionSplitVk(c, a, T, splits, opts)
	}
	if err != nil {
		return err
	}
	return r.viaScratch(scratchSize, ds[1], out, func(scratch gpu.Buffer) error {
		return r.dispatch(ds[0], append(append(bufs, scratch), spans...), append(bufs, spans...), []gpu.Buffer{scratch})
	})
}

// attnSplits is the split count of the attention of a chunk of T tokens
// (1: no split-K), from the most keys the chunk may see with the cache.
func attnSplits(c gpu.Caps, a kernels.Attn, T int) int {
	if T != 1 {
		return 1
	}
	keys := a.Slots + T
	if a.Window > 0 {
		keys = min(keys, a.Window+T)
	}
	return kernels.AttentionSplits(c, a, T, keys)
}

// CanAttentionNormRope reports whether the executor runs OpAttentionNormRope
// with attributes a: where the plain one-token attention would run split-K
// on attention_decode (kernels.AttentionNormRopeSupported
// adds a head dim of whole unit pairs), and q and k share one RoPE table.
// Pass it to FuseAttentionNormRope.
func (v *Vulkan) CanAttentionNormRope(a AttnNormRopeAttr) bool {
	at := a.Attn
	q := RopeAttr{Heads: at.Heads, HeadDim: at.HeadDim, Base: a.Q.Base, Factor: a.Q.Factor}
	k := q
	k.Heads = at.KVHeads
	c := v.dev.Caps()
	return a.Q == q && a.K == k && attnSplits(c, at, 1) > 1 &&
		kernels.AttentionNormRopeSupported(c, at, v.opt.CacheF32)
}

// attentionNormRope records OpAttentionNormRope as one attention_decode_nr
// dispatch (which also writes the cache, and whose last workgroup per kv
// head merges the splits it left in the plan's scratch).
func (r *recorder) attentionNormRope(n *Node, out gpu.Buffer) error {
	c := r.v.dev.Caps()
	a := n.Attr.(AttnNormRopeAttr)
	if !r.v.CanAttentionNormRope(a) {
		return fmt.Errorf("%d/%d heads of dim %d not fused on this device", a.Attn.Heads, a.Attn.KVHeads, a.Attn.HeadDim)
	}
	splits := attnSplits(c, a.Attn, 1)
	ds, err := kernels.AttentionNormRopeVk(c, a.Attn, splits, a.Eps, r.v.opt.CacheF32)
	if err != nil {
		return err
	}
	b, err := r.bufs(n.In...) // q, qg, k, kg, v, ck, cv, pos
	if err != nil {
		return err
	}
	inv, err := r.v.invFreq(a.Q)
	if err != nil {
		return err
	}
	q, qg, k, kg, v, ck, cv, pos := b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]
	return r.merged(ds, uint64(kernels.AttentionSplitScratch(a.Attn, 1, splits)), a.Attn.KVHeads,
		[]gpu.Buffer{q, k, v, ck, cv, pos}, out, []gpu.Buffer{qg, kg, inv}, []gpu.Buffer{ck, cv})
}

// merged records a split operation in one dispatch (attention_decode): ds
// writes its partial results to size bytes of the plan's scratch
// (splitScratch), and the last of its workgroups to arrive on each of
// counters of the plan's arrival counters merges them into out. Bindings:
// in..., the scratch, the counters, out, extra...; ds reads in (hazards
// tracked) and extra (weights, not tracked), and writes the scratch, the
// counters, out and also (buffers among in it writes as well).
func (r *recorder) merged(ds gpu.Dispatch, size uint64, counters int, in []gpu.Buffer, out gpu.Buffer, extra, also []gpu.Buffer) error {
	scratch, err := r.splitScratch(size)
	if err != nil {
		return err
	}
	arr, err := r.arrivals(counters)
	if err != nil {
		return err
	}
	bind := append(append(append([]gpu.Buffer{}, in...), scratch, arr, out), extra...)
	reads := append(append([]gpu.Buffer{}, in...), arr)
	writes := append([]gpu.Buffer{scratch, arr, out}, also...)
	return r.dispatch(ds, bind, reads, writes)
}

// partRows is the row count of the parts a weight of rows × rowBytes is
// bound in: all of it when one binding can see it, else the most rows that
// fit, a multiple of 256 so that every part starts on an aligned offset of
// the weight and of an f32 output.
func partRows(c gpu.Caps, rows, rowBytes int) (int, error) {
	if c.MaxStorageRange == 0 {
		return rows, nil
	}
	// 144 bytes of the range stay free for the tail the last part also
	// binds (a Q4_0 weight's last group of blocks).
	lim := int64(c.MaxStorageRange) - 144
	if int64(rows)*int64(rowBytes) <= lim {
		return rows, nil
	}
	n := int(lim/int64(rowBytes)) / 256 * 256
	if n == 0 {
		return 0, fmt.Errorf("one row of %d bytes exceeds the %d bytes a binding may see", rowBytes, lim)
	}
	return n, nil
}

// weightParts resolves a node's input In[0] and weight matrix In[1] and
// calls part for each run of rows of the weight that one binding can see
// (all rows when it fits), with the weight's bytes for those rows.
func (r *recorder) weightParts(n *Node, part func(in, wp gpu.Buffer, w *kernels.Weight, r0, rows int) error) error {
	w := n.In[1].Matrix
	wb, err := r.buf(n.In[1])
	if err != nil {
		return err
	}
	in, err := r.buf(n.In[0])
	if err != nil {
		return err
	}
	rb := w.DeviceRowBytes()
	per, err := partRows(r.v.dev.Caps(), w.Rows, rb)
	if err != nil {
		return fmt.Errorf("%s: %w", w.Name, err)
	}
	for r0 := 0; r0 < w.Rows; r0 += per {
		rows := min(per, w.Rows-r0)
		size := uint64(rows * rb)
		if r0+rows == w.Rows {
			// The last part takes the weight's tail too (a Q4_0 weight's
			// last group of blocks: kernels.Weight.DeviceBytes).
			size = uint64(w.DeviceBytes()) - uint64(r0*rb)
		}
		if err := part(in, wb.Slice(uint64(r0*rb), size), w, r0, rows); err != nil {
			return err
		}
	}
	return nil
}

// CanNormMatVec reports whether the executor runs OpNormMatMul (and
// OpNormMatMulGelu) with weight w in one dispatch: 8-bit activations are
// on, the device runs the NORM variants for w, and w fits one binding.
// Pass it to FuseNormMatVec.
func (v *Vulkan) CanNormMatVec(w *kernels.Weight) bool {
	c := v.dev.Caps()
	if v.opt.ExactProducts || !kernels.MatVecQ8NormSupported(c, w.Type, w.Cols) {
		return false
	}
	per, err := partRows(c, w.Rows, w.DeviceRowBytes())
	return err == nil && per == w.Rows
}

// normMatMul records OpNormMatMul / OpNormMatMulGelu as one matvec_q8_norm
// dispatch, which also writes the residual sum when the node has it.
func (r *recorder) normMatMul(n *Node, out gpu.Buffer) error {
	c := r.v.dev.Caps()
	gelu := n.Op == OpNormMatMulGelu
	w := n.In[4].Matrix
	if !r.v.CanNormMatVec(w) || (gelu && !r.v.CanNormMatVec(n.In[5].Matrix)) {
		return fmt.Errorf("%s: %s weight not fused on this device", n.Op, w.Type)
	}
	seam, err := r.bufs(n.In[0], n.In[1], n.In[2], n.In[3])
	if err != nil {
		return err
	}
	weights, err := r.bufs(n.In[4:]...)
	if err != nil {
		return err
	}
	eps := n.Attr.(NormAttr).Eps
	lower := kernels.MatVecQ8NormVk
	switch {
	case gelu && r.q8[n.Out]:
		lower = kernels.MatVecGeluQ8NormOutVk
	case gelu:
		lower = kernels.MatVecGeluQ8NormVk
	}
	ds, err := lower(c, w.Type, w.Rows, w.Cols, eps, n.Out2 != nil)
	if err != nil {
		return err
	}
	sum := out // bound, never written, when the node does not write the sum
	writes := []gpu.Buffer{out}
	if n.Out2 != nil {
		sum = r.v.act(r.vp, n.Out2)
		writes = append(writes, sum)
	}
	bind := append(append([]gpu.Buffer{}, weights...), seam[0], out, seam[1], seam[2], seam[3], sum)
	if err := r.dispatch(ds, bind, append(append([]gpu.Buffer{}, weights...), seam...), writes); err != nil {
		return err
	}
	for _, b := range weights {
		r.weighs(b.Size)
	}
	return nil
}

// q8 reports whether one-token products with w take 8-bit activations
// (VulkanOptions.ExactProducts).
func (v *Vulkan) q8(w *kernels.Weight) bool {
	return !v.opt.ExactProducts && kernels.MatVecQ8Supported(v.dev.Caps(), w.Type, w.Cols)
}

// splitScratch returns size bytes of the plan's scratch for the partial
// results of split attention and of products cut into runs of K. Every
// such node shares one buffer (grown when a node needs more): they run one
// after another, and the hazard tracking puts a barrier between one node's
// second pass reading it and the next node's first pass writing it.
func (r *recorder) splitScratch(size uint64) (gpu.Buffer, error) {
	return r.shared(&r.vp.splitScratch, size, false)
}

// arrivals returns n zeroed uint32 counters of the plan for kernels whose
// last workgroup to finish does a final step (it counts the workgroups in
// with an atomic add, and the one that completes the count sets it back to
// zero for the next run). Every such node shares one buffer (grown when a
// node needs more): a node binds it as read and written, so the hazard
// tracking orders it after the previous user, whose counters are zero
// again by then.
func (r *recorder) arrivals(n int) (gpu.Buffer, error) {
	b, err := r.shared(&r.vp.arrivals, uint64(4*max(n, 1)), true)
	if err != nil {
		return gpu.Buffer{}, fmt.Errorf("arrival counters: %w", err)
	}
	return b, nil
}

// shared returns the first size bytes of the plan buffer *buf, first
// replacing it with a new one (zeroed with zero) when it is smaller; the
// plan frees the old and new ones with its scratch.
func (r *recorder) shared(buf *gpu.Buffer, size uint64, zero bool) (gpu.Buffer, error) {
	if !buf.Valid() || buf.Size < size {
		b, err := r.v.dev.Alloc(size, gpu.DeviceLocal)
		if err != nil {
			return gpu.Buffer{}, err
		}
		r.vp.scratch = append(r.vp.scratch, b)
		if zero {
			if err := r.v.dev.Upload(b, make([]byte, size)); err != nil {
				return gpu.Buffer{}, err
			}
		}
		*buf = b
	}
	return buf.Slice(0, size), nil
}

// viaScratch records a split operation's two passes: first, recorded by
// first, writes partial results to size bytes of the plan's scratch
// (splitScratch); second reads them (binding 0) and writes out (binding 1).
func (r *recorder) viaScratch(size uint64, second gpu.Dispatch, out gpu.Buffer, first func(scratch gpu.Buffer) error) error {
	scratch, err := r.splitScratch(size)
	if err != nil {
		return err
	}
	if err := first(scratch); err != nil {
		return err
	}
	return r.dispatch(second, []gpu.Buffer{scratch, out}, []gpu.Buffer{scratch}, []gpu.Buffer{out})
}

// coop reports whether products of several tokens with w run on
// cooperative matrices with f16 inputs (VulkanOptions.ExactProducts). F32
// weights keep the f32 kernel: their precision is why one would keep them.
func (v *Vulkan) coop(w *kernels.Weight) bool {
	return !v.opt.ExactProducts && w.Type != quant.F32 && kernels.CoopMatMulSupported(v.dev.Caps(), w.Type, w.Cols)
}

// halfActs returns the activations of p that are stored in f16 (pairs of
// halves in uint words, in the first half of their arena range): those
// that a norm or gelu_mul makes for products on cooperative matrices
// alone. Those products round x to f16 as they stage it anyway (clamped to
// its range, as the producers' _h variants clamp it), so the results are
// the same while the products read half the bytes of x, which every
// workgroup along a row of tiles reads again (4B pp512: 2560 to 10240
// columns of x per 128 weight rows).
func (v *Vulkan) halfActs(p *Plan) map[*Tensor]bool {
	readers := readersOf(p.Steps)
	half := map[*Tensor]bool{}
	for _, n := range p.Steps {
		var t *Tensor
		switch {
		case n.Op == OpRMSNorm && len(n.In[1].Vector) == n.Out.Cols():
			t = n.Out // a row norm, not one per head
		case n.Op == OpAddRMSNorm && n.Out2 != nil:
			t = n.Out2
		case n.Op == OpGeluMul:
			t = n.Out
		default:
			continue
		}
		if t.Output || t.Rows() < 2 || t.Cols()%2 != 0 || len(readers[t]) == 0 {
			continue
		}
		ok := true
		for _, m := range readers[t] {
			if m.Op != OpMatMul || m.In[0] != t || !v.coop(m.In[1].Matrix) {
				ok = false
				break
			}
		}
		half[t] = ok
	}
	return half
}

// q8HandoffRows is the fewest rows a gated product needs for its output to
// be handed on as 8-bit blocks (q8Acts). The hand-off makes the product's
// workgroups take 32 rows each (whole blocks of y); from 8192 rows they
// take that many anyway. Below, the fewer, longer workgroups cost more
// than the reader's quantization saves: on the H100 the 270M's 2048-row
// gate/up made its decode 5% slower, while the 4B's 10240 rows made it
// 1.8% faster.
const q8HandoffRows = 8192

// q8Acts returns the one-token activations of p that go from the gated
// product that makes them to the product that reads them as 8-bit blocks
// (kernels.Q8ActBytes, in the first bytes of their arena range): the
// reader would quantize them in each of its workgroups, so the maker
// quantizes them once, the same way, and the reader copies them. That
// needs both products on 8-bit activations, the gated output a multiple
// of 32 values, at least q8HandoffRows of them, and read by that one
// product only.
func (v *Vulkan) q8Acts(p *Plan) map[*Tensor]bool {
	minRows := q8HandoffRows
	if v.opt.handoffRows > 0 {
		minRows = v.opt.handoffRows
	}
	readers := readersOf(p.Steps)
	q8 := map[*Tensor]bool{}
	for _, n := range p.Steps {
		t := n.Out
		switch {
		case n.Op == OpMatMulGelu && v.q8(n.In[1].Matrix) && v.q8(n.In[2].Matrix):
		case n.Op == OpNormMatMulGelu:
		default:
			continue
		}
		if t.Output || t.Rows() != 1 || t.Cols()%32 != 0 || t.Cols() < minRows || len(readers[t]) != 1 {
			continue
		}
		m := readers[t][0]
		if m.Op != OpMatMul || m.In[0] != t || !v.q8(m.In[1].Matrix) {
			continue
		}
		q8[t] = true
	}
	return q8
}

// matmul records y = x · Wᵀ: a matrix-vector product for one token, a
// tiled product for more; a weight too large for one binding in parts of
// rows, each writing its columns of y.
func (r *recorder) matmul(n *Node, out gpu.Buffer) error {
	c := r.v.dev.Caps()
	T := n.In[0].Rows()
	return r.weightParts(n, func(x, wp gpu.Buffer, w *kernels.Weight, r0, rows int) error {
		// This part's columns of y: T rows of stride w.Rows.
		yp := out.Slice(uint64(4*r0), uint64(4*((T-1)*w.Rows+rows)))
		var ds gpu.Dispatch
		var err error
		kparts := 1
		switch {
		case T == 1 && r.q8[n.In[0]]:
			ds, err = kernels.MatVecQ8InVk(c, w.Type, rows, w.Cols)
		case T == 1 && r.v.q8(w):
			ds, err = kernels.MatVecQ8Vk(c, w.Type, rows, w.Cols)
		case T == 1:
			ds, err = kernels.MatVecVk(c, w.Type, rows, w.Cols)
		case r.v.coop(w):
			if kparts = kernels.CoopMatMulSplits(T, rows, w.Cols); kparts == 1 {
				ds, err = kernels.MatMulCoopPartVk(c, w.Type, T, rows, w.Cols, w.Rows, r.half[n.In[0]])
			}
		default:
			ds, err = kernels.MatMulPartVk(c, w.Type, T, rows, w.Cols, w.Rows)
		}
		if err != nil {
			return err
		}
		if kparts == 1 {
			if err := r.dispatch(ds, []gpu.Buffer{wp, x, yp}, []gpu.Buffer{x}, []gpu.Buffer{yp}); err != nil {
				return err
			}
			r.weighs(wp.Size)
			return nil
		}
		// Runs of K into the scratch, then their sum into y.
		dss, err := kernels.MatMulCoopSplitVk(c, w.Type, T, rows, w.Cols, w.Rows, kparts, r.half[n.In[0]])
		if err != nil {
			return err
		}
		return r.viaScratch(uint64(kernels.MatMulCoopSplitScratch(T, rows, kparts)), dss[1], yp, func(scratch gpu.Buffer) error {
			if err := r.dispatch(dss[0], []gpu.Buffer{wp, x, scratch}, []gpu.Buffer{x}, []gpu.Buffer{scratch}); err != nil {
				return err
			}
			r.weighs(wp.Size)
			return nil
		})
	})
}

// embed records the gather of token rows; a table too large for one
// binding is gathered in parts of rows, each writing the tokens whose ids
// fall in it (ids are validated before they are uploaded).
func (r *recorder) embed(n *Node, out gpu.Buffer) error {
	c := r.v.dev.Caps()
	T, scale := n.In[0].Len(), n.Attr.(EmbedAttr).Scale
	return r.weightParts(n, func(ids, ep gpu.Buffer, w *kernels.Weight, v0, rows int) error {
		ds, err := kernels.EmbedPartVk(c, w.Type, T, v0, rows, w.Cols, scale, rows < w.Rows)
		if err != nil {
			return err
		}
		return r.dispatch(ds, []gpu.Buffer{ep, ids, out}, []gpu.Buffer{ids}, []gpu.Buffer{out})
	})
}
