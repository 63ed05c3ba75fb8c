package gpu

import (
	"fmt"

	vk "github.com/goki/vulkan"
)

// StagingSize bounds the host-visible memory used to move data to and from
// device-local buffers: larger transfers go in chunks.
const StagingSize = 16 << 20

// transfer holds the staging buffers and the command buffer for copies.
type transfer struct {
	d        *Device
	up, down Buffer
	cmd      vk.CommandBuffer
	fence    vk.Fence
}

func (d *Device) transferState() (*transfer, error) {
	if d.transfers != nil {
		return d.transfers, nil
	}
	t := &transfer{d: d}
	var err error
	if t.up, err = d.Alloc(StagingSize, Upload); err != nil {
		return nil, err
	}
	if t.down, err = d.Alloc(StagingSize, Readback); err != nil {
		d.Free(t.up)
		return nil, err
	}
	if t.cmd, err = d.allocCommandBuffer(); err != nil {
		d.Free(t.up)
		d.Free(t.down)
		return nil, err
	}
	fi := vk.FenceCreateInfo{SType: vk.StructureTypeFenceCreateInfo}
	var fence = t.fence
	r := vk.CreateFence(d.h, &fi, nil, &fence)
	t.fence = fence
	if r != vk.Success {
		return nil, fmt.Errorf("gpu: vkCreateFence: %w", vk.Error(r))
	}
	d.transfers = t
	return t, nil
}

func (t *transfer) close() {
	vk.DestroyFence(t.d.h, t.fence, nil)
	vk.FreeCommandBuffers(t.d.h, t.d.cmdPool, 1, []vk.CommandBuffer{t.cmd})
	t.d.Free(t.up)
	t.d.Free(t.down)
}

// copy runs one buffer copy and waits for it.
func (t *transfer) copy(dst, src Buffer, n uint64) error {
	d := t.d
	vk.ResetCommandBuffer(t.cmd, 0)
	bi := vk.CommandBufferBeginInfo{SType: vk.StructureTypeCommandBufferBeginInfo,
		Flags: vk.CommandBufferUsageFlags(vk.CommandBufferUsageOneTimeSubmitBit)}
	vk.BeginCommandBuffer(t.cmd, &bi)
	// Earlier work on the queue may still write src or read dst.
	mb := []vk.MemoryBarrier{{SType: vk.StructureTypeMemoryBarrier,
		SrcAccessMask: allWrites | vk.AccessFlags(vk.AccessHostWriteBit), DstAccessMask: shaderAndTransfer}}
	vk.CmdPipelineBarrier(t.cmd, shaderOrTransfer|vk.PipelineStageFlags(vk.PipelineStageHostBit), shaderOrTransfer, 0, 1, mb, 0, nil, 0, nil)
	vk.CmdCopyBuffer(t.cmd, src.blk.buf, dst.blk.buf, 1, []vk.BufferCopy{{
		SrcOffset: vk.DeviceSize(src.Offset), DstOffset: vk.DeviceSize(dst.Offset), Size: vk.DeviceSize(n)}})
	hb := []vk.MemoryBarrier{{SType: vk.StructureTypeMemoryBarrier, SrcAccessMask: vk.AccessFlags(vk.AccessTransferWriteBit),
		DstAccessMask: vk.AccessFlags(vk.AccessHostReadBit) | shaderAndTransfer}}
	vk.CmdPipelineBarrier(t.cmd, vk.PipelineStageFlags(vk.PipelineStageTransferBit),
		shaderOrTransfer|vk.PipelineStageFlags(vk.PipelineStageHostBit), 0, 1, hb, 0, nil, 0, nil)
	if r := vk.EndCommandBuffer(t.cmd); r != vk.Success {
		return fmt.Errorf("gpu: vkEndCommandBuffer: %w", vk.Error(r))
	}
	d.mu.Lock()
	vk.ResetFences(d.h, 1, []vk.Fence{t.fence})
	r := vk.QueueSubmit(d.queue, 1, []vk.SubmitInfo{{SType: vk.StructureTypeSubmitInfo,
		CommandBufferCount: 1, PCommandBuffers: []vk.CommandBuffer{t.cmd}}}, t.fence)
	d.mu.Unlock()
	if r != vk.Success {
		return fmt.Errorf("gpu: vkQueueSubmit: %w", deviceError(r))
	}
	r = vk.WaitForFences(d.h, 1, []vk.Fence{t.fence}, vk.True, uint64(FenceTimeout.Nanoseconds()))
	if r == vk.Timeout {
		return fmt.Errorf("gpu: a copy did not finish within %v: %w", FenceTimeout, ErrHung)
	}
	if r != vk.Success {
		return fmt.Errorf("gpu: vkWaitForFences: %w", deviceError(r))
	}
	return nil
}

// Upload writes data at the start of b. Host-visible buffers are written
// directly; others through the staging buffer in chunks of StagingSize.
func (d *Device) Upload(b Buffer, data []byte) error {
	defer pauseGC()()
	if !b.Valid() {
		return fmt.Errorf("gpu: upload into an unallocated buffer")
	}
	if uint64(len(data)) > b.Size {
		return fmt.Errorf("gpu: upload of %d bytes into a buffer of %d", len(data), b.Size)
	}
	if m := b.Bytes(); m != nil && !d.staging {
		vk.DeviceWaitIdle(d.h)
		copy(m, data)
		return nil
	}
	t, err := d.transferState()
	if err != nil {
		return err
	}
	for off := 0; off < len(data); off += StagingSize {
		n := min(StagingSize, len(data)-off)
		copy(t.up.Bytes(), data[off:off+n])
		if err := t.copy(b.Slice(uint64(off), uint64(n)), t.up, uint64((n+3)&^3)); err != nil {
			return fmt.Errorf("gpu: upload: %w", err)
		}
	}
	return nil
}

// Download reads len(dst) bytes from the start of b, after waiting for the
// device to finish what was submitted.
func (d *Device) Download(dst []byte, b Buffer) error {
	defer pauseGC()()
	if !b.Valid() {
		return fmt.Errorf("gpu: download from an unallocated buffer")
	}
	if uint64(len(dst)) > b.Size {
		return fmt.Errorf("gpu: download of %d bytes from a buffer of %d", len(dst), b.Size)
	}
	vk.DeviceWaitIdle(d.h)
	if m := b.Bytes(); m != nil && !d.staging {
		d.invalidate(b.blk)
		copy(dst, m)
		return nil
	}
	t, err := d.transferState()
	if err != nil {
		return err
	}
	for off := 0; off < len(dst); off += StagingSize {
		n := min(StagingSize, len(dst)-off)
		if err := t.copy(t.down, b.Slice(uint64(off), uint64((n+3)&^3)), uint64((n+3)&^3)); err != nil {
			return fmt.Errorf("gpu: download: %w", err)
		}
		d.invalidate(t.down.blk)
		copy(dst[off:off+n], t.down.Bytes())
	}
	return nil
}

// ReadHost copies the start of a host-visible buffer into dst without
// waiting for the device: the caller has waited for the recording that
// wrote it (Recording.Wait), whose end makes its writes visible to the host.
func (d *Device) ReadHost(dst []byte, b Buffer) error {
	defer pauseGC()()
	m := b.Bytes()
	if m == nil || uint64(len(dst)) > b.Size {
		return fmt.Errorf("gpu: host read of %d bytes from a buffer of %d that is not host-visible or too small", len(dst), b.Size)
	}
	d.invalidate(b.blk)
	copy(dst, m)
	return nil
}

// invalidate makes device writes to a mapped block visible to the host
// where its memory is not coherent.
func (d *Device) invalidate(b *block) {
	if b.coherent {
		return
	}
	rng := []vk.MappedMemoryRange{{SType: vk.StructureTypeMappedMemoryRange, Memory: b.mem,
		Size: vk.DeviceSize(vk.WholeSize)}}
	vk.InvalidateMappedMemoryRanges(d.h, 1, rng)
}
