package gemmavk

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"gemmavk/internal/testmodel"
)

func TestStopper(t *testing.T) {
	for _, c := range []struct {
		name   string
		stops  []string
		pieces []string
		want   string
		hit    bool
	}{
		{"none", nil, []string{"ab", "cd"}, "abcd", false},
		{"inside a piece", []string{"bc"}, []string{"abcd"}, "a", true},
		{"across pieces", []string{"bc"}, []string{"ab", "cd"}, "a", true},
		{"held back then released", []string{"bx"}, []string{"ab", "cd"}, "abcd", false},
		{"earliest of several", []string{"d", "b"}, []string{"abcd"}, "a", true},
		{"partial at the end", []string{"cde"}, []string{"ab", "cd"}, "abcd", false},
		{"empty stop ignored", []string{""}, []string{"ab"}, "ab", false},
		{"multibyte", []string{"é!"}, []string{"caf", "é", "!", "x"}, "caf", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newStopper(c.stops)
			var sb strings.Builder
			hit := false
			for _, p := range c.pieces {
				out, stop := s.push(p)
				sb.WriteString(out)
				if stop {
					hit = true
					break
				}
			}
			if !hit {
				sb.WriteString(s.flush(""))
			}
			if sb.String() != c.want || hit != c.hit {
				t.Fatalf("got %q (stop %v), want %q (stop %v)", sb.String(), hit, c.want, c.hit)
			}
		})
	}
}

func TestPieceLen(t *testing.T) {
	for _, c := range []struct{ n, chunk, want int }{
		{1000, 256, 256}, {300, 512, 256}, {44, 256, 32}, {1, 256, 1}, {7, 5, 5},
	} {
		if got := pieceLen(c.n, c.chunk); got != c.want {
			t.Errorf("pieceLen(%d, %d) = %d, want %d", c.n, c.chunk, got, c.want)
		}
	}
}

// TestTurnLockOrder checks that the turn goes to waiters in arrival order
// and that a waiter whose context ends leaves the line.
func TestTurnLockOrder(t *testing.T) {
	var l turnLock
	l.lock(context.Background())
	waiting := func() int {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.waiters)
	}
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	gone, cancel := context.WithCancel(context.Background())
	for i := range 4 {
		ctx := context.Background()
		if i == 2 {
			ctx = gone
		}
		n := waiting()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if l.lock(ctx) != nil {
				return
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			l.unlock()
		}()
		for waiting() == n {
			runtime.Gosched()
		}
	}
	cancel()
	for waiting() == 4 {
		runtime.Gosched()
	}
	l.unlock()
	wg.Wait()
	if len(order) != 3 || order[0] != 0 || order[1] != 1 || order[2] != 3 {
		t.Fatalf("turn order %v, want [0 1 3]", order)
	}
}

func TestDecodeDataURL(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 3, 2))
	img.Set(1, 1, color.RGBA{200, 10, 20, 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(buf.Bytes())
	got, err := DecodeDataURL("data:image/png;base64," + b64)
	if err != nil {
		t.Fatal(err)
	}
	if got.MIME != "image/png" || got.RGB.Bounds() != img.Bounds() || !sameColor(got.RGB.At(1, 1), img.At(1, 1)) {
		t.Fatalf("decoded %s %v, want the 3x2 PNG", got.MIME, got.RGB.Bounds())
	}
	for _, bad := range []string{
		"https://example.com/a.png",
		"data:image/png;base64",
		"data:text/plain;base64," + b64,
		"data:image/png;base64,!!!",
		"data:image/png;base64,aGVsbG8=",
	} {
		if _, err := DecodeDataURL(bad); !errors.Is(err, ErrBadImage) {
			t.Errorf("%.40q: error %v, want ErrBadImage", bad, err)
		}
	}
}

func sameColor(a, b color.Color) bool {
	r1, g1, b1, a1 := a.RGBA()
	r2, g2, b2, a2 := b.RGBA()
	return r1 == r2 && g1 == g2 && b1 == b2 && a1 == a2
}

// TestVulkanSharedWeights loads the tiny model on a Vulkan device: the
// upload is reported up to its end, and further sessions add KV caches but
// no weights.
func TestVulkanSharedWeights(t *testing.T) {
	g, err := testmodel.TextTiny()
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	var reports []Progress
	m, err := FromModel(g, Options{Device: "vulkan", Ctx: 64, Progress: func(p Progress) { reports = append(reports, p) }})
	if err != nil {
		if os.Getenv("GEMMAVK_REQUIRE_GPU") == "1" {
			t.Fatal(err)
		}
		t.Skipf("no Vulkan device: %v", err)
	}
	defer m.Close()
	if m.Info().Backend != "vulkan" || len(reports) == 0 {
		t.Fatalf("info %+v, %d progress reports", m.Info(), len(reports))
	}
	last := reports[len(reports)-1]
	if last.Stage != "upload" || last.Done != last.Total || last.Done < g.WeightBytes() {
		t.Fatalf("last progress report %+v, weights %d bytes", last, g.WeightBytes())
	}
	up := m.weights.Bytes()
	var ss []*Session
	for range 3 {
		s, err := m.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ss = append(ss, s)
	}
	ids := []int{2, 10, 11, 12}
	want, err := ss[0].Generate(context.Background(), ids, GenerateOptions{MaxTokens: 4})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ss[1:] {
		got, err := s.Generate(context.Background(), ids, GenerateOptions{MaxTokens: 4})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.IDs, want.IDs) {
			t.Fatalf("sessions disagree: %v and %v", got.IDs, want.IDs)
		}
	}
	if m.weights.Bytes() != up {
		t.Fatalf("weights grew from %d to %d bytes with more sessions", up, m.weights.Bytes())
	}
}
