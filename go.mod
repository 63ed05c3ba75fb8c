module gemmavk

go 1.26.0

require (
	github.com/goki/vulkan v1.0.7
	golang.org/x/image v0.48.0
)
