package rig

import "errors"

// The rig's errors in one place.

var errEnoughViews = errors.New("enough views")

// errTokenExpired and errTokenUnknown are the registry's refusals.
var (
	errTokenMissing = errors.New("send the extension JWT (onAuthorized's token) as Authorization: Bearer <token>")
	errTokenUnknown = errors.New("this token was not issued by the rig")
	errTokenExpired = errors.New("the extension JWT has expired")
)
