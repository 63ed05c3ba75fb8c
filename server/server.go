// Package server serves a gemmavk model over an OpenAI-compatible HTTP API:
// POST /v1/chat/completions and /v1/completions (whole or streamed as
// server-sent events), GET /v1/models and GET /health.
//
// Requests run on a gemmavk.Pool: Parallel sessions (slots), each with its
// own KV cache over the model's one copy of the weights, and a bounded
// queue beyond them (429 when full). A slot keeps its tokens after a
// request, and a request goes to the slot whose cache shares the longest
// prefix with its prompt, so the next turn of a conversation evaluates
// only what is new. A client that disconnects stops its generation at the
// next token and frees its slot. Slots do not share GPU steps: they take
// turns, one prefill chunk or decode step at a time (docs/ARCHITECTURE.md).
//
// On a model with a vision tower (gemmavk.Model.Vision), chat messages may
// hold image_url parts with data: URLs (PNG, JPEG, GIF, WebP): each
// becomes one <start_of_image> where it stands, its soft tokens count in
// the usage, and the image is encoded on the model's executor when its
// tokens are evaluated. A slot reuses cached image tokens only for the
// same image. The extension field "pan_and_scan": true adds the Pan & Scan
// crops of elongated images. An image that does not decode gets 400
// invalid_image; images for a model without vision, 400
// images_not_supported.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"gemmavk"
	"gemmavk/gemma3"
	"gemmavk/gemma3/sample"
)

// Config configure a Server.
type Config struct {
	Model *gemmavk.Model
	// ModelID names the model in /v1/models and in requests (empty:
	// "gemma"). A request naming another model gets 404; one naming none
	// is served.
	ModelID string
	// Parallel is the number of slots generating at once (0: 1).
	Parallel int
	// Queue is the number of requests that may wait for a slot (0: none,
	// so a request finding every slot busy gets 429; negative: no limit).
	Queue int
	// MaxBodyBytes limits request bodies (0: 32 MiB, room for a few images
	// as data URLs); larger ones get 413.
	MaxBodyBytes int64
	// Logger receives one line per request (nil: none).
	Logger *slog.Logger
}

// Stats count what a server did.
type Stats struct {
	Pool      gemmavk.PoolStats
	Requests  int64 // generation requests that reached a slot
	Completed int64 // of those, finished (stop or length)
	Cancelled int64 // of those, ended by the client going away
	// PromptTokens of the served requests, CachedTokens of them found in a
	// slot's cache, EvaluatedTokens = PromptTokens - CachedTokens fed to the
	// model; GeneratedTokens sampled.
	PromptTokens, CachedTokens, EvaluatedTokens, GeneratedTokens int64
}

// Server is the HTTP handler.
type Server struct {
	cfg     Config
	pool    *gemmavk.Pool
	mux     *http.ServeMux
	created int64
	log     *slog.Logger

	requests, completed, cancelled        atomic.Int64
	promptTokens, cachedTokens, genTokens atomic.Int64

	// afterToken, when set (by tests), runs after each token is written.
	afterToken func(ctx context.Context)
}

// New returns a server for cfg.Model.
func New(cfg Config) (*Server, error) {
	if cfg.Model == nil {
		return nil, errors.New("server: no model")
	}
	if cfg.Model.Gemma().Tokenizer == nil {
		return nil, errors.New("server: the model has no tokenizer")
	}
	if cfg.ModelID == "" {
		cfg.ModelID = "gemma"
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 1
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 32 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, pool: cfg.Model.NewPool(cfg.Parallel, cfg.Queue), created: time.Now().Unix(), log: cfg.Logger}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", s.chat)
	mux.HandleFunc("POST /v1/completions", s.completion)
	mux.HandleFunc("GET /v1/models", s.models)
	mux.HandleFunc("GET /v1/models/{id}", s.model)
	mux.HandleFunc("GET /health", s.health)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &httpError{status: 404, typ: "invalid_request_error",
			msg: fmt.Sprintf("unknown endpoint %s %s", r.Method, r.URL.Path)})
	})
	s.mux = mux
	return s, nil
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Close closes the slots' sessions (after their requests end).
func (s *Server) Close() { s.pool.Close() }

// Stats reports the server's counters.
func (s *Server) Stats() Stats {
	p, c := s.promptTokens.Load(), s.cachedTokens.Load()
	return Stats{Pool: s.pool.Stats(), Requests: s.requests.Load(), Completed: s.completed.Load(),
		Cancelled: s.cancelled.Load(), PromptTokens: p, CachedTokens: c, EvaluatedTokens: p - c,
		GeneratedTokens: s.genTokens.Load()}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *httpError) {
	if e.retryAfterSeconds > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(e.retryAfterSeconds))
	}
	writeJSON(w, e.status, e.body())
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	p := s.pool.Stats()
	writeJSON(w, 200, map[string]any{"status": "ok", "model": s.cfg.ModelID,
		"slots": p.Size, "slots_busy": p.Busy, "queued": p.Waiting})
}

func (s *Server) modelInfo() modelInfo {
	return modelInfo{ID: s.cfg.ModelID, Object: "model", Created: s.created, OwnedBy: "gemmavk"}
}

func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, modelList{Object: "list", Data: []modelInfo{s.modelInfo()}})
}

func (s *Server) model(w http.ResponseWriter, r *http.Request) {
	if id := r.PathValue("id"); id != s.cfg.ModelID {
		writeError(w, s.unknownModel(id))
		return
	}
	writeJSON(w, 200, s.modelInfo())
}

func (s *Server) unknownModel(id string) *httpError {
	return &httpError{status: 404, typ: "invalid_request_error", param: "model", code: "model_not_found",
		msg: fmt.Sprintf("The model `%s` does not exist; this server serves `%s`", trimForMessage(id), s.cfg.ModelID)}
}

// readBody reads a JSON request body within the size limit.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, v any) *httpError {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return &httpError{status: 413, typ: "invalid_request_error", code: "request_too_large",
				msg: fmt.Sprintf("the request body exceeds the limit of %d bytes", mb.Limit)}
		}
		return badRequest("", "invalid_body", "reading the request body: %v", err)
	}
	return decodeBody(data, v)
}

// job is a validated generation request.
type job struct {
	prompt      *gemmavk.Prompt
	opt         gemmavk.GenerateOptions
	stream      bool
	usageInStrm bool
}

// settle checks the model name and the sampling fields and fits the
// prompt and max_tokens to the context. defaultMax is the max_tokens of a
// request that gives none (0: the rest of the context).
func (s *Server) settle(p *samplingParams, prompt *gemmavk.Prompt, promptParam string, defaultMax int) (*job, *httpError) {
	ids := prompt.IDs
	if p.Model != "" && p.Model != s.cfg.ModelID {
		return nil, s.unknownModel(p.Model)
	}
	if p.N != nil && *p.N != 1 {
		return nil, badRequest("n", "invalid_value", "n: only one choice per request is supported, got %d", *p.N)
	}
	cfg := sample.Config{Temperature: 1, RepeatPenalty: 1, RepeatLastN: 64}
	if p.Temperature != nil {
		if *p.Temperature < 0 || *p.Temperature > 2 {
			return nil, badRequest("temperature", "invalid_value", "temperature must be in [0, 2], got %g", *p.Temperature)
		}
		cfg.Temperature = *p.Temperature
	}
	if p.TopP != nil {
		if *p.TopP <= 0 || *p.TopP > 1 {
			return nil, badRequest("top_p", "invalid_value", "top_p must be in (0, 1], got %g", *p.TopP)
		}
		cfg.TopP = *p.TopP
	}
	if p.TopK != nil {
		if *p.TopK < 0 {
			return nil, badRequest("top_k", "invalid_value", "top_k must be 0 (off) or more, got %d", *p.TopK)
		}
		cfg.TopK = *p.TopK
	}
	if p.MinP != nil {
		if *p.MinP < 0 || *p.MinP > 1 {
			return nil, badRequest("min_p", "invalid_value", "min_p must be in [0, 1], got %g", *p.MinP)
		}
		cfg.MinP = *p.MinP
	}
	if p.RepeatPenalty != nil {
		if *p.RepeatPenalty <= 0 {
			return nil, badRequest("repeat_penalty", "invalid_value", "repeat_penalty must be positive, got %g", *p.RepeatPenalty)
		}
		cfg.RepeatPenalty = *p.RepeatPenalty
	}
	if p.Seed != nil {
		cfg.Seed = uint64(*p.Seed)
	} else {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	if err := cfg.Validate(); err != nil {
		return nil, badRequest("", "invalid_value", "%v", err)
	}
	stops, herr := parseStop(p.Stop)
	if herr != nil {
		return nil, herr
	}
	ctx := s.cfg.Model.Info().Ctx
	maxTok, param := p.MaxTokens, "max_tokens"
	if p.MaxCompletionTokens != nil {
		maxTok, param = p.MaxCompletionTokens, "max_completion_tokens"
	}
	if maxTok != nil && *maxTok < 1 {
		return nil, badRequest(param, "invalid_value", "%s must be at least 1, got %d", param, *maxTok)
	}
	if len(ids) >= ctx {
		return nil, &httpError{status: 400, typ: "invalid_request_error", param: promptParam, code: "context_length_exceeded",
			msg: fmt.Sprintf("This model's maximum context length is %d tokens. However, your %s resulted in %d tokens, leaving no room for the completion. Please reduce the length of the %s.", ctx, promptParam, len(ids), promptParam)}
	}
	n := ctx - len(ids)
	switch {
	case maxTok != nil:
		if len(ids)+*maxTok > ctx {
			return nil, &httpError{status: 400, typ: "invalid_request_error", param: promptParam, code: "context_length_exceeded",
				msg: fmt.Sprintf("This model's maximum context length is %d tokens. However, you requested %d tokens (%d in the %s, %d in the completion). Please reduce the length of the %s or completion.", ctx, len(ids)+*maxTok, len(ids), promptParam, *maxTok, promptParam)}
		}
		n = *maxTok
	case defaultMax > 0:
		n = min(n, defaultMax)
	}
	j := &job{prompt: prompt, stream: p.Stream,
		opt: gemmavk.GenerateOptions{MaxTokens: n, Sampling: cfg, Stop: stops, IgnoreEOS: p.IgnoreEOS}}
	if p.StreamOptions != nil {
		if !p.Stream {
			return nil, badRequest("stream_options", "invalid_value", "stream_options is only allowed with stream: true")
		}
		j.usageInStrm = p.StreamOptions.IncludeUsage
	}
	return j, nil
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	var req chatRequest
	if e := s.readBody(w, r, &req); e != nil {
		writeError(w, e)
		return
	}
	if len(req.Messages) == 0 {
		writeError(w, badRequest("messages", "missing_required_parameter", "messages must hold at least one message"))
		return
	}
	msgs := make([]gemmavk.Message, len(req.Messages))
	for i, m := range req.Messages {
		msg, e := parseContent(i, m.Content)
		if e != nil {
			writeError(w, e)
			return
		}
		switch m.Role {
		case "system", "developer":
			msg.Role = "system"
		case "user", "assistant":
			msg.Role = m.Role
		default:
			writeError(w, badRequest(fmt.Sprintf("messages[%d].role", i), "invalid_value",
				"messages[%d].role %q: want system, user or assistant", i, trimForMessage(m.Role)))
			return
		}
		msgs[i] = msg
	}
	prompt, err := s.cfg.Model.ChatPrompt(msgs, gemmavk.PromptOptions{PanAndScan: req.PanAndScan})
	if err != nil {
		code := "invalid_value"
		if errors.Is(err, gemmavk.ErrNoVision) {
			code = "images_not_supported"
			err = fmt.Errorf("model `%s` has no vision encoder: requests with images are not supported", s.cfg.ModelID)
		}
		writeError(w, badRequest("messages", code, "%v", err))
		return
	}
	j, e := s.settle(&req.samplingParams, prompt, "messages", 0)
	if e != nil {
		writeError(w, e)
		return
	}
	s.run(w, r, j, true)
}

func (s *Server) completion(w http.ResponseWriter, r *http.Request) {
	var req completionRequest
	if e := s.readBody(w, r, &req); e != nil {
		writeError(w, e)
		return
	}
	text, e := promptText(req.Prompt)
	if e != nil {
		writeError(w, e)
		return
	}
	ids, err := s.cfg.Model.PromptIDs(text)
	if err != nil {
		writeError(w, badRequest("prompt", "invalid_value", "%v", err))
		return
	}
	// The legacy endpoint's max_tokens defaults to 16.
	j, e := s.settle(&req.samplingParams, &gemmavk.Prompt{IDs: ids}, "prompt", 16)
	if e != nil {
		writeError(w, e)
		return
	}
	s.run(w, r, j, false)
}

func newID(prefix string) string {
	var b [12]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// run waits for a slot and generates, writing the answer whole or as
// server-sent events.
func (s *Server) run(w http.ResponseWriter, r *http.Request, j *job, chat bool) {
	ctx := r.Context()
	sess, err := s.pool.AcquirePrompt(ctx, j.prompt)
	switch {
	case errors.Is(err, gemmavk.ErrQueueFull):
		writeError(w, &httpError{status: 429, typ: "rate_limit_exceeded", code: "queue_full", retryAfterSeconds: 1,
			msg: fmt.Sprintf("the server is busy: all %d slots are generating and the queue is full; try again", s.cfg.Parallel)})
		return
	case err != nil && ctx.Err() != nil:
		return // the client left while queued
	case err != nil:
		writeError(w, &httpError{status: 503, typ: "server_error", msg: err.Error()})
		return
	}
	defer s.pool.Release(sess)
	s.requests.Add(1)
	t0 := time.Now()
	out := newWriter(w, j, chat, s.cfg.ModelID)
	if j.stream {
		out.start() // the role chunk goes out before the prompt is evaluated
	}
	var genErr error
	gone := false
	for tok, err := range sess.StreamPrompt(ctx, j.prompt, j.opt) {
		if err != nil {
			genErr = err
			break
		}
		if tok.Text != "" {
			if err := out.text(tok.Text); err != nil {
				gone = true // the client cannot be written to
				break
			}
		}
		if s.afterToken != nil && tok.ID >= 0 {
			s.afterToken(ctx)
		}
	}
	st := sess.Stats()
	s.promptTokens.Add(int64(st.PromptTokens))
	s.cachedTokens.Add(int64(st.CachedTokens))
	s.genTokens.Add(int64(st.Tokens))
	switch {
	case gone || ctx.Err() != nil:
		s.cancelled.Add(1)
		s.log.Info("request cancelled", "prompt", st.PromptTokens, "tokens", st.Tokens)
		return
	case genErr != nil:
		s.log.Warn("generation failed", "err", genErr)
		out.fail(genErr)
		return
	}
	s.completed.Add(1)
	s.log.Info("request", "prompt", st.PromptTokens, "cached", st.CachedTokens, "tokens", st.Tokens,
		"finish", st.FinishReason, "time", time.Since(t0).Round(time.Millisecond))
	out.finish(st)
}

// writer renders a generation as one response or as SSE chunks.
type writer struct {
	w       http.ResponseWriter
	j       *job
	chat    bool
	id      string
	model   string
	created int64
	started bool
	text0   []byte // the whole text, when not streaming
}

func newWriter(w http.ResponseWriter, j *job, chat bool, model string) *writer {
	prefix := "cmpl-"
	if chat {
		prefix = "chatcmpl-"
	}
	return &writer{w: w, j: j, chat: chat, id: newID(prefix), model: model, created: time.Now().Unix()}
}

func (o *writer) event(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(o.w, "data: %s\n\n", data); err != nil {
		return err
	}
	return http.NewResponseController(o.w).Flush()
}

func (o *writer) start() error {
	if o.started {
		return nil
	}
	o.started = true
	h := o.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	o.w.WriteHeader(200)
	if o.chat {
		empty := ""
		return o.event(o.chatChunk(&chatOut{Role: "assistant", Content: &empty}, nil))
	}
	return http.NewResponseController(o.w).Flush()
}

// respond makes the response of o's request: object names its kind.
func respond[C chatChoice | completionChoice](o *writer, object string, u *usage, choices ...C) *response[C] {
	return &response[C]{ID: o.id, Object: object, Created: o.created, Model: o.model,
		SystemFingerprint: fingerprint, Choices: choices, Usage: u}
}

func (o *writer) chatChunk(delta *chatOut, finish *string) *chatResponse {
	return respond(o, "chat.completion.chunk", nil, chatChoice{Delta: delta, FinishReason: finish})
}

func (o *writer) completionChunk(text string, finish *string) *completionResponse {
	return respond(o, "text_completion", nil, completionChoice{Text: text, FinishReason: finish})
}

// fingerprint names the engine build in responses.
const fingerprint = "gemmavk"

func (o *writer) text(t string) error {
	if !o.j.stream {
		o.text0 = append(o.text0, t...)
		return nil
	}
	if err := o.start(); err != nil {
		return err
	}
	if o.chat {
		return o.event(o.chatChunk(&chatOut{Content: &t}, nil))
	}
	return o.event(o.completionChunk(t, nil))
}

func (o *writer) finish(st gemmavk.Stats) {
	reason := st.FinishReason
	u := usageOf(st)
	if !o.j.stream {
		text := string(o.text0)
		if o.chat {
			writeJSON(o.w, 200, respond(o, "chat.completion", u,
				chatChoice{Message: &chatOut{Role: "assistant", Content: &text}, FinishReason: &reason}))
		} else {
			writeJSON(o.w, 200, respond(o, "text_completion", u, completionChoice{Text: text, FinishReason: &reason}))
		}
		return
	}
	if o.start() != nil {
		return
	}
	if o.chat {
		o.event(o.chatChunk(&chatOut{}, &reason))
		if o.j.usageInStrm {
			c := o.chatChunk(nil, nil)
			c.Choices, c.Usage = []chatChoice{}, u
			o.event(c)
		}
	} else {
		o.event(o.completionChunk("", &reason))
		if o.j.usageInStrm {
			c := o.completionChunk("", nil)
			c.Choices, c.Usage = []completionChoice{}, u
			o.event(c)
		}
	}
	fmt.Fprint(o.w, "data: [DONE]\n\n")
	http.NewResponseController(o.w).Flush()
}

// fail reports an error that happened after the request was accepted.
func (o *writer) fail(err error) {
	e := &httpError{status: 500, typ: "server_error", msg: err.Error()}
	if errors.Is(err, gemma3.ErrContextFull) {
		e = &httpError{status: 400, typ: "invalid_request_error", code: "context_length_exceeded", msg: err.Error()}
	}
	if !o.started {
		writeError(o.w, e)
		return
	}
	o.event(e.body())
	fmt.Fprint(o.w, "data: [DONE]\n\n")
	http.NewResponseController(o.w).Flush()
}
