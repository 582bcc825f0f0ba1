package client

import (
	"context"
	"fmt"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/vault"
)

// Head returns the head record the vault holds for account (the zero
// record when none was ever advanced). key proves ownership as for a
// re-registration; handle is the account's vault handle (zero for an
// account without one).
func (c *Client) Head(ctx context.Context, account string, key crypt.Key, handle vault.Handle) (vault.HeadRecord, error) {
	resp, err := c.ReadHead(ctx, account, key, handle)
	return resp.Head, err
}

// ReadHead is Head with the whole answer: also what the vault holds of
// the account's password (Account: its attempt counter and erasure; nil
// from a vault from before it said so).
func (c *Client) ReadHead(ctx context.Context, account string, key crypt.Key, handle vault.Handle) (vault.HeadResp, error) {
	req := headReq(account, key, handle)
	var resp vault.HeadResp
	if _, err := c.call(ctx, "", vault.PathHead, req, &resp); err != nil {
		return vault.HeadResp{}, fmt.Errorf("reading the head of %q from the vault: %w", account, err)
	}
	return resp, nil
}

// AdvanceHead moves account's head record from prev to next, atomically:
// if the vault records another head than prev, nothing changes and the
// error is a vault.HeadMovedError (matching vault.ErrHeadMoved) carrying
// the recorded head. next.Seq must be above the recorded one.
//
// An advance whose answer was lost (the node failed after committing) is
// retried on the next node and then sees its own head: the caller can
// compare HeadMovedError.Head with next.
func (c *Client) AdvanceHead(ctx context.Context, account string, key crypt.Key, handle vault.Handle, prev, next vault.HeadRecord) error {
	_, err := c.MoveHead(ctx, account, key, handle, prev, next)
	return err
}

// MoveHead is AdvanceHead with the answer: the head recorded now and the
// account's attempt counter and erasure (as ReadHead).
func (c *Client) MoveHead(ctx context.Context, account string, key crypt.Key, handle vault.Handle, prev, next vault.HeadRecord) (vault.HeadResp, error) {
	req := headReq(account, key, handle)
	req.Prev, req.Next = &prev, &next
	if prev.IsZero() {
		req.Prev = nil
	}
	var resp vault.HeadResp
	if _, err := c.call(ctx, "", vault.PathHead, req, &resp); err != nil {
		return vault.HeadResp{}, fmt.Errorf("advancing the head of %q in the vault to sequence %d: %w", account, next.Seq, err)
	}
	return resp, nil
}

func headReq(account string, key crypt.Key, handle vault.Handle) vault.HeadReq {
	req := vault.HeadReq{Account: account, OwnerToken: vault.OwnerToken(key, account)}
	if !handle.IsZero() {
		req.Handle = handle[:]
	}
	return req
}
