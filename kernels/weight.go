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

// Row returns the encoded bytes of row r.
func (w *Weight) Row(r int) []byte {
	rb := w.RowBytes()
	return w.Data[r*rb : (r+1)*rb]
}

// DecodeRow writes row r as f32 values into dst (len Cols).
func (w *Weight) DecodeRow(r int, dst []float32) {
	quant.DequantizeRow(w.Type, w.Row(r), dst[:w.Cols])
}
