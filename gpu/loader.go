package gpu

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>

static void *gvk_open(const char *name) { return dlopen(name, RTLD_NOW | RTLD_LOCAL); }
static void *gvk_sym(void *lib, const char *name) { return dlsym(lib, name); }

// The trampolines below call Vulkan entry points that the bindings do not
// wrap (they cover Vulkan 1.0), through pointers from vkGetInstanceProcAddr.
typedef void *(*gvk_gipa_fn)(void *, const char *);
static void *gvk_gipa(void *fn, void *instance, const char *name) {
	return ((gvk_gipa_fn)fn)(instance, name);
}
typedef void (*gvk_void2_fn)(void *, void *);
static void gvk_call_void2(void *fn, void *a, void *b) { ((gvk_void2_fn)fn)(a, b); }
typedef int32_t (*gvk_res3_fn)(void *, void *, void *);
static int32_t gvk_call_res3(void *fn, void *a, void *b, void *c) { return ((gvk_res3_fn)fn)(a, b, c); }
*/
import "C"

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	vk "github.com/goki/vulkan"
)

// ErrNoDevice reports that Vulkan is not usable here: no loader library, no
// instance, or no physical device.
var ErrNoDevice = errors.New("no Vulkan device")

// loaderLibs are tried in order. The versioned name is what distributions
// install with the runtime package; the bare name comes only with -dev files.
var loaderLibs = []string{"libvulkan.so.1", "libvulkan.so"}

// The Vulkan loader is a process-wide library and the bindings keep one
// process-wide entry point, so loading happens once per process.
var loadOnce = sync.OnceValues(loadLoader)

type loader struct {
	gipa unsafe.Pointer // vkGetInstanceProcAddr
}

func loadLoader() (*loader, error) {
	for _, name := range loaderLibs {
		cname := C.CString(name)
		lib := C.gvk_open(cname)
		C.free(unsafe.Pointer(cname))
		if lib == nil {
			continue
		}
		sym := C.CString("vkGetInstanceProcAddr")
		gipa := C.gvk_sym(lib, sym)
		C.free(unsafe.Pointer(sym))
		if gipa == nil {
			return nil, fmt.Errorf("%w: %s has no vkGetInstanceProcAddr", ErrNoDevice, name)
		}
		vk.SetGetInstanceProcAddr(gipa)
		if err := vk.Init(); err != nil {
			return nil, fmt.Errorf("%w: initialise %s: %v", ErrNoDevice, name, err)
		}
		return &loader{gipa: gipa}, nil
	}
	return nil, fmt.Errorf("%w: cannot load %s", ErrNoDevice, loaderLibs[0])
}

// proc returns an instance-level entry point, or nil when absent.
func (l *loader) proc(instance vk.Instance, name string) unsafe.Pointer {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	return C.gvk_gipa(l.gipa, unsafe.Pointer(instance), cname)
}

// callVoid2 calls fn(a, b) for entry points returning void.
func callVoid2(fn, a, b unsafe.Pointer) { C.gvk_call_void2(fn, a, b) }

// callResult3 calls fn(a, b, c) for entry points returning VkResult.
func callResult3(fn, a, b, c unsafe.Pointer) vk.Result {
	return vk.Result(C.gvk_call_res3(fn, a, b, c))
}

// cAlloc returns zeroed C memory for structures handed to Vulkan with pNext
// chains, which must not live in Go memory.
func cAlloc(n int) unsafe.Pointer { return C.calloc(1, C.size_t(n)) }

func cFree(p unsafe.Pointer) { C.free(p) }
