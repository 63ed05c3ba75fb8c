# gemmavk: the two commands a new user needs are `make run` and `make test`.
GO      ?= go
CACHE   ?= .cache
MODEL   ?= $(CACHE)/models/gemma-3-270m-q4_k_m.gguf
PROMPT  ?= The three primary colors are
N       ?= 64
# Inputs the GGUF fuzzer tries (a count, not a duration: Go 1.26's fuzzing
# can fail at a -fuzztime deadline when the machine is loaded, with no
# failing input).
FUZZN   ?= 1500000
export GEMMAVK_CACHE := $(abspath $(CACHE))
# Build with Go's experimental SIMD package: quant's AVX2/AVX-512 dot-product
# kernels. Results are bit-identical without it (only slower).
export GOEXPERIMENT := simd
# With that experiment, Go 1.26 restores full vector registers after an
# asynchronous preemption, which leaves later scalar float code running with
# dirty upper vector state; on some x86 machines that makes it many times
# slower (the sampler's tests take 75 s instead of 2 s). Cooperative
# preemption alone avoids it.
export GODEBUG := asyncpreemptoff=1

.PHONY: run test build models fuzz vet clean shaders shaders-check toolchain

## run: fetch the default model (Gemma 3 270M, Q4_K_M) and complete a prompt
run: build models
	./bin/run -m $(MODEL) --raw -p "$(PROMPT)" -n $(N)

## build: compile the commands into bin/
build:
	$(GO) build -o bin/ ./cmd/...

## models: fetch and checksum the model and tokenizer files the tests use
models:
	sh tools/fetch-assets.sh

## test: vet, then every test; asset-backed and Vulkan tests must run, not
## skip (Vulkan: any device, e.g. Mesa's lavapipe, with the validation layer)
test: models
	$(GO) vet ./...
	GEMMAVK_REQUIRE_ASSETS=1 GEMMAVK_REQUIRE_GPU=1 GEMMAVK_REQUIRE_VALIDATION=1 $(GO) test -count=1 -timeout 40m ./...

## toolchain: install the pinned shader compiler (glslang 13.1.1) under $(CACHE)
toolchain:
	sh tools/install-toolchain.sh

## shaders: recompile shaders/*.comp into shaders/spv (go generate ./shaders)
shaders: toolchain
	$(GO) generate ./shaders

## shaders-check: fail if the committed SPIR-V is not what the sources compile to
shaders-check: toolchain
	$(GO) run ./tools/spirv -check

## fuzz: fuzz the file parsers (GGUF for FUZZN inputs, about a minute on two
## cores; safetensors and images for about 20s each)
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZN)x ./gguf/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime 400000x ./safetensors/
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime 400000x ./siglip/imageproc/

clean:
	rm -rf bin
