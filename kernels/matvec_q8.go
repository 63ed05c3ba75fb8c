package kernels

import (
	"fmt"
	"math"
	"strings"

	"gemmavk/gpu"
	"gemmavk/kernels/quant"
)

// Decode-step matrix-vector products with 8-bit activations
// (shaders/matvec_q8.comp): each workgroup quantizes x in blocks of 32 to
// int8 with one f32 scale per block, and the weight's quants meet it in
// integer dot products. It is the way quantized weights get near the
// memory's speed; the price is the activation rounding that QuantizeQ8
// states, the same llama.cpp's GPU backends pay.

// q8Types are the weight types matvec_q8 decodes, with their units per
// block.
var q8Types = map[quant.Type]int{quant.Q4_0: 1, quant.Q5_0: 1, quant.Q8_0: 1, quant.Q4_K: 4, quant.Q6_K: 4}

// QuantizeQ8 returns x as matvec_q8 sees it: in each block of 32 values
// with largest magnitude a, the value s·q with s = a/127 and q = x·(127/a)
// rounded to the nearest integer, ties to even (zero when a is 0). len(x)
// must be a multiple of 32.
func QuantizeQ8(x []float32) []float32 {
	out := make([]float32, len(x))
	for b := 0; b+32 <= len(x); b += 32 {
		var amax float32
		for _, v := range x[b : b+32] {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		var id float32
		if amax > 0 {
			id = 127 / amax
		}
		s := amax / 127
		for i, v := range x[b : b+32] {
			out[b+i] = s * float32(math.RoundToEven(float64(v*id)))
		}
	}
	return out
}

// MatVecQ8Supported reports whether the device runs matvec_q8 for a weight
// of type t with cols columns: the type has a decoder, the device has
// integer dot products and subgroup shuffles, and x fits shared
// memory.
func MatVecQ8Supported(c gpu.Caps, t quant.Type, cols int) bool {
	_, ok := q8Types[t]
	return ok && c.IntegerDot && c.SubgroupArithmetic && c.SubgroupShuffle &&
		subgroupSize(c) >= 8 && cols > 0 && cols%t.BlockElems() == 0 &&
		q8SharedBytes(cols) <= int(c.MaxSharedMemory)
}

// q8SharedBytes is matvec_q8's shared memory for cols columns: a byte per
// value and 8 bytes per block of 32.
func q8SharedBytes(cols int) int { return cols + cols/32*8 }

// MatVecQ8Vk lowers MatMul with T = 1 on the GPU with 8-bit activations:
// y = W · QuantizeQ8(x), weight rows in their device layout.
// Bindings: 0 W uint words: its DeviceData (start 4-byte aligned, 16-byte
// for Q4_0, Q4_K and Q6_K, whose pieces load as uvec4s); 1 x f32 [cols];
// 2 y f32 [rows].
//
// A team of lanes (a subgroup, fewer for rows of few blocks) takes a row;
// a workgroup takes 8 rows, 16 from 4096 rows, 32 from 8192, 64 from
// 65536. It fails where MatVecQ8Supported is false and as MatVecVk does.
func MatVecQ8Vk(c gpu.Caps, t quant.Type, rows, cols int) (gpu.Dispatch, error) {
	return matVecQ8("matvec_q8_", MatVecQ8Supported, c, t, rows, cols)
}

// MatVecGeluQ8Vk lowers MatVecGelu on the GPU with 8-bit activations:
// y[r] = gelu(Wg[r] · x~) * (Wu[r] · x~), x~ = QuantizeQ8(x).
// Bindings: 0 Wg uint words; 1 Wu uint words (as Wg); 2 x f32 [cols];
// 3 y f32 [rows]. It fails as MatVecQ8Vk does.
func MatVecGeluQ8Vk(c gpu.Caps, t quant.Type, rows, cols int) (gpu.Dispatch, error) {
	return matVecQ8("matvec_q8_gelu_", MatVecQ8Supported, c, t, rows, cols)
}

// MatVecQ8NormSupported reports whether the NORM variants run for a weight
// of type t with cols columns: MatVecQ8Supported, with room in shared
// memory for the residual sum as well.
func MatVecQ8NormSupported(c gpu.Caps, t quant.Type, cols int) bool {
	return MatVecQ8Supported(c, t, cols) && cols%4 == 0 &&
		q8SharedBytes(cols)+4*cols+256 <= int(c.MaxSharedMemory)
}

// MatVecQ8NormVk lowers the product of a layer seam's normalized sum with a
// weight, AddRMSNorm and the product in one dispatch:
//
//	xnew = x + RMSNorm(o)·g1,  y = W · QuantizeQ8(RMSNorm(xnew)·g2)
//
// with xnew written when write is set (one of the products reading the
// same seam writes it). Bindings: 0 W; 1 o f32 [cols]; 2 y f32 [rows];
// 3 x f32 [cols]; 4 g1, 5 g2 f32 [cols]; 6 xnew f32 [cols]. It fails
// where MatVecQ8NormSupported is false.
func MatVecQ8NormVk(c gpu.Caps, t quant.Type, rows, cols int, eps float32, write bool) (gpu.Dispatch, error) {
	return matVecQ8Norm("matvec_q8_norm_", c, t, rows, cols, eps, write, 1)
}

// MatVecGeluQ8NormVk is MatVecQ8NormVk for the gated MLP product:
// y[r] = gelu(Wg[r] · x~) * (Wu[r] · x~). Bindings: 0 Wg; 1 Wu; 2 o; 3 y;
// 4 x; 5 g1; 6 g2; 7 xnew.
func MatVecGeluQ8NormVk(c gpu.Caps, t quant.Type, rows, cols int, eps float32, write bool) (gpu.Dispatch, error) {
	return matVecQ8Norm("matvec_q8_norm_gelu_", c, t, rows, cols, eps, write, 1)
}

// matVecQ8Norm lays out a NORM variant, as matVecQ8Rows does, with its
// push constants.
func matVecQ8Norm(prefix string, c gpu.Caps, t quant.Type, rows, cols int, eps float32, write bool, minRows int) (gpu.Dispatch, error) {
	ds, err := matVecQ8Rows(prefix, MatVecQ8NormSupported, c, t, rows, cols, minRows)
	if err != nil {
		return gpu.Dispatch{}, err
	}
	ds.Push = gpu.Push(uint32(rows), uint32(cols), gpu.F32(eps), b2u(write))
	return ds, nil
}

// Q8ActBytes is the size of a q8 activation of n values (n a multiple of
// 32): the int8 values, then 8 bytes per block of 32 (its scale and the
// sums of its halves). MatVecGeluQ8OutVk writes one, MatVecQ8InVk reads it.
func Q8ActBytes(n int) int { return n + n/32*8 }

// MatVecGeluQ8OutVk is MatVecGeluQ8Vk writing y as a q8 activation
// (Q8ActBytes(rows) bytes at binding 3): y quantized as QuantizeQ8 would,
// for a product that reads it with MatVecQ8InVk. It needs rows a multiple
// of 32; a workgroup takes 32 rows or more (whole blocks).
func MatVecGeluQ8OutVk(c gpu.Caps, t quant.Type, rows, cols int) (gpu.Dispatch, error) {
	return matVecQ8Rows("matvec_q8_gelu_q8out_", MatVecQ8Supported, c, t, rows, cols, 32)
}

// MatVecGeluQ8NormOutVk is MatVecGeluQ8NormVk writing y as a q8 activation,
// as MatVecGeluQ8OutVk does (binding 3).
func MatVecGeluQ8NormOutVk(c gpu.Caps, t quant.Type, rows, cols int, eps float32, write bool) (gpu.Dispatch, error) {
	return matVecQ8Norm("matvec_q8_norm_gelu_q8out_", c, t, rows, cols, eps, write, 32)
}

// MatVecQ8InVk is MatVecQ8Vk with x (binding 1) a q8 activation of cols
// values (Q8ActBytes(cols) bytes), which it copies instead of quantizing.
func MatVecQ8InVk(c gpu.Caps, t quant.Type, rows, cols int) (gpu.Dispatch, error) {
	return matVecQ8("matvec_q8_q8in_", MatVecQ8Supported, c, t, rows, cols)
}

// matVecQ8 lays out the variant prefix+type for the weight, where supported
// says the variant runs on the device.
func matVecQ8(prefix string, supported func(gpu.Caps, quant.Type, int) bool, c gpu.Caps, t quant.Type, rows, cols int) (gpu.Dispatch, error) {
	return matVecQ8Rows(prefix, supported, c, t, rows, cols, 1)
}

// matVecQ8Rows is matVecQ8 with workgroups of a multiple of minRows rows,
// for variants that need whole groups of minRows (rows must be a multiple
// of it too).
func matVecQ8Rows(prefix string, supported func(gpu.Caps, quant.Type, int) bool, c gpu.Caps, t quant.Type, rows, cols, minRows int) (gpu.Dispatch, error) {
	op := strings.TrimSuffix(prefix, "_")
	if rows%minRows != 0 {
		return gpu.Dispatch{}, fmt.Errorf("kernels: %s: %d rows, not a multiple of %d", op, rows, minRows)
	}
	name, err := vkWeight(op, t, rows, cols)
	if err != nil {
		return gpu.Dispatch{}, err
	}
	if !supported(c, t, cols) {
		return gpu.Dispatch{}, fmt.Errorf("kernels: %s: %s weight with %d columns on this device: %w", op, t, cols, ErrNoGPUDecoder)
	}
	sg := subgroupSize(c)
	units := cols / t.BlockElems() * q8Types[t]
	// Teams as wide as the subgroup (at most 32 lanes, at most one lane
	// per unit of the row): on the H100 they beat 4-, 8- and 16-lane teams
	// at every 4B decode shape of Q4_K (BenchmarkMatVecQ8Layouts).
	team := 2
	for team < 32 && team < sg && team*2 <= units {
		team *= 2
	}
	// Rows per workgroup: more for tall weights, whose workgroups would
	// otherwise each quantize x again for few rows (an lm head of 262144
	// rows: 64 a workgroup took 4B decode from 297.8 to 300.7 t/s on the
	// H100; the 4B gate/up's 10240 rows: 32 rather than 16 took it from
	// 365.0 to 374.5 t/s, Q4_0 from 431.5 to 438.2, while the 1B's 6912
	// rows were best left at 16).
	wgRows := 8
	switch {
	case rows >= 65536:
		wgRows = 64
	case rows >= 8192:
		wgRows = 32
	case rows >= 4096:
		wgRows = 16
	}
	wgRows = (wgRows + minRows - 1) / minRows * minRows
	threads := min(max(wgRows*team, sg), 256)
	if lim := int(c.MaxWorkgroupInvocations); lim > 0 && threads > lim {
		threads = lim / sg * sg
	}
	return gpu.Dispatch{
		Shader: prefix + name,
		Spec:   []uint32{uint32(threads), uint32(team), uint32(wgRows), uint32(cols)},
		Push:   gpu.Push(uint32(rows), uint32(cols)),
		Groups: rowGroups(int(ceilDiv(rows, wgRows))),
	}, nil
}
