package store

// ChainLink is one delta of the chain from the head back, as its trailer
// names its parent.
type ChainLink struct {
	Seq, ParentSeq uint64
	// ParentIntact: the parent the trailer names is the loaded delta of
	// that id, with the same sequence number and trailer hash.
	ParentIntact bool
}

// HeadChain walks from the head to the first delta through the parents
// the trailers name.
func HeadChain(r *Store) []ChainLink {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []ChainLink
	for d := r.head; d != nil; {
		p := d.trailer.Parent
		link := ChainLink{Seq: d.ref.Seq, ParentSeq: p.Seq}
		next := r.deltas[p.ID]
		link.ParentIntact = p.Seq == 0 || (next != nil && next.ref == p)
		out = append(out, link)
		d = next
	}
	return out
}
