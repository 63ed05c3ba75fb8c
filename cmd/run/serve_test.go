package main

import (
	"io"
	"strings"
	"testing"
)

func TestParseServeFlags(t *testing.T) {
	o, err := parseServeFlags([]string{"-m", "/models/gemma-3-270m-it.gguf"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.addr != "127.0.0.1:8080" || o.alias != "gemma-3-270m-it" || o.parallel != 1 || o.queue != 16 {
		t.Fatalf("defaults: %+v", o)
	}
	if o, err := parseServeFlags([]string{"-m", "text.gguf", "--mmproj", "mmproj.gguf"}, io.Discard); err != nil || o.mmproj != "mmproj.gguf" {
		t.Fatalf("--mmproj: %+v, %v", o, err)
	}
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{}, "no model"},
		{[]string{"-m", "x.gguf", "--parallel", "0"}, "--parallel"},
		{[]string{"-m", "x.gguf", "--queue", "-1"}, "--queue"},
		{[]string{"-m", "x.gguf", "--backend", "metal"}, "metal"},
		{[]string{"-m", "x.gguf", "extra"}, "unexpected"},
	} {
		if _, err := parseServeFlags(c.args, io.Discard); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%q: error %v, want one saying %q", c.args, err, c.says)
		}
	}
}
