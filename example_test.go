package gemmavk_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"gemmavk"
	"gemmavk/gemma3"
	"gemmavk/gemma3/sample"
	"gemmavk/internal/testmodel"
)

// tinyGGUF writes the tiny test model (random weights, a made-up
// tokenizer) as a GGUF file, standing in for a real one.
func tinyGGUF() (path string, cleanup func()) {
	g, err := testmodel.TextTiny()
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close()
	dir, err := os.MkdirTemp("", "gemmavk-example")
	if err != nil {
		log.Fatal(err)
	}
	path = filepath.Join(dir, "tiny.gguf")
	if err := g.WriteGGUF(path, gemma3.KeepType); err != nil {
		log.Fatal(err)
	}
	return path, func() { os.RemoveAll(dir) }
}

// Load a model and see where it runs.
func ExampleLoad() {
	path, cleanup := tinyGGUF()
	defer cleanup()
	m, err := gemmavk.Load(path, gemmavk.Options{Device: "cpu", Ctx: 256})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	in := m.Info()
	fmt.Println(in.Backend, in.Layers, "layers, context", in.Ctx)
	// Output: cpu 7 layers, context 256
}

// Chat, streaming the answer as it is generated.
func ExampleModel_NewChat() {
	path, cleanup := tinyGGUF()
	defer cleanup()
	m, err := gemmavk.Load(path, gemmavk.Options{Device: "cpu", Ctx: 256})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	chat, err := m.NewChat("Answer briefly.")
	if err != nil {
		log.Fatal(err)
	}
	defer chat.Close()
	// Greedy, with a repetition penalty (the random test model would
	// otherwise repeat one token).
	chat.Options = gemmavk.GenerateOptions{MaxTokens: 8, Sampling: sample.Config{RepeatPenalty: 3}}
	for tok, err := range chat.Stream(context.Background(), "Hello!") {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Print(tok.Text)
	}
	fmt.Println()
	st := chat.Stats()
	fmt.Println(st.Tokens, "tokens,", st.FinishReason)
	// The second turn feeds only the new message: the history is cached.
	if _, err := chat.Send(context.Background(), "And then?"); err != nil {
		log.Fatal(err)
	}
	st = chat.Stats()
	fmt.Println(st.PromptTokens-st.CachedTokens, "new prompt tokens of", st.PromptTokens)
	// Output:
	// 仟乓乓乓乓乓乓乓
	// 8 tokens, length
	// 26 new prompt tokens of 73
}

// Complete a raw prompt (no chat template).
func ExampleModel_Complete() {
	path, cleanup := tinyGGUF()
	defer cleanup()
	m, err := gemmavk.Load(path, gemmavk.Options{Device: "cpu", Ctx: 256})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	res, err := m.Complete(context.Background(), "Once upon a time", gemmavk.GenerateOptions{MaxTokens: 6, Sampling: sample.Config{RepeatPenalty: 3}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q %v\n", res.Text, res.IDs)
	// Output: "冀信)仈仈仈" [998 583 12 302 302 302]
}

// Lend sessions to concurrent requests; a request whose prompt extends
// what a session holds is evaluated only from there.
func ExampleModel_NewPool() {
	path, cleanup := tinyGGUF()
	defer cleanup()
	m, err := gemmavk.Load(path, gemmavk.Options{Device: "cpu", Ctx: 256})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	pool := m.NewPool(2, 8) // two sessions, eight requests may wait
	defer pool.Close()
	ctx := context.Background()
	opt := gemmavk.GenerateOptions{MaxTokens: 4, Sampling: sample.Config{RepeatPenalty: 3}}
	ask := func(msgs []gemmavk.Message) gemmavk.Result {
		ids, err := m.ChatIDs(msgs)
		if err != nil {
			log.Fatal(err)
		}
		s, err := pool.Acquire(ctx, ids)
		if err != nil {
			log.Fatal(err)
		}
		defer pool.Release(s)
		res, err := s.Generate(ctx, ids, opt)
		if err != nil {
			log.Fatal(err)
		}
		return res
	}
	msgs := []gemmavk.Message{{Role: "user", Text: "Hi"}}
	first := ask(msgs)
	msgs = append(msgs, gemmavk.Message{Role: "assistant", Text: first.Text}, gemmavk.Message{Role: "user", Text: "More"})
	second := ask(msgs)
	// The first turn's prompt and answer were in the cache (the answer must
	// tokenize back to the ids generated, as it does here).
	fmt.Println(second.Stats.CachedTokens == first.Stats.PromptTokens+first.Stats.Tokens)
	// Output: true
}
