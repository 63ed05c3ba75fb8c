package gemma3

import (
	"fmt"
	"math"
)

// LayerKind says how a decoder layer attends: over a sliding window of
// recent tokens (local) or over the whole context (global).
type LayerKind int

// Layer kinds, GEMMA3.md §2.1.
const (
	Sliding LayerKind = iota
	Global
)

func (k LayerKind) String() string {
	if k == Global {
		return "global"
	}
	return "sliding"
}

// Rope holds the rotary parameters of one layer kind: the base and the
// linear scaling factor (1 when unscaled). GEMMA3.md §2.
type Rope struct {
	Base   float64
	Factor float64
}

// Config is the text decoder's shape and numeric parameters, the same
// whether it came from a GGUF file or an HF config.json.
type Config struct {
	Vocab        int // rows of the embedding table
	Hidden       int // H
	Intermediate int // I
	Layers       int // L
	Heads        int // nH
	KVHeads      int // nKV
	HeadDim      int // D

	// QueryPreAttnScalar sets the attention scale to its inverse square
	// root (GEMMA3.md §1.4).
	QueryPreAttnScalar float64
	SlidingWindow      int // W
	// Kinds has one entry per layer.
	Kinds      []LayerKind
	RopeGlobal Rope
	RopeLocal  Rope
	RMSEps     float64
	// MaxPositions is the trained context length.
	MaxPositions int
	// EmbedScale multiplies looked-up token embeddings: sqrt(H) rounded to
	// the dtype the reference computes it in (GEMMA3.md §1.1).
	EmbedScale float32

	BOS int
	EOS []int // every id that ends generation
	PAD int

	// Image holds the ids of image prompts; zero fields mean the released
	// models' values (ImageConfig.Resolved).
	Image ImageConfig
}

// AttnScale is the factor applied to q·k (GEMMA3.md §1.4).
func (c *Config) AttnScale() float64 { return 1 / math.Sqrt(c.QueryPreAttnScalar) }

// RopeFor returns the rotary parameters of layer i.
func (c *Config) RopeFor(i int) Rope {
	if c.Kinds[i] == Global {
		return c.RopeGlobal
	}
	return c.RopeLocal
}

// KindsFromPattern returns layer kinds for a sliding-window pattern P:
// layer i is global iff (i+1) % P == 0 (GEMMA3.md §2.1). P <= 1 makes
// every layer global.
func KindsFromPattern(layers, p int) []LayerKind {
	kinds := make([]LayerKind, layers)
	for i := range kinds {
		if p <= 1 || (i+1)%p == 0 {
			kinds[i] = Global
		}
	}
	return kinds
}

// Validate checks that the configuration is internally consistent and that
// every size is positive, so later code may index without further checks.
func (c *Config) Validate() error {
	pos := []struct {
		name string
		v    int
	}{
		{"vocab_size", c.Vocab}, {"hidden_size", c.Hidden}, {"intermediate_size", c.Intermediate},
		{"num_hidden_layers", c.Layers}, {"num_attention_heads", c.Heads},
		{"num_key_value_heads", c.KVHeads}, {"head_dim", c.HeadDim},
		{"sliding_window", c.SlidingWindow}, {"max_position_embeddings", c.MaxPositions},
	}
	for _, p := range pos {
		if p.v <= 0 {
			return fmt.Errorf("gemma3: config: %s = %d, want > 0", p.name, p.v)
		}
	}
	if c.Heads%c.KVHeads != 0 {
		return fmt.Errorf("gemma3: config: %d attention heads not divisible by %d key/value heads", c.Heads, c.KVHeads)
	}
	if c.HeadDim%2 != 0 {
		return fmt.Errorf("gemma3: config: head_dim %d must be even for RoPE", c.HeadDim)
	}
	if len(c.Kinds) != c.Layers {
		return fmt.Errorf("gemma3: config: %d layer kinds for %d layers", len(c.Kinds), c.Layers)
	}
	if !(c.QueryPreAttnScalar > 0) || !(c.RMSEps > 0) || !(c.RopeGlobal.Base > 0) || !(c.RopeLocal.Base > 0) ||
		!(c.RopeGlobal.Factor > 0) || !(c.RopeLocal.Factor > 0) || !(c.EmbedScale > 0) {
		return fmt.Errorf("gemma3: config: non-positive scalar (query_pre_attn_scalar %g, eps %g, rope %+v/%+v, embed scale %g)",
			c.QueryPreAttnScalar, c.RMSEps, c.RopeGlobal, c.RopeLocal, c.EmbedScale)
	}
	return nil
}
