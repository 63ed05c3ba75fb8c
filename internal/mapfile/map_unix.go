//go:build unix

package mapfile

import (
	"fmt"
	"io"
	"math"
	"os"
	"syscall"
)

// Map maps a regular file read-only into memory and returns the bytes
// and a function that unmaps them. Empty files and non-regular files (pipes,
// devices) are read into memory instead, since they cannot be mapped.
func Map(path string) ([]byte, func() error, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	noop := func() error { return nil }
	if st.IsDir() {
		return nil, nil, fmt.Errorf("%s is a directory, not a file", path)
	}
	if !st.Mode().IsRegular() {
		data, err := io.ReadAll(f)
		if err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", path, err)
		}
		return data, noop, nil
	}
	size := st.Size()
	if size == 0 {
		return nil, noop, nil
	}
	if size < 0 || uint64(size) > math.MaxInt {
		return nil, nil, fmt.Errorf("%s: size %d too large to map", path, size)
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, fmt.Errorf("mmap %s: %w", path, err)
	}
	return data, func() error { return syscall.Munmap(data) }, nil
}
