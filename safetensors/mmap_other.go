//go:build !unix

package safetensors

import (
	"fmt"
	"io"
	"math"
	"os"
)

// mapFile reads the whole of fh into memory, for systems where this
// package does not use mmap. The release function is a no-op.
func mapFile(fh *os.File, size int64) ([]byte, func() error, error) {
	if size < 0 || size > math.MaxInt {
		return nil, nil, fmt.Errorf("file size %d cannot be read into memory", size)
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(fh, data); err != nil {
		return nil, nil, err
	}
	return data, func() error { return nil }, nil
}
