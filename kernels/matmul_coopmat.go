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
)

// CoopMatMulSupported reports whether MatMulCoopVk lowers products with t
// weights of cols columns on the device with capabilities c.
func CoopMatMulSupported(c gpu.Caps, t quant.Type, cols int) bool {
	_, err := coopWeight(c, t, 1, 1, cols, 1)
	return err == nil && c.SubgroupSize != 0
}

// coopWeight checks a product of T tokens with a rows × cols weight of
// type t, writing rows of stride ldy, against matmul_coop's needs, and
// returns the type's shader suffix.
func coopWeight(c gpu.Caps, t quant.Type, T, rows, cols, ldy int) (string, error) {
	if !c.CoopMat {
		return "", fmt.Errorf("kernels: matmul: the device has no cooperative matrices")
	}
	if ldy < rows {
		return "", fmt.Errorf("kernels: matmul: output stride %d below %d rows", ldy, rows)
	}
	if T <= 0 {
		return "", fmt.Errorf("kernels: matmul: T = %d not positive", T)
	}
	name, err := vkWeight("matmul", t, rows, cols)
	if err != nil {
		return "", err
	}
	if cols%coopBlock(t) != 0 {
		return "", fmt.Errorf("kernels: matmul on cooperative matrices: %d columns are not a multiple of %d", cols, coopBlock(t))
	}
	return name, nil
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
// Bindings: 0 W uint words: its DeviceData; 1 x f32 [T, cols];
// 2 y f32 [T, rows].
func MatMulCoopVk(c gpu.Caps, t quant.Type, T, rows, cols int) (gpu.Dispatch, error) {
	return MatMulCoopPartVk(c, t, T, rows, cols, rows, false)
}

// MatMulCoopPartVk is MatMulCoopVk writing y with a row stride of ldy >=
// rows (a part of a weight too large for one binding; see MatMulPartVk).
// With halfX, x is f16 (matmul_coop_xh_<type>): binding 1 holds pairs of
// halves packed in uint words [T, cols/2], low half first, as the _h
// producers (RMSNormHalfVk, AddRMSNormHalfVk, GeluMulHalfVk) store it;
// the results are those of f32 x rounded so.
func MatMulCoopPartVk(c gpu.Caps, t quant.Type, T, rows, cols, ldy int, halfX bool) (gpu.Dispatch, error) {
	name, err := coopName(c, t, T, rows, cols, ldy, halfX)
	if err != nil {
		return gpu.Dispatch{}, err
	}
	st, sr := coopTile(T)
	return matMulCoopTile(c, name, T, rows, cols, ldy, st, sr, 1, 0)
}

// coopName is coopWeight's type suffix with the f16-x prefix when halfX.
func coopName(c gpu.Caps, t quant.Type, T, rows, cols, ldy int, halfX bool) (string, error) {
	name, err := coopWeight(c, t, T, rows, cols, ldy)
	if err != nil || !halfX {
		return name, err
	}
	if t == quant.F32 {
		return "", fmt.Errorf("kernels: matmul: no f16-x product for F32 weights")
	}
	if cols%8 != 0 {
		return "", fmt.Errorf("kernels: matmul: f16 x of %d columns, not a multiple of 8", cols)
	}
	return "xh_" + name, nil
}

// CoopMatMulSplits returns how many runs of K MatMulCoopSplitVk should cut
// a product of T tokens with a rows × cols weight into; 1 means
// MatMulCoopVk. Long products whose tiles make too few workgroups to fill
// a large GPU (under 100, the H100 has 132 SMs) are cut into up to four
// runs, aiming at about 240 workgroups and keeping at least 8 slices of 64
// columns in a run: the 4B model's o and down products and the 1B model's
// down product at T = 512 (80 and 72 workgroups). Products with fewer than
// 2048 columns, or fewer than 2048 rows and 4096 columns, are left whole:
// they are the small q/k/v products, which share a level and fill the GPU
// together (splitting the 4B model's k and v as well cost 0.5% at pp512
// on the H100, splitting the 1B model's down gained 7.7%).
func CoopMatMulSplits(T, rows, cols int) int {
	st, sr := coopTile(T)
	groups := int(ceilDiv(T, st*coopSubgroupTokens) * ceilDiv(rows, sr*coopSubgroupRows))
	if groups >= 100 || cols < 2048 || (rows < 2048 && cols < 4096) {
		return 1
	}
	return max(1, min(int(ceilDiv(240, groups)), cols/64/8, 4))
}

// MatMulCoopSplitScratch is the size in bytes of MatMulCoopSplitVk's
// scratch: kparts partial results [T, rows] in f32.
func MatMulCoopSplitScratch(T, rows, kparts int) int { return 4 * kparts * T * rows }

// MatMulCoopSplitVk lowers MatMulCoopPartVk's product as kparts runs of K
// (CoopMatMulSplits) and their sum, for long products whose tiles alone
// would leave the GPU short of workgroups. Record a barrier between the
// two dispatches. The runs' partial sums are added in a fixed order, so
// results do not depend on scheduling (they differ from the unsplit
// product's by the order of the f32 sums).
//
// Pass 1 (matmul_coop_<type>, or matmul_coop_xh_<type> with halfX as in
// MatMulCoopPartVk): bindings 0 W, 1 x [T, cols], 2 the scratch f32
// [kparts, T, rows] (MatMulCoopSplitScratch bytes).
// Pass 2 (matmul_sum): bindings 0 the scratch, 1 y f32 [T, ldy]; push T,
// rows, ldy, kparts; spec workgroup size.
func MatMulCoopSplitVk(c gpu.Caps, t quant.Type, T, rows, cols, ldy, kparts int, halfX bool) ([]gpu.Dispatch, error) {
	if kparts < 1 || kparts > cols/64+1 {
		return nil, fmt.Errorf("kernels: matmul: %d runs of %d columns", kparts, cols)
	}
	name, err := coopName(c, t, T, rows, cols, ldy, halfX)
	if err != nil {
		return nil, err
	}
	st, sr := coopTile(T)
	pass1, err := matMulCoopTile(c, name, T, rows, cols, rows, st, sr, kparts, T*rows)
	if err != nil {
		return nil, err
	}
	wg := rowWorkgroup(c, 256)
	g := rowGroups(int(ceilDiv(T*rows, int(wg))))
	pass2 := gpu.Dispatch{
		Shader: "matmul_sum",
		Spec:   []uint32{wg},
		Push:   gpu.Push(uint32(T), uint32(rows), uint32(ldy), uint32(kparts)),
		Groups: g,
	}
	return []gpu.Dispatch{pass1, pass2}, nil
}

// coopTile picks the workgroup's subgroups along the tokens (st, no more
// than T fills) and the weight rows (sr, always 2: the 128-row tile halves
// the reads of x per product). Products whose tiles leave the GPU short of
// workgroups are cut into runs of K instead (CoopMatMulSplits): on the H100
// that beat falling back to 64-row tiles at 4B and 1B pp512 by 2.5% and 4%.
func coopTile(T int) (st, sr int) {
	return min(4, int(ceilDiv(T, coopSubgroupTokens))), 2
}

// matMulCoopTile is the dispatch of matmul_coop_<name> with st × sr
// subgroups per workgroup.
func matMulCoopTile(c gpu.Caps, name string, T, rows, cols, ldy, st, sr, kparts, pstride int) (gpu.Dispatch, error) {
	wg := st * sr * int(c.SubgroupSize)
	if c.SubgroupSize == 0 || wg > int(c.MaxWorkgroupInvocations) {
		return gpu.Dispatch{}, fmt.Errorf("kernels: matmul: a workgroup of %d subgroups of %d exceeds the device", st*sr, c.SubgroupSize)
	}
	// Two f16 tiles of 72 halves a row, and 256 floats of staging a subgroup.
	shared := 144*(st*coopSubgroupTokens+sr*coopSubgroupRows) + 1024*st*sr
	if c.MaxSharedMemory > 0 && shared > int(c.MaxSharedMemory) {
		return gpu.Dispatch{}, fmt.Errorf("kernels: matmul: %d bytes of shared memory, device has %d", shared, c.MaxSharedMemory)
	}
	tiles := int(ceilDiv(T, st*coopSubgroupTokens)) * kparts
	if tiles > maxGroups {
		return gpu.Dispatch{}, fmt.Errorf("kernels: matmul: T = %d needs %d token tiles, over %d", T, tiles, maxGroups)
	}
	g := rowGroups(int(ceilDiv(rows, sr*coopSubgroupRows)))
	return gpu.Dispatch{
		Shader: "matmul_coop_" + name,
		Spec:   []uint32{uint32(wg), uint32(st), uint32(sr)},
		Push:   gpu.Push(uint32(T), uint32(rows), uint32(cols), uint32(ldy), uint32(kparts), uint32(pstride)),
		Groups: [3]uint32{g[0], uint32(tiles), g[1]},
	}, nil
}
