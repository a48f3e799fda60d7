// Package s3test runs a real S3 server for tests: versitygw, an S3 gateway
// over a POSIX directory, as a child process on a free loopback port.
//
// The binary is $VERSITYGW, else versitygw on PATH, else
// $(go env GOPATH)/bin/versitygw; scripts/install-versitygw.sh installs
// it. A test that cannot find or start it fails, it does not skip.
//
// The server dies with the test binary however the binary ends, SIGKILL
// included (it is started with internal/procs).
package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"go/build"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/exportd/exportd/internal/procs"
	"github.com/exportd/exportd/objstore"
)

// Install is the command that installs the versitygw the tests use.
const Install = "scripts/install-versitygw.sh (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)"

// startTimeout bounds how long a server may take to answer.
const startTimeout = 30 * time.Second

// Server is a running versitygw with one bucket.
type Server struct {
	// Endpoint is host:port, plain HTTP.
	Endpoint string
	// Bucket exists and is empty when Spawn returns.
	Bucket string
	// AccessKey and SecretKey are the root account's, random for each
	// server.
	AccessKey, SecretKey string
	// Region is the server's region.
	Region string
	// Dir is the directory whose subdirectories are the buckets.
	Dir string

	cmd  *exec.Cmd
	log  *bytes.Buffer // the server's output; safe after done
	done chan struct{} // closed when the process has been waited for
	err  error         // its Wait's result, once done
}

// Spawn starts a versitygw with a temporary directory and a bucket, waits
// until it answers, and stops it when the test ends (its output is logged
// if the test failed).
func Spawn(tb testing.TB) *Server {
	tb.Helper()
	bin, err := Binary()
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{
		Bucket:    "exports",
		AccessKey: "AK" + randomHex(9),
		SecretKey: randomHex(20),
		Region:    "us-east-1",
		Dir:       filepath.Join(tb.TempDir(), "gw"),
	}
	if err := os.Mkdir(s.Dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	// A free port can be taken between the probe and versitygw's listen:
	// try another when the server exits before it answers.
	for attempt := 0; ; attempt++ {
		err = s.start(bin)
		if err == nil {
			break
		}
		if attempt == 2 {
			tb.Fatalf("start versitygw: %v\n%s", err, s.output())
		}
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil && !procs.Killed(err) {
			tb.Errorf("versitygw: %v", err)
		}
		if tb.Failed() {
			tb.Logf("versitygw output:\n%s", s.output())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := s.makeBucket(ctx); err != nil {
		tb.Fatalf("versitygw at %s: %v", s.Endpoint, err)
	}
	return s
}

// Binary finds the versitygw binary, or says how to install it.
func Binary() (string, error) {
	if p := os.Getenv("VERSITYGW"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("$VERSITYGW: %w", err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	p := filepath.Join(goPath(), "bin", "versitygw")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("versitygw is not at $VERSITYGW, on PATH or at %s: install it with %s", p, Install)
}

// goPath is `go env GOPATH`'s first entry, or Go's default without a go
// command.
func goPath() string {
	out, err := procs.Output(exec.Command("go", "env", "GOPATH"))
	gopath := strings.TrimSpace(string(out))
	if err != nil || gopath == "" {
		gopath = build.Default.GOPATH
	}
	return filepath.SplitList(gopath)[0]
}

// start runs versitygw on a free loopback port and returns once it has
// started, or an error if it exited first.
func (s *Server) start(bin string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	s.Endpoint = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s.cmd = exec.Command(bin, Args(s.AccessKey, s.SecretKey, s.Endpoint, s.Region, s.Dir)...)
	s.log = new(bytes.Buffer)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := procs.Start(s.cmd); err != nil {
		return err
	}
	s.done = make(chan struct{})
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	return s.waitListening(port)
}

// Args are versitygw's arguments for a root account, a listen address, a
// region and a POSIX directory.
func Args(access, secret, addr, region, dir string) []string {
	return []string{"--access", access, "--secret", secret, "--port", addr, "--region", region, "--quiet", "posix", dir}
}

// waitListening waits until the server accepts connections on port.
func (s *Server) waitListening(port int) error {
	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := net.DialTimeout("tcp", s.Endpoint, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("versitygw exited before listening on port %d: %v", port, s.err)
		case <-deadline.C:
			s.Kill()
			return fmt.Errorf("versitygw did not listen on %s within %v", s.Endpoint, startTimeout)
		case <-tick.C:
		}
	}
}

// makeBucket creates s.Bucket through the S3 API.
func (s *Server) makeBucket(ctx context.Context) error {
	c, err := s.client()
	if err != nil {
		return err
	}
	if err := c.MakeBucket(ctx, s.Bucket, minio.MakeBucketOptions{Region: s.Region}); err != nil {
		return fmt.Errorf("make bucket %s: %w", s.Bucket, err)
	}
	return nil
}

// Client is a minio-go client of the server's root account, for a test
// that looks under objstore (multipart uploads left, raw objects).
func (s *Server) Client(tb testing.TB) *minio.Client {
	tb.Helper()
	c, err := s.client()
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func (s *Server) client() (*minio.Client, error) {
	return minio.New(s.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Region: s.Region,
	})
}

// Config is an objstore.Config for s.Bucket under prefix (may be "").
func (s *Server) Config(prefix string) objstore.Config {
	return objstore.Config{
		Endpoint:        s.Endpoint,
		Insecure:        true,
		Region:          s.Region,
		Bucket:          s.Bucket,
		Prefix:          prefix,
		AccessKeyID:     s.AccessKey,
		SecretAccessKey: s.SecretKey,
	}
}

// URL is the server's endpoint URL, as AWS_ENDPOINT_URL takes it.
func (s *Server) URL() string {
	return "http://" + s.Endpoint
}

// Pid is the server's process id.
func (s *Server) Pid() int {
	return s.cmd.Process.Pid
}

// Stop ends the server with SIGTERM (SIGKILL after ten seconds) and waits
// for it; it returns the process's exit error. Stopping a stopped server
// returns the same.
func (s *Server) Stop() error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		return errors.Join(errors.New("versitygw did not stop on SIGTERM"), s.err)
	}
	return s.exitErr()
}

// Kill ends the server with SIGKILL, as a crash would, and waits for it.
func (s *Server) Kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// exitErr is the process's exit, where SIGTERM's is a clean stop.
func (s *Server) exitErr() error {
	var ee *exec.ExitError
	if errors.As(s.err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
			return nil
		}
	}
	return s.err
}

// output is what the server printed, once it has exited; "" before.
func (s *Server) output() string {
	if s.done == nil {
		return ""
	}
	select {
	case <-s.done:
		return s.log.String()
	default:
		return "(still running)"
	}
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}
