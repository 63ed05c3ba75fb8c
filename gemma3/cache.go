package gemma3

import "fmt"

// Cache is one sequence's KV cache on the CPU: per layer, keys (after
// k_norm and RoPE) and values, [slots, nKV*D] each, in f32. Global layers
// keep the whole requested context; sliding layers a ring of W slots, since
// a query never looks further back (GEMMA3.md §4).
type Cache struct {
	Ctx   int   // positions the cache can hold
	Slots []int // rows per layer
	K, V  [][]float32
}

// cacheSlots returns the rows each layer's cache needs for ctx positions:
// the context on global layers, min(W, ctx) on sliding ones.
func (m *Model) cacheSlots(ctx int) ([]int, error) {
	c := &m.Config
	if ctx <= 0 || ctx > c.MaxPositions {
		return nil, fmt.Errorf("gemma3: context %d outside 1..%d (the model's trained length)", ctx, c.MaxPositions)
	}
	slots := make([]int, c.Layers)
	for i, kind := range c.Kinds {
		slots[i] = ctx
		if kind == Sliding && c.SlidingWindow < ctx {
			slots[i] = c.SlidingWindow
		}
	}
	return slots, nil
}

// NewCache allocates a cache for ctx positions.
func (m *Model) NewCache(ctx int) (*Cache, error) {
	slots, err := m.cacheSlots(ctx)
	if err != nil {
		return nil, err
	}
	c := &m.Config
	kc := &Cache{Ctx: ctx, Slots: slots, K: make([][]float32, c.Layers), V: make([][]float32, c.Layers)}
	width := c.KVHeads * c.HeadDim
	for i := range slots {
		kc.K[i] = make([]float32, slots[i]*width)
		kc.V[i] = make([]float32, slots[i]*width)
	}
	return kc, nil
}

// Bytes is the cache's memory footprint.
func (kc *Cache) Bytes() int64 {
	var n int64
	for i := range kc.K {
		n += int64(len(kc.K[i])+len(kc.V[i])) * 4
	}
	return n
}

// states binds the cache buffers to the state names a step graph uses.
func (kc *Cache) states() map[string][]float32 {
	s := make(map[string][]float32, 2*len(kc.K))
	for i := range kc.K {
		kn, vn := cacheNames(i)
		s[kn], s[vn] = kc.K[i], kc.V[i]
	}
	return s
}
