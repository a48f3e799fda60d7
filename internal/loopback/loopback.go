// Package loopback tells whether a listening address is reachable only
// from this machine: what exportd's servers bind by default, and what
// they warn about, or refuse, when told otherwise.
package loopback

import "net"

// Addr reports whether addr (host:port) accepts connections only from
// this machine: a loopback IP (127.0.0.0/8, ::1) or "localhost". An empty
// host (every interface), a name, or an address without a port is not.
func Addr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
