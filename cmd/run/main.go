// Command run generates text with a Gemma 3 model, chats with it, or
// inspects it (token ids, logits) so other implementations can be checked
// against this one.
//
//	run -m model.gguf -p "Why is the sky blue?"      one answer, streamed
//	run -m model.gguf                                interactive chat
//	echo "text" | run -m model.gguf --tokenize       token ids as JSON
//	run -m model.gguf --ids "2 17 42" --logits out.safetensors
//	run --preprocess photo.jpg --pixels-out pixels.safetensors
//	run -m DIR --ids "..." --features F.safetensors --logits out.safetensors   with images
//	run -m DIR -p "What is this?" --image photo.jpg    (or -m text.gguf --mmproj mmproj.gguf)
//	run serve -m model.gguf [--addr 127.0.0.1:8080]  OpenAI-compatible HTTP server
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"

	"gemmavk/gemma3"
	"gemmavk/gemma3/sample"
	"gemmavk/kernels"
)

// options are the parsed command line.
type options struct {
	execFlags
	model, prompt, system         string
	raw, verbose, tokenize        bool
	listDevices, ignoreEOS, exact bool
	tokenizerPath, ids, logits    string
	n                             int
	sampling                      sample.Config
	pre                           preprocessOptions
	img                           imageOptions
	vis                           visionOptions
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.model, "m", "", "model: a GGUF file or an HF checkpoint directory")
	fs.StringVar(&o.prompt, "p", "", "prompt; without it, an interactive chat starts")
	fs.StringVar(&o.system, "system", "", "system prompt (folded into the first user turn)")
	fs.BoolVar(&o.raw, "raw", false, "feed the prompt as is, without the chat template (for base models)")
	fs.IntVar(&o.n, "n", 256, "maximum tokens to generate (0: until a stop token)")
	fs.BoolVar(&o.ignoreEOS, "ignore-eos", false, "do not stop at end-of-sequence tokens (for measuring speed)")
	fs.Float64Var(&o.sampling.Temperature, "temp", 0, "sampling temperature (0: greedy)")
	fs.IntVar(&o.sampling.TopK, "top-k", 0, "keep the k most likely tokens (0: off)")
	fs.Float64Var(&o.sampling.TopP, "top-p", 0, "nucleus sampling threshold (0: off)")
	fs.Float64Var(&o.sampling.MinP, "min-p", 0, "drop tokens below min-p times the top probability (0: off)")
	fs.Float64Var(&o.sampling.RepeatPenalty, "repeat-penalty", 1, "penalty for recently seen tokens (1: off)")
	fs.IntVar(&o.sampling.RepeatLastN, "repeat-last-n", 64, "how many recent tokens the penalty considers (-1: all)")
	seed := fs.Uint64("seed", 0, "random seed for sampling")
	o.execFlags.register(fs, "context length in tokens (0: 4096 or the trained length if smaller)")
	fs.BoolVar(&o.exact, "exact", false, "keep the GPU's matrix products in f32 activations (default: 8-bit in decode for quantized weights, f16 on tensor cores in prefill, as llama.cpp)")
	fs.BoolVar(&o.listDevices, "list-devices", false, "list the Vulkan devices and exit")
	fs.BoolVar(&o.verbose, "verbose", false, "log diagnostics to stderr")
	fs.BoolVar(&o.tokenize, "tokenize", false, "read text on stdin, print its token ids (no <bos>) as JSON")
	fs.StringVar(&o.tokenizerPath, "tokenizer", "", "tokenizer.json to use instead of the model's vocabulary")
	fs.StringVar(&o.ids, "ids", "", "evaluate exactly these space-separated token ids (with --logits)")
	fs.StringVar(&o.logits, "logits", "", "write the logits of every --ids position to this safetensors file")
	o.pre.register(fs)
	o.img.register(fs)
	o.vis.register(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.sampling.Seed = *seed
	if err := o.sampling.Validate(); err != nil {
		return nil, err
	}
	if err := o.execFlags.check(); err != nil {
		return nil, err
	}
	if (o.ids == "") != (o.logits == "") {
		return nil, errors.New("--ids and --logits go together")
	}
	if err := o.pre.validate(); err != nil {
		return nil, err
	}
	if err := o.img.check(o.ids != ""); err != nil {
		return nil, err
	}
	if err := o.vis.check(o); err != nil {
		return nil, err
	}
	if o.model == "" && !(o.tokenize && o.tokenizerPath != "") && !o.listDevices && o.pre.image == "" {
		return nil, errors.New("no model: pass -m FILE.gguf or an HF checkpoint directory")
	}
	return o, nil
}

func main() {
	var err error
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		err = serve(os.Args[2:], os.Stderr)
	} else {
		err = run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	}
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "run:", err)
		}
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := newLogger(stderr, o.verbose, slog.LevelDebug)
	if o.listDevices {
		return listDevices(stdout)
	}
	if o.pre.image != "" {
		return preprocessImage(o.pre, stdout)
	}
	if o.tokenize && o.model == "" {
		return tokenizeStdin(o, nil, stdin, stdout)
	}
	prog := newProgress(stderr)
	m, err := loadModel(o.model, prog)
	if err != nil {
		return err
	}
	defer m.Close()
	c := &m.Config
	log.Debug("model loaded", "path", o.model, "layers", c.Layers, "hidden", c.Hidden, "vocab", c.Vocab,
		"weights_MiB", m.WeightBytes()>>20)
	switch {
	case o.tokenize:
		return tokenizeStdin(o, m, stdin, stdout)
	case o.ids != "":
		return writeLogits(o, m)
	}
	// Images are read and the vision tower paired before anything slow.
	vis, err := openVision(o, m, prog, stderr)
	if err != nil {
		return err
	}
	d, err := openDevice(o, stderr)
	if err != nil {
		vis.Close()
		return err
	}
	if d != nil {
		defer d.Close()
	}
	defer vis.Close() // its encoder before the device
	s, err := m.NewSession(gemma3.Options{Ctx: o.ctx, Chunk: o.chunk, Threads: o.threads, Logger: log, Device: d,
		ExactProducts: o.exact, Progress: prog.hook("uploading weights", true)})
	if err != nil {
		return err
	}
	defer s.Close()
	// Record the decode step now: weights upload once, and a model too big
	// for the device fails here rather than after the prompt.
	if err := s.Prepare(1); err != nil {
		if d == nil || o.backend != "auto" || !errors.Is(err, kernels.ErrNoGPUDecoder) {
			return err
		}
		// A weight encoding the shaders do not decode: the CPU can.
		fmt.Fprintf(stderr, "run: %v; using the CPU executor\n", err)
		s.Close()
		d.Close()
		d = nil
		if s, err = m.NewSession(gemma3.Options{Ctx: o.ctx, Chunk: o.chunk, Threads: o.threads, Logger: log}); err != nil {
			return err
		}
	}
	describe(stderr, o.model, m, s, d)
	if st, ok := s.PlanStats(1); ok {
		log.Info("decode step", "dispatches", st.Dispatches, "barriers", st.Barriers, "copies", st.Copies,
			"arena_KiB", st.ArenaBytes>>10)
	}
	vis.use(d, o.threads, log)
	if o.prompt == "" {
		images, err := vis.attacher()
		if err != nil {
			return err
		}
		return chat(context.Background(), o, s, images, stdin, stdout, stderr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return generate(ctx, o, s, vis, stdout, stderr)
}
