// Command bench measures prompt processing and generation speed, in the
// manner of llama-bench:
//
//	bench -m model.gguf -p 512 -n 128
//	bench --synthetic 4b --quant q4_k_m -n 128 -d 0,8192 -r 5 --backend vulkan,cpu
//	bench --synthetic tiny -n 16 -o json
//	bench --synthetic 1b -n 128 --serve-streams 1,4,16   concurrent streams through the server
//
// With --ppl FILE.txt it reports the text's perplexity instead (see
// perplexity); with --vision, the SigLIP encoder's time per image (see
// benchVision):
//
//	bench --vision --synthetic 4b --quant f16 -r 3 --backend vulkan,cpu
//
// Tests: "pp N" feeds N tokens in one chunk after D tokens of context; "tg N"
// generates N tokens one at a time (greedy, end-of-sequence ignored) after
// D tokens of context. Each runs -r times; the table gives the median, min
// and max tokens per second. Synthetic models (true shapes, random
// weights) are written once into the cache folder with the project's GGUF
// writer and quantizers.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"gemmavk/gemma3"
	"gemmavk/gpu"
)

type options struct {
	model, synthetic, quant, cache string
	pp, tg, depth                  []int
	reps, threads                  int
	backends                       []string
	device, output                 string
	ppl, top1Out, idsOut           string
	profile, exact                 bool
	vision, quantSet               bool
	serveStreams                   []int // see serve.go
	servePrompt                    int
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.model, "m", "", "model file (GGUF or HF directory)")
	fs.StringVar(&o.synthetic, "synthetic", "", "use a synthetic model of this size: "+strings.Join(gemma3.SyntheticSizes(), ", "))
	fs.StringVar(&o.quant, "quant", "q4_k_m", "synthetic model encoding: "+strings.Join(gemma3.SyntheticQuants, ", "))
	fs.StringVar(&o.cache, "cache", "", "folder for synthetic models (default $GEMMAVK_CACHE/synthetic, else .cache/synthetic)")
	pp := fs.String("p", "512", "prompt sizes to test, comma-separated (empty: none)")
	tg := fs.String("n", "128", "generation lengths to test, comma-separated (empty: none)")
	depth := fs.String("d", "0", "context depths to test at, comma-separated")
	fs.IntVar(&o.reps, "r", 3, "repetitions of each test")
	backends := fs.String("backend", "", "executors to compare, comma-separated: vulkan, cpu (default: vulkan on a GPU, else cpu)")
	fs.StringVar(&o.device, "device", "", "Vulkan device: index or part of its name")
	fs.IntVar(&o.threads, "threads", 0, "CPU threads (0: one per core)")
	fs.StringVar(&o.output, "o", "md", "output: md (a markdown table) or json")
	fs.BoolVar(&o.exact, "exact", false, "keep the GPU's matrix products in f32 activations (default: 8-bit in decode for quantized weights, f16 on tensor cores in prefill, as llama.cpp)")
	fs.BoolVar(&o.profile, "profile", false, "after each test, GPU time per kernel of one of its steps (Vulkan)")
	fs.StringVar(&o.ppl, "ppl", "", "instead of speed, the perplexity of this text file (teacher forced, one sequence)")
	fs.StringVar(&o.top1Out, "top1-out", "", "with --ppl: write the top-1 id of every position here")
	fs.StringVar(&o.idsOut, "ids-out", "", "with --ppl: write the text's token ids here")
	fs.BoolVar(&o.vision, "vision", false, "instead, the SigLIP encode time per image (-m HF dir or mmproj GGUF, or --synthetic tiny|4b|12b|27b with --quant f32|f16|bf16|q8_0, default f16)")
	streams := fs.String("serve-streams", "", "instead of -p/-d tests, serve this many concurrent streams of -n tokens each through the HTTP server, comma-separated (e.g. 1,4,16)")
	fs.IntVar(&o.servePrompt, "serve-prompt", 1000, "with --serve-streams: also time the first token of a prompt of this many tokens (0: skip)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	fs.Visit(func(f *flag.Flag) { o.quantSet = o.quantSet || f.Name == "quant" })
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if (o.model == "") == (o.synthetic == "") {
		return nil, errors.New("give either -m FILE or --synthetic SIZE")
	}
	var err error
	if o.pp, err = ints("-p", *pp); err != nil {
		return nil, err
	}
	if o.tg, err = ints("-n", *tg); err != nil {
		return nil, err
	}
	if o.depth, err = ints("-d", *depth); err != nil {
		return nil, err
	}
	if o.serveStreams, err = ints("--serve-streams", *streams); err != nil {
		return nil, err
	}
	if len(o.depth) == 0 {
		o.depth = []int{0}
	}
	if len(o.pp)+len(o.tg) == 0 && o.ppl == "" {
		return nil, errors.New("nothing to test: -p and -n are both empty")
	}
	if o.reps < 1 {
		return nil, fmt.Errorf("-r %d: want at least 1", o.reps)
	}
	if o.output != "md" && o.output != "json" {
		return nil, fmt.Errorf("-o %q: want md or json", o.output)
	}
	for _, b := range strings.Split(*backends, ",") {
		switch b = strings.TrimSpace(b); b {
		case "":
		case "vulkan", "cpu":
			o.backends = append(o.backends, b)
		default:
			return nil, fmt.Errorf("--backend %q: want vulkan or cpu", b)
		}
	}
	return o, nil
}

// ints parses a comma-separated list of positive integers.
func ints(flagName, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 || (n == 0 && flagName != "-d") {
			return nil, fmt.Errorf("%s: %q is not a positive number", flagName, f)
		}
		out = append(out, n)
	}
	return out, nil
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
		os.Exit(1)
	}
}

// Result is one test on one executor.
type Result struct {
	Model   string    `json:"model"`
	Backend string    `json:"backend"`
	Device  string    `json:"device"`
	Test    string    `json:"test"` // "pp512", "tg128"
	Depth   int       `json:"depth"`
	Median  float64   `json:"tokens_per_s"`
	Min     float64   `json:"min"`
	Max     float64   `json:"max"`
	Runs    []float64 `json:"runs"`
}

func run(args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if o.vision {
		return benchVision(o, stdout, stderr)
	}
	path, name := o.model, filepath.Base(o.model)
	if o.synthetic != "" {
		if path, err = syntheticFile(o, stderr); err != nil {
			return err
		}
		name = fmt.Sprintf("%s %s (synthetic)", o.synthetic, o.quant)
	}
	m, err := gemma3.Load(path)
	if err != nil {
		return err
	}
	defer m.Close()
	backends := o.backendList()
	if o.ppl != "" {
		return perplexity(o, m, backends, stdout, stderr)
	}
	if len(o.serveStreams) > 0 {
		return benchServe(o, m, name, backends, stdout, stderr)
	}
	var results []Result
	for _, b := range backends {
		rs, err := benchBackend(o, m, name, b, stderr)
		if err != nil {
			return fmt.Errorf("%s: %w", b, err)
		}
		results = append(results, rs...)
	}
	return report(stdout, o.output, results, "| model | backend | device | test | t/s | min | max |", func(r Result) string {
		test := r.Test
		if r.Depth > 0 {
			test += fmt.Sprintf(" @ d%d", r.Depth)
		}
		return fmt.Sprintf("| %s | %s | %s | %s | %.1f | %.1f | %.1f |", r.Model, r.Backend, r.Device, test, r.Median, r.Min, r.Max)
	})
}

// backendList is --backend, else defaultBackends.
func (o *options) backendList() []string {
	if len(o.backends) > 0 {
		return o.backends
	}
	return defaultBackends(o.device)
}

// defaultBackends is vulkan on a GPU, else cpu: a software Vulkan device
// is slower than the CPU executor.
func defaultBackends(device string) []string {
	backends := []string{"cpu"}
	if in, err := gpu.NewInstance(gpu.InstanceOptions{}); err == nil {
		if devs, err := in.Devices(); err == nil {
			if d, err := gpu.Choose(devs, device); err == nil && d.Type != gpu.TypeCPU {
				backends = []string{"vulkan"}
			}
		}
		in.Close()
	}
	return backends
}

// syntheticFile returns the synthetic model's path, writing it first if
// the cache does not hold it yet.
func syntheticFile(o *options, stderr io.Writer) (string, error) {
	dir := o.cache
	if dir == "" {
		dir = filepath.Join(os.Getenv("GEMMAVK_CACHE"), "synthetic")
		if os.Getenv("GEMMAVK_CACHE") == "" {
			dir = filepath.Join(".cache", "synthetic")
		}
	}
	path := filepath.Join(dir, fmt.Sprintf("gemma3-%s-%s.gguf", o.synthetic, o.quant))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	fmt.Fprintf(stderr, "bench: writing synthetic %s %s model to %s\n", o.synthetic, o.quant, path)
	m, err := gemma3.Synthetic(o.synthetic, o.quant, 1)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp := path + ".part"
	if err := m.WriteGGUF(tmp, gemma3.KeepType); err != nil {
		return "", err
	}
	return path, os.Rename(tmp, path)
}

// benchBackend runs every test on one executor.
func benchBackend(o *options, m *gemma3.Model, name, backend string, stderr io.Writer) ([]Result, error) {
	var d *gpu.Device
	devName := "CPU"
	if backend == "vulkan" {
		var err error
		if d, err = gpu.Open(gpu.Options{Select: o.device}); err != nil {
			return nil, err
		}
		defer d.Close()
		devName = d.Info.Name
	}
	maxDepth, maxN := 0, 1
	for _, x := range o.depth {
		maxDepth = max(maxDepth, x)
	}
	for _, x := range append(append([]int{}, o.pp...), o.tg...) {
		maxN = max(maxN, x)
	}
	ctx := min(maxDepth+maxN+8, m.Config.MaxPositions)
	chunk := 512
	for _, p := range o.pp {
		chunk = max(chunk, p) // a pp test is one chunk
	}
	s, err := m.NewSession(gemma3.Options{Ctx: ctx, Chunk: chunk, Threads: o.threads, Device: d, ExactProducts: o.exact})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	r := rand.New(rand.NewPCG(1, 2))
	tokens := func(n int) []int {
		ids := make([]int, n)
		for i := range ids {
			ids[i] = 3 + r.IntN(min(m.Config.Vocab, 262144)-3)
		}
		return ids
	}
	var out []Result
	for _, depth := range o.depth {
		type test struct {
			name string
			n    int
			pp   bool
		}
		var tests []test
		for _, n := range o.pp {
			tests = append(tests, test{fmt.Sprintf("pp%d", n), n, true})
		}
		for _, n := range o.tg {
			tests = append(tests, test{fmt.Sprintf("tg%d", n), n, false})
		}
		for _, t := range tests {
			if depth+t.n+1 > ctx {
				return nil, fmt.Errorf("%s at depth %d exceeds the model's %d positions", t.name, depth, m.Config.MaxPositions)
			}
			res := Result{Model: name, Backend: backend, Device: devName, Test: t.name, Depth: depth}
			// One untimed warm-up: pipelines, uploads and recordings.
			for rep := -1; rep < o.reps; rep++ {
				if rep >= 0 {
					fmt.Fprintf(stderr, "bench: %s %s depth %d: run %d/%d\n", backend, t.name, depth, rep+1, o.reps)
				}
				s.Reset()
				if depth > 0 {
					if _, err := s.Feed(tokens(depth)); err != nil {
						return nil, err
					}
				}
				var rate float64
				if t.pp {
					ids := tokens(t.n)
					t0 := time.Now()
					if _, err := s.Feed(ids); err != nil {
						return nil, err
					}
					rate = float64(t.n) / time.Since(t0).Seconds()
				} else {
					st, err := s.Generate(context.Background(), tokens(1), gemma3.GenerateOptions{MaxTokens: t.n, Stop: []int{}})
					if err != nil {
						return nil, err
					}
					rate = st.GenRate()
				}
				if rep >= 0 {
					res.Runs = append(res.Runs, rate)
				}
			}
			if o.profile && d != nil {
				T, title := 1, fmt.Sprintf("%s, %s decode step at depth %d", name, devName, s.Pos())
				if t.pp {
					T = min(t.n, chunk, s.Pos())
					title = fmt.Sprintf("%s, %s prefill step of %d tokens ending at depth %d", name, devName, T, s.Pos())
				}
				if err := printProfile(s, T, title, stderr); err != nil {
					return nil, err
				}
			}
			sorted := append([]float64(nil), res.Runs...)
			sort.Float64s(sorted)
			res.Median, res.Min, res.Max = sorted[len(sorted)/2], sorted[0], sorted[len(sorted)-1]
			out = append(out, res)
		}
	}
	return out, nil
}

// printProfile prints the GPU time per kernel of one step of T tokens
// ending at the session's position, largest first, to w (the results
// table keeps stdout).
func printProfile(s *gemma3.Session, T int, title string, w io.Writer) error {
	ks, ok, err := s.ProfileStep(T)
	if err != nil || !ok {
		return err
	}
	var total float64
	for _, k := range ks {
		total += k.Nanos
	}
	fmt.Fprintf(w, "\nprofile: %s, %.1f µs with every dispatch serialized\n", title, total/1e3)
	fmt.Fprintln(w, "| kernel | calls | µs | share | weights GB/s |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, k := range ks {
		bw := ""
		if k.WeightBytes > 0 {
			bw = fmt.Sprintf("%.1f", float64(k.WeightBytes)/k.Nanos)
		}
		fmt.Fprintf(w, "| %s | %d | %.1f | %.1f%% | %s |\n", k.Shader, k.Calls, k.Nanos/1e3, 100*k.Nanos/total, bw)
	}
	return nil
}
