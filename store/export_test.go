package store

// MaxPatchChain is the format's limit on a file's patch chain, for the
// external tests.
const MaxPatchChain = maxPatchChain
