package gpu

import (
	"errors"
	"fmt"
	"sort"
	"unsafe"

	vk "github.com/goki/vulkan"
)

// ErrOutOfMemory reports that the device could not provide memory.
var ErrOutOfMemory = errors.New("out of device memory")

// MemoryKind says where a buffer lives and who touches it.
type MemoryKind int

// Memory kinds.
const (
	// DeviceLocal is for weights, activations and caches. Filled with
	// Device.Upload, read with Device.Download.
	DeviceLocal MemoryKind = iota
	// Upload is host-visible and coherent: the host writes it through Bytes.
	Upload
	// Readback is host-visible, cached where the device offers it: the host
	// reads it through Bytes after a recording that wrote it has finished.
	Readback
)

func (k MemoryKind) String() string {
	return [...]string{"device-local", "upload", "readback"}[k]
}

// DefaultBlockSize is the size of the memory blocks that small buffers are
// carved from; larger buffers get a block of their own.
const DefaultBlockSize = 256 << 20

// Buffer is a range of one memory block, bound to shaders as a storage
// buffer. The zero Buffer is invalid.
type Buffer struct {
	blk    *block
	Offset uint64
	Size   uint64
}

// Valid reports whether b was allocated.
func (b Buffer) Valid() bool { return b.blk != nil }

// Kind returns the memory kind b lives in.
func (b Buffer) Kind() MemoryKind { return b.blk.kind }

// Bytes returns the host view of a host-visible buffer, or nil.
func (b Buffer) Bytes() []byte {
	if b.blk == nil || b.blk.mapped == nil {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Add(b.blk.mapped, b.Offset)), b.Size)
}

// Overlaps reports whether b and o share any byte.
func (b Buffer) Overlaps(o Buffer) bool {
	return b.blk != nil && b.blk == o.blk && b.Offset < o.Offset+o.Size && o.Offset < b.Offset+b.Size
}

// Slice returns the sub-range [off, off+size) of b.
func (b Buffer) Slice(off, size uint64) Buffer {
	return Buffer{blk: b.blk, Offset: b.Offset + off, Size: size}
}

type span struct{ off, size uint64 }

// block is one VkDeviceMemory with one VkBuffer over all of it.
type block struct {
	kind     MemoryKind
	size     uint64
	mem      vk.DeviceMemory
	buf      vk.Buffer
	mapped   unsafe.Pointer // non-nil when host-visible
	coherent bool
	free     []span // sorted by offset
	live     int
}

type allocator struct {
	d      *Device
	blocks []*block
	types  [3]int32 // memory type index per kind, -1 if none
	inUse  uint64
}

func newAllocator(d *Device) *allocator {
	a := &allocator{d: d}
	var mp vk.PhysicalDeviceMemoryProperties
	vk.GetPhysicalDeviceMemoryProperties(d.Info.pd, &mp)
	mp.Deref()
	flags := make([]vk.MemoryPropertyFlags, mp.MemoryTypeCount)
	for i := range flags {
		t := mp.MemoryTypes[i]
		t.Deref()
		flags[i] = t.PropertyFlags
	}
	const (
		local    = vk.MemoryPropertyFlags(vk.MemoryPropertyDeviceLocalBit)
		visible  = vk.MemoryPropertyFlags(vk.MemoryPropertyHostVisibleBit)
		coherent = vk.MemoryPropertyFlags(vk.MemoryPropertyHostCoherentBit)
		cached   = vk.MemoryPropertyFlags(vk.MemoryPropertyHostCachedBit)
	)
	pick := func(wants ...vk.MemoryPropertyFlags) int32 {
		for _, w := range wants {
			for i, f := range flags {
				if f&w == w {
					return int32(i)
				}
			}
		}
		return -1
	}
	a.types[DeviceLocal] = pick(local, 0)
	a.types[Upload] = pick(visible | coherent)
	a.types[Readback] = pick(visible|cached|coherent, visible|cached, visible|coherent)
	return a
}

// blockLimit is the largest block the device allows. A buffer may be
// larger than one storage binding can see (maxStorageBufferRange); its
// users bind it in parts.
func (a *allocator) blockLimit() uint64 {
	if lim := a.d.Info.Caps.MaxAllocation; lim > 0 {
		return lim
	}
	return 1 << 30
}

func (a *allocator) align() uint64 {
	al := a.d.Info.Caps.StorageAlign
	if al < 16 {
		al = 16
	}
	return al
}

// Alloc returns a buffer of at least size bytes of the given kind. Buffers
// are carved from large blocks; one too big for a shared block gets its
// own. Running out of device memory returns an error wrapping
// ErrOutOfMemory with the sizes involved.
func (d *Device) Alloc(size uint64, kind MemoryKind) (Buffer, error) {
	defer pauseGC()()
	return d.mem.alloc(size, kind)
}

// Free returns b's range to its block. Freeing the zero Buffer is a no-op.
func (d *Device) Free(b Buffer) {
	defer pauseGC()()
	if b.blk == nil {
		return
	}
	d.mem.release(b)
}

func (a *allocator) alloc(size uint64, kind MemoryKind) (Buffer, error) {
	if size == 0 {
		size = 4
	}
	al := a.align()
	size = (size + al - 1) / al * al
	if lim := a.blockLimit(); size > lim {
		return Buffer{}, fmt.Errorf("gpu: buffer of %s exceeds the device's largest allocation (%s): %w",
			human(size), human(lim), ErrOutOfMemory)
	}
	for _, b := range a.blocks {
		if b.kind != kind {
			continue
		}
		if off, ok := b.take(size); ok {
			a.inUse += size
			return Buffer{blk: b, Offset: off, Size: size}, nil
		}
	}
	bs := uint64(DefaultBlockSize)
	if lim := a.blockLimit(); bs > lim {
		bs = lim
	}
	if r := a.d.Info.Caps.MaxStorageRange; r > 0 && bs > r {
		bs = r // shared blocks stay bindable whole
	}
	if size > bs {
		bs = size
	}
	b, err := a.newBlock(bs, kind)
	if err != nil {
		return Buffer{}, err
	}
	off, _ := b.take(size)
	a.inUse += size
	return Buffer{blk: b, Offset: off, Size: size}, nil
}

func (a *allocator) newBlock(size uint64, kind MemoryKind) (*block, error) {
	ti := a.types[kind]
	if ti < 0 {
		return nil, fmt.Errorf("gpu: device %s has no %s memory type", a.d.Info.Name, kind)
	}
	dev := a.d.h
	b := &block{kind: kind, size: size, free: []span{{0, size}}}
	bci := vk.BufferCreateInfo{
		SType: vk.StructureTypeBufferCreateInfo,
		Size:  vk.DeviceSize(size),
		Usage: vk.BufferUsageFlags(vk.BufferUsageStorageBufferBit | vk.BufferUsageTransferSrcBit |
			vk.BufferUsageTransferDstBit | vk.BufferUsageIndirectBufferBit),
		SharingMode: vk.SharingModeExclusive,
	}
	var buf = b.buf
	r := vk.CreateBuffer(dev, &bci, nil, &buf)
	b.buf = buf
	if r != vk.Success {
		return nil, a.oom(size, kind, "vkCreateBuffer", r)
	}
	var req vk.MemoryRequirements
	vk.GetBufferMemoryRequirements(dev, b.buf, &req)
	req.Deref()
	if req.MemoryTypeBits&(1<<uint(ti)) == 0 {
		vk.DestroyBuffer(dev, b.buf, nil)
		return nil, fmt.Errorf("gpu: %s memory type %d cannot back storage buffers", kind, ti)
	}
	mai := vk.MemoryAllocateInfo{
		SType:           vk.StructureTypeMemoryAllocateInfo,
		AllocationSize:  req.Size,
		MemoryTypeIndex: uint32(ti),
	}
	var mem = b.mem
	r = vk.AllocateMemory(dev, &mai, nil, &mem)
	b.mem = mem
	if r != vk.Success {
		vk.DestroyBuffer(dev, b.buf, nil)
		return nil, a.oom(size, kind, "vkAllocateMemory", r)
	}
	if r := vk.BindBufferMemory(dev, b.buf, b.mem, 0); r != vk.Success {
		a.destroy(b)
		return nil, fmt.Errorf("gpu: vkBindBufferMemory: %w", vk.Error(r))
	}
	var props vk.PhysicalDeviceMemoryProperties
	vk.GetPhysicalDeviceMemoryProperties(a.d.Info.pd, &props)
	props.Deref()
	t := props.MemoryTypes[ti]
	t.Deref()
	if t.PropertyFlags&vk.MemoryPropertyFlags(vk.MemoryPropertyHostVisibleBit) != 0 {
		var p unsafe.Pointer
		if r := vk.MapMemory(dev, b.mem, 0, vk.DeviceSize(vk.WholeSize), 0, &p); r != vk.Success {
			a.destroy(b)
			return nil, fmt.Errorf("gpu: vkMapMemory: %w", vk.Error(r))
		}
		b.mapped = p
		b.coherent = t.PropertyFlags&vk.MemoryPropertyFlags(vk.MemoryPropertyHostCoherentBit) != 0
	}
	a.blocks = append(a.blocks, b)
	a.d.log.Debug("gpu memory block", "kind", kind, "size", human(size), "mapped", b.mapped != nil)
	return b, nil
}

func (a *allocator) oom(size uint64, kind MemoryKind, call string, r vk.Result) error {
	if r == vk.ErrorOutOfDeviceMemory || r == vk.ErrorOutOfHostMemory {
		return fmt.Errorf("gpu: %s of %s %s (%s already in use, device has %s): %w", call, human(size), kind,
			human(a.inUse), human(a.d.Info.Caps.DeviceLocalBytes), ErrOutOfMemory)
	}
	return fmt.Errorf("gpu: %s of %s %s: %w", call, human(size), kind, vk.Error(r))
}

// take carves size bytes, first fit.
func (b *block) take(size uint64) (uint64, bool) {
	for i, s := range b.free {
		if s.size < size {
			continue
		}
		off := s.off
		if s.size == size {
			b.free = append(b.free[:i], b.free[i+1:]...)
		} else {
			b.free[i] = span{s.off + size, s.size - size}
		}
		b.live++
		return off, true
	}
	return 0, false
}

func (a *allocator) release(buf Buffer) {
	b := buf.blk
	i := sort.Search(len(b.free), func(i int) bool { return b.free[i].off > buf.Offset })
	b.free = append(b.free, span{})
	copy(b.free[i+1:], b.free[i:])
	b.free[i] = span{buf.Offset, buf.Size}
	// Merge with the neighbours.
	if i+1 < len(b.free) && b.free[i].off+b.free[i].size == b.free[i+1].off {
		b.free[i].size += b.free[i+1].size
		b.free = append(b.free[:i+1], b.free[i+2:]...)
	}
	if i > 0 && b.free[i-1].off+b.free[i-1].size == b.free[i].off {
		b.free[i-1].size += b.free[i].size
		b.free = append(b.free[:i], b.free[i+1:]...)
	}
	b.live--
	a.inUse -= buf.Size
	if b.live == 0 {
		// Give whole blocks back so that a closed model frees its memory.
		a.destroy(b)
		for j, x := range a.blocks {
			if x == b {
				a.blocks = append(a.blocks[:j], a.blocks[j+1:]...)
				break
			}
		}
	}
}

func (a *allocator) destroy(b *block) {
	if b.mapped != nil {
		vk.UnmapMemory(a.d.h, b.mem)
	}
	vk.DestroyBuffer(a.d.h, b.buf, nil)
	vk.FreeMemory(a.d.h, b.mem, nil)
}

// close frees every block and returns how many buffers were still live.
func (a *allocator) close() int {
	n := 0
	for _, b := range a.blocks {
		n += b.live
		a.destroy(b)
	}
	a.blocks = nil
	return n
}

// InUse returns the bytes of live buffers.
func (d *Device) InUse() uint64 { return d.mem.inUse }

func human(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
