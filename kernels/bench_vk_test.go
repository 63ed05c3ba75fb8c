package kernels

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"

	"gemmavk/gpu"
	"gemmavk/internal/vktest"
	"gemmavk/kernels/quant"
)

// The benchmarks below time kernels with GPU timestamps, so the figures are
// device time, not host time. Inputs rotate over copies larger than the
// last-level cache, so that repeated runs read device memory.

const rotateBytes = 256 << 20 // more than the H100's 50 MiB L2, twice over

// gpuTimes records reps dispatches, each chosen by pick and followed by a
// barrier (as dependent kernels run in a decode step), between two
// timestamps; it runs the recording max(b.N, 5) times and returns the
// per-dispatch device time of each run in seconds, sorted. The barrier's
// cost is part of every figure (BenchmarkDispatchFloor measures it alone).
func gpuTimes(b *testing.B, d *gpu.Device, reps int, pick func(i int) *gpu.Bound) []float64 {
	b.Helper()
	return gpuTimesOf(b, d, reps, func(rec *gpu.Recorder, i int) {
		rec.Dispatch(pick(i))
		rec.Barrier()
	})
}

// gpuTimesOf is gpuTimes for repetitions that record more than one
// dispatch: record records repetition i.
func gpuTimesOf(b *testing.B, d *gpu.Device, reps int, record func(rec *gpu.Recorder, i int)) []float64 {
	b.Helper()
	rec, err := d.NewRecorder(gpu.RecordOptions{Timestamps: 2})
	if err != nil {
		b.Fatal(err)
	}
	rec.WriteTimestamp("start")
	for i := 0; i < reps; i++ {
		record(rec, i)
	}
	rec.WriteTimestamp("end")
	run, err := rec.End()
	if err != nil {
		b.Fatal(err)
	}
	defer run.Close()
	var all []float64
	for n := 0; n < max(b.N, 5); n++ {
		if err := run.Run(); err != nil {
			b.Fatal(err)
		}
		ts, err := run.Timestamps()
		if err != nil || len(ts) != 2 {
			b.Fatalf("timestamps: %v (%d)", err, len(ts))
		}
		all = append(all, ts[1].Nanos*1e-9/float64(reps))
	}
	sort.Float64s(all)
	return all
}

func median(v []float64) float64 { return v[len(v)/2] }

// deviceRow quantizes v as one row of type qt in its device layout
// (Weight.DeviceData), the layout the kernels read.
func deviceRow(b testing.TB, qt quant.Type, v []float32) []byte {
	b.Helper()
	row, err := quant.Quantize(qt, v)
	if err != nil {
		b.Fatal(err)
	}
	w, err := NewWeight("row", qt, 1, len(v), row)
	if err != nil {
		b.Fatal(err)
	}
	return w.DeviceData()
}

// allocBuffers allocates n device buffers of size bytes each, filled with
// the repeated pattern; the caller frees them.
func allocBuffers(b *testing.B, d *gpu.Device, n int, size uint64, pattern []byte) []gpu.Buffer {
	b.Helper()
	img := make([]byte, size)
	for i := 0; i < len(img); i += len(pattern) {
		copy(img[i:], pattern)
	}
	bufs := make([]gpu.Buffer, n)
	for i := range bufs {
		buf, err := d.Alloc(size, gpu.DeviceLocal)
		if err != nil {
			b.Fatal(err)
		}
		if err := d.Upload(buf, img); err != nil {
			b.Fatal(err)
		}
		bufs[i] = buf
	}
	return bufs
}

// benchBuffers is allocBuffers, freed when the benchmark b ends.
func benchBuffers(b *testing.B, d *gpu.Device, n int, size uint64, pattern []byte) []gpu.Buffer {
	b.Helper()
	bufs := allocBuffers(b, d, n, size, pattern)
	b.Cleanup(func() {
		for _, buf := range bufs {
			d.Free(buf)
		}
	})
	return bufs
}

// BenchmarkCopy measures the device's copy bandwidth (bytes read plus
// written), the ceiling for bandwidth-bound kernels.
func BenchmarkCopy(b *testing.B) {
	d := vktest.Device(b)
	const size = 512 << 20
	pat := make([]byte, 4096)
	for i := range pat {
		pat[i] = byte(i*31 + 7)
	}
	bufs := benchBuffers(b, d, 2, size, pat)
	n := size / 16
	groups := min((n+255)/256, 65535)
	ds := gpu.Dispatch{Shader: "copy_u32x4", Spec: []uint32{256}, Push: gpu.Push(uint32(n)), Groups: [3]uint32{uint32(groups), 1, 1}}
	bound, err := d.Bind(ds, bufs[0], bufs[1])
	if err != nil {
		b.Fatal(err)
	}
	defer bound.Close()
	times := gpuTimes(b, d, 10, func(int) *gpu.Bound { return bound })
	b.ReportMetric(2*size/median(times)/1e9, "GB/s")
	b.ReportMetric(median(times)*1e6, "us/op")
}

// matVecSet is a matrix-vector benchmark's data: copies of one weight
// (quantized random rows) totalling more than rotateBytes, x and y.
type matVecSet struct {
	ws     []gpu.Buffer
	x, y   gpu.Buffer
	wBytes uint64
}

func newMatVecSet(b *testing.B, d *gpu.Device, qt quant.Type, rows, cols int) *matVecSet {
	b.Helper()
	r := rand.New(rand.NewPCG(uint64(rows), uint64(qt)))
	row := deviceRow(b, qt, randFloats(r, cols, 1))
	s := &matVecSet{wBytes: uint64(len(row) * rows)}
	s.ws = allocBuffers(b, d, int(max(2, rotateBytes/s.wBytes)), s.wBytes, row)
	s.x = allocBuffers(b, d, 1, uint64(4*cols), vktest.F32Bytes(randFloats(r, cols, 1)))[0]
	s.y = allocBuffers(b, d, 1, uint64(4*rows), vktest.Poisoned(4))[0]
	return s
}

// measure times ds over the weight copies in turn and reports GB/s of
// weights and µs per dispatch.
func (s *matVecSet) measure(b *testing.B, d *gpu.Device, ds gpu.Dispatch) {
	b.Helper()
	bounds := make([]*gpu.Bound, len(s.ws))
	for i, w := range s.ws {
		var err error
		if bounds[i], err = d.Bind(ds, w, s.x, s.y); err != nil {
			b.Fatal(err)
		}
		defer bounds[i].Close()
	}
	n := len(bounds)
	times := gpuTimes(b, d, 4*n, func(i int) *gpu.Bound { return bounds[i%n] })
	b.ReportMetric(float64(s.wBytes)/median(times)/1e9, "GB/s")
	b.ReportMetric(median(times)*1e6, "us/op")
}

func (s *matVecSet) free(d *gpu.Device) {
	for _, w := range append(s.ws, s.x, s.y) {
		d.Free(w)
	}
}

// BenchmarkMatVec measures the decode matrix-vector kernel per weight type
// as GB/s of weight bytes read.
func BenchmarkMatVec(b *testing.B) {
	d := vktest.Device(b)
	types := []quant.Type{quant.Q4_K, quant.Q6_K, quant.Q4_0, quant.Q8_0, quant.F16}
	for _, sh := range [][2]int{{2560, 10240}, {10240, 2560}} {
		for _, qt := range types {
			rows, cols := sh[0], sh[1]
			b.Run(fmt.Sprintf("type=%v/rows=%d/cols=%d", qt, rows, cols), func(b *testing.B) {
				set := newMatVecSet(b, d, qt, rows, cols)
				defer set.free(d)
				ds, err := MatVecVk(d.Caps(), qt, rows, cols)
				if err != nil {
					b.Fatal(err)
				}
				set.measure(b, d, ds)
			})
		}
	}
}

// BenchmarkMatVecLayouts sweeps matvec.comp's layouts (rows per subgroup,
// units per lane per step, subgroups per workgroup) for the types whose
// default layout is slowest, to choose the defaults.
func BenchmarkMatVecLayouts(b *testing.B) {
	d := vktest.Device(b)
	for _, sh := range [][2]int{{2560, 10240}, {10240, 2560}} {
		for _, qt := range []quant.Type{quant.Q4_K, quant.Q6_K, quant.Q4_0} {
			rows, cols := sh[0], sh[1]
			// Made on the parent, so that it outlives each sub-benchmark.
			set := newMatVecSet(b, d, qt, rows, cols)
			name, _ := vkWeight("matvec", qt, rows, cols)
			for _, sgs := range []int{2, 4} {
				for _, rp := range []int{1, 2, 4} {
					for _, un := range []int{1, 2, 4} {
						l := matVecLayout{subgroups: sgs, rowsPer: rp, unroll: un}
						b.Run(fmt.Sprintf("type=%v/rows=%d/cols=%d/sg=%d/rp=%d/unroll=%d", qt, rows, cols, sgs, rp, un), func(b *testing.B) {
							set.measure(b, d, matVecDispatch(d.Caps(), name, rows, cols, l))
						})
					}
				}
			}
			set.free(d)
		}
	}
}

// BenchmarkMatVecQ8 measures matvec_q8 (8-bit activations) beside
// BenchmarkMatVec's kernel, at the 4B decode step's shapes.
func BenchmarkMatVecQ8(b *testing.B) {
	d := vktest.Device(b)
	for _, sh := range [][2]int{{2560, 10240}, {10240, 2560}, {2048, 2560}, {1024, 2560}} {
		for _, qt := range []quant.Type{quant.Q4_K, quant.Q6_K, quant.Q4_0, quant.Q8_0} {
			rows, cols := sh[0], sh[1]
			b.Run(fmt.Sprintf("type=%v/rows=%d/cols=%d", qt, rows, cols), func(b *testing.B) {
				set := newMatVecSet(b, d, qt, rows, cols)
				defer set.free(d)
				ds, err := MatVecQ8Vk(d.Caps(), qt, rows, cols)
				if err != nil {
					b.Fatal(err)
				}
				set.measure(b, d, ds)
			})
		}
	}
}

// BenchmarkMatVecPick times both decode kernels (f32 activations, and
// 8-bit ones) at the decode step's shapes of the 270M, 1B and 4B models,
// to choose between them by shape.
func BenchmarkMatVecPick(b *testing.B) {
	d := vktest.Device(b)
	for _, c := range []struct {
		qt         quant.Type
		rows, cols int
	}{
		{quant.Q8_0, 262144, 640}, {quant.Q8_0, 262144, 1152}, {quant.Q6_K, 262144, 2560},
		{quant.Q4_K, 2048, 2560}, {quant.Q4_K, 1024, 2560}, {quant.Q6_K, 1024, 2560}, {quant.Q4_K, 2560, 2048},
		{quant.Q4_K, 640, 2048}, {quant.Q6_K, 640, 2048}, {quant.Q4_K, 1152, 6912}, {quant.Q8_0, 1024, 1152},
	} {
		set := newMatVecSet(b, d, c.qt, c.rows, c.cols)
		for _, q8 := range []bool{false, true} {
			b.Run(fmt.Sprintf("type=%v/rows=%d/cols=%d/q8=%v", c.qt, c.rows, c.cols, q8), func(b *testing.B) {
				lower := MatVecVk
				if q8 {
					lower = MatVecQ8Vk
				}
				ds, err := lower(d.Caps(), c.qt, c.rows, c.cols)
				if err != nil {
					b.Fatal(err)
				}
				set.measure(b, d, ds)
			})
		}
		set.free(d)
	}
}

// BenchmarkMatVecQ8Layouts sweeps matvec_q8's team width and rows per
// workgroup, to choose the lowering's defaults.
func BenchmarkMatVecQ8Layouts(b *testing.B) {
	d := vktest.Device(b)
	sg := subgroupSize(d.Caps())
	for _, sh := range [][2]int{{2560, 10240}, {10240, 2560}, {2048, 2560}} {
		for _, qt := range []quant.Type{quant.Q4_K, quant.Q6_K} {
			rows, cols := sh[0], sh[1]
			set := newMatVecSet(b, d, qt, rows, cols)
			base, err := MatVecQ8Vk(d.Caps(), qt, rows, cols)
			if err != nil {
				b.Fatal(err)
			}
			for _, team := range []int{4, 8, 16, 32} {
				for _, wgRows := range []int{2, 4, 8, 16, 32} {
					threads := min(max(team*wgRows, sg), 256)
					if team > sg {
						continue
					}
					ds := base
					ds.Spec = []uint32{uint32(threads), uint32(team), uint32(wgRows), uint32(cols)}
					ds.Groups = rowGroups(int(ceilDiv(rows, wgRows)))
					b.Run(fmt.Sprintf("type=%v/rows=%d/cols=%d/team=%d/wgrows=%d", qt, rows, cols, team, wgRows), func(b *testing.B) {
						set.measure(b, d, ds)
					})
				}
			}
			set.free(d)
		}
	}
}

// BenchmarkDispatchFloor times a dispatch that does almost nothing, with
// the barrier and timestamp every measured dispatch has: the floor under
// every per-kernel time.
func BenchmarkDispatchFloor(b *testing.B) {
	d := vktest.Device(b)
	bufs := benchBuffers(b, d, 2, 64, []byte{1, 2, 3, 4})
	bound, err := d.Bind(gpu.Dispatch{Shader: "copy_u32x4", Spec: []uint32{64}, Push: gpu.Push(4), Groups: [3]uint32{1, 1, 1}}, bufs[0], bufs[1])
	if err != nil {
		b.Fatal(err)
	}
	defer bound.Close()
	times := gpuTimes(b, d, 200, func(int) *gpu.Bound { return bound })
	b.ReportMetric(median(times)*1e6, "us/op")
}

// BenchmarkMatMulCoopSplit measures products cut into runs of K and
// summed (both passes, a barrier between) at the 4B model's prefill shapes,
// in TFLOP/s of the product.
func BenchmarkMatMulCoopSplit(b *testing.B) {
	d := coopDevice(b)
	r := rand.New(rand.NewPCG(5, 6))
	for _, s := range []struct{ T, rows, cols int }{{512, 2560, 10240}, {512, 2560, 2048}, {512, 2048, 2560}, {512, 1024, 2560}} {
		row, err := quant.Quantize(quant.Q4_K, randFloats(r, s.cols, 1))
		if err != nil {
			b.Fatal(err)
		}
		w := benchBuffers(b, d, 1, uint64(len(row)*s.rows), row)[0]
		x := benchBuffers(b, d, 1, uint64(4*s.T*s.cols), vktest.F32Bytes(randFloats(r, 4096, 1)))[0]
		y := benchBuffers(b, d, 1, uint64(4*s.T*s.rows), vktest.Poisoned(4))[0]
		scratch := benchBuffers(b, d, 1, uint64(MatMulCoopSplitScratch(s.T, s.rows, 4)), vktest.Poisoned(4))[0]
		flops := 2.0 * float64(s.T*s.rows*s.cols)
		for kparts := 1; kparts <= 4; kparts++ {
			b.Run(fmt.Sprintf("q4_k/%dx%d/kparts=%d", s.rows, s.cols, kparts), func(b *testing.B) {
				ds, err := MatMulCoopSplitVk(d.Caps(), quant.Q4_K, s.T, s.rows, s.cols, s.rows, kparts, false)
				if err != nil {
					b.Fatal(err)
				}
				p1, err := d.Bind(ds[0], w, x, scratch)
				if err != nil {
					b.Fatal(err)
				}
				defer p1.Close()
				p2, err := d.Bind(ds[1], scratch, y)
				if err != nil {
					b.Fatal(err)
				}
				defer p2.Close()
				times := gpuTimesOf(b, d, 10, func(rec *gpu.Recorder, _ int) {
					rec.Dispatch(p1)
					rec.Barrier()
					rec.Dispatch(p2)
					rec.Barrier()
				})
				b.ReportMetric(flops/median(times)/1e12, "TFLOP/s")
			})
		}
	}
}

// BenchmarkMatMulCoop measures the cooperative-matrix GEMM beside the
// portable tiled one at prefill shapes of the 4B model (T tokens; q, k/v,
// o, gate/up and down), in TFLOP/s.
func BenchmarkMatMulCoop(b *testing.B) {
	d := coopDevice(b)
	r := rand.New(rand.NewPCG(5, 6))
	for _, typ := range []quant.Type{quant.Q4_K, quant.Q6_K, quant.Q4_0, quant.F16} {
		for _, s := range []struct{ T, rows, cols int }{
			{512, 2048, 2560}, {512, 1024, 2560}, {512, 2560, 2048}, {512, 10240, 2560}, {512, 2560, 10240}, {128, 10240, 2560},
		} {
			row := deviceRow(b, typ, randFloats(r, s.cols, 1))
			w := benchBuffers(b, d, 1, uint64(len(row)*s.rows), row)[0]
			x := benchBuffers(b, d, 1, uint64(4*s.T*s.cols), vktest.F32Bytes(randFloats(r, 4096, 1)))[0]
			y := benchBuffers(b, d, 1, uint64(4*s.T*s.rows), vktest.Poisoned(4))[0]
			flops := 2.0 * float64(s.T*s.rows*s.cols)
			for _, c := range []struct {
				name  string
				lower func() (gpu.Dispatch, error)
			}{
				{"coop", func() (gpu.Dispatch, error) { return MatMulCoopVk(d.Caps(), typ, s.T, s.rows, s.cols) }},
				{"coop42", func() (gpu.Dispatch, error) {
					return matMulCoopTile(d.Caps(), typeName(typ), s.T, s.rows, s.cols, s.rows, 4, 2, 1, 0)
				}},
				{"coop22", func() (gpu.Dispatch, error) {
					return matMulCoopTile(d.Caps(), typeName(typ), s.T, s.rows, s.cols, s.rows, 2, 2, 1, 0)
				}},
				{"coop41", func() (gpu.Dispatch, error) {
					return matMulCoopTile(d.Caps(), typeName(typ), s.T, s.rows, s.cols, s.rows, 4, 1, 1, 0)
				}},
				{"coop21", func() (gpu.Dispatch, error) {
					return matMulCoopTile(d.Caps(), typeName(typ), s.T, s.rows, s.cols, s.rows, 2, 1, 1, 0)
				}},
				{"tiled", func() (gpu.Dispatch, error) { return MatMulVk(d.Caps(), typ, s.T, s.rows, s.cols) }},
			} {
				b.Run(fmt.Sprintf("%s/T=%d/%dx%d/kernel=%s", typeName(typ), s.T, s.rows, s.cols, c.name), func(b *testing.B) {
					ds, err := c.lower()
					if err != nil {
						b.Skip(err)
					}
					bound, err := d.Bind(ds, w, x, y)
					if err != nil {
						b.Fatal(err)
					}
					defer bound.Close()
					times := gpuTimes(b, d, 10, func(int) *gpu.Bound { return bound })
					b.ReportMetric(flops/median(times)/1e12, "TFLOP/s")
					b.ReportMetric(median(times)*1e6, "us/op")
				})
			}
		}
	}
}

// decodeBench is the data of a decode-step attention benchmark: copies of
// the f16 caches totalling more than rotateBytes, and one token's q, k, v,
// pos (p0 = keys-1), scratch (room for 64 splits) and out.
type decodeBench struct {
	a            Attn
	ck, cv       []gpu.Buffer
	q, k, v, pos gpu.Buffer
	scratch, out gpu.Buffer
}

func newDecodeBench(b *testing.B, d *gpu.Device, a Attn, keys int) *decodeBench {
	b.Helper()
	r := rand.New(rand.NewPCG(uint64(keys), 9))
	kvw, qw := a.KVHeads*a.HeadDim, a.Heads*a.HeadDim
	cache := uint64(2 * a.Slots * kvw)
	copies := int(max(2, rotateBytes/(2*cache)))
	pat := f16Bytes(randVec(r, 4096))
	s := &decodeBench{a: a}
	s.ck = benchBuffers(b, d, copies, cache, pat)
	s.cv = benchBuffers(b, d, copies, cache, pat[2:])
	s.q = benchBuffers(b, d, 1, uint64(4*qw), vktest.F32Bytes(randVec(r, qw)))[0]
	s.k = benchBuffers(b, d, 1, uint64(4*kvw), vktest.F32Bytes(randVec(r, kvw)))[0]
	s.v = benchBuffers(b, d, 1, uint64(4*kvw), vktest.F32Bytes(randVec(r, kvw)))[0]
	s.pos = benchBuffers(b, d, 1, 4, vktest.I32Bytes([]int32{int32(keys - 1)}))[0]
	s.scratch = benchBuffers(b, d, 1, uint64(AttentionSplitScratch(a, 1, 64)), vktest.Poisoned(4))[0]
	s.out = benchBuffers(b, d, 1, uint64(4*qw), vktest.Poisoned(4))[0]
	return s
}

// measure times both passes of split-K attention (pass 1 as p chooses, a
// barrier, the combine) over the cache copies in turn, and reports µs per
// step (the two dispatches and their barriers).
func (s *decodeBench) measure(b *testing.B, d *gpu.Device, splits int, p splitPass1) {
	b.Helper()
	if splits > 64 {
		b.Fatalf("%d splits", splits)
	}
	ds, err := attentionSplitVk(d.Caps(), s.a, 1, splits, AttnOpts{}, p)
	if err != nil {
		b.Fatal(err)
	}
	n := len(s.ck)
	pass1 := make([]*gpu.Bound, n)
	for i := range pass1 {
		if pass1[i], err = d.Bind(ds[0], s.q, s.k, s.v, s.ck[i], s.cv[i], s.pos, s.scratch); err != nil {
			b.Fatal(err)
		}
		defer pass1[i].Close()
	}
	pass2, err := d.Bind(ds[1], s.scratch, s.out)
	if err != nil {
		b.Fatal(err)
	}
	defer pass2.Close()
	times := gpuTimes(b, d, 2*4*n, func(i int) *gpu.Bound {
		if i%2 == 1 {
			return pass2
		}
		return pass1[(i/2)%n]
	})
	b.ReportMetric(2*median(times)*1e6, "us/op")
}

// decodeBenchAttn is the 4B model's attention (8 query heads, 4 kv heads of
// 256 dims) on a global layer of max(4096, keys) slots, so that every key
// has its own slot.
func decodeBenchAttn(keys int) Attn {
	return Attn{Heads: 8, KVHeads: 4, HeadDim: 256, Scale: 1.0 / 16, Slots: max(4096, keys)}
}

// BenchmarkAttentionDecode times a decode step's split-K attention (both
// passes) at the 4B model's shape over f16 caches, with attention_decode
// and with attention_split as pass 1, for the splits AttentionSplits gives
// for the keys seen and for the whole cache (as the graph recorder asks,
// recording once for every step).
func BenchmarkAttentionDecode(b *testing.B) {
	d := vktest.Device(b)
	for _, keys := range []int{64, 512, 8192} {
		a := decodeBenchAttn(keys)
		set := newDecodeBench(b, d, a, keys)
		seen := map[int]bool{}
		for _, splits := range []int{AttentionSplits(d.Caps(), a, 1, keys), AttentionSplits(d.Caps(), a, 1, a.Slots+1)} {
			if seen[splits] {
				continue
			}
			seen[splits] = true
			for _, generic := range []bool{false, true} {
				pass1 := "decode"
				if generic {
					pass1 = "split"
				}
				b.Run(fmt.Sprintf("keys=%d/splits=%d/pass1=%s", keys, splits, pass1), func(b *testing.B) {
					set.measure(b, d, splits, splitPass1{generic: generic})
				})
			}
		}
	}
}

// BenchmarkAttentionDecodeLayouts sweeps attention_decode's subgroups per
// workgroup and keys per step at BenchmarkAttentionDecode's shape (splits
// for the whole cache), to choose the defaults.
func BenchmarkAttentionDecodeLayouts(b *testing.B) {
	d := vktest.Device(b)
	for _, keys := range []int{512, 8192} {
		a := decodeBenchAttn(keys)
		set := newDecodeBench(b, d, a, keys)
		splits := AttentionSplits(d.Caps(), a, 1, a.Slots+1)
		for _, sgs := range []int{1, 2, 4, 8} {
			for _, kb := range []int{2, 4, 8, 16} {
				b.Run(fmt.Sprintf("keys=%d/splits=%d/sg=%d/kb=%d", keys, splits, sgs, kb), func(b *testing.B) {
					set.measure(b, d, splits, splitPass1{layout: decodeLayout{subgroups: sgs, kb: kb}})
				})
			}
		}
	}
}
