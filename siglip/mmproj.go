package siglip

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"gemmavk/gguf"
	"gemmavk/kernels"
	"gemmavk/kernels/quant"
)

// fileTypes are the general.file_type labels of the encodings llama.cpp
// writes mmproj files in (FORMATS.md §1.8).
var fileTypes = map[quant.Type]uint32{quant.F32: 0, quant.F16: 1, quant.Q8_0: 7, quant.BF16: 32}

// WriteMMProj writes the encoder and projector as a llama.cpp mmproj GGUF
// (FORMATS.md §5): the clip.* keys of cfg, then every tensor under its
// GGUF name. The encoder's and projector's matrices are encoded as t where
// their rows are whole blocks of t, else as F16 (as llama.cpp's converter
// falls back); the patch and position embeddings and every vector are
// F32. The projection goes back to its stored orientation [Hv, H] and the
// projector's norm keeps its 1 + w. t is F32, F16, BF16 or Q8_0.
func WriteMMProj(w io.Writer, cfg Config, ws *Weights, t quant.Type) error {
	if err := writeMMProj(w, cfg, ws, t); err != nil {
		return fmt.Errorf("siglip: write mmproj: %w", err)
	}
	return nil
}

func writeMMProj(w io.Writer, cfg Config, ws *Weights, t quant.Type) error {
	label, ok := fileTypes[t]
	if !ok {
		return fmt.Errorf("type %s: want F32, F16, BF16 or Q8_0", t)
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.Channels != 3 {
		return fmt.Errorf("%d channels: an mmproj file has 3", cfg.Channels)
	}
	if err := ws.Check(&cfg); err != nil {
		return err
	}
	g := gguf.NewWriter()
	u32 := func(v int) uint32 { return uint32(v) }
	type kv struct {
		key string
		v   any
	}
	kvs := []kv{
		{"general.architecture", "clip"},
		{"general.type", "mmproj"},
		{"general.file_type", label},
		{"clip.has_vision_encoder", true},
		{"clip.projector_type", "gemma3"},
		{"clip.vision.image_size", u32(cfg.ImageSize)},
		{"clip.vision.patch_size", u32(cfg.PatchSize)},
		{"clip.vision.embedding_length", u32(cfg.Hidden)},
		{"clip.vision.feed_forward_length", u32(cfg.Intermediate)},
		{"clip.vision.block_count", u32(cfg.Layers)},
		{"clip.vision.attention.head_count", u32(cfg.Heads)},
		{"clip.vision.attention.layer_norm_epsilon", float32(cfg.LayerNormEps)},
		{"clip.vision.projection_dim", u32(cfg.TextHidden)},
		{"clip.vision.image_mean", []float32{0.5, 0.5, 0.5}},
		{"clip.vision.image_std", []float32{0.5, 0.5, 0.5}},
		{"clip.use_gelu", true},
	}
	if k := cfg.PoolKernel(); k != 4 {
		kvs = append(kvs, kv{"clip.vision.projector.scale_factor", u32(k)})
	}
	for _, kv := range kvs {
		if err := g.Add(kv.key, kv.v); err != nil {
			return err
		}
	}
	var errs []error
	add := func(name string, typ quant.Type, shape []int, data []byte) {
		dims := make([]uint64, len(shape))
		for i, d := range shape {
			dims[len(shape)-1-i] = uint64(d) // ggml ne order: innermost first
		}
		if err := g.AddTensor(name, typ, dims, data); err != nil {
			errs = append(errs, err)
		}
	}
	for _, s := range slices.Concat(globalTensors, layerTensors) {
		layered := strings.Contains(s.gguf, "%d")
		layers := 1
		if layered {
			layers = cfg.Layers
		}
		for i := 0; i < layers; i++ {
			name := s.gguf
			if layered {
				name = fmt.Sprintf(name, i)
			}
			shape := s.shape(&cfg)
			if s.vector != nil {
				add(name, quant.F32, shape, f32Bytes(*s.vector(ws, i)))
				continue
			}
			m := *s.matrix(ws, i)
			typ := t
			switch {
			case m == ws.PatchEmbed:
				typ = quant.F32 // embeddings stay F32 (llama.cpp's converter)
			case s.ggufFix == transpose:
				shape = []int{shape[1], shape[0]}
			}
			if _, err := quant.RowBytes(typ, shape[len(shape)-1]); err != nil {
				typ = quant.F16
			}
			data, err := encodeMatrix(m, typ, s.ggufFix == transpose)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				continue
			}
			add(name, typ, shape, data)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	_, err := g.WriteTo(w)
	return err
}

// encodeMatrix returns m (transposed when flip) in encoding t: its own
// bytes when nothing changes, else through f32.
func encodeMatrix(m *kernels.Weight, t quant.Type, flip bool) ([]byte, error) {
	if m.Type == t && !flip {
		return m.Data, nil
	}
	v := make([]float32, m.Rows*m.Cols)
	for r := 0; r < m.Rows; r++ {
		m.DecodeRow(r, v[r*m.Cols:(r+1)*m.Cols])
	}
	if flip {
		tr := make([]float32, len(v))
		for r := 0; r < m.Rows; r++ {
			for c := 0; c < m.Cols; c++ {
				tr[c*m.Rows+r] = v[r*m.Cols+c]
			}
		}
		v = tr
	}
	return quant.Quantize(t, v)
}
