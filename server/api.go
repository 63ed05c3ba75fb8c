package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"gemmavk"
)

// The request and response bodies of the OpenAI API subset served here.

// apiError is the body of every error response.
type apiError struct {
	Error errorBody `json:"error"`
}

type errorBody struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// httpError is an error with its status and OpenAI type, param and code.
type httpError struct {
	status            int
	typ, param, code  string
	msg               string
	retryAfterSeconds int
}

func (e *httpError) Error() string { return e.msg }

func badRequest(param, code, format string, args ...any) *httpError {
	return &httpError{status: 400, typ: "invalid_request_error", param: param, code: code, msg: fmt.Sprintf(format, args...)}
}

func (e *httpError) body() apiError {
	b := errorBody{Message: e.msg, Type: e.typ}
	if e.param != "" {
		b.Param = &e.param
	}
	if e.code != "" {
		b.Code = &e.code
	}
	return apiError{Error: b}
}

// samplingParams are the generation fields both endpoints take.
type samplingParams struct {
	Model               string          `json:"model"`
	Stream              bool            `json:"stream"`
	StreamOptions       *streamOptions  `json:"stream_options"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	TopK                *int            `json:"top_k"`
	MinP                *float64        `json:"min_p"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Stop                json.RawMessage `json:"stop"`
	Seed                *int64          `json:"seed"`
	N                   *int            `json:"n"`
	// Extensions in the manner of llama.cpp's server.
	RepeatPenalty *float64 `json:"repeat_penalty"`
	IgnoreEOS     bool     `json:"ignore_eos"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type chatRequest struct {
	samplingParams
	Messages []chatMessage `json:"messages"`
	// PanAndScan (an extension) follows each elongated image with its Pan
	// & Scan crops (gemmavk.PromptOptions).
	PanAndScan bool `json:"pan_and_scan"`
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type contentPart struct {
	Type     string          `json:"type"`
	Text     *string         `json:"text"`
	ImageURL json.RawMessage `json:"image_url"`
}

type completionRequest struct {
	samplingParams
	Prompt json.RawMessage `json:"prompt"`
}

type usage struct {
	PromptTokens        int            `json:"prompt_tokens"`
	CompletionTokens    int            `json:"completion_tokens"`
	TotalTokens         int            `json:"total_tokens"`
	PromptTokensDetails *tokensDetails `json:"prompt_tokens_details,omitempty"`
}

type tokensDetails struct {
	CachedTokens int `json:"cached_tokens"`
}

func usageOf(st gemmavk.Stats) *usage {
	return &usage{PromptTokens: st.PromptTokens, CompletionTokens: st.Tokens, TotalTokens: st.PromptTokens + st.Tokens,
		PromptTokensDetails: &tokensDetails{CachedTokens: st.CachedTokens}}
}

// response is the envelope of both endpoints' answers and stream chunks;
// C is the endpoint's choice.
type response[C chatChoice | completionChoice] struct {
	ID                string `json:"id"`
	Object            string `json:"object"`
	Created           int64  `json:"created"`
	Model             string `json:"model"`
	SystemFingerprint string `json:"system_fingerprint"`
	Choices           []C    `json:"choices"`
	Usage             *usage `json:"usage,omitempty"`
}

type (
	chatResponse       = response[chatChoice]
	completionResponse = response[completionChoice]
)

type chatChoice struct {
	Index        int       `json:"index"`
	Message      *chatOut  `json:"message,omitempty"`
	Delta        *chatOut  `json:"delta,omitempty"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason *string   `json:"finish_reason"`
}

type chatOut struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

type completionChoice struct {
	Index        int       `json:"index"`
	Text         string    `json:"text"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason *string   `json:"finish_reason"`
}

type modelList struct {
	Object string      `json:"object"`
	Data   []modelInfo `json:"data"`
}

type modelInfo struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// decodeBody parses a JSON request body strictly enough to catch
// malformed input (trailing data, wrong types) while ignoring fields this
// server does not know, as OpenAI clients send many.
func decodeBody(data []byte, v any) *httpError {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return badRequest(te.Field, "invalid_type", "invalid type for %q: expected %s, got a JSON %s", te.Field, te.Type, te.Value)
		}
		return badRequest("", "invalid_json", "we could not parse the JSON body of your request: %v", err)
	}
	if dec.More() {
		return badRequest("", "invalid_json", "we could not parse the JSON body of your request: data after the JSON value")
	}
	return nil
}

// parseStop reads "stop": null, a string, or a list of up to 4 strings.
func parseStop(raw json.RawMessage) ([]string, *httpError) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, badRequest("stop", "invalid_type", "stop must be a string or a list of strings")
	}
	if len(list) > 4 {
		return nil, badRequest("stop", "invalid_value", "stop takes at most 4 sequences, got %d", len(list))
	}
	return list, nil
}

// parseContent reads a message's content: a string, null, or a list of
// parts (text, and image_url with a data: URL, decoded here).
func parseContent(i int, raw json.RawMessage) (gemmavk.Message, *httpError) {
	param := fmt.Sprintf("messages[%d].content", i)
	var m gemmavk.Message
	if len(raw) == 0 || string(raw) == "null" {
		return m, nil
	}
	if err := json.Unmarshal(raw, &m.Text); err == nil {
		return m, nil
	}
	var parts []contentPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return m, badRequest(param, "invalid_type", "%s must be a string or a list of content parts", param)
	}
	m.Parts = []gemmavk.Part{}
	for j, p := range parts {
		pp := fmt.Sprintf("%s[%d]", param, j)
		switch p.Type {
		case "text":
			if p.Text == nil {
				return m, badRequest(pp+".text", "missing_required_parameter", "%s: a text part needs \"text\"", pp)
			}
			m.Parts = append(m.Parts, gemmavk.Part{Text: *p.Text})
		case "image_url":
			url, err := imageURL(p.ImageURL)
			if err != nil {
				return m, badRequest(pp+".image_url", "invalid_value", "%s: %v", pp, err)
			}
			img, err := gemmavk.DecodeDataURL(url)
			if err != nil {
				return m, badRequest(pp+".image_url", "invalid_image", "%s: %v", pp, err)
			}
			m.Parts = append(m.Parts, gemmavk.Part{Image: img})
		default:
			return m, badRequest(pp+".type", "invalid_value", "%s: unsupported content part type %q (want text or image_url)", pp, p.Type)
		}
	}
	return m, nil
}

// imageURL reads image_url: {"url": "..."} or a bare string.
func imageURL(raw json.RawMessage) (string, error) {
	var obj struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal(raw, &obj); err == nil && obj.URL != "" {
		return obj.URL, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil && s != "" {
		return s, nil
	}
	return "", errors.New(`image_url must be {"url": "data:..."}`)
}

// promptText reads a completion prompt: a string or a list of one string.
func promptText(raw json.RawMessage) (string, *httpError) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err == nil {
		if len(list) == 1 {
			return list[0], nil
		}
		return "", badRequest("prompt", "invalid_value", "prompt: one prompt per request is supported, got %d", len(list))
	}
	if len(raw) == 0 {
		return "", badRequest("prompt", "missing_required_parameter", "you must provide a prompt")
	}
	return "", badRequest("prompt", "invalid_type", "prompt must be a string")
}

func trimForMessage(s string) string {
	if len(s) > 64 {
		return strings.ToValidUTF8(s[:64], "") + "…"
	}
	return s
}
