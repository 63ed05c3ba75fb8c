package gpu

import (
	"fmt"
	"log/slog"
	"sync"
	"unsafe"

	vk "github.com/goki/vulkan"
)

// debugSink collects the validation layer's messages for one instance.
//
// The bindings route every debug-report callback through one process-wide
// Go function, so sinks are found by the token passed as user data.
type debugSink struct {
	mu    sync.Mutex
	msgs  []string
	log   *slog.Logger
	cb    vk.DebugReportCallback
	token unsafe.Pointer // C memory; its address names this sink
}

var (
	sinksMu sync.Mutex
	sinks   = map[uintptr]*debugSink{}
)

func debugCallback(flags vk.DebugReportFlags, _ vk.DebugReportObjectType, _ uint64, _ uint64,
	code int32, prefix, msg string, user unsafe.Pointer) vk.Bool32 {
	sinksMu.Lock()
	s := sinks[uintptr(user)]
	sinksMu.Unlock()
	if s == nil {
		return vk.False
	}
	text := fmt.Sprintf("%s [%d] %s", prefix, code, msg)
	s.mu.Lock()
	s.msgs = append(s.msgs, text)
	s.mu.Unlock()
	s.log.Warn("vulkan validation", "message", text)
	return vk.False
}

func newDebugSink(inst vk.Instance, log *slog.Logger) (*debugSink, error) {
	s := &debugSink{log: log, token: cAlloc(8)}
	sinksMu.Lock()
	sinks[uintptr(s.token)] = s
	sinksMu.Unlock()
	info := vk.DebugReportCallbackCreateInfo{
		SType: vk.StructureTypeDebugReportCallbackCreateInfo,
		Flags: vk.DebugReportFlags(vk.DebugReportErrorBit | vk.DebugReportWarningBit |
			vk.DebugReportPerformanceWarningBit),
		PfnCallback: debugCallback,
		PUserData:   s.token,
	}
	var cb = s.cb
	r := vk.CreateDebugReportCallback(inst, &info, nil, &cb)
	s.cb = cb
	if r != vk.Success {
		s.unregister()
		return nil, fmt.Errorf("vkCreateDebugReportCallbackEXT: %w", vk.Error(r))
	}
	return s, nil
}

func (s *debugSink) messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.msgs...)
}

func (s *debugSink) unregister() {
	sinksMu.Lock()
	delete(sinks, uintptr(s.token))
	sinksMu.Unlock()
	cFree(s.token)
}

func (s *debugSink) close(inst vk.Instance) {
	vk.DestroyDebugReportCallback(inst, s.cb, nil)
	s.unregister()
}
