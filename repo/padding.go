package repo

import "github.com/chatsafe/chatsafe/crypt"

// maxPadding bounds the sealed padding of one delta: it is sealed and
// read like one blob, under the same limit.
const maxPadding = maxBlobSize + crypt.Overhead
