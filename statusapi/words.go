package statusapi

// The words `chatsafe status` and the status page both use, kept here so
// that the two say the same thing.

import "github.com/chatsafe/chatsafe/internal/cmdline"

// DeviceLabel names a device for people: its hostname, which two devices
// may share, and the first 8 hex digits of its id (deviceHex, in full),
// as `chatsafe snapshots` shows them.
func DeviceLabel(hostname, deviceHex string) string {
	short := deviceHex
	if len(short) > 8 {
		short = short[:8]
	}
	switch {
	case short == "" && hostname == "":
		return "an unknown device"
	case short == "":
		return hostname
	case hostname == "":
		return "device " + short
	}
	return hostname + " (device " + short + ")"
}

// TakenOverText is status's "taken over" line for a device taken over by
// t (nil: not known which device), of the installation in.
func TakenOverText(t *TakenOver, in cmdline.Installation) string {
	who := "another device"
	if t != nil {
		who = DeviceLabel(t.Hostname, t.Device)
	}
	return who + " writes this repository now; this device backs up nothing (" + in.Cmd("takeover") + " makes it the writer again)"
}
