package prune

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/chatsafe/chatsafe/store"
)

// Each device's newest snapshot is kept whatever the policy says, but the
// writer's (the newest snapshot of all, which any policy keeps): when a
// device is switched away from, its last state may hold what the new
// device never had (its daemon went on backing up after the new one
// restored), and only the user knows when it is no longer needed
// (Policy.ForgetDevices, `prune --forget-device`). The cost is one
// snapshot per old device, whose data the newer snapshots mostly share.

// ErrUnknownDevice is a Policy.ForgetDevices name that matches no device
// whose newest snapshot prune keeps (or several).
var ErrUnknownDevice = errors.New("no such device")

type unknownDeviceError struct{ msg string }

func (e *unknownDeviceError) Error() string        { return e.msg }
func (e *unknownDeviceError) Is(target error) bool { return target == ErrUnknownDevice }

// device is the snapshots one device took.
type device struct {
	key    string // its id (hex), or "HOST:SOURCE" for snapshots with no id
	label  string // as users see it: "HOST/abcd1234", or "HOST:SOURCE"
	newest int    // index of its newest snapshot, newest first
}

// devicesOf groups sorted (newest first) by the device that took each
// snapshot: its id (Snapshot.Device: from its record, or the trailer of the
// delta holding it before trailer version 8).
// A snapshot with no id (written before format 3) belongs to the device
// with an id that backed up the same source on the same host, if one did,
// else to its host and source. It returns each snapshot's device key and
// the devices, newest first.
func devicesOf(sorted []store.Snapshot) ([]string, []*device) {
	type place struct{ host, source string }
	idAt := map[place]string{}
	for _, s := range sorted {
		if s.Device != ([16]byte{}) {
			if _, ok := idAt[place{s.Hostname, s.Source}]; !ok {
				idAt[place{s.Hostname, s.Source}] = hex.EncodeToString(s.Device[:])
			}
		}
	}
	keys := make([]string, len(sorted))
	seen := map[string]bool{}
	var devs []*device
	for i, s := range sorted {
		key, label := "", ""
		switch id, ok := idAt[place{s.Hostname, s.Source}]; {
		case s.Device != ([16]byte{}):
			key = hex.EncodeToString(s.Device[:])
		case ok:
			key = id
		default:
			key = s.Hostname + ":" + s.Source
			label = key
		}
		if label == "" {
			label = s.Hostname + "/" + key[:8]
		}
		keys[i] = key
		if !seen[key] {
			seen[key] = true
			devs = append(devs, &device{key: key, label: label, newest: i})
		}
	}
	return keys, devs
}

// matches reports whether name (from --forget-device) names d: its id
// or a prefix of at least 4 hex digits of it, alone or after "HOST/", or
// its label.
func (d *device) matches(name string) bool {
	if name == d.label || name == d.key {
		return true
	}
	if i := strings.LastIndexByte(name, '/'); i >= 0 && strings.HasPrefix(d.label, name[:i+1]) {
		name = name[i+1:]
	}
	name = strings.ToLower(name)
	if len(name) < 4 || strings.Trim(name, "0123456789abcdef") != "" {
		return false
	}
	return len(d.key) == 32 && strings.HasPrefix(d.key, name)
}

// keepDevices keeps, in out (newest first, as sorted), the newest
// snapshot of every device but the writer's, unless forget names it.
func keepDevices(out []Decision, sorted []store.Snapshot, forget []string) {
	if len(sorted) == 0 {
		return
	}
	_, devs := devicesOf(sorted)
	for _, d := range devs[1:] { // devs[0] wrote the newest snapshot: the writer
		released := false
		for _, name := range forget {
			released = released || d.matches(name)
		}
		if released {
			continue
		}
		dec := &out[d.newest]
		dec.ByPolicy = dec.Keep
		dec.Keep = true
		dec.NewestOf = d.label
		dec.Reasons = append(dec.Reasons, "newest of device "+d.label)
	}
}

// CheckForgetDevices reports, wrapping ErrUnknownDevice, a name in
// p.ForgetDevices that names no device whose newest snapshot the policy
// keeps (or names several).
func CheckForgetDevices(snaps []store.Snapshot, p Policy) error {
	if len(p.ForgetDevices) == 0 {
		return nil
	}
	sorted := sortedNewestFirst(snaps)
	_, devs := devicesOf(sorted)
	var others []*device
	if len(devs) > 0 {
		others = devs[1:]
	}
	var labels []string
	for _, d := range others {
		labels = append(labels, d.label)
	}
	known := "none: every snapshot is the writing device's"
	if len(labels) > 0 {
		known = strings.Join(labels, ", ")
	}
	for _, name := range p.ForgetDevices {
		n := 0
		for _, d := range others {
			if d.matches(name) {
				n++
			}
		}
		switch {
		case n == 0:
			return &unknownDeviceError{fmt.Sprintf("no device %q among the devices whose newest snapshot prune keeps beyond the policy (%s); name one as `chatsafe snapshots` shows it: HOST/ID, its id, or 4 hex digits or more of it", name, known)}
		case n > 1:
			return &unknownDeviceError{fmt.Sprintf("--forget-device %q names %d devices (%s); give more of its id", name, n, known)}
		}
	}
	return nil
}
