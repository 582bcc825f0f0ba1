package store

// MaxOmissions is how many unreadable paths a snapshot lists at most
// (Snapshot.Incomplete): the writer drops the rest, so a snapshot listing
// this many may have left out more than it names.
const MaxOmissions = maxOmissions

// MaxOmissionText is how many bytes of an unreadable path a snapshot
// keeps: a longer one is cut, so a listed path this long may name no
// path at all.
const MaxOmissionText = maxOmissionText
