package kernels

import (
	"bytes"
	"fmt"
	"testing"

	"gemmavk/gpu"
	"gemmavk/internal/testutil"
	"gemmavk/internal/vktest"
)

// Tolerance: attnTol (f32 arithmetic in another order, f16-exact caches;
// the merges add one rescale per subgroup and split).
func TestAttentionDecodeVulkan(t *testing.T) {
	d := vktest.Device(t)
	for _, tc := range []struct {
		attnCase
		splits int
	}{
		// The first token: one key, most splits empty.
		{attnCase{d: 256, nH: 8, nKV: 4, slots: 64, p0: 0, T: 1}, 4},
		// Global over 301 keys, GQA 2 and 4, uneven splits.
		{attnCase{d: 256, nH: 8, nKV: 4, slots: 512, p0: 300, T: 1}, 7},
		{attnCase{d: 128, nH: 4, nKV: 1, slots: 400, p0: 250, T: 1}, 10},
		// Sliding window over a wrapped ring, one split and several.
		{attnCase{d: 128, nH: 8, nKV: 4, window: 16, slots: 16, p0: 45, T: 1}, 1},
		{attnCase{d: 256, nH: 4, nKV: 2, window: 100, slots: 100, p0: 350, T: 1}, 5},
		// More splits than keys; the tiny models' head dim; f32 caches.
		{attnCase{d: 32, nH: 4, nKV: 2, slots: 64, p0: 20, T: 1}, 64},
		{attnCase{d: 128, nH: 8, nKV: 4, window: 64, slots: 64, p0: 190, T: 1, f32: true}, 3},
		// A peaked softmax.
		{attnCase{d: 128, nH: 4, nKV: 2, window: 16, slots: 16, p0: 33, T: 1, scale: 1}, 2},
	} {
		t.Run(fmt.Sprintf("%v/splits=%d", tc.attnCase, tc.splits), func(t *testing.T) {
			c := tc.attnCase
			if !AttentionDecodeSupported(d.Caps(), c.attn()) {
				t.Fatalf("unsupported on %s", d.Info.Name)
			}
			in := c.inputs()
			want := c.want(in)
			ds, err := AttentionDecodeVk(d.Caps(), c.attn(), tc.splits, AttnOpts{CacheF32: c.f32})
			if err != nil {
				t.Fatal(err)
			}
			bufs := append(c.bufs(in, AttentionDecodeScratch(c.attn(), tc.splits)),
				vktest.Poisoned(4*len(want)), make([]byte, 4*c.nKV))
			b := newVkBufs(t, d, bufs...)
			run := b.record(vkPass{ds, []int{0, 1, 2, 3, 4, 5, 6, 7, 8}})
			// Twice: the last workgroup of each kv head must leave its
			// counter at zero for the next replay.
			for rep := 0; rep < 2; rep++ {
				b.upload(7, vktest.Poisoned(4*len(want)))
				b.run(run)
				testutil.CheckClose(t, fmt.Sprintf("attention, run %d", rep), vktest.Floats(b.download(7)), want, attnTol)
				if cnt := b.download(8); !bytes.Equal(cnt, make([]byte, 4*c.nKV)) {
					t.Fatalf("run %d: counters left at %v", rep, vktest.Ints(cnt))
				}
			}
			for i, name := range []string{"q", "k", "v", "ck", "cv", "pos"} {
				if !bytes.Equal(b.download(i), bufs[i]) {
					t.Errorf("%s changed", name)
				}
			}
		})
	}
}

// TestAttentionDecodeLowering checks which shapes the lowering takes.
func TestAttentionDecodeLowering(t *testing.T) {
	caps := gpu.Caps{SubgroupSize: 32, MaxWorkgroupInvocations: 1024, MaxSharedMemory: 48 << 10, SubgroupArithmetic: true}
	for _, c := range []struct {
		name string
		a    Attn
		want bool
	}{
		{"4b", Attn{Heads: 8, KVHeads: 4, HeadDim: 256, Scale: 1, Slots: 8}, true},
		{"1b", Attn{Heads: 4, KVHeads: 1, HeadDim: 256, Scale: 1, Slots: 8}, true},
		{"siglip-dim", Attn{Heads: 4, KVHeads: 1, HeadDim: 72, Scale: 1, Slots: 8}, false},
		{"wide-group", Attn{Heads: 32, KVHeads: 1, HeadDim: 256, Scale: 1, Slots: 8}, false},
		{"bad-heads", Attn{Heads: 6, KVHeads: 4, HeadDim: 256, Scale: 1, Slots: 8}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := AttentionDecodeSupported(caps, c.a); got != c.want {
				t.Errorf("supported = %v, want %v", got, c.want)
			}
			if _, err := AttentionDecodeVk(caps, c.a, 4, AttnOpts{}); (err == nil) != c.want {
				t.Errorf("AttentionDecodeVk: err = %v", err)
			}
		})
	}
	if _, err := AttentionDecodeVk(caps, Attn{Heads: 8, KVHeads: 4, HeadDim: 256, Scale: 1, Slots: 8}, 4, AttnOpts{Spans: true}); err == nil {
		t.Error("spans accepted")
	}
	for keys, want := range map[int]int{1: 1, 32: 1, 33: 2, 136: 5, 1025: 33, 100000: 64} {
		if got := AttentionDecodeSplits(keys); got != want {
			t.Errorf("AttentionDecodeSplits(%d) = %d, want %d", keys, got, want)
		}
	}
}
