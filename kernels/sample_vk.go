package kernels

import (
	"errors"
	"fmt"
	"math"

	"gemmavk/gpu"
)

// Token selection on the GPU, so that a replayed decode step picks its next
// token without reading the logits back. Both ops run as one dispatch when
// one workgroup covers the row, else as a first pass of G workgroups over
// slices of the row and a one-workgroup merge; record a barrier between
// consecutive dispatches of the returned list.

const (
	// argmaxChunk is the number of logits a first-pass workgroup of
	// ArgmaxVk scans, and argmaxMaxGroups bounds their number (the merge
	// strides over the partials).
	argmaxChunk, argmaxMaxGroups = 8192, 1024
	// sampleChunk is the least number of logits a first-pass workgroup of
	// SampleVk scans, and sampleLists bounds the number of such workgroups
	// and of subgroups in one: the merge holds that many candidate lists in
	// shared memory (LISTS in shaders/sample.comp).
	sampleChunk, sampleLists = 4096, 32
	// sampleMergeWorkgroup is the workgroup size of the sampling merge.
	sampleMergeWorkgroup = 128
)

// selectGroups splits V logits into groups workgroups of per elements
// (per >= 1; the last one may be short).
func selectGroups(V, chunk, maxGroups int) (groups, per int) {
	if V <= chunk {
		return 1, max(V, 1)
	}
	groups = min(int(ceilDiv(V, chunk)), maxGroups)
	per = int(ceilDiv(V, groups))
	return int(ceilDiv(V, per)), per
}

// ArgmaxScratchBytes is the size of ArgmaxVk's scratch buffer for a row of
// V logits: a (key, index) pair per first-pass workgroup.
func ArgmaxScratchBytes(V int) int {
	g, _ := selectGroups(V, argmaxChunk, argmaxMaxGroups)
	return 8 * g
}

// ArgmaxVk lowers Argmax over one row of V logits (0 <= V < 2^31) and writes
// the index, as int32, to out[slot] (-1 when V = 0).
//
// Bindings, the same for every dispatch: 0 logits f32 [V] (read-only);
// 1 scratch, ArgmaxScratchBytes(V) bytes; 2 out int32 [> slot].
// One dispatch when V <= 8192, else two with a barrier between them.
func ArgmaxVk(c gpu.Caps, V, slot int) []gpu.Dispatch {
	groups, per := selectGroups(V, argmaxChunk, argmaxMaxGroups)
	push := gpu.Push(uint32(V), uint32(per), uint32(slot))
	ds := []gpu.Dispatch{{
		Shader: "argmax_partial",
		Spec:   []uint32{rowWorkgroup(c, per)},
		Push:   push,
		Groups: [3]uint32{uint32(groups), 1, 1},
	}}
	if groups > 1 {
		ds = append(ds, gpu.Dispatch{
			Shader: "argmax_merge",
			Spec:   []uint32{rowWorkgroup(c, groups)},
			Push:   push,
			Groups: [3]uint32{1, 1, 1},
		})
	}
	return ds
}

// ErrSampleUnsupported is wrapped by SampleVk's error when the parameters
// are valid but beyond the GPU sampler (TopK off or above SampleKMax): the
// caller should sample on the CPU instead.
var ErrSampleUnsupported = errors.New("kernels: sampling parameters need the CPU sampler")

// SampleStateBytes is the size of SampleVk's state buffer: uint32 seed, then
// uint32 step.
const SampleStateBytes = 8

// SampleScratchBytes is the size of SampleVk's scratch buffer for a row of V
// logits, enough for any TopK: SampleKMax (key, index) pairs per first-pass
// workgroup.
func SampleScratchBytes(V int) int {
	g, _ := selectGroups(V, sampleChunk, sampleLists)
	return 8 * SampleKMax * g
}

// SampleOut says where SampleVk writes its token.
type SampleOut struct {
	Slot int // out index, or the first index of a ring
	// Ring > 0 writes to out[Slot + step % Ring] instead of out[Slot], step
	// being the value read from the state buffer.
	Ring int
	// Advance increments the state's step after use, so that replaying the
	// same recording draws a fresh number (and moves along the ring) each
	// time.
	Advance bool
	// Feed also writes the token to the ids binding (4, int32 [1]) and adds
	// one to the pos binding (5, int32 [1]): the next replayed decode
	// step's input, with no dispatch of its own.
	Feed bool
}

// SampleVk lowers SampleTopK over one row of V logits (1 <= V < 2^31) with
// u = SampleU(seed, step), seed and step read from the state buffer, and
// writes the token as int32 into out as o says. Pass V = ExcludeFrom to keep
// the tail of the vocabulary out. With Temperature <= 0 it is an argmax
// (TopK is then ignored); otherwise TopK outside 1..SampleKMax fails with
// ErrSampleUnsupported.
//
// Bindings, the same for every dispatch: 0 logits f32 [V] (read-only);
// 1 scratch, SampleScratchBytes(V) bytes; 2 state uint32 [2] = {seed, step}
// (SampleStateBytes); 3 out int32 [Slot + max(Ring, 1)]; with Feed, 4 ids
// int32 [1] and 5 pos int32 [1].
// One dispatch when V <= 4096, else two with a barrier between them.
func SampleVk(c gpu.Caps, V int, p SampleParams, o SampleOut) ([]gpu.Dispatch, error) {
	if err := checkSample(V, p, o); err != nil {
		return nil, err
	}
	k, flags, invT := p.TopK, uint32(0), float32(0)
	if p.Temperature > 0 {
		invT = 1 / p.Temperature
	} else {
		k, flags = 1, 1
	}
	if o.Advance {
		flags |= 2
	}
	feed := ""
	if o.Feed {
		feed = "_feed"
	}
	groups, per := selectGroups(V, sampleChunk, sampleLists)
	// At most sampleLists subgroups per workgroup, whatever size they come in.
	sg := max(int(c.MinSubgroupSize), 1)
	if c.MinSubgroupSize == 0 {
		sg = max(int(c.SubgroupSize), 1)
	}
	wg := min(int(rowWorkgroup(c, per)), sampleLists*sg)
	push := gpu.Push(uint32(V), uint32(per), uint32(k), gpu.F32(invT), gpu.F32(p.TopP),
		gpu.F32(p.MinP), uint32(o.Slot), uint32(o.Ring), flags)
	ds := []gpu.Dispatch{{
		Shader: "sample_partial" + feed,
		Spec:   []uint32{uint32(wg)},
		Push:   push,
		Groups: [3]uint32{uint32(groups), 1, 1},
	}}
	if groups > 1 {
		ds = append(ds, gpu.Dispatch{
			Shader: "sample_merge" + feed,
			Spec:   []uint32{sampleMergeWorkgroup},
			Push:   push,
			Groups: [3]uint32{1, 1, 1},
		})
	}
	return ds, nil
}

// checkSample reports why SampleVk cannot take its arguments.
func checkSample(V int, p SampleParams, o SampleOut) error {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("kernels: sample %s = %v, want %s", field, v, want)
	}
	t := float64(p.Temperature)
	switch {
	case V < 1 || V > math.MaxInt32:
		return bad("V", V, "in [1, 2^31)")
	case math.IsNaN(t) || math.IsInf(t, 0):
		return bad("Temperature", p.Temperature, "a finite number")
	case math.IsNaN(float64(p.TopP)) || p.TopP < 0:
		return bad("TopP", p.TopP, ">= 0")
	case math.IsNaN(float64(p.MinP)) || p.MinP < 0 || p.MinP > 1:
		return bad("MinP", p.MinP, "in [0, 1]")
	case o.Slot < 0 || o.Ring < 0 || o.Slot+o.Ring > math.MaxInt32:
		return bad("output", o, "Slot, Ring >= 0 within int32")
	case t > 0 && (p.TopK < 1 || p.TopK > SampleKMax):
		return fmt.Errorf("%w: TopK = %d, the GPU takes 1..%d", ErrSampleUnsupported, p.TopK, SampleKMax)
	}
	return nil
}
