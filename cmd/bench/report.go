package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// report writes results to w: as indented JSON when output is "json", else
// as a Markdown table of header (its cells between "|"s) and one row a
// result, made by row without the trailing newline.
func report[R any](w io.Writer, output string, results []R, header string, row func(r R) string) error {
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(results)
	}
	fmt.Fprintln(w, header)
	fmt.Fprintln(w, "|"+strings.Repeat("---|", strings.Count(header, "|")-1))
	for _, r := range results {
		fmt.Fprintln(w, row(r))
	}
	return nil
}
