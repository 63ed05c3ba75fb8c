package gpu

import (
	"fmt"
	"log/slog"
	"strings"

	vk "github.com/goki/vulkan"
)

// ValidationLayer is the Khronos validation layer, enabled on request when
// it is installed.
const ValidationLayer = "VK_LAYER_KHRONOS_validation"

// InstanceOptions configures NewInstance.
type InstanceOptions struct {
	// Validation enables ValidationLayer when it is installed and collects
	// its messages (Instance.Messages).
	Validation bool
	Logger     *slog.Logger
}

// Instance is a Vulkan instance and the loader behind it.
type Instance struct {
	l          *loader
	h          vk.Instance
	log        *slog.Logger
	validating bool
	// layerVersion is the validation layer's spec version: a layer older
	// than an extension rejects its structures, so such extensions stay off
	// while validating.
	layerVersion uint32
	debug        *debugSink
}

// NewInstance loads the Vulkan loader and creates an instance. Without
// Vulkan it returns an error wrapping ErrNoDevice.
func NewInstance(opts InstanceOptions) (*Instance, error) {
	defer pauseGC()()
	l, err := loadOnce()
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	in := &Instance{l: l, log: log}

	var layers, exts []string
	availExt := map[string]bool{}
	var n uint32
	if r := vk.EnumerateInstanceExtensionProperties("", &n, nil); r == vk.Success && n > 0 {
		props := make([]vk.ExtensionProperties, n)
		vk.EnumerateInstanceExtensionProperties("", &n, props)
		for _, p := range props[:n] {
			p.Deref()
			availExt[vk.ToString(p.ExtensionName[:])] = true
		}
	}
	if v := instanceLayer(ValidationLayer); opts.Validation && v != 0 && availExt["VK_EXT_debug_report"] {
		layers = append(layers, ValidationLayer)
		exts = append(exts, "VK_EXT_debug_report")
		in.validating = true
		in.layerVersion = v
	}
	var flags vk.InstanceCreateFlags
	if availExt["VK_KHR_portability_enumeration"] {
		exts = append(exts, "VK_KHR_portability_enumeration")
		flags |= 0x1 // VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR
	}
	info := vk.InstanceCreateInfo{
		SType: vk.StructureTypeInstanceCreateInfo,
		Flags: flags,
		PApplicationInfo: &vk.ApplicationInfo{
			SType:            vk.StructureTypeApplicationInfo,
			PApplicationName: "gemmavk\x00",
			PEngineName:      "gemmavk\x00",
			ApiVersion:       vk.MakeVersion(1, 3, 0),
		},
		EnabledLayerCount:       uint32(len(layers)),
		PpEnabledLayerNames:     cStrings(layers),
		EnabledExtensionCount:   uint32(len(exts)),
		PpEnabledExtensionNames: cStrings(exts),
	}
	var h vk.Instance
	if r := vk.CreateInstance(&info, nil, &h); r != vk.Success {
		return nil, fmt.Errorf("%w: vkCreateInstance: %v", ErrNoDevice, vk.Error(r))
	}
	in.h = h
	if err := vk.InitInstance(h); err != nil {
		vk.DestroyInstance(h, nil)
		return nil, fmt.Errorf("%w: load instance functions: %v", ErrNoDevice, err)
	}
	if in.validating {
		sink, err := newDebugSink(h, log)
		if err != nil {
			vk.DestroyInstance(h, nil)
			return nil, err
		}
		in.debug = sink
	}
	log.Debug("vulkan instance", "validation", in.validating, "layers", strings.Join(layers, ","))
	return in, nil
}

// Validating reports whether the validation layer is active.
func (in *Instance) Validating() bool { return in.validating }

// Messages returns the validation messages reported so far.
func (in *Instance) Messages() []string {
	if in.debug == nil {
		return nil
	}
	return in.debug.messages()
}

// Close destroys the instance. Devices opened from it must be closed first.
func (in *Instance) Close() {
	defer pauseGC()()
	if in == nil || in.h == nil {
		return
	}
	if in.debug != nil {
		in.debug.close(in.h)
	}
	vk.DestroyInstance(in.h, nil)
	in.h = nil
}

// instanceLayer returns the spec version of an installed layer, or 0.
func instanceLayer(name string) uint32 {
	var n uint32
	if vk.EnumerateInstanceLayerProperties(&n, nil) != vk.Success || n == 0 {
		return 0
	}
	props := make([]vk.LayerProperties, n)
	vk.EnumerateInstanceLayerProperties(&n, props)
	for _, p := range props[:n] {
		p.Deref()
		if vk.ToString(p.LayerName[:]) == name {
			return p.SpecVersion
		}
	}
	return 0
}

// cStrings NUL-terminates names for the bindings.
func cStrings(names []string) []string {
	out := make([]string, len(names))
	for i, s := range names {
		out[i] = s + "\x00"
	}
	return out
}
