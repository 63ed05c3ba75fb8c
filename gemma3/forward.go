package gemma3

import (
	"fmt"

	"gemmavk/graph"
	"gemmavk/kernels"
)

// StepOptions choose what a step graph returns besides the last token's
// logits.
type StepOptions struct {
	AllLogits bool // logits of every position, [T, vocab]
	Hidden    bool // the embedding and each layer's output, then the final norm
	// Images makes a step for a chunk holding image soft tokens: instead of
	// the "ids" input it reads the f32 input "embeds" [T, H] (the scaled
	// token embeddings with image features spliced in, GEMMA3.md §6.3) and
	// the i32 input "spans" [T] (one nonzero id per image run, 0 for text)
	// for the bidirectional image attention of GEMMA3.md §3. Not with Hidden.
	Images bool
}

// Step is a graph for T tokens with handles to its outputs.
type Step struct {
	T      int
	Graph  *graph.Graph
	Logits *graph.Tensor   // [T or 1, vocab]
	Hidden []*graph.Tensor // with StepOptions.Hidden: L + 2 tensors of [T, H]
}

// cacheNames are the state names of layer i's cache halves.
func cacheNames(i int) (k, v string) {
	return fmt.Sprintf("cache_k.%d", i), fmt.Sprintf("cache_v.%d", i)
}

// attn is layer i's attention geometry, with the cache it reads.
func (m *Model) attn(i int, slots []int) kernels.Attn {
	c := &m.Config
	a := kernels.Attn{Heads: c.Heads, KVHeads: c.KVHeads, HeadDim: c.HeadDim,
		Scale: float32(c.AttnScale()), Slots: slots[i]}
	if c.Kinds[i] == Sliding {
		a.Window = c.SlidingWindow
	}
	return a
}

// BuildStep describes the decoder over a chunk of T tokens whose ids and
// positions are the inputs "ids" and "pos", with the KV cache as state
// (slots[i] rows for layer i).
func (m *Model) BuildStep(T int, slots []int, opt StepOptions) (*Step, error) {
	c, w := &m.Config, m.Weights
	b := graph.NewBuilder()
	eps := float32(c.RMSEps)
	pos := b.Input("pos", T)
	embed := b.Matrix(w.Embed)
	st := &Step{T: T}
	var x, spans *graph.Tensor
	if opt.Images {
		if opt.Hidden {
			return nil, fmt.Errorf("gemma3: hidden states of image steps are not supported")
		}
		x, spans = b.InputF32("embeds", T, c.Hidden), b.Input("spans", T)
	} else {
		x = b.Embed(b.Input("ids", T), embed, c.EmbedScale) // [T, H]
	}
	if opt.Hidden {
		st.Hidden = append(st.Hidden, b.Output(x))
	}
	for i := range w.Layers {
		x = m.layer(b, x, pos, spans, i, slots, eps)
		if opt.Hidden {
			st.Hidden = append(st.Hidden, b.Output(x))
		}
	}
	if !opt.AllLogits && !opt.Hidden && T > 1 {
		// Only the next token's logits are needed. (One token is its own
		// last row: no copy, and the last layer's seam can then fuse
		// into the head's product.)
		x = b.LastRow(x)
	}
	y := b.RMSNorm(x, b.Vector("output_norm", w.FinalNorm), eps)
	if opt.Hidden {
		st.Hidden = append(st.Hidden, b.Output(y))
	}
	if !opt.AllLogits && opt.Hidden && T > 1 {
		y = b.LastRow(y)
	}
	head := embed
	if w.Output != nil {
		head = b.Matrix(w.Output)
	}
	st.Logits = b.Output(b.MatMul(y, head)) // tied head: y · Eᵀ
	g, err := b.Build()
	if err != nil {
		return nil, err
	}
	st.Graph = g
	return st, nil
}

// layer is one decoder layer (GEMMA3.md §1.3); spans, when not nil, are
// the image runs whose tokens attend to each other both ways (§3).
func (m *Model) layer(b *graph.Builder, x, pos, spans *graph.Tensor, i int, slots []int, eps float32) *graph.Tensor {
	c, w := &m.Config, &m.Weights.Layers[i]
	rope := m.Config.RopeFor(i)
	ra := func(heads int) graph.RopeAttr {
		return graph.RopeAttr{Heads: heads, HeadDim: c.HeadDim, Base: rope.Base, Factor: rope.Factor}
	}
	vec := func(name string, v []float32) *graph.Tensor { return b.Vector(fmt.Sprintf("blk.%d.%s", i, name), v) }

	a := b.RMSNorm(x, vec("attn_norm", w.InputNorm), eps)                       // [T, H]
	q := b.RMSNorm(b.MatMul(a, b.Matrix(w.QProj)), vec("q_norm", w.QNorm), eps) // [T, nH*D], per head
	k := b.RMSNorm(b.MatMul(a, b.Matrix(w.KProj)), vec("k_norm", w.KNorm), eps) // [T, nKV*D]
	v := b.MatMul(a, b.Matrix(w.VProj))                                         // [T, nKV*D]: no norm, no RoPE
	q, k = b.RoPE(q, pos, ra(c.Heads)), b.RoPE(k, pos, ra(c.KVHeads))
	kn, vn := cacheNames(i)
	at := m.attn(i, slots)
	ck, cv := b.State(kn, at.Slots, c.KVHeads*c.HeadDim), b.State(vn, at.Slots, c.KVHeads*c.HeadDim)
	var o *graph.Tensor // [T, nH*D]
	if spans != nil {
		o = b.AttentionSpans(q, k, v, ck, cv, pos, spans, at)
	} else {
		o = b.Attention(q, k, v, ck, cv, pos, at)
	}
	x = b.Add(x, b.RMSNorm(b.MatMul(o, b.Matrix(w.OProj)), vec("post_attention_norm", w.PostAttnNorm), eps))

	f := b.RMSNorm(x, vec("ffn_norm", w.PreFFNorm), eps)
	g := b.GeluMul(b.MatMul(f, b.Matrix(w.Gate)), b.MatMul(f, b.Matrix(w.Up))) // [T, I]
	return b.Add(x, b.RMSNorm(b.MatMul(g, b.Matrix(w.Down)), vec("post_ffw_norm", w.PostFFNorm), eps))
}
