package gemma3

import (
	"testing"

	"gemmavk/internal/testutil"
)

// realModel opens the fetched Gemma 3 270M Q4_K_M GGUF.
func realModel(t *testing.T) *Model {
	t.Helper()
	m, err := Load(testutil.AssetPath(t, "models/gemma-3-270m-q4_k_m.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}
