package kernels

import (
	"fmt"

	"gemmavk/gpu"
	"gemmavk/kernels/quant"
)

// Tile of the cooperative-matrix GEMM (shaders/matmul_coop.comp): each
// subgroup owns 32 tokens by 64 weight rows; a workgroup stacks up to four
// of them along the tokens and two along the rows (coopTile).
const (
	coopSubgroupTokens = 32
	coopSubgroupRows   = 64
	coopFewGroups      = 80
)

// CoopMatMulSupported reports whether MatMulCoopVk lowers products with t
// weights of cols columns on the device with capabilities c.
func CoopMatMulSupported(c gpu.Caps, t quant.Type, cols int) bool {
	if !c.CoopMat || c.SubgroupSize == 0 {
		return false
	}
	_, err := vkWeight("matmul", t, 1, cols)
	return err == nil && cols%coopBlock(t) == 0
}

// coopBlock is the column multiple matmul_coop decodes in whole units:
// the block of a quantized type, one unit (16 bytes) of a plain one
// (quant.glsl).
func coopBlock(t quant.Type) int {
	if t.BlockElems() == 1 {
		return vkUnitElems(t)
	}
	return t.BlockElems()
}

// MatMulCoopVk lowers MatMul for T tokens onto cooperative matrices (tensor
// cores), where the device has VK_KHR_cooperative_matrix with 16x16x16 f16
// tiles: the weight tile is decoded to f16 and x rounded to f16 (clamped to
// its range) as they are staged, products accumulate in f32.
// Bindings: 0 W uint words [rows × RowBytes(t, cols)]; 1 x f32 [T, cols];
// 2 y f32 [T, rows].
func MatMulCoopVk(c gpu.Caps, t quant.Type, T, rows, cols int) (gpu.Dispatch, error) {
	return MatMulCoopPartVk(c, t, T, rows, cols, rows)
}

// MatMulCoopPartVk is MatMulCoopVk writing y with a row stride of ldy >=
// rows (a part of a weight too large for one binding; see MatMulPartVk).
func MatMulCoopPartVk(c gpu.Caps, t quant.Type, T, rows, cols, ldy int) (gpu.Dispatch, error) {
	if !c.CoopMat {
		return gpu.Dispatch{}, fmt.Errorf("kernels: matmul: the device has no cooperative matrices")
	}
	if ldy < rows {
		return gpu.Dispatch{}, fmt.Errorf("kernels: matmul: output stride %d below %d rows", ldy, rows)
	}
	if T <= 0 {
		return gpu.Dispatch{}, fmt.Errorf("kernels: matmul: T = %d not positive", T)
	}
	name, err := vkWeight("matmul", t, rows, cols)
	if err != nil {
		return gpu.Dispatch{}, err
	}
	if cols%coopBlock(t) != 0 {
		return gpu.Dispatch{}, fmt.Errorf("kernels: matmul on cooperative matrices: %d columns are not a multiple of %d", cols, coopBlock(t))
	}
	st, sr := coopTile(T, rows)
	return matMulCoopTile(c, name, T, rows, cols, ldy, st, sr)
}

// coopTile picks the workgroup's subgroups along the tokens (st, no more
// than T fills) and the weight rows (sr). Two along the rows halve the
// reads of x per product and win (by up to 2x on the H100) unless they
// leave fewer than coopFewGroups workgroups, where one does better.
func coopTile(T, rows int) (st, sr int) {
	st = min(4, int(ceilDiv(T, coopSubgroupTokens)))
	sr = 2
	if ceilDiv(T, st*coopSubgroupTokens)*ceilDiv(rows, 2*coopSubgroupRows) < coopFewGroups {
		sr = 1
	}
	return st, sr
}

// matMulCoopTile is the dispatch of matmul_coop_<name> with st × sr
// subgroups per workgroup.
func matMulCoopTile(c gpu.Caps, name string, T, rows, cols, ldy, st, sr int) (gpu.Dispatch, error) {
	wg := st * sr * int(c.SubgroupSize)
	if c.SubgroupSize == 0 || wg > int(c.MaxWorkgroupInvocations) {
		return gpu.Dispatch{}, fmt.Errorf("kernels: matmul: a workgroup of %d subgroups of %d exceeds the device", st*sr, c.SubgroupSize)
	}
	// Two f16 tiles of 72 halves a row, and 256 floats of staging a subgroup.
	shared := 144*(st*coopSubgroupTokens+sr*coopSubgroupRows) + 1024*st*sr
	if c.MaxSharedMemory > 0 && shared > int(c.MaxSharedMemory) {
		return gpu.Dispatch{}, fmt.Errorf("kernels: matmul: %d bytes of shared memory, device has %d", shared, c.MaxSharedMemory)
	}
	tiles := int(ceilDiv(T, st*coopSubgroupTokens))
	if tiles > maxGroups {
		return gpu.Dispatch{}, fmt.Errorf("kernels: matmul: T = %d needs %d token tiles, over %d", T, tiles, maxGroups)
	}
	g := rowGroups(int(ceilDiv(rows, sr*coopSubgroupRows)))
	return gpu.Dispatch{
		Shader: "matmul_coop_" + name,
		Spec:   []uint32{uint32(wg), uint32(st), uint32(sr)},
		Push:   gpu.Push(uint32(T), uint32(rows), uint32(cols), uint32(ldy)),
		Groups: [3]uint32{g[0], uint32(tiles), g[1]},
	}, nil
}
