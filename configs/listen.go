package configs

import (
	"fmt"
	"net"
	"strconv"
)

// ui_listen and metrics_listen are off by default. The unix socket is the
// daemon's interface and it checks the caller's uid; a TCP port cannot,
// and on a shared machine every local user (and every web page open in a
// local browser) can reach a loopback port. So a port opens only when its
// owner asks for one, and only on loopback: the status page guards itself
// with a token, but not with TLS, and /metrics has no guard at all.

// checkListen validates ui_listen and metrics_listen.
func (c *Config) checkListen() error {
	for _, f := range []struct{ key, val string }{{"ui_listen", c.UIListen}, {"metrics_listen", c.MetricsListen}} {
		if f.val == "" {
			continue
		}
		if err := CheckLoopback(f.val); err != nil {
			return c.errAt(f.key, "%s: %v", f.key, err)
		}
	}
	if _, port, _ := net.SplitHostPort(c.UIListen); port != "0" && c.UIListen != "" && c.UIListen == c.MetricsListen {
		return c.errAt("metrics_listen", "metrics_listen: %q is also ui_listen; give each its own port", c.MetricsListen)
	}
	return nil
}

// CheckLoopback accepts HOST:PORT where HOST is localhost or a loopback
// address and PORT a number (0 picks a free port).
func CheckLoopback(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not HOST:PORT (for example 127.0.0.1:8385)", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q: only a loopback address (127.0.0.1, ::1, localhost) is allowed; put a reverse proxy with its own authentication in front to reach it from elsewhere", addr)
	}
	return nil
}
