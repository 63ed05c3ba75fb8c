package gpu

import (
	"encoding/binary"
	"fmt"
	"strings"
	"unsafe"

	vk "github.com/goki/vulkan"

	"gemmavk/shaders"
)

// PushSize is the push-constant range every pipeline layout declares: the
// minimum Vulkan guarantees. Kernels push at most this many bytes.
const PushSize = 128

// Pipeline is a compute pipeline for one shader variant and one set of
// specialization constants.
type Pipeline struct {
	Name     string
	Bindings int // storage buffers, at bindings 0..Bindings-1 of set 0

	h         vk.Pipeline
	layout    vk.PipelineLayout
	setLayout vk.DescriptorSetLayout
}

type pipelineKey struct {
	name string
	spec string
}

type pipelineCache struct {
	d       *Device
	cache   vk.PipelineCache
	pipes   map[pipelineKey]*Pipeline
	modules map[string]vk.ShaderModule
}

func newPipelineCache(d *Device) *pipelineCache {
	pc := &pipelineCache{d: d, pipes: map[pipelineKey]*Pipeline{}, modules: map[string]vk.ShaderModule{}}
	ci := vk.PipelineCacheCreateInfo{SType: vk.StructureTypePipelineCacheCreateInfo}
	var cache = pc.cache
	vk.CreatePipelineCache(d.h, &ci, nil, &cache)
	pc.cache = cache
	return pc
}

// Pipeline returns the pipeline for the shader variant name with the given
// specialization constants (constant_id 0, 1, … in order; floats as their
// bits). Pipelines are created once per device and cached.
func (d *Device) Pipeline(name string, spec ...uint32) (*Pipeline, error) {
	defer pauseGC()()
	key := pipelineKey{name, fmt.Sprint(spec)}
	if p, ok := d.pipes.pipes[key]; ok {
		return p, nil
	}
	sh, err := shaders.Lookup(name)
	if err != nil {
		return nil, err
	}
	if missing := d.missing(sh.Requires); len(missing) > 0 {
		return nil, fmt.Errorf("gpu: shader %s needs %s, which %s lacks", name, strings.Join(missing, ", "), d.Info.Name)
	}
	p, err := d.pipes.create(sh, spec)
	if err != nil {
		return nil, fmt.Errorf("gpu: pipeline %s: %w", name, err)
	}
	d.pipes.pipes[key] = p
	return p, nil
}

// Supports reports whether the device has every capability a shader
// variant requires.
func (d *Device) Supports(name string) bool {
	sh, err := shaders.Lookup(name)
	return err == nil && len(d.missing(sh.Requires)) == 0
}

func (d *Device) missing(reqs []string) []string {
	c := d.Info.Caps
	have := map[string]bool{
		"float16":   c.Float16,
		"storage16": c.Storage16,
		"storage8":  c.Storage8,
		"int8":      c.Int8,
		"coopmat":   c.CoopMat,
		"coopmat2":  c.CoopMat2,
		"intdot":    c.IntegerDot,
		"subgroup":  c.SubgroupArithmetic,
		"shuffle":   c.SubgroupShuffle,
	}
	var out []string
	for _, r := range reqs {
		if !have[r] {
			out = append(out, r)
		}
	}
	return out
}

func (pc *pipelineCache) module(sh shaders.Shader) (vk.ShaderModule, error) {
	if m, ok := pc.modules[sh.Name]; ok {
		return m, nil
	}
	words := make([]uint32, len(sh.SPIRV)/4)
	for i := range words {
		words[i] = binary.LittleEndian.Uint32(sh.SPIRV[4*i:])
	}
	ci := vk.ShaderModuleCreateInfo{
		SType:    vk.StructureTypeShaderModuleCreateInfo,
		CodeSize: uint64(len(sh.SPIRV)),
		PCode:    words,
	}
	var m vk.ShaderModule
	if r := vk.CreateShaderModule(pc.d.h, &ci, nil, &m); r != vk.Success {
		return m, fmt.Errorf("vkCreateShaderModule: %w", vk.Error(r))
	}
	pc.modules[sh.Name] = m
	return m, nil
}

func (pc *pipelineCache) create(sh shaders.Shader, spec []uint32) (*Pipeline, error) {
	dev := pc.d.h
	mod, err := pc.module(sh)
	if err != nil {
		return nil, err
	}
	p := &Pipeline{Name: sh.Name, Bindings: sh.Bindings}
	binds := make([]vk.DescriptorSetLayoutBinding, sh.Bindings)
	for i := range binds {
		binds[i] = vk.DescriptorSetLayoutBinding{
			Binding:         uint32(i),
			DescriptorType:  vk.DescriptorTypeStorageBuffer,
			DescriptorCount: 1,
			StageFlags:      vk.ShaderStageFlags(vk.ShaderStageComputeBit),
		}
	}
	dsl := vk.DescriptorSetLayoutCreateInfo{
		SType:        vk.StructureTypeDescriptorSetLayoutCreateInfo,
		BindingCount: uint32(len(binds)),
		PBindings:    binds,
	}
	var setLayout = p.setLayout
	r := vk.CreateDescriptorSetLayout(dev, &dsl, nil, &setLayout)
	p.setLayout = setLayout
	if r != vk.Success {
		return nil, fmt.Errorf("vkCreateDescriptorSetLayout: %w", vk.Error(r))
	}
	plc := vk.PipelineLayoutCreateInfo{
		SType:                  vk.StructureTypePipelineLayoutCreateInfo,
		SetLayoutCount:         1,
		PSetLayouts:            []vk.DescriptorSetLayout{p.setLayout},
		PushConstantRangeCount: 1,
		PPushConstantRanges: []vk.PushConstantRange{{
			StageFlags: vk.ShaderStageFlags(vk.ShaderStageComputeBit),
			Size:       PushSize,
		}},
	}
	var layout = p.layout
	r = vk.CreatePipelineLayout(dev, &plc, nil, &layout)
	p.layout = layout
	if r != vk.Success {
		vk.DestroyDescriptorSetLayout(dev, p.setLayout, nil)
		return nil, fmt.Errorf("vkCreatePipelineLayout: %w", vk.Error(r))
	}
	stage := vk.PipelineShaderStageCreateInfo{
		SType:  vk.StructureTypePipelineShaderStageCreateInfo,
		Stage:  vk.ShaderStageComputeBit,
		Module: mod,
		PName:  "main\x00",
	}
	var data unsafe.Pointer
	if len(spec) > 0 {
		data = cAlloc(4 * len(spec))
		defer cFree(data)
		entries := make([]vk.SpecializationMapEntry, len(spec))
		for i, v := range spec {
			*(*uint32)(unsafe.Add(data, 4*i)) = v
			entries[i] = vk.SpecializationMapEntry{ConstantID: uint32(i), Offset: uint32(4 * i), Size: 4}
		}
		stage.PSpecializationInfo = []vk.SpecializationInfo{{
			MapEntryCount: uint32(len(spec)),
			PMapEntries:   entries,
			DataSize:      uint64(4 * len(spec)),
			PData:         data,
		}}
	}
	ci := []vk.ComputePipelineCreateInfo{{
		SType:  vk.StructureTypeComputePipelineCreateInfo,
		Stage:  stage,
		Layout: p.layout,
	}}
	out := make([]vk.Pipeline, 1)
	if r := vk.CreateComputePipelines(dev, pc.cache, 1, ci, nil, out); r != vk.Success {
		vk.DestroyPipelineLayout(dev, p.layout, nil)
		vk.DestroyDescriptorSetLayout(dev, p.setLayout, nil)
		return nil, fmt.Errorf("vkCreateComputePipelines: %w", vk.Error(r))
	}
	p.h = out[0]
	return p, nil
}

func (pc *pipelineCache) close() {
	dev := pc.d.h
	for _, p := range pc.pipes {
		vk.DestroyPipeline(dev, p.h, nil)
		vk.DestroyPipelineLayout(dev, p.layout, nil)
		vk.DestroyDescriptorSetLayout(dev, p.setLayout, nil)
	}
	for _, m := range pc.modules {
		vk.DestroyShaderModule(dev, m, nil)
	}
	vk.DestroyPipelineCache(dev, pc.cache, nil)
}
