package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"gemmavk"
	"gemmavk/internal/testmodel"
)

// The tests serve the text-tiny fixture (random weights, sliding window 6)
// with a made-up one-character-per-token tokenizer, on the CPU executor.

const testCtx = 256

func newModel(t *testing.T, device string) *gemmavk.Model {
	t.Helper()
	g, err := testmodel.TextTiny()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	m, err := gemmavk.FromModel(g, gemmavk.Options{Device: device, Ctx: testCtx})
	if err != nil {
		if device == "vulkan" && os.Getenv("GEMMAVK_REQUIRE_GPU") != "1" {
			t.Skipf("no Vulkan device: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func newServer(t *testing.T, m *gemmavk.Model, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	cfg.Model = m
	if cfg.ModelID == "" {
		cfg.ModelID = "tiny"
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(func() { hs.Close(); s.Close() })
	return s, hs
}

func post(t *testing.T, url string, body any) (*http.Response, []byte) {
	t.Helper()
	var data []byte
	switch b := body.(type) {
	case string:
		data = []byte(b)
	default:
		var err error
		if data, err = json.Marshal(b); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.Post(url, "application/json", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, out
}

type chatResp struct {
	Object  string `json:"object"`
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"message"`
		Delta struct {
			Role    *string `json:"role"`
			Content *string `json:"content"`
		} `json:"delta"`
		Text         string  `json:"text"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *usageOut `json:"usage"`
}

type usageOut struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	TotalTokens         int `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
}

func decode(t *testing.T, data []byte) chatResp {
	t.Helper()
	var r chatResp
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("%v: %s", err, data)
	}
	return r
}

func chatBody(user string, extra map[string]any) map[string]any {
	b := map[string]any{"model": "tiny", "temperature": 0, "max_tokens": 12, "repeat_penalty": 3,
		"messages": []map[string]any{{"role": "user", "content": user}}}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

// sse reads a server-sent event stream: the JSON payloads, and whether it
// ended with [DONE].
func sse(t *testing.T, r io.Reader) (events []chatResp, done bool) {
	t.Helper()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		payload, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("unexpected SSE line %q", line)
		}
		if payload == "[DONE]" {
			done = true
			continue
		}
		if done {
			t.Fatalf("data after [DONE]: %s", payload)
		}
		events = append(events, decode(t, []byte(payload)))
	}
	return events, done
}

// streamChat posts a streaming request and returns the content and the
// events.
func streamChat(t *testing.T, url string, body map[string]any) (string, []chatResp) {
	t.Helper()
	body["stream"] = true
	data, _ := json.Marshal(body)
	resp, err := http.Post(url+"/v1/chat/completions", "application/json", bytes.NewReader(data))
	if err != nil {
		t.Error(err)
		return "", nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		t.Errorf("status %d, %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
		return "", nil
	}
	events, done := sse(t, resp.Body)
	if !done {
		t.Error("stream did not end with data: [DONE]")
	}
	var sb strings.Builder
	for _, e := range events {
		for _, c := range e.Choices {
			if c.Delta.Content != nil {
				sb.WriteString(*c.Delta.Content)
			}
		}
	}
	return sb.String(), events
}

// reference generates the same request through the library directly, on a
// fresh session.
func reference(t *testing.T, m *gemmavk.Model, msgs []gemmavk.Message, maxTokens int) gemmavk.Result {
	t.Helper()
	ids, err := m.ChatIDs(msgs)
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	opt := gemmavk.GenerateOptions{MaxTokens: maxTokens}
	opt.Sampling.RepeatPenalty, opt.Sampling.RepeatLastN = 3, 64
	res, err := s.Generate(context.Background(), ids, opt)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestChat(t *testing.T) {
	m := newModel(t, "cpu")
	_, hs := newServer(t, m, Config{})
	want := reference(t, m, []gemmavk.Message{{Role: "user", Text: "Hello there"}}, 12)

	resp, data := post(t, hs.URL+"/v1/chat/completions", chatBody("Hello there", nil))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, data)
	}
	r := decode(t, data)
	if r.Object != "chat.completion" || r.Model != "tiny" || len(r.Choices) != 1 || r.Choices[0].Message.Role != "assistant" {
		t.Fatalf("response shape: %s", data)
	}
	if got := r.Choices[0].Message.Content; got != want.Text {
		t.Fatalf("content %q, want the library's %q", got, want.Text)
	}
	if r.Usage == nil || r.Usage.CompletionTokens != len(want.IDs) || r.Usage.PromptTokens != want.Stats.PromptTokens ||
		r.Usage.TotalTokens != r.Usage.PromptTokens+r.Usage.CompletionTokens {
		t.Fatalf("usage %+v, want %d prompt and %d completion tokens", r.Usage, want.Stats.PromptTokens, len(want.IDs))
	}
	if fr := r.Choices[0].FinishReason; fr == nil || *fr != want.Stats.FinishReason {
		t.Fatalf("finish_reason %v, want %s", fr, want.Stats.FinishReason)
	}

	text, events := streamChat(t, hs.URL, chatBody("Hello there", map[string]any{"stream_options": map[string]any{"include_usage": true}}))
	if text != want.Text {
		t.Fatalf("streamed content %q, want %q", text, want.Text)
	}
	if len(events) < 3 || events[0].Object != "chat.completion.chunk" || events[0].Choices[0].Delta.Role == nil {
		t.Fatalf("first chunk should carry the role: %+v", events)
	}
	fin, last := events[len(events)-2], events[len(events)-1]
	if fr := fin.Choices[0].FinishReason; fr == nil || *fr != want.Stats.FinishReason {
		t.Fatalf("finish chunk %+v", fin)
	}
	if len(last.Choices) != 0 || last.Usage == nil || last.Usage.CompletionTokens != len(want.IDs) {
		t.Fatalf("usage chunk %+v", last)
	}
	// Without include_usage no chunk carries usage.
	_, events = streamChat(t, hs.URL, chatBody("Hello there", nil))
	for _, e := range events {
		if e.Usage != nil {
			t.Fatalf("usage without stream_options.include_usage: %+v", e)
		}
	}
}

// TestStop checks that stop strings end the answer before them, in both
// modes, matched on the decoded text across token boundaries.
func TestStop(t *testing.T) {
	m := newModel(t, "cpu")
	_, hs := newServer(t, m, Config{})
	full := reference(t, m, []gemmavk.Message{{Role: "user", Text: "Hello there"}}, 12).Text
	r := []rune(full)
	if len(r) < 6 {
		t.Fatalf("answer %q too short to cut", full)
	}
	stop := string(r[3:5]) // two tokens: the match spans a token boundary
	want := full[:strings.Index(full, stop)]
	for _, stream := range []bool{false, true} {
		body := chatBody("Hello there", map[string]any{"stop": []string{"never", stop}})
		var got string
		if stream {
			got, _ = streamChat(t, hs.URL, body)
		} else {
			resp, data := post(t, hs.URL+"/v1/chat/completions", body)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, data)
			}
			c := decode(t, data).Choices[0]
			got = c.Message.Content
			if c.FinishReason == nil || *c.FinishReason != "stop" {
				t.Fatalf("finish_reason %v, want stop", c.FinishReason)
			}
		}
		if got != want {
			t.Fatalf("stream=%v: %q with stop %q, want %q (full answer %q)", stream, got, stop, want, full)
		}
	}
}

func TestCompletions(t *testing.T) {
	m := newModel(t, "cpu")
	_, hs := newServer(t, m, Config{})
	opt := gemmavk.GenerateOptions{MaxTokens: 16}
	want, err := m.Complete(context.Background(), "Once upon a time", opt)
	if err != nil {
		t.Fatal(err)
	}
	// max_tokens defaults to 16 on this endpoint.
	resp, data := post(t, hs.URL+"/v1/completions", map[string]any{"prompt": "Once upon a time", "temperature": 0})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, data)
	}
	r := decode(t, data)
	if r.Object != "text_completion" || r.Choices[0].Text != want.Text || r.Usage.CompletionTokens != 16 {
		t.Fatalf("got %s, want text %q", data, want.Text)
	}
	body, _ := json.Marshal(map[string]any{"prompt": []string{"Once upon a time"}, "temperature": 0, "stream": true})
	sresp, err := http.Post(hs.URL+"/v1/completions", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer sresp.Body.Close()
	events, done := sse(t, sresp.Body)
	var sb strings.Builder
	for _, e := range events {
		sb.WriteString(e.Choices[0].Text)
	}
	if !done || sb.String() != want.Text {
		t.Fatalf("streamed %q (done %v), want %q", sb.String(), done, want.Text)
	}
}

func TestModelsAndHealth(t *testing.T) {
	m := newModel(t, "cpu")
	_, hs := newServer(t, m, Config{Parallel: 3})
	for _, c := range []struct{ path, want string }{
		{"/v1/models", `"id":"tiny"`},
		{"/v1/models/tiny", `"object":"model"`},
		{"/health", `"status":"ok"`},
	} {
		resp, err := http.Get(hs.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), c.want) {
			t.Errorf("GET %s: %d %s, want %s", c.path, resp.StatusCode, b, c.want)
		}
	}
}

func pngDataURL(t *testing.T) string {
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 4, 4))); err != nil {
		t.Fatal(err)
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())
}

func TestErrors(t *testing.T) {
	m := newModel(t, "cpu")
	_, hs := newServer(t, m, Config{MaxBodyBytes: 4096})
	long := strings.Repeat("a", 300) // 300 tokens: more than the context of 256
	hiIDs, err := m.ChatIDs([]gemmavk.Message{{Role: "user", Text: "hi"}})
	if err != nil {
		t.Fatal(err)
	}
	hi := len(hiIDs)
	withImage := func(url string) map[string]any {
		return map[string]any{"model": "tiny", "messages": []map[string]any{{"role": "user", "content": []map[string]any{
			{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": map[string]any{"url": url}}}}}}
	}
	for _, c := range []struct {
		name, path string
		body       any
		status     int
		code       string
		says       []string // in the message
	}{
		{"malformed JSON", "/v1/chat/completions", `{"messages": [`, 400, "invalid_json", nil},
		{"trailing data", "/v1/chat/completions", `{"messages": []} {}`, 400, "invalid_json", nil},
		{"wrong type", "/v1/chat/completions", `{"messages": "hi"}`, 400, "invalid_type", nil},
		{"no messages", "/v1/chat/completions", `{"model": "tiny"}`, 400, "missing_required_parameter", nil},
		{"bad role", "/v1/chat/completions", `{"messages": [{"role": "robot", "content": "hi"}]}`, 400, "invalid_value", nil},
		{"unknown model", "/v1/chat/completions", chatBody("hi", map[string]any{"model": "gpt-17"}), 404, "model_not_found", []string{"gpt-17"}},
		{"temperature", "/v1/chat/completions", chatBody("hi", map[string]any{"temperature": 3}), 400, "invalid_value", []string{"temperature"}},
		{"top_p", "/v1/chat/completions", chatBody("hi", map[string]any{"top_p": 0}), 400, "invalid_value", []string{"top_p"}},
		{"top_k", "/v1/chat/completions", chatBody("hi", map[string]any{"top_k": -1}), 400, "invalid_value", nil},
		{"min_p", "/v1/chat/completions", chatBody("hi", map[string]any{"min_p": 2}), 400, "invalid_value", nil},
		{"max_tokens", "/v1/chat/completions", chatBody("hi", map[string]any{"max_tokens": 0}), 400, "invalid_value", nil},
		{"n", "/v1/chat/completions", chatBody("hi", map[string]any{"n": 2}), 400, "invalid_value", nil},
		{"stop type", "/v1/chat/completions", chatBody("hi", map[string]any{"stop": 5}), 400, "invalid_type", nil},
		{"too many stops", "/v1/chat/completions", chatBody("hi", map[string]any{"stop": []string{"a", "b", "c", "d", "e"}}), 400, "invalid_value", nil},
		{"stream_options without stream", "/v1/chat/completions", chatBody("hi", map[string]any{"stream_options": map[string]any{"include_usage": true}}), 400, "invalid_value", nil},
		{"context length", "/v1/chat/completions", chatBody("hi", map[string]any{"max_tokens": 250}), 400, "context_length_exceeded",
			[]string{"is 256 tokens", fmt.Sprintf("requested %d tokens (%d in the messages, 250 in the completion)", hi+250, hi)}},
		{"prompt over context", "/v1/completions", map[string]any{"prompt": long}, 400, "context_length_exceeded", []string{"256", "301"}},
		{"body too large", "/v1/chat/completions", chatBody(strings.Repeat("x", 5000), nil), 413, "request_too_large", []string{"4096"}},
		{"image without vision", "/v1/chat/completions", withImage(pngDataURL(t)), 400, "images_not_supported", []string{"vision"}},
		{"image not data URL", "/v1/chat/completions", withImage("https://example.com/cat.png"), 400, "invalid_image", []string{"data:"}},
		{"image not decodable", "/v1/chat/completions", withImage("data:image/png;base64,aGVsbG8="), 400, "invalid_image", nil},
		{"bad part type", "/v1/chat/completions", `{"messages": [{"role": "user", "content": [{"type": "audio"}]}]}`, 400, "invalid_value", nil},
		{"no prompt", "/v1/completions", `{"model": "tiny"}`, 400, "missing_required_parameter", nil},
		{"unknown endpoint", "/v1/embeddings", `{}`, 404, "", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, data := post(t, hs.URL+c.path, c.body)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, data)
			}
			var e map[string]map[string]any
			if err := json.Unmarshal(data, &e); err != nil {
				t.Fatalf("%v: %s", err, data)
			}
			body, ok := e["error"]
			if !ok {
				t.Fatalf("no error object: %s", data)
			}
			for _, k := range []string{"message", "type", "param", "code"} {
				if _, ok := body[k]; !ok {
					t.Fatalf("error without %q: %s", k, data)
				}
			}
			if c.code != "" && body["code"] != c.code {
				t.Fatalf("code %v, want %s: %s", body["code"], c.code, data)
			}
			msg, _ := body["message"].(string)
			for _, s := range c.says {
				if !strings.Contains(msg, s) {
					t.Fatalf("message %q does not say %q", msg, s)
				}
			}
		})
	}
}

// concurrentMatchesSequential sends n streaming requests at once to a
// server of 4 slots and checks each answer against the same request served
// alone by a server of one slot.
func concurrentMatchesSequential(t *testing.T, device string, n int) {
	m := newModel(t, device)
	bodies := make([]map[string]any, n)
	for i := range bodies {
		b := chatBody(fmt.Sprintf("Question number %d: why?", i), map[string]any{"max_tokens": 10 + i%5})
		if i%2 == 1 {
			b["temperature"], b["top_k"], b["seed"] = 0.9, 20, i // sampled, with a seed
		}
		bodies[i] = b
	}
	_, seq := newServer(t, m, Config{Parallel: 1})
	want := make([]string, n)
	for i, b := range bodies {
		want[i], _ = streamChat(t, seq.URL, b)
	}
	s, par := newServer(t, m, Config{Parallel: 4, Queue: n})
	got := make([]string, n)
	var wg sync.WaitGroup
	for i, b := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], _ = streamChat(t, par.URL, b)
		}()
	}
	wg.Wait()
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("request %d: concurrent %q, alone %q", i, got[i], want[i])
		}
	}
	if st := s.Stats(); st.Completed != int64(n) || st.Pool.Opened != 4 {
		t.Errorf("stats %+v: want %d completed on 4 slots", st, n)
	}
}

func TestConcurrentStreams(t *testing.T) { concurrentMatchesSequential(t, "cpu", 16) }

// TestConcurrentStreamsVulkan runs slots on a Vulkan device (lavapipe here)
// sharing one upload of the weights.
func TestConcurrentStreamsVulkan(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	concurrentMatchesSequential(t, "vulkan", 4)
}

// waitFor polls cond (the server works on other goroutines); it fails
// after a generous deadline rather than asserting any timing.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDisconnect checks that a client going away mid-stream stops its
// generation at the next token and frees its slot.
func TestDisconnect(t *testing.T) {
	m := newModel(t, "cpu")
	s, hs := newServer(t, m, Config{Parallel: 1})
	var once sync.Once
	s.afterToken = func(ctx context.Context) {
		// Hold the first request after its first token until the client
		// is gone, so the cancellation is seen at the next token.
		once.Do(func() { <-ctx.Done() })
	}
	ctx, cancel := context.WithCancel(context.Background())
	data, _ := json.Marshal(chatBody("Tell me a long story", map[string]any{"stream": true, "max_tokens": 200, "ignore_eos": true}))
	req, _ := http.NewRequestWithContext(ctx, "POST", hs.URL+"/v1/chat/completions", bytes.NewReader(data))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() && !strings.Contains(sc.Text(), `"content"`) || strings.Contains(sc.Text(), `"role"`) {
		// up to the first token's chunk (past the role chunk)
	}
	cancel()
	resp.Body.Close()
	waitFor(t, "the slot to be released", func() bool { st := s.Stats(); return st.Cancelled == 1 && st.Pool.Busy == 0 })
	if st := s.Stats(); st.GeneratedTokens > 2 {
		t.Fatalf("%d tokens generated after the client left at the first", st.GeneratedTokens)
	}
	resp2, body := post(t, hs.URL+"/v1/chat/completions", chatBody("Hello", nil))
	if resp2.StatusCode != 200 {
		t.Fatalf("after the disconnect: %d %s", resp2.StatusCode, body)
	}
}

// TestQueueFull fills one slot and a queue of one: the third request gets
// 429, and the other two complete.
func TestQueueFull(t *testing.T) {
	m := newModel(t, "cpu")
	s, hs := newServer(t, m, Config{Parallel: 1, Queue: 1})
	hold, held := make(chan struct{}), make(chan struct{})
	var once sync.Once
	s.afterToken = func(ctx context.Context) {
		once.Do(func() { close(held); <-hold })
	}
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range 2 {
		if i == 1 {
			<-held // the first request is generating
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _ := post(t, hs.URL+"/v1/chat/completions", chatBody("Hello", nil))
			codes[i] = resp.StatusCode
		}()
	}
	waitFor(t, "the second request to queue", func() bool { return s.Stats().Pool.Waiting == 1 })
	resp, data := post(t, hs.URL+"/v1/chat/completions", chatBody("Hello", nil))
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(data), `"code":"queue_full"`) {
		t.Fatalf("third request: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), data)
	}
	close(hold)
	wg.Wait()
	if codes[0] != 200 || codes[1] != 200 {
		t.Fatalf("queued requests ended with %v", codes)
	}
}

// TestPrefixReuse sends a conversation's second turn: the slot holds the
// first turn's prompt and answer, so only the new tokens are evaluated,
// and the answer equals a fresh session's. A prompt that shares less than
// the slot holds cannot rewind the wrapped sliding-window ring (window 6)
// and is evaluated whole.
func TestPrefixReuse(t *testing.T) {
	m := newModel(t, "cpu")
	s, hs := newServer(t, m, Config{Parallel: 1})
	turn := func(msgs []map[string]any) chatResp {
		t.Helper()
		b := chatBody("", map[string]any{"messages": msgs})
		resp, data := post(t, hs.URL+"/v1/chat/completions", b)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, data)
		}
		return decode(t, data)
	}
	msgs := []map[string]any{{"role": "user", "content": "Hello there"}}
	r1 := turn(msgs)
	answer := r1.Choices[0].Message.Content
	if strings.TrimSpace(answer) != answer || answer == "" {
		t.Fatalf("first answer %q: the test needs one the template keeps as is", answer)
	}
	before := s.Stats()
	msgs = append(msgs, map[string]any{"role": "assistant", "content": answer}, map[string]any{"role": "user", "content": "Go on"})
	r2 := turn(msgs)
	after := s.Stats()
	wantCached := r1.Usage.PromptTokens + r1.Usage.CompletionTokens
	if r2.Usage.PromptTokensDetails.CachedTokens != wantCached {
		t.Fatalf("second turn: %d cached tokens, want the first turn's %d", r2.Usage.PromptTokensDetails.CachedTokens, wantCached)
	}
	if fed := after.EvaluatedTokens - before.EvaluatedTokens; fed != int64(r2.Usage.PromptTokens-wantCached) {
		t.Fatalf("second turn evaluated %d prompt tokens, want %d", fed, r2.Usage.PromptTokens-wantCached)
	}
	gm := []gemmavk.Message{{Role: "user", Text: "Hello there"}, {Role: "assistant", Text: answer}, {Role: "user", Text: "Go on"}}
	if want := reference(t, m, gm, 12).Text; r2.Choices[0].Message.Content != want {
		t.Fatalf("second turn %q, a fresh session says %q", r2.Choices[0].Message.Content, want)
	}
	// A different first message: shares "<bos><start_of_turn>user\n"
	// only, which the wrapped ring cannot rewind to.
	r3 := turn([]map[string]any{{"role": "user", "content": "Good morning"}})
	if c := r3.Usage.PromptTokensDetails.CachedTokens; c != 0 {
		t.Fatalf("a prompt diverging inside a wrapped window reused %d tokens", c)
	}
	if want := reference(t, m, []gemmavk.Message{{Role: "user", Text: "Good morning"}}, 12).Text; r3.Choices[0].Message.Content != want {
		t.Fatalf("re-fed prompt: %q, want %q", r3.Choices[0].Message.Content, want)
	}
}
