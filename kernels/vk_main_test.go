package kernels

import (
	"testing"

	"gemmavk/internal/vktest"
)

func TestMain(m *testing.M) { vktest.Main(m) }
