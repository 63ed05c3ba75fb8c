package gpu

import (
	"fmt"
	"unsafe"

	vk "github.com/goki/vulkan"
)

// Caps is what a device can do, read once when devices are listed. The
// planner picks kernel variants from it.
type Caps struct {
	APIVersion uint32 // packed as VK_MAKE_API_VERSION

	SubgroupSize        uint32 // default subgroup size of compute shaders
	MinSubgroupSize     uint32 // with subgroup size control; else SubgroupSize
	MaxSubgroupSize     uint32
	SubgroupArithmetic  bool // subgroupAdd/Max… in compute shaders
	SubgroupShuffle     bool
	SubgroupSizeControl bool

	Storage16       bool // 16-bit types in storage buffers
	Storage8        bool // 8-bit types in storage buffers
	Float16         bool // float16_t arithmetic
	Int8            bool // int8_t arithmetic
	IntegerDot      bool // VK_KHR_shader_integer_dot_product
	MemoryModel     bool // Vulkan memory model (needed by cooperative matrices)
	CoopMat         bool // VK_KHR_cooperative_matrix with 16x16x16 f16 x f16 -> f32 at subgroup scope
	CoopMat2        bool // VK_NV_cooperative_matrix2
	PushDescriptors bool // VK_KHR_push_descriptor

	MaxSharedMemory         uint32 // bytes per workgroup
	MaxWorkgroupInvocations uint32
	MaxWorkgroupSize        [3]uint32
	MaxWorkgroupCount       [3]uint32
	MaxPushConstants        uint32
	MaxAllocation           uint64 // largest single memory allocation
	MaxStorageRange         uint64 // largest storage-buffer binding
	StorageAlign            uint64 // minStorageBufferOffsetAlignment
	TimestampPeriod         float32
	DeviceLocalBytes        uint64 // size of the largest device-local heap

	coopMat2Bits []uint32 // supported VkPhysicalDeviceCooperativeMatrix2FeaturesNV members
}

// Version returns the API version as "major.minor.patch".
func (c Caps) Version() string {
	v := c.APIVersion
	return fmt.Sprintf("%d.%d.%d", (v>>22)&0x7f, (v>>12)&0x3ff, v&0xfff)
}

// AtLeast reports whether the device's API version is at least major.minor.
func (c Caps) AtLeast(major, minor uint32) bool {
	return c.APIVersion>>12 >= major<<10|minor
}

// Structure types used in the pNext chains below (vulkan_core.h).
const (
	sTypeFeatures2        = 1000059000
	sTypeProperties2      = 1000059001
	sTypeSubgroupProps    = 1000094000
	sTypeMaintenance3     = 1000168000
	sTypeVulkan11Features = 49
	sTypeVulkan12Features = 51
	sTypeVulkan13Features = 53
	sTypeVulkan13Props    = 54
	sTypeCoopMatFeatures  = 1000506000
	sTypeCoopMatProps     = 1000506001
	sTypeCoopMat2Features = 1000593000
	sTypeIntDotFeatures   = 1000280000
)

// Byte offsets of the VkBool32 members we read or enable. Every feature
// structure starts with sType and pNext (16 bytes on 64-bit hosts).
const (
	v11Storage16      = 16 + 4*0  // storageBuffer16BitAccess
	v12Storage8       = 16 + 4*2  // storageBuffer8BitAccess
	v12Float16        = 16 + 4*7  // shaderFloat16
	v12Int8           = 16 + 4*8  // shaderInt8
	v12MemModel       = 16 + 4*41 // vulkanMemoryModel
	v12MemModelDevice = 16 + 4*42 // vulkanMemoryModelDeviceScope
	v13SizeControl    = 16 + 4*7  // subgroupSizeControl
	v13FullSubgroups  = 16 + 4*8  // computeFullSubgroups
	v13IntDot         = 16 + 4*13 // shaderIntegerDotProduct
	v13Maintenance4   = 16 + 4*14
	coopMatFeature    = 16 // cooperativeMatrix
	coopMat2First     = 16 // seven consecutive VkBool32 members
	coopMat2Count     = 7
	intDotFeature     = 16
)

// cstruct is one Vulkan structure in C memory, addressed by byte offset.
// structSize is generous: drivers write whole structures and a later
// header may have grown them.
type cstruct struct{ p unsafe.Pointer }

const structSize = 1024

func (s cstruct) u32(off int) uint32 { return *(*uint32)(unsafe.Add(s.p, off)) }
func (s cstruct) u64(off int) uint64 { return *(*uint64)(unsafe.Add(s.p, off)) }
func (s cstruct) set32(off int, v uint32) {
	*(*uint32)(unsafe.Add(s.p, off)) = v
}
func (s cstruct) bool(off int) bool { return s.u32(off) != 0 }

// chain is a pNext chain of structures in C memory.
type chain struct{ items []cstruct }

func (c *chain) add(sType uint32) cstruct {
	s := cstruct{cAlloc(structSize)}
	s.set32(0, sType)
	if n := len(c.items); n > 0 {
		*(*unsafe.Pointer)(unsafe.Add(c.items[n-1].p, 8)) = s.p
	}
	c.items = append(c.items, s)
	return s
}

func (c *chain) head() unsafe.Pointer { return c.items[0].p }

func (c *chain) free() {
	for _, s := range c.items {
		cFree(s.p)
	}
	c.items = nil
}

// featureChain is the VkPhysicalDeviceFeatures2 chain for one device: used
// to query what is supported, then trimmed to what is enabled.
type featureChain struct {
	chain
	f2, v11, v12, v13, coop, coop2, intDot cstruct
}

// newFeatureChain links the structures for the extensions in exts, which
// must all be available (when querying) or enabled (when creating).
func newFeatureChain(exts map[string]bool, api13 bool) *featureChain {
	fc := &featureChain{}
	fc.f2 = fc.add(sTypeFeatures2)
	fc.v11 = fc.add(sTypeVulkan11Features)
	fc.v12 = fc.add(sTypeVulkan12Features)
	if api13 {
		fc.v13 = fc.add(sTypeVulkan13Features)
	} else if exts[extIntDot] {
		fc.intDot = fc.add(sTypeIntDotFeatures)
	}
	if exts[extCoopMat] {
		fc.coop = fc.add(sTypeCoopMatFeatures)
	}
	if exts[extCoopMat2] {
		fc.coop2 = fc.add(sTypeCoopMat2Features)
	}
	return fc
}

const (
	extIntDot   = "VK_KHR_shader_integer_dot_product"
	extCoopMat  = "VK_KHR_cooperative_matrix"
	extCoopMat2 = "VK_NV_cooperative_matrix2"
)

// queryCaps fills Caps for one physical device.
func queryCaps(l *loader, inst vk.Instance, pd vk.PhysicalDevice, exts map[string]bool) (Caps, error) {
	var props vk.PhysicalDeviceProperties
	vk.GetPhysicalDeviceProperties(pd, &props)
	props.Deref()
	props.Limits.Deref()
	lim := props.Limits
	c := Caps{
		APIVersion:              props.ApiVersion,
		MaxSharedMemory:         lim.MaxComputeSharedMemorySize,
		MaxWorkgroupInvocations: lim.MaxComputeWorkGroupInvocations,
		MaxWorkgroupSize:        lim.MaxComputeWorkGroupSize,
		MaxWorkgroupCount:       lim.MaxComputeWorkGroupCount,
		MaxPushConstants:        lim.MaxPushConstantsSize,
		MaxStorageRange:         uint64(lim.MaxStorageBufferRange),
		StorageAlign:            uint64(lim.MinStorageBufferOffsetAlignment),
		TimestampPeriod:         lim.TimestampPeriod,
		PushDescriptors:         exts["VK_KHR_push_descriptor"],
	}
	if !c.AtLeast(1, 2) {
		return c, fmt.Errorf("Vulkan %s: at least 1.2 is required", c.Version())
	}
	getFeatures := l.proc(inst, "vkGetPhysicalDeviceFeatures2")
	getProps := l.proc(inst, "vkGetPhysicalDeviceProperties2")
	if getFeatures == nil || getProps == nil {
		return c, fmt.Errorf("vkGetPhysicalDeviceFeatures2 is missing")
	}

	api13 := c.AtLeast(1, 3)
	fc := newFeatureChain(exts, api13)
	defer fc.free()
	callVoid2(getFeatures, unsafe.Pointer(pd), fc.head())
	c.Storage16 = fc.v11.bool(v11Storage16)
	c.Storage8 = fc.v12.bool(v12Storage8)
	c.Float16 = fc.v12.bool(v12Float16)
	c.Int8 = fc.v12.bool(v12Int8)
	c.MemoryModel = fc.v12.bool(v12MemModel) && fc.v12.bool(v12MemModelDevice)
	if api13 {
		c.SubgroupSizeControl = fc.v13.bool(v13SizeControl) && fc.v13.bool(v13FullSubgroups)
		c.IntegerDot = fc.v13.bool(v13IntDot)
	} else if fc.intDot.p != nil {
		c.IntegerDot = fc.intDot.bool(intDotFeature)
	}
	coopFeature := fc.coop.p != nil && fc.coop.bool(coopMatFeature)
	c.CoopMat2 = coopFeature && fc.coop2.p != nil && fc.coop2.bool(coopMat2First)
	c.coopMat2Bits = make([]uint32, coopMat2Count)
	for i := range c.coopMat2Bits {
		if fc.coop2.p != nil {
			c.coopMat2Bits[i] = fc.coop2.u32(coopMat2First + 4*i)
		}
	}

	var pc chain
	defer pc.free()
	pc.add(sTypeProperties2)
	sub := pc.add(sTypeSubgroupProps)
	m3 := pc.add(sTypeMaintenance3)
	var v13p cstruct
	if api13 {
		v13p = pc.add(sTypeVulkan13Props)
	}
	callVoid2(getProps, unsafe.Pointer(pd), pc.head())
	c.SubgroupSize = sub.u32(16)
	stages, ops := sub.u32(20), sub.u32(24)
	const computeStage, opArithmetic, opShuffle = 0x20, 0x4, 0x10
	inCompute := stages&computeStage != 0
	c.SubgroupArithmetic = inCompute && ops&opArithmetic != 0
	c.SubgroupShuffle = inCompute && ops&opShuffle != 0
	c.MaxAllocation = m3.u64(24)
	c.MinSubgroupSize, c.MaxSubgroupSize = c.SubgroupSize, c.SubgroupSize
	if v13p.p != nil && c.SubgroupSizeControl {
		c.MinSubgroupSize, c.MaxSubgroupSize = v13p.u32(16), v13p.u32(20)
	}

	if coopFeature && c.MemoryModel && c.Float16 && c.Storage16 {
		c.CoopMat = hasCoopMatShape(l, inst, pd)
	}
	c.CoopMat2 = c.CoopMat2 && c.CoopMat

	var mem vk.PhysicalDeviceMemoryProperties
	vk.GetPhysicalDeviceMemoryProperties(pd, &mem)
	mem.Deref()
	for i := uint32(0); i < mem.MemoryHeapCount; i++ {
		h := mem.MemoryHeaps[i]
		h.Deref()
		if h.Flags&vk.MemoryHeapFlags(vk.MemoryHeapDeviceLocalBit) != 0 && uint64(h.Size) > c.DeviceLocalBytes {
			c.DeviceLocalBytes = uint64(h.Size)
		}
	}
	return c, nil
}

// hasCoopMatShape reports whether the device lists a 16x16x16 subgroup
// cooperative matrix with f16 inputs and f32 accumulation, the shape the
// cooperative-matrix GEMM uses.
func hasCoopMatShape(l *loader, inst vk.Instance, pd vk.PhysicalDevice) bool {
	fn := l.proc(inst, "vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR")
	if fn == nil {
		return false
	}
	count := (*uint32)(cAlloc(4))
	defer cFree(unsafe.Pointer(count))
	if callResult3(fn, unsafe.Pointer(pd), unsafe.Pointer(count), nil) != vk.Success || *count == 0 {
		return false
	}
	const stride = 56 // sizeof(VkCooperativeMatrixPropertiesKHR)
	n := int(*count)
	buf := cAlloc(n * stride)
	defer cFree(buf)
	for i := 0; i < n; i++ {
		s := cstruct{unsafe.Add(buf, i*stride)}
		s.set32(0, sTypeCoopMatProps)
	}
	if callResult3(fn, unsafe.Pointer(pd), unsafe.Pointer(count), buf) != vk.Success {
		return false
	}
	const f16, f32, scopeSubgroup = 0, 1, 3
	for i := 0; i < int(*count); i++ {
		s := cstruct{unsafe.Add(buf, i*stride)}
		m, nn, k := s.u32(16), s.u32(20), s.u32(24)
		a, b, cc, r := s.u32(28), s.u32(32), s.u32(36), s.u32(40)
		scope := s.u32(48)
		if m == 16 && nn == 16 && k == 16 && a == f16 && b == f16 && cc == f32 && r == f32 && scope == scopeSubgroup {
			return true
		}
	}
	return false
}
