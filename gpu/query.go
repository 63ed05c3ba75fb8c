package gpu

import (
	"fmt"
	"unsafe"

	vk "github.com/goki/vulkan"
)

// Timestamp is one labelled timestamp of a finished run, in nanoseconds
// since the recording's first timestamp.
type Timestamp struct {
	Label string
	Nanos float64
}

type queryPool struct {
	d *Device
	h vk.QueryPool
	n int
}

func newQueryPool(d *Device, n int) (*queryPool, error) {
	ci := vk.QueryPoolCreateInfo{
		SType:      vk.StructureTypeQueryPoolCreateInfo,
		QueryType:  vk.QueryTypeTimestamp,
		QueryCount: uint32(n),
	}
	q := &queryPool{d: d, n: n}
	var pool = q.h
	r := vk.CreateQueryPool(d.h, &ci, nil, &pool)
	q.h = pool
	if r != vk.Success {
		return nil, fmt.Errorf("gpu: vkCreateQueryPool: %w", vk.Error(r))
	}
	return q, nil
}

func (q *queryPool) close() { vk.DestroyQueryPool(q.d.h, q.h, nil) }

// Timestamps returns the timestamps of the last finished run. It is empty
// when the device's queue writes no timestamps.
func (rec *Recording) Timestamps() ([]Timestamp, error) {
	defer pauseGC()()
	if rec.queries == nil || len(rec.labels) == 0 {
		return nil, nil
	}
	n := len(rec.labels)
	buf := cAlloc(8 * n)
	defer cFree(buf)
	flags := vk.QueryResultFlags(vk.QueryResult64Bit | vk.QueryResultWaitBit)
	if r := vk.GetQueryPoolResults(rec.d.h, rec.queries.h, 0, uint32(n), uint64(8*n), buf, 8, flags); r != vk.Success {
		return nil, fmt.Errorf("gpu: vkGetQueryPoolResults: %w", vk.Error(r))
	}
	raw := unsafe.Slice((*uint64)(buf), n)
	period := float64(rec.d.Info.Caps.TimestampPeriod)
	out := make([]Timestamp, n)
	for i, t := range raw {
		out[i] = Timestamp{Label: rec.labels[i], Nanos: float64(t-raw[0]) * period}
	}
	return out, nil
}
