package graph

import (
	"fmt"
	"sync"
	"unsafe"

	"gemmavk/gpu"
	"gemmavk/kernels"
)

// DeviceWeights holds weights (and RoPE tables) uploaded to one device, for
// any number of Vulkan executors on that device to share: several sessions
// of one model then keep one copy of the weights in device memory, each
// with its own plans and KV cache. Pass it as VulkanOptions.Weights; an
// executor without one uploads into a store of its own.
//
// Uploads happen on first use by a plan, keyed by the weight's identity
// (*kernels.Weight, or a vector's first element), so executors share only
// what they share by pointer: sessions of one loaded model. Its methods are
// safe for concurrent use, though the device itself wants one user at a time.
type DeviceWeights struct {
	dev *gpu.Device
	// OnUpload, when set, is called after each upload with the bytes
	// uploaded so far (a progress report).
	OnUpload func(uploaded uint64)

	mu       sync.Mutex
	bufs     map[any]gpu.Buffer
	tables   map[[3]float64]gpu.Buffer
	uploaded uint64
}

// NewDeviceWeights returns an empty store on d.
func NewDeviceWeights(d *gpu.Device) *DeviceWeights {
	return &DeviceWeights{dev: d, bufs: map[any]gpu.Buffer{}, tables: map[[3]float64]gpu.Buffer{}}
}

// Device returns the store's device.
func (w *DeviceWeights) Device() *gpu.Device { return w.dev }

// Bytes is the device memory the uploaded weights take (tables excluded).
func (w *DeviceWeights) Bytes() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	var n uint64
	for _, b := range w.bufs {
		n += b.Size
	}
	return n
}

// Close frees every upload. Executors using the store must be closed first.
func (w *DeviceWeights) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range w.bufs {
		w.dev.Free(b)
	}
	for _, b := range w.tables {
		w.dev.Free(b)
	}
	w.bufs, w.tables, w.uploaded = map[any]gpu.Buffer{}, map[[3]float64]gpu.Buffer{}, 0
}

// weight uploads (once) and returns the buffer of a weight tensor.
func (w *DeviceWeights) weight(t *Tensor, onUpload func(bytes int64)) (gpu.Buffer, error) {
	var key any
	var data []byte
	switch {
	case t.Matrix != nil:
		key, data = t.Matrix, t.Matrix.DeviceData()
	case len(t.Vector) > 0:
		key = &t.Vector[0]
		data = unsafe.Slice((*byte)(unsafe.Pointer(&t.Vector[0])), 4*len(t.Vector))
	default:
		return gpu.Buffer{}, fmt.Errorf("weight %s has no data", t.Name)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if b, ok := w.bufs[key]; ok {
		return b, nil
	}
	b, err := w.upload(data)
	if err != nil {
		return gpu.Buffer{}, fmt.Errorf("upload %s: %w", t.Name, err)
	}
	w.bufs[key] = b
	w.uploaded += uint64(len(data))
	if w.OnUpload != nil {
		w.OnUpload(w.uploaded)
	}
	if onUpload != nil {
		onUpload(int64(len(data)))
	}
	return b, nil
}

// invFreq uploads (once) RoPE's inverse frequencies for one geometry.
func (w *DeviceWeights) invFreq(r RopeAttr) (gpu.Buffer, error) {
	key := [3]float64{float64(r.HeadDim), r.Base, r.Factor}
	w.mu.Lock()
	defer w.mu.Unlock()
	if b, ok := w.tables[key]; ok {
		return b, nil
	}
	inv := kernels.RoPEInvFreq(r.HeadDim, r.Base, r.Factor)
	b, err := w.upload(unsafe.Slice((*byte)(unsafe.Pointer(&inv[0])), 4*len(inv)))
	if err != nil {
		return gpu.Buffer{}, err
	}
	w.tables[key] = b
	return b, nil
}

func (w *DeviceWeights) upload(data []byte) (gpu.Buffer, error) {
	b, err := w.dev.Alloc(uint64(len(data)), gpu.DeviceLocal)
	if err != nil {
		return gpu.Buffer{}, err
	}
	if err := w.dev.Upload(b, data); err != nil {
		w.dev.Free(b)
		return gpu.Buffer{}, err
	}
	return b, nil
}
