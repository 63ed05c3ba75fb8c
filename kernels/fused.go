package kernels

import (
	"gemmavk/gpu"
	"gemmavk/kernels/quant"
)

// Fused kernels of the Gemma 3 decode step. Each CPU reference calls the
// unfused functions it replaces, so it equals the unfused CPU path bit for
// bit; the GPU lowering does the same work in one dispatch.

// MatVecGelu is the gated MLP product of one token (GEMMA3.md §1.3):
//
//	y[r] = gelu(Wg[r] · x) * (Wu[r] · x)
//
// for rows r in [r0, r1), Wg and Wu [rows, cols] of the same shape. It is
// MatMul with T = 1 for the gate (into y) and the up projection (into
// scratch, len >= r1-r0), then GeluMul, so it equals that unfused path
// bit for bit. y must not overlap x.
func MatVecGelu(y, x []float32, wg, wu *Weight, scratch []float32, r0, r1 int) {
	if r1 <= r0 {
		return
	}
	MatMul(y, x, wg, 1, nil, r0, r1)
	// The rows [r0, r1) of Wu as a weight of their own, so that its
	// products land in scratch[0 : r1-r0].
	rb := wu.RowBytes()
	part := &Weight{Name: wu.Name, Type: wu.Type, Rows: r1 - r0, Cols: wu.Cols, Data: wu.Data[r0*rb : r1*rb]}
	up := scratch[:r1-r0]
	MatMul(up, x, part, 1, nil, 0, r1-r0)
	GeluMul(y[r0:r1], y[r0:r1], up, 0, r1-r0)
}

// MatVecGeluVk lowers MatVecGelu for all rows on the GPU, both weights in
// their device layout (same type t and shape).
// Bindings: 0 Wg uint words: its DeviceData (start 4-byte
// aligned); 1 Wu uint words, as Wg; 2 x f32 [cols]; 3 y f32 [rows].
//
// It is matvec.comp's GELU variant: the layout of MatVecVk, each lane's x
// values loaded once and used for the units of both weights, one subgroup
// sum per weight and row, and gelu(gate) * up written (the gelu of
// GeluMulVk). It fails as MatVecVk does.
func MatVecGeluVk(c gpu.Caps, t quant.Type, rows, cols int) (gpu.Dispatch, error) {
	name, err := vkWeight("matvec_gelu", t, rows, cols)
	if err != nil {
		return gpu.Dispatch{}, err
	}
	// One row per subgroup: each x load already serves two weight rows.
	unroll := 1
	if units := cols / vkUnitElems(t); units >= 2*subgroupSize(c) {
		unroll = 2
	}
	return matVecDispatch(c, "gelu_"+name, rows, cols, matVecLayout{subgroups: 4, rowsPer: 1, unroll: unroll}), nil
}

// AddRMSNorm is the residual add after a post-norm and the next pre-norm,
// per row of n = len(g1) values (Gemma 3 layer seams, GEMMA3.md §1.2):
//
//	xnew[r] = x[r] + RMSNorm(o[r]) · g1
//	f[r]    = RMSNorm(xnew[r]) · g2
//
// for rows [r0, r1) of [rows, n] arrays. It is RMSNorm into a temporary
// (f's row, or a fresh one when f is nil), Add, then RMSNorm, so it equals
// that unfused path bit for bit. f == nil skips the second norm (g2 is
// then unused). xnew may alias x or o; f must not overlap o, x or xnew.
func AddRMSNorm(xnew, f, o, x, g1, g2 []float32, eps float32, r0, r1 int) {
	n := len(g1)
	var tmp []float32
	if f == nil {
		tmp = make([]float32, n)
	}
	for r := r0; r < r1; r++ {
		lo, hi := r*n, (r+1)*n
		t := tmp
		if f != nil {
			t = f[lo:hi]
		}
		RMSNorm(t, o[lo:hi], g1, eps, 0, 1)
		Add(xnew[lo:hi], x[lo:hi], t, 0, n)
		if f != nil {
			RMSNorm(f[lo:hi], xnew[lo:hi], g2, eps, 0, 1)
		}
	}
}

// AddRMSNormVk lowers AddRMSNorm over rows of n values on the GPU, one
// workgroup per row; with second false f is not computed.
// Bindings: 0 o f32 [rows, n]; 1 x f32 [rows, n]; 2 g1 f32 [n]; 3 g2 f32
// [n]; 4 xnew f32 [rows, n]; 5 f f32 [rows, n]. All six are bound either
// way (one shader, second is a specialization constant); with second false
// bindings 3 and 5 are not accessed and may hold any buffers, such as g1
// and xnew again. xnew may be the same buffer as x (each element is read
// and written by one invocation, x before xnew).
func AddRMSNormVk(c gpu.Caps, rows, n int, eps float32, second bool) gpu.Dispatch {
	s := uint32(0)
	if second {
		s = 1
	}
	return gpu.Dispatch{
		Shader: "addnorm_f32",
		Spec:   []uint32{wideRowWorkgroup(c, rows, n), s},
		Push:   gpu.Push(uint32(rows), uint32(n), gpu.F32(eps)),
		Groups: rowGroups(rows),
	}
}

// AddRMSNormHalfVk is AddRMSNormVk with the second norm, storing f in f16
// for a product on cooperative matrices that reads it (MatMulCoopPartVk
// with halfX): binding 5 f is [rows, n/2] uint words, each a pair of
// halves (low first) clamped to the f16 range. n must be even.
func AddRMSNormHalfVk(c gpu.Caps, rows, n int, eps float32) (gpu.Dispatch, error) {
	if err := halfPairs("addnorm", n); err != nil {
		return gpu.Dispatch{}, err
	}
	ds := AddRMSNormVk(c, rows, n, eps, true)
	ds.Shader = "addnorm_f32_h"
	return ds, nil
}
