package loopback

import "testing"

func TestAddr(t *testing.T) {
	for _, c := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:27017", true},
		{"127.0.0.2:0", true},
		{"localhost:27017", true},
		{"[::1]:27017", true},
		{":27017", false},
		{"0.0.0.0:27017", false},
		{"[::]:27017", false},
		{"192.168.1.10:27017", false},
		{"db.example.com:27017", false},
		{"no port", false},
	} {
		if got := Addr(c.addr); got != c.want {
			t.Errorf("Addr(%q) = %v, want %v", c.addr, got, c.want)
		}
	}
}
