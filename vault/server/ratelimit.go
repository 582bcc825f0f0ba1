package server

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiterSet is a set of token buckets keyed by K (a client address, an
// account id, or an account id with an owner token's hash). Buckets that have refilled completely carry no information
// and are dropped by prune, so the set stays bounded by recent activity.
type limiterSet[K comparable] struct {
	mu    sync.Mutex
	limit rate.Limit
	burst int
	max   int // bound on tracked keys; when full, new keys are refused
	m     map[K]*rate.Limiter
}

func newLimiterSet[K comparable](perSecond float64, burst, max int) *limiterSet[K] {
	return &limiterSet[K]{limit: rate.Limit(perSecond), burst: burst, max: max, m: make(map[K]*rate.Limiter)}
}

// allow takes one token for k at now; false means over the limit.
func (s *limiterSet[K]) allow(now time.Time, k K) bool {
	if s.limit <= 0 {
		return true // disabled
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.m[k]
	if !ok {
		if len(s.m) >= s.max {
			s.pruneLocked(now)
			if len(s.m) >= s.max {
				return false // fail closed under a flood of distinct keys
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
