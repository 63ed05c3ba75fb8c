package gguf

import "math"

// Get returns the value stored under key.
func (f *File) Get(key string) (Value, bool) {
	if i, ok := f.kvIndex[key]; ok && i < len(f.KVs) && f.KVs[i].Key == key {
		return f.KVs[i].Value, true
	}
	if f.kvIndex != nil && len(f.kvIndex) == len(f.KVs) {
		return Value{}, false // index is complete: a miss is a miss
	}
	for _, kv := range f.KVs {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return Value{}, false
}

// String returns the STRING value stored under key.
func (f *File) String(key string) (string, bool) {
	v, ok := f.Get(key)
	if !ok {
		return "", false
	}
	s, ok := v.V.(string)
	return s, ok
}

// Uint returns the integer value stored under key, widened to uint64. Any
// unsigned integer type is accepted, and signed ones when non-negative.
func (f *File) Uint(key string) (uint64, bool) {
	v, ok := f.Get(key)
	if !ok {
		return 0, false
	}
	return asUint(v)
}

// Int returns the integer value stored under key, widened to int64. Any
// integer type is accepted; a UINT64 above math.MaxInt64 is not.
func (f *File) Int(key string) (int64, bool) {
	v, ok := f.Get(key)
	if !ok {
		return 0, false
	}
	return asInt(v)
}

// Float returns the numeric value stored under key as a float64: FLOAT32 and
// FLOAT64 values, and integer values converted (rounded if beyond 2^53).
func (f *File) Float(key string) (float64, bool) {
	v, ok := f.Get(key)
	if !ok {
		return 0, false
	}
	switch x := v.V.(type) {
	case float32:
		return float64(x), true
	case float64:
		return x, true
	}
	if i, ok := asInt(v); ok {
		return float64(i), true
	}
	if u, ok := asUint(v); ok {
		return float64(u), true
	}
	return 0, false
}

// Bool returns the BOOL value stored under key.
func (f *File) Bool(key string) (bool, bool) {
	v, ok := f.Get(key)
	if !ok {
		return false, false
	}
	b, ok := v.V.(bool)
	return b, ok
}

// Strings returns the ARRAY of STRING stored under key. The slice is shared
// with the File and must not be modified.
func (f *File) Strings(key string) ([]string, bool) {
	v, ok := f.Get(key)
	if !ok {
		return nil, false
	}
	s, ok := v.V.([]string)
	return s, ok
}

// Float32s returns the ARRAY of FLOAT32 stored under key. The slice is
// shared with the File and must not be modified.
func (f *File) Float32s(key string) ([]float32, bool) {
	v, ok := f.Get(key)
	if !ok {
		return nil, false
	}
	s, ok := v.V.([]float32)
	return s, ok
}

// Int32s returns the integer array stored under key as []int32. An INT32
// array is returned as is (shared with the File; do not modify it); an array
// of any other integer type is converted to a new slice, provided every
// element fits in an int32.
func (f *File) Int32s(key string) ([]int32, bool) {
	v, ok := f.Get(key)
	if !ok {
		return nil, false
	}
	switch s := v.V.(type) {
	case []int32:
		return s, true
	case []int8:
		return signedToInt32(s)
	case []int16:
		return signedToInt32(s)
	case []int64:
		return signedToInt32(s)
	case []uint8:
		return unsignedToInt32(s)
	case []uint16:
		return unsignedToInt32(s)
	case []uint32:
		return unsignedToInt32(s)
	case []uint64:
		return unsignedToInt32(s)
	}
	return nil, false
}

func signedToInt32[T int8 | int16 | int64](s []T) ([]int32, bool) {
	out := make([]int32, len(s))
	for i, x := range s {
		if int64(x) < math.MinInt32 || int64(x) > math.MaxInt32 {
			return nil, false
		}
		out[i] = int32(x)
	}
	return out, true
}

func unsignedToInt32[T uint8 | uint16 | uint32 | uint64](s []T) ([]int32, bool) {
	out := make([]int32, len(s))
	for i, x := range s {
		if uint64(x) > math.MaxInt32 {
			return nil, false
		}
		out[i] = int32(x)
	}
	return out, true
}

// asUint widens an unsigned scalar, or a non-negative signed one, to uint64.
func asUint(v Value) (uint64, bool) {
	switch x := v.V.(type) {
	case uint8:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint64:
		return x, true
	}
	if i, ok := asInt(v); ok && i >= 0 {
		return uint64(i), true
	}
	return 0, false
}

// asInt widens an integer scalar to int64; a uint64 above MaxInt64 fails.
func asInt(v Value) (int64, bool) {
	switch x := v.V.(type) {
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		if x > math.MaxInt64 {
			return 0, false
		}
		return int64(x), true
	}
	return 0, false
}

// typeName names a value's type for messages ("ARRAY of STRING").
func typeName(v Value) string {
	if v.Type == TypeArray {
		return "ARRAY of " + v.ArrayType.String()
	}
	return v.Type.String()
}
