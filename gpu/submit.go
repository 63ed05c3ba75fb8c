package gpu

import (
	"errors"
	"fmt"
	"time"

	vk "github.com/goki/vulkan"
)

// FenceTimeout bounds every wait for the device. A run that takes longer
// is reported as ErrHung instead of blocking forever.
const FenceTimeout = 2 * time.Minute

// ErrHung reports that the device did not finish work in FenceTimeout.
var ErrHung = errors.New("device hung")

// Recording is a finished command buffer. Run replays it; it can be run any
// number of times, one run at a time.
type Recording struct {
	d       *Device
	cmd     vk.CommandBuffer
	fence   vk.Fence
	queries *queryPool
	labels  []string
	pending bool
}

func (rec *Recording) init() error {
	fi := vk.FenceCreateInfo{SType: vk.StructureTypeFenceCreateInfo}
	var fence = rec.fence
	r := vk.CreateFence(rec.d.h, &fi, nil, &fence)
	rec.fence = fence
	if r != vk.Success {
		return fmt.Errorf("gpu: vkCreateFence: %w", vk.Error(r))
	}
	return nil
}

// Submit starts the recording on the queue without waiting.
func (rec *Recording) Submit() error {
	defer pauseGC()()
	if rec.pending {
		return fmt.Errorf("gpu: recording submitted twice without Wait")
	}
	d := rec.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if r := vk.ResetFences(d.h, 1, []vk.Fence{rec.fence}); r != vk.Success {
		return fmt.Errorf("gpu: vkResetFences: %w", vk.Error(r))
	}
	si := []vk.SubmitInfo{{
		SType:              vk.StructureTypeSubmitInfo,
		CommandBufferCount: 1,
		PCommandBuffers:    []vk.CommandBuffer{rec.cmd},
	}}
	if r := vk.QueueSubmit(d.queue, 1, si, rec.fence); r != vk.Success {
		return fmt.Errorf("gpu: vkQueueSubmit: %w", deviceError(r))
	}
	rec.pending = true
	return nil
}

// Wait blocks until a submitted run has finished.
func (rec *Recording) Wait() error {
	defer pauseGC()()
	if !rec.pending {
		return nil
	}
	rec.pending = false
	r := vk.WaitForFences(rec.d.h, 1, []vk.Fence{rec.fence}, vk.True, uint64(FenceTimeout.Nanoseconds()))
	if r == vk.Timeout {
		return fmt.Errorf("gpu: the device did not finish a recording within %v: %w", FenceTimeout, ErrHung)
	}
	if r != vk.Success {
		return fmt.Errorf("gpu: vkWaitForFences: %w", deviceError(r))
	}
	return nil
}

// Run submits the recording and waits for it to finish.
func (rec *Recording) Run() error {
	if err := rec.Submit(); err != nil {
		return err
	}
	return rec.Wait()
}

// Close releases the recording's command buffer, fence and queries.
func (rec *Recording) Close() {
	defer pauseGC()()
	if rec == nil || rec.cmd == nil || rec.d.closed {
		return
	}
	rec.Wait()
	rec.release()
	delete(rec.d.live, rec)
}

func (rec *Recording) release() {
	d := rec.d
	if rec.fence != nil {
		vk.DestroyFence(d.h, rec.fence, nil)
	}
	if rec.queries != nil {
		rec.queries.close()
	}
	vk.FreeCommandBuffers(d.h, d.cmdPool, 1, []vk.CommandBuffer{rec.cmd})
	rec.cmd = nil
}

func deviceError(r vk.Result) error {
	if r == vk.ErrorDeviceLost {
		return fmt.Errorf("device lost: %w", vk.Error(r))
	}
	return vk.Error(r)
}
