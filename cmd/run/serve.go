package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"gemmavk"
	"gemmavk/server"
)

// serveOptions are the flags of `run serve`.
type serveOptions struct {
	execFlags
	model, addr, alias, mmproj  string
	parallel, queue, maxBodyMiB int
	verbose                     bool
}

func parseServeFlags(args []string, stderr io.Writer) (*serveOptions, error) {
	o := &serveOptions{}
	fs := flag.NewFlagSet("run serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: run serve -m MODEL [--mmproj FILE] [--addr 127.0.0.1:8080] [--parallel N] [--queue N]")
		fmt.Fprintln(stderr, "serves an OpenAI-compatible API: /v1/chat/completions, /v1/completions, /v1/models, /health")
		fmt.Fprintln(stderr, "chat messages may hold images (image_url parts with data: URLs) when the model has a vision tower")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.model, "m", "", "model: a GGUF file or an HF checkpoint directory")
	fs.StringVar(&o.mmproj, "mmproj", "", "vision tower: a llama.cpp mmproj GGUF to pair with -m (an HF directory with vision_config brings its own)")
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen address (loopback unless another is given explicitly)")
	fs.StringVar(&o.alias, "alias", "", "model id in the API (default: the file name without extension)")
	fs.IntVar(&o.parallel, "parallel", 1, "slots: requests generating at once, each with its own KV cache")
	fs.IntVar(&o.queue, "queue", 16, "requests that may wait for a slot; more get 429")
	o.execFlags.register(fs, "context length of each slot in tokens (0: 4096 or the trained length if smaller)")
	fs.IntVar(&o.maxBodyMiB, "max-body", 32, "request body limit in MiB (images come as data URLs)")
	fs.BoolVar(&o.verbose, "verbose", false, "log each request to stderr")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("serve: unexpected arguments %q", fs.Args())
	}
	if o.model == "" {
		return nil, errors.New("serve: no model: pass -m FILE.gguf or an HF checkpoint directory")
	}
	if o.parallel < 1 || o.queue < 0 || o.maxBodyMiB < 1 {
		return nil, errors.New("serve: --parallel and --max-body must be at least 1, --queue at least 0")
	}
	if err := o.execFlags.check(); err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	if o.alias == "" {
		o.alias = strings.TrimSuffix(filepath.Base(filepath.Clean(o.model)), ".gguf")
	}
	return o, nil
}

// serve loads the model and serves the API until SIGINT or SIGTERM.
func serve(args []string, stderr io.Writer) error {
	o, err := parseServeFlags(args, stderr)
	if err != nil {
		return err
	}
	log := newLogger(stderr, o.verbose, slog.LevelInfo)
	m, err := gemmavk.Load(o.model, gemmavk.Options{Device: o.backend, DeviceName: o.device, Ctx: o.ctx,
		Chunk: o.chunk, Threads: o.threads, Logger: log, MMProj: o.mmproj})
	if err != nil {
		return err
	}
	defer m.Close()
	in := m.Info()
	if in.Note != "" {
		fmt.Fprintf(stderr, "run: %s\n", in.Note)
	}
	s, err := server.New(server.Config{Model: m, ModelID: o.alias, Parallel: o.parallel, Queue: o.queue,
		MaxBodyBytes: int64(o.maxBodyMiB) << 20, Logger: log})
	if err != nil {
		return err
	}
	defer s.Close()
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if host, _, _ := net.SplitHostPort(ln.Addr().String()); !net.ParseIP(host).IsLoopback() {
		fmt.Fprintf(stderr, "run: listening on %s, reachable from other machines, with no authentication\n", ln.Addr())
	}
	where := "CPU"
	if in.Backend == "vulkan" {
		where = "Vulkan: " + in.Device
	}
	images := "text only"
	if in.Vision {
		images = "images: " + filepath.Base(m.VisionSource())
	}
	fmt.Fprintf(stderr, "run: serving %s on http://%s | %s | %d layers, %.0f MiB of weights | %s | %d slot(s) of %d tokens, queue %d\n",
		o.alias, ln.Addr(), where, in.Layers, float64(in.WeightBytes)/(1<<20), images, o.parallel, in.Ctx, o.queue)
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	fmt.Fprintln(stderr, "run: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close() // streams still running are cut
	}
	return nil
}
