package tokenizer

import "sort"

// specialMatcher finds control, unknown and user-defined pieces written in
// the text (FORMATS.md §4.4 step 1) with a byte trie. User-defined pieces
// always match; control and unknown pieces only when special parsing is on.
type specialMatcher struct {
	root  [256]int32  // child node of the root per first byte; 0 = none
	nodes []trieNode  // nodes[0] is the root
	edges []trieEdges // per node, sorted outgoing edges below the root
}

type trieNode struct {
	id     int32 // piece ending here, -1 if none
	always bool  // the piece is user-defined (matched even without parseSpecial)
}

type trieEdge struct {
	b    byte
	next int32
}

type trieEdges []trieEdge

func (e trieEdges) find(b byte) int32 {
	for _, x := range e {
		if x.b == b {
			return x.next
		}
	}
	return 0
}

// isSpecialType reports whether pieces of type ty are split out of the text
// before merging (llama.cpp's special-token cache).
func isSpecialType(ty TokenType) bool {
	return ty == TypeControl || ty == TypeUnknown || ty == TypeUserDefined
}

func newSpecialMatcher(pieces []string, types []TokenType) specialMatcher {
	m := specialMatcher{nodes: []trieNode{{id: -1}}, edges: []trieEdges{nil}}
	for id, p := range pieces {
		if !isSpecialType(types[id]) || p == "" {
			continue
		}
		node := int32(0)
		for i := 0; i < len(p); i++ {
			var next int32
			if node == 0 {
				next = m.root[p[i]]
			} else {
				next = m.edges[node].find(p[i])
			}
			if next == 0 {
				next = int32(len(m.nodes))
				m.nodes = append(m.nodes, trieNode{id: -1})
				m.edges = append(m.edges, nil)
				if node == 0 {
					m.root[p[i]] = next
				} else {
					m.edges[node] = append(m.edges[node], trieEdge{p[i], next})
				}
			}
			node = next
		}
		m.nodes[node] = trieNode{id: int32(id), always: types[id] == TypeUserDefined}
	}
	for _, e := range m.edges {
		sort.Slice(e, func(i, j int) bool { return e[i].b < e[j].b })
	}
	return m
}

// longest returns the id and byte length of the longest acceptable piece
// starting at text[i:], or (-1, 0).
func (m *specialMatcher) longest(text string, i int, parseSpecial bool) (int32, int) {
	node := m.root[text[i]]
	if node == 0 {
		return -1, 0
	}
	best, bestLen := int32(-1), 0
	for j := i + 1; ; j++ {
		if nd := m.nodes[node]; nd.id >= 0 && (parseSpecial || nd.always) {
			best, bestLen = nd.id, j-i
		}
		if j == len(text) {
			break
		}
		node = m.edges[node].find(text[j])
		if node == 0 {
			break
		}
	}
	return best, bestLen
}

// split partitions text into raw fragments and special pieces, scanning left
// to right and taking the longest piece at the leftmost position where one
// starts (Hugging Face's leftmost-longest added-token match). llama.cpp
// instead splits on each special piece in order of decreasing length; the
// two agree whenever no two matches overlap, which holds for the Gemma
// vocabulary. emit is called in order with either a non-empty raw fragment
// (id < 0) or a piece id.
func (m *specialMatcher) split(text string, parseSpecial bool, emit func(raw string, id int32)) {
	start := 0
	for i := 0; i < len(text); {
		id, n := m.longest(text, i, parseSpecial)
		if id < 0 {
			i++
			continue
		}
		if start < i {
			emit(text[start:i], -1)
		}
		emit("", id)
		i += n
		start = i
	}
	if start < len(text) {
		emit(text[start:], -1)
	}
}
