// Package testutil holds helpers shared by the tests of several packages:
// finding fetched assets, reading golden tensors, comparing with the
// fixtures' tolerance measure. Only tests import it.
package testutil

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"gemmavk/safetensors"
)

// RepoRoot is the module's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// AssetPath finds a file fetched by `make models` (tools/fetch-assets.sh)
// under GEMMAVK_CACHE or the repository's .cache. Without it the test skips,
// unless GEMMAVK_REQUIRE_ASSETS=1 (set by `make test` and CI) makes the
// absence a failure.
func AssetPath(t testing.TB, rel string) string {
	t.Helper()
	dir := os.Getenv("GEMMAVK_CACHE")
	if dir == "" {
		dir = filepath.Join(RepoRoot(), ".cache")
	}
	p := filepath.Join(dir, rel)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("GEMMAVK_REQUIRE_ASSETS") == "1" {
			t.Fatalf("%s missing (run make models): %v", p, err)
		}
		t.Skipf("%s missing; run make models", p)
	}
	return p
}

// tensor returns a tensor's description and bytes, failing the test when
// the file lacks it.
func tensor(t testing.TB, f *safetensors.File, name string) (safetensors.TensorInfo, []byte) {
	t.Helper()
	info, ok := f.Tensor(name)
	if !ok {
		t.Fatalf("%s: no tensor %q", f.Path(), name)
	}
	data, err := f.Data(name)
	if err != nil {
		t.Fatal(err)
	}
	return info, data
}

// Floats reads a tensor of a safetensors file as f32.
func Floats(t testing.TB, f *safetensors.File, name string) []float32 {
	t.Helper()
	v, err := safetensors.Float32s(tensor(t, f, name))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Ints reads an integer tensor of a safetensors file.
func Ints(t testing.TB, f *safetensors.File, name string) []int {
	t.Helper()
	v, err := safetensors.Int64s(tensor(t, f, name))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

// RelErr is max |got - want| / max |want|, the fixtures' tolerance measure
// (+Inf when the lengths differ or a value is NaN).
func RelErr(got, want []float32) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var maxErr, maxAbs float64
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		maxErr = math.Max(maxErr, d)
		maxAbs = math.Max(maxAbs, math.Abs(float64(want[i])))
	}
	return maxErr / maxAbs
}

// CheckClose fails the test when RelErr(got, want) exceeds tol, and logs
// the error otherwise.
func CheckClose(t testing.TB, what string, got, want []float32, tol float64) {
	t.Helper()
	if e := RelErr(got, want); !(e <= tol) {
		t.Errorf("%s: relative error %.3g > %.1g", what, e, tol)
	} else {
		t.Logf("%s: relative error %.3g", what, e)
	}
}
