package imageproc

import "testing"

// BenchmarkPreprocess896 preprocesses the 1800×600 fixture at Gemma 3's
// size, whole image and three Pan & Scan crops.
func BenchmarkPreprocess896(b *testing.B) {
	m := decodeFixture(b, "wide_1800x600")
	for b.Loop() {
		if _, err := Preprocess(m, Options{PanAndScan: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResize12MP shrinks a 4032×3024 (phone camera) image to 896×896.
func BenchmarkResize12MP(b *testing.B) {
	m := NewRGB(4032, 3024)
	for i := range m.Pix {
		m.Pix[i] = uint8(i * 7)
	}
	for b.Loop() {
		Resize(m, 896, 896)
	}
}
