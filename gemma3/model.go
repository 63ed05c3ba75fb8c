package gemma3

import (
	"fmt"

	"gemmavk/internal/checkpoint"
	"gemmavk/tokenizer"
)

// Model is a loaded Gemma 3 text model: configuration, weights (mapped from
// the file, not copied) and, when the checkpoint has one, its tokenizer.
type Model struct {
	Config    Config
	Weights   *Weights
	Tokenizer *tokenizer.Tokenizer // nil for an HF directory without tokenizer.json
	closers   checkpoint.Closers
}

// Load opens a model: a GGUF file, or an HF checkpoint directory holding
// config.json and safetensors.
func Load(path string) (*Model, error) {
	m, err := checkpoint.Open(path, loadHF, loadGGUF)
	if err != nil {
		return nil, fmt.Errorf("gemma3: %w", err)
	}
	return m, nil
}

// Close releases the mapped files. The model must not be used afterwards.
func (m *Model) Close() error {
	return m.closers.Close()
}

// WeightBytes is the size of all weight matrices in their file encoding.
func (m *Model) WeightBytes() int64 {
	w := m.Weights
	n := int64(len(w.Embed.Data))
	if w.Output != nil {
		n += int64(len(w.Output.Data))
	}
	for _, l := range w.Layers {
		for _, x := range []int{len(l.QProj.Data), len(l.KProj.Data), len(l.VProj.Data), len(l.OProj.Data),
			len(l.Gate.Data), len(l.Up.Data), len(l.Down.Data)} {
			n += int64(x)
		}
	}
	return n
}
