package graph

import (
	"encoding/binary"
	"fmt"
	"sort"

	"gemmavk/gpu"
)

// KernelTime is the GPU time one shader variant took in a profiled run.
type KernelTime struct {
	Shader string
	Calls  int
	Nanos  float64
	// WeightBytes is what the calls read of weight matrices (matrix
	// products), for bandwidth: WeightBytes / Nanos GB/s.
	WeightBytes uint64
}

// Profile runs p once with a barrier and a timestamp after every command,
// so that each dispatch's time stands alone, and returns the time per
// shader variant, largest first (copies count as "copy"). Serializing the
// dispatches makes the total somewhat longer than a normal run's.
func (v *Vulkan) Profile(p *Plan, inputs map[string][]int32, env *VulkanEnv) ([]KernelTime, error) {
	if err := v.Prepare(p, env); err != nil {
		return nil, err
	}
	vp := v.plans[p]
	for _, t := range p.Graph.Inputs {
		val, ok := inputs[t.Name]
		if !ok || len(val) != t.Len() {
			return nil, fmt.Errorf("graph: profile: input %s: got %d values, want %d", t.Name, len(val), t.Len())
		}
		dst := vp.inputs[t.Name].Bytes()
		for i, x := range val {
			binary.LittleEndian.PutUint32(dst[4*i:], uint32(x))
		}
	}
	var labels []string
	var weights []uint64
	for _, c := range vp.cmds {
		switch {
		case c.bound != nil:
			labels = append(labels, c.bound.Shader)
			weights = append(weights, c.weight)
		case c.dst.Valid():
			labels = append(labels, "copy")
			weights = append(weights, 0)
		}
	}
	rec, err := v.dev.NewRecorder(gpu.RecordOptions{Timestamps: len(labels) + 1})
	if err != nil {
		return nil, err
	}
	rec.WriteTimestamp("start")
	i := 0
	for _, c := range vp.cmds {
		if c.bound == nil && !c.dst.Valid() {
			continue // every command gets its own barrier below
		}
		emit(rec, []command{c})
		rec.Barrier()
		rec.WriteTimestamp(labels[i])
		i++
	}
	run, err := rec.End()
	if err != nil {
		return nil, err
	}
	defer run.Close()
	if err := run.Run(); err != nil {
		return nil, err
	}
	ts, err := run.Timestamps()
	if err != nil {
		return nil, err
	}
	if len(ts) < 2 {
		return nil, fmt.Errorf("graph: profile: the device's queue writes no timestamps")
	}
	by := map[string]*KernelTime{}
	for j := 1; j < len(ts); j++ {
		k := by[ts[j].Label]
		if k == nil {
			k = &KernelTime{Shader: ts[j].Label}
			by[ts[j].Label] = k
		}
		k.Calls++
		k.Nanos += ts[j].Nanos - ts[j-1].Nanos
		k.WeightBytes += weights[j-1]
	}
	out := make([]KernelTime, 0, len(by))
	for _, k := range by {
		out = append(out, *k)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Nanos > out[b].Nanos })
	return out, nil
}
