// Package vktest opens one Vulkan device per test binary, with the
// validation layer when it is installed, and runs single dispatches for
// kernel parity tests.
//
// Tests skip when no device exists, unless GEMMAVK_REQUIRE_GPU=1, which
// turns the skip into a failure; GEMMAVK_REQUIRE_VALIDATION=1 likewise
// requires the validation layer. Main fails the binary when the layer
// reported anything or the device was closed with objects still open.
package vktest

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"sync"
	"testing"

	"gemmavk/gpu"
)

// Env names.
const (
	RequireGPU        = "GEMMAVK_REQUIRE_GPU"
	RequireValidation = "GEMMAVK_REQUIRE_VALIDATION"
)

var (
	mu      sync.Mutex
	opened  bool
	dev     *gpu.Device
	openErr error
	plain   *gpu.Device // without validation; see Unvalidated
)

func open() (*gpu.Device, error) {
	mu.Lock()
	defer mu.Unlock()
	if !opened {
		opened = true
		dev, openErr = gpu.Open(gpu.Options{Validation: true})
		if openErr == nil {
			fmt.Fprintf(os.Stderr, "vktest: device %s (validation %v)\n", dev.Info, dev.Validating())
			if os.Getenv(RequireValidation) == "1" && !dev.Validating() {
				openErr = fmt.Errorf("%s=1 but %s is not installed", RequireValidation, gpu.ValidationLayer)
			}
		}
	}
	return dev, openErr
}

// Device returns the shared device, skipping the test when there is none
// (failing it when GEMMAVK_REQUIRE_GPU=1).
func Device(t testing.TB) *gpu.Device {
	t.Helper()
	d, err := open()
	if err != nil {
		if os.Getenv(RequireGPU) == "1" || os.Getenv(RequireValidation) == "1" {
			t.Fatalf("Vulkan device required: %v", err)
		}
		t.Skipf("no Vulkan device: %v", err)
	}
	return d
}

// Unvalidated returns a second shared device opened without the validation
// layer, for features an installed layer is too old to know (cooperative
// matrices with Debian's layer 1.3.239): their results are still checked
// against the references, only not validated.
func Unvalidated(t testing.TB) *gpu.Device {
	t.Helper()
	Device(t)
	mu.Lock()
	defer mu.Unlock()
	if plain == nil {
		d, err := gpu.Open(gpu.Options{})
		if err != nil {
			t.Fatalf("open without validation: %v", err)
		}
		plain = d
	}
	return plain
}

// Main runs the tests, then closes the device and fails the binary on any
// validation message or leaked object.
func Main(m *testing.M) {
	code := m.Run()
	mu.Lock()
	d, p := dev, plain
	mu.Unlock()
	if p != nil {
		if err := p.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "vktest:", err)
			code = 1
		}
	}
	if d != nil {
		msgs := d.Messages()
		for _, s := range msgs {
			fmt.Fprintln(os.Stderr, "validation:", s)
		}
		if len(msgs) > 0 {
			fmt.Fprintf(os.Stderr, "vktest: %d validation messages\n", len(msgs))
			code = 1
		}
		if err := d.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "vktest:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// Poison is the bit pattern output buffers are filled with before a run: a
// NaN, so that any element a kernel fails to write shows.
const Poison = 0x7fc0dead

// guardWords follow every buffer's bound range; a kernel writing past its
// range changes them.
const guardWords = 64
const guard = 0x5ca1ab1e

// Run binds bufs in order (each already holding its input bytes, or
// poisoned output), records one dispatch, runs it and returns every
// buffer's contents afterwards. It fails the test when a write landed past a
// buffer's end or validation complained during the run.
func Run(t testing.TB, ds gpu.Dispatch, bufs ...[]byte) [][]byte {
	t.Helper()
	return RunSeq(t, Device(t), []gpu.Dispatch{ds}, 1, bufs...)
}

// RunOn is Run on a given device.
func RunOn(t testing.TB, d *gpu.Device, ds gpu.Dispatch, bufs ...[]byte) [][]byte {
	t.Helper()
	return RunSeq(t, d, []gpu.Dispatch{ds}, 1, bufs...)
}

// RunSeq is Run for a sequence of dispatches that all take bufs, in
// binding order: it records the sequence reps times in one recording, with
// a barrier after every dispatch (as a replayed decode step runs them).
func RunSeq(t testing.TB, d *gpu.Device, ds []gpu.Dispatch, reps int, bufs ...[]byte) [][]byte {
	t.Helper()
	before := len(d.Messages())
	views := make([]gpu.Buffer, len(bufs))
	for i, b := range bufs {
		n := uint64((len(b) + 3) &^ 3)
		buf, err := d.Alloc(n+4*guardWords, gpu.DeviceLocal)
		if err != nil {
			t.Fatalf("alloc: %v", err)
		}
		defer d.Free(buf)
		img := make([]byte, n+4*guardWords)
		copy(img, b)
		for w := 0; w < guardWords; w++ {
			binary.LittleEndian.PutUint32(img[n+uint64(4*w):], guard)
		}
		if err := d.Upload(buf, img); err != nil {
			t.Fatalf("upload: %v", err)
		}
		views[i] = buf.Slice(0, n)
	}
	rec, err := d.NewRecorder(gpu.RecordOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bound := make([]*gpu.Bound, len(ds))
	for i, dsp := range ds {
		if bound[i], err = d.Bind(dsp, views...); err != nil {
			t.Fatalf("bind %s: %v", dsp.Shader, err)
		}
		defer bound[i].Close()
	}
	for range reps {
		for _, b := range bound {
			rec.Dispatch(b)
			rec.Barrier()
		}
	}
	run, err := rec.End()
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	if err := run.Run(); err != nil {
		t.Fatalf("run %s: %v", ds[0].Shader, err)
	}
	out := make([][]byte, len(bufs))
	for i, b := range bufs {
		n := uint64((len(b) + 3) &^ 3)
		img := make([]byte, n+4*guardWords)
		if err := d.Download(img, views[i].Slice(0, n+4*guardWords)); err != nil {
			t.Fatalf("download: %v", err)
		}
		for w := 0; w < guardWords; w++ {
			if binary.LittleEndian.Uint32(img[n+uint64(4*w):]) != guard {
				t.Fatalf("%s wrote past the end of buffer %d (word %d after it)", ds[0].Shader, i, w)
			}
		}
		out[i] = img[:len(b)]
	}
	if msgs := d.Messages(); len(msgs) > before {
		t.Fatalf("%s: validation: %v", ds[0].Shader, msgs[before:])
	}
	return out
}

// Record binds ds to bufs and records it, alone and followed by a barrier,
// into a recording that can be run and re-run; everything is released
// when the test ends.
func Record(t testing.TB, d *gpu.Device, ds gpu.Dispatch, bufs ...gpu.Buffer) *gpu.Recording {
	t.Helper()
	bound, err := d.Bind(ds, bufs...)
	if err != nil {
		t.Fatalf("bind %s: %v", ds.Shader, err)
	}
	t.Cleanup(bound.Close)
	rec, err := d.NewRecorder(gpu.RecordOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec.Dispatch(bound)
	rec.Barrier()
	run, err := rec.End()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(run.Close)
	return run
}

// F32Bytes returns the little-endian bytes of v.
func F32Bytes(v []float32) []byte {
	out := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(x))
	}
	return out
}

// I32Bytes returns the little-endian bytes of v.
func I32Bytes(v []int32) []byte {
	out := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(out[4*i:], uint32(x))
	}
	return out
}

// Floats decodes little-endian float32s.
func Floats(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// Ints decodes little-endian int32s.
func Ints(b []byte) []int32 {
	out := make([]int32, len(b)/4)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// Poisoned returns n bytes of Poison words (n rounded up to 4).
func Poisoned(n int) []byte {
	out := make([]byte, (n+3)&^3)
	for i := 0; i < len(out); i += 4 {
		binary.LittleEndian.PutUint32(out[i:], Poison)
	}
	return out
}
