module gemmavk

go 1.26.0

require (
	github.com/creack/pty v1.1.24
	github.com/goki/vulkan v1.0.7
	github.com/google/shlex v0.0.0-20191202100458-e7afc7fbc510
	github.com/schollz/progressbar/v3 v3.19.1
	golang.org/x/image v0.48.0
	golang.org/x/term v0.44.0
)

require (
	github.com/mitchellh/colorstring v0.0.0-20190213212951-d06e56a500db // indirect
	github.com/rivo/uniseg v0.4.7 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
