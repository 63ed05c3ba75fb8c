package kernels

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gemmavk/gpu"
	"gemmavk/internal/vktest"
)

// runSelect runs the dispatches of ds reps times over bufs (in binding
// order) on the shared device; see vktest.RunSeq.
func runSelect(t *testing.T, ds []gpu.Dispatch, reps int, bufs ...[]byte) [][]byte {
	t.Helper()
	return vktest.RunSeq(t, vktest.Device(t), ds, reps, bufs...)
}

var (
	negInf = float32(math.Inf(-1))
	posInf = float32(math.Inf(1))
	nan32  = float32(math.NaN())
)

// argmaxRow fills a row of n values in one of the argmax test patterns.
func argmaxRow(r *rand.Rand, n int, pattern string) []float32 {
	x := randFloats(r, n, 8)
	switch pattern {
	case "ties": // few distinct values: the maximum occurs many times
		for i := range x {
			x[i] = float32(r.IntN(4))
		}
	case "inf-nan": // -Inf and NaN sprinkled over a negative row
		for i := range x {
			x[i] = -1 - r.Float32()
			switch r.IntN(4) {
			case 0:
				x[i] = negInf
			case 1:
				x[i] = nan32
			}
		}
	case "nan-first-max-last": // NaNs must not win; the maximum sits last
		for i := range x {
			x[i] = nan32
		}
		x[n-1] = -3
		if n > 2 {
			x[n/2] = -4
		}
	case "all-neg-inf":
		for i := range x {
			x[i] = negInf
		}
	case "all-nan":
		for i := range x {
			x[i] = nan32
		}
	case "signed-zeros": // -0 == +0: the lowest index wins
		for i := range x {
			x[i] = -1
			if r.IntN(8) == 0 {
				x[i] = float32(math.Copysign(0, float64(r.IntN(2)*2-1)))
			}
		}
	case "pos-inf":
		x[r.IntN(n)] = posInf
		x[r.IntN(n)] = posInf
	}
	return x
}

// Exact: argmax is a comparison, no arithmetic.
func TestArgmaxVulkan(t *testing.T) {
	d := vktest.Device(t)
	type tc struct {
		n       int
		pattern string
	}
	var cases []tc
	for _, n := range []int{1, 7, 33, 1000, 8192, 8193, 65537, 262144} {
		cases = append(cases, tc{n, "random"}, tc{n, "ties"})
	}
	for _, p := range []string{"inf-nan", "nan-first-max-last", "all-neg-inf", "all-nan", "signed-zeros", "pos-inf"} {
		cases = append(cases, tc{7, p}, tc{5000, p})
	}
	cases = append(cases, tc{0, "empty"})
	for _, c := range cases {
		t.Run(fmt.Sprintf("n=%d/%s", c.n, c.pattern), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(c.n), uint64(len(c.pattern))))
			var x []float32
			if c.n > 0 {
				x = argmaxRow(r, c.n, c.pattern)
			}
			slot := r.IntN(5)
			want := Argmax(x)
			logits := vktest.F32Bytes(x)
			if len(logits) == 0 {
				logits = vktest.F32Bytes([]float32{7}) // a buffer to bind; V = 0 reads none of it
			}
			out := runSelect(t, ArgmaxVk(d.Caps(), c.n, slot), 1,
				logits, vktest.Poisoned(ArgmaxScratchBytes(c.n)), vktest.Poisoned(4*(slot+2)))
			toks := vktest.Ints(out[2])
			if got := int(toks[slot]); got != want {
				t.Errorf("argmax = %d, want %d", got, want)
			}
			for i, v := range toks {
				if i != slot && uint32(v) != vktest.Poison {
					t.Errorf("out[%d] = %d written, only out[%d] should be", i, v, slot)
				}
			}
			if !slices.Equal(out[0], logits) {
				t.Error("logits changed")
			}
		})
	}
}

// sampleLogits is a row of n logits in one of the sampling test shapes:
// "dominant": spread over a few units with a few dominant entries, so that
// top-k, top-p and min-p all bite; "holes": the same with -Inf and NaN
// entries; "rising": increasing with the index, so that every candidate
// comes from the last slice; "ties": a few distinct values.
func sampleLogits(r *rand.Rand, n int, shape string) []float32 {
	x := randFloats(r, n, 3)
	switch shape {
	case "rising":
		for i := range x {
			x[i] = float32(i) * 1e-3
		}
		return x
	case "ties":
		for i := range x {
			x[i] = float32(r.IntN(3)) * 0.5
		}
		return x
	}
	for range 1 + r.IntN(5) {
		x[r.IntN(n)] = 4 + 4*r.Float32()
	}
	if shape == "holes" {
		for range 1 + n/20 {
			x[r.IntN(n)] = negInf
			x[r.IntN(n)] = nan32
		}
	}
	return x
}

// sampleTolerance is how close, relative to the total it is measured
// against, a reference sum or threshold must lie to a comparison for the
// GPU's exp (a few ulp off Go's) to flip it.
const sampleTolerance = 1e-5

// explainMismatch returns why GPU pick got may legitimately differ from
// the reference trace tr for draw u, or "" when it may not: u lies within
// sampleTolerance of a cumulative-probability boundary of the reference,
// or the top-p or min-p cut lies that close to its threshold.
func explainMismatch(tr sampleTrace, p SampleParams, u float32, got int) string {
	if tr.kept == nil || !slices.Contains(tr.ids, got) {
		return ""
	}
	var acc float64
	for j, e := range tr.e[:tr.cut] {
		if tr.kept[j] {
			acc += float64(e)
			if d := math.Abs(acc/float64(tr.zc) - float64(u)); d <= sampleTolerance {
				return fmt.Sprintf("u=%.7f is %.2g from the boundary after candidate %d", u, d, j)
			}
		}
	}
	if p.TopP > 0 && p.TopP < 1 {
		target := float64(p.TopP) * float64(tr.z)
		acc = 0
		for j, e := range tr.e {
			if tr.kept[j] {
				acc += float64(e)
				if d := math.Abs(acc-target) / float64(tr.z); d <= sampleTolerance {
					return fmt.Sprintf("top-p cut after candidate %d is %.2g from its target", j, d)
				}
			}
		}
	}
	for j, e := range tr.e {
		if d := math.Abs(float64(e - tr.thr)); tr.thr > 0 && d <= sampleTolerance*float64(tr.thr) {
			return fmt.Sprintf("candidate %d is %.2g from the min-p threshold", j, d)
		}
	}
	return ""
}

// Tolerance: picks are equal, except where the GPU's exp (a few ulp off
// Go's) may flip a comparison; explainMismatch accepts those, within 1e-5.
func TestSampleVulkan(t *testing.T) {
	d := vktest.Device(t)
	type tc struct {
		n     int
		p     SampleParams
		shape string
	}
	var cases []tc
	for _, n := range []int{50, 1000} {
		for _, k := range []int{1, 5, 40, 64} {
			for _, topP := range []float32{1, 0.9, 0.5} {
				for _, minP := range []float32{0, 0.05} {
					for _, temp := range []float32{0.7, 1, 1.5} {
						cases = append(cases, tc{n, SampleParams{temp, k, topP, minP}, "dominant"})
					}
				}
			}
		}
	}
	cases = append(cases,
		tc{7, SampleParams{1, 64, 1, 0}, "dominant"},      // fewer logits than k
		tc{1, SampleParams{1, 5, 0.9, 0}, "dominant"},     // one logit
		tc{4097, SampleParams{1, 40, 0.9, 0}, "dominant"}, // two first-pass workgroups
		tc{65537, SampleParams{1, 64, 0.9, 0}, "rising"},  // every candidate in the last slice
		tc{5000, SampleParams{0.7, 64, 1, 0.05}, "holes"},
		tc{1000, SampleParams{1, 40, 0.95, 0}, "holes"},
		tc{1000, SampleParams{1, 64, 1, 0}, "ties"},
		tc{20000, SampleParams{1, 64, 0.9, 0}, "ties"},
		tc{1000, SampleParams{0, 40, 0.9, 0}, "holes"},   // greedy
		tc{20000, SampleParams{-1, 0, 0, 0}, "dominant"}, // greedy, TopK ignored
		tc{262144, SampleParams{1, 64, 0.95, 0}, "dominant"},
		tc{262144, SampleParams{0.7, 40, 1, 0.05}, "holes"},
	)
	const ring = 6 // replays per case, each drawing at the next step
	accepted, offTop := 0, 0
	for ci, c := range cases {
		name := fmt.Sprintf("n=%d/k=%d/t=%g/top_p=%g/min_p=%g/%s", c.n, c.p.TopK, c.p.Temperature, c.p.TopP, c.p.MinP, c.shape)
		t.Run(name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(ci), uint64(c.n)))
			x := sampleLogits(r, c.n, c.shape)
			seed, step0 := r.Uint32(), r.Uint32()
			slot := 1 + r.IntN(3)
			ds, err := SampleVk(d.Caps(), c.n, c.p, SampleOut{Slot: slot, Ring: ring, Advance: true})
			if err != nil {
				t.Fatal(err)
			}
			logits := vktest.F32Bytes(x)
			state := vktest.I32Bytes([]int32{int32(seed), int32(step0)})
			out := runSelect(t, ds, ring, logits, vktest.Poisoned(SampleScratchBytes(c.n)), state,
				vktest.Poisoned(4*(slot+ring+1)))
			toks := vktest.Ints(out[3])
			for i := range ring {
				step := step0 + uint32(i)
				at := slot + int(step%ring)
				u := SampleU(seed, step)
				tr := sampleTopK(x, c.p, u)
				got := int(toks[at])
				if got != tr.ids[0] {
					offTop++
				}
				if got == tr.pick {
					continue
				}
				if why := explainMismatch(tr, c.p, u, got); why != "" {
					accepted++
					t.Logf("step %d: GPU picked %d, reference %d: accepted, %s", step, got, tr.pick, why)
					continue
				}
				t.Errorf("step %d (u=%.7f): GPU picked %d, reference %d (candidates %v)", step, u, got, tr.pick, tr.ids)
			}
			for _, i := range []int{0, slot + ring} {
				if uint32(toks[i]) != vktest.Poison {
					t.Errorf("out[%d] = %d written outside the ring", i, toks[i])
				}
			}
			st := vktest.Ints(out[2])
			if uint32(st[0]) != seed || uint32(st[1]) != step0+ring {
				t.Errorf("state = %d, %d; want seed %d, step %d", uint32(st[0]), uint32(st[1]), seed, step0+ring)
			}
			if !slices.Equal(out[0], logits) {
				t.Error("logits changed")
			}
		})
	}
	t.Logf("%d cases, %d draws each (%d not the top candidate), %d boundary disagreements accepted",
		len(cases), ring, offTop, accepted)
}

// runFeed replays the selection of a token from logits x with Feed reps
// times (seed 5 from step 0, a ring of ring tokens, pos from pos0) and
// returns the ring and the final ids and pos.
func runFeed(t *testing.T, d *gpu.Device, x []float32, p SampleParams, ring, reps int, pos0 int32) (toks []int32, id, pos int32) {
	t.Helper()
	ds, err := SampleVk(d.Caps(), len(x), p, SampleOut{Ring: ring, Advance: true, Feed: true})
	if err != nil {
		t.Fatal(err)
	}
	out := runSelect(t, ds, reps, vktest.F32Bytes(x), vktest.Poisoned(SampleScratchBytes(len(x))),
		vktest.I32Bytes([]int32{5, 0}), vktest.Poisoned(4*ring), vktest.Poisoned(4), vktest.I32Bytes([]int32{pos0}))
	return vktest.Ints(out[3]), vktest.Ints(out[4])[0], vktest.Ints(out[5])[0]
}

// With Feed every replay also makes its token the ids input and moves pos
// on, in the one-dispatch (small V) and the two-dispatch shapes.
func TestSampleVulkanFeed(t *testing.T) {
	d := vktest.Device(t)
	const ring, reps = 4, 3
	for _, c := range []struct {
		n int
		p SampleParams
	}{{300, SampleParams{}}, {300, SampleParams{Temperature: 1, TopK: 8}}, {20000, SampleParams{}}, {20000, SampleParams{Temperature: 0.8, TopK: 40}}} {
		t.Run(fmt.Sprintf("n=%d/t=%g", c.n, c.p.Temperature), func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, uint64(c.n)))
			x := sampleLogits(r, c.n, "dominant")
			toks, id, pos := runFeed(t, d, x, c.p, ring, reps, 41)
			last := toks[reps-1]
			if uint32(last) == vktest.Poison {
				t.Fatalf("no token in ring slot %d", reps-1)
			}
			if id != last {
				t.Errorf("ids = %d, want the last token %d", id, last)
			}
			if pos != 41+reps {
				t.Errorf("pos = %d, want %d", pos, 41+reps)
			}
		})
	}
}

// When every logit is -Inf or NaN there is no token: the GPU writes -1,
// to the ring and (with Feed) to ids, greedy or not, in both shapes.
func TestSampleVulkanNoToken(t *testing.T) {
	d := vktest.Device(t)
	for _, n := range []int{300, 20000} {
		for _, p := range []SampleParams{{}, {Temperature: 1, TopK: 8}} {
			t.Run(fmt.Sprintf("n=%d/t=%g", n, p.Temperature), func(t *testing.T) {
				x := make([]float32, n)
				for i := range x {
					x[i] = negInf
					if i%3 == 1 {
						x[i] = nan32
					}
				}
				if got := SampleTopK(x, p, 0.5); got != -1 {
					t.Fatalf("reference picked %d", got)
				}
				toks, id, _ := runFeed(t, d, x, p, 2, 1, 9)
				if toks[0] != -1 {
					t.Errorf("token %d, want -1", toks[0])
				}
				if id != -1 {
					t.Errorf("ids %d, want -1", id)
				}
			})
		}
	}
}

// Without Ring or Advance the token goes to out[Slot] and the state stays.
func TestSampleVulkanFixedSlot(t *testing.T) {
	d := vktest.Device(t)
	r := rand.New(rand.NewPCG(3, 4))
	x := sampleLogits(r, 300, "dominant")
	p := SampleParams{Temperature: 1, TopK: 64}
	ds, err := SampleVk(d.Caps(), len(x), p, SampleOut{Slot: 2})
	if err != nil {
		t.Fatal(err)
	}
	out := runSelect(t, ds, 1, vktest.F32Bytes(x), vktest.Poisoned(SampleScratchBytes(len(x))),
		vktest.I32Bytes([]int32{11, 12}), vktest.Poisoned(16))
	toks := vktest.Ints(out[3])
	tr := sampleTopK(x, p, SampleU(11, 12))
	if got := int(toks[2]); got != tr.pick && explainMismatch(tr, p, SampleU(11, 12), got) == "" {
		t.Errorf("pick %d, want %d", got, tr.pick)
	}
	if st := vktest.Ints(out[2]); st[0] != 11 || st[1] != 12 {
		t.Errorf("state = %v, want [11 12] unchanged", st)
	}
	for _, i := range []int{0, 1, 3} {
		if uint32(toks[i]) != vktest.Poison {
			t.Errorf("out[%d] written", i)
		}
	}
}

func TestSampleVkErrors(t *testing.T) {
	c := gpu.Caps{SubgroupSize: 32, MaxWorkgroupInvocations: 1024}
	for _, tc := range []struct {
		name        string
		V           int
		p           SampleParams
		o           SampleOut
		unsupported bool
	}{
		{"top_k=0", 1000, SampleParams{Temperature: 1}, SampleOut{}, true},
		{"top_k=65", 1000, SampleParams{Temperature: 1, TopK: 65}, SampleOut{}, true},
		{"V=0", 0, SampleParams{Temperature: 1, TopK: 5}, SampleOut{}, false},
		{"temperature=NaN", 10, SampleParams{Temperature: nan32, TopK: 5}, SampleOut{}, false},
		{"min_p=2", 10, SampleParams{Temperature: 1, TopK: 5, MinP: 2}, SampleOut{}, false},
		{"top_p=-1", 10, SampleParams{Temperature: 1, TopK: 5, TopP: -1}, SampleOut{}, false},
		{"slot=-1", 10, SampleParams{Temperature: 1, TopK: 5}, SampleOut{Slot: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := SampleVk(c, tc.V, tc.p, tc.o)
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, ErrSampleUnsupported) != tc.unsupported {
				t.Errorf("%v: errors.Is(ErrSampleUnsupported) = %v, want %v", err, !tc.unsupported, tc.unsupported)
			}
		})
	}
	if _, err := SampleVk(c, 10, SampleParams{Temperature: 0, TopK: 1000}, SampleOut{}); err != nil {
		t.Errorf("greedy with a large TopK: %v", err)
	}
}

// BenchmarkSelectVk times token selection over a Gemma 3 vocabulary row on
// the GPU (timestamps around 100 back-to-back replays), against the same
// shaders run as one workgroup over the whole row.
func BenchmarkSelectVk(b *testing.B) {
	d := vktest.Device(b)
	const V, reps = 262144, 100
	c := d.Caps()
	oneGroup := func(ds []gpu.Dispatch) []gpu.Dispatch {
		w := ds[0]
		w.Push = slices.Clone(w.Push)
		binary.LittleEndian.PutUint32(w.Push[4:], V) // per = V: G = 1
		w.Spec = []uint32{rowWorkgroup(c, V)}
		w.Groups = [3]uint32{1, 1, 1}
		return []gpu.Dispatch{w}
	}
	sampleDs := func(k int) []gpu.Dispatch {
		ds, err := SampleVk(c, V, SampleParams{Temperature: 1, TopK: k, TopP: 0.95}, SampleOut{Ring: 8, Advance: true})
		if err != nil {
			b.Fatal(err)
		}
		return ds
	}
	argmax := ArgmaxVk(c, V, 0)
	for _, bc := range []struct {
		name string
		ds   []gpu.Dispatch
	}{
		{"argmax/two-pass", argmax},
		{"argmax/one-group", oneGroup(argmax)},
		{"sample/greedy", func() []gpu.Dispatch {
			ds, _ := SampleVk(c, V, SampleParams{}, SampleOut{})
			return ds
		}()},
		{"sample/k=40", sampleDs(40)},
		{"sample/k=64", sampleDs(64)},
		{"sample/k=64/one-group", oneGroup(sampleDs(64))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			x := sampleLogits(r, V, "dominant")
			bufs := [][]byte{vktest.F32Bytes(x), make([]byte, max(ArgmaxScratchBytes(V), SampleScratchBytes(V))),
				make([]byte, 64), make([]byte, 64)}
			if bc.ds[0].Shader == "argmax_partial" {
				bufs = append(bufs[:2], bufs[3])
			}
			views := make([]gpu.Buffer, len(bufs))
			for i, data := range bufs {
				buf, err := d.Alloc(uint64(len(data)), gpu.DeviceLocal)
				if err != nil {
					b.Fatal(err)
				}
				defer d.Free(buf)
				if err := d.Upload(buf, data); err != nil {
					b.Fatal(err)
				}
				views[i] = buf
			}
			rec, err := d.NewRecorder(gpu.RecordOptions{Timestamps: 2})
			if err != nil {
				b.Fatal(err)
			}
			bound := make([]*gpu.Bound, len(bc.ds))
			for i, ds := range bc.ds {
				if bound[i], err = d.Bind(ds, views...); err != nil {
					b.Fatal(err)
				}
				defer bound[i].Close()
			}
			rec.WriteTimestamp("start")
			for range reps {
				for _, bd := range bound {
					rec.Dispatch(bd)
					rec.Barrier()
				}
			}
			rec.WriteTimestamp("end")
			run, err := rec.End()
			if err != nil {
				b.Fatal(err)
			}
			defer run.Close()
			var gpuNs float64
			for b.Loop() {
				if err := run.Run(); err != nil {
					b.Fatal(err)
				}
				ts, err := run.Timestamps()
				if err != nil || len(ts) != 2 {
					b.Fatalf("timestamps: %v %v", ts, err)
				}
				gpuNs += ts[1].Nanos / reps
			}
			b.ReportMetric(gpuNs/float64(b.N), "gpu-ns/op")
		})
	}
}

// explainMismatch accepts a different pick only near a boundary.
func TestExplainMismatch(t *testing.T) {
	x := logs(0.5, 0.3, 0.2) // boundaries at u = 0.5 and 0.8
	p := SampleParams{Temperature: 1, TopK: 3}
	for _, c := range []struct {
		u      float32
		got    int
		accept bool
	}{
		{0.5, 1, true}, {0.500001, 0, true}, {0.8, 2, true}, {0.3, 1, false}, {0.6, 2, false}, {0.5, 7, false},
	} {
		why := explainMismatch(sampleTopK(x, p, c.u), p, c.u, c.got)
		if (why != "") != c.accept {
			t.Errorf("u=%g, got %d: explanation %q, want accepted %v", c.u, c.got, why, c.accept)
		}
	}
}
