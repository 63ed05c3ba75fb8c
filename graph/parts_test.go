package graph

import (
	"testing"

	"gemmavk/gpu"
)

// TestPartRows checks how a weight is cut into bindings: whole when it
// fits the binding range with 144 bytes to spare (a Q4_0 weight's last
// group of blocks, which the last part also binds), else in parts of a
// multiple of 256 rows that fit with the same room; a row larger than
// the range is an error.
func TestPartRows(t *testing.T) {
	for _, tc := range []struct {
		name           string
		limit          uint64
		rows, rowBytes int
		want           int
		wantErr        bool
	}{
		{"no limit known", 0, 262144, 1440, 262144, false},
		{"fits", 1 << 20, 512, 1440, 512, false},
		{"fits but for the tail", 512*1440 + 100, 512, 1440, 256, false},
		{"parts", 1 << 20, 4096, 1440, 512, false},
		{"row too large", 1000, 4, 1440, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := partRows(gpu.Caps{MaxStorageRange: tc.limit}, tc.rows, tc.rowBytes)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("partRows = %d, %v; want %d (error %v)", got, err, tc.want, tc.wantErr)
			}
			if got > 0 && got < tc.rows && (got%256 != 0 || int64(got)*int64(tc.rowBytes)+144 > int64(tc.limit)) {
				t.Errorf("parts of %d rows of %d bytes in a range of %d", got, tc.rowBytes, tc.limit)
			}
		})
	}
}
