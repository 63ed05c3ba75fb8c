package main

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gemmavk/gpu"
	"gemmavk/kernels/quant"
	"gemmavk/siglip"
)

// visionQuants are the weight encodings of --vision --synthetic models.
var visionQuants = map[string]quant.Type{"f32": quant.F32, "f16": quant.F16, "bf16": quant.BF16, "q8_0": quant.Q8_0}

// VisionResult is the encode time of one image on one executor.
type VisionResult struct {
	Model   string    `json:"model"`
	Backend string    `json:"backend"`
	Device  string    `json:"device"`
	Image   int       `json:"image_size"`
	Median  float64   `json:"ms_per_image"`
	Min     float64   `json:"min"`
	Max     float64   `json:"max"`
	TFLOPS  float64   `json:"tflops"` // at the median
	Runs    []float64 `json:"runs"`
}

// benchVision runs the --vision mode: the SigLIP encoder and projector of
// -m (an HF checkpoint directory or an mmproj GGUF) or of a synthetic
// model (--synthetic tiny, 4b, 12b, 27b; --quant f32, f16 (default), bf16
// or q8_0), encoding one random image -r times after an untimed warm-up.
func benchVision(o *options, stdout, stderr io.Writer) error {
	m, name, err := visionModel(o, stderr)
	if err != nil {
		return err
	}
	defer m.Close()
	backends := o.backendList()
	c := m.Config
	pixels := make([]float32, c.PixelLen())
	for i := range pixels {
		pixels[i] = float32(math.Sin(float64(i) * 0.37)) // in [-1, 1], as normalized pixels are
	}
	var results []VisionResult
	for _, b := range backends {
		res, err := benchVisionBackend(o, m, b, pixels, stderr)
		if err != nil {
			return fmt.Errorf("%s: %w", b, err)
		}
		res.Model = name
		results = append(results, res)
	}
	return report(stdout, o.output, results, "| model | backend | device | image | ms/image | min | max | TFLOP/s |", func(r VisionResult) string {
		return fmt.Sprintf("| %s | %s | %s | %d | %.1f | %.1f | %.1f | %.2f |",
			r.Model, r.Backend, r.Device, r.Image, r.Median, r.Min, r.Max, r.TFLOPS)
	})
}

// visionModel loads -m or makes the synthetic model.
func visionModel(o *options, stderr io.Writer) (*siglip.Model, string, error) {
	if o.model != "" {
		m, err := siglip.Load(o.model)
		return m, filepath.Base(o.model), err
	}
	q := o.quant
	if !o.quantSet {
		q = "f16"
	}
	t, ok := visionQuants[q]
	if !ok {
		return nil, "", fmt.Errorf("--vision --quant %q: want f32, f16, bf16 or q8_0", q)
	}
	cfg, err := siglip.SyntheticConfig(o.synthetic)
	if err != nil {
		return nil, "", err
	}
	fmt.Fprintf(stderr, "bench: making a synthetic %s %s vision model\n", o.synthetic, q)
	m, err := siglip.Synthetic(cfg, t, 1)
	if err != nil {
		return nil, "", err
	}
	return m, fmt.Sprintf("siglip %s %s (synthetic)", o.synthetic, strings.ToUpper(q)), nil
}

func benchVisionBackend(o *options, m *siglip.Model, backend string, pixels []float32, stderr io.Writer) (VisionResult, error) {
	res := VisionResult{Backend: backend, Device: "CPU", Image: m.Config.ImageSize}
	opt := siglip.EncoderOptions{Threads: o.threads}
	if backend == "vulkan" {
		d, err := gpu.Open(gpu.Options{Select: o.device})
		if err != nil {
			return res, err
		}
		defer d.Close()
		opt.Device, res.Device = d, d.Info.Name
	}
	e, err := m.NewEncoder(opt)
	if err != nil {
		return res, err
	}
	defer e.Close()
	for rep := -1; rep < o.reps; rep++ {
		if rep >= 0 {
			fmt.Fprintf(stderr, "bench: %s vision encode: run %d/%d\n", backend, rep+1, o.reps)
		}
		t0 := time.Now()
		if _, err := e.Encode(pixels); err != nil {
			return res, err
		}
		if rep >= 0 {
			res.Runs = append(res.Runs, float64(time.Since(t0).Microseconds())/1e3)
		}
	}
	sorted := append([]float64(nil), res.Runs...)
	sort.Float64s(sorted)
	res.Median, res.Min, res.Max = sorted[len(sorted)/2], sorted[0], sorted[len(sorted)-1]
	res.TFLOPS = m.Config.FLOPs() / (res.Median / 1e3) / 1e12
	return res, nil
}
