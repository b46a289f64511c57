package echo

import (
	"bufio"
	"context"
	"net"
	"testing"
	"time"
)

func TestGreetsAndEchoes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	s := &Server{ID: "e1"}
	go func() { done <- s.ListenAndServe(ctx, "127.0.0.1:0", func(a net.Addr) { addrc <- a }) }()
	c, err := net.Dial("tcp", (<-addrc).String())
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
	cancel() // closes the open connection too
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadString('\n'); err == nil {
		t.Fatal("connection still open after shutdown")
	}
}
