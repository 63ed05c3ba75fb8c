package kernels

import "gemmavk/gpu"

// maxGroups is the smallest maxComputeWorkGroupCount[0] Vulkan allows.
const maxGroups = 65535

// rowGroups spreads one workgroup per row over x and y, for kernels that
// compute row = group.y * groups.x + group.x and return past the last row.
func rowGroups(rows int) [3]uint32 {
	x := min(rows, maxGroups)
	if x == 0 {
		return [3]uint32{0, 1, 1}
	}
	return [3]uint32{uint32(x), uint32((rows + x - 1) / x), 1}
}

// ceilDiv is the number of groups of size per that cover n.
func ceilDiv(n, per int) uint32 { return uint32((n + per - 1) / per) }

// rowWorkgroup is the workgroup size of row-wise kernels: large enough to
// stream wide rows, no wider than a short row needs (rounded up to the
// subgroup), and within the device's limit.
func rowWorkgroup(c gpu.Caps, n int) uint32 {
	sg := max(int(c.SubgroupSize), 1)
	wg := min(256, (n+sg-1)/sg*sg)
	wg = max(wg, sg)
	if lim := int(c.MaxWorkgroupInvocations); lim > 0 && wg > lim {
		wg = lim
	}
	// Only a few distinct sizes, so that few pipelines are made.
	for _, s := range []int{32, 64, 128, 256} {
		if wg <= s && s >= sg {
			return uint32(s)
		}
	}
	return uint32(wg)
}

// wideRowWorkgroup is the workgroup size for a row-wise kernel over few
// rows (a decode step's single token): as wide as the row can use, up to
// 1024 invocations, so that each does little serial work; the reductions
// of reduce.glsl hold 64 subgroups. Many rows keep rowWorkgroup's size.
func wideRowWorkgroup(c gpu.Caps, rows, n int) uint32 {
	wg := rowWorkgroup(c, n)
	if rows > 4 {
		return wg
	}
	sg := max(int(c.SubgroupSize), 1)
	lim := min(1024, 64*sg)
	if m := int(c.MaxWorkgroupInvocations); m > 0 {
		lim = min(lim, m)
	}
	for w := int(wg); 2*w <= lim && 2*w*4 <= n; w *= 2 {
		wg = uint32(2 * w)
	}
	return wg
}
