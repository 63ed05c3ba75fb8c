package siglip

import (
	"bytes"

	"os"
	"path/filepath"
	"strings"
	"testing"

	"gemmavk/gguf"
	"gemmavk/internal/testutil"
	"gemmavk/internal/vktest"
	"gemmavk/kernels/quant"
	"gemmavk/safetensors"
)

// relayout copies the tiny checkpoint into a temporary directory with the
// vision tower and projector under other prefixes, and edit applied to
// the tensor list.
func relayout(t *testing.T, vision, projector string, edit func([]safetensors.Tensor) []safetensors.Tensor) string {
	t.Helper()
	f, err := safetensors.Open(filepath.Join(tinyDir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ts []safetensors.Tensor
	for _, n := range f.Names() {
		info, _ := f.Tensor(n)
		data, err := f.Data(n)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.Replace(n, "model.vision_tower.", vision, 1)
		name = strings.Replace(name, "model.multi_modal_projector.", projector, 1)
		ts = append(ts, safetensors.Tensor{Name: name, DType: info.DType, Shape: info.Shape, Data: data})
	}
	if edit != nil {
		ts = edit(ts)
	}
	dir := t.TempDir()
	if err := safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), ts, nil); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(filepath.Join(tinyDir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestHFLayouts loads the tiny weights under each HF naming (GEMMA3.md
// §5.1 and transformers 5's) and checks the features.
func TestHFLayouts(t *testing.T) {
	g := loadGolden(t)
	for _, c := range []struct{ vision, projector string }{
		{"vision_tower.vision_model.", "multi_modal_projector."},
		{"model.vision_tower.vision_model.", "model.multi_modal_projector."},
		{"model.vision_tower.", "model.multi_modal_projector."},
	} {
		t.Run(c.vision, func(t *testing.T) {
			m, err := Load(relayout(t, c.vision, c.projector, nil))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			_, features := encode(t, m, EncoderOptions{Threads: 1}, g.pixels)
			testutil.CheckClose(t, "image_features", features, g.features, cpuTol)
		})
	}
}

// TestHFBadFiles checks that a missing or misshapen tensor is named.
func TestHFBadFiles(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func([]safetensors.Tensor) []safetensors.Tensor
		want []string
	}{
		{"missing", func(ts []safetensors.Tensor) []safetensors.Tensor {
			var out []safetensors.Tensor
			for _, x := range ts {
				if !strings.Contains(x.Name, "layers.1.mlp.fc2.bias") && !strings.Contains(x.Name, "mm_soft_emb_norm") {
					out = append(out, x)
				}
			}
			return out
		}, []string{"model.vision_tower.encoder.layers.1.mlp.fc2.bias: missing", "model.multi_modal_projector.mm_soft_emb_norm.weight: missing"}},
		{"shape", func(ts []safetensors.Tensor) []safetensors.Tensor {
			for i, x := range ts {
				if strings.HasSuffix(x.Name, "layers.2.self_attn.q_proj.weight") {
					ts[i].Shape = []int{32, 128}
				}
			}
			return ts
		}, []string{"model.vision_tower.encoder.layers.2.self_attn.q_proj.weight: shape [32 128], want [64 64]"}},
		{"no tower", func([]safetensors.Tensor) []safetensors.Tensor {
			return []safetensors.Tensor{safetensors.F32Tensor("model.language_model.norm.weight", []int{2}, []float32{1, 2})}
		}, []string{"not a Gemma 3 checkpoint with a vision tower"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			checkLoadFails(t, relayout(t, "model.vision_tower.", "model.multi_modal_projector.", c.edit), c.want)
		})
	}
}

// writeMMProjFile writes the model as an mmproj file of type typ.
func writeMMProjFile(t *testing.T, m *Model, typ quant.Type) string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteMMProj(&buf, m.Config, m.Weights, typ); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "mmproj.gguf")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestMMProj writes the tiny weights as mmproj files of each type, loads
// them back and checks the features against transformers, on the CPU and
// on Vulkan. Tolerances: F32 is the HF model exactly; the others add
// their weights' rounding (F16 2^-11, BF16 2^-8, Q8_0 about 1/254 of each
// block's largest value, relative), which the encoder's three layers and
// the projection carry into the features.
func TestMMProj(t *testing.T) {
	hf, g := loadTiny(t), loadGolden(t)
	for _, c := range []struct {
		typ      quant.Type
		tol, vk  float64
		matrices quant.Type // encoding of the layers' matrices in the file
	}{
		{quant.F32, cpuTol, vkTol, quant.F32},
		{quant.F16, 1e-3, 1e-3, quant.F16},   // measured 3.4e-4
		{quant.BF16, 5e-3, 5e-3, quant.BF16}, // measured 1.9e-3
		{quant.Q8_0, 2e-2, 2e-2, quant.Q8_0}, // measured 6.8e-3
	} {
		t.Run(c.typ.String(), func(t *testing.T) {
			path := writeMMProjFile(t, hf, c.typ)
			f, err := gguf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range map[string]quant.Type{
				"v.blk.0.attn_q.weight": c.matrices, "v.blk.2.ffn_down.weight": c.matrices,
				"v.patch_embd.weight": quant.F32, "v.position_embd.weight": quant.F32, "mm.input_projection.weight": c.matrices,
				"v.blk.1.ln1.bias": quant.F32,
			} {
				if info, ok := f.Tensor(name); !ok || info.Type != want {
					t.Errorf("%s: %v, want type %s", name, info, want)
				}
			}
			if info, _ := f.Tensor("mm.input_projection.weight"); info.Dim(0) != 128 || info.Dim(1) != 64 {
				t.Errorf("mm.input_projection.weight: ne %v, want [128 64] (text width first)", info.Dims)
			}
			if k, _ := f.Uint("clip.vision.projector.scale_factor"); k != 2 {
				t.Errorf("scale_factor %d, want 2", k)
			}
			f.Close()
			m, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if m.Config != hf.Config {
				t.Errorf("config %+v, want %+v", m.Config, hf.Config)
			}
			hidden, features := encode(t, m, EncoderOptions{Threads: 2}, g.pixels)
			testutil.CheckClose(t, "cpu vision_last_hidden", hidden, g.hidden, c.tol)
			testutil.CheckClose(t, "cpu image_features", features, g.features, c.tol)
			if c.typ == quant.F32 {
				// Every weight went through the file unchanged.
				hfFeat := func() []float32 { _, f := encode(t, hf, EncoderOptions{Threads: 2}, g.pixels); return f }()
				testutil.CheckClose(t, "cpu features vs HF weights", features, hfFeat, 0)
			}
			d := vktest.Device(t)
			hidden, features = encode(t, m, EncoderOptions{Device: d}, g.pixels)
			testutil.CheckClose(t, "vulkan vision_last_hidden", hidden, g.hidden, c.vk)
			testutil.CheckClose(t, "vulkan image_features", features, g.features, c.vk)
		})
	}
}

// TestMMProjFFNSwap loads a file written with fc1 and fc2 under each
// other's names, as some early converters did (FORMATS.md §5.2).
func TestMMProjFFNSwap(t *testing.T) {
	hf, g := loadTiny(t), loadGolden(t)
	path := rewriteGGUF(t, writeMMProjFile(t, hf, quant.F32), func(name string) string {
		for _, p := range [][2]string{{".ffn_up.", ".ffn_down."}, {".ffn_down.", ".ffn_up."}} {
			if strings.Contains(name, p[0]) {
				return strings.Replace(name, p[0], p[1], 1)
			}
		}
		return name
	}, nil)
	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, features := encode(t, m, EncoderOptions{Threads: 1}, g.pixels)
	testutil.CheckClose(t, "image_features", features, g.features, cpuTol)
}

// rewriteGGUF copies a GGUF file with tensors renamed (to "" drops one)
// and keys changed by setKey (nil: unchanged; returning nil drops a key).
func rewriteGGUF(t *testing.T, path string, rename func(string) string, setKey func(key string, v gguf.Value) *gguf.Value) string {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := gguf.NewWriter()
	for _, kv := range f.KVs {
		v := &kv.Value
		if setKey != nil {
			v = setKey(kv.Key, kv.Value)
		}
		if v == nil {
			continue
		}
		if err := w.AddTyped(kv.Key, *v); err != nil {
			t.Fatal(err)
		}
	}
	for _, info := range f.Tensors {
		name := rename(info.Name)
		if name == "" {
			continue
		}
		data, err := f.TensorData(info.Name)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.AddTensor(name, info.Type, info.Dims, data); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "edited.gguf")
	if err := w.WriteFile(out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMMProjBadFiles checks that broken mmproj files give errors that say
// what is wrong.
func TestMMProjBadFiles(t *testing.T) {
	path := writeMMProjFile(t, loadTiny(t), quant.F16)
	keep := func(n string) string { return n }
	u32 := func(v uint32) *gguf.Value { return &gguf.Value{Type: gguf.TypeUint32, V: v} }
	for _, c := range []struct {
		name   string
		rename func(string) string
		setKey func(string, gguf.Value) *gguf.Value
		want   []string
	}{
		{"missing tensors", func(n string) string {
			if n == "v.blk.1.attn_k.bias" || n == "mm.input_projection.weight" {
				return ""
			}
			return n
		}, nil, []string{"v.blk.1.attn_k.bias: missing", "mm.input_projection.weight: missing"}},
		{"wrong shape", func(n string) string {
			switch n {
			case "v.blk.0.attn_q.weight":
				return "v.blk.0.ffn_up.weight"
			case "v.blk.0.ffn_up.weight":
				return "v.blk.0.attn_q.weight"
			}
			return n
		}, nil, []string{"v.blk.0.attn_q.weight: shape [160 64], want [64 64]", "v.blk.0.ffn_up.weight: shape [64 64], want [160 64]"}},
		{"text model", keep, func(k string, v gguf.Value) *gguf.Value {
			if k == "general.architecture" {
				return &gguf.Value{Type: gguf.TypeString, V: "gemma3"}
			}
			return &v
		}, []string{`architecture "gemma3", want clip`}},
		{"other projector", keep, func(k string, v gguf.Value) *gguf.Value {
			if k == "clip.projector_type" {
				return &gguf.Value{Type: gguf.TypeString, V: "mlp"}
			}
			return &v
		}, []string{`projector type "mlp", want gemma3`}},
		{"missing keys", keep, func(k string, v gguf.Value) *gguf.Value {
			if k == "clip.vision.block_count" || k == "clip.vision.patch_size" {
				return nil
			}
			return &v
		}, []string{"missing keys clip.vision.patch_size, clip.vision.block_count"}},
		{"heads", keep, func(k string, v gguf.Value) *gguf.Value {
			if k == "clip.vision.attention.head_count" {
				return u32(5)
			}
			return &v
		}, []string{"hidden size 64 is not a whole number of 5 heads"}},
		{"pooling", keep, func(k string, v gguf.Value) *gguf.Value {
			if k == "clip.vision.projector.scale_factor" {
				return u32(3)
			}
			return &v
		}, []string{"pooling window 3 does not tile"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			checkLoadFails(t, rewriteGGUF(t, path, c.rename, c.setKey), c.want)
		})
	}
}

func TestWriteMMProjErrors(t *testing.T) {
	m := loadTiny(t)
	var buf bytes.Buffer
	if err := WriteMMProj(&buf, m.Config, m.Weights, quant.Q4_K); err == nil || !strings.Contains(err.Error(), "want F32, F16, BF16 or Q8_0") {
		t.Errorf("Q4_K: %v", err)
	}
	w := *m.Weights
	w.Layers = append([]Layer(nil), w.Layers...)
	w.Layers[1].FC1 = nil
	w.PostLNB = w.PostLNB[:3]
	err := WriteMMProj(&buf, m.Config, &w, quant.F16)
	for _, want := range []string{"v.blk.1.ffn_up.weight: missing", "v.post_ln.bias: 3 values, want [64]"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
}

// checkLoadFails checks that loading path fails with an error that says
// every string of want.
func checkLoadFails(t *testing.T, path string, want []string) {
	t.Helper()
	m, err := Load(path)
	if err == nil {
		m.Close()
		t.Fatal("no error")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}
