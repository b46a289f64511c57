package echo

import (
	"bufio"
	"net"
	"testing"
	"time"

	"netsim/internal/listen"
)

func TestGreetsAndEchoes(t *testing.T) {
	s := &Server{ID: "e1"}
	bound, stop, err := listen.Start("127.0.0.1:0", s.Serve)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", bound.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	if line, _ := r.ReadString('\n'); line != "e1 ready\n" {
		t.Fatalf("greeting %q", line)
	}
	if _, err := c.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	if line, _ := r.ReadString('\n'); line != "e1: hello\n" {
		t.Fatalf("echo %q", line)
	}
	if err := stop(); err != nil { // closes the open connection too
		t.Fatal(err)
	}
	if _, err := r.ReadString('\n'); err == nil {
		t.Fatal("connection still open after shutdown")
	}
}
