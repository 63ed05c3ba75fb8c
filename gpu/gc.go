package gpu

import (
	"runtime/debug"
	"sync"
)

// The bindings convert Go slices of Vulkan structures into C memory whose
// release is tied to a finalizer on a value that becomes unreachable as
// soon as the conversion returns: a garbage collection during the Vulkan
// call can free memory the driver is still reading (seen as crashes inside
// vkCreateComputePipelines). Every exported entry point that reaches the
// bindings therefore runs with the collector paused. debug.SetGCPercent(-1)
// waits for a running cycle to finish and starts none, so no finalizer of a
// conversion made while paused can run before the call returns.
//
// The pause is process-wide, counted so that nested and concurrent entry
// points share it, and lasts only as long as the Vulkan calls.
var (
	gcMu    sync.Mutex
	gcDepth int
	gcSaved int
)

// pauseGC stops the collector until the returned function is called.
// Use: defer pauseGC()()
func pauseGC() (resume func()) {
	gcMu.Lock()
	if gcDepth == 0 {
		gcSaved = debug.SetGCPercent(-1)
	}
	gcDepth++
	gcMu.Unlock()
	return func() {
		gcMu.Lock()
		gcDepth--
		if gcDepth == 0 {
			debug.SetGCPercent(gcSaved)
		}
		gcMu.Unlock()
	}
}
