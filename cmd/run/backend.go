package main

import (
	"errors"
	"fmt"
	"io"

	"gemmavk/gpu"
)

// chooseBackend settles the executor for --backend auto: it looks for a
// Vulkan device and says in one line on stderr what it will use.
//
// Until the Vulkan executor exists, every path ends on the CPU; the line
// says why.
func chooseBackend(o *options, stderr io.Writer) string {
	if o.backend == "cpu" {
		return "cpu"
	}
	d, err := gpu.Open(gpu.Options{Select: o.device})
	if err != nil {
		if errors.Is(err, gpu.ErrNoDevice) {
			fmt.Fprintf(stderr, "run: %v; using the CPU executor\n", err)
		} else {
			fmt.Fprintf(stderr, "run: Vulkan: %v; using the CPU executor\n", err)
		}
		return "cpu"
	}
	name := d.Info.Name
	d.Close()
	fmt.Fprintf(stderr, "run: Vulkan device %s found, but text generation on Vulkan is not available yet; using the CPU executor\n", name)
	return "cpu"
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
