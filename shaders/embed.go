// Package shaders holds the GLSL compute shaders of the kernel library and
// their compiled SPIR-V, embedded so that building needs no shader
// compiler. `go generate ./shaders` runs tools/spirv, which compiles every
// variant declared in the sources and rewrites spv/.
//
// A source declares its variants in header lines:
//
//	//! variant rmsnorm_f32
//	//! variant matvec_q4_0 TYPE_Q4_0 BLOCK=32
//	//! requires coopmat
//
// Each variant is compiled with its defines (NAME or NAME=VALUE). A
// "requires" line names device capabilities (float16, storage16, coopmat,
// intdot, subgroup) without which the pipeline cannot be created.
package shaders

import (
	"embed"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
)

//go:generate go run ../tools/spirv

//go:embed spv
var files embed.FS

// ManifestFile is the manifest's path inside spv/.
const ManifestFile = "manifest.json"

// Manifest lists the compiled variants.
type Manifest struct {
	Compiler string  `json:"compiler"`
	Shaders  []Entry `json:"shaders"`
}

// Entry describes one compiled variant.
type Entry struct {
	Name     string   `json:"name"`
	Source   string   `json:"source"`
	Defines  []string `json:"defines,omitempty"`
	Bindings int      `json:"bindings"`
	Requires []string `json:"requires,omitempty"`
	SHA256   string   `json:"sha256"`
}

// Shader is one variant with its SPIR-V.
type Shader struct {
	Entry
	SPIRV []byte
}

var manifest = sync.OnceValues(func() (map[string]Entry, error) {
	raw, err := files.ReadFile("spv/" + ManifestFile)
	if err != nil {
		return nil, fmt.Errorf("shaders: read manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("shaders: parse manifest: %w", err)
	}
	out := make(map[string]Entry, len(m.Shaders))
	for _, e := range m.Shaders {
		out[e.Name] = e
	}
	return out, nil
})

// Lookup returns the variant called name.
func Lookup(name string) (Shader, error) {
	m, err := manifest()
	if err != nil {
		return Shader{}, err
	}
	e, ok := m[name]
	if !ok {
		return Shader{}, fmt.Errorf("shaders: no variant %q", name)
	}
	code, err := files.ReadFile("spv/" + name + ".spv")
	if err != nil {
		return Shader{}, fmt.Errorf("shaders: %s: %w", name, err)
	}
	return Shader{Entry: e, SPIRV: code}, nil
}

// Names returns every variant name, sorted.
func Names() ([]string, error) {
	m, err := manifest()
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}
