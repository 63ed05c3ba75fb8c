package main

import (
	"fmt"
	"io"
	"path/filepath"

	"gemmavk"
	"gemmavk/gemma3"
	"gemmavk/gpu"
)

// openDevice settles the executor: for --backend auto it looks for a
// Vulkan GPU and falls back to the CPU, saying so in one line on stderr
// (a software Vulkan device counts as none, unless --device names it); for
// --backend vulkan a missing device is an error. A nil device means the
// CPU executor.
func openDevice(o *options, stderr io.Writer) (*gpu.Device, error) {
	d, note, err := gemmavk.OpenDevice(o.backend, o.device)
	if note != "" {
		fmt.Fprintf(stderr, "run: %s\n", note)
	}
	return d, err
}

// describe prints the one-line summary of where the session runs and what:
// device, model, context and KV cache.
func describe(stderr io.Writer, model string, m *gemma3.Model, s *gemma3.Session, d *gpu.Device) {
	where := "CPU"
	cache := "f32"
	if d != nil {
		where = "Vulkan: " + d.Info.Name
		cache = "f16"
	}
	fmt.Fprintf(stderr, "run: %s | %s: %d layers, %.0f MiB of weights | context %d, KV cache %.0f MiB (%s)\n",
		where, filepath.Base(model), m.Config.Layers, float64(m.WeightBytes())/(1<<20), s.Ctx(), float64(s.CacheBytes())/(1<<20), cache)
}

// listDevices prints the Vulkan devices, one per line, with the one the
// default choice would take marked.
func listDevices(stdout io.Writer) error {
	in, err := gpu.NewInstance(gpu.InstanceOptions{})
	if err != nil {
		return err
	}
	defer in.Close()
	devs, err := in.Devices()
	if err != nil {
		return err
	}
	def, _ := gpu.Choose(devs, "")
	for _, d := range devs {
		mark := " "
		if d.Index == def.Index {
			mark = "*"
		}
		c := d.Caps
		fmt.Fprintf(stdout, "%s %s  [fp16 %v, int8 %v, int-dot %v, coopmat %v, coopmat2 %v, shared %d KiB]\n",
			mark, d, c.Float16, c.Int8, c.IntegerDot, c.CoopMat, c.CoopMat2, c.MaxSharedMemory>>10)
	}
	return nil
}
