//go:build !unix

package tls

import "os"

func inode(os.FileInfo) uint64 { return 0 }
