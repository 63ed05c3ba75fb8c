package kernels

import (
	"fmt"

	"gemmavk/gpu"
	"gemmavk/kernels/quant"
)

// Tile of the cooperative-matrix GEMM (shaders/matmul_coopmat.comp).
const (
	coopTileM = 64 // tokens per workgroup
	coopTileN = 64 // weight rows per workgroup
)

// MatMulCoopVk lowers MatMul for T tokens onto cooperative matrices (tensor
// cores), where the device has VK_KHR_cooperative_matrix with 16x16x16
// f16 tiles: x is rounded to f16 as it is staged, products accumulate in
// f32. Weights must be F16.
// Bindings: 0 W f16 [rows, cols] (packed halves); 1 x f32 [T, cols]; 2 y f32 [T, rows].
func MatMulCoopVk(c gpu.Caps, t quant.Type, T, rows, cols int) (gpu.Dispatch, error) {
	if !c.CoopMat {
		return gpu.Dispatch{}, fmt.Errorf("kernels: matmul: the device has no cooperative matrices")
	}
	if t != quant.F16 {
		return gpu.Dispatch{}, fmt.Errorf("kernels: matmul on cooperative matrices: %v weights are not supported (F16 only)", t)
	}
	wg := 4 * c.SubgroupSize // four subgroups, each owning a quarter of the tile
	if wg == 0 || wg > c.MaxWorkgroupInvocations {
		return gpu.Dispatch{}, fmt.Errorf("kernels: matmul: a workgroup of 4 subgroups of %d exceeds the device", c.SubgroupSize)
	}
	if ceilDiv(T, coopTileM) > maxGroups {
		return gpu.Dispatch{}, fmt.Errorf("kernels: matmul: %d tokens exceed one dispatch", T)
	}
	return gpu.Dispatch{
		Shader: "matmul_coopmat_f16",
		Spec:   []uint32{wg},
		Push:   gpu.Push(uint32(T), uint32(rows), uint32(cols)),
		Groups: [3]uint32{ceilDiv(rows, coopTileN), ceilDiv(T, coopTileM), 1},
	}, nil
}
