package store

// MaxOmissions is how many unreadable paths a snapshot lists at most
// (Snapshot.Incomplete): the writer drops the rest, so a snapshot listing
// this many may have left out more than it names.
const MaxOmissions = maxOmissions
