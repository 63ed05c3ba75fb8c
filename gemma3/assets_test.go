package gemma3

import (
	"os"
	"path/filepath"
	"testing"
)

// assetPath finds a file fetched by `make models` (tools/fetch-assets.sh)
// under GEMMAVK_CACHE or the repository's .cache. Without it the test skips,
// unless GEMMAVK_REQUIRE_ASSETS=1 (set by `make test` and CI) makes the
// absence a failure.
func assetPath(t testing.TB, rel string) string {
	t.Helper()
	dir := os.Getenv("GEMMAVK_CACHE")
	if dir == "" {
		dir = filepath.Join("..", ".cache")
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

// assetPathB is assetPath for benchmarks.
func assetPathB(b *testing.B, rel string) string { return assetPath(b, rel) }

// realModel opens the Gemma 3 270M Q4_K_M GGUF once per test binary.
func realModel(t *testing.T) *Model {
	t.Helper()
	m, err := Load(assetPath(t, "models/gemma-3-270m-q4_k_m.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}
