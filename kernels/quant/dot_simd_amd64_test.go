//go:build goexperiment.simd && amd64

package quant

import (
	"debug/elf"
	"debug/gosym"
	"fmt"
	"math"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestVectorCodeHasNoLegacySSE disassembles the vector-phase functions
// (*Vec512, *Vec256 and the closures in them) of this test binary and checks
// that they contain no legacy-SSE instruction, which would run with dirty
// upper vector state at a cost of hundreds of cycles each, no call but the
// runtime's panic and stack-growth paths, and that each executes
// VZEROUPPER. The functions are found through the Go line table,
// which `go test` binaries keep; the disassembly needs GNU objdump (Go's
// disassembler does not decode EVEX), and the test skips without it.
func TestVectorCodeHasNoLegacySSE(t *testing.T) {
	objdump, err := exec.LookPath("objdump")
	if err != nil {
		t.Skip("objdump not found")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	f, err := elf.Open(exe)
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	pcln, text := f.Section(".gopclntab"), f.Section(".text")
	if pcln == nil || text == nil {
		t.Skip("no .gopclntab or .text section")
	}
	data, err := pcln.Data()
	if err != nil {
		t.Fatal(err)
	}
	tab, err := gosym.NewTable(nil, gosym.NewLineTable(data, text.Addr))
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`^gemmavk/kernels/quant\.([A-Za-z0-9_]*Vec(512|256)[A-Za-z0-9_.]*)$`)
	vecReg := regexp.MustCompile(`%[xyz]mm[0-9]+`)
	seen := map[string]bool{}
	for _, fn := range tab.Funcs {
		m := name.FindStringSubmatch(fn.Name)
		if m == nil {
			continue
		}
		out, err := exec.Command(objdump, "-d", "--no-show-raw-insn",
			fmt.Sprintf("--start-address=%#x", fn.Entry), fmt.Sprintf("--stop-address=%#x", fn.End), exe).Output()
		if err != nil {
			t.Skipf("objdump: %v", err)
		}
		vz := false
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.SplitN(line, "\t", 2)
			if len(f) < 2 || !strings.HasSuffix(strings.TrimSpace(f[0]), ":") {
				continue
			}
			ins := strings.TrimSpace(f[1])
			if strings.HasPrefix(ins, "vzeroupper") {
				vz = true
			}
			if vecReg.MatchString(ins) && !strings.HasPrefix(ins, "v") {
				t.Errorf("%s: legacy SSE instruction %q", m[1], ins)
			}
			// A call would run the callee's scalar code with dirty vector
			// state (and spill every vector register); only the runtime's
			// bounds-failure and stack-growth paths may be called.
			if strings.HasPrefix(ins, "call") {
				callee := ins
				if fs := strings.Fields(ins); len(fs) >= 2 {
					if pc, err := strconv.ParseUint(strings.TrimPrefix(fs[1], "0x"), 16, 64); err == nil {
						if f := tab.PCToFunc(pc); f != nil {
							callee = f.Name
						}
					}
				}
				if !strings.HasPrefix(callee, "runtime.panic") && !strings.HasPrefix(callee, "runtime.morestack") {
					t.Errorf("%s: calls %s", m[1], callee)
				}
			}
		}
		seen[m[1]] = vz
	}
	for _, fn := range []string{"f32Vec512", "plainVec512", "q8_0Vec512", "q4Vec512", "q5Vec512", "q4_KVec512",
		"q5_KVec512", "q6_KVec512", "iq4_XSVec512", "f32Vec256", "plainVec256", "q8_0Vec256",
		"q4Vec256", "q5Vec256", "q4_KVec256", "q5_KVec256", "q6_KVec256"} {
		vz, ok := seen[fn]
		switch {
		case !ok:
			t.Errorf("%s not found in the line table", fn)
		case !vz:
			t.Errorf("%s has no VZEROUPPER", fn)
		}
	}
}

// TestF16Bits checks the integer half conversion of the vector kernels
// against F16ToF32 for every half.
func TestF16Bits(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		if got, want := f16Bits(uint16(h)), math.Float32bits(F16ToF32(uint16(h))); got != want {
			t.Fatalf("half %#04x: %#08x, want %#08x", h, got, want)
		}
	}
}
