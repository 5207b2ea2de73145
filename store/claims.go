package store

import (
	"context"
	"fmt"
	"time"
)

// ValidationClaimer is implemented by stores that schedule token validation
// for a fleet: replicas of a broker on one database share the validation Twitch
// requires (at start-up and hourly, docs/protocol.md#validate) so that each
// token is validated once per interval by the fleet, not once per replica.
//
// The store keeps, beside each record, when the fleet last validated it (a
// record created by Save starts with its Record.LastValidated; zero means
// never) and an optional claim: an owner and the time it lapses. A replica
// claims a batch of due grants with ClaimDue, validates them, and reports
// them with MarkValidated, which moves their validation time forward and
// releases the claims. A replica that dies holding claims only delays those
// grants: once the claims lapse, ClaimDue hands them to another replica.
//
// Times are the callers' clocks (the replicas' clocks must agree to well
// within the lease). Deleting a record drops its schedule.
type ValidationClaimer interface {
	// ClaimDue claims, for c.Owner until c.Now+c.Lease, up to c.Limit
	// records whose key starts with c.Prefix (whatever their status: the
	// caller marks a revoked or dead grant without validating it, which
	// keeps the claim an index walk), that were last validated
	// at or before c.Before (or never), and that no claim holds at c.Now (a
	// claim lapses at its end time). It returns their keys, the longest
	// unvalidated first. Two calls never get the same key while a claim on
	// it holds, whichever processes make them.
	ClaimDue(ctx context.Context, c ValidationClaim) ([]DueGrant, error)

	// MarkValidated records that keys were validated at at: their validation
	// time becomes at (it never moves backwards), and the claims owner holds
	// on them are released. A claim another owner took meanwhile (after
	// owner's lapsed) is left alone. Absent keys are ignored.
	MarkValidated(ctx context.Context, owner string, keys []string, at time.Time) error
}

// DueGrant is a grant claimed by ValidationClaimer.ClaimDue.
type DueGrant struct {
	// Key is the record's key.
	Key string
	// LastValidated is when the fleet last validated it (the zero time:
	// never), in UTC at TimePrecision.
	LastValidated time.Time
}

// ValidationClaim is the request of ValidationClaimer.ClaimDue.
type ValidationClaim struct {
	// Owner names the claimer (a random ID per process); it must not be
	// empty.
	Owner string
	// Prefix restricts the claim to keys starting with it: an application's
	// grants are GrantKey(clientID, "")+subject.
	Prefix string
	// Now is the claimer's current time; claims ending at or before it have
	// lapsed.
	Now time.Time
	// Before: records last validated at or before it are due (typically Now
	// minus the validation interval).
	Before time.Time
	// Lease is how long the claim lasts; it must be positive.
	Lease time.Duration
	// Limit is the most keys to claim; it must be positive.
	Limit int
}

// Check validates the request for implementations of ValidationClaimer.
func (c ValidationClaim) Check() error {
	switch {
	case c.Owner == "":
		return fmt.Errorf("%w: validation claim without an owner", ErrInvalidRecord)
	case c.Lease <= 0:
		return fmt.Errorf("%w: validation claim lease %v is not positive", ErrInvalidRecord, c.Lease)
	case c.Limit <= 0:
		return fmt.Errorf("%w: validation claim limit %d is not positive", ErrInvalidRecord, c.Limit)
	case c.Now.IsZero():
		return fmt.Errorf("%w: validation claim without a time", ErrInvalidRecord)
	}
	return nil
}
