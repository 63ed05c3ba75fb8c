package gpu_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"gemmavk/gpu"
	"gemmavk/internal/vktest"
)

func TestMain(m *testing.M) { vktest.Main(m) }

func TestChoose(t *testing.T) {
	devs := []gpu.DeviceInfo{
		{Index: 0, Name: "llvmpipe (LLVM 15)", Type: gpu.TypeCPU},
		{Index: 1, Name: "Intel UHD 770", Type: gpu.TypeIntegrated},
		{Index: 2, Name: "NVIDIA H100 80GB HBM3", Type: gpu.TypeDiscrete},
	}
	t.Setenv(gpu.DeviceEnv, "")
	for _, c := range []struct {
		sel, env string
		want     int
		err      string
	}{
		{sel: "", want: 2},
		{sel: "0", want: 0},
		{sel: "h100", want: 2},
		{sel: "UHD", want: 1},
		{env: "llvm", want: 0},
		{sel: "1", env: "llvm", want: 1},
		{sel: "3", err: "there are 3 devices"},
		{sel: "-1", err: "there are 3 devices"},
		{sel: "radeon", err: `no device matches "radeon"`},
	} {
		t.Run("sel="+c.sel+"/env="+c.env, func(t *testing.T) {
			t.Setenv(gpu.DeviceEnv, c.env)
			got, err := gpu.Choose(devs, c.sel)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || got.Index != c.want {
				t.Fatalf("got %d, %v; want %d", got.Index, err, c.want)
			}
		})
	}
	if _, err := gpu.Choose(nil, ""); !errors.Is(err, gpu.ErrNoDevice) {
		t.Errorf("no devices: %v", err)
	}
	// Integrated beats software when there is no discrete GPU.
	if got, _ := gpu.Choose(devs[:2], ""); got.Index != 1 {
		t.Errorf("default without discrete = %d, want 1", got.Index)
	}
}

// openOwn opens a device of the test's own, for tests that break things
// or need options the shared device lacks.
func openOwn(t *testing.T, opts gpu.Options) *gpu.Device {
	t.Helper()
	vktest.Device(t) // skip or fail as the shared device does
	opts.Validation = true
	d, err := gpu.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestUploadDownload(t *testing.T) {
	for _, staging := range []bool{false, true} {
		name := map[bool]string{false: "direct", true: "staging"}[staging]
		t.Run(name, func(t *testing.T) {
			d := openOwn(t, gpu.Options{Staging: staging})
			defer func() {
				if err := d.Close(); err != nil {
					t.Error(err)
				}
			}()
			r := rand.New(rand.NewPCG(1, 2))
			for _, n := range []int{1, 3, 4096, gpu.StagingSize + 5} {
				src := make([]byte, n)
				for i := range src {
					src[i] = byte(r.Uint32())
				}
				b, err := d.Alloc(uint64(n), gpu.DeviceLocal)
				if err != nil {
					t.Fatal(err)
				}
				if err := d.Upload(b, src); err != nil {
					t.Fatal(err)
				}
				got := make([]byte, n)
				if err := d.Download(got, b); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, src) {
					t.Errorf("n=%d: round trip differs", n)
				}
				d.Free(b)
			}
			if err := d.Upload(gpu.Buffer{}, nil); err == nil {
				t.Error("upload into the zero buffer: no error")
			}
			if msgs := d.Messages(); len(msgs) > 0 {
				t.Errorf("validation: %v", msgs)
			}
		})
	}
}

func TestAllocator(t *testing.T) {
	d := openOwn(t, gpu.Options{})
	var bufs []gpu.Buffer
	for i := 0; i < 100; i++ {
		b, err := d.Alloc(uint64(1000+i), gpu.DeviceLocal)
		if err != nil {
			t.Fatal(err)
		}
		if b.Offset%d.Caps().StorageAlign != 0 {
			t.Errorf("offset %d not aligned to %d", b.Offset, d.Caps().StorageAlign)
		}
		bufs = append(bufs, b)
	}
	// Small buffers share blocks and never overlap.
	for i := 1; i < len(bufs); i++ {
		if bufs[i].Offset < bufs[i-1].Offset+bufs[i-1].Size && bufs[i].Offset >= bufs[i-1].Offset {
			t.Fatalf("buffers %d and %d overlap", i-1, i)
		}
	}
	for _, b := range bufs[:50] {
		d.Free(b)
	}
	again, err := d.Alloc(5000, gpu.DeviceLocal)
	if err != nil {
		t.Fatal(err)
	}
	if again.Offset != 0 {
		t.Errorf("freed space at the start not reused: offset %d", again.Offset)
	}
	d.Free(again)
	for _, b := range bufs[50:] {
		d.Free(b)
	}
	if n := d.InUse(); n != 0 {
		t.Errorf("InUse = %d after freeing everything", n)
	}
	huge := d.Caps().MaxAllocation + 1
	if _, err := d.Alloc(huge, gpu.DeviceLocal); !errors.Is(err, gpu.ErrOutOfMemory) {
		t.Errorf("alloc of %d bytes: err = %v, want ErrOutOfMemory", huge, err)
	}
	if err := d.Close(); err != nil {
		t.Error(err)
	}
}

func TestCloseReportsLeaks(t *testing.T) {
	d := openOwn(t, gpu.Options{})
	if _, err := d.Alloc(64, gpu.DeviceLocal); err != nil {
		t.Fatal(err)
	}
	err := d.Close()
	if err == nil || !strings.Contains(err.Error(), "1 allocations") {
		t.Errorf("Close = %v, want a leak report", err)
	}
}

func copyDispatch(n int) gpu.Dispatch {
	return gpu.Dispatch{Shader: "copy_u32x4", Spec: []uint32{64}, Push: gpu.Push(uint32(n)),
		Groups: [3]uint32{uint32(min((n+63)/64, 1024)), 1, 1}}
}

func TestCopyShader(t *testing.T) {
	for _, n := range []int{1, 63, 65, 100000} {
		src := make([]byte, 16*n)
		for i := range src {
			src[i] = byte(i * 7)
		}
		out := vktest.Run(t, copyDispatch(n), src, vktest.Poisoned(16*n))
		if !bytes.Equal(out[1], src) {
			t.Errorf("n=%d: copy differs", n)
		}
	}
}

// TestReplay records a dispatch once and runs it on new inputs: the
// command buffer does not change between runs, only buffer contents.
func TestReplay(t *testing.T) {
	d := vktest.Device(t)
	const n = 256
	x, _ := d.Alloc(16*n, gpu.DeviceLocal)
	y, _ := d.Alloc(16*n, gpu.DeviceLocal)
	defer d.Free(x)
	defer d.Free(y)
	b, err := d.Bind(copyDispatch(n), x, y)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rec, err := d.NewRecorder(gpu.RecordOptions{Timestamps: 2})
	if err != nil {
		t.Fatal(err)
	}
	rec.WriteTimestamp("start")
	rec.Dispatch(b)
	rec.WriteTimestamp("copy")
	run, err := rec.End()
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	for step := 0; step < 3; step++ {
		src := bytes.Repeat([]byte{byte(step + 1)}, 16*n)
		if err := d.Upload(x, src); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(runRead(t, d, run, y), src) {
			t.Fatalf("step %d: output does not follow the new input", step)
		}
	}
	ts, err := run.Timestamps()
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) == 2 && (ts[0].Label != "start" || ts[1].Label != "copy" || ts[1].Nanos < 0) {
		t.Errorf("timestamps = %+v", ts)
	}
}

// runRead runs the recording and returns the contents of out.
func runRead(t *testing.T, d *gpu.Device, run *gpu.Recording, out gpu.Buffer) []byte {
	t.Helper()
	if err := run.Run(); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, out.Size)
	if err := d.Download(got, out); err != nil {
		t.Fatal(err)
	}
	return got
}

// record returns a recording of what cmds records.
func record(t *testing.T, d *gpu.Device, cmds func(rec *gpu.Recorder)) *gpu.Recording {
	t.Helper()
	rec, err := d.NewRecorder(gpu.RecordOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cmds(rec)
	run, err := rec.End()
	if err != nil {
		t.Fatal(err)
	}
	return run
}

// TestDispatchIndirect takes a dispatch's group counts from a buffer that
// a shader of the same recording wrote, a BarrierIndirect between them.
func TestDispatchIndirect(t *testing.T) {
	d := vktest.Device(t)
	const n = 1000
	alloc := func(size uint64, data []byte) gpu.Buffer {
		b, err := d.Alloc(size, gpu.DeviceLocal)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Free(b) })
		if data != nil {
			if err := d.Upload(b, data); err != nil {
				t.Fatal(err)
			}
		}
		return b
	}
	src := make([]byte, 16*n)
	for i := range src {
		src[i] = byte(i*5 + 1)
	}
	argSrc := alloc(16, gpu.Push((n+63)/64, 1, 1, 0))
	args := alloc(16, make([]byte, 16)) // zero groups until the first copy runs
	x, y := alloc(16*n, src), alloc(16*n, make([]byte, 16*n))
	setArgs, err := d.Bind(copyDispatch(1), argSrc, args)
	if err != nil {
		t.Fatal(err)
	}
	defer setArgs.Close()
	cp, err := d.Bind(copyDispatch(n), x, y)
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	run := record(t, d, func(rec *gpu.Recorder) {
		rec.Dispatch(setArgs)
		rec.BarrierIndirect()
		rec.DispatchIndirect(cp, args)
	})
	defer run.Close()
	if !bytes.Equal(runRead(t, d, run, y), src) {
		t.Error("the indirect copy did not run with the counts the shader wrote")
	}
}

// TestValidationCatches makes the validation layer complain, to prove that
// its messages reach the test harness.
func TestValidationCatches(t *testing.T) {
	d := openOwn(t, gpu.Options{})
	defer d.Close()
	if !d.Validating() {
		if os.Getenv(vktest.RequireValidation) == "1" {
			t.Fatal("validation layer required but not active")
		}
		t.Skip("validation layer not installed")
	}
	x, _ := d.Alloc(64, gpu.DeviceLocal)
	y, _ := d.Alloc(64, gpu.DeviceLocal)
	defer d.Free(x)
	defer d.Free(y)
	ds := copyDispatch(4)
	ds.Groups[0] = d.Caps().MaxWorkgroupCount[0] + 1 // beyond the limit
	b, err := d.Bind(ds, x, y)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	record(t, d, func(rec *gpu.Recorder) { rec.Dispatch(b) }).Close()
	if len(d.Messages()) == 0 {
		t.Error("an out-of-range dispatch produced no validation message")
	}
}
