package siglip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"gemmavk/gguf"
	"gemmavk/internal/checkpoint"
	"gemmavk/kernels"
	"gemmavk/safetensors"
)

// Model is a loaded vision encoder and projector: configuration and
// weights (mapped from the file where the encoding allows, not copied).
type Model struct {
	Config  Config
	Weights *Weights
	closers checkpoint.Closers
}

// Load opens the vision part of Gemma 3: an HF checkpoint directory
// (config.json and safetensors, either tensor layout) or a llama.cpp mmproj
// GGUF file.
func Load(path string) (*Model, error) {
	m, err := checkpoint.Open(path, loadHF, loadGGUF)
	if err != nil {
		return nil, fmt.Errorf("siglip: %w", err)
	}
	return m, nil
}

// New makes a model of weights held in memory, checking every shape
// against cfg.
func New(cfg Config, w *Weights) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := w.Check(&cfg); err != nil {
		return nil, err
	}
	return &Model{Config: cfg, Weights: w}, nil
}

// Close releases the mapped files. The model must not be used afterwards.
func (m *Model) Close() error {
	return m.closers.Close()
}

// WeightBytes is the size of the weights: matrices in their encoding,
// vectors in f32.
func (m *Model) WeightBytes() int64 {
	var n int64
	m.Weights.visit(func(_ string, mat *kernels.Weight, vec []float32) {
		if mat != nil {
			n += int64(len(mat.Data))
		} else {
			n += 4 * int64(len(vec))
		}
	})
	return n
}

// visit calls fn for every tensor of the table, with its GGUF name.
func (w *Weights) visit(fn func(name string, m *kernels.Weight, v []float32)) {
	one := func(s tensorSpec, i int) {
		name := checkpoint.LayerName(s.gguf, i)
		if s.matrix != nil {
			fn(name, *s.matrix(w, i), nil)
		} else {
			fn(name, nil, *s.vector(w, i))
		}
	}
	checkpoint.Walk(globalTensors, layerTensors, len(w.Layers), one)
}

// Check reports every tensor that is absent or whose shape differs from
// what c implies, in one error.
func (w *Weights) Check(c *Config) error {
	if len(w.Layers) != c.Layers {
		return fmt.Errorf("siglip: weights: %d layers, config says %d", len(w.Layers), c.Layers)
	}
	var errs []error
	check := func(s tensorSpec, layer int) {
		name := checkpoint.LayerName(s.gguf, layer)
		want := s.shape(c)
		if s.matrix != nil {
			m := *s.matrix(w, layer)
			rows, cols := want[0], product(want[1:])
			switch {
			case m == nil:
				errs = append(errs, fmt.Errorf("%s: missing", name))
			case m.Rows != rows || m.Cols != cols:
				errs = append(errs, fmt.Errorf("%s: matrix [%d, %d], want [%d, %d]", name, m.Rows, m.Cols, rows, cols))
			}
			return
		}
		if v := *s.vector(w, layer); len(v) != product(want) {
			errs = append(errs, fmt.Errorf("%s: %d values, want %v", name, len(v), want))
		}
	}
	checkpoint.Walk(globalTensors, layerTensors, len(w.Layers), check)
	if len(errs) > 0 {
		return fmt.Errorf("siglip: weights: %w", errors.Join(errs...))
	}
	return nil
}

// hfSource reads tensors from safetensors files.
type hfSource struct{ set *safetensors.Set }

// The places the vision tower and the projector live in HF checkpoints
// (GEMMA3.md §5.1): as stored on the Hub, re-saved by transformers 4.5x,
// and as transformers 5 saves them (the tower without vision_model.).
var (
	hfVisionPrefixes    = []string{"vision_tower.vision_model.", "model.vision_tower.vision_model.", "model.vision_tower."}
	hfProjectorPrefixes = []string{"multi_modal_projector.", "model.multi_modal_projector."}
)

func (s hfSource) tensor(name string) (checkpoint.Tensor, bool, error) {
	return checkpoint.FromSafetensors(s.set, name)
}

// loadHF opens an HF checkpoint directory: config.json and safetensors
// (one file or sharded).
func loadHF(dir string) (*Model, error) {
	cfg, set, err := checkpoint.OpenHF(dir, ParseHFConfig)
	if err != nil {
		return nil, err
	}
	w, err := weightsFromHF(&cfg, set)
	if err != nil {
		set.Close()
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return &Model{Config: cfg, Weights: w, closers: checkpoint.Closers{set}}, nil
}

func weightsFromHF(cfg *Config, set *safetensors.Set) (*Weights, error) {
	probe := globalTensors[0].hf
	vision := ""
	for _, p := range hfVisionPrefixes {
		if has(set, p+probe) {
			vision = p
			break
		}
	}
	if vision == "" {
		return nil, fmt.Errorf("no %s under any of the prefixes %v: not a Gemma 3 checkpoint with a vision tower", probe, hfVisionPrefixes)
	}
	// The projector sits beside the tower; when its tensors are absent the
	// loader names them under the prefix of the tower's layout.
	projector := hfProjectorPrefixes[0]
	if strings.HasPrefix(vision, "model.") {
		projector = hfProjectorPrefixes[1]
	}
	for _, p := range hfProjectorPrefixes {
		if has(set, p+"mm_input_projection_weight") {
			projector = p
		}
	}
	name := func(s tensorSpec) string {
		if s.projector {
			return projector + s.hf
		}
		return vision + s.hf
	}
	return loadWeights(cfg, hfSource{set}, name, func(s tensorSpec) fixup { return s.hfFix })
}

func has(set *safetensors.Set, name string) bool {
	_, ok := set.Tensor(name)
	return ok
}

// ggufSource reads tensors from an mmproj GGUF, reversing ggml's dimension
// order into PyTorch's. swapFFN undoes the fc1/fc2 name swap of some early
// files (FORMATS.md §5.2).
type ggufSource struct {
	f       *gguf.File
	swapFFN bool
}

func (s ggufSource) tensor(name string) (checkpoint.Tensor, bool, error) {
	if s.swapFFN {
		if n, ok := strings.CutSuffix(name, ".ffn_up.weight"); ok {
			name = n + ".ffn_down.weight"
		} else if n, ok := strings.CutSuffix(name, ".ffn_up.bias"); ok {
			name = n + ".ffn_down.bias"
		} else if n, ok := strings.CutSuffix(name, ".ffn_down.weight"); ok {
			name = n + ".ffn_up.weight"
		} else if n, ok := strings.CutSuffix(name, ".ffn_down.bias"); ok {
			name = n + ".ffn_up.bias"
		}
	}
	return checkpoint.FromGGUF(s.f, name)
}

// loadGGUF opens a llama.cpp mmproj GGUF.
func loadGGUF(path string) (*Model, error) {
	return checkpoint.OpenGGUF(path, modelFromGGUF)
}

// modelFromGGUF builds the model of an mmproj GGUF; the model keeps f and
// closes it in Close.
func modelFromGGUF(f *gguf.File) (*Model, error) {
	cfg, err := ConfigFromGGUF(f)
	if err != nil {
		return nil, err
	}
	src := ggufSource{f: f}
	// Early files wrote fc1 as ffn_down: then ffn_down's rows (ne[0]) are
	// the encoder width, where fc2's are the MLP width.
	if t, ok := f.Tensor("v.blk.0.ffn_down.weight"); ok && cfg.Hidden != cfg.Intermediate && t.Dim(0) == uint64(cfg.Hidden) {
		src.swapFFN = true
	}
	w, err := loadWeights(&cfg, src, func(s tensorSpec) string { return s.gguf }, func(s tensorSpec) fixup { return s.ggufFix })
	if err != nil {
		return nil, err
	}
	return &Model{Config: cfg, Weights: w, closers: checkpoint.Closers{f}}, nil
}

// ConfigFromGGUF reads the clip.* keys of an mmproj GGUF (FORMATS.md §5.1):
// the file must hold a vision encoder with the gemma3 projector. The
// pooling window is clip.vision.projector.scale_factor (default 4); the
// projection width is clip.vision.projection_dim, else the width of
// mm.input_projection.
func ConfigFromGGUF(f *gguf.File) (Config, error) {
	if arch, _ := f.String("general.architecture"); arch != "clip" {
		return Config{}, fmt.Errorf("siglip: architecture %q, want clip (an mmproj file)", arch)
	}
	if has, ok := f.Bool("clip.has_vision_encoder"); ok && !has {
		return Config{}, errors.New("siglip: the file has no vision encoder")
	}
	proj, ok := f.String("clip.projector_type")
	if !ok {
		proj, ok = f.String("clip.vision.projector_type")
	}
	if !ok || proj != "gemma3" {
		return Config{}, fmt.Errorf("siglip: projector type %q, want gemma3", proj)
	}
	if silu, _ := f.Bool("clip.use_silu"); silu {
		return Config{}, errors.New("siglip: clip.use_silu: SiLU activation not supported (SigLIP uses tanh GELU)")
	}
	var missing []string
	u := func(key string, def int) int {
		v, ok := f.Uint("clip.vision." + key)
		switch {
		case ok && v <= math.MaxInt32:
			return int(v)
		case ok:
			return -1 // out of range: Validate names it
		case def < 0:
			missing = append(missing, "clip.vision."+key)
		}
		return def
	}
	c := Config{
		ImageSize:    u("image_size", -1),
		PatchSize:    u("patch_size", -1),
		Channels:     3,
		Hidden:       u("embedding_length", -1),
		Intermediate: u("feed_forward_length", -1),
		Layers:       u("block_count", -1),
		Heads:        u("attention.head_count", -1),
		LayerNormEps: 1e-6,
		TextHidden:   u("projection_dim", 0),
	}
	if len(missing) > 0 {
		return Config{}, fmt.Errorf("siglip: missing keys %s", strings.Join(missing, ", "))
	}
	if eps, ok := f.Float("clip.vision.attention.layer_norm_epsilon"); ok {
		c.LayerNormEps = eps
		if v, _ := f.Get("clip.vision.attention.layer_norm_epsilon"); v.Type == gguf.TypeFloat32 {
			// The shortest decimal of the f32: 1e-6, not 9.99999997e-7.
			c.LayerNormEps, _ = strconv.ParseFloat(strconv.FormatFloat(eps, 'g', -1, 32), 64)
		}
	}
	if c.TextHidden == 0 {
		if t, ok := f.Tensor("mm.input_projection.weight"); ok && t.Dim(0) <= math.MaxInt32 {
			c.TextHidden = int(t.Dim(0))
		}
	}
	k := u("projector.scale_factor", 4)
	if k <= 0 || c.PatchSize <= 0 || c.ImageSize%c.PatchSize != 0 || (c.ImageSize/c.PatchSize)%k != 0 {
		return Config{}, fmt.Errorf("siglip: pooling window %d does not tile %d-pixel images of %d-pixel patches", k, c.ImageSize, c.PatchSize)
	}
	side := c.ImageSize / c.PatchSize / k
	c.TokensPerImage = side * side
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// f32Bytes returns the little-endian bytes of v.
func f32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}
