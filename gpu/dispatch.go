package gpu

import (
	"encoding/binary"
	"math"
)

// Dispatch describes one dispatch of a shader variant as data: which
// variant, its specialization constants, its push constants and its group
// counts. Kernel lowerings return Dispatches; gpu records them.
type Dispatch struct {
	Shader string    // manifest name
	Spec   []uint32  // specialization constants 0, 1, …
	Push   []byte    // push constants, at most PushSize bytes
	Groups [3]uint32 // workgroup counts
}

// Bound is a Dispatch with its pipeline and descriptor set made: ready to
// record any number of times.
type Bound struct {
	Dispatch
	Pipeline *Pipeline
	Set      *DescriptorSet
}

// Bind creates (or finds) the pipeline of ds and a descriptor set over
// bufs, in binding order.
func (d *Device) Bind(ds Dispatch, bufs ...Buffer) (*Bound, error) {
	p, err := d.Pipeline(ds.Shader, ds.Spec...)
	if err != nil {
		return nil, err
	}
	set, err := d.NewDescriptorSet(p, bufs...)
	if err != nil {
		return nil, err
	}
	return &Bound{Dispatch: ds, Pipeline: p, Set: set}, nil
}

// Close frees the descriptor set.
func (b *Bound) Close() {
	if b != nil {
		b.Set.Close()
	}
}

// Push packs push constants, four bytes each, little-endian, in order.
// Floats go in as F32(x).
func Push(words ...uint32) []byte {
	out := make([]byte, 4*len(words))
	for i, w := range words {
		binary.LittleEndian.PutUint32(out[4*i:], w)
	}
	return out
}

// F32 returns the bits of a float32 push constant.
func F32(x float32) uint32 { return math.Float32bits(x) }
