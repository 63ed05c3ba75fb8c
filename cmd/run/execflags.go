package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"

	"gemmavk/gpu"
)

// execFlags are the flags that place and size the executor, the same for
// run and run serve.
type execFlags struct {
	backend, device     string
	ctx, chunk, threads int
}

// register adds the flags to fs; ctxUsage describes --ctx, whose meaning
// differs between one session and a server's slots.
func (e *execFlags) register(fs *flag.FlagSet, ctxUsage string) {
	fs.IntVar(&e.ctx, "ctx", 0, ctxUsage)
	fs.IntVar(&e.chunk, "chunk", 0, "prefill chunk size in tokens (0: 256 on the CPU, 512 on a GPU)")
	fs.IntVar(&e.threads, "threads", 0, "CPU threads (0: one per core)")
	fs.StringVar(&e.backend, "backend", "auto", "executor: auto (Vulkan on a GPU, else the CPU), vulkan or cpu")
	fs.StringVar(&e.device, "device", "", "Vulkan device: index or part of its name (default: $"+gpu.DeviceEnv+", else the first discrete GPU)")
}

// check rejects an unknown --backend.
func (e *execFlags) check() error {
	switch e.backend {
	case "auto", "cpu", "vulkan":
		return nil
	}
	return fmt.Errorf("--backend %q: want auto, vulkan or cpu", e.backend)
}

// newLogger logs to w at verbose when --verbose was given, else warnings
// and errors only.
func newLogger(w io.Writer, verbose bool, at slog.Level) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = at
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
