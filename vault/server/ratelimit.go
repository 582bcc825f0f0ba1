package server

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiterSet is a set of token buckets keyed by K (a client address, an
// account id, or an account id with an owner token's hash). Buckets that
// have refilled completely carry no information and are dropped by prune,
// so the set stays bounded by recent activity.
type limiterSet[K comparable] struct {
	mu    sync.Mutex
	limit rate.Limit
	burst int
	max   int // bound on tracked keys; when full, new keys are refused (take) or evict one (admit)
	m     map[K]*rate.Limiter
}

func newLimiterSet[K comparable](perSecond float64, burst, max int) *limiterSet[K] {
	return &limiterSet[K]{limit: rate.Limit(perSecond), burst: burst, max: max, m: make(map[K]*rate.Limiter)}
}

// allow takes one token for k at now; false means over the limit, or no
// room for a new key.
func (s *limiterSet[K]) allow(now time.Time, k K) bool { return s.take(now, k) == takeOK }

// takeResult is what take did.
type takeResult int

const (
	takeOK      takeResult = iota
	takeLimited            // k's bucket is empty
	takeFull               // k has no bucket and none can be dropped to make room
)

// take takes one token for k at now. A new key gets a bucket only when
// there is room: when full, nothing is tracked for it.
func (s *limiterSet[K]) take(now time.Time, k K) takeResult {
	if s.limit <= 0 {
		return takeOK // disabled
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.m[k]
	if !ok {
		if len(s.m) >= s.max {
			s.pruneLocked(now)
			if len(s.m) >= s.max {
				return takeFull // fail closed under a flood of distinct keys
			}
		}
		l = rate.NewLimiter(s.limit, s.burst)
		s.m[k] = l
	}
	if !l.AllowN(now, 1) {
		return takeLimited
	}
	return takeOK
}

// admit is take for a key whose request proved it is wanted (an owner
// proof that matched): when the table is full it drops another key's
// bucket to make room, an arbitrary one (Go randomises map order): under a
// flood, nearly always the flood's. Whoever keeps the table
// full cannot then shut that key out; the dropped key, if it is wanted
// too, gets a new, full bucket through admit in turn. The table stays
// within max.
func (s *limiterSet[K]) admit(now time.Time, k K) bool {
	if s.limit <= 0 {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.m[k]
	if !ok {
		if len(s.m) >= s.max {
			for victim := range s.m {
				delete(s.m, victim)
				break
			}
		}
		l = rate.NewLimiter(s.limit, s.burst)
		s.m[k] = l
	}
	return l.AllowN(now, 1)
}

// prune drops buckets that are full again at now.
func (s *limiterSet[K]) prune(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneLocked(now)
}

func (s *limiterSet[K]) pruneLocked(now time.Time) {
	for k, l := range s.m {
		if l.TokensAt(now) >= float64(s.burst) {
			delete(s.m, k)
		}
	}
}

// headKey is the head limit's key: the account id and the hash of the
// owner token the request shows. The owner's requests all share one
// bucket; a stranger's wrong token fills a bucket of its own, so that
// knowing the account's name is not enough to stop its backups.
type headKey struct {
	account [32]byte
	owner   [32]byte
}

func newHeadKey(account [32]byte, ownerHash []byte) headKey {
	k := headKey{account: account}
	copy(k.owner[:], ownerHash)
	return k
}
