package gpu

import (
	"fmt"
	"unsafe"

	vk "github.com/goki/vulkan"
)

// Recorder records commands into a command buffer that can be replayed
// any number of times. Its methods are named after the command they
// record. Errors are kept and returned by End.
type Recorder struct {
	d       *Device
	cmd     vk.CommandBuffer
	queries *queryPool
	labels  []string
	err     error
}

// RecordOptions configures a Recorder.
type RecordOptions struct {
	// Timestamps is the most WriteTimestamp calls the recording makes.
	Timestamps int
}

// NewRecorder begins a recording.
func (d *Device) NewRecorder(opts RecordOptions) (*Recorder, error) {
	defer pauseGC()()
	cmd, err := d.allocCommandBuffer()
	if err != nil {
		return nil, err
	}
	r := &Recorder{d: d, cmd: cmd}
	bi := vk.CommandBufferBeginInfo{SType: vk.StructureTypeCommandBufferBeginInfo}
	if res := vk.BeginCommandBuffer(cmd, &bi); res != vk.Success {
		vk.FreeCommandBuffers(d.h, d.cmdPool, 1, []vk.CommandBuffer{cmd})
		return nil, fmt.Errorf("gpu: vkBeginCommandBuffer: %w", vk.Error(res))
	}
	if opts.Timestamps > 0 && d.Info.timestampValid {
		q, err := newQueryPool(d, opts.Timestamps)
		if err != nil {
			vk.FreeCommandBuffers(d.h, d.cmdPool, 1, []vk.CommandBuffer{cmd})
			return nil, err
		}
		r.queries = q
		vk.CmdResetQueryPool(cmd, q.h, 0, uint32(q.n))
	}
	return r, nil
}

func (d *Device) allocCommandBuffer() (vk.CommandBuffer, error) {
	ai := vk.CommandBufferAllocateInfo{
		SType:              vk.StructureTypeCommandBufferAllocateInfo,
		CommandPool:        d.cmdPool,
		Level:              vk.CommandBufferLevelPrimary,
		CommandBufferCount: 1,
	}
	cmds := make([]vk.CommandBuffer, 1)
	if r := vk.AllocateCommandBuffers(d.h, &ai, cmds); r != vk.Success {
		return nil, fmt.Errorf("gpu: vkAllocateCommandBuffers: %w", vk.Error(r))
	}
	return cmds[0], nil
}

// Dispatch records one compute dispatch of b.
func (r *Recorder) Dispatch(b *Bound) {
	defer pauseGC()()
	if !r.bind(b.Pipeline, b.Set, b.Push) {
		return
	}
	g := b.Groups
	if g[0] == 0 || g[1] == 0 || g[2] == 0 {
		return // nothing to do; Vulkan allows it, but skip the command
	}
	vk.CmdDispatch(r.cmd, g[0], g[1], g[2])
}

// DispatchIndirect records a dispatch of b whose group counts are three
// uint32 read from args when the command runs; b.Groups is ignored. Where
// a command of the same recording writes args, BarrierIndirect (not
// Barrier) must come between them.
func (r *Recorder) DispatchIndirect(b *Bound, args Buffer) {
	defer pauseGC()()
	if !r.bind(b.Pipeline, b.Set, b.Push) {
		return
	}
	vk.CmdDispatchIndirect(r.cmd, args.blk.buf, vk.DeviceSize(args.Offset))
}

func (r *Recorder) bind(p *Pipeline, set *DescriptorSet, push []byte) bool {
	if r.err != nil {
		return false
	}
	if len(push) > PushSize {
		r.err = fmt.Errorf("gpu: %s: %d bytes of push constants, at most %d", p.Name, len(push), PushSize)
		return false
	}
	if set == nil || set.pipe.setLayout != p.setLayout {
		r.err = fmt.Errorf("gpu: %s: descriptor set made for another pipeline", p.Name)
		return false
	}
	vk.CmdBindPipeline(r.cmd, vk.PipelineBindPointCompute, p.h)
	vk.CmdBindDescriptorSets(r.cmd, vk.PipelineBindPointCompute, p.layout, 0, 1, []vk.DescriptorSet{set.h}, 0, nil)
	if len(push) > 0 {
		// Push constants must be a multiple of 4 bytes.
		n := (len(push) + 3) &^ 3
		buf := cAlloc(n)
		copy(unsafe.Slice((*byte)(buf), n), push)
		vk.CmdPushConstants(r.cmd, p.layout, vk.ShaderStageFlags(vk.ShaderStageComputeBit), 0, uint32(n), buf)
		cFree(buf)
	}
	return true
}

const (
	shaderOrTransfer  = vk.PipelineStageFlags(vk.PipelineStageComputeShaderBit | vk.PipelineStageTransferBit)
	allWrites         = vk.AccessFlags(vk.AccessShaderWriteBit | vk.AccessTransferWriteBit)
	shaderAndTransfer = vk.AccessFlags(vk.AccessShaderReadBit | vk.AccessShaderWriteBit |
		vk.AccessTransferReadBit | vk.AccessTransferWriteBit)
)

// Barrier records a memory barrier: everything dispatched or copied before
// it has finished writing before any shader or copy after it reads or
// writes. The caller places barriers only where a later command touches
// what an earlier one wrote.
//
// It leaves out the indirect-argument stage on purpose: a barrier that
// waits for it cost 4.9 µs between two one-workgroup dispatches on an H100
// against 2.4 µs without (the front end waits for the whole pipeline to
// drain before fetching the next command), and a decode step has ~170 of
// them. BarrierIndirect is the one that covers indirect arguments.
func (r *Recorder) Barrier() {
	r.barrier(0, 0)
}

// BarrierIndirect is Barrier that also makes the writes visible to the
// argument fetch of a DispatchIndirect after it.
func (r *Recorder) BarrierIndirect() {
	r.barrier(vk.PipelineStageFlags(vk.PipelineStageDrawIndirectBit), vk.AccessFlags(vk.AccessIndirectCommandReadBit))
}

func (r *Recorder) barrier(stage vk.PipelineStageFlags, access vk.AccessFlags) {
	defer pauseGC()()
	if r.err != nil {
		return
	}
	mb := []vk.MemoryBarrier{{SType: vk.StructureTypeMemoryBarrier, SrcAccessMask: allWrites, DstAccessMask: shaderAndTransfer | access}}
	vk.CmdPipelineBarrier(r.cmd, shaderOrTransfer, shaderOrTransfer|stage, 0, 1, mb, 0, nil, 0, nil)
}

// CopyBuffer records a copy of min(src.Size, dst.Size) bytes.
func (r *Recorder) CopyBuffer(dst, src Buffer) {
	defer pauseGC()()
	if r.err != nil {
		return
	}
	n := min(src.Size, dst.Size)
	vk.CmdCopyBuffer(r.cmd, src.blk.buf, dst.blk.buf, 1, []vk.BufferCopy{{
		SrcOffset: vk.DeviceSize(src.Offset), DstOffset: vk.DeviceSize(dst.Offset), Size: vk.DeviceSize(n)}})
}

// FillBuffer records filling dst with a repeated 32-bit word.
func (r *Recorder) FillBuffer(dst Buffer, word uint32) {
	defer pauseGC()()
	if r.err != nil {
		return
	}
	vk.CmdFillBuffer(r.cmd, dst.blk.buf, vk.DeviceSize(dst.Offset), vk.DeviceSize(dst.Size&^3), word)
}

// WriteTimestamp records a timestamp once everything before it has
// finished. Recording.Timestamps returns them with their labels.
func (r *Recorder) WriteTimestamp(label string) {
	defer pauseGC()()
	if r.err != nil || r.queries == nil {
		return
	}
	if len(r.labels) >= r.queries.n {
		r.err = fmt.Errorf("gpu: more than %d timestamps", r.queries.n)
		return
	}
	vk.CmdWriteTimestamp(r.cmd, vk.PipelineStageBottomOfPipeBit, r.queries.h, uint32(len(r.labels)))
	r.labels = append(r.labels, label)
}

// End finishes the recording. A barrier to the host is added so that
// host-visible buffers written by the recording can be read once it has
// run.
func (r *Recorder) End() (*Recording, error) {
	defer pauseGC()()
	if r.err == nil {
		mb := []vk.MemoryBarrier{{SType: vk.StructureTypeMemoryBarrier, SrcAccessMask: allWrites,
			DstAccessMask: vk.AccessFlags(vk.AccessHostReadBit)}}
		vk.CmdPipelineBarrier(r.cmd, shaderOrTransfer, vk.PipelineStageFlags(vk.PipelineStageHostBit), 0, 1, mb, 0, nil, 0, nil)
		if res := vk.EndCommandBuffer(r.cmd); res != vk.Success {
			r.err = fmt.Errorf("gpu: vkEndCommandBuffer: %w", vk.Error(res))
		}
	}
	if r.err != nil {
		vk.FreeCommandBuffers(r.d.h, r.d.cmdPool, 1, []vk.CommandBuffer{r.cmd})
		if r.queries != nil {
			r.queries.close()
		}
		return nil, r.err
	}
	rec := &Recording{d: r.d, cmd: r.cmd, queries: r.queries, labels: r.labels}
	if err := rec.init(); err != nil {
		rec.release()
		return nil, err
	}
	r.d.live[rec] = true
	return rec, nil
}
