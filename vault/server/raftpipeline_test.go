package server

import (
	"errors"
	"testing"

	"github.com/hashicorp/raft"
)

// The transport raft gets refuses pipelined replication (see noPipeline):
// raft then replicates one AppendEntries at a time and its Shutdown cannot
// hang on a stuck pipeline.
func TestRaftTransportRefusesPipelines(t *testing.T) {
	var tr raft.Transport = noPipeline{}
	if _, err := tr.AppendEntriesPipeline("1", "127.0.0.1:1"); !errors.Is(err, raft.ErrPipelineReplicationNotSupported) {
		t.Fatalf("AppendEntriesPipeline: %v, want raft.ErrPipelineReplicationNotSupported", err)
	}
	if _, ok := tr.(raft.WithClose); !ok {
		t.Fatal("the wrapped transport lost Close: raft could not close it on shutdown")
	}
}
