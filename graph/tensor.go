package graph

import (
	"fmt"

	"gemmavk/kernels"
)

// DType is the element type of a non-weight tensor.
type DType int

// Element types of activations, inputs and state.
const (
	F32 DType = iota
	I32
)

func (d DType) String() string {
	if d == I32 {
		return "i32"
	}
	return "f32"
}

// Kind says who owns a tensor's memory and for how long.
type Kind int

// Tensor kinds.
const (
	// Weight: read-only model data (a matrix in file encoding, or an f32 vector).
	Weight Kind = iota
	// Input: per-step values supplied by the caller (token ids, positions).
	Input
	// Activation: intermediate values placed in the plan's arena.
	Activation
	// State: caller-owned buffers that persist across steps (the KV cache).
	State
)

func (k Kind) String() string {
	return [...]string{"weight", "input", "activation", "state"}[k]
}

// Tensor is a value in the graph. Shapes are row-major; activations are
// [rows, cols].
type Tensor struct {
	ID    int
	Name  string
	Kind  Kind
	DType DType
	Shape []int
	// Matrix is set for weight matrices kept in their file encoding.
	Matrix *kernels.Weight
	// Vector is set for f32 weight vectors (norm gains).
	Vector []float32
	// Output marks tensors the caller reads after a run; they stay live to
	// the end of the plan.
	Output bool
}

// Len is the number of elements.
func (t *Tensor) Len() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Rows is the leading dimension (1 for a scalar or vector).
func (t *Tensor) Rows() int {
	if len(t.Shape) < 2 {
		return 1
	}
	return t.Shape[0]
}

// Cols is the trailing dimension.
func (t *Tensor) Cols() int {
	if len(t.Shape) == 0 {
		return 1
	}
	return t.Shape[len(t.Shape)-1]
}

func (t *Tensor) String() string {
	return fmt.Sprintf("%s %s %s%v", t.Name, t.Kind, t.DType, t.Shape)
}
