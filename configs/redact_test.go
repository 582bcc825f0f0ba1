package configs

import "testing"

// TestRedactRemote: a connection string loses every parameter's value,
// quoted or not, and keeps its backend, parameter names and path; a
// local path or a named remote without parameters stays as it is.
func TestRedactRemote(t *testing.T) {
	for in, want := range map[string]string{
		"/mnt/nas/chatsafe": "/mnt/nas/chatsafe",
		`C:\backups`:        `C:\backups`,
		"gdrive:chatsafe":   "gdrive:chatsafe",
		":local:/tmp/x":     ":local:/tmp/x",
		":s3,provider=AWS,access_key_id=AK,secret_access_key='a,b:c''d':bucket/chats": ":s3,provider=<hidden>,access_key_id=<hidden>,secret_access_key=<hidden>:bucket/chats",
		`:webdav,url="https://u:p@dav.example.org/x",pass=s3cret:chats`:               ":webdav,url=<hidden>,pass=<hidden>:chats",
		"dav,pass=x/y,user=alice:backups":                                             "dav,pass=<hidden>,user=<hidden>:backups",
		":sftp,key_use_agent:path":                                                    ":sftp,key_use_agent:path",
		":s3,secret_access_key='unclosed:bucket":                                      "(a remote whose connection string does not parse)",
		":s3,secret_access_key=nopath":                                                "(a remote whose connection string does not parse)",
	} {
		if got := redactRemote(in); got != want {
			t.Errorf("redactRemote(%q) = %q, want %q", in, got, want)
		}
	}
}
