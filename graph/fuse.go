package graph

import "gemmavk/kernels"

// Fuse rewrites a graph so that a decode step takes fewer dispatches and
// barriers, returning a new graph (g is not changed). Each rule replaces
// plain ops by one fused op that computes the same values:
//
//   - q/k norm + RoPE: RoPE(RMSNorm(x)) -> OpRMSNormRoPE.
//   - ... + cache write: the k path's OpRMSNormRoPE and the CacheWrite of
//     its attention -> OpRMSNormRoPECache, when writing the cache before the
//     attention cannot overwrite a row the chunk's queries read: one token
//     per step, or a cache that never wraps (global layers).
//   - gate/up/GELU: GeluMul(MatMul(x, Wg), MatMul(x, Wu)) -> OpMatMulGelu,
//     for one token and weights of one type.
//   - post-norm + residual add (+ the next pre-norm): Add(x, RMSNorm(o))
//     -> OpAddRMSNorm, taking a following full-row RMSNorm of the sum as its
//     second output.
//
// An intermediate is fused away only when the replaced op is its sole
// reader and the caller does not read it.
func Fuse(g *Graph) *Graph {
	f := newFuser(g)
	repl := map[*Node]*Node{}
	for _, n := range g.Nodes {
		if m := f.rule(n); m != nil {
			repl[n] = m
		}
	}
	out := rewrite(g, f.dead, repl)
	out.Nodes = fuseCacheWrites(out.Nodes)
	return out
}

// rewrite returns g with the nodes in dead left out and those in repl
// replaced, in order.
func rewrite(g *Graph, dead map[*Node]bool, repl map[*Node]*Node) *Graph {
	out := &Graph{Tensors: g.Tensors, Inputs: g.Inputs, States: g.States, Outputs: g.Outputs}
	for _, n := range g.Nodes {
		if dead[n] {
			continue
		}
		if m, ok := repl[n]; ok {
			n = m
		}
		out.Nodes = append(out.Nodes, n)
	}
	return out
}

type fuser struct {
	g       *Graph
	readers map[*Tensor][]*Node
	dead    map[*Node]bool
}

func newFuser(g *Graph) *fuser {
	return &fuser{g: g, readers: readersOf(g.Nodes), dead: map[*Node]bool{}}
}

// readersOf maps each tensor to the nodes of nodes that read it, in order.
func readersOf(nodes []*Node) map[*Tensor][]*Node {
	readers := map[*Tensor][]*Node{}
	for _, n := range nodes {
		for _, in := range n.In {
			readers[in] = append(readers[in], n)
		}
	}
	return readers
}

// only returns the node producing t when n is t's sole reader and the
// caller does not read t.
func (f *fuser) only(t *Tensor, n *Node, op Op) *Node {
	if t.Kind != Activation || t.Output || len(f.readers[t]) != 1 || f.readers[t][0] != n {
		return nil
	}
	for _, p := range f.g.Nodes {
		if p.Out == t && p.Out2 == nil && p.Op == op && !f.dead[p] {
			return p
		}
	}
	return nil
}

// rule returns the fused node that replaces n, marking the nodes it
// absorbs dead, or nil.
func (f *fuser) rule(n *Node) *Node {
	switch n.Op {
	case OpRoPE:
		norm := f.only(n.In[0], n, OpRMSNorm)
		if norm == nil || len(norm.In[1].Vector) != n.Attr.(RopeAttr).HeadDim {
			return nil
		}
		f.dead[norm] = true
		return &Node{Op: OpRMSNormRoPE, In: []*Tensor{norm.In[0], norm.In[1], n.In[1]}, Out: n.Out,
			Attr: NormRopeAttr{Eps: norm.Attr.(NormAttr).Eps, Rope: n.Attr.(RopeAttr)}}
	case OpGeluMul:
		gate, up := f.only(n.In[0], n, OpMatMul), f.only(n.In[1], n, OpMatMul)
		if gate == nil || up == nil || gate.In[0] != up.In[0] || gate.In[0].Rows() != 1 ||
			gate.In[1].Matrix.Type != up.In[1].Matrix.Type {
			return nil
		}
		f.dead[gate], f.dead[up] = true, true
		return &Node{Op: OpMatMulGelu, In: []*Tensor{gate.In[0], gate.In[1], up.In[1]}, Out: n.Out}
	case OpAdd:
		for i := 0; i < 2; i++ {
			norm := f.only(n.In[1-i], n, OpRMSNorm)
			x := n.In[i]
			if norm == nil || len(norm.In[1].Vector) != x.Cols() {
				continue
			}
			f.dead[norm] = true
			m := &Node{Op: OpAddRMSNorm, In: []*Tensor{norm.In[0], x, norm.In[1]}, Out: n.Out, Attr: norm.Attr}
			// The next full-row norm of the sum becomes the second output.
			for _, r := range f.readers[n.Out] {
				if r.Op == OpRMSNorm && !f.dead[r] && len(r.In[1].Vector) == x.Cols() && r.Attr == norm.Attr {
					m.In = append(m.In, r.In[1])
					m.Out2 = r.Out
					f.dead[r] = true
					break
				}
			}
			return m
		}
	}
	return nil
}

// fuseCacheWrites moves each cache write into the fused norm + RoPE of its
// keys where that is safe: the write then lands before the attention that
// reads the cache, which must not need the rows it overwrites. With one
// token per step the row written (position p) held position p - Slots,
// outside the query's window; a cache with fewer slots than the window
// (the context is shorter) or a global one never wraps within a step.
func fuseCacheWrites(nodes []*Node) []*Node {
	producer := map[*Tensor]int{}
	for i, n := range nodes {
		if n.Out != nil {
			producer[n.Out] = i
		}
	}
	drop := map[*Node]bool{}
	for _, cw := range nodes {
		if cw.Op != OpCacheWrite {
			continue
		}
		a := cw.attn()
		k, v, ck, cv, pos := cw.In[0], cw.In[1], cw.In[2], cw.In[3], cw.In[4]
		ki, ok := producer[k]
		if !ok || nodes[ki].Op != OpRMSNormRoPE || nodes[ki].In[2] != pos {
			continue
		}
		if vi, ok := producer[v]; !ok || vi > ki {
			continue
		}
		if T := k.Rows(); T != 1 && a.Window != 0 && a.Slots >= a.Window {
			continue
		}
		kn := nodes[ki]
		attr := kn.Attr.(NormRopeAttr)
		attr.Attn = a
		nodes[ki] = &Node{Op: OpRMSNormRoPECache, In: []*Tensor{kn.In[0], kn.In[1], pos, v, ck, cv}, Out: k, Attr: attr}
		drop[cw] = true
	}
	out := nodes[:0]
	for _, n := range nodes {
		if !drop[n] {
			out = append(out, n)
		}
	}
	return out
}

// FuseNormMatVec moves each one-token OpAddRMSNorm that has a second output
// into the products reading that output, so the layer seam costs no
// dispatch or barrier of its own: every reader (OpMatMul or OpMatMulGelu
// of the one row, with weights can accepts) becomes OpNormMatMul /
// OpNormMatMulGelu, recomputing both norms from the seam's inputs, and the
// first of them also produces the residual sum. It applies where nothing
// reads the sum before that first product and the caller does not read
// the normalized row. The values are those of the plain ops.
func FuseNormMatVec(g *Graph, can func(w *kernels.Weight) bool) *Graph {
	readers := map[*Tensor][]int{}
	for i, n := range g.Nodes {
		for _, in := range n.In {
			readers[in] = append(readers[in], i)
		}
	}
	repl := map[*Node]*Node{}
	drop := map[*Node]bool{}
	for _, n := range g.Nodes {
		if n.Op != OpAddRMSNorm || n.Out2 == nil || n.Out2.Output || n.Out2.Rows() != 1 || len(n.In) != 4 {
			continue
		}
		rs := readers[n.Out2]
		if len(rs) == 0 || !fusableReaders(g, rs, n.Out2, can) {
			continue
		}
		if sum := readers[n.Out]; len(sum) > 0 && sum[0] < rs[0] {
			continue
		}
		drop[n] = true
		for k, r := range rs {
			m := g.Nodes[r]
			op := OpNormMatMul
			if m.Op == OpMatMulGelu {
				op = OpNormMatMulGelu
			}
			in := append([]*Tensor{n.In[0], n.In[1], n.In[2], n.In[3]}, m.In[1:]...)
			fm := &Node{Op: op, In: in, Out: m.Out, Attr: n.Attr}
			if k == 0 {
				fm.Out2 = n.Out
			}
			repl[m] = fm
		}
	}
	return rewrite(g, drop, repl)
}

// fusableReaders reports whether the nodes rs all multiply the row f by
// weights can accepts.
func fusableReaders(g *Graph, rs []int, f *Tensor, can func(w *kernels.Weight) bool) bool {
	for _, r := range rs {
		m := g.Nodes[r]
		switch {
		case m.Op == OpMatMul && m.In[0] == f && can(m.In[1].Matrix):
		case m.Op == OpMatMulGelu && m.In[0] == f && can(m.In[1].Matrix) && can(m.In[2].Matrix):
		default:
			return false
		}
	}
	return true
}

// FuseAttentionNormRope folds the q/k norm + RoPE of each one-token
// attention into it: OpRMSNormRoPE of q and OpRMSNormRoPECache of k (the
// cache write Fuse moved there) feeding OpAttention become one
// OpAttentionNormRope, so that a decode step spends no dispatch level on
// them. It applies to the output of Fuse, where the attention has no spans,
// both norms read the attention's positions with one eps and nothing else
// (nor the caller) reads the normalized q and k, and can accepts the
// fused node's attributes (the executor lowers it). The values are those
// of the plain ops.
func FuseAttentionNormRope(g *Graph, can func(AttnNormRopeAttr) bool) *Graph {
	f := newFuser(g)
	repl := map[*Node]*Node{}
	for _, n := range g.Nodes {
		if n.Op != OpAttention || len(n.In) != 6 || n.In[0].Rows() != 1 {
			continue
		}
		q, k, v, ck, cv, pos := n.In[0], n.In[1], n.In[2], n.In[3], n.In[4], n.In[5]
		qn, kn := f.only(q, n, OpRMSNormRoPE), f.only(k, n, OpRMSNormRoPECache)
		if qn == nil || kn == nil {
			continue
		}
		qa, ka := qn.Attr.(NormRopeAttr), kn.Attr.(NormRopeAttr)
		if qn.In[2] != pos || kn.In[2] != pos || kn.In[3] != v || kn.In[4] != ck || kn.In[5] != cv ||
			ka.Attn != n.attn() || qa.Eps != ka.Eps {
			continue
		}
		attr := AttnNormRopeAttr{Attn: n.attn(), Eps: qa.Eps, Q: qa.Rope, K: ka.Rope}
		if !can(attr) {
			continue
		}
		f.dead[qn], f.dead[kn] = true, true
		repl[n] = &Node{Op: OpAttentionNormRope, Out: n.Out, Attr: attr,
			In: []*Tensor{qn.In[0], qn.In[1], kn.In[0], kn.In[1], v, ck, cv, pos}}
	}
	return rewrite(g, f.dead, repl)
}
