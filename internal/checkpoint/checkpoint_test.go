package checkpoint

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gemmavk/gguf"
	"gemmavk/kernels/quant"
	"gemmavk/safetensors"
)

func f32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func TestFromSafetensors(t *testing.T) {
	dir := t.TempDir()
	vals := []float32{1, 2, 3, 4, 5, 6}
	err := safetensors.WriteFile(filepath.Join(dir, safetensors.SingleFileName), []safetensors.Tensor{
		safetensors.F32Tensor("w", []int{2, 3}, vals),
		safetensors.I64Tensor("ids", []int{2}, []int64{7, 8}),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"n": 3}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, set, err := OpenHF(dir, func(raw []byte) (string, error) { return string(raw), nil })
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	if cfg != `{"n": 3}` {
		t.Errorf("config %q", cfg)
	}
	tests := []struct {
		name    string
		ok      bool
		wantErr bool
		want    Tensor
	}{
		{name: "w", ok: true, want: Tensor{Type: quant.F32, Shape: []int{2, 3}, Data: f32Bytes(vals)}},
		{name: "absent"},
		{name: "ids", wantErr: true},
	}
	for _, tc := range tests {
		got, ok, err := FromSafetensors(set, tc.name)
		if (err != nil) != tc.wantErr || ok != tc.ok {
			t.Errorf("%s: ok %v err %v, want ok %v error %v", tc.name, ok, err, tc.ok, tc.wantErr)
			continue
		}
		if got.Type != tc.want.Type || !slices.Equal(got.Shape, tc.want.Shape) || !slices.Equal(got.Data, tc.want.Data) {
			t.Errorf("%s: got %v %v (%d bytes), want %v %v", tc.name, got.Type, got.Shape, len(got.Data), tc.want.Type, tc.want.Shape)
		}
	}

	parseErr := errors.New("bad config")
	_, _, err = OpenHF(dir, func([]byte) (int, error) { return 0, parseErr })
	if !errors.Is(err, parseErr) || !strings.HasPrefix(err.Error(), dir+": ") {
		t.Errorf("parse failure: %v", err)
	}
	if _, _, err := OpenHF(t.TempDir(), func([]byte) (int, error) { return 0, nil }); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("no config.json: %v, want not-exist", err)
	}
}

func TestFromGGUF(t *testing.T) {
	vals := []float32{1, 2, 3, 4, 5, 6}
	var w gguf.Writer
	if err := w.Add("general.architecture", "test"); err != nil {
		t.Fatal(err)
	}
	// ggml order: ne[0] = 3 (innermost), ne[1] = 2.
	if err := w.AddTensor("w", quant.F32, []uint64{3, 2}, f32Bytes(vals)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	f, err := OpenGGUF(path, func(f *gguf.File) (*gguf.File, error) { return f, nil })
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, ok, err := FromGGUF(f, "w")
	if err != nil || !ok {
		t.Fatalf("w: ok %v err %v", ok, err)
	}
	if got.Type != quant.F32 || !slices.Equal(got.Shape, []int{2, 3}) || !slices.Equal(got.Data, f32Bytes(vals)) {
		t.Errorf("w: got %v %v, want F32 [2 3] and the written bytes", got.Type, got.Shape)
	}
	if _, ok, err := FromGGUF(f, "absent"); ok || err != nil {
		t.Errorf("absent: ok %v err %v", ok, err)
	}

	buildErr := errors.New("not this model")
	if _, err := OpenGGUF(path, func(*gguf.File) (int, error) { return 0, buildErr }); !errors.Is(err, buildErr) || !strings.HasPrefix(err.Error(), path+": ") {
		t.Errorf("build failure: %v", err)
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	which := func(kind string) func(string) (string, error) {
		return func(p string) (string, error) { return kind + ":" + p, nil }
	}
	for _, tc := range []struct{ path, want string }{{dir, "dir:" + dir}, {file, "file:" + file}} {
		if got, err := Open(tc.path, which("dir"), which("file")); err != nil || got != tc.want {
			t.Errorf("Open(%s) = %q, %v; want %q", tc.path, got, err, tc.want)
		}
	}
	if _, err := Open(filepath.Join(dir, "none"), which("dir"), which("file")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing path: %v, want not-exist", err)
	}
}

func TestSameShape(t *testing.T) {
	tests := []struct {
		a, b []int
		want bool
	}{
		{[]int{1, 4}, []int{4}, true},
		{[]int{1, 1, 2, 3}, []int{2, 3}, true},
		{[]int{2, 3}, []int{3, 2}, false},
		{[]int{1}, []int{1}, true},
		{[]int{4, 1}, []int{4}, false},
	}
	for _, tc := range tests {
		if got := SameShape(tc.a, tc.b); got != tc.want {
			t.Errorf("SameShape(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestWalkAndLayerName(t *testing.T) {
	var got []string
	Walk([]string{"embed"}, []string{"blk.%d.q", "blk.%d.k"}, 2, func(s string, layer int) {
		got = append(got, LayerName(s, layer))
	})
	want := []string{"embed", "blk.0.q", "blk.0.k", "blk.1.q", "blk.1.k"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestClosers(t *testing.T) {
	var n int
	e := errors.New("close failed")
	c := Closers{closeFunc(func() error { n++; return nil }), closeFunc(func() error { n++; return e })}
	if err := c.Close(); !errors.Is(err, e) || n != 2 {
		t.Errorf("Close: %v after %d closes, want %v after 2", err, n, e)
	}
	if c != nil {
		t.Errorf("closers kept after Close: %d", len(c))
	}
	if err := c.Close(); err != nil || n != 2 {
		t.Errorf("second Close: %v, %d closes", err, n)
	}
}

type closeFunc func() error

func (f closeFunc) Close() error { return f() }
