package store

// A dictionary made of the first pages the writer seals is made of a
// database's schema, its small tables and its oldest rows: on the bench's
// --full database (3,000 chats before 1.7 M messages) such a dictionary
// compressed the other pages to 0.514 of their size at dictBulkLevel, one
// made of leaf pages spread over the whole file to 0.448 (--quick: 0.445
// and 0.442; BenchmarkDictChoices). So a source that reads a database
// whole offers such a sample before its first page, and the writer makes
// its dictionary of it: every page, the sampled ones too, is then
// compressed with it.

// WantsDictSample is how many pages the writer would make a dictionary
// of, offered through DictSample before they are written; 0 when it has
// a dictionary that still does well.
func (b *Writer) WantsDictSample() int {
	s := &b.r.dicts
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil && !s.sampling {
		return 0
	}
	return dictSample
}

// DictSample offers pages spread over a file (a database's leaf pages)
// that the writer may make its dictionary of. Fewer than half of
// WantsDictSample's count, or pages the writer would not compress with a
// dictionary, are ignored: the writer then samples the pages it seals.
func (b *Writer) DictSample(pages [][]byte) {
	var sample [][]byte
	for _, p := range pages {
		if len(p) >= dictMinBlob && len(p) <= dictMaxBlob {
			sample = append(sample, append([]byte(nil), p...))
		}
	}
	if len(sample) < dictSample/2 {
		return
	}
	s := &b.r.dicts
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil && !s.sampling {
		return
	}
	s.sample = sample
	b.r.makeDictLocked()
}
