package gemma3

import "gemmavk/tokenizer"

// ImagePrompt renders a conversation with the chat template and the
// generation prompt (image parts become <start_of_image>), expands its
// images (ExpandImages, with Config.Image's tokens per image and the Pan &
// Scan crop count of each image, nil for none) and tokenizes it. Feed the
// ids with the images' features in order (FeedImages).
func (m *Model) ImagePrompt(msgs []tokenizer.Message, crops []int) ([]int, error) {
	return m.ChatPromptImages(msgs, m.Config.Image.Resolved().Tokens, crops)
}
