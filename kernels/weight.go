package kernels

import (
	"fmt"

	"gemmavk/kernels/quant"
)

// Weight is a matrix of Rows rows by Cols columns in its file encoding: row
// r (one output feature of a linear layer, one token of an embedding table)
// is RowBytes consecutive bytes of Data, blocks running along the columns.
// This is PyTorch's [out, in] layout and ggml's ne = [in, out].
type Weight struct {
	Name string
	Type quant.Type
	Rows int
	Cols int
	Data []byte
}

// NewWeight checks that data holds exactly rows x cols elements of type t.
func NewWeight(name string, t quant.Type, rows, cols int, data []byte) (*Weight, error) {
	if !quant.Supported(t) {
		return nil, fmt.Errorf("kernels: weight %s: type %s not supported", name, t)
	}
	if rows <= 0 || cols <= 0 {
		return nil, fmt.Errorf("kernels: weight %s: shape [%d, %d] not positive", name, rows, cols)
	}
	rb, err := quant.RowBytes(t, cols)
	if err != nil {
		return nil, fmt.Errorf("kernels: weight %s: %w", name, err)
	}
	if int64(len(data)) != int64(rb)*int64(rows) {
		return nil, fmt.Errorf("kernels: weight %s: %d bytes, want %d for [%d, %d] %s", name, len(data), rb*rows, rows, cols, t)
	}
	return &Weight{Name: name, Type: t, Rows: rows, Cols: cols, Data: data}, nil
}

// RowBytes is the encoded size of one row.
func (w *Weight) RowBytes() int { return len(w.Data) / w.Rows }

// q6KDeviceBlock is the bytes a Q6_K block takes in device memory.
const q6KDeviceBlock = 224

// q40Group is how many Q4_0 blocks device memory regroups together:
// q40Group·18 = 144 bytes, nine 16-byte words.
const q40Group = 8

// DeviceBlockBytes is how many bytes a block of t takes in device memory:
// its encoded size, except Q6_K's 210-byte blocks, which are padded to 224
// so that every block starts 16-byte aligned and its pieces load as whole
// 16-byte words (shaders/include/quant.glsl, q8dot.glsl). Its pieces keep
// their offsets; the 14 bytes after d are zero. (Q4_0 keeps 18 bytes a
// block but not their order: see DeviceData.)
func DeviceBlockBytes(t quant.Type) int {
	if t == quant.Q6_K {
		return q6KDeviceBlock
	}
	return t.BlockBytes()
}

// DeviceRowBytes is the stride of rows in device memory (DeviceData).
func (w *Weight) DeviceRowBytes() int {
	return w.Cols / w.Type.BlockElems() * DeviceBlockBytes(w.Type)
}

// DeviceBytes is the size of the weight in device memory: its rows, and
// for Q4_0 the rest of a last group of 8 blocks.
func (w *Weight) DeviceBytes() int64 {
	n := int64(w.DeviceRowBytes()) * int64(w.Rows)
	if w.Type == quant.Q4_0 {
		g := int64(q40Group * w.Type.BlockBytes())
		n = (n + g - 1) / g * g
	}
	return n
}

// DeviceData returns the weight in its device layout (DeviceBytes long):
//   - Q6_K: a copy with each block padded to 224 bytes (DeviceBlockBytes);
//   - Q4_0: a copy in which every 8 consecutive blocks of the weight
//     (counted across rows) take their 144 bytes as the 8 blocks' 16-byte
//     quant runs, then their 8 scales, so that the runs start 16-byte
//     aligned and load as one word each; block B's byte offset 18B still
//     names it (group 18B / 144, place B % 8), and a last partial group
//     is padded with zeros;
//   - other types: Data itself.
func (w *Weight) DeviceData() []byte {
	bb := w.Type.BlockBytes()
	n := len(w.Data) / bb
	switch w.Type {
	case quant.Q6_K:
		out := make([]byte, n*q6KDeviceBlock)
		for i := 0; i < n; i++ {
			copy(out[i*q6KDeviceBlock:], w.Data[i*bb:(i+1)*bb])
		}
		return out
	case quant.Q4_0:
		out := make([]byte, w.DeviceBytes())
		for i := 0; i < n; i++ {
			g := i / q40Group * q40Group * bb
			j := i % q40Group
			blk := w.Data[i*bb : (i+1)*bb]
			copy(out[g+16*j:], blk[2:])
			copy(out[g+16*q40Group+2*j:], blk[:2])
		}
		return out
	}
	return w.Data
}

// Row returns the encoded bytes of row r.
func (w *Weight) Row(r int) []byte {
	rb := w.RowBytes()
	return w.Data[r*rb : (r+1)*rb]
}

// DecodeRow writes row r as f32 values into dst (len Cols).
func (w *Weight) DecodeRow(r int, dst []float32) {
	quant.DequantizeRow(w.Type, w.Row(r), dst[:w.Cols])
}
