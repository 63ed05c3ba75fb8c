package gpu

import (
	"fmt"

	vk "github.com/goki/vulkan"
)

// DescriptorSet binds buffers to a pipeline's bindings. Sets are made when
// a plan is built and reused by every replay; they are never updated while
// recording.
type DescriptorSet struct {
	h    vk.DescriptorSet
	pool vk.DescriptorPool
	pipe *Pipeline
	d    *Device
}

const (
	setsPerPool        = 1024
	descriptorsPerPool = 8 * setsPerPool
)

type descriptorAllocator struct {
	d     *Device
	pools []vk.DescriptorPool
}

func newDescriptorAllocator(d *Device) *descriptorAllocator { return &descriptorAllocator{d: d} }

func (a *descriptorAllocator) newPool() (vk.DescriptorPool, error) {
	ci := vk.DescriptorPoolCreateInfo{
		SType:         vk.StructureTypeDescriptorPoolCreateInfo,
		Flags:         vk.DescriptorPoolCreateFlags(vk.DescriptorPoolCreateFreeDescriptorSetBit),
		MaxSets:       setsPerPool,
		PoolSizeCount: 1,
		PPoolSizes:    []vk.DescriptorPoolSize{{Type: vk.DescriptorTypeStorageBuffer, DescriptorCount: descriptorsPerPool}},
	}
	var p vk.DescriptorPool
	if r := vk.CreateDescriptorPool(a.d.h, &ci, nil, &p); r != vk.Success {
		return p, fmt.Errorf("vkCreateDescriptorPool: %w", vk.Error(r))
	}
	a.pools = append(a.pools, p)
	return p, nil
}

// NewDescriptorSet binds bufs, in order, to bindings 0.. of p. There must
// be exactly p.Bindings buffers.
func (d *Device) NewDescriptorSet(p *Pipeline, bufs ...Buffer) (*DescriptorSet, error) {
	defer pauseGC()()
	if len(bufs) != p.Bindings {
		return nil, fmt.Errorf("gpu: %s takes %d buffers, got %d", p.Name, p.Bindings, len(bufs))
	}
	lim := d.Info.Caps.MaxStorageRange
	for i, b := range bufs {
		if !b.Valid() {
			return nil, fmt.Errorf("gpu: %s binding %d: buffer not allocated", p.Name, i)
		}
		if lim > 0 && b.Size > lim {
			return nil, fmt.Errorf("gpu: %s binding %d: %s exceeds the %s one binding may see", p.Name, i, human(b.Size), human(lim))
		}
		if al := d.Info.Caps.StorageAlign; al > 0 && b.Offset%al != 0 {
			return nil, fmt.Errorf("gpu: %s binding %d: offset %d is not a multiple of %d", p.Name, i, b.Offset, al)
		}
	}
	h, pool, err := d.desc.allocate(p)
	if err != nil {
		return nil, err
	}
	infos := make([]vk.DescriptorBufferInfo, len(bufs))
	writes := make([]vk.WriteDescriptorSet, len(bufs))
	for i, b := range bufs {
		infos[i] = vk.DescriptorBufferInfo{Buffer: b.blk.buf, Offset: vk.DeviceSize(b.Offset), Range: vk.DeviceSize(b.Size)}
		writes[i] = vk.WriteDescriptorSet{
			SType:           vk.StructureTypeWriteDescriptorSet,
			DstSet:          h,
			DstBinding:      uint32(i),
			DescriptorCount: 1,
			DescriptorType:  vk.DescriptorTypeStorageBuffer,
			PBufferInfo:     infos[i : i+1],
		}
	}
	vk.UpdateDescriptorSets(d.h, uint32(len(writes)), writes, 0, nil)
	return &DescriptorSet{h: h, pool: pool, pipe: p, d: d}, nil
}

// Close returns the set to its pool. Recordings that use it must be closed
// first.
func (s *DescriptorSet) Close() {
	defer pauseGC()()
	if s == nil || s.h == nil || s.d.closed {
		return
	}
	h := s.h
	vk.FreeDescriptorSets(s.d.h, s.pool, 1, &h)
	s.h = nil
}

// allocate takes a set for p from the newest pool with room, adding a pool
// when all are full.
func (a *descriptorAllocator) allocate(p *Pipeline) (vk.DescriptorSet, vk.DescriptorPool, error) {
	try := func(pool vk.DescriptorPool) (vk.DescriptorSet, vk.Result) {
		var h vk.DescriptorSet
		ai := vk.DescriptorSetAllocateInfo{
			SType:              vk.StructureTypeDescriptorSetAllocateInfo,
			DescriptorPool:     pool,
			DescriptorSetCount: 1,
			PSetLayouts:        []vk.DescriptorSetLayout{p.setLayout},
		}
		r := vk.AllocateDescriptorSets(a.d.h, &ai, &h)
		return h, r
	}
	for i := len(a.pools) - 1; i >= 0; i-- {
		h, r := try(a.pools[i])
		if r == vk.Success {
			return h, a.pools[i], nil
		}
		if r != vk.ErrorOutOfPoolMemory && r != vk.ErrorFragmentedPool {
			return h, nil, fmt.Errorf("gpu: vkAllocateDescriptorSets: %w", vk.Error(r))
		}
	}
	pool, err := a.newPool()
	if err != nil {
		return nil, nil, err
	}
	h, r := try(pool)
	if r != vk.Success {
		return h, nil, fmt.Errorf("gpu: vkAllocateDescriptorSets %s: %w", p.Name, vk.Error(r))
	}
	return h, pool, nil
}

func (a *descriptorAllocator) close() {
	for _, p := range a.pools {
		vk.DestroyDescriptorPool(a.d.h, p, nil)
	}
	a.pools = nil
}
