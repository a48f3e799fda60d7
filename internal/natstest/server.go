// Package natstest starts embedded NATS servers for tests, on loopback,
// stopped when the test ends.
package natstest

import (
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Server starts an embedded NATS server on a random loopback port
// and shuts it down when the test ends.
func Server(tb testing.TB) *server.Server {
	tb.Helper()
	return ServerOn(tb, -1)
}

// ServerOn starts an embedded NATS server on port (-1: random).
// Shutting down twice is fine, so a test may stop it early.
func ServerOn(tb testing.TB, port int) *server.Server {
	tb.Helper()
	// The daemon's embedded server's max payload, so that a test can send
	// more than the service accepts.
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true, MaxPayload: 8 << 20})
	if err != nil {
		tb.Fatalf("nats server: %v", err)
	}
	go s.Start()
	tb.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(10 * time.Second) {
		tb.Fatalf("nats server on port %d is not ready", port)
	}
	return s
}

// Port is the port a test server listens on.
func Port(tb testing.TB, s *server.Server) int {
	tb.Helper()
	addr, ok := s.Addr().(*net.TCPAddr)
	if !ok {
		tb.Fatalf("nats server address %v is not TCP", s.Addr())
	}
	return addr.Port
}

// Conn connects to s and closes the connection when the test ends.
func Conn(tb testing.TB, s *server.Server, opts ...nats.Option) *nats.Conn {
	tb.Helper()
	nc, err := nats.Connect(s.ClientURL(), opts...)
	if err != nil {
		tb.Fatalf("nats connect: %v", err)
	}
	tb.Cleanup(nc.Close)
	return nc
}
