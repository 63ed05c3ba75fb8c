package gpu

import (
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"

	vk "github.com/goki/vulkan"
)

// DeviceEnv is the environment variable that picks a device when no
// selection is given: an index from Instance.Devices or part of a name.
const DeviceEnv = "GEMMAVK_DEVICE"

// DeviceType is the kind of physical device.
type DeviceType int

// Device types, as VkPhysicalDeviceType.
const (
	TypeOther DeviceType = iota
	TypeIntegrated
	TypeDiscrete
	TypeVirtual
	TypeCPU
)

func (t DeviceType) String() string {
	switch t {
	case TypeIntegrated:
		return "integrated"
	case TypeDiscrete:
		return "discrete"
	case TypeVirtual:
		return "virtual"
	case TypeCPU:
		return "cpu"
	}
	return "other"
}

// preference orders types for the default choice: discrete GPUs, then
// integrated, then anything else, software rasterisers last.
func (t DeviceType) preference() int {
	return map[DeviceType]int{TypeDiscrete: 0, TypeIntegrated: 1, TypeVirtual: 2, TypeOther: 3, TypeCPU: 4}[t]
}

// DeviceInfo describes one physical device.
type DeviceInfo struct {
	Index    int // position in Instance.Devices
	Name     string
	Type     DeviceType
	VendorID uint32
	DeviceID uint32
	Caps     Caps

	pd             vk.PhysicalDevice
	exts           map[string]bool
	queueFamily    uint32
	timestampValid bool
}

func (d DeviceInfo) String() string {
	return fmt.Sprintf("%d: %s (%s, Vulkan %s, subgroup %d, %.1f GiB)", d.Index, d.Name, d.Type,
		d.Caps.Version(), d.Caps.SubgroupSize, float64(d.Caps.DeviceLocalBytes)/(1<<30))
}

// Devices lists the physical devices that can run compute shaders with
// Vulkan 1.2 or later. Others are logged and left out.
func (in *Instance) Devices() ([]DeviceInfo, error) {
	defer pauseGC()()
	var n uint32
	if r := vk.EnumeratePhysicalDevices(in.h, &n, nil); r != vk.Success {
		return nil, fmt.Errorf("%w: vkEnumeratePhysicalDevices: %v", ErrNoDevice, vk.Error(r))
	}
	pds := make([]vk.PhysicalDevice, n)
	if n > 0 {
		vk.EnumeratePhysicalDevices(in.h, &n, pds)
	}
	var out []DeviceInfo
	for _, pd := range pds[:n] {
		info, err := in.describe(pd)
		if err != nil {
			in.log.Info("vulkan device skipped", "device", info.Name, "reason", err)
			continue
		}
		info.Index = len(out)
		out = append(out, info)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no device with Vulkan 1.2 compute", ErrNoDevice)
	}
	return out, nil
}

func (in *Instance) describe(pd vk.PhysicalDevice) (DeviceInfo, error) {
	var props vk.PhysicalDeviceProperties
	vk.GetPhysicalDeviceProperties(pd, &props)
	props.Deref()
	info := DeviceInfo{
		Name:     vk.ToString(props.DeviceName[:]),
		Type:     DeviceType(props.DeviceType),
		VendorID: props.VendorID,
		DeviceID: props.DeviceID,
		pd:       pd,
		exts:     map[string]bool{},
	}
	var n uint32
	vk.EnumerateDeviceExtensionProperties(pd, "", &n, nil)
	if n > 0 {
		eps := make([]vk.ExtensionProperties, n)
		vk.EnumerateDeviceExtensionProperties(pd, "", &n, eps)
		for _, e := range eps[:n] {
			e.Deref()
			info.exts[vk.ToString(e.ExtensionName[:])] = true
		}
	}
	family, ts, ok := computeFamily(pd)
	if !ok {
		return info, fmt.Errorf("no compute queue")
	}
	info.queueFamily, info.timestampValid = family, ts
	caps, err := queryCaps(in.l, in.h, pd, info.exts)
	info.Caps = caps
	return info, err
}

// computeFamily picks the first queue family with compute, preferring one
// whose queues write timestamps.
func computeFamily(pd vk.PhysicalDevice) (family uint32, timestamps, ok bool) {
	var n uint32
	vk.GetPhysicalDeviceQueueFamilyProperties(pd, &n, nil)
	fams := make([]vk.QueueFamilyProperties, n)
	vk.GetPhysicalDeviceQueueFamilyProperties(pd, &n, fams)
	for i, f := range fams[:n] {
		f.Deref()
		if f.QueueFlags&vk.QueueFlags(vk.QueueComputeBit) == 0 {
			continue
		}
		if f.TimestampValidBits > 0 {
			return uint32(i), true, true
		}
		if !ok {
			family, ok = uint32(i), true
		}
	}
	return family, false, ok
}

// Choose picks a device: sel is an index or part of a name
// (case-insensitive); empty means the DeviceEnv variable, and if that is
// empty too, the first discrete GPU, else integrated, else any other.
func Choose(devs []DeviceInfo, sel string) (DeviceInfo, error) {
	if len(devs) == 0 {
		return DeviceInfo{}, ErrNoDevice
	}
	if sel == "" {
		sel = os.Getenv(DeviceEnv)
	}
	sel = strings.TrimSpace(sel)
	if sel == "" {
		best := append([]DeviceInfo(nil), devs...)
		sort.SliceStable(best, func(i, j int) bool { return best[i].Type.preference() < best[j].Type.preference() })
		return best[0], nil
	}
	if i, err := strconv.Atoi(sel); err == nil {
		if i < 0 || i >= len(devs) {
			return DeviceInfo{}, fmt.Errorf("device %d: there are %d devices (0..%d)", i, len(devs), len(devs)-1)
		}
		return devs[i], nil
	}
	for _, d := range devs {
		if strings.Contains(strings.ToLower(d.Name), strings.ToLower(sel)) {
			return d, nil
		}
	}
	names := make([]string, len(devs))
	for i, d := range devs {
		names[i] = d.Name
	}
	return DeviceInfo{}, fmt.Errorf("no device matches %q (have: %s)", sel, strings.Join(names, "; "))
}

// coopMatLayerVersion is the first validation layer (1.3.255) that knows
// VK_KHR_cooperative_matrix.
var coopMatLayerVersion = vk.MakeVersion(1, 3, 255)

// Options configures Open.
type Options struct {
	Select     string // see Choose
	Validation bool   // see InstanceOptions
	Logger     *slog.Logger
	// Staging moves all uploads and downloads through the staging buffers,
	// even where device-local memory is host-visible (as on integrated GPUs
	// and lavapipe): the path discrete GPUs take, for tests.
	Staging bool
}

// Device is an open logical device with one compute queue. Its methods are
// safe for use by one goroutine at a time, except where noted.
type Device struct {
	Info DeviceInfo

	in        *Instance
	ownsInst  bool
	h         vk.Device
	queue     vk.Queue
	cmdPool   vk.CommandPool
	log       *slog.Logger
	mem       *allocator
	pipes     *pipelineCache
	desc      *descriptorAllocator
	mu        sync.Mutex // guards queue submission
	live      map[*Recording]bool
	closed    bool
	staging   bool // see Options.Staging
	transfers *transfer
}

// Open creates an instance, chooses a device and opens it. Close releases
// both.
func Open(opts Options) (*Device, error) {
	in, err := NewInstance(InstanceOptions{Validation: opts.Validation, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	devs, err := in.Devices()
	if err != nil {
		in.Close()
		return nil, err
	}
	info, err := Choose(devs, opts.Select)
	if err != nil {
		in.Close()
		return nil, err
	}
	d, err := in.Open(info)
	if err != nil {
		in.Close()
		return nil, err
	}
	d.ownsInst = true
	d.staging = opts.Staging
	return d, nil
}

// Open creates a logical device for info with the features the kernels use
// enabled where the device has them.
func (in *Instance) Open(info DeviceInfo) (*Device, error) {
	defer pauseGC()()
	c := info.Caps
	if in.validating && in.layerVersion < coopMatLayerVersion && (c.CoopMat || c.CoopMat2) {
		in.log.Info("validation layer predates cooperative matrices: they stay off while validating",
			"layer", Caps{APIVersion: in.layerVersion}.Version())
		c.CoopMat, c.CoopMat2 = false, false
		info.Caps = c
	}
	enable := map[string]bool{}
	if !c.AtLeast(1, 3) && c.IntegerDot {
		enable[extIntDot] = true
	}
	if c.CoopMat {
		enable[extCoopMat] = true
	}
	if c.CoopMat2 {
		enable[extCoopMat2] = true
	}
	fc := newFeatureChain(enable, c.AtLeast(1, 3))
	defer fc.free()
	if c.Storage16 {
		fc.v11.set32(v11Storage16, 1)
	}
	if c.Storage8 {
		fc.v12.set32(v12Storage8, 1)
	}
	if c.Float16 {
		fc.v12.set32(v12Float16, 1)
	}
	if c.Int8 {
		fc.v12.set32(v12Int8, 1)
	}
	if c.MemoryModel {
		fc.v12.set32(v12MemModel, 1)
		fc.v12.set32(v12MemModelDevice, 1)
	}
	if fc.v13.p != nil {
		if c.SubgroupSizeControl {
			fc.v13.set32(v13SizeControl, 1)
			fc.v13.set32(v13FullSubgroups, 1)
		}
		if c.IntegerDot {
			fc.v13.set32(v13IntDot, 1)
		}
	}
	if fc.intDot.p != nil {
		fc.intDot.set32(intDotFeature, 1)
	}
	if fc.coop.p != nil {
		fc.coop.set32(coopMatFeature, 1)
	}
	if fc.coop2.p != nil {
		for i, v := range c.coopMat2Bits {
			fc.coop2.set32(coopMat2First+4*i, v)
		}
	}
	exts := make([]string, 0, len(enable))
	for e := range enable {
		exts = append(exts, e)
	}
	sort.Strings(exts)
	dci := vk.DeviceCreateInfo{
		SType:                vk.StructureTypeDeviceCreateInfo,
		PNext:                fc.head(),
		QueueCreateInfoCount: 1,
		PQueueCreateInfos: []vk.DeviceQueueCreateInfo{{
			SType:            vk.StructureTypeDeviceQueueCreateInfo,
			QueueFamilyIndex: info.queueFamily,
			QueueCount:       1,
			PQueuePriorities: []float32{1},
		}},
		EnabledExtensionCount:   uint32(len(exts)),
		PpEnabledExtensionNames: cStrings(exts),
	}
	var h vk.Device
	if r := vk.CreateDevice(info.pd, &dci, nil, &h); r != vk.Success {
		return nil, fmt.Errorf("vkCreateDevice %s: %w", info.Name, vk.Error(r))
	}
	d := &Device{Info: info, in: in, h: h, log: in.log, live: map[*Recording]bool{}}
	var q vk.Queue
	vk.GetDeviceQueue(h, info.queueFamily, 0, &q)
	d.queue = q
	pci := vk.CommandPoolCreateInfo{
		SType:            vk.StructureTypeCommandPoolCreateInfo,
		Flags:            vk.CommandPoolCreateFlags(vk.CommandPoolCreateResetCommandBufferBit),
		QueueFamilyIndex: info.queueFamily,
	}
	var pool = d.cmdPool
	r := vk.CreateCommandPool(h, &pci, nil, &pool)
	d.cmdPool = pool
	if r != vk.Success {
		vk.DestroyDevice(h, nil)
		return nil, fmt.Errorf("vkCreateCommandPool: %w", vk.Error(r))
	}
	d.mem = newAllocator(d)
	d.pipes = newPipelineCache(d)
	d.desc = newDescriptorAllocator(d)
	in.log.Info("vulkan device", "device", info.String(), "coopmat", c.CoopMat, "coopmat2", c.CoopMat2)
	return d, nil
}

// Caps returns what the device can do.
func (d *Device) Caps() Caps { return d.Info.Caps }

// Messages returns the validation layer's messages so far (none when
// validation is off).
func (d *Device) Messages() []string { return d.in.Messages() }

// Validating reports whether the validation layer watches this device.
func (d *Device) Validating() bool { return d.in.Validating() }

// Close waits for the device to go idle and destroys everything created
// through it. It returns an error naming what the caller left open:
// recordings and memory that were never closed or freed are released here
// too, but their presence is a leak in the caller.
func (d *Device) Close() error {
	defer pauseGC()()
	if d == nil || d.closed {
		return nil
	}
	d.closed = true
	vk.DeviceWaitIdle(d.h)
	var leaks []string
	if n := len(d.live); n > 0 {
		leaks = append(leaks, fmt.Sprintf("%d recordings", n))
		for r := range d.live {
			r.release()
		}
	}
	if d.transfers != nil {
		d.transfers.close()
	}
	d.desc.close()
	d.pipes.close()
	if n := d.mem.close(); n > 0 {
		leaks = append(leaks, fmt.Sprintf("%d allocations", n))
	}
	vk.DestroyCommandPool(d.h, d.cmdPool, nil)
	vk.DestroyDevice(d.h, nil)
	if d.ownsInst {
		d.in.Close()
	}
	if len(leaks) > 0 {
		return fmt.Errorf("gpu: device closed with %s still open", strings.Join(leaks, " and "))
	}
	return nil
}
