package configs

import "strings"

// redactRemote is a remote's URL fit for a message: an rclone connection
// string (":s3,access_key_id=...,secret_access_key=...:bucket", or a
// named remote with parameters) keeps its backend or name, its
// parameters' names and its path, never their values: keys, passwords
// and tokens ride there. remotes.Redact does more (it shows an endpoint),
// but configs links no rclone (deps_test.go).
func redactRemote(u string) string {
	start := 0
	if strings.HasPrefix(u, ":") {
		start = 1
	}
	i := strings.IndexAny(u[start:], ",:")
	if i < 0 || u[start+i] == ':' || strings.ContainsAny(u[:start+i], `/\`) {
		return u // a local path, or a remote without parameters
	}
	i += start
	out := []string{u[:i]}
	for i < len(u) && u[i] == ',' {
		k := i + 1
		i = k + strings.IndexFunc(u[k:], func(r rune) bool { return r == '=' || r == ',' || r == ':' })
		if i < k {
			break // no ':' and no path: not a connection string
		}
		if u[i] != '=' {
			out = append(out, u[k:i]) // a flag: no value
			continue
		}
		out = append(out, u[k:i]+"=<hidden>")
		if i = valueEnd(u, i+1); i < 0 {
			break
		}
	}
	if i < 0 || i >= len(u) || u[i] != ':' {
		return "(a remote whose connection string does not parse)"
	}
	return strings.Join(out, ",") + u[i:]
}

// valueEnd is where the connection-string parameter value starting at
// u[i] ends (quoted with ' or ", a doubled quote standing for one), or -1
// if a quote is not closed.
func valueEnd(u string, i int) int {
	if i >= len(u) || u[i] != '\'' && u[i] != '"' {
		for i < len(u) && u[i] != ',' && u[i] != ':' {
			i++
		}
		return i
	}
	q := u[i]
	for i++; i < len(u); i++ {
		if u[i] != q {
			continue
		}
		if i+1 < len(u) && u[i+1] == q {
			i++
			continue
		}
		return i + 1
	}
	return -1
}
