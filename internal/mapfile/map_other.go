//go:build !unix

package mapfile

import "os"

// Map reads the whole file into memory on platforms where it
// does not use mmap. The returned release function does nothing.
func Map(path string) ([]byte, func() error, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	return data, func() error { return nil }, nil
}
