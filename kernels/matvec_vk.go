package kernels

import (
	"errors"
	"fmt"
	"strings"

	"gemmavk/gpu"
	"gemmavk/kernels/quant"
)

// The GPU lowerings of MatMul: matvec_<type> for one input row (decode),
// matmul_<type> for T rows (prefill). The weight is bound in its file
// encoding as 32-bit words; shaders/include/quant.glsl decodes it.

// ErrNoGPUDecoder is wrapped by the lowerings' errors for weight types the
// shaders do not decode (the CPU executor may still run them).
var ErrNoGPUDecoder = errors.New("no GPU decoder")

// vkTypes are the weight types the matrix and embedding shaders decode.
var vkTypes = map[quant.Type]bool{
	quant.F32: true, quant.F16: true, quant.BF16: true,
	quant.Q4_0: true, quant.Q4_1: true, quant.Q5_0: true, quant.Q5_1: true, quant.Q8_0: true,
	quant.Q2_K: true, quant.Q3_K: true, quant.Q4_K: true, quant.Q5_K: true, quant.Q6_K: true,
}

// vkUnitElems is the number of elements one shader unit of t decodes
// (quant.glsl: 4·QV): a lane's share of a block in matvec.
func vkUnitElems(t quant.Type) int {
	switch t {
	case quant.F32:
		return 4
	case quant.F16, quant.BF16:
		return 8
	case quant.Q4_0, quant.Q4_1, quant.Q5_0, quant.Q5_1, quant.Q8_0:
		return 16
	}
	return 32 // K-quants
}

// vkWeight checks a [rows, cols] weight of type t for the shaders and
// returns the variant suffix ("q4_k").
func vkWeight(op string, t quant.Type, rows, cols int) (string, error) {
	if !vkTypes[t] {
		return "", fmt.Errorf("kernels: %s: weight type %s: %w", op, t, ErrNoGPUDecoder)
	}
	if rows <= 0 || cols <= 0 {
		return "", fmt.Errorf("kernels: %s: weight shape [%d, %d] not positive", op, rows, cols)
	}
	rb, err := quant.RowBytes(t, cols)
	if err != nil {
		return "", fmt.Errorf("kernels: %s: %w", op, err)
	}
	// Byte offsets are 32-bit in the shaders (one binding sees at most 4 GiB).
	if int64(rb)*int64(rows) > 1<<32-1 {
		return "", fmt.Errorf("kernels: %s: [%d, %d] %s weight is over 4 GiB", op, rows, cols, t)
	}
	return strings.ToLower(t.String()), nil
}

// subgroupSize is the device's subgroup size, 32 when unknown.
func subgroupSize(c gpu.Caps) int {
	if c.SubgroupSize == 0 {
		return 32
	}
	return int(c.SubgroupSize)
}

// MatVecVk lowers MatMul with T = 1 (y[r] = sum_c W[r][c] * x[c]) on the
// GPU, weight rows in their device layout.
// Bindings: 0 W uint words: its DeviceData (start 4-byte
// aligned); 1 x f32 [cols]; 2 y f32 [rows].
//
// One subgroup computes a set of rows (two for tall matrices, so that each
// x value loaded serves both; one otherwise, for more subgroups in
// flight), its lanes reading consecutive words of the rows' blocks; four
// subgroups make a workgroup. It fails for types without a GPU decoder,
// cols not a multiple of t's block size, and weights over 4 GiB.
func MatVecVk(c gpu.Caps, t quant.Type, rows, cols int) (gpu.Dispatch, error) {
	name, err := vkWeight("matvec", t, rows, cols)
	if err != nil {
		return gpu.Dispatch{}, err
	}
	rowsPer := 1
	if rows >= 8192 {
		rowsPer = 2
	}
	// A lane takes two units per step (more loads in flight) when the row
	// has enough units for every lane to get both.
	unroll := 1
	if units := cols / vkUnitElems(t); units >= 2*subgroupSize(c) {
		unroll = 2
	}
	return matVecDispatch(c, name, rows, cols, matVecLayout{subgroups: 4, rowsPer: rowsPer, unroll: unroll}), nil
}

// matVecLayout is how matvec.comp spreads rows: subgroups per workgroup,
// rows per subgroup, units per lane per loop step.
type matVecLayout struct{ subgroups, rowsPer, unroll int }

func matVecDispatch(c gpu.Caps, name string, rows, cols int, l matVecLayout) gpu.Dispatch {
	sg := subgroupSize(c)
	perGroup := l.subgroups
	if lim := int(c.MaxWorkgroupInvocations); lim > 0 && perGroup*sg > lim {
		perGroup = max(lim/sg, 1)
	}
	wgRows := perGroup * l.rowsPer
	return gpu.Dispatch{
		Shader: "matvec_" + name,
		Spec:   []uint32{uint32(perGroup * sg), uint32(l.rowsPer), uint32(wgRows), uint32(l.unroll)},
		Push:   gpu.Push(uint32(rows), uint32(cols)),
		Groups: rowGroups(int(ceilDiv(rows, wgRows))),
	}
}

// Tile of matmul.comp: matmulRows weight rows by BN tokens (16 when T is
// small, else 32), along K a slice of 64 columns, 4 × 4 products per
// invocation.
const (
	matmulRows  = 64
	matmulSlice = 64
)

// MatMulVk lowers MatMul (y[t][r] = sum_c W[r][c] * x[t][c]) on the GPU for
// T >= 1 input rows, weight rows in their device layout.
// Bindings: 0 W uint words: its DeviceData (start 4-byte
// aligned); 1 x f32 [T, cols]; 2 y f32 [T, rows].
//
// Each workgroup decodes a 64 × 64 weight tile into shared memory once and
// multiplies it with up to 32 tokens. It fails for types without a GPU
// decoder, cols not a multiple of t's block size, weights over 4 GiB, and
// devices with too little shared memory.
func MatMulVk(c gpu.Caps, t quant.Type, T, rows, cols int) (gpu.Dispatch, error) {
	return MatMulPartVk(c, t, T, rows, cols, rows)
}

// MatMulPartVk is MatMulVk writing y with a row stride of ldy >= rows: W is
// bound to rows [r0, r0+rows) of a weight too large for one binding and y
// from element r0 of the whole [T, ldy] output.
func MatMulPartVk(c gpu.Caps, t quant.Type, T, rows, cols, ldy int) (gpu.Dispatch, error) {
	if ldy < rows {
		return gpu.Dispatch{}, fmt.Errorf("kernels: matmul: output stride %d below %d rows", ldy, rows)
	}
	name, err := vkWeight("matmul", t, rows, cols)
	if err != nil {
		return gpu.Dispatch{}, err
	}
	if T <= 0 {
		return gpu.Dispatch{}, fmt.Errorf("kernels: matmul: T = %d not positive", T)
	}
	bn := 32
	if T <= 16 {
		bn = 16
	}
	wg := matmulRows / 4 * (bn / 4)
	if lim := int(c.MaxWorkgroupInvocations); lim > 0 && wg > lim {
		return gpu.Dispatch{}, fmt.Errorf("kernels: matmul: workgroup of %d invocations, device allows %d", wg, lim)
	}
	if shared := 4 * matmulSlice * (matmulRows + bn + 1); c.MaxSharedMemory > 0 && shared > int(c.MaxSharedMemory) {
		return gpu.Dispatch{}, fmt.Errorf("kernels: matmul: %d bytes of shared memory, device has %d", shared, c.MaxSharedMemory)
	}
	tiles := int(ceilDiv(T, bn))
	if tiles > maxGroups {
		return gpu.Dispatch{}, fmt.Errorf("kernels: matmul: T = %d needs %d token tiles, over %d", T, tiles, maxGroups)
	}
	// Row tiles spread over x and z; token tiles on y.
	g := rowGroups(int(ceilDiv(rows, matmulRows)))
	return gpu.Dispatch{
		Shader: "matmul_" + name,
		Spec:   []uint32{uint32(wg), matmulRows, uint32(bn)},
		Push:   gpu.Push(uint32(T), uint32(rows), uint32(cols), uint32(ldy)),
		Groups: [3]uint32{g[0], uint32(tiles), g[1]},
	}, nil
}
