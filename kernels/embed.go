package kernels

import "fmt"

// Embed gathers rows of the embedding table and scales them (GEMMA3.md §1.1):
//
//	y[t][j] = E[ids[t]][j] * scale        y: [T, Cols]
//
// for tokens t in [t0, t1). An id outside the table is an error.
func Embed(y []float32, ids []int32, e *Weight, scale float32, t0, t1 int) error {
	n := e.Cols
	for t := t0; t < t1; t++ {
		id := int(ids[t])
		if id < 0 || id >= e.Rows {
			return fmt.Errorf("kernels: embed: token id %d outside the %d-row table", id, e.Rows)
		}
		row := y[t*n : (t+1)*n]
		e.DecodeRow(id, row)
		for j := range row {
			row[j] *= scale
		}
	}
	return nil
}
