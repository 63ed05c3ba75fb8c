package gemma3

import (
	"testing"

	"gemmavk/internal/testutil"
)

// BenchmarkReal270M measures the CPU executor on the real 270M Q4_K_M
// file: prefill of 128 tokens, and single-token decode steps.
func BenchmarkReal270M(b *testing.B) {
	m, err := Load(testutil.AssetPath(b, "models/gemma-3-270m-q4_k_m.gguf"))
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	prompt := make([]int, 128)
	for i := range prompt {
		prompt[i] = 1000 + i*37
	}
	b.Run("pp128", func(b *testing.B) {
		s, err := m.NewSession(Options{Ctx: 256, Chunk: 128})
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			s.Reset()
			if _, err := s.Feed(prompt); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*len(prompt))/b.Elapsed().Seconds(), "tok/s")
	})
	b.Run("tg", func(b *testing.B) {
		s, err := m.NewSession(Options{Ctx: 4096})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Feed(prompt[:16]); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if s.Pos() == s.Ctx() {
				s.Reset()
			}
			if _, err := s.Feed([]int{4000}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tok/s")
	})
}
