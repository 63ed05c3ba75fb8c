//go:build !unix

package gguf

import "os"

// mapFile reads the whole file into memory on platforms where this package
// does not use mmap. The returned release function does nothing.
func mapFile(path string) ([]byte, func() error, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	return data, func() error { return nil }, nil
}
