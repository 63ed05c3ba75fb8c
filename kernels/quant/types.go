package quant

import "fmt"

// Type is a ggml tensor element type, numbered as in ggml.h and the GGUF
// tensor-info records (FORMATS.md §1.7).
type Type uint32

// The ggml types this engine knows by id. Only some of them can be decoded
// (see Supported); the rest are listed so that files naming them get a clear
// "unsupported type" error instead of "invalid type".
const (
	F32    Type = 0
	F16    Type = 1
	Q4_0   Type = 2
	Q4_1   Type = 3
	Q5_0   Type = 6
	Q5_1   Type = 7
	Q8_0   Type = 8
	Q8_1   Type = 9
	Q2_K   Type = 10
	Q3_K   Type = 11
	Q4_K   Type = 12
	Q5_K   Type = 13
	Q6_K   Type = 14
	Q8_K   Type = 15
	IQ4_NL Type = 20
	IQ4_XS Type = 23
	I8     Type = 24
	I16    Type = 25
	I32    Type = 26
	I64    Type = 27
	F64    Type = 28
	BF16   Type = 30
)

// typeInfo is the block geometry of one type: elements per block and bytes
// per block.
type typeInfo struct {
	name       string
	blockElems int
	blockBytes int
}

// infos holds every type id a GGUF file may legally carry (ids that ggml
// removed, such as 4, 5, 31-33 and 36-38, are absent).
var infos = map[Type]typeInfo{
	0:  {"F32", 1, 4},
	1:  {"F16", 1, 2},
	2:  {"Q4_0", 32, 18},
	3:  {"Q4_1", 32, 20},
	6:  {"Q5_0", 32, 22},
	7:  {"Q5_1", 32, 24},
	8:  {"Q8_0", 32, 34},
	9:  {"Q8_1", 32, 36},
	10: {"Q2_K", 256, 84},
	11: {"Q3_K", 256, 110},
	12: {"Q4_K", 256, 144},
	13: {"Q5_K", 256, 176},
	14: {"Q6_K", 256, 210},
	15: {"Q8_K", 256, 292},
	16: {"IQ2_XXS", 256, 66},
	17: {"IQ2_XS", 256, 74},
	18: {"IQ3_XXS", 256, 98},
	19: {"IQ1_S", 256, 50},
	20: {"IQ4_NL", 32, 18},
	21: {"IQ3_S", 256, 110},
	22: {"IQ2_S", 256, 82},
	23: {"IQ4_XS", 256, 136},
	24: {"I8", 1, 1},
	25: {"I16", 1, 2},
	26: {"I32", 1, 4},
	27: {"I64", 1, 8},
	28: {"F64", 1, 8},
	29: {"IQ1_M", 256, 56},
	30: {"BF16", 1, 2},
	34: {"TQ1_0", 256, 54},
	35: {"TQ2_0", 256, 66},
	39: {"MXFP4", 32, 17},
	40: {"NVFP4", 64, 36},
	41: {"Q1_0", 128, 18},
	42: {"Q2_0", 64, 18},
}

// Known reports whether t is a type id a GGUF file may carry.
func (t Type) Known() bool { _, ok := infos[t]; return ok }

// String returns ggml's name for the type, or "type(N)" for unknown ids.
func (t Type) String() string {
	if in, ok := infos[t]; ok {
		return in.name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// BlockElems is the number of elements in one block of t (1 for plain types),
// or 0 for an unknown type.
func (t Type) BlockElems() int { return infos[t].blockElems }

// BlockBytes is the size in bytes of one block of t, or 0 for an unknown type.
func (t Type) BlockBytes() int { return infos[t].blockBytes }

// RowBytes is the byte size of a row of n elements of type t. It returns an
// error when t is unknown or n is not a whole number of blocks.
func RowBytes(t Type, n int) (int, error) {
	in, ok := infos[t]
	if !ok {
		return 0, fmt.Errorf("quant: unknown type %s", t)
	}
	if n < 0 || n%in.blockElems != 0 {
		return 0, fmt.Errorf("quant: row of %d elements is not a multiple of the %s block size %d", n, t, in.blockElems)
	}
	return n / in.blockElems * in.blockBytes, nil
}

// ParseType maps a ggml type name (case-sensitive, as ggml prints it) to its id.
func ParseType(name string) (Type, error) {
	for t, in := range infos {
		if in.name == name {
			return t, nil
		}
	}
	return 0, fmt.Errorf("quant: unknown type name %q", name)
}
