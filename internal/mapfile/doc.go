// Package mapfile maps model files read-only into memory (mmap on unix,
// a plain read elsewhere), so weights are used in place rather than copied.
// It is shared by the file-format packages and imports only the standard
// library.
package mapfile
