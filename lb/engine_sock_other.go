//go:build !linux

package lb

// rawInit: raw system calls are Linux-only; elsewhere s uses the
// connection's own Read and Write.
func (s *sockIO) rawInit() {}
