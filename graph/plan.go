package graph

import (
	"fmt"
	"sort"
)

// Plan is a graph made ready to run: the nodes in execution order and an
// activation-memory plan that packs every activation into one arena.
type Plan struct {
	Graph *Graph
	Steps []*Node
	// Offset[id] is the arena offset (in f32 elements) of activation id, or
	// -1 for tensors that do not live in the arena.
	Offset []int
	// ArenaLen is the arena size in f32 elements; Unpacked is what the
	// activations would take without reuse.
	ArenaLen, Unpacked int
}

// NewPlan orders the graph, drops nodes whose results nobody uses, checks
// that every input is defined before use, and packs activations by
// liveness.
func NewPlan(g *Graph) (*Plan, error) {
	steps := liveNodes(g)
	def := make([]int, len(g.Tensors))
	last := make([]int, len(g.Tensors))
	for i := range def {
		def[i], last[i] = -1, -1
	}
	for i, n := range steps {
		for _, in := range n.In {
			if in.Kind == Activation && def[in.ID] < 0 {
				return nil, fmt.Errorf("graph: plan: %s reads %s before it is computed", n.Op, in.Name)
			}
			last[in.ID] = i
		}
		for _, o := range n.outputs() {
			if def[o.ID] >= 0 {
				return nil, fmt.Errorf("graph: plan: %s computed twice", o.Name)
			}
			def[o.ID] = i
			if last[o.ID] < i {
				last[o.ID] = i
			}
		}
	}
	p := &Plan{Graph: g, Steps: steps, Offset: make([]int, len(g.Tensors))}
	var acts []*Tensor
	for _, t := range g.Tensors {
		p.Offset[t.ID] = -1
		if t.Kind != Activation || def[t.ID] < 0 {
			continue
		}
		if t.Output {
			last[t.ID] = len(steps)
		}
		acts = append(acts, t)
		p.Unpacked += t.Len()
	}
	p.ArenaLen = pack(acts, def, last, p.Offset)
	return p, nil
}

// liveNodes keeps, in program order, the nodes that produce an output or a
// value a kept node reads, plus every node with side effects (cache writes).
func liveNodes(g *Graph) []*Node {
	need := make([]bool, len(g.Tensors))
	for _, t := range g.Outputs {
		need[t.ID] = true
	}
	keep := make([]bool, len(g.Nodes))
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		if n.Out == nil || n.Op == OpRMSNormRoPECache || n.Op == OpAttentionNormRope || need[n.Out.ID] || (n.Out2 != nil && need[n.Out2.ID]) {
			keep[i] = true
			for _, in := range n.In {
				need[in.ID] = true
			}
		}
	}
	var steps []*Node
	for i, n := range g.Nodes {
		if keep[i] {
			steps = append(steps, n)
		}
	}
	return steps
}

// ArenaAlign is the alignment of every arena offset, in f32 elements:
// 256 bytes, the largest minStorageBufferOffsetAlignment Vulkan allows, so
// that a GPU executor can bind each activation at its offset.
const ArenaAlign = 64

// alignUp rounds n up to a multiple of ArenaAlign.
func alignUp(n int) int { return (n + ArenaAlign - 1) / ArenaAlign * ArenaAlign }

// pack assigns arena offsets greedily, largest tensors first, each at the
// lowest aligned offset that does not overlap a placed tensor whose
// lifetime [def, last] intersects its own. It returns the arena length.
func pack(acts []*Tensor, def, last, off []int) int {
	order := append([]*Tensor(nil), acts...)
	sort.SliceStable(order, func(i, j int) bool { return order[i].Len() > order[j].Len() })
	type span struct{ lo, hi int }
	var placed []*Tensor
	arena := 0
	for _, t := range order {
		var busy []span
		for _, q := range placed {
			if def[q.ID] <= last[t.ID] && def[t.ID] <= last[q.ID] {
				busy = append(busy, span{off[q.ID], off[q.ID] + alignUp(q.Len())})
			}
		}
		sort.Slice(busy, func(i, j int) bool { return busy[i].lo < busy[j].lo })
		at := 0
		for _, s := range busy {
			if at+t.Len() <= s.lo {
				break
			}
			if s.hi > at {
				at = s.hi // aligned: every start and padded length is
			}
		}
		off[t.ID] = at
		placed = append(placed, t)
		if at+t.Len() > arena {
			arena = at + t.Len()
		}
	}
	return arena
}
