package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"gemmavk"
	"gemmavk/gemma3"
	"gemmavk/internal/testmodel"
	"gemmavk/server"
)

// ServeResult is one serving test: n concurrent streams through the HTTP
// server, each on its own slot.
type ServeResult struct {
	Model   string `json:"model"`
	Backend string `json:"backend"`
	Device  string `json:"device"`
	Test    string `json:"test"` // "streams4 tg128", "ttft pp1000"
	Streams int    `json:"streams"`
	// Aggregate is generated tokens per second over all streams, from the
	// first request sent to the last stream ended; PerStream its share.
	Aggregate float64 `json:"aggregate_tokens_per_s"`
	PerStream float64 `json:"per_stream_tokens_per_s"`
	// TTFT is the median time from sending a request to its first token.
	TTFTms       float64 `json:"ttft_ms"`
	PromptTokens int     `json:"prompt_tokens"`
}

// benchServe measures the server, after one untimed round over every slot:
// for each count in --serve-streams, that
// many streaming completions at once (short distinct prompts, -n tokens
// each, end-of-sequence ignored), then the time to first token of one
// --serve-prompt-token prompt on an idle server. Models without a
// tokenizer (synthetic ones) get the made-up one of package testmodel.
func benchServe(o *options, m *gemma3.Model, name string, backends []string, stdout, stderr io.Writer) error {
	if m.Tokenizer == nil {
		tok, err := testmodel.Tokenizer(m.Config.Vocab)
		if err != nil {
			return err
		}
		m.Tokenizer = tok
	}
	gen := 128
	if len(o.tg) > 0 {
		gen = o.tg[0]
	}
	maxStreams := slices.Max(o.serveStreams)
	ctx := min(max(o.servePrompt, 64)+gen+8, m.Config.MaxPositions)
	var results []ServeResult
	for _, b := range backends {
		gm, err := gemmavk.FromModel(m, gemmavk.Options{Device: b, DeviceName: o.device, Ctx: ctx, Threads: o.threads})
		if err != nil {
			return fmt.Errorf("%s: %w", b, err)
		}
		rs, err := serveTests(o, gm, name, gen, maxStreams, stderr)
		gm.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", b, err)
		}
		results = append(results, rs...)
	}
	return report(stdout, o.output, results, "| model | backend | device | test | aggregate t/s | per stream t/s | TTFT ms |", func(r ServeResult) string {
		return fmt.Sprintf("| %s | %s | %s | %s | %.1f | %.1f | %.0f |", r.Model, r.Backend, r.Device, r.Test,
			r.Aggregate, r.PerStream, r.TTFTms)
	})
}

// concurrentStreams runs n streaming completions of gen tokens at once,
// stream i with prompt(i), and returns their results in order.
func concurrentStreams(url string, n, gen int, prompt func(i int) string) []streamResult {
	res := make([]streamResult, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = stream(url, prompt(i), gen)
		}()
	}
	wg.Wait()
	return res
}

func serveTests(o *options, m *gemmavk.Model, name string, gen, slots int, stderr io.Writer) ([]ServeResult, error) {
	in := m.Info()
	s, err := server.New(server.Config{Model: m, ModelID: "bench", Parallel: slots, Queue: slots})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: s}
	go hs.Serve(ln)
	defer hs.Close()
	url := "http://" + ln.Addr().String() + "/v1/completions"
	words := promptWords(m)
	base := ServeResult{Model: name, Backend: in.Backend, Device: in.Device}
	var out []ServeResult
	// One untimed round over every slot first: each session's cache and
	// compiled steps are made on its first request, which is not what a
	// running server's throughput is about.
	warm := concurrentStreams(url, slots, 8, func(i int) string { return fmt.Sprintf("warm %d %s", i, words(16, uint64(i))) })
	for _, r := range warm {
		if r.err != nil {
			return nil, r.err
		}
	}
	for _, n := range o.serveStreams {
		fmt.Fprintf(stderr, "bench: %s: %d stream(s) of %d tokens\n", in.Backend, n, gen)
		t0 := time.Now()
		// Distinct prompts: no slot reuses another's prefix.
		res := concurrentStreams(url, n, gen, func(i int) string { return fmt.Sprintf("%d %s", i, words(16, uint64(i)+uint64(n)<<8)) })
		wall := time.Since(t0)
		total := 0
		var ttft []float64
		for _, r := range res {
			if r.err != nil {
				return nil, r.err
			}
			total += r.tokens
			ttft = append(ttft, r.ttft.Seconds()*1000)
		}
		r := base
		r.Test, r.Streams = fmt.Sprintf("streams%d tg%d", n, gen), n
		r.Aggregate = float64(total) / wall.Seconds()
		r.PerStream = r.Aggregate / float64(n)
		r.TTFTms = median(ttft)
		r.PromptTokens = res[0].prompt
		out = append(out, r)
	}
	if o.servePrompt > 0 {
		fmt.Fprintf(stderr, "bench: %s: time to first token of a %d-token prompt\n", in.Backend, o.servePrompt)
		var ttft []float64
		prompt := 0
		for rep := range o.reps {
			r := stream(url, words(o.servePrompt-1, 1000+uint64(rep)), 1)
			if r.err != nil {
				return nil, r.err
			}
			ttft, prompt = append(ttft, r.ttft.Seconds()*1000), r.prompt
		}
		r := base
		r.Test, r.Streams, r.TTFTms, r.PromptTokens = fmt.Sprintf("ttft pp%d", prompt), 1, median(ttft), prompt
		out = append(out, r)
	}
	return out, nil
}

// promptWords returns a generator of prompts of about n tokens: random
// words of the vocabulary, cut to n tokens by the model's tokenizer.
func promptWords(m *gemmavk.Model) func(n int, seed uint64) string {
	tok := m.Gemma().Tokenizer
	pool := strings.Fields("the a of river stone light quiet over under morning city number green seven paper window " +
		"garden sound winter road music silver cloud table letter horse bridge")
	return func(n int, seed uint64) string {
		r := rand.New(rand.NewPCG(seed, 7))
		var sb strings.Builder
		for len(tok.Encode(sb.String(), false)) < n {
			for range 32 {
				sb.WriteString(pool[r.IntN(len(pool))])
				sb.WriteByte(' ')
			}
		}
		ids := tok.Encode(sb.String(), false)
		return tok.Decode(ids[:n])
	}
}

type streamResult struct {
	tokens, prompt int
	ttft           time.Duration
	err            error
}

// stream sends one streaming completion and times its first token.
func stream(url, prompt string, n int) streamResult {
	body, _ := json.Marshal(map[string]any{"prompt": prompt, "max_tokens": n, "temperature": 0, "ignore_eos": true,
		"stream": true, "stream_options": map[string]any{"include_usage": true}})
	t0 := time.Now()
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return streamResult{err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return streamResult{err: fmt.Errorf("server: %d %s", resp.StatusCode, b)}
	}
	var r streamResult
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		payload, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || payload == "[DONE]" {
			continue
		}
		var ev struct {
			Choices []struct {
				Text string `json:"text"`
			} `json:"choices"`
			Usage *struct {
				PromptTokens     int `json:"prompt_tokens"`
				CompletionTokens int `json:"completion_tokens"`
			} `json:"usage"`
			Error *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(payload), &ev); err != nil {
			return streamResult{err: err}
		}
		if ev.Error != nil {
			return streamResult{err: fmt.Errorf("server: %s", ev.Error.Message)}
		}
		if r.ttft == 0 && len(ev.Choices) > 0 {
			r.ttft = time.Since(t0)
		}
		if ev.Usage != nil {
			r.tokens, r.prompt = ev.Usage.CompletionTokens, ev.Usage.PromptTokens
		}
	}
	if err := sc.Err(); err != nil {
		return streamResult{err: err}
	}
	if r.tokens == 0 {
		return streamResult{err: fmt.Errorf("stream of %q ended without usage", prompt[:min(len(prompt), 20)])}
	}
	return r
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
