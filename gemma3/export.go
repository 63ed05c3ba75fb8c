package gemma3

import (
	"fmt"
	"math"

	"gemmavk/gguf"
	"gemmavk/kernels"
	"gemmavk/kernels/quant"
)

// WriteGGUF writes the model as a llama.cpp-style Gemma 3 GGUF: the
// gemma3.* keys, the tokenizer when the model has one, norm gains as F32
// (with the +1 folded in, FORMATS.md §3.4) and every matrix re-encoded to
// t (or kept as is when t is 0xFFFFFFFF). Matrices whose rows are not a
// whole number of t's blocks stay F32, as llama.cpp's fallback would.
func (m *Model) WriteGGUF(path string, t quant.Type) error {
	if t != KeepType && !quant.QuantizeSupported(t) {
		return fmt.Errorf("gemma3: write gguf: cannot encode weights as %s", t)
	}
	w := gguf.NewWriter()
	if err := m.writeConfig(w); err != nil {
		return err
	}
	if m.Tokenizer != nil {
		if err := writeTokenizer(w, m); err != nil {
			return err
		}
	}
	mat := func(name string, x *kernels.Weight) error {
		if x == nil {
			return nil
		}
		typ, data := x.Type, x.Data
		if t != KeepType && t != x.Type {
			f := make([]float32, x.Rows*x.Cols)
			if err := quant.Dequantize(x.Type, x.Data, f); err != nil {
				return err
			}
			typ = t
			if x.Cols%t.BlockElems() != 0 {
				typ = quant.F32
			}
			var err error
			if data, err = quant.Quantize(typ, f); err != nil {
				return fmt.Errorf("gemma3: %s: %w", name, err)
			}
		}
		return w.AddTensor(name, typ, []uint64{uint64(x.Cols), uint64(x.Rows)}, data)
	}
	vec := func(name string, v []float32) error {
		data, err := quant.Quantize(quant.F32, v)
		if err != nil {
			return err
		}
		return w.AddTensor(name, quant.F32, []uint64{uint64(len(v))}, data)
	}
	ws := m.Weights
	errs := []error{mat("token_embd.weight", ws.Embed), mat("output.weight", ws.Output), vec("output_norm.weight", ws.FinalNorm)}
	for i, l := range ws.Layers {
		n := func(s string) string { return fmt.Sprintf("blk.%d.%s.weight", i, s) }
		errs = append(errs,
			vec(n("attn_norm"), l.InputNorm), mat(n("attn_q"), l.QProj), mat(n("attn_k"), l.KProj), mat(n("attn_v"), l.VProj),
			vec(n("attn_q_norm"), l.QNorm), vec(n("attn_k_norm"), l.KNorm), mat(n("attn_output"), l.OProj),
			vec(n("post_attention_norm"), l.PostAttnNorm), vec(n("ffn_norm"), l.PreFFNorm),
			mat(n("ffn_gate"), l.Gate), mat(n("ffn_up"), l.Up), mat(n("ffn_down"), l.Down), vec(n("post_ffw_norm"), l.PostFFNorm))
	}
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("gemma3: write gguf: %w", err)
		}
	}
	return w.WriteFile(path)
}

// KeepType asks WriteGGUF to keep every matrix in its current encoding.
const KeepType quant.Type = math.MaxUint32

type keyValue struct {
	k string
	v any
}

func (m *Model) writeConfig(w *gguf.Writer) error {
	c := &m.Config
	kinds := make([]bool, c.Layers) // true: sliding, as llama.cpp's per-layer pattern array
	for i, k := range c.Kinds {
		kinds[i] = k == Sliding
	}
	kv := []keyValue{
		{"general.architecture", "gemma3"},
		{"general.type", "model"},
		{"gemma3.context_length", uint32(c.MaxPositions)},
		{"gemma3.embedding_length", uint32(c.Hidden)},
		{"gemma3.block_count", uint32(c.Layers)},
		{"gemma3.feed_forward_length", uint32(c.Intermediate)},
		{"gemma3.attention.head_count", uint32(c.Heads)},
		{"gemma3.attention.head_count_kv", uint32(c.KVHeads)},
		{"gemma3.attention.key_length", uint32(c.HeadDim)},
		{"gemma3.attention.value_length", uint32(c.HeadDim)},
		{"gemma3.attention.layer_norm_rms_epsilon", float32(c.RMSEps)},
		{"gemma3.attention.sliding_window", uint32(c.SlidingWindow)},
		{"gemma3.attention.sliding_window_pattern", kinds},
		{"gemma3.rope.freq_base", float32(c.RopeGlobal.Base)},
		{"gemma3.rope.freq_base_swa", float32(c.RopeLocal.Base)},
	}
	if c.RopeGlobal.Factor != 1 {
		kv = append(kv, keyValue{"gemma3.rope.scaling.type", "linear"}, keyValue{"gemma3.rope.scaling.factor", float32(c.RopeGlobal.Factor)})
	}
	if c.QueryPreAttnScalar != float64(c.HeadDim) {
		kv = append(kv, keyValue{"gemma3.attention.scale", float32(c.AttnScale())})
	}
	for _, e := range kv {
		if err := w.Add(e.k, e.v); err != nil {
			return fmt.Errorf("gemma3: write gguf: %w", err)
		}
	}
	return nil
}

// writeTokenizer stores the vocabulary as tokenizer.ggml.* (FORMATS.md §4.1).
func writeTokenizer(w *gguf.Writer, m *Model) error {
	v := m.Tokenizer.Vocab()
	types := make([]int32, len(v.Types))
	for i, t := range v.Types {
		types[i] = int32(t)
	}
	for _, e := range []keyValue{
		{"tokenizer.ggml.model", "llama"},
		{"tokenizer.ggml.pre", "default"},
		{"tokenizer.ggml.tokens", v.Tokens},
		{"tokenizer.ggml.scores", v.Scores},
		{"tokenizer.ggml.token_type", types},
		{"tokenizer.ggml.bos_token_id", uint32(v.BOS)},
		{"tokenizer.ggml.eos_token_id", uint32(v.EOS)},
		{"tokenizer.ggml.unknown_token_id", uint32(v.UNK)},
		{"tokenizer.ggml.padding_token_id", uint32(v.PAD)},
		{"tokenizer.ggml.add_bos_token", true},
		{"tokenizer.ggml.add_eos_token", false},
		{"tokenizer.ggml.add_space_prefix", v.AddSpacePrefix},
	} {
		if err := w.Add(e.k, e.v); err != nil {
			return fmt.Errorf("gemma3: write gguf: %w", err)
		}
	}
	return nil
}
