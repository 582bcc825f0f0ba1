package store

import (
	"fmt"
	"sync"

	"github.com/chatsafe/chatsafe/crypt"
)

// Blobs handed to the writer in a buffer it takes over: media chunks read
// straight into one (ChunkBuffer, ChunkOwned), and large copies, which
// take their big buffer before the delta's lock (store, chunk).

// storeOwned is store for a blob copied into a buffer from ChunkBuffer,
// which it takes over whatever the outcome.
func (b *Writer) storeOwned(id crypt.ID, typ BlobType, buf *[]byte, incompressible bool) error {
	w, err := b.acquire(len(*buf))
	if err != nil {
		b.seal.putBuffer(buf)
		return err
	}
	defer b.rot.RUnlock()
	if !b.claim(w, id) {
		w.release(len(*buf))
		b.seal.putBuffer(buf)
		return nil
	}
	return b.seal.submitOwned(w, id, typ, buf, incompressible, nil, nil, nil)
}

// ChunkBuffer returns an empty buffer of capacity n or more for a chunk
// of file content the caller fills and hands to ChunkOwned, which takes
// it over, or gives back with PutChunkBuffer, before the file's visit
// ends. Filled in place (a media file read straight into it), the chunk
// costs no copy on its way to the sealing workers. A buffer over 256 KiB
// comes from the writer's big buffers: this waits while they are taken.
func (b *Writer) ChunkBuffer(n int) *[]byte {
	buf, _ := b.seal.buffer(n)
	return buf
}

// ChunkBufferMore is ChunkBuffer for a caller that holds one from it
// already, which it has not handed over: it does not wait for the big
// buffers (the one held may be what they wait for), going past their
// budget for this one instead.
func (b *Writer) ChunkBufferMore(n int) *[]byte { return b.seal.bufferMore(n) }

// PutChunkBuffer gives back a buffer from ChunkBuffer that was not handed
// to ChunkOwned.
func (b *Writer) PutChunkBuffer(buf *[]byte) { b.seal.putBuffer(buf) }

// ChunkOwned is Chunk for a chunk in a buffer from ChunkBuffer, which it
// takes over whatever the outcome: the caller no longer touches it.
func (b *Writer) ChunkOwned(buf *[]byte, incompressible, inline bool, slot *ChunkRef, pending *sync.WaitGroup) error {
	data := *buf
	if len(data) > maxBlobSize {
		b.seal.putBuffer(buf)
		return fmt.Errorf("chunk of %d bytes exceeds the format's limit of %d", len(data), maxBlobSize)
	}
	w, err := b.acquire(len(data))
	if err != nil {
		b.seal.putBuffer(buf)
		return err
	}
	defer b.rot.RUnlock()
	if !inline {
		return b.seal.submitOwned(w, crypt.ID{}, blobData, buf, incompressible, slot, b.claim, pending)
	}
	*slot = ChunkRef{ID: b.r.ids.Sum(data), Len: uint32(len(data))}
	if !b.claim(w, slot.ID) {
		w.release(len(data))
		b.seal.putBuffer(buf)
		return nil
	}
	return b.seal.submitOwned(w, slot.ID, blobData, buf, incompressible, nil, nil, nil)
}
